//! What the netloop and xenbr layouts share: the bridge they make and the checks of their
//! `start`. Their bridges carry a marker alias ([`Layout::marker`]), so that `stop` and `status`
//! recognise them and never take apart a bridge an administrator made.

use super::settings::{Layout, Settings};
use crate::bridge;
use crate::error::{Error, Result};
use crate::exec::ip;
use crate::plan::Step;
use crate::snapshot::Snapshot;
use crate::state::Link;

/// The bridge of a layout: STP off, forward delay 0, the marker, a fixed MAC and MTU.
pub fn create_bridge(s: &Settings, mac: &str, mtu: u32) -> Vec<Step> {
    let b = s.bridge.as_str();
    let mut steps = vec![bridge::create(b)];
    steps.extend(super::vlans::make_aware(s, b));
    // Steps on a link this plan made need no undo: undoing its creation deletes it.
    steps.push(Step::run(
        format!(
            "mark {b} as made by network-bridge layout={}",
            s.layout.name()
        ),
        ip(["link", "set", "dev", b, "alias", &s.layout.marker()]),
    ));
    steps.push(Step::run(
        format!("give {b} the MAC {mac}"),
        ip(["link", "set", "dev", b, "address", mac]),
    ));
    steps.push(Step::run(
        format!("give {b} the MTU {mtu}"),
        ip(["link", "set", "dev", b, "mtu", &mtu.to_string()]),
    ));
    steps
}

/// What the checks of a layout's `start` found.
pub enum Start<'s> {
    /// The NIC to build on.
    Build(&'s Link),
    /// Nothing to do, and why.
    Nothing(String),
}

/// The checks the netloop and xenbr layouts' `start` make first.
pub fn nic_for_start<'s>(s: &Settings, snap: &'s Snapshot) -> Result<Start<'s>> {
    if s.layout == Layout::Netloop && snap.exists(&s.pdev)? {
        return Ok(Start::Nothing(format!(
            "{} exists: network-bridge has already run",
            s.pdev
        )));
    }
    let nic = snap.link(&s.netdev)?.ok_or_else(|| {
        Error::refused(format!(
            "netdev {} does not exist ({}): name the physical NIC with netdev=<if>",
            s.netdev, s.netdev_origin
        ))
    })?;
    if nic.master.as_deref() == Some(s.bridge.as_str()) {
        return Ok(Start::Nothing(format!(
            "{} is already a port of {}: network-bridge has already run",
            s.netdev, s.bridge
        )));
    }
    match snap.link(&s.bridge)? {
        Some(b) if b.is_bridge => {
            return Ok(Start::Nothing(format!(
                "{} is already a bridge: nothing to do",
                s.bridge
            )))
        }
        Some(_) => {
            return Err(Error::refused(format!(
                "bridge={} names an existing link that is not a bridge: choose another name",
                s.bridge
            )))
        }
        None => {}
    }
    if nic.is_bridge {
        return Err(Error::refused(format!(
            "netdev {} is a bridge ({}): name the physical NIC with netdev=<if>",
            s.netdev, s.netdev_origin
        )));
    }
    if let Some(m) = &nic.master {
        return Err(Error::refused(format!(
            "netdev {} is already a port of {m}: release it first (ip link set dev {} nomaster)",
            s.netdev, s.netdev
        )));
    }
    Ok(Start::Build(nic))
}
