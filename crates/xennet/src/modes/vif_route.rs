//! `vif-route` (spec §6): the guest's interface as a routed point-to-point link. dom0's primary
//! address of the uplink goes on the vif as a /32, proxy ARP answers for the guest's neighbours,
//! and one host route per guest address points at the vif. Only missing pieces are added, so a
//! second `online` changes nothing (VR-07); `offline` removes exactly this vif's routes, even
//! when the uplink has lost its address (VR-02).

use super::routed;
use crate::error::{Error, Note, Planned, Result};
use crate::exec::ip;
use crate::facts::Fact;
use crate::firewall::{self, Family, Vif};
use crate::invocation::Invocation;
use crate::plan::{OnError, Plan, Step};
use crate::snapshot::Snapshot;
use crate::vif::{Found, TypeIf, VifContext};
use std::net::IpAddr;

/// A guest address as the kernel names its route: `192.0.2.60` for a host, `10.0.0.0/24` for a
/// network (the address masked to its prefix).
pub fn route_dst(entry: &str) -> String {
    let (addr, prefix) = match entry.split_once('/') {
        Some((a, p)) => (a, p.parse::<u32>().ok()),
        None => (entry, None),
    };
    match (addr.parse::<IpAddr>(), prefix) {
        (Ok(IpAddr::V4(a)), Some(p)) if p < 32 => {
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            format!("{}/{p}", std::net::Ipv4Addr::from(u32::from(a) & mask))
        }
        (Ok(IpAddr::V6(a)), Some(p)) if p < 128 => {
            let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            format!("{}/{p}", std::net::Ipv6Addr::from(u128::from(a) & mask))
        }
        (Ok(a), _) => a.to_string(),
        (Err(_), _) => entry.to_string(),
    }
}

/// VR-05, VR-06: `ip route add|del <addr> dev <dev> src <main_ip> metric <m>` (IPv6 without src).
fn route_cmd(verb: &str, dst: &str, dev: &str, main_ip: Option<&str>, metric: u32) -> Vec<String> {
    let v6 = dst.contains(':');
    let mut a: Vec<String> = Vec::new();
    if v6 {
        a.push("-6".into());
    }
    a.extend(["route", verb, dst, "dev", dev].map(String::from));
    if let (Some(src), false) = (main_ip, v6) {
        a.extend(["src".into(), src.to_string()]);
    }
    a.extend(["metric".into(), metric.to_string()]);
    a
}

