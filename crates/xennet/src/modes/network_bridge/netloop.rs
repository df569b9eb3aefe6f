//! The `netloop` layout (spec §8.5, NL-01…NL-12), the classic picture
//! `eth0 -> vif0.0 -> xenbr0 -> peth0`: bridge `xenbrN`; the NIC renamed `p<netdev>`; a veth
//! pair `vethN`/`vif0.N` standing in for the old netloop driver (NL-12), `vethN` taking the NIC's
//! addresses, routes and MAC and then its name; `p<netdev>` and `vif0.N` are ports with MAC
//! `fe:ff:ff:ff:ff:ff` and ARP off.

use super::antispoof;
use super::layout::{create_bridge, nic_for_start, Start};
use super::settings::Settings;
use super::uplink::{addr_moves, rename, route_moves, warn_dynamic};
use crate::bridge::{self, PORT_MAC};
use crate::error::{Error, Outcome, Planned, Result};
use crate::exec::ip;
use crate::plan::{Action, Plan, Step};
use crate::snapshot::Snapshot;
use crate::state::{IFF_MULTICAST, IFF_NOARP};

fn already(why: String) -> Result<Outcome> {
    Ok(Outcome::Nothing(why))
}

/// A MAC of the host's own that no other link uses: the NIC's with the locally administered bit
/// set (and, if it was set already, another bit of the first octet flipped). The netloop bridge
/// needs one: its ports all carry fe:ff:ff:ff:ff:ff (MAC-04), and the NIC's own MAC now belongs
/// to dom0's `eth0` behind `vif0.N`; the bridge having that MAC too would swallow eth0's frames.
fn local_mac(nic_mac: &str) -> String {
    let mut octets: Vec<String> = nic_mac.split(':').map(str::to_string).collect();
    if let Some(first) = octets.first_mut() {
        if let Ok(v) = u8::from_str_radix(first, 16) {
            let mut local = (v | 0x02) & !0x01;
            if local == v {
                local ^= 0x04;
            }
            *first = format!("{local:02x}");
        }
    }
    octets.join(":")
}

/// `ip link` words that set ARP and multicast as `flags` has them.
fn flag_words(flags: u32) -> [&'static str; 4] {
    [
        "arp",
        if flags & IFF_NOARP != 0 { "off" } else { "on" },
        "multicast",
        if flags & IFF_MULTICAST != 0 {
            "on"
        } else {
            "off"
        },
    ]
}

/// `ip link add` of the netloop pair: `vif0` as the bridge port (NL-04: MAC fe:ff:ff:ff:ff:ff,
/// ARP and multicast off), enslaved at once, and its peer `vdev` as dom0's interface (MAC, MTU
/// and ARP/multicast flags of the NIC). One command, so that it can also be an undo. `master`
/// counts only for the first device, hence vif0 first.
fn add_pair(s: &Settings, mac: &str, mtu: u32, flags: u32) -> crate::exec::Cmd {
    let mtu = mtu.to_string();
    let mut a: Vec<&str> = vec![
        "link",
        "add",
        "name",
        &s.vif0,
        "address",
        PORT_MAC,
        "mtu",
        &mtu,
        "arp",
        "off",
        "multicast",
        "off",
        "master",
        &s.bridge,
        "type",
        "veth",
        "peer",
        "name",
        &s.vdev,
        "address",
        mac,
        "mtu",
        &mtu,
    ];
    a.extend(flag_words(flags));
    ip(a)
}

