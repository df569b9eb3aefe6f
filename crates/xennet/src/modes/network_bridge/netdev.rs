//! The `netdev` layout, network-bridge's last upstream form (spec §8.1–8.4): the bridge takes
//! the NIC's name, the NIC becomes `p<name>` and its port, and dom0's addresses (IPv4 and IPv6)
//! and routes move to the bridge; `stop` moves them back. Every step has its undo and the run is
//! journalled, so a failure or a kill half-way never leaves dom0 without its address.

use super::antispoof;
use super::settings::{Settings, TMP};
use super::uplink::{addr_moves, alias_step, release, rename, route_moves, warn_dynamic};
use super::vlans;
use crate::bridge;
use crate::error::{Error, Outcome, Planned, Result};
use crate::exec::ip;
use crate::plan::{Action, Plan, Step};
use crate::snapshot::Snapshot;

/// §8.2 `start`, NB-05…NB-16.
pub fn start(s: &Settings, snap: &Snapshot) -> Result<Outcome> {
    if snap.exists(&s.pdev)? {
        return Ok(Outcome::Nothing(format!(
            "{} exists: network-bridge has already run",
            s.pdev
        )));
    }
    if snap.link(&s.bridge)?.is_some_and(|l| l.is_bridge) {
        return Ok(Outcome::Nothing(format!(
            "{} is already a bridge: nothing to do",
            s.bridge
        )));
    }
    let Some(nic) = snap.link(&s.netdev)? else {
        return Err(Error::refused(format!(
            "netdev {} does not exist ({}): name the physical NIC with netdev=<if>",
            s.netdev, s.netdev_origin
        )));
    };
    if let Some(m) = &nic.master {
        return Err(Error::refused(format!(
            "netdev {} is already a port of {m}: release it first (ip link set dev {} nomaster)",
            s.netdev, s.netdev
        )));
    }
    if nic.is_bridge {
        return Err(Error::refused(format!(
            "netdev {} is a bridge ({}): name the physical NIC with netdev=<if>",
            s.netdev, s.netdev_origin
        )));
    }
    if s.bridge != s.netdev && snap.exists(&s.bridge)? {
        return Err(Error::refused(format!(
            "bridge={} names an existing link that is not a bridge: choose another name",
            s.bridge
        )));
    }
    if snap.exists(TMP)? {
        return Err(Error::refused(format!(
            "a link named {TMP} exists (left by an earlier network-bridge run?): remove it with `ip link del {TMP}` and retry"
        )));
    }
    let addrs = snap.addrs(&s.netdev)?;
    let (addr_dels, addr_adds) = addr_moves(addrs, &s.netdev, &s.bridge);
    let (route_dels, route_adds) = route_moves(snap.routes(&s.netdev)?, &s.netdev, &s.bridge);
    let notes = warn_dynamic(addrs, &s.netdev, &s.bridge);

    let mut p = Plan::default();
    p.push(bridge::create(TMP));
    p.extend(vlans::make_aware(s, TMP));
    // A fixed MAC: the bridge keeps the NIC's address whatever ports come and go (MAC-04).
    p.push(Step::run(
        format!("give {TMP} the MAC of {}", s.netdev),
        ip(["link", "set", "dev", TMP, "address", &nic.address]),
    ));
    // A fixed MTU: a guest's smaller vif MTU must not shrink dom0's own link.
    p.push(Step::run(
        format!("give {TMP} the MTU of {}", s.netdev),
        ip(["link", "set", "dev", TMP, "mtu", &nic.mtu.to_string()]),
    ));
    p.extend(route_dels);
    p.extend(addr_dels);
    if nic.up {
        p.push(bridge::link_down(&s.netdev));
    }
    p.push(rename(&s.netdev, &s.pdev));
    p.push(rename(TMP, &s.bridge));
    if let Some(alias) = s.alias.as_deref() {
        if snap.resolve(alias)?.is_none() {
            p.push(alias_step(&s.bridge, alias));
        }
    }
    p.push(bridge::enslave(&s.bridge, &s.pdev));
    p.extend(vlans::trunk(s, &s.pdev));
    p.push(bridge::link_up(&s.pdev));
    p.push(Step::new(
        format!("wait for {} to negotiate link", s.pdev),
        Action::WaitRunning {
            dev: s.pdev.clone(),
            secs: 10,
        },
    ));
    p.push(bridge::link_up(&s.bridge));
    p.extend(addr_adds);
    p.extend(route_adds);
    p.extend(antispoof::add(s, &[&s.pdev], snap)?);
    Ok(Outcome::Plan(Planned::new(p).notes(notes)))
}

/// §8.3 `stop`, NB-17…NB-20: everything start did, undone from the live state.
pub fn stop(s: &Settings, snap: &Snapshot) -> Result<Outcome> {
    if !snap.exists(&s.bridge)? {
        return Ok(Outcome::Nothing(format!(
            "{} does not exist: nothing to stop",
            s.bridge
        )));
    }
    if !snap.is_port(&s.bridge, &s.pdev)? {
        return Ok(Outcome::Nothing(format!(
            "{} is not a port of {}: this bridge was not made by network-bridge start",
            s.pdev, s.bridge
        )));
    }
    if snap.exists(TMP)? {
        return Err(Error::refused(format!(
            "a link named {TMP} exists: remove it with `ip link del {TMP}` and retry"
        )));
    }
    let (mut p, addr_adds, route_adds) = release(s, &s.pdev, snap)?;
    let pdev_up = snap.link(&s.pdev)?.is_some_and(|l| l.up);
    if pdev_up {
        p.push(bridge::link_down(&s.pdev));
    }
    p.push(rename(&s.bridge, TMP));
    p.push(rename(&s.pdev, &s.netdev));
    if pdev_up {
        p.push(bridge::link_up(&s.netdev));
    }
    p.extend(addr_adds);
    p.extend(route_adds);
    // NB-18: deleting the bridge detaches any vifs still on it. Last, so nothing can fail after.
    p.push(Step::run(
        format!("delete bridge {TMP}"),
        ip(["link", "del", "dev", TMP]),
    ));
    p.extend(antispoof::forget(s, snap)?);
    Ok(Outcome::Plan(Planned::new(p)))
}
