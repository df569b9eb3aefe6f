//! network-bridge's planners (spec §8): the netdev, netloop and xenbr layouts' start and stop,
//! antispoof=yes, the VXLAN overlay, and their refusals.

use crate::error::{Error, Note, Outcome, Planned};
use crate::facts::{Answer, Fact};
use crate::fixture::testing::*;
use crate::fixture::Fixture;
use crate::state::{Addr, Link, Route};

const NB: &str = "network-bridge";

/// Every tool the planners may look for (as [`dom0`] has them).
const ALL_TOOLS: &[&str] = &["ip", "iptables", "iptables-save", "iptables-restore", "nft"];

fn addr(json: &str) -> Addr {
    serde_json::from_str(json).expect("an address")
}

fn route(json: &str) -> Route {
    serde_json::from_str(json).expect("a route")
}

/// Plans `args` (the command word first) and expects a plan.
fn planned(args: &[&str], host: &Fixture) -> Planned {
    let start = args[0] == "start";
    match plan_host(NB, start, &inv(NB, args, &[]), host) {
        Ok(Outcome::Plan(p)) => p,
        Ok(Outcome::Nothing(why)) => panic!("{args:?}: nothing to do: {why}"),
        Err(e) => panic!("{args:?}: {e:?}"),
    }
}

/// Plans `args` and expects nothing to do; returns why.
fn nothing(args: &[&str], host: &Fixture) -> String {
    let start = args[0] == "start";
    match plan_host(NB, start, &inv(NB, args, &[]), host) {
        Ok(Outcome::Nothing(why)) => why,
        Ok(Outcome::Plan(p)) => panic!("{args:?}: planned\n{}", lines(&p)),
        Err(e) => panic!("{args:?}: {e:?}"),
    }
}

/// Plans `args` and expects an error.
fn error(args: &[&str], host: &Fixture) -> Error {
    let start = args[0] == "start";
    match plan_host(NB, start, &inv(NB, args, &[]), host) {
        Err(e) => e,
        Ok(Outcome::Plan(p)) => panic!("{args:?}: planned\n{}", lines(&p)),
        Ok(Outcome::Nothing(why)) => panic!("{args:?}: nothing to do: {why}"),
    }
}

/// The index of the first rendered line that is exactly `line`, failing with the plan.
fn at(l: &str, line: &str) -> usize {
    l.lines()
        .position(|x| x == line)
        .unwrap_or_else(|| panic!("no line {line:?} in\n{l}"))
}

/// Asserts that the rendered lines hold `first` before `second`.
fn before(l: &str, first: &str, second: &str) {
    assert!(
        at(l, first) < at(l, second),
        "{first:?} not before {second:?} in\n{l}"
    );
}