/// NL-04 on a modern kernel (NL-12): the classic layout with a veth pair.
pub fn start(s: &Settings, snap: &Snapshot) -> Result<Outcome> {
    let nic = match nic_for_start(s, snap)? {
        Start::Build(nic) => nic,
        Start::Nothing(why) => return Ok(Outcome::Nothing(why)),
    };
    for name in [&s.vdev, &s.vif0] {
        if snap.exists(name)? {
            // NL-03's successor: the pair's names are taken.
            return Err(Error::refused(format!(
                "a link named {name} exists, and layout=netloop needs {}/{} for dom0's own \
                 interface: remove it, or choose another number with vifnum=",
                s.vdev, s.vif0
            )));
        }
    }
    let addrs = snap.addrs(&s.netdev)?;
    // Same name before and after: the name moves from the NIC to the veth in between.
    let (addr_dels, addr_adds) = addr_moves(addrs, &s.netdev, &s.netdev);
    let (route_dels, route_adds) = route_moves(snap.routes(&s.netdev)?, &s.netdev, &s.netdev);
    let notes = warn_dynamic(addrs, &s.netdev, &s.netdev);
    let flags = nic.flags;

    let mut p = Plan::default();
    p.extend(create_bridge(s, &local_mac(&nic.address), nic.mtu));
    p.push(
        Step::run(
            format!(
                "create the pair {}/{} (dom0's interface and its port)",
                s.vdev, s.vif0
            ),
            add_pair(s, &nic.address, nic.mtu, flags),
        )
        .undo(ip(["link", "del", "dev", &s.vdev])),
    );
    p.extend(route_dels);
    p.extend(addr_dels);
    if nic.up {
        p.push(bridge::link_down(&s.netdev));
    }
    p.push(rename(&s.netdev, &s.pdev));
    p.push(rename(&s.vdev, &s.netdev));
    // NL-04 step 7: the NIC becomes a plain port.
    let mut port = vec!["link", "set", "dev", s.pdev.as_str(), "address", PORT_MAC];
    port.extend(["arp", "off", "multicast", "off"]);
    let mut back = vec![
        "link",
        "set",
        "dev",
        s.pdev.as_str(),
        "address",
        &nic.address,
    ];
    back.extend(flag_words(flags));
    p.push(
        Step::run(
            format!(
                "make {} a port: MAC {PORT_MAC}, ARP and multicast off",
                s.pdev
            ),
            ip(port),
        )
        .undo(ip(back)),
    );
    p.push(bridge::enslave(&s.bridge, &s.pdev));
    p.extend(super::vlans::trunk(s, &s.pdev));
    p.push(bridge::link_up(&s.bridge));
    p.push(bridge::link_up(&s.vif0));
    p.push(bridge::link_up(&s.pdev));
    p.push(Step::new(
        format!("wait for {} to negotiate link", s.pdev),
        Action::WaitRunning {
            dev: s.pdev.clone(),
            secs: 10,
        },
    ));
    p.push(bridge::link_up(&s.netdev));
    p.extend(addr_adds);
    p.extend(route_adds);
    // NL-06: dom0's own traffic comes in through vif0.N.
    p.extend(antispoof::add(s, &[&s.pdev, &s.vif0], snap)?);
    Ok(Outcome::Plan(Planned::new(p).notes(notes)))
}

