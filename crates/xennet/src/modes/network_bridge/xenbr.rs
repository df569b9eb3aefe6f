//! The `xenbr` layout, what distributions configure by hand: bridge `xenbrN` holds dom0's
//! addresses and routes, the NIC keeps its name (`enp0s3` needs no renaming) and is the bridge's
//! port.

use super::antispoof;
use super::layout::{create_bridge, nic_for_start, Start};
use super::settings::{Layout, Settings};
use super::uplink::{addr_moves, release, route_moves, warn_dynamic};
use crate::bridge;
use crate::error::{Outcome, Planned, Result};
use crate::exec::ip;
use crate::plan::{Action, Plan, Step};
use crate::snapshot::Snapshot;

/// `xenbr`: the bridge holds dom0's addresses and routes; the NIC keeps its name as its port.
pub fn start(s: &Settings, snap: &Snapshot) -> Result<Outcome> {
    let nic = match nic_for_start(s, snap)? {
        Start::Build(nic) => nic,
        Start::Nothing(why) => return Ok(Outcome::Nothing(why)),
    };
    let addrs = snap.addrs(&s.netdev)?;
    let (addr_dels, addr_adds) = addr_moves(addrs, &s.netdev, &s.bridge);
    let (route_dels, route_adds) = route_moves(snap.routes(&s.netdev)?, &s.netdev, &s.bridge);
    let notes = warn_dynamic(addrs, &s.netdev, &s.bridge);

    let mut p = Plan::default();
    // The NIC's MAC, as in the netdev layout (MAC-04): DHCP and neighbours see the same host.
    p.extend(create_bridge(s, &nic.address, nic.mtu));
    p.extend(route_dels);
    p.extend(addr_dels);
    p.push(bridge::enslave(&s.bridge, &s.netdev));
    p.extend(super::vlans::trunk(s, &s.netdev));
    if !nic.up {
        p.push(bridge::link_up(&s.netdev));
    }
    p.push(Step::new(
        format!("wait for {} to negotiate link", s.netdev),
        Action::WaitRunning {
            dev: s.netdev.clone(),
            secs: 10,
        },
    ));
    p.push(bridge::link_up(&s.bridge));
    p.extend(addr_adds);
    p.extend(route_adds);
    p.extend(antispoof::add(s, &[&s.netdev], snap)?);
    Ok(Outcome::Plan(Planned::new(p).notes(notes)))
}

/// `xenbr` stop: the addresses and routes go back to the NIC, the bridge goes.
pub fn stop(s: &Settings, snap: &Snapshot) -> Result<Outcome> {
    let Some(b) = snap.link(&s.bridge)? else {
        return Ok(Outcome::Nothing(format!(
            "{} does not exist: nothing to stop",
            s.bridge
        )));
    };
    if !snap.is_port(&s.bridge, &s.netdev)? || b.alias != Layout::Xenbr.marker() {
        return Ok(Outcome::Nothing(format!(
            "{} is not a bridge made by network-bridge start layout=xenbr with port {}: left alone",
            s.bridge, s.netdev
        )));
    }
    let (mut p, addr_adds, route_adds) = release(s, &s.netdev, snap)?;
    p.extend(addr_adds);
    p.extend(route_adds);
    p.push(Step::run(
        format!("delete bridge {}", s.bridge),
        ip(["link", "del", "dev", &s.bridge]),
    ));
    p.extend(antispoof::forget(s, snap)?);
    Ok(Outcome::Plan(Planned::new(p)))
}