/// The last command of a plan (comments left out).
fn last_command(l: &str) -> &str {
    l.lines().rfind(|x| !x.starts_with('#')).unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// layout=netdev, start (§8.2)

#[test]
fn nb05_netdev_start_makes_tmpbridge_with_the_nics_mac_and_mtu() {
    // A NIC with a jumbo MTU and a MAC of its own: neither may come from anywhere else.
    let host = dom0().link(Link {
        up: true,
        mtu: 9000,
        address: "00:16:3e:aa:bb:cc".into(),
        ..Link::named("eth0")
    });
    let l = lines(&planned(&["start"], &host));
    assert_eq!(
        l.lines().nth(1),
        Some("ip link add name tmpbridge type bridge stp_state 0 forward_delay 0"),
        "{l}"
    );
    before(
        &l,
        "ip link set dev tmpbridge address 00:16:3e:aa:bb:cc",
        "ip link set dev eth0 name peth0",
    );
    before(
        &l,
        "ip link set dev tmpbridge mtu 9000",
        "ip link set dev eth0 name peth0",
    );
}

#[test]
fn nb08_netdev_start_moves_addresses_and_routes_from_the_nic_to_the_bridge() {
    let l = lines(&planned(&["start"], &dom0()));
    // Off the NIC before it is renamed: routes first, then the addresses.
    for line in [
        "ip route del 198.51.100.0/24 via 192.0.2.1 dev eth0 proto static metric 5",
        "ip route del default via 192.0.2.1 dev eth0",
        "ip addr del 2001:db8::10/64 dev eth0",
        "ip addr del 192.0.2.10/24 dev eth0",
    ] {
        before(&l, line, "ip link set dev eth0 name peth0");
    }
    before(
        &l,
        "ip route del default via 192.0.2.1 dev eth0",
        "ip addr del 192.0.2.10/24 dev eth0",
    );
    // Onto the bridge (now named eth0) once it is up: addresses before the routes using them.
    let up = "ip link set dev eth0 up";
    before(&l, up, "ip addr add 192.0.2.10/24 dev eth0");
    before(&l, up, "ip addr add 2001:db8::10/64 nodad dev eth0");
    before(
        &l,
        "ip addr add 192.0.2.10/24 dev eth0",
        "ip route replace default via 192.0.2.1 dev eth0",
    );
    before(
        &l,
        "ip route replace default via 192.0.2.1 dev eth0",
        "ip route replace 198.51.100.0/24 via 192.0.2.1 dev eth0 proto static metric 5",
    );
    // The kernel's own: the link-local address and the prefix route stay where they are.
    assert!(!l.contains("fe80::"), "{l}");
    assert!(!l.contains("192.0.2.0/24"), "{l}");
}

#[test]
fn nb11_netdev_start_renames_the_nic_to_peth0_and_tmpbridge_to_eth0_then_enslaves() {
    let l = lines(&planned(&["start"], &dom0()));
    let order = [
        "ip link set dev eth0 down",
        "ip link set dev eth0 name peth0",
        "ip link set dev tmpbridge name eth0",
        "ip link set dev peth0 master eth0",
        "ip link set dev peth0 up",
        "for i in $(seq 10); do grep -q 1 /sys/class/net/peth0/carrier && break; sleep 1; done",
        "ip link set dev eth0 up",
    ];
    for pair in order.windows(2) {
        before(&l, pair[0], pair[1]);
    }
}

#[test]
fn nb12_netdev_start_leaves_a_nic_that_is_down_without_a_down_step() {
    let host = dom0().link(Link {
        address: "52:54:00:12:34:56".into(),
        ..Link::named("eth0")
    });
    let l = lines(&planned(&["start"], &host));
    assert!(!l.contains("ip link set dev eth0 down"), "{l}");
    at(&l, "ip link set dev peth0 up");
}

#[test]
fn nl11_netdev_start_names_the_bridge_also_xenbr0_when_no_link_has_that_name() {
    let l = lines(&planned(&["start"], &dom0()));
    before(
        &l,
        "ip link set dev tmpbridge name eth0",
        "ip link property add dev eth0 altname xenbr0",
    );
    before(
        &l,
        "ip link property add dev eth0 altname xenbr0",
        "ip link set dev peth0 master eth0",
    );
}

#[test]
fn nl11_netdev_start_gives_no_altname_when_xenbr0_already_resolves() {
    // xenbr0 is another link's alternative name already.
    let host = dom0().ip_links(
        r#"[{"ifindex":9,"ifname":"eth1","flags":[],"mtu":1500,"address":"52:54:00:00:00:09","altnames":["xenbr0"]}]"#,
    );
    let l = lines(&planned(&["start"], &host));
    assert!(!l.contains("altname"), "{l}");
    // Nor when the bridge is given that name itself.
    let p = planned(&["start", "bridge=xenbr0"], &dom0());
    let l = lines(&p);
    assert!(!l.contains("altname"), "{l}");
    at(&l, "ip link set dev tmpbridge name xenbr0");
}

#[test]
fn nb02_start_intro_names_layout_netdev_and_bridge_and_how_each_was_chosen() {
    let p = planned(&["start"], &dom0());
    assert_eq!(
        p.intro.as_deref(),
        Some(
            "network-bridge: layout=netdev (the default), netdev=eth0 (the device of the \
             default route), bridge=eth0, port peth0 (bridge also named xenbr0)"
        )
    );
    let host = dom0().link(Link {
        address: "52:54:00:00:00:01".into(),
        ..Link::named("eth1")
    });
    let p = planned(&["start", "netdev=eth1", "layout=netdev"], &host);
    let intro = p.intro.unwrap();
    assert!(
        intro.contains("layout=netdev (argument layout=)")
            && intro.contains("netdev=eth1 (argument netdev=)")
            && intro.contains("bridge=eth1, port peth1 (bridge also named xenbr1)"),
        "{intro}"
    );
}

#[test]
fn nb02_without_a_default_route_netdev_is_eth0_and_the_intro_says_so() {
    let host = Fixture::new()
        .link(Link {
            up: true,
            address: "52:54:00:12:34:56".into(),
            ..Link::named("eth0")
        })
        .tools(&["ip"]);
    let intro = planned(&["start"], &host).intro.unwrap();
    assert!(
        intro.contains("netdev=eth0 (the default, as there is no default route)"),
        "{intro}"
    );
}

#[test]
fn nb07_start_when_peth0_exists_does_nothing() {
    let host = dom0().link(Link::named("peth0"));
    let why = nothing(&["start"], &host);
    assert_eq!(why, "peth0 exists: network-bridge has already run");
}

#[test]
fn nb06_start_when_the_bridge_exists_does_nothing_but_an_unrelated_bridge_does_not_stop_it() {
    let host = dom0().link(Link {
        is_bridge: true,
        up: true,
        address: "52:54:00:12:34:56".into(),
        ..Link::named("eth0")
    });
    assert_eq!(
        nothing(&["start"], &host),
        "eth0 is already a bridge: nothing to do"
    );
    let host = dom0().link(Link {
        is_bridge: true,
        ..Link::named("br-other")
    });
    let l = lines(&planned(&["start"], &host));
    at(&l, "ip link set dev eth0 name peth0");
}

#[test]
fn nb03_bridge_null_does_nothing_at_start_and_stop() {
    for cmd in ["start", "stop"] {
        let why = nothing(&[cmd, "bridge=null"], &dom0());
        assert_eq!(why, "bridge=null: nothing to do", "{cmd}");
    }
}

#[test]
fn nb05_start_with_a_missing_nic_is_refused_naming_netdev() {
    let e = error(&["start", "netdev=eth9"], &dom0());
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    let m = sentence(e);
    assert!(
        m.starts_with("netdev eth9 does not exist (argument netdev=)") && m.contains("netdev=<if>"),
        "{m}"
    );
}

#[test]
fn start_refuses_a_nic_that_is_already_a_port_of_another_bridge() {
    // Taking it would cut that bridge off its uplink; the netloop and xenbr layouts refuse too.
    let host = dom0()
        .link(Link {
            is_bridge: true,
            up: true,
            ..Link::named("br-lan")
        })
        .link(Link {
            up: true,
            master: Some("br-lan".into()),
            address: "52:54:00:12:34:56".into(),
            ..Link::named("eth0")
        });
    let e = error(&["start", "netdev=eth0", "bridge=xenbr0"], &host);
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    let m = sentence(e);
    assert!(
        m.starts_with("netdev eth0 is already a port of br-lan") && m.contains("nomaster"),
        "{m}"
    );
}

#[test]
fn nb09_start_refuses_while_a_tmpbridge_is_left_over() {
    let host = dom0().link(Link {
        is_bridge: true,
        ..Link::named("tmpbridge")
    });
    let e = error(&["start"], &host);
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    let m = sentence(e);
    assert!(m.contains("ip link del tmpbridge"), "{m}");
}

#[test]
fn nb04_a_root_filesystem_over_the_nic_is_not_bridged() {
    let host = dom0()
        .file("/proc/mounts", "server:/export / nfs rw 0 0\n")
        .route_get(
            "server",
            r#"[{"dst":"203.0.113.5","dev":"eth0","prefsrc":"192.0.2.10"}]"#,
        );
    let why = nothing(&["start"], &host);
    assert!(
        why.starts_with("bridging not supported on network root; not starting")
            && why.contains("server:/export, nfs")
            && why.contains("eth0"),
        "{why}"
    );
}

#[test]
fn nb04_a_network_root_reached_through_another_nic_does_not_stop_start() {
    let host = dom0()
        .file("/proc/mounts", "server:/export / nfs rw 0 0\n")
        .route_get(
            "server",
            r#"[{"dst":"203.0.113.5","dev":"eth1","prefsrc":"203.0.113.10"}]"#,
        );
    let l = lines(&planned(&["start"], &host));
    at(&l, "ip link set dev eth0 name peth0");
}

#[test]
fn nb09_dhcp_addresses_move_with_a_warning_to_renew_them_on_the_bridge() {
    let host = dom0().addrs(
        "eth0",
        vec![addr(
            r#"{"family":"inet","local":"192.0.2.10","prefixlen":24,"scope":"global",
                "dynamic":true,"label":"eth0","valid_life_time":3600,"preferred_life_time":3600}"#,
        )],
    );
    let p = planned(&["start"], &host);
    // With its remaining lifetime, so that it still expires if nothing renews it.
    at(
        &lines(&p),
        "ip addr add 192.0.2.10/24 valid_lft 3600 preferred_lft 3600 dev eth0",
    );
    let warns: Vec<&String> = p
        .notes
        .iter()
        .filter_map(|n| match n {
            Note::Warn(w) => Some(w),
            _ => None,
        })
        .collect();
    assert_eq!(warns.len(), 1, "{:?}", p.notes);
    assert!(
        warns[0].contains("192.0.2.10/24") && warns[0].contains("(3600 s)"),
        "{}",
        warns[0]
    );
    assert!(warns[0].contains("dhclient eth0"), "{}", warns[0]);
}

