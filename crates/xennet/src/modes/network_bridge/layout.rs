//! What the layouts share: which one a host has (so `stop` and `status` need no `layout=`), the
//! bridge the netloop and xenbr layouts make, and the checks of their `start`. The bridges made
//! here carry a marker alias, so that `stop` and `status` recognise them and never take apart a
//! bridge an administrator made.

use super::Settings;
use crate::bridge;
use crate::error::{Error, Result};
use crate::exec::ip;
use crate::plan::Step;
use crate::snapshot::Snapshot;
use crate::state::Link;
use crate::validate::Invalid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// The bridge takes the NIC's name, the NIC becomes `p<name>` (spec §8, the default).
    Netdev,
    /// `eth0 -> vif0.0 -> xenbr0 -> peth0` (spec §8.5).
    Netloop,
    /// Bridge `xenbrN` with the addresses; the NIC keeps its name and is the port.
    Xenbr,
}

impl Layout {
    pub const NAMES: &'static [&'static str] = &["netdev", "netloop", "xenbr"];

    pub fn parse(v: &str) -> Result<Layout, Invalid> {
        match v {
            "netdev" => Ok(Layout::Netdev),
            "netloop" => Ok(Layout::Netloop),
            "xenbr" => Ok(Layout::Xenbr),
            _ => Err(Invalid(format!(
                "layout={v:?} is not a layout: use netdev (the bridge takes the NIC's name), \
                 netloop (eth0 -> vif0.0 -> xenbr0 -> peth0) or xenbr (xenbr0 holds the \
                 addresses, the NIC keeps its name)"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Layout::Netdev => "netdev",
            Layout::Netloop => "netloop",
            Layout::Xenbr => "xenbr",
        }
    }

    /// The alias the bridges of this layout carry (none for `netdev`, recognised by its port).
    pub fn marker(self) -> String {
        format!("xennet network-bridge layout={}", self.name())
    }
}

/// The layout `network-bridge start` built around `dev` (the device of the default route), if it
/// built one: how `stop` and `status` without `layout=` know what to undo.
pub fn found_on_host(dev: &str, snap: &Snapshot) -> Result<Option<Layout>> {
    let Some(l) = snap.link(dev)? else {
        return Ok(None);
    };
    if l.is_bridge {
        if snap.is_port(dev, &format!("p{dev}"))? {
            return Ok(Some(Layout::Netdev));
        }
        return Ok((l.alias == Layout::Xenbr.marker()).then_some(Layout::Xenbr));
    }
    let Some(master) = snap
        .link(&format!("p{dev}"))?
        .and_then(|p| p.master.clone())
    else {
        return Ok(None);
    };
    Ok(snap
        .link(&master)?
        .is_some_and(|m| m.alias == Layout::Netloop.marker())
        .then_some(Layout::Netloop))
}

/// Is this bridge port a guest's backend (`vifD.N`, `vifD.N-emu`, a tap, or a vif renamed by
/// `vifname`, which keeps its kernel name as its alias)?
pub fn is_guest_port(l: &Link) -> bool {
    let vif = |n: &str| n.starts_with("vif") || n.starts_with("tap");
    vif(&l.name) || vif(&l.alias)
}

/// The bridge's uplink: its first port that is not a guest's backend.
pub fn uplink_port(bridge: &str, snap: &Snapshot) -> Result<Option<String>> {
    for p in snap.ports(bridge)? {
        if snap.link(p)?.is_some_and(|l| !is_guest_port(l)) {
            return Ok(Some(p.clone()));
        }
    }
    Ok(None)
}

/// The bridge of a layout: STP off, forward delay 0, the marker, a fixed MAC and MTU.
pub fn create_bridge(s: &Settings, mac: &str, mtu: u32) -> Vec<Step> {
    let b = s.bridge.as_str();
    let mut steps = vec![bridge::create(b)];
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

/// The NIC to build on, or why there is nothing to do: the checks the netloop and xenbr
/// layouts' `start` make first.
pub fn nic_for_start<'s>(s: &Settings, snap: &'s Snapshot) -> Result<Result<&'s Link, String>> {
    if s.layout == Layout::Netloop && snap.exists(&s.pdev)? {
        return Ok(Err(format!(
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
        return Ok(Err(format!(
            "{} is already a port of {}: network-bridge has already run",
            s.netdev, s.bridge
        )));
    }
    match snap.link(&s.bridge)? {
        Some(b) if b.is_bridge => {
            return Ok(Err(format!(
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
    Ok(Ok(nic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_parse_and_name() {
        for n in Layout::NAMES {
            assert_eq!(Layout::parse(n).unwrap().name(), *n);
        }
        let e = Layout::parse("G1").unwrap_err().0;
        assert!(e.contains("\"G1\"") && e.contains("netloop"), "{e}");
    }
}
