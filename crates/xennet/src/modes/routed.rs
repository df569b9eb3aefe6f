//! What vif-nat and vif-route share: the dom0 side of a routed point-to-point link. `online`
//! gives the vif a /32 of dom0's, brings it up and turns proxy ARP on; `offline` takes exactly
//! that, and the guest's routes, away again.

use crate::error::{Note, Result};
use crate::exec::ip;
use crate::plan::{OnError, Step};
use crate::snapshot::{unless_unread, Snapshot};
use crate::state::{Link, Route};
use crate::sysctl;

/// offline/remove: the routes to `dsts` through `dev`, dom0's /32 address `local` on it, proxy
/// ARP and the link itself, as online found them. Failures are recorded and the rest goes on.
pub fn release(
    dev: &str,
    link: &Link,
    dsts: &[String],
    local: Option<&str>,
    snap: &Snapshot,
    notes: &mut Vec<Note>,
) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    // When the live state cannot be read, what online would have made is removed by name
    // anyway; if that fails too, the failure is reported instead of a silent success that
    // leaves the guest's routes behind (issue 6).
    match unless_unread(snap.routes(dev))? {
        Ok(routes) => {
            for r in routes.iter().filter(|r| dsts.contains(&r.dst)) {
                steps.push(
                    Step::run(
                        format!("remove route {} from {dev}", r.dst),
                        ip(r.args("del", dev)),
                    )
                    .on_error(OnError::Collect),
                );
            }
        }
        Err(e) => {
            notes.push(Note::Warn(format!("cannot list the routes of {dev}: {e}")));
            for dst in dsts {
                steps.push(
                    Step::run(
                        format!("remove route {dst} from {dev} (the routes could not be listed)"),
                        ip(["route", "del", dst.as_str(), "dev", dev]),
                    )
                    .on_error(OnError::Collect),
                );
            }
        }
    }
    match unless_unread(snap.addrs(dev))? {
        Ok(addrs) => {
            let ours = addrs.iter().filter(|a| {
                a.family == "inet" && a.prefixlen == 32 && local.is_none_or(|l| a.local == l)
            });
            for a in ours {
                steps.push(
                    Step::run(
                        format!("remove {}/32 from {dev}", a.local),
                        ip(a.args("del", dev, dev)),
                    )
                    .on_error(OnError::Collect),
                );
            }
        }
        Err(e) => {
            notes.push(Note::Warn(format!(
                "cannot list the addresses of {dev}: {e}"
            )));
            let step = match local {
                Some(l) => {
                    let cidr = format!("{l}/32");
                    Step::run(
                        format!("remove {cidr} from {dev} (the addresses could not be listed)"),
                        ip(["addr", "del", cidr.as_str(), "dev", dev]),
                    )
                }
                // vif-route's /32 is whatever dom0's address was: the vif is going away, so
                // every IPv4 address on it goes.
                None => Step::run(
                    format!("remove the IPv4 addresses of {dev} (they could not be listed)"),
                    ip(["-4", "addr", "flush", "dev", dev]),
                ),
            };
            steps.push(step.on_error(OnError::Collect));
        }
    }
    if link.up {
        steps.push(
            Step::run(
                format!("take {dev} down"),
                ip(["link", "set", "dev", dev, "down"]),
            )
            .on_error(OnError::Ignore),
        );
    }
    // Proxy ARP last: the ip changes before it share one `ip -batch` (issue 17).
    let path = sysctl::proxy_arp(dev);
    steps.extend(sysctl::set(
        &format!("turn proxy ARP off on {dev}"),
        &path,
        "0",
        snap.sysctl(&path)?,
    ));
    Ok(steps)
}

/// online/add: proxy ARP on, the link up (with ARP), `local/32` on `dev` (with `broadcast`
/// when given); only what is missing. `fresh` says the link was just renamed, so it has none of it yet.
pub fn attach(
    dev: &str,
    up: bool,
    local: &str,
    broadcast: Option<&str>,
    fresh: bool,
    snap: &Snapshot,
) -> Result<Vec<Step>> {
    // Proxy ARP first: the ip changes that follow, and the routes after them, then share one
    // `ip -batch` process (issue 17); on a link not yet up the order is not observable.
    let path = sysctl::proxy_arp(dev);
    let old = if fresh {
        Some("0")
    } else {
        snap.sysctl(&path)?
    };
    let mut steps: Vec<Step> = sysctl::set(&format!("turn proxy ARP on on {dev}"), &path, "1", old)
        .into_iter()
        .collect();
    if !up {
        steps.push(
            Step::run(
                format!("ip link set dev {dev} up arp on"),
                ip(["link", "set", "dev", dev, "up", "arp", "on"]),
            )
            .undo(ip(["link", "set", "dev", dev, "down"])),
        );
    }
    let addrs = if fresh { &[][..] } else { snap.addrs(dev)? };
    if !addrs.iter().any(|a| a.local == local && a.prefixlen == 32) {
        let cidr = format!("{local}/32");
        let mut add = vec!["addr", "add", cidr.as_str()];
        if let Some(b) = broadcast {
            add.extend(["broadcast", b]);
        }
        add.extend(["dev", dev]);
        steps.push(
            Step::run(
                format!("ip {} dev {dev}", add[..add.len() - 2].join(" ")),
                ip(add),
            )
            .undo(ip(["addr", "del", &cidr, "dev", dev])),
        );
    }
    Ok(steps)
}

/// The routes through `dev` now (none for a link just renamed).
pub fn current_routes<'s>(dev: &str, fresh: bool, snap: &'s Snapshot) -> Result<&'s [Route]> {
    if fresh {
        Ok(&[])
    } else {
        snap.routes(dev)
    }
}

/// The broadcast address `ifconfig <addr> netmask 255.255.255.255` leaves on an address: the
/// classful one, because ifconfig sets the address (with its class's netmask) before the netmask.
/// vif-route's state must match the original's (VR-03).
pub fn classful_broadcast(addr: &str) -> Option<String> {
    let a: std::net::Ipv4Addr = addr.parse().ok()?;
    let o = a.octets();
    match o[0] {
        0..=127 => Some(format!("{}.255.255.255", o[0])),
        128..=191 => Some(format!("{}.{}.255.255", o[0], o[1])),
        192..=223 => Some(format!("{}.{}.{}.255", o[0], o[1], o[2])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn classful_broadcasts() {
        assert_eq!(
            super::classful_broadcast("192.0.2.10").as_deref(),
            Some("192.0.2.255")
        );
        assert_eq!(
            super::classful_broadcast("10.1.2.3").as_deref(),
            Some("10.255.255.255")
        );
        assert_eq!(
            super::classful_broadcast("172.16.5.4").as_deref(),
            Some("172.16.255.255")
        );
        assert_eq!(super::classful_broadcast("224.0.0.1"), None);
    }
}