// ---------------------------------------------------------------------------------------------
// layout=netdev, stop (§8.3)

/// dom0's addresses and routes as they are on `dev` (a bridge, after start).
fn dom0_network_on(host: Fixture, dev: &str) -> Fixture {
    let a = |json: &str| addr(&json.replace("DEV", dev));
    let r = |json: &str| route(&json.replace("DEV", dev));
    host.addrs(
        dev,
        vec![
            a(r#"{"family":"inet","local":"192.0.2.10","prefixlen":24,"scope":"global","label":"DEV"}"#),
            a(r#"{"family":"inet6","local":"2001:db8::10","prefixlen":64,"scope":"global","nodad":true}"#),
            a(r#"{"family":"inet6","local":"fe80::5054:ff:fe12:3456","prefixlen":64,"scope":"link"}"#),
        ],
    )
    .answer(
        Fact::Routes(dev.to_string()),
        Answer::Routes(vec![
            r(r#"{"dst":"default","gateway":"192.0.2.1","dev":"DEV","flags":[]}"#),
            r(r#"{"dst":"192.0.2.0/24","dev":"DEV","protocol":"kernel","scope":"link","prefsrc":"192.0.2.10","flags":[]}"#),
            r(r#"{"dst":"198.51.100.0/24","gateway":"192.0.2.1","dev":"DEV","protocol":"static","metric":5,"flags":[]}"#),
        ]),
    )
    .default_route(dev)
}

/// dom0 after `network-bridge start` (layout=netdev): bridge eth0 with dom0's network, its
/// port peth0 (the NIC), and a guest's vif1.0; no tool installed.
fn netdev_started_bare() -> Fixture {
    let host = Fixture::new()
        .link(Link {
            is_bridge: true,
            up: true,
            address: "52:54:00:12:34:56".into(),
            ..Link::named("eth0")
        })
        .link(Link {
            up: true,
            master: Some("eth0".into()),
            address: "52:54:00:12:34:56".into(),
            ..Link::named("peth0")
        })
        .link(Link {
            up: true,
            master: Some("eth0".into()),
            address: "fe:ff:ff:ff:ff:ff".into(),
            ..Link::named("vif1.0")
        });
    dom0_network_on(host, "eth0")
}

/// [`netdev_started_bare`] with every tool installed, iptables and nft.
fn netdev_started() -> Fixture {
    netdev_started_bare().tools(ALL_TOOLS)
}

#[test]
fn nb20_stop_finds_the_netdev_layout_on_the_host_without_layout() {
    let p = planned(&["stop"], &netdev_started());
    let intro = p.intro.unwrap();
    assert!(
        intro.starts_with(
            "network-bridge: layout=netdev (found on this host), netdev=eth0 (the device of \
             the default route), bridge=eth0, port peth0"
        ),
        "{intro}"
    );
}

#[test]
fn nb18_netdev_stop_moves_addresses_and_routes_back_to_the_nic() {
    let l = lines(&planned(&["stop"], &netdev_started()));
    // Off the bridge while it still has the name eth0 ...
    for line in [
        "ip route del default via 192.0.2.1 dev eth0",
        "ip route del 198.51.100.0/24 via 192.0.2.1 dev eth0 proto static metric 5",
        "ip addr del 192.0.2.10/24 dev eth0",
        "ip addr del 2001:db8::10/64 dev eth0",
    ] {
        before(&l, line, "ip link set dev eth0 name tmpbridge");
    }
    // ... onto the NIC once it has it back.
    for line in [
        "ip addr add 192.0.2.10/24 dev eth0",
        "ip addr add 2001:db8::10/64 nodad dev eth0",
        "ip route replace default via 192.0.2.1 dev eth0",
        "ip route replace 198.51.100.0/24 via 192.0.2.1 dev eth0 proto static metric 5",
    ] {
        before(&l, "ip link set dev peth0 name eth0", line);
    }
    before(
        &l,
        "ip addr add 192.0.2.10/24 dev eth0",
        "ip route replace default via 192.0.2.1 dev eth0",
    );
    assert!(!l.contains("fe80::") && !l.contains("192.0.2.0/24"), "{l}");
}

#[test]
fn nb18_netdev_stop_renames_back_and_deletes_the_bridge_last() {
    let l = lines(&planned(&["stop"], &netdev_started()));
    let order = [
        "ip link set dev eth0 down",
        "ip link set dev peth0 nomaster",
        "ip link set dev peth0 down",
        "ip link set dev eth0 name tmpbridge",
        "ip link set dev peth0 name eth0",
        "ip link set dev eth0 up",
        "ip addr add 192.0.2.10/24 dev eth0",
    ];
    for pair in order.windows(2) {
        before(&l, pair[0], pair[1]);
    }
    // The guest's vif is detached by the deletion, not one by one.
    assert!(!l.contains("vif1.0"), "{l}");
    assert_eq!(last_command(&l), "ip link del dev tmpbridge", "{l}");
}

#[test]
fn nb17_stop_does_nothing_without_the_bridge_or_its_peth0_port() {
    // Not started: eth0 is the NIC, not a bridge with peth0.
    assert_eq!(
        nothing(&["stop"], &dom0()),
        "peth0 is not a port of eth0: this bridge was not made by network-bridge start"
    );
    assert_eq!(
        nothing(&["stop", "bridge=br9"], &dom0()),
        "br9 does not exist: nothing to stop"
    );
}

#[test]
fn nb17_stop_refuses_while_a_tmpbridge_is_left_over() {
    let host = netdev_started().link(Link::named("tmpbridge"));
    let e = error(&["stop"], &host);
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    assert!(sentence(e).contains("ip link del tmpbridge"));
}

#[test]
fn nb04_stop_leaves_a_bridge_that_carries_the_network_root() {
    let host = netdev_started()
        .file("/proc/mounts", "server:/export / nfs rw 0 0\n")
        .route_get("server", r#"[{"dst":"203.0.113.5","dev":"eth0"}]"#);
    let why = nothing(&["stop"], &host);
    assert!(
        why.starts_with("bridging not supported on network root; not stopping"),
        "{why}"
    );
}

#[test]
fn stop_without_antispoof_on_a_host_without_iptables_reads_no_iptables_state() {
    let reads_iptables =
        |host: &Fixture| host.asked().iter().any(|f| matches!(f, Fact::Iptables(_)));
    let host = netdev_started_bare();
    let l = lines(&planned(&["stop"], &host));
    assert!(!l.contains("iptables"), "{l}");
    assert!(!reads_iptables(&host), "{:?}", host.asked());
    // Where iptables is installed, stop looks for start's rules even without a record.
    let host = netdev_started();
    planned(&["stop"], &host);
    assert!(reads_iptables(&host), "{:?}", host.asked());
}

// ---------------------------------------------------------------------------------------------
// layout=netloop (§8.5)

const NETLOOP_MARKER: &str = "xennet network-bridge layout=netloop";

#[test]
fn nl04_netloop_start_makes_the_pair_vif0_0_and_veth0_with_the_right_macs() {
    let l = lines(&planned(&["start", "layout=netloop"], &dom0()));
    // vif0.0 is the port (MAC fe:ff:ff:ff:ff:ff, ARP and multicast off, enslaved at once);
    // veth0 will be dom0's eth0 (the NIC's MAC, MTU and flags).
    at(
        &l,
        "ip link add name vif0.0 address fe:ff:ff:ff:ff:ff mtu 1500 arp off multicast off \
         master xenbr0 type veth peer name veth0 address 52:54:00:12:34:56 mtu 1500 arp on \
         multicast on",
    );
    // The bridge: marked, and a MAC of the host's own that is not eth0's.
    before(
        &l,
        "ip link add name xenbr0 type bridge stp_state 0 forward_delay 0",
        &format!("ip link set dev xenbr0 alias '{NETLOOP_MARKER}'"),
    );
    at(&l, "ip link set dev xenbr0 address 56:54:00:12:34:56");
}

#[test]
fn nl04_netloop_start_turns_the_nic_into_port_peth0_and_veth0_into_eth0() {
    let l = lines(&planned(&["start", "layout=netloop"], &dom0()));
    let order = [
        "ip addr del 192.0.2.10/24 dev eth0",
        "ip link set dev eth0 down",
        "ip link set dev eth0 name peth0",
        "ip link set dev veth0 name eth0",
        "ip link set dev peth0 address fe:ff:ff:ff:ff:ff arp off multicast off",
        "ip link set dev peth0 master xenbr0",
        "ip link set dev vif0.0 up",
        "ip link set dev peth0 up",
        "ip link set dev eth0 up",
        "ip addr add 192.0.2.10/24 dev eth0",
        "ip route replace default via 192.0.2.1 dev eth0",
    ];
    for pair in order.windows(2) {
        before(&l, pair[0], pair[1]);
    }
}

#[test]
fn nl12_netloop_start_intro_says_which_layout_and_pair_it_builds() {
    let intro = planned(&["start", "layout=netloop"], &dom0())
        .intro
        .unwrap();
    assert_eq!(
        intro,
        "network-bridge: layout=netloop (argument layout=), netdev=eth0 (the device of the \
         default route), bridge=xenbr0, port peth0, dom0's eth0 through the pair veth0/vif0.0"
    );
}

#[test]
fn nl01_netloop_names_follow_vifnum() {
    let host = dom0().link(Link {
        address: "52:54:00:00:00:01".into(),
        ..Link::named("eth1")
    });
    // From the NIC's number ...
    let l = lines(&planned(&["start", "layout=netloop", "netdev=eth1"], &host));
    at(&l, "ip link set dev eth1 name peth1");
    at(&l, "ip link set dev veth1 name eth1");
    at(&l, "ip link set dev peth1 master xenbr1");
    assert!(
        l.contains("name vif0.1 ") && l.contains("peer name veth1 "),
        "{l}"
    );
    // ... or given.
    let l = lines(&planned(&["start", "layout=netloop", "vifnum=3"], &dom0()));
    at(&l, "ip link set dev veth3 name eth0");
    at(&l, "ip link set dev peth0 master xenbr3");
}

#[test]
fn nl03_netloop_start_refuses_when_the_pairs_names_are_taken() {
    let host = dom0().link(Link::named("veth0"));
    let e = error(&["start", "layout=netloop"], &host);
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    let m = sentence(e);
    assert!(
        m.starts_with("a link named veth0 exists") && m.contains("vifnum="),
        "{m}"
    );
}

/// dom0 after `network-bridge start layout=netloop vifnum=N`: bridge xenbrN (marked) with
/// ports peth0 (the NIC) and vif0.N, and dom0's eth0, the veth with the NIC's MAC and dom0's
/// network.
fn netloop_started(n: u32) -> Fixture {
    let bridge = format!("xenbr{n}");
    let port = |name: &str| Link {
        up: true,
        master: Some(bridge.clone()),
        address: "fe:ff:ff:ff:ff:ff".into(),
        flags: crate::state::IFF_NOARP,
        ..Link::named(name)
    };
    let host = Fixture::new()
        .link(Link {
            is_bridge: true,
            up: true,
            alias: NETLOOP_MARKER.into(),
            address: "56:54:00:12:34:56".into(),
            ..Link::named(&bridge)
        })
        .link(port("peth0"))
        .link(port(&format!("vif0.{n}")))
        .link(Link {
            up: true,
            address: "52:54:00:12:34:56".into(),
            ..Link::named("eth0")
        })
        .tools(ALL_TOOLS);
    dom0_network_on(host, "eth0")
}

#[test]
fn nl07_netloop_stop_is_found_on_the_host_and_gives_the_nic_back_its_name_and_mac() {
    let p = planned(&["stop"], &netloop_started(0));
    let intro = p.intro.as_deref().unwrap_or("");
    assert!(
        intro.contains("layout=netloop (found on this host)") && intro.contains("bridge=xenbr0"),
        "{intro}"
    );
    let l = lines(&p);
    let order = [
        "ip addr del 192.0.2.10/24 dev eth0",
        "ip link set dev eth0 down",
        "ip link set dev peth0 nomaster",
        "ip link set dev eth0 name veth0",
        "ip link set dev peth0 name eth0",
        "ip link set dev eth0 address 52:54:00:12:34:56 arp on multicast on",
        "ip link set dev eth0 up",
        "ip addr add 192.0.2.10/24 dev eth0",
        "ip route replace default via 192.0.2.1 dev eth0",
        "ip link del dev veth0",
    ];
    for pair in order.windows(2) {
        before(&l, pair[0], pair[1]);
    }
    assert_eq!(last_command(&l), "ip link del dev xenbr0", "{l}");
}

#[test]
fn nl01_netloop_stop_takes_vifnum_from_the_bridge_it_finds() {
    let p = planned(&["stop"], &netloop_started(3));
    let intro = p.intro.as_deref().unwrap_or("");
    assert!(
        intro.contains("bridge=xenbr3") && intro.contains("through the pair veth3/vif0.3"),
        "{intro}"
    );
    let l = lines(&p);
    at(&l, "ip link set dev eth0 name veth3");
    at(&l, "ip link del dev veth3");
    assert_eq!(last_command(&l), "ip link del dev xenbr3", "{l}");
}

#[test]
fn nl06_netloop_antispoof_also_accepts_dom0s_own_port_vif0() {
    let l = lines(&planned(
        &["start", "layout=netloop", "antispoof=yes"],
        &dom0(),
    ));
    at(
        &l,
        "iptables -w -A FORWARD -m physdev --physdev-in peth0 -j ACCEPT",
    );
    at(
        &l,
        "iptables -w -A FORWARD -m physdev --physdev-in vif0.0 -j ACCEPT",
    );
}

// ---------------------------------------------------------------------------------------------
// layout=xenbr

const XENBR_MARKER: &str = "xennet network-bridge layout=xenbr";

#[test]
fn xenbr_start_marks_xenbr0_and_moves_dom0s_network_the_nic_keeping_its_name() {
    let p = planned(&["start", "layout=xenbr"], &dom0());
    assert!(
        p.intro
            .as_deref()
            .unwrap_or("")
            .ends_with("bridge=xenbr0, port eth0"),
        "{:?}",
        p.intro
    );
    let l = lines(&p);
    let order = [
        "ip link add name xenbr0 type bridge stp_state 0 forward_delay 0",
        "ip link set dev xenbr0 address 52:54:00:12:34:56",
        "ip addr del 192.0.2.10/24 dev eth0",
        "ip link set dev eth0 master xenbr0",
        "ip link set dev xenbr0 up",
        "ip addr add 192.0.2.10/24 dev xenbr0",
        "ip route replace default via 192.0.2.1 dev xenbr0",
    ];
    for pair in order.windows(2) {
        before(&l, pair[0], pair[1]);
    }
    at(
        &l,
        &format!("ip link set dev xenbr0 alias '{XENBR_MARKER}'"),
    );
    assert!(!l.contains(" name peth0"), "{l}");
}

/// dom0 after `network-bridge start layout=xenbr`: bridge xenbr0 (marked) with dom0's network
/// and port eth0.
fn xenbr_started() -> Fixture {
    let host = Fixture::new()
        .link(Link {
            is_bridge: true,
            up: true,
            alias: XENBR_MARKER.into(),
            address: "52:54:00:12:34:56".into(),
            ..Link::named("xenbr0")
        })
        .link(Link {
            up: true,
            master: Some("xenbr0".into()),
            address: "52:54:00:12:34:56".into(),
            ..Link::named("eth0")
        })
        .tools(ALL_TOOLS);
    dom0_network_on(host, "xenbr0")
}

#[test]
fn xenbr_stop_finds_the_marked_bridge_and_moves_dom0s_network_back_to_its_port() {
    let p = planned(&["stop"], &xenbr_started());
    let intro = p.intro.as_deref().unwrap_or("");
    assert!(
        intro.contains("layout=xenbr (found on this host)")
            && intro.contains(
                "netdev=eth0 (the port of xenbr0, the bridge of the default route), \
                 bridge=xenbr0"
            ),
        "{intro}"
    );
    let l = lines(&p);
    let order = [
        "ip route del default via 192.0.2.1 dev xenbr0",
        "ip addr del 192.0.2.10/24 dev xenbr0",
        "ip link set dev xenbr0 down",
        "ip link set dev eth0 nomaster",
        "ip addr add 192.0.2.10/24 dev eth0",
        "ip route replace default via 192.0.2.1 dev eth0",
    ];
    for pair in order.windows(2) {
        before(&l, pair[0], pair[1]);
    }
    assert_eq!(last_command(&l), "ip link del dev xenbr0", "{l}");
}

#[test]
fn xenbr_stop_leaves_a_bridge_without_the_marker_alone() {
    // The administrator's own xenbr0 (vif1.0 on it), not made by network-bridge.
    let why = nothing(&["stop", "layout=xenbr"], &admin_bridge());
    assert!(why.contains("left alone"), "{why}");
    // The same bridge with eth0 as its port is still not ours without the marker.
    let host = xenbr_started().link(Link {
        is_bridge: true,
        up: true,
        ..Link::named("xenbr0")
    });
    let why = nothing(&["stop", "layout=xenbr"], &host);
    assert_eq!(
        why,
        "xenbr0 is not a bridge made by network-bridge start layout=xenbr with port eth0: left alone"
    );
}

// ---------------------------------------------------------------------------------------------
// layout=

#[test]
fn a_layout_that_is_not_one_is_refused_naming_the_layouts() {
    let e = error(&["start", "layout=G1"], &dom0());
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    let m = sentence(e);
    assert!(
        m.contains("layout=\"G1\" is not a layout")
            && m.contains("netdev")
            && m.contains("netloop")
            && m.contains("xenbr"),
        "{m}"
    );
}

#[test]
fn stop_without_layout_on_an_untouched_host_takes_the_default_and_changes_nothing() {
    // No layout on the host: the netdev default, whose stop finds nothing of its own.
    let why = nothing(&["stop"], &admin_bridge());
    assert!(why.contains("peth0 is not a port of eth0"), "{why}");
}

// ---------------------------------------------------------------------------------------------
// antispoof=yes (NB-15)

const GUARD_RECORD: &str = "/run/xen/xennet/network-bridge.eth0.forward-policy";
const ACCEPT_PETH0: &str = "-A FORWARD -m physdev --physdev-in peth0 -j ACCEPT";

fn reads_iptables(host: &Fixture) -> bool {
    host.asked().iter().any(|f| matches!(f, Fact::Iptables(_)))
}

#[test]
fn nb15_antispoof_with_iptables_accepts_the_port_records_the_policy_and_sets_drop() {
    let host = dom0().iptables("filter", ":INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n");
    let p = planned(&["start", "antispoof=yes"], &host);
    let intro = p.intro.as_deref().unwrap_or("");
    assert!(intro.contains(", antispoof with iptables ("), "{intro}");
    let l = lines(&p);
    let order = [
        "ip route replace default via 192.0.2.1 dev eth0",
        "iptables -w -A FORWARD -m physdev --physdev-in peth0 -j ACCEPT",
        &format!("echo ACCEPT > {GUARD_RECORD}"),
        "iptables -w -P FORWARD DROP",
    ];
    for pair in order.windows(2) {
        before(&l, pair[0], pair[1]);
    }
    // The administrator's FORWARD rules are kept (no flush, unlike the original).
    assert!(!l.contains("-F FORWARD"), "{l}");
}

#[test]
fn nb15_antispoof_adds_nothing_that_is_already_there() {
    let host = dom0().iptables("filter", &format!(":FORWARD DROP [0:0]\n{ACCEPT_PETH0}\n"));
    let l = lines(&planned(&["start", "antispoof=yes"], &host));
    assert!(!l.contains("iptables"), "{l}");
    assert!(!l.contains(GUARD_RECORD), "{l}");
}

#[test]
fn nb15_antispoof_with_only_nft_writes_the_nftables_guard_record() {
    let host = dom0().answer(Fact::Tool("iptables".into()), Answer::Yes(false));
    let p = planned(&["start", "antispoof=yes"], &host);
    let intro = p.intro.as_deref().unwrap_or("");
    assert!(
        intro.contains("antispoof with nftables (firewall=auto, default: nft is installed and iptables is not)"),
        "{intro}"
    );
    let l = lines(&p);
    assert_eq!(
        last_command(&l),
        format!("echo nftables > {GUARD_RECORD}"),
        "{l}"
    );
    assert!(!l.contains("iptables"), "{l}");
    assert!(!reads_iptables(&host), "{:?}", host.asked());
}

#[test]
fn antispoof_stop_removes_the_rule_restores_the_recorded_policy_and_forgets_it() {
    // Not the original's NB-19 (which left the DROP policy): stop undoes what start recorded.
    let host = netdev_started()
        .file(GUARD_RECORD, "ACCEPT\n")
        .iptables("filter", &format!(":FORWARD DROP [0:0]\n{ACCEPT_PETH0}\n"));
    let l = lines(&planned(&["stop"], &host));
    let order = [
        "iptables -w -D FORWARD -m physdev --physdev-in peth0 -j ACCEPT",
        "iptables -w -P FORWARD ACCEPT",
        "ip route del default via 192.0.2.1 dev eth0",
        "ip link del dev tmpbridge",
    ];
    for pair in order.windows(2) {
        before(&l, pair[0], pair[1]);
    }
    assert_eq!(last_command(&l), format!("rm -f {GUARD_RECORD}"), "{l}");
}

#[test]
fn antispoof_stop_after_nftables_guarded_touches_no_iptables() {
    let host = netdev_started().file(GUARD_RECORD, "nftables\n");
    let l = lines(&planned(&["stop"], &host));
    assert!(!l.contains("iptables"), "{l}");
    assert!(!reads_iptables(&host), "{:?}", host.asked());
    assert_eq!(last_command(&l), format!("rm -f {GUARD_RECORD}"), "{l}");
}

// ---------------------------------------------------------------------------------------------
// overlay=vxlan

const OVERLAY_RECORD: &str = "/run/xen/xennet/network-bridge.vxbr42.overlay";
const VXLAN_START: &[&str] = &[
    "start",
    "overlay=vxlan",
    "vni=42",
    "peers=198.51.100.2,198.51.100.3",
];

/// dom0 with an underlay that carries VXLAN (eth0, MTU `mtu`) and a route to the first peer.
fn underlay(mtu: u32) -> Fixture {
    dom0()
        .link(Link {
            up: true,
            mtu,
            address: "52:54:00:12:34:56".into(),
            ..Link::named("eth0")
        })
        .route_get(
            "198.51.100.2",
            r#"[{"dst":"198.51.100.2","gateway":"192.0.2.1","dev":"eth0","prefsrc":"192.0.2.10"}]"#,
        )
}

#[test]
fn overlay_vxlan_start_makes_the_bridge_the_vxlan_device_one_flood_entry_per_peer_and_a_record() {
    let p = planned(VXLAN_START, &underlay(1550));
    assert_eq!(
        p.intro.as_deref(),
        Some(
            "network-bridge: overlay vxlan VNI 42 on bridge vxbr42 via vxlan42 (underlay eth0, \
             local 192.0.2.10, port 4789), peers 198.51.100.2, 198.51.100.3"
        )
    );
    let l = lines(&p);
    let mac = crate::modes::network_bridge::overlay::bridge_mac(&"192.0.2.10".parse().unwrap(), 42);
    let record =
        format!("echo 'vxlan=vxlan42 vni=42 created_bridge=yes overlay=vxlan' > {OVERLAY_RECORD}");
    let order = [
        "ip link add name vxbr42 type bridge stp_state 0 forward_delay 0",
        &format!("ip link set dev vxbr42 address {mac}"),
        "ip link set dev vxbr42 mtu 1500",
        "ip link add name vxlan42 mtu 1500 type vxlan id 42 dstport 4789 local 192.0.2.10 dev eth0",
        "bridge fdb append 00:00:00:00:00:00 dev vxlan42 dst 198.51.100.2",
        "bridge fdb append 00:00:00:00:00:00 dev vxlan42 dst 198.51.100.3",
        "ip link set dev vxlan42 master vxbr42",
        "ip link set dev vxlan42 up",
        "ip link set dev vxbr42 up",
        &record,
    ];
    for pair in order.windows(2) {
        before(&l, pair[0], pair[1]);
    }
    assert_eq!(l.matches("bridge fdb append").count(), 2, "{l}");
}

#[test]
fn overlay_start_refuses_an_underlay_mtu_below_1550_naming_the_fix() {
    let e = error(VXLAN_START, &underlay(1500));
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    let m = sentence(e);
    assert!(
        m.starts_with("the underlay eth0 has MTU 1500")
            && m.contains("at least 1550")
            && m.contains("ip link set dev eth0 mtu 1550"),
        "{m}"
    );
}

#[test]
fn overlay_start_refuses_without_a_route_to_the_first_peer() {
    // dom0's own route table has no answer for the peer here.
    let e = error(VXLAN_START, &dom0());
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    let m = sentence(e);
    assert!(
        m.starts_with("no route to peer 198.51.100.2") && m.contains("underlay=DEV"),
        "{m}"
    );
}

#[test]
fn overlay_start_refuses_a_local_address_that_is_not_on_the_underlay() {
    let mut args = VXLAN_START.to_vec();
    args.push("local=203.0.113.9");
    let e = error(&args, &underlay(1550));
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    let m = sentence(e);
    assert!(
        m.starts_with("local=203.0.113.9 is not an address of the underlay eth0"),
        "{m}"
    );
}

#[test]
fn overlay_start_refuses_a_vxlan42_that_is_not_the_bridges_port() {
    let host = underlay(1550).link(Link {
        master: Some("xenbr0".into()),
        ..Link::named("vxlan42")
    });
    let e = error(VXLAN_START, &host);
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    let m = sentence(e);
    assert!(
        m.starts_with("vxlan42 exists but is not a port of vxbr42")
            && m.contains("ip link del vxlan42"),
        "{m}"
    );
    // Already the bridge's port: nothing to do.
    let host = underlay(1550).link(Link {
        master: Some("vxbr42".into()),
        ..Link::named("vxlan42")
    });
    let why = nothing(VXLAN_START, &host);
    assert!(
        why.contains("already the overlay uplink of vxbr42"),
        "{why}"
    );
}

/// A host after `start overlay=vxlan vni=42 peers=198.51.100.2,198.51.100.3`, with `guests`
/// still on the bridge.
fn overlay_started(guests: &[&str]) -> Fixture {
    let mut host = Fixture::new()
        .link(Link {
            is_bridge: true,
            up: true,
            ..Link::named("vxbr42")
        })
        .link(Link {
            up: true,
            master: Some("vxbr42".into()),
            address: "aa:bb:cc:dd:ee:01".into(),
            ..Link::named("vxlan42")
        })
        .file(
            OVERLAY_RECORD,
            "vxlan=vxlan42 vni=42 created_bridge=yes overlay=vxlan\n",
        )
        .vxlans(vec![crate::facts::Vxlan {
            name: "vxlan42".into(),
            vni: 42,
            bridge: Some("vxbr42".into()),
            local: "192.0.2.10".into(),
            underlay: "eth0".into(),
            port: 4789,
            mtu: 1500,
            address: "aa:bb:cc:dd:ee:01".into(),
            up: true,
            learning: true,
            peers: vec!["198.51.100.2".into(), "198.51.100.3".into()],
        }]);
    for g in guests {
        host = host.link(Link {
            up: true,
            master: Some("vxbr42".into()),
            ..Link::named(g)
        });
    }
    host
}

#[test]
fn overlay_stop_keeps_a_bridge_that_still_has_guest_ports_with_a_warning() {
    let p = planned(
        &["stop", "overlay=vxlan", "vni=42"],
        &overlay_started(&["vif1.0"]),
    );
    let l = lines(&p);
    let order = [
        "bridge fdb del 00:00:00:00:00:00 dev vxlan42 dst 198.51.100.2",
        "bridge fdb del 00:00:00:00:00:00 dev vxlan42 dst 198.51.100.3",
        "ip link set dev vxlan42 down",
        "ip link set dev vxlan42 nomaster",
        "ip link del dev vxlan42",
    ];
    for pair in order.windows(2) {
        before(&l, pair[0], pair[1]);
    }
    assert!(!l.contains("ip link del dev vxbr42"), "{l}");
    // The kept bridge keeps its record: a later stop still knows it made it.
    assert!(!l.contains(OVERLAY_RECORD), "{l}");
    let warn = p.notes.iter().find_map(|n| match n {
        Note::Warn(w) => Some(w.as_str()),
        _ => None,
    });
    assert!(
        warn.is_some_and(|w| w.starts_with("bridge vxbr42 still has guest ports (vif1.0)")),
        "{:?}",
        p.notes
    );
}

#[test]
fn overlay_stop_without_guests_deletes_the_bridge_and_forgets_the_record() {
    let p = planned(&["stop", "overlay=vxlan", "vni=42"], &overlay_started(&[]));
    let l = lines(&p);
    before(&l, "ip link del dev vxlan42", "ip link del dev vxbr42");
    assert_eq!(last_command(&l), format!("rm -f {OVERLAY_RECORD}"), "{l}");
    assert!(p.notes.is_empty(), "{:?}", p.notes);
}

#[test]
fn overlay_start_on_a_bridge_kept_by_stop_adds_the_uplink_and_still_owns_the_bridge() {
    // The bridge a stop kept for its guests, no uplink: start makes no second bridge.
    let host = underlay(1550)
        .link(Link {
            is_bridge: true,
            up: true,
            ..Link::named("vxbr42")
        })
        .link(Link {
            up: true,
            master: Some("vxbr42".into()),
            ..Link::named("vif1.0")
        })
        .file(
            OVERLAY_RECORD,
            "vxlan=vxlan42 vni=42 created_bridge=yes overlay=vxlan\n",
        );
    let l = lines(&planned(VXLAN_START, &host));
    assert!(!l.contains("type bridge"), "{l}");
    assert!(!l.contains("ip link set dev vxbr42 up"), "{l}");
    at(&l, "ip link set dev vxlan42 master vxbr42");
    assert!(l.contains("created_bridge=yes"), "{l}");
}

// ---------------------------------------------------------------------------------------------
// Found wanting

#[test]
fn nb04_an_ipv6_nfs_server_reached_through_another_nic_does_not_stop_start() {
    let host = dom0()
        .file("/proc/mounts", "[2001:db8::5]:/export / nfs4 rw 0 0\n")
        .route_get(
            "2001:db8::5",
            r#"[{"dst":"2001:db8::5","dev":"eth1","prefsrc":"2001:db8:1::10"}]"#,
        );
    let l = lines(&planned(&["start"], &host));
    at(&l, "ip link set dev eth0 name peth0");
}

#[test]
fn nb03_bridge_null_does_nothing_also_with_an_overlay() {
    let mut args = VXLAN_START.to_vec();
    args.push("bridge=null");
    assert_eq!(
        nothing(&args, &underlay(1550)),
        "bridge=null: nothing to do"
    );
}

// ---------------------------------------------------------------------------------------------
// vlan_filtering=yes trunk= (issue 19)

#[test]
fn vlan_filtering_makes_the_new_bridge_vlan_aware_and_trunks_the_uplink() {
    let host = dom0().tools(&["bridge"]);
    let p = planned(&["start", "vlan_filtering=yes", "trunk=10,20-22"], &host);
    let l = lines(&p);
    let order = [
        "ip link add name tmpbridge type bridge stp_state 0 forward_delay 0",
        "ip link set dev tmpbridge type bridge vlan_filtering 1",
        "ip link set dev tmpbridge name eth0",
        "ip link set dev peth0 master eth0",
        "bridge vlan add dev peth0 vid 10",
        "bridge vlan add dev peth0 vid 20-22",
        "ip link set dev peth0 up",
    ];
    for pair in order.windows(2) {
        before(&l, pair[0], pair[1]);
    }
    // The uplink keeps VLAN 1 untagged: dom0's own network.
    assert!(!l.contains("vlan del"), "{l}");
    let trunk: Vec<_> = p
        .plan
        .steps
        .iter()
        .filter(|s| s.action.line().starts_with("bridge vlan add"))
        .collect();
    assert_eq!(
        trunk[1].undo.as_ref().unwrap().line(),
        "bridge vlan del dev peth0 vid 20-22"
    );
    assert!(
        trunk[0].what.contains("VLAN 10 tagged"),
        "{}",
        trunk[0].what
    );
    let intro = p.intro.unwrap();
    assert!(
        intro.ends_with(", VLAN-aware, VLANs 10/20-22 tagged on the uplink"),
        "{intro}"
    );
    // Without trunk=, only the bridge changes.
    let l = lines(&planned(&["start", "vlan_filtering=yes"], &dom0()));
    at(&l, "ip link set dev tmpbridge type bridge vlan_filtering 1");
    assert!(!l.contains("bridge vlan add"), "{l}");
    // Without vlan_filtering=, nothing of it.
    let l = lines(&planned(&["start"], &dom0()));
    assert!(!l.contains("vlan_filtering"), "{l}");
}

#[test]
fn vlan_filtering_in_the_xenbr_and_netloop_layouts() {
    let host = dom0().tools(&["bridge"]);
    let l = lines(&planned(
        &["start", "layout=xenbr", "vlan_filtering=yes", "trunk=10"],
        &host,
    ));
    before(
        &l,
        "ip link set dev xenbr0 type bridge vlan_filtering 1",
        "ip link set dev eth0 master xenbr0",
    );
    before(
        &l,
        "ip link set dev eth0 master xenbr0",
        "bridge vlan add dev eth0 vid 10",
    );
    let l = lines(&planned(
        &["start", "layout=netloop", "vlan_filtering=yes", "trunk=10"],
        &host,
    ));
    before(
        &l,
        "ip link set dev xenbr0 type bridge vlan_filtering 1",
        "ip link set dev peth0 master xenbr0",
    );
    before(
        &l,
        "ip link set dev peth0 master xenbr0",
        "bridge vlan add dev peth0 vid 10",
    );
}

#[test]
fn trunk_without_vlan_filtering_or_with_vlan_1_is_refused() {
    let e = error(&["start", "trunk=10"], &dom0());
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    assert!(sentence(e).contains("trunk=10 needs vlan_filtering=yes"));
    let e = error(&["start", "vlan_filtering=yes", "trunk=1-3"], &dom0());
    assert!(sentence(e).contains("lists VLAN 1"));
    // dom0() has no `bridge` program.
    let e = error(&["start", "vlan_filtering=yes", "trunk=10"], &dom0());
    assert!(matches!(e, Error::MissingTool(_)), "{e:?}");
}

#[test]
fn vlan_filtering_on_a_kernel_without_it_is_refused_when_a_bridge_shows_it() {
    // Any bridge's sysfs directory tells: no vlan_filtering file, no VLAN filtering.
    let host = dom0().tools(&["bridge"]).link(Link {
        is_bridge: true,
        ..Link::named("br-other")
    });
    let e = error(&["start", "vlan_filtering=yes"], &host);
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    let m = sentence(e);
    assert!(
        m.contains("this kernel has no bridge VLAN filtering (/sys/class/net/br-other/bridge/vlan_filtering is missing")
            && m.contains("CONFIG_BRIDGE_VLAN_FILTERING"),
        "{m}"
    );
    // A kernel that has it: start goes on.
    let host = host.file(crate::vlan::sysfs("br-other", "vlan_filtering"), "0\n");
    planned(&["start", "vlan_filtering=yes"], &host);
}

#[test]
fn vlan_filtering_on_a_bridge_that_exists_says_it_was_not_applied() {
    let host = dom0().link(Link {
        is_bridge: true,
        up: true,
        address: "52:54:00:12:34:56".into(),
        ..Link::named("eth0")
    });
    // On a kernel without VLAN filtering the bridge's own sysfs shows it: refused.
    let e = error(&["start", "vlan_filtering=yes"], &host);
    assert!(sentence(e).contains("this kernel has no bridge VLAN filtering"));
    let host = host.file(crate::vlan::sysfs("eth0", "vlan_filtering"), "0\n");
    let why = nothing(&["start", "vlan_filtering=yes"], &host);
    assert!(
        why.contains("eth0 is not VLAN-aware and vlan_filtering=yes was not applied")
            && why.contains("ip link set dev eth0 type bridge vlan_filtering 1"),
        "{why}"
    );
    let host = host.file(crate::vlan::sysfs("eth0", "vlan_filtering"), "1\n");
    assert_eq!(
        nothing(&["start", "vlan_filtering=yes"], &host),
        "eth0 is already a bridge: nothing to do"
    );
}

#[test]
fn stop_of_a_vlan_aware_bridge_needs_nothing_of_its_own() {
    // The bridge is deleted and the uplink released: their VLANs go with them.
    let host = netdev_started().file(crate::vlan::sysfs("eth0", "vlan_filtering"), "1\n");
    let l = lines(&planned(&["stop", "vlan_filtering=yes", "trunk=10"], &host));
    assert!(
        !l.contains("bridge vlan ") && !l.contains("vlan_filtering"),
        "{l}"
    );
    assert_eq!(last_command(&l), "ip link del dev tmpbridge");
}

#[test]
fn vlan_filtering_does_not_go_with_an_overlay() {
    let e = error(
        &[
            "start",
            "overlay=vxlan",
            "vni=42",
            "peers=198.51.100.2",
            "vlan_filtering=yes",
        ],
        &dom0(),
    );
    assert!(sentence(e).contains("do not go with overlay="));
}