/// NL-07: everything netloop start did, undone from the live state.
pub fn stop(s: &Settings, snap: &Snapshot) -> Result<Outcome> {
    if !snap.exists(&s.bridge)? {
        return already(format!("{} does not exist: nothing to stop", s.bridge));
    }
    if !snap.is_port(&s.bridge, &s.pdev)? || !snap.is_port(&s.bridge, &s.vif0)? {
        return already(format!(
            "{} and {} are not both ports of {}: this bridge was not made by network-bridge \
             start layout=netloop",
            s.pdev, s.vif0, s.bridge
        ));
    }
    let veth = snap.link(&s.netdev)?.ok_or_else(|| {
        Error::refused(format!(
            "{} (dom0's side of the pair {}) is missing: put it back or remove {} by hand",
            s.netdev, s.vif0, s.bridge
        ))
    })?;
    if snap.exists(&s.vdev)? {
        return Err(Error::refused(format!(
            "a link named {} exists, so {} cannot take its name back: remove it and retry",
            s.vdev, s.netdev
        )));
    }
    let port = snap
        .link(&s.pdev)?
        .ok_or_else(|| Error::refused(format!("the port {} vanished", s.pdev)))?;
    let bridge_up = snap.link(&s.bridge)?.is_some_and(|l| l.up);
    let vif0_up = snap.link(&s.vif0)?.is_some_and(|l| l.up);
    let flags = veth.flags;
    let (addr_dels, addr_adds) = addr_moves(snap.addrs(&s.netdev)?, &s.netdev, &s.netdev);
    let (route_dels, route_adds) = route_moves(snap.routes(&s.netdev)?, &s.netdev, &s.netdev);

    let mut p = Plan::default();
    p.extend(antispoof::remove(s, &[&s.pdev, &s.vif0], snap)?);
    p.extend(route_dels);
    p.extend(addr_dels);
    if veth.up {
        p.push(bridge::link_down(&s.netdev));
    }
    if bridge_up {
        p.push(bridge::link_down(&s.bridge));
    }
    p.push(
        Step::run(
            format!("remove {} from bridge {}", s.pdev, s.bridge),
            ip(["link", "set", "dev", &s.pdev, "nomaster"]),
        )
        .undo(ip(["link", "set", "dev", &s.pdev, "master", &s.bridge])),
    );
    if port.up {
        p.push(bridge::link_down(&s.pdev));
    }
    p.push(rename(&s.netdev, &s.vdev));
    p.push(rename(&s.pdev, &s.netdev));
    // The NIC gets back its MAC and flags, which dom0's veth carried meanwhile.
    let mut back = vec![
        "link",
        "set",
        "dev",
        s.netdev.as_str(),
        "address",
        &veth.address,
    ];
    back.extend(flag_words(flags));
    let mut again = vec![
        "link",
        "set",
        "dev",
        s.netdev.as_str(),
        "address",
        &port.address,
    ];
    again.extend(flag_words(port.flags));
    p.push(
        Step::run(
            format!("give {} back its MAC {}", s.netdev, veth.address),
            ip(back),
        )
        .undo(ip(again)),
    );
    if port.up {
        p.push(bridge::link_up(&s.netdev));
    }
    p.extend(addr_adds);
    p.extend(route_adds);
    // The pair goes with one command whose undo makes it again as start did (a link deleted
    // cannot be put back otherwise); the bridge goes last, so nothing can fail after it.
    if vif0_up {
        p.push(bridge::link_down(&s.vif0));
    }
    let pair_back = add_pair(s, &veth.address, veth.mtu, flags);
    p.push(
        Step::run(
            format!("delete the pair {}/{}", s.vdev, s.vif0),
            ip(["link", "del", "dev", &s.vdev]),
        )
        .undo(pair_back),
    );
    p.push(Step::run(
        format!("delete bridge {}", s.bridge),
        ip(["link", "del", "dev", &s.bridge]),
    ));
    p.extend(antispoof::forget(s, snap)?);
    Ok(Outcome::Plan(Planned::new(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_netloop_bridge_mac_is_the_nics_made_local() {
        assert_eq!(local_mac("00:16:3e:12:34:56"), "02:16:3e:12:34:56");
        assert_eq!(local_mac("01:00:00:00:00:01"), "02:00:00:00:00:01");
        // Already local (a virtual NIC): still a different MAC.
        assert_eq!(local_mac("02:16:3e:12:34:56"), "06:16:3e:12:34:56");
        assert_eq!(local_mac("fe:ff:ff:ff:ff:ff"), "fa:ff:ff:ff:ff:ff");
    }

    #[test]
    fn flags_words() {
        assert_eq!(flag_words(IFF_MULTICAST), ["arp", "on", "multicast", "on"]);
        assert_eq!(flag_words(IFF_NOARP), ["arp", "off", "multicast", "off"]);
    }
}
