//! Moving dom0's addresses and routes between links (NB-08, NB-09), every step with its undo:
//! what every layout's `start` and `stop` do to carry dom0's network over.

use super::settings::Settings;
use crate::bridge;
use crate::error::{Error, Note, Result};
use crate::exec::ip;
use crate::plan::{Plan, Step};
use crate::snapshot::Snapshot;
use crate::state::{Addr, Route};

pub fn addr_moves(addrs: &[Addr], from: &str, to: &str) -> (Vec<Step>, Vec<Step>) {
    let movable: Vec<&Addr> = addrs.iter().filter(|a| a.movable()).collect();
    // Secondaries first, so deleting a primary cannot take its secondaries with it.
    let dels = movable
        .iter()
        .rev()
        .map(|a| {
            Step::run(
                format!("remove {}/{} from {from}", a.local, a.prefixlen),
                ip(a.args("del", from, from)),
            )
            .undo(ip(a.args("add", from, from)))
        })
        .collect();
    let adds = movable
        .iter()
        .map(|a| {
            Step::run(
                format!("add {}/{} to {to}", a.local, a.prefixlen),
                ip(a.args("add", from, to)),
            )
            .undo(ip(a.args("del", from, to)))
        })
        .collect();
    (dels, adds)
}

pub fn route_moves(routes: &[Route], from: &str, to: &str) -> (Vec<Step>, Vec<Step>) {
    // Routes to the link itself first: a gateway must be reachable before a route uses it.
    let mut movable: Vec<&Route> = routes.iter().filter(|r| r.movable()).collect();
    movable.sort_by_key(|r| r.has_gateway());
    let dels = movable
        .iter()
        .rev()
        .map(|r| {
            Step::run(
                format!("remove route {} from {from}", r.dst),
                ip(r.args("del", from)),
            )
            .undo(ip(r.args("replace", from)))
        })
        .collect();
    // `replace`, not `add`: the kernel may already have made the route on the new link (an IPv6
    // router advertisement), and that must not fail the move.
    let adds = movable
        .iter()
        .map(|r| {
            Step::run(
                format!("add route {} via {to}", r.dst),
                ip(r.args("replace", to)),
            )
            .undo(ip(r.args("del", to)))
        })
        .collect();
    (dels, adds)
}

pub fn rename(from: &str, to: &str) -> Step {
    Step::run(
        format!("rename {from} to {to}"),
        ip(["link", "set", "dev", from, "name", to]),
    )
    .undo(ip(["link", "set", "dev", to, "name", from]))
}

/// DHCP-learned addresses move with their lifetime; nothing renews them on the new link.
pub fn warn_dynamic(addrs: &[Addr], from: &str, to: &str) -> Vec<Note> {
    addrs
        .iter()
        .filter(|a| a.movable() && a.dynamic)
        .map(|a| {
            Note::Warn(format!(
                "{}/{} on {from} was given by DHCP and moves with its remaining lifetime ({} s); \
                 nothing renews it on {to}: start your DHCP client on {to} (e.g. dhclient {to})",
                a.local,
                a.prefixlen,
                a.valid_life_time.unwrap_or(0),
            ))
        })
        .collect()
}

/// The bridge's alternative name: `bridge=xenbrN` (libxl's default) finds a bridge named after
/// the NIC, in vif-bridge and in any tool that looks names up in the kernel (NL-11, VB-04).
pub fn alias_step(bridge: &str, alias: &str) -> Step {
    Step::run(
        format!("name {bridge} also {alias}"),
        ip(["link", "property", "add", "dev", bridge, "altname", alias]),
    )
    .undo(ip([
        "link", "property", "del", "dev", bridge, "altname", alias,
    ]))
}

/// The first half of every layout's `stop`: the addresses and routes the bridge holds are read
/// and deleted from it (after the antispoof rules for `port` are undone), the bridge goes down
/// and `port` leaves it. Returns that plan and the steps that then put the addresses and the
/// routes on `s.netdev`.
pub fn release(s: &Settings, port: &str, snap: &Snapshot) -> Result<(Plan, Vec<Step>, Vec<Step>)> {
    let bridge_link = snap
        .link(&s.bridge)?
        .ok_or_else(|| Error::refused(format!("bridge {} vanished", s.bridge)))?;
    let (addr_dels, addr_adds) = addr_moves(snap.addrs(&s.bridge)?, &s.bridge, &s.netdev);
    let (route_dels, route_adds) = route_moves(snap.routes(&s.bridge)?, &s.bridge, &s.netdev);
    let mut p = Plan::default();
    p.extend(super::antispoof::remove(s, &[port], snap)?);
    p.extend(route_dels);
    p.extend(addr_dels);
    if bridge_link.up {
        p.push(bridge::link_down(&s.bridge));
    }
    p.push(
        Step::run(
            format!("remove {port} from bridge {}", s.bridge),
            ip(["link", "set", "dev", port, "nomaster"]),
        )
        .undo(ip(["link", "set", "dev", port, "master", &s.bridge])),
    );
    Ok((p, addr_adds, route_adds))
}
