//! `network-bridge layout=netloop|xenbr`: the two layouts besides the default `netdev` one (which
//! lives in [`super::network_bridge`]).
//!
//! - `netloop` (spec §8.5, NL-01…NL-12), the classic picture `eth0 -> vif0.0 -> xenbr0 -> peth0`:
//!   bridge `xenbrN`; the NIC renamed `p<netdev>`; a veth pair `vethN`/`vif0.N` standing in for
//!   the old netloop driver (NL-12), `vethN` taking the NIC's addresses, routes and MAC and then
//!   its name; `p<netdev>` and `vif0.N` are ports with MAC `fe:ff:ff:ff:ff:ff` and ARP off.
//! - `xenbr`, what distributions configure by hand: bridge `xenbrN` holds the addresses and
//!   routes, the NIC keeps its name (`enp0s3` needs no renaming) and is the bridge's port.
//!
//! Same guarantees as `netdev`: every step has its undo, the run is journalled, `stop` puts back
//! exactly what `start` found. The bridges made here carry a marker alias, so that `stop` and
//! `status` recognise them and never take apart a bridge an administrator made.

use super::network_bridge::{
    addr_moves, antispoof_steps, antispoof_undo_steps, forget_policy_step, network_root_on,
    release_uplink, rename, route_moves, warn_dynamic, Settings,
};
use super::HostPlanned as Planned;
use crate::bridge::{self, PORT_MAC};
use crate::exec::{ip, Runner};
use crate::plan::{Action, Plan, Step};
use crate::state::{self, Link, IFF_MULTICAST, IFF_NOARP};

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

    pub fn parse(v: &str) -> Result<Layout, String> {
        match v {
            "netdev" => Ok(Layout::Netdev),
            "netloop" => Ok(Layout::Netloop),
            "xenbr" => Ok(Layout::Xenbr),
            _ => Err(format!(
                "layout={v:?} is not a layout: use netdev (the bridge takes the NIC's name), \
                 netloop (eth0 -> vif0.0 -> xenbr0 -> peth0) or xenbr (xenbr0 holds the \
                 addresses, the NIC keeps its name)"
            )),
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
pub fn found_on_host(dev: &str) -> Option<Layout> {
    let l = state::link(dev)?;
    if l.is_bridge {
        if state::is_port(dev, &format!("p{dev}")) {
            return Some(Layout::Netdev);
        }
        return (l.alias == Layout::Xenbr.marker()).then_some(Layout::Xenbr);
    }
    let master = state::link(&format!("p{dev}"))?.master?;
    (state::link(&master)?.alias == Layout::Netloop.marker()).then_some(Layout::Netloop)
}

/// Is this bridge port a guest's backend (`vifD.N`, `vifD.N-emu`, a tap, or a vif renamed by
/// `vifname`, which keeps its kernel name as its alias)?
pub fn is_guest_port(l: &Link) -> bool {
    let vif = |n: &str| n.starts_with("vif") || n.starts_with("tap");
    vif(&l.name) || vif(&l.alias)
}

/// The bridge's uplink: its first port that is not a guest's backend.
pub fn uplink_port(bridge: &str) -> Option<String> {
    state::ports(bridge)
        .into_iter()
        .find(|p| state::link(p).is_some_and(|l| !is_guest_port(&l)))
}

/// The bridge of a layout: STP off, forward delay 0, the marker, a fixed MAC and MTU.
fn create_bridge(s: &Settings, mac: &str, mtu: u32) -> Vec<Step> {
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

fn already(why: String) -> Result<Planned, String> {
    Ok(Planned::Nothing(why))
}

fn done(plan: Plan) -> Result<Planned, String> {
    Ok(Planned::Plan {
        intro: String::new(),
        plan,
    })
}

/// The NIC to build on, or why not: the checks both layouts' `start` make first.
fn nic_for_start(s: &Settings, runner: &dyn Runner) -> Result<Result<Link, String>, String> {
    if s.bridge == "null" {
        return Ok(Err("bridge=null: nothing to do".into()));
    }
    if s.layout == Layout::Netloop && state::exists(&s.pdev) {
        return Ok(Err(format!(
            "{} exists: network-bridge has already run",
            s.pdev
        )));
    }
    let nic = state::link(&s.netdev).ok_or_else(|| {
        format!(
            "netdev {} does not exist ({}): name the physical NIC with netdev=<if>",
            s.netdev, s.netdev_origin
        )
    })?;
    if nic.master.as_deref() == Some(s.bridge.as_str()) {
        return Ok(Err(format!(
            "{} is already a port of {}: network-bridge has already run",
            s.netdev, s.bridge
        )));
    }
    match state::link(&s.bridge) {
        Some(b) if b.is_bridge => {
            return Ok(Err(format!(
                "{} is already a bridge: nothing to do",
                s.bridge
            )))
        }
        Some(_) => {
            return Err(format!(
                "bridge={} names an existing link that is not a bridge: choose another name",
                s.bridge
            ))
        }
        None => {}
    }
    if nic.is_bridge {
        return Err(format!(
            "netdev {} is a bridge ({}): name the physical NIC with netdev=<if>",
            s.netdev, s.netdev_origin
        ));
    }
    if let Some(m) = &nic.master {
        return Err(format!(
            "netdev {} is already a port of {m}: release it first (ip link set dev {} nomaster)",
            s.netdev, s.netdev
        ));
    }
    if let Some(why) = network_root_on(&s.netdev, runner) {
        return Ok(Err(format!(
            "bridging not supported on network root; not starting: {why}"
        )));
    }
    Ok(Ok(nic))
}

/// NL-04 on a modern kernel (NL-12): the classic layout with a veth pair.
pub fn netloop_start(s: &Settings, runner: &dyn Runner) -> Result<Planned, String> {
    let nic = match nic_for_start(s, runner)? {
        Ok(nic) => nic,
        Err(why) => return already(why),
    };
    for name in [&s.vdev, &s.vif0] {
        if state::exists(name) {
            // NL-03's successor: the pair's names are taken.
            return Err(format!(
                "a link named {name} exists, and layout=netloop needs {}/{} for dom0's own \
                 interface: remove it, or choose another number with vifnum=",
                s.vdev, s.vif0
            ));
        }
    }
    let addrs = state::addrs(runner, &s.netdev).map_err(|e| e.to_string())?;
    let routes = state::routes(runner, &s.netdev).map_err(|e| e.to_string())?;
    // Same name before and after: the name moves from the NIC to the veth in between.
    let (addr_dels, addr_adds) = addr_moves(&addrs, &s.netdev, &s.netdev);
    let (route_dels, route_adds) = route_moves(&routes, &s.netdev, &s.netdev);
    warn_dynamic(&addrs, &s.netdev, &s.netdev);
    let flags = state::flags(&s.netdev);

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
    if s.antispoof {
        // NL-06: dom0's own traffic comes in through vif0.N.
        p.extend(antispoof_steps(s, &[&s.pdev, &s.vif0], runner)?);
    }
    done(p)
}

/// NL-07: everything netloop start did, undone from the live state.
pub fn netloop_stop(s: &Settings, runner: &dyn Runner) -> Result<Planned, String> {
    if s.bridge == "null" {
        return already("bridge=null: nothing to do".into());
    }
    if !state::exists(&s.bridge) {
        return already(format!("{} does not exist: nothing to stop", s.bridge));
    }
    if !state::is_port(&s.bridge, &s.pdev) || !state::is_port(&s.bridge, &s.vif0) {
        return already(format!(
            "{} and {} are not both ports of {}: this bridge was not made by network-bridge \
             start layout=netloop",
            s.pdev, s.vif0, s.bridge
        ));
    }
    let veth = state::link(&s.netdev).ok_or_else(|| {
        format!(
            "{} (dom0's side of the pair {}) is missing: put it back or remove {} by hand",
            s.netdev, s.vif0, s.bridge
        )
    })?;
    if state::exists(&s.vdev) {
        return Err(format!(
            "a link named {} exists, so {} cannot take its name back: remove it and retry",
            s.vdev, s.netdev
        ));
    }
    if let Some(why) = network_root_on(&s.netdev, runner) {
        return already(format!(
            "bridging not supported on network root; not stopping: {why}"
        ));
    }
    let port = state::link(&s.pdev).ok_or("the port vanished")?;
    let bridge_up = state::link(&s.bridge).is_some_and(|l| l.up);
    let vif0_up = state::link(&s.vif0).is_some_and(|l| l.up);
    let flags = state::flags(&s.netdev);
    let addrs = state::addrs(runner, &s.netdev).map_err(|e| e.to_string())?;
    let routes = state::routes(runner, &s.netdev).map_err(|e| e.to_string())?;
    let (addr_dels, addr_adds) = addr_moves(&addrs, &s.netdev, &s.netdev);
    let (route_dels, route_adds) = route_moves(&routes, &s.netdev, &s.netdev);

    let mut p = Plan::default();
    p.extend(antispoof_undo_steps(s, &[&s.pdev, &s.vif0], runner));
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
    again.extend(flag_words(state::flags(&s.pdev)));
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
    p.extend(forget_policy_step(s));
    done(p)
}

/// `xenbr`: the bridge holds dom0's addresses and routes; the NIC keeps its name as its port.
pub fn xenbr_start(s: &Settings, runner: &dyn Runner) -> Result<Planned, String> {
    let nic = match nic_for_start(s, runner)? {
        Ok(nic) => nic,
        Err(why) => return already(why),
    };
    let addrs = state::addrs(runner, &s.netdev).map_err(|e| e.to_string())?;
    let routes = state::routes(runner, &s.netdev).map_err(|e| e.to_string())?;
    let (addr_dels, addr_adds) = addr_moves(&addrs, &s.netdev, &s.bridge);
    let (route_dels, route_adds) = route_moves(&routes, &s.netdev, &s.bridge);
    warn_dynamic(&addrs, &s.netdev, &s.bridge);

    let mut p = Plan::default();
    // The NIC's MAC, as in the netdev layout (MAC-04): DHCP and neighbours see the same host.
    p.extend(create_bridge(s, &nic.address, nic.mtu));
    p.extend(route_dels);
    p.extend(addr_dels);
    p.push(bridge::enslave(&s.bridge, &s.netdev));
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
    if s.antispoof {
        p.extend(antispoof_steps(s, &[&s.netdev], runner)?);
    }
    done(p)
}

/// `xenbr` stop: the addresses and routes go back to the NIC, the bridge goes.
pub fn xenbr_stop(s: &Settings, runner: &dyn Runner) -> Result<Planned, String> {
    if s.bridge == "null" {
        return already("bridge=null: nothing to do".into());
    }
    let Some(b) = state::link(&s.bridge) else {
        return already(format!("{} does not exist: nothing to stop", s.bridge));
    };
    if !state::is_port(&s.bridge, &s.netdev) || b.alias != Layout::Xenbr.marker() {
        return already(format!(
            "{} is not a bridge made by network-bridge start layout=xenbr with port {}: left alone",
            s.bridge, s.netdev
        ));
    }
    if let Some(why) = network_root_on(&s.bridge, runner) {
        return already(format!(
            "bridging not supported on network root; not stopping: {why}"
        ));
    }
    let (mut p, addr_adds, route_adds) = release_uplink(s, &s.netdev, runner)?;
    p.extend(addr_adds);
    p.extend(route_adds);
    p.push(Step::run(
        format!("delete bridge {}", s.bridge),
        ip(["link", "del", "dev", &s.bridge]),
    ));
    p.extend(forget_policy_step(s));
    done(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_parse_and_name() {
        for n in Layout::NAMES {
            assert_eq!(Layout::parse(n).unwrap().name(), *n);
        }
        let e = Layout::parse("G1").unwrap_err();
        assert!(e.contains("\"G1\"") && e.contains("netloop"), "{e}");
    }

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