pub fn plan(ctx: &VifContext, inv: &Invocation, snap: &Snapshot) -> Result<Planned> {
    let mut notes = Vec::new();
    let fw = firewall::for_vif(inv, snap, &mut notes)?;
    let metric = if ctx.type_if == TypeIf::Tap { 1 } else { 2 };
    let dev = ctx.dev.as_str();
    let done = format!("Successful vif-route {} for {dev}.", ctx.command.word());
    let ip_joined = ctx.ips.join(" ");
    let wanted: Vec<String> = ctx.ips.iter().map(|e| route_dst(e)).collect();
    let mac = ctx.key_or("mac", inv.value("mac"));
    let vif = Vif {
        dev,
        ifindex: if ctx.command.is_up() {
            ctx.ifindex(snap)?
        } else {
            None
        },
        ips: &ctx.ips,
        mac: &mac,
        family: Some(Family::Inet),
        antispoof: fw.antispoof,
        guarded: false,
    };
    let mut plan = Plan::default();

    if !ctx.command.is_up() {
        // VR-02 FIX: the routes go whatever the uplink looks like, so it is not even looked at.
        let vars = ctx.hook_vars(&[("ip", ip_joined.as_str()), ("main_ip", "")]);
        match ctx.link_to_release(snap)? {
            Found::NotOurs(link) => {
                notes.push(Note::Warn(ctx.not_ours(link)));
                return Ok(Planned {
                    notes,
                    done,
                    ..Planned::default()
                });
            }
            Found::Gone => notes.push(Note::Debug(format!("{dev} is already gone"))),
            Found::Ours(link) => {
                // The vif is going away; leave it as it was before online.
                plan.extend(routed::release(dev, link, &wanted, None, snap, &mut notes)?);
            }
        }
        plan.extend(fw.offline_steps(&vif, snap, &mut notes)?);
        if ctx.type_if == TypeIf::Vif {
            // Issue 19: no connection of this guest outlives it (the networks routed to it
            // are its own).
            plan.extend(crate::conntrack::purge(
                dev,
                &wanted,
                OnError::Collect,
                snap,
                &mut notes,
            )?);
        }
        plan.extend(crate::hooks::steps(&vars, OnError::Collect, snap)?);
        return Ok(Planned {
            plan,
            notes,
            done,
            ..Planned::default()
        });
    }

    crate::vlan::refuse_routed(ctx, inv, "vif-route")?;
    let (netdev, origin) = super::routed_uplink(inv, snap)?;
    // The uplink's addresses and the vif's addresses and routes, read by one process.
    let mut wanted_facts = vec![Fact::Addrs(netdev.clone())];
    if snap.exists(dev)? {
        wanted_facts.extend([Fact::Addrs(dev.into()), Fact::Routes(dev.into())]);
    }
    snap.prefetch(wanted_facts)?;
    // IP-02, word for word, with the device named even when defaulted.
    let Some(main_ip) = snap.primary_ipv4(&netdev)?.map(str::to_string) else {
        notes.push(Note::Warn(format!(
            "{netdev} ({origin}) has no IPv4 address"
        )));
        return Err(Error::noted(
            notes,
            Error::refused(format!(
                "{netdev} is not up.  Bring it up or specify another interface with netdev=<if> as a parameter to {}.",
                inv.argv0
            )),
        ));
    };
    let cfg = ctx.configure(snap)?;
    let mut up = cfg.link.up;
    if cfg.rename {
        plan.extend(ctx.rename_steps(cfg.link));
        up = false;
    }
    // VR-03: <main_ip>/32 on the vif, up, proxy ARP on. A link just renamed has nothing yet.
    let fresh = cfg.rename;
    plan.extend(routed::attach(
        dev,
        up,
        &main_ip,
        routed::classful_broadcast(&main_ip).as_deref(),
        fresh,
        snap,
    )?);
    // VR-06
    let routes = routed::current_routes(dev, fresh, snap)?;
    for dst in &wanted {
        if !routes
            .iter()
            .any(|r| &r.dst == dst && r.metric == Some(metric))
        {
            plan.push(
                Step::run(
                    format!("route {dst} to {dev}"),
                    ip(route_cmd("add", dst, dev, Some(&main_ip), metric)),
                )
                .undo(ip(route_cmd("del", dst, dev, None, metric))),
            );
        }
    }
    if ctx.ips.is_empty() {
        notes.push(Note::Warn(format!(
            "no ip= is set for {dev}: no route is made and the guest is unreachable"
        )));
    }
    plan.extend(fw.online_steps(&vif, snap, &mut notes)?);
    let vars = ctx.hook_vars(&[
        ("ip", ip_joined.as_str()),
        ("main_ip", main_ip.as_str()),
        ("netdev", netdev.as_str()),
    ]);
    plan.extend(crate::hooks::steps(&vars, OnError::Fail, snap)?);
    if ctx.type_if == TypeIf::Vif {
        // Issue 19: the guest starts with no connection of an earlier holder of its addresses.
        plan.extend(crate::conntrack::purge_at_online(
            dev, &wanted, up, snap, &mut notes,
        )?);
    }
    Ok(Planned {
        plan,
        notes,
        done,
        ..Planned::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_named_as_the_kernel_names_them() {
        assert_eq!(route_dst("192.0.2.60"), "192.0.2.60");
        assert_eq!(route_dst("192.0.2.60/32"), "192.0.2.60");
        assert_eq!(route_dst("10.0.0.5/24"), "10.0.0.0/24");
        assert_eq!(route_dst("2001:db8::5/128"), "2001:db8::5");
        assert_eq!(
            route_cmd("add", "192.0.2.60", "vif1.0", Some("192.0.2.10"), 2).join(" "),
            "route add 192.0.2.60 dev vif1.0 src 192.0.2.10 metric 2"
        );
    }
}
