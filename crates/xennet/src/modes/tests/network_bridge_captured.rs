//! network-bridge's planner (spec §8, NB-02…NB-20, and §8.5, NL-01…NL-12): `start` and `stop`
//! of the netdev, netloop and xenbr layouts, over dom0 as `fixtures/capture.sh` makes it and over
//! the hosts the real `network-bridge start` left (`fixtures/capture-started.sh`); every no-op
//! and refusal with its sentence; `antispoof=yes` with iptables and with nftables only; and what
//! planning reads. The overlay is in `overlay.rs`.

use super::{addr, bridge};
use crate::error::{Error, Note, Outcome, Planned, Result};
use crate::fixture::testing::{dom0, inv, lines, sentence};
use crate::fixture::Fixture;
use crate::plan::{Action, Step};
use crate::snapshot::{self, Answer, Fact, Reader, Snapshot};
use crate::state::{Link, IFF_MULTICAST};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------------
// The harness, shared with overlay.rs.

/// Every tool `dom0()` has.
pub(super) const ALL_TOOLS: &[&str] =
    &["ip", "iptables", "iptables-save", "iptables-restore", "nft"];
/// A dom0 with nftables and no iptables.
pub(super) const NO_IPTABLES: &[&str] = &["ip", "nft"];

/// A host from captured `ip -j` output, its default route through `default_dev`.
pub(super) fn captured(json: [&str; 4], default_dev: &str, tools: &[&str]) -> Fixture {
    let [links, addrs, routes4, routes6] = json;
    Fixture::new()
        .ip_links(links)
        .ip_addrs(addrs)
        .ip_routes(routes4, false)
        .ip_routes(routes6, true)
        .default_route(default_dev)
        .tools(tools)
}

/// dom0 as capture.sh makes it (the same as `dom0()`), with only these tools.
fn dom0_with(tools: &[&str]) -> Fixture {
    captured(
        [
            include_str!("../../fixtures/dom0-links.json"),
            include_str!("../../fixtures/dom0-addrs.json"),
            include_str!("../../fixtures/dom0-routes4.json"),
            include_str!("../../fixtures/dom0-routes6.json"),
        ],
        "eth0",
        tools,
    )
}

/// dom0 after the real `network-bridge start` (layout=netdev): bridge `eth0` (also named
/// `xenbr0`) holds the addresses and routes, `peth0` its port.
fn netdev_started_with(tools: &[&str]) -> Fixture {
    captured(
        [
            include_str!("../../fixtures/netdev-started-links.json"),
            include_str!("../../fixtures/netdev-started-addrs.json"),
            include_str!("../../fixtures/netdev-started-routes4.json"),
            include_str!("../../fixtures/netdev-started-routes6.json"),
        ],
        "eth0",
        tools,
    )
}

fn netdev_started() -> Fixture {
    netdev_started_with(ALL_TOOLS)
}

/// dom0 after the real `network-bridge start layout=netloop`: the veth `eth0` holds the addresses,
/// `peth0` and `vif0.0` are ports of the marked `xenbr0`.
fn netloop_started() -> Fixture {
    captured(
        [
            include_str!("../../fixtures/netloop-started-links.json"),
            include_str!("../../fixtures/netloop-started-addrs.json"),
            include_str!("../../fixtures/netloop-started-routes4.json"),
            include_str!("../../fixtures/netloop-started-routes6.json"),
        ],
        "eth0",
        ALL_TOOLS,
    )
}

/// dom0 after the real `network-bridge start layout=xenbr`: the marked `xenbr0` holds the
/// addresses and routes, `eth0` its port.
fn xenbr_started() -> Fixture {
    captured(
        [
            include_str!("../../fixtures/xenbr-started-links.json"),
            include_str!("../../fixtures/xenbr-started-addrs.json"),
            include_str!("../../fixtures/xenbr-started-routes4.json"),
            include_str!("../../fixtures/xenbr-started-routes6.json"),
        ],
        "xenbr0",
        ALL_TOOLS,
    )
}

/// dom0 as a DHCP client leaves it: 192.0.2.10/24 with a lifetime (`dynamic`), the default route
/// `proto dhcp src 192.0.2.10 metric 100`.
fn dhcp_dom0() -> Fixture {
    captured(
        [
            include_str!("../../fixtures/dhcp-links.json"),
            include_str!("../../fixtures/dhcp-addrs.json"),
            include_str!("../../fixtures/dhcp-routes4.json"),
            include_str!("../../fixtures/dhcp-routes6.json"),
        ],
        "eth0",
        ALL_TOOLS,
    )
}

/// A fixture host with records in network-bridge's state directory. The records are found by
/// their file name, whatever directory planning asks in: the state directory comes from
/// XENNET_STATE_DIR, which is process-wide and which another unit test sets while these run, so
/// a path computed while the fixture is built need not be the one planning computes.
pub(super) struct Host {
    pub fx: Fixture,
    records: BTreeMap<String, String>,
}

impl Host {
    pub(super) fn record(mut self, name: &str, text: &str) -> Host {
        self.records.insert(name.to_string(), text.to_string());
        self
    }

    pub(super) fn asked(&self) -> Vec<Fact> {
        self.fx.asked()
    }
}

impl From<Fixture> for Host {
    fn from(fx: Fixture) -> Host {
        Host {
            fx,
            records: BTreeMap::new(),
        }
    }
}

impl Reader for Host {
    fn read(&self, fact: &Fact) -> Answer {
        let answer = self.fx.read(fact);
        if let Fact::File(p) = fact {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if let Some(text) = self.records.get(name) {
                return Answer::Text(Some(text.clone()));
            }
        }
        answer
    }
}

/// Plans `network-bridge start|stop ARGS…` over `host`, through the registry.
pub(super) fn plan_on(host: &dyn Reader, start: bool, args: &[&str]) -> Result<Outcome> {
    let crate::scripts::Run::Host { plan, .. } = crate::scripts::find("network-bridge")
        .expect("registered")
        .run
    else {
        panic!("network-bridge is a host script");
    };
    let mut words = vec![if start { "start" } else { "stop" }];
    words.extend_from_slice(args);
    let i = inv("network-bridge", &words, &[]);
    snapshot::plan(host, &mut Snapshot::new(), |s| plan(start, &i, s))
}

fn start(host: &dyn Reader, args: &[&str]) -> Result<Outcome> {
    plan_on(host, true, args)
}

fn stop(host: &dyn Reader, args: &[&str]) -> Result<Outcome> {
    plan_on(host, false, args)
}

/// The plan, or a panic that says why there is none.
pub(super) fn planned(o: Result<Outcome>) -> Planned {
    match o {
        Ok(Outcome::Plan(p)) => p,
        Ok(Outcome::Nothing(why)) => panic!("nothing to do: {why}"),
        Err(e) => panic!("error: {e:?}"),
    }
}

/// Why there is nothing to do, or a panic.
pub(super) fn nothing(o: Result<Outcome>) -> String {
    match o {
        Ok(Outcome::Nothing(why)) => why,
        Ok(Outcome::Plan(p)) => panic!("a plan:\n{}", lines(&p)),
        Err(e) => panic!("error: {e:?}"),
    }
}

/// The sentence of a refusal (Error::Refused), or a panic.
pub(super) fn refused(o: Result<Outcome>) -> String {
    match o {
        Err(e @ Error::Refused(_)) => sentence(e),
        Err(e) => panic!("not a refusal: {e:?}"),
        Ok(Outcome::Plan(p)) => panic!("a plan:\n{}", lines(&p)),
        Ok(Outcome::Nothing(why)) => panic!("nothing to do: {why}"),
    }
}

/// Each step's command line, in order.
pub(super) fn cmds(p: &Planned) -> Vec<String> {
    p.plan.steps.iter().map(|s| s.action.line()).collect()
}

/// The step whose purpose is `what`.
pub(super) fn step<'p>(p: &'p Planned, what: &str) -> &'p Step {
    p.plan
        .steps
        .iter()
        .find(|s| s.what == what)
        .unwrap_or_else(|| panic!("no step {what:?} in\n{}", lines(p)))
}

/// The undo of the step whose purpose is `what`, as a shell line.
pub(super) fn undo_of(p: &Planned, what: &str) -> Option<String> {
    step(p, what).undo.as_ref().map(Action::line)
}

/// Where the step running `line` is in the plan.
pub(super) fn pos(p: &Planned, line: &str) -> usize {
    cmds(p)
        .iter()
        .position(|l| l == line)
        .unwrap_or_else(|| panic!("no step `{line}` in\n{}", lines(p)))
}

/// The purposes of the steps that have no undo.
pub(super) fn without_undo(p: &Planned) -> Vec<&str> {
    p.plan
        .steps
        .iter()
        .filter(|s| s.undo.is_none())
        .map(|s| s.what.as_str())
        .collect()
}

fn warnings(p: &Planned) -> Vec<&str> {
    p.notes
        .iter()
        .filter_map(|n| match n {
            Note::Warn(w) => Some(w.as_str()),
            _ => None,
        })
        .collect()
}

fn read_iptables(asked: &[Fact]) -> bool {
    asked.iter().any(|f| matches!(f, Fact::Iptables(_)))
}

/// The file NB-04 reads, as the planner names it.
fn mounts() -> String {
    std::env::var("XENNET_PROC_MOUNTS").unwrap_or_else(|_| "/proc/mounts".to_string())
}

/// `ip -j route get` of a server reached through `dev`.
fn route_via(dst: &str, dev: &str, src: &str) -> String {
    format!(r#"[{{"dst":"{dst}","dev":"{dev}","prefsrc":"{src}","flags":[],"uid":0,"cache":[]}}]"#)
}

const GUARD_RECORD: &str = "network-bridge.eth0.forward-policy";
const WAIT_PETH0: &str =
    "for i in $(seq 10); do grep -q 1 /sys/class/net/peth0/carrier && break; sleep 1; done";

// ---------------------------------------------------------------------------------------------
// layout=netdev start (§8.2)

#[test]
fn nb05_nb11_netdev_start_builds_tmpbridge_moves_dom0_renames_enslaves_in_that_order() {
    let p = planned(start(&dom0(), &[]));
    assert_eq!(
        cmds(&p),
        [
            "ip link add name tmpbridge type bridge stp_state 0 forward_delay 0",
            "ip link set dev tmpbridge address 52:54:00:12:34:56",
            "ip link set dev tmpbridge mtu 1500",
            // Routes and addresses leave the NIC while it is still up (secondaries and
            // routes with a gateway first).
            "ip route del 198.51.100.0/24 via 192.0.2.1 dev eth0 proto static metric 5",
            "ip route del default via 192.0.2.1 dev eth0",
            "ip addr del 2001:db8::10/64 dev eth0",
            "ip addr del 192.0.2.10/24 dev eth0",
            "ip link set dev eth0 down",
            "ip link set dev eth0 name peth0",
            "ip link set dev tmpbridge name eth0",
            "ip link property add dev eth0 altname xenbr0",
            "ip link set dev peth0 master eth0",
            "ip link set dev peth0 up",
            WAIT_PETH0,
            "ip link set dev eth0 up",
            // IPv4 and IPv6 move, flags kept (nodad); the kernel's link-local address stays.
            "ip addr add 192.0.2.10/24 dev eth0",
            "ip addr add 2001:db8::10/64 nodad dev eth0",
            "ip route replace default via 192.0.2.1 dev eth0",
            "ip route replace 198.51.100.0/24 via 192.0.2.1 dev eth0 proto static metric 5",
        ]
    );
    assert!(p.notes.is_empty(), "{:?}", p.notes);
}

#[test]
fn nb02_netdev_start_says_which_layout_netdev_and_bridge_and_how_each_was_chosen() {
    let p = planned(start(&dom0(), &[]));
    assert_eq!(
        p.intro.as_deref(),
        Some(
            "network-bridge: layout=netdev (the default), netdev=eth0 (the device of the default \
             route), bridge=eth0, port peth0 (bridge also named xenbr0)"
        )
    );
    let p = planned(start(
        &dom0(),
        &["layout=netdev", "netdev=eth0", "bridge=br0"],
    ));
    assert_eq!(
        p.intro.as_deref(),
        Some(
            "network-bridge: layout=netdev (argument layout=), netdev=eth0 (argument netdev=), \
             bridge=br0, port peth0 (bridge also named xenbr0)"
        )
    );
}

#[test]
fn nb02_without_a_default_route_netdev_is_eth0_and_says_so() {
    let host = Fixture::new()
        .ip_links(include_str!("../../fixtures/dom0-links.json"))
        .ip_addrs(include_str!("../../fixtures/dom0-addrs.json"))
        .tools(ALL_TOOLS);
    let p = planned(start(&host, &[]));
    assert!(
        p.intro
            .as_deref()
            .unwrap()
            .contains("netdev=eth0 (the default, as there is no default route)"),
        "{:?}",
        p.intro
    );
}

#[test]
fn nb02_a_predictable_name_is_taken_whole() {
    // KP-02: the original cut enp0s3 to enp0.
    let host = Fixture::new()
        .link(Link {
            address: "52:54:00:00:00:03".into(),
            up: true,
            ..Link::named("enp0s3")
        })
        .default_route("enp0s3")
        .tools(ALL_TOOLS);
    let p = planned(start(&host, &[]));
    let l = lines(&p);
    assert!(l.contains("ip link set dev enp0s3 name penp0s3"), "{l}");
    assert!(l.contains("ip link set dev tmpbridge name enp0s3"), "{l}");
    // NL-02: its digits are a PCI address, not a number: the alternative name is xenbr0.
    assert!(
        l.contains("ip link property add dev enp0s3 altname xenbr0"),
        "{l}"
    );
}

#[test]
fn nb16_mac04_the_bridge_gets_the_nics_mac_and_mtu() {
    let host = dom0().link(Link {
        address: "00:16:3e:5a:5a:01".into(),
        mtu: 9000,
        up: true,
        ..Link::named("eth0")
    });
    let p = planned(start(&host, &[]));
    assert_eq!(
        undo_of(&p, "give tmpbridge the MAC of eth0"),
        None,
        "a step on the new bridge needs no undo"
    );
    let c = cmds(&p);
    assert_eq!(c[1], "ip link set dev tmpbridge address 00:16:3e:5a:5a:01");
    assert_eq!(c[2], "ip link set dev tmpbridge mtu 9000");
}

#[test]
fn nl11_vb04_the_netdev_bridge_is_also_named_xenbr_n() {
    let p = planned(start(&dom0(), &[]));
    assert_eq!(
        undo_of(&p, "name eth0 also xenbr0").as_deref(),
        Some("ip link property del dev eth0 altname xenbr0")
    );
    // After the rename, before the bridge has ports or addresses.
    assert!(
        pos(&p, "ip link set dev tmpbridge name eth0")
            < pos(&p, "ip link property add dev eth0 altname xenbr0")
    );
    assert!(
        pos(&p, "ip link property add dev eth0 altname xenbr0")
            < pos(&p, "ip link set dev peth0 master eth0")
    );
    // vifnum= gives the number.
    let p = planned(start(&dom0(), &["vifnum=3"]));
    assert!(lines(&p).contains("ip link property add dev eth0 altname xenbr3"));
    // A bridge named xenbrN itself needs no alternative name, and none is looked up.
    let host = dom0();
    let p = planned(start(&host, &["bridge=xenbr0"]));
    assert!(!lines(&p).contains("altname"), "{}", lines(&p));
    assert!(lines(&p).contains("ip link set dev tmpbridge name xenbr0"));
    assert!(!host.asked().contains(&Fact::Resolve("xenbr0".into())));
}

#[test]
fn nl11_an_alternative_name_another_link_carries_is_not_taken() {
    // The administrator's bridge xenbr0 exists: the new bridge eth0 does without the name.
    let host = dom0().link(bridge("xenbr0"));
    let p = planned(start(&host, &[]));
    assert!(!lines(&p).contains("altname"), "{}", lines(&p));
    assert!(host.asked().contains(&Fact::Resolve("xenbr0".into())));
}

#[test]
fn nb06_fix_an_unrelated_bridge_does_not_stop_start() {
    // The original did nothing when any bridge existed (KP-04): admin_bridge has xenbr0.
    let host = crate::fixture::testing::admin_bridge();
    let p = planned(start(&host, &[]));
    assert!(lines(&p).contains("ip link set dev peth0 master eth0"));
}

#[test]
fn nb12_start_waits_for_the_port_to_negotiate_link_before_the_bridge_comes_up() {
    let p = planned(start(&dom0(), &[]));
    let wait = step(&p, "wait for peth0 to negotiate link");
    assert_eq!(
        wait.action,
        Action::WaitRunning {
            dev: "peth0".into(),
            secs: 10
        }
    );
    let w = pos(&p, WAIT_PETH0);
    assert!(pos(&p, "ip link set dev peth0 up") < w);
    assert!(w < pos(&p, "ip link set dev eth0 up"));
}

#[test]
fn nb11_fix_every_netdev_start_step_has_its_undo_but_those_on_the_new_bridge() {
    let p = planned(start(&dom0(), &[]));
    assert_eq!(
        without_undo(&p),
        [
            "give tmpbridge the MAC of eth0",
            "give tmpbridge the MTU of eth0",
            "wait for peth0 to negotiate link",
        ]
    );
    assert_eq!(
        undo_of(&p, "create bridge tmpbridge").as_deref(),
        Some("ip link del dev tmpbridge")
    );
    assert_eq!(
        undo_of(&p, "rename eth0 to peth0").as_deref(),
        Some("ip link set dev peth0 name eth0")
    );
    assert_eq!(
        undo_of(&p, "rename tmpbridge to eth0").as_deref(),
        Some("ip link set dev eth0 name tmpbridge")
    );
    assert_eq!(
        undo_of(&p, "remove 2001:db8::10/64 from eth0").as_deref(),
        Some("ip addr add 2001:db8::10/64 nodad dev eth0")
    );
    assert_eq!(
        undo_of(&p, "remove route 198.51.100.0/24 from eth0").as_deref(),
        Some("ip route replace 198.51.100.0/24 via 192.0.2.1 dev eth0 proto static metric 5")
    );
    assert_eq!(
        undo_of(&p, "add peth0 to bridge eth0").as_deref(),
        Some("ip link set dev peth0 nomaster")
    );
    assert_eq!(
        undo_of(&p, "take eth0 down").as_deref(),
        Some("ip link set dev eth0 up")
    );
}

#[test]
fn nb11_a_nic_that_is_down_is_not_taken_down_and_its_port_comes_up() {
    let host = dom0().link(Link {
        address: "52:54:00:12:34:56".into(),
        up: false,
        ..Link::named("eth0")
    });
    let p = planned(start(&host, &[]));
    let c = cmds(&p);
    assert!(
        !c.contains(&"ip link set dev eth0 down".to_string()),
        "{c:#?}"
    );
    assert!(c.contains(&"ip link set dev peth0 up".to_string()));
}

#[test]
fn nb09_dhcp_addresses_move_with_their_lifetime_and_a_warning() {
    let p = planned(start(&dhcp_dom0(), &[]));
    assert_eq!(
        warnings(&p),
        [
            "192.0.2.10/24 on eth0 was given by DHCP and moves with its remaining lifetime \
          (86399 s); nothing renews it on eth0: start your DHCP client on eth0 (e.g. dhclient \
          eth0)"
        ]
    );
    let l = lines(&p);
    assert!(
        l.contains("ip addr add 192.0.2.10/24 valid_lft 86399 preferred_lft 86399 dev eth0"),
        "{l}"
    );
    // The DHCP client's default route moves with its attributes.
    assert!(
        l.contains(
            "ip route replace default via 192.0.2.1 dev eth0 proto dhcp src 192.0.2.10 metric 100"
        ),
        "{l}"
    );
}

#[test]
fn nb09_static_addresses_give_no_warning() {
    let p = planned(start(&dom0(), &[]));
    assert!(warnings(&p).is_empty(), "{:?}", p.notes);
}

#[test]
fn nb08_nb14_addresses_move_one_by_one_with_broadcast_labels_and_flags_secondaries_first() {
    let host = dom0().addrs(
        "eth0",
        vec![
            addr(r#"{"family":"inet","local":"192.0.2.10","prefixlen":24,"broadcast":"192.0.2.255","scope":"global","label":"eth0"}"#),
            addr(r#"{"family":"inet","local":"192.0.2.11","prefixlen":24,"broadcast":"192.0.2.255","scope":"global","secondary":true,"label":"eth0:1"}"#),
            addr(r#"{"family":"inet6","local":"2001:db8::10","prefixlen":64,"scope":"global","nodad":true,"noprefixroute":true}"#),
            addr(r#"{"family":"inet6","local":"fe80::5054:ff:fe12:3456","prefixlen":64,"scope":"link"}"#),
        ],
    );
    // xenbr: the addresses change device, so the label's move shows.
    let p = planned(start(&host, &["layout=xenbr"]));
    let c = cmds(&p);
    let dels: Vec<&String> = c.iter().filter(|l| l.starts_with("ip addr del")).collect();
    assert_eq!(
        dels,
        [
            "ip addr del 2001:db8::10/64 dev eth0",
            "ip addr del 192.0.2.11/24 dev eth0",
            "ip addr del 192.0.2.10/24 dev eth0",
        ]
    );
    let adds: Vec<&String> = c.iter().filter(|l| l.starts_with("ip addr add")).collect();
    assert_eq!(
        adds,
        [
            "ip addr add 192.0.2.10/24 broadcast 192.0.2.255 dev xenbr0",
            "ip addr add 192.0.2.11/24 broadcast 192.0.2.255 label xenbr0:1 dev xenbr0",
            "ip addr add 2001:db8::10/64 noprefixroute nodad dev xenbr0",
        ]
    );
    assert!(!lines(&p).contains("fe80::"), "{}", lines(&p));
}

#[test]
fn nb10_routes_move_with_their_attributes_those_without_a_gateway_first() {
    let routes4 = r#"[
        {"dst":"default","gateway":"192.0.2.1","dev":"eth0","protocol":"static","metric":100,"flags":[]},
        {"dst":"10.9.0.0/16","dev":"eth0","scope":"link","flags":[]},
        {"dst":"192.0.2.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"192.0.2.10","flags":[]},
        {"dst":"10.20.0.0/16","gateway":"10.9.0.1","dev":"eth0","table":"100","flags":["onlink"]},
        {"type":"local","dst":"192.0.2.10","dev":"eth0","table":"local","protocol":"kernel","scope":"host","prefsrc":"192.0.2.10","flags":[]}
    ]"#;
    let routes6 = r#"[
        {"dst":"2001:db8::/64","dev":"eth0","protocol":"kernel","metric":256,"flags":[]},
        {"dst":"default","gateway":"fe80::1","dev":"eth0","protocol":"ra","metric":1024,"flags":[]}
    ]"#;
    let host = Fixture::new()
        .ip_links(include_str!("../../fixtures/dom0-links.json"))
        .ip_addrs(include_str!("../../fixtures/dom0-addrs.json"))
        .ip_routes(routes4, false)
        .ip_routes(routes6, true)
        .default_route("eth0")
        .tools(ALL_TOOLS);
    let p = planned(start(&host, &["layout=xenbr"]));
    let c = cmds(&p);
    let routes: Vec<&String> = c.iter().filter(|l| l.contains("route ")).collect();
    assert_eq!(
        routes,
        [
            "ip -6 route del default via fe80::1 dev eth0 proto ra metric 1024",
            "ip route del 10.20.0.0/16 via 10.9.0.1 dev eth0 onlink table 100",
            "ip route del default via 192.0.2.1 dev eth0 proto static metric 100",
            "ip route del 10.9.0.0/16 dev eth0 scope link",
            "ip route replace 10.9.0.0/16 dev xenbr0 scope link",
            "ip route replace default via 192.0.2.1 dev xenbr0 proto static metric 100",
            "ip route replace 10.20.0.0/16 via 10.9.0.1 dev xenbr0 onlink table 100",
            "ip -6 route replace default via fe80::1 dev xenbr0 proto ra metric 1024",
        ]
    );
    // Routes go after the addresses that make their gateways reachable.
    assert!(
        pos(&p, "ip addr add 192.0.2.10/24 dev xenbr0")
            < pos(&p, "ip route replace 10.9.0.0/16 dev xenbr0 scope link")
    );
}

// ---------------------------------------------------------------------------------------------
// Every layout's refusals and no-ops at start

#[test]
fn nb03_bridge_null_does_nothing_at_start_and_at_stop() {
    for layout in ["layout=netdev", "layout=netloop", "layout=xenbr"] {
        assert_eq!(
            nothing(start(&dom0(), &[layout, "bridge=null"])),
            "bridge=null: nothing to do"
        );
        assert_eq!(
            nothing(stop(&netdev_started(), &[layout, "bridge=null"])),
            "bridge=null: nothing to do"
        );
    }
}

#[test]
fn nb07_netdev_start_after_start_does_nothing() {
    assert_eq!(
        nothing(start(&netdev_started(), &[])),
        "peth0 exists: network-bridge has already run"
    );
}

#[test]
fn nb06_fix_a_bridge_of_that_name_already_there_is_nothing_to_do() {
    let host = dom0().link(bridge("br0"));
    assert_eq!(
        nothing(start(&host, &["bridge=br0"])),
        "br0 is already a bridge: nothing to do"
    );
    assert_eq!(
        nothing(start(&host, &["bridge=br0", "layout=xenbr"])),
        "br0 is already a bridge: nothing to do"
    );
}

#[test]
fn nb05_a_missing_nic_is_refused_saying_how_it_was_chosen() {
    for layout in ["layout=netdev", "layout=netloop", "layout=xenbr"] {
        assert_eq!(
            refused(start(&dom0(), &[layout, "netdev=eth5"])),
            "netdev eth5 does not exist (argument netdev=): name the physical NIC with netdev=<if>",
            "{layout}"
        );
    }
    let no_default = Fixture::new().link(bridge("virbr0")).tools(ALL_TOOLS);
    assert_eq!(
        refused(start(&no_default, &[])),
        "netdev eth0 does not exist (the default, as there is no default route): name the \
         physical NIC with netdev=<if>"
    );
}

#[test]
fn a_bridge_name_taken_by_a_link_that_is_not_a_bridge_is_refused() {
    for layout in ["layout=netdev", "layout=netloop", "layout=xenbr"] {
        assert_eq!(
            refused(start(&dom0(), &[layout, "bridge=vif1.0"])),
            "bridge=vif1.0 names an existing link that is not a bridge: choose another name",
            "{layout}"
        );
    }
}

#[test]
fn kp08_a_leftover_tmpbridge_is_refused_at_netdev_start_and_stop() {
    let host = dom0().link(bridge("tmpbridge"));
    assert_eq!(
        refused(start(&host, &[])),
        "a link named tmpbridge exists (left by an earlier network-bridge run?): remove it with \
         `ip link del tmpbridge` and retry"
    );
    let host = netdev_started().link(Link::named("tmpbridge"));
    assert_eq!(
        refused(stop(&host, &[])),
        "a link named tmpbridge exists: remove it with `ip link del tmpbridge` and retry"
    );
}

#[test]
fn a_nic_that_is_a_port_of_another_bridge_is_refused_by_netloop_and_xenbr() {
    let host = dom0().link(bridge("br9")).link(Link {
        master: Some("br9".into()),
        up: true,
        address: "52:54:00:12:34:56".into(),
        ..Link::named("eth0")
    });
    for layout in ["layout=netloop", "layout=xenbr"] {
        assert_eq!(
            refused(start(&host, &[layout])),
            "netdev eth0 is already a port of br9: release it first (ip link set dev eth0 \
             nomaster)",
            "{layout}"
        );
    }
}

#[test]
fn netdev_start_refuses_a_nic_that_is_a_port_of_another_bridge() {
    let host = dom0().link(bridge("br9")).link(Link {
        master: Some("br9".into()),
        up: true,
        address: "52:54:00:12:34:56".into(),
        ..Link::named("eth0")
    });
    assert_eq!(
        refused(start(&host, &["netdev=eth0"])),
        "netdev eth0 is already a port of br9: release it first (ip link set dev eth0 nomaster)"
    );
}

#[test]
fn a_nic_that_is_a_bridge_is_refused_by_netloop_and_xenbr() {
    let host = dom0().link(bridge("br9"));
    for layout in ["layout=netloop", "layout=xenbr"] {
        assert_eq!(
            refused(start(&host, &[layout, "netdev=br9"])),
            "netdev br9 is a bridge (argument netdev=): name the physical NIC with netdev=<if>",
            "{layout}"
        );
    }
}

#[test]
fn netdev_start_refuses_a_nic_that_is_a_bridge() {
    let host = dom0().link(bridge("br9"));
    assert_eq!(
        refused(start(&host, &["netdev=br9", "bridge=br0"])),
        "netdev br9 is a bridge (argument netdev=): name the physical NIC with netdev=<if>"
    );
}

#[test]
fn layout_must_be_one_of_the_three() {
    let e = start(&dom0(), &["layout=G1"]).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("layout=\"G1\" is not a layout: use netdev"),
        "{e}"
    );
}

#[test]
fn a_nic_whose_renamed_port_would_be_too_long_is_refused() {
    let host = Fixture::new()
        .link(Link::named("enx0123456789ab"))
        .default_route("enx0123456789ab")
        .tools(ALL_TOOLS);
    let e = start(&host, &[]).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "netdev=\"enx0123456789ab\" is 15 bytes long, so its renamed port \"penx0123456789ab\" \
         would exceed Linux's limit: rename the NIC first"
    );
    // xenbr keeps the NIC's name: no renaming, no limit.
    assert!(matches!(
        start(&host, &["layout=xenbr"]),
        Ok(Outcome::Plan(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// NB-04 FIX: a network root filesystem

#[test]
fn nb04_a_root_filesystem_through_the_nic_is_not_bridged() {
    let host = dom0()
        .file(
            mounts(),
            "/dev/vda1 /boot ext4 rw 0 0\n192.0.2.1:/srv/root / nfs4 rw,relatime,vers=4.2 0 0\n",
        )
        .route_get("192.0.2.1", &route_via("192.0.2.1", "eth0", "192.0.2.10"));
    assert_eq!(
        nothing(start(&host, &[])),
        "bridging not supported on network root; not starting: the root filesystem \
         (192.0.2.1:/srv/root, nfs4) is reached through eth0"
    );
    let asked = host.asked();
    assert!(asked.contains(&Fact::File(mounts().into())));
    assert!(asked.contains(&Fact::RouteGet("192.0.2.1".into())));
}

#[test]
fn nb04_every_layout_refuses_at_start() {
    let host = dom0()
        .file(mounts(), "192.0.2.1:/srv/root / nfs rw 0 0\n")
        .route_get("192.0.2.1", &route_via("192.0.2.1", "eth0", "192.0.2.10"));
    for layout in ["layout=netloop", "layout=xenbr"] {
        assert!(
            nothing(start(&host, &[layout]))
                .starts_with("bridging not supported on network root; not starting"),
            "{layout}"
        );
    }
}

#[test]
fn nb04_stop_is_refused_too_through_the_link_that_carries_dom0s_address() {
    // At stop the server is reached through the bridge (netdev: eth0; xenbr: xenbr0).
    let netdev = netdev_started()
        .file(mounts(), "192.0.2.1:/srv/root / nfs4 rw 0 0\n")
        .route_get("192.0.2.1", &route_via("192.0.2.1", "eth0", "192.0.2.10"));
    assert_eq!(
        nothing(stop(&netdev, &[])),
        "bridging not supported on network root; not stopping: the root filesystem \
         (192.0.2.1:/srv/root, nfs4) is reached through eth0"
    );
    let xenbr = xenbr_started()
        .file(mounts(), "192.0.2.1:/srv/root / nfs4 rw 0 0\n")
        .route_get("192.0.2.1", &route_via("192.0.2.1", "xenbr0", "192.0.2.10"));
    assert_eq!(
        nothing(stop(&xenbr, &[])),
        "bridging not supported on network root; not stopping: the root filesystem \
         (192.0.2.1:/srv/root, nfs4) is reached through xenbr0"
    );
}

#[test]
fn nb04_a_root_served_through_another_nic_does_not_stop_start() {
    let host = dom0()
        .file(mounts(), "10.1.0.1:/srv/root / nfs4 rw 0 0\n")
        .route_get("10.1.0.1", &route_via("10.1.0.1", "eth1", "10.1.0.10"));
    let p = planned(start(&host, &[]));
    assert!(lines(&p).contains("ip link set dev eth0 name peth0"));
}

#[test]
fn nb04_a_netdev_mount_option_counts_without_asking_for_a_route() {
    // iSCSI: a block device, marked _netdev; no server to look up.
    let host = dom0().file(mounts(), "/dev/sda2 / ext4 rw,relatime,_netdev 0 0\n");
    assert_eq!(
        nothing(start(&host, &[])),
        "bridging not supported on network root; not starting: the root filesystem \
         (/dev/sda2, ext4) is reached through eth0"
    );
    assert!(!host.asked().iter().any(|f| matches!(f, Fact::RouteGet(_))));
}

#[test]
fn nb04_a_local_root_reads_no_route() {
    let host = dom0().file(mounts(), "/dev/vda1 / ext4 rw,relatime 0 0\n");
    planned(start(&host, &[]));
    assert!(!host.asked().iter().any(|f| matches!(f, Fact::RouteGet(_))));
}

#[test]
fn nb04_an_ipv6_server_is_looked_up_by_its_address() {
    let host = dom0()
        .file(mounts(), "[2001:db8::1]:/export / nfs4 rw 0 0\n")
        .route_get(
            "2001:db8::1",
            &route_via("2001:db8::1", "eth1", "2001:db8::10"),
        );
    let p = planned(start(&host, &[]));
    assert!(lines(&p).contains("ip link set dev eth0 name peth0"));
    assert!(host.asked().contains(&Fact::RouteGet("2001:db8::1".into())));
}

// ---------------------------------------------------------------------------------------------
// layout=netdev stop (§8.3)

#[test]
fn nb18_netdev_stop_moves_dom0_back_renames_and_deletes_the_bridge_last() {
    let p = planned(stop(&netdev_started(), &[]));
    assert_eq!(
        cmds(&p),
        [
            "ip route del 198.51.100.0/24 via 192.0.2.1 dev eth0 proto static metric 5",
            "ip route del default via 192.0.2.1 dev eth0",
            "ip addr del 2001:db8::10/64 dev eth0",
            "ip addr del 192.0.2.10/24 dev eth0",
            "ip link set dev eth0 down",
            "ip link set dev peth0 nomaster",
            "ip link set dev peth0 down",
            "ip link set dev eth0 name tmpbridge",
            "ip link set dev peth0 name eth0",
            "ip link set dev eth0 up",
            "ip addr add 192.0.2.10/24 dev eth0",
            "ip addr add 2001:db8::10/64 nodad dev eth0",
            "ip route replace default via 192.0.2.1 dev eth0",
            "ip route replace 198.51.100.0/24 via 192.0.2.1 dev eth0 proto static metric 5",
            "ip link del dev tmpbridge",
        ]
    );
    // NB-18: deleting the bridge, last, cannot be undone; everything before it can.
    assert_eq!(without_undo(&p), ["delete bridge tmpbridge"]);
    assert_eq!(
        undo_of(&p, "remove peth0 from bridge eth0").as_deref(),
        Some("ip link set dev peth0 master eth0")
    );
    assert_eq!(
        undo_of(&p, "rename eth0 to tmpbridge").as_deref(),
        Some("ip link set dev tmpbridge name eth0")
    );
}

#[test]
fn nb20_stop_finds_the_netdev_layout_and_its_port_from_the_default_route() {
    let host = netdev_started();
    let p = planned(stop(&host, &[]));
    assert_eq!(
        p.intro.as_deref(),
        Some(
            "network-bridge: layout=netdev (found on this host), netdev=eth0 (the device of the \
             default route), bridge=eth0, port peth0 (bridge also named xenbr0)"
        )
    );
    // Found by its port: the bridge eth0 has p-eth0.
    assert!(host.asked().contains(&Fact::Link("peth0".into())));
}

#[test]
fn nb18_vifs_still_on_the_bridge_go_with_it() {
    let host = netdev_started().link(Link {
        master: Some("eth0".into()),
        up: true,
        ..Link::named("vif1.0")
    });
    let p = planned(stop(&host, &[]));
    assert!(!lines(&p).contains("vif1.0"), "{}", lines(&p));
    assert_eq!(cmds(&p).last().unwrap(), "ip link del dev tmpbridge");
}

#[test]
fn nb17_stop_on_a_host_not_started_does_nothing() {
    assert_eq!(
        nothing(stop(&dom0(), &[])),
        "peth0 is not a port of eth0: this bridge was not made by network-bridge start"
    );
    assert_eq!(
        nothing(stop(&dom0(), &["bridge=br7"])),
        "br7 does not exist: nothing to stop"
    );
    // An administrator's bridge without p<netdev> is not ours.
    let host = crate::fixture::testing::admin_bridge();
    assert_eq!(
        nothing(stop(&host, &["bridge=xenbr0"])),
        "peth0 is not a port of xenbr0: this bridge was not made by network-bridge start"
    );
}

#[test]
fn stop_without_antispoof_on_a_host_without_iptables_reads_no_iptables() {
    let host = netdev_started_with(NO_IPTABLES);
    let p = planned(stop(&host, &[]));
    assert!(!lines(&p).contains("iptables"), "{}", lines(&p));
    let asked = host.asked();
    assert!(asked.contains(&Fact::Tool("iptables".into())));
    assert!(!read_iptables(&asked), "{asked:?}");
    // No record either: nothing to forget.
    assert!(!lines(&p).contains("rm -f"), "{}", lines(&p));
}

#[test]
fn start_without_antispoof_reads_no_firewall() {
    let host = dom0();
    planned(start(&host, &[]));
    let asked = host.asked();
    assert!(
        !asked
            .iter()
            .any(|f| matches!(f, Fact::Iptables(_) | Fact::Tool(_))),
        "{asked:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// layout=netloop (§8.5)

#[test]
fn nl04_nl12_netloop_start_makes_the_bridge_the_pair_renames_and_moves_dom0_in_order() {
    let p = planned(start(&dom0(), &["layout=netloop"]));
    assert_eq!(
        cmds(&p),
        [
            "ip link add name xenbr0 type bridge stp_state 0 forward_delay 0",
            "ip link set dev xenbr0 alias 'xennet network-bridge layout=netloop'",
            // The NIC's MAC made local: the NIC's own goes to dom0's eth0.
            "ip link set dev xenbr0 address 56:54:00:12:34:56",
            "ip link set dev xenbr0 mtu 1500",
            // vif0.0 a port at once (fe:ff…, ARP and multicast off), veth0 as the NIC.
            "ip link add name vif0.0 address fe:ff:ff:ff:ff:ff mtu 1500 arp off multicast off \
             master xenbr0 type veth peer name veth0 address 52:54:00:12:34:56 mtu 1500 arp on \
             multicast on",
            "ip route del 198.51.100.0/24 via 192.0.2.1 dev eth0 proto static metric 5",
            "ip route del default via 192.0.2.1 dev eth0",
            "ip addr del 2001:db8::10/64 dev eth0",
            "ip addr del 192.0.2.10/24 dev eth0",
            "ip link set dev eth0 down",
            "ip link set dev eth0 name peth0",
            "ip link set dev veth0 name eth0",
            "ip link set dev peth0 address fe:ff:ff:ff:ff:ff arp off multicast off",
            "ip link set dev peth0 master xenbr0",
            "ip link set dev xenbr0 up",
            "ip link set dev vif0.0 up",
            "ip link set dev peth0 up",
            WAIT_PETH0,
            "ip link set dev eth0 up",
            "ip addr add 192.0.2.10/24 dev eth0",
            "ip addr add 2001:db8::10/64 nodad dev eth0",
            "ip route replace default via 192.0.2.1 dev eth0",
            "ip route replace 198.51.100.0/24 via 192.0.2.1 dev eth0 proto static metric 5",
        ]
    );
}

#[test]
fn nl12_netloop_start_says_it_builds_the_pair() {
    let p = planned(start(&dom0(), &["layout=netloop"]));
    assert_eq!(
        p.intro.as_deref(),
        Some(
            "network-bridge: layout=netloop (argument layout=), netdev=eth0 (the device of the \
             default route), bridge=xenbr0, port peth0, dom0's eth0 through the pair \
             veth0/vif0.0"
        )
    );
}

#[test]
fn nl04_netloop_start_undoes_all_but_steps_on_links_it_made() {
    let p = planned(start(&dom0(), &["layout=netloop"]));
    assert_eq!(
        without_undo(&p),
        [
            "mark xenbr0 as made by network-bridge layout=netloop",
            "give xenbr0 the MAC 56:54:00:12:34:56",
            "give xenbr0 the MTU 1500",
            "wait for peth0 to negotiate link",
        ]
    );
    assert_eq!(
        undo_of(
            &p,
            "create the pair veth0/vif0.0 (dom0's interface and its port)"
        )
        .as_deref(),
        Some("ip link del dev veth0")
    );
    // The NIC gets its MAC and flags back on a rollback.
    assert_eq!(
        undo_of(
            &p,
            "make peth0 a port: MAC fe:ff:ff:ff:ff:ff, ARP and multicast off"
        )
        .as_deref(),
        Some("ip link set dev peth0 address 52:54:00:12:34:56 arp on multicast on")
    );
}

#[test]
fn nl04_the_pair_and_bridge_carry_the_nics_mac_mtu_and_flags() {
    // A jumbo NIC whose ARP is off and multicast on.
    let host = dom0().link(Link {
        address: "00:16:3e:12:34:56".into(),
        mtu: 9000,
        up: true,
        flags: IFF_MULTICAST | crate::state::IFF_NOARP | 0x1,
        ..Link::named("eth0")
    });
    let p = planned(start(&host, &["layout=netloop"]));
    let l = lines(&p);
    assert!(
        l.contains("ip link set dev xenbr0 address 02:16:3e:12:34:56"),
        "{l}"
    );
    assert!(l.contains("ip link set dev xenbr0 mtu 9000"), "{l}");
    assert!(
        l.contains(
            "ip link add name vif0.0 address fe:ff:ff:ff:ff:ff mtu 9000 arp off multicast off \
             master xenbr0 type veth peer name veth0 address 00:16:3e:12:34:56 mtu 9000 arp off \
             multicast on"
        ),
        "{l}"
    );
    assert_eq!(
        undo_of(
            &p,
            "make peth0 a port: MAC fe:ff:ff:ff:ff:ff, ARP and multicast off"
        )
        .as_deref(),
        Some("ip link set dev peth0 address 00:16:3e:12:34:56 arp off multicast on")
    );
}

#[test]
fn nl01_nl02_the_number_names_bridge_pair_and_port() {
    let host = dom0().link(Link {
        address: "52:54:00:12:34:57".into(),
        up: true,
        ..Link::named("eth1")
    });
    let p = planned(start(&host, &["layout=netloop", "netdev=eth1"]));
    let l = lines(&p);
    for want in [
        "ip link add name xenbr1 type bridge",
        "ip link add name vif0.1 address fe:ff:ff:ff:ff:ff",
        "master xenbr1 type veth peer name veth1",
        "ip link set dev eth1 name peth1",
        "ip link set dev veth1 name eth1",
    ] {
        assert!(l.contains(want), "{want} in\n{l}");
    }
    let p = planned(start(&dom0(), &["layout=netloop", "vifnum=2"]));
    let l = lines(&p);
    assert!(l.contains("ip link add name xenbr2 type bridge"), "{l}");
    assert!(l.contains("peer name veth2"), "{l}");
    assert!(l.contains("ip link set dev vif0.2 up"), "{l}");
    assert!(l.contains("ip link set dev eth0 name peth0"), "{l}");
}

#[test]
fn nl03_pair_names_that_are_taken_are_refused() {
    for taken in ["veth0", "vif0.0"] {
        let host = dom0().link(Link::named(taken));
        assert_eq!(
            refused(start(&host, &["layout=netloop"])),
            format!(
                "a link named {taken} exists, and layout=netloop needs veth0/vif0.0 for dom0's \
                 own interface: remove it, or choose another number with vifnum="
            )
        );
    }
}

#[test]
fn nl04_netloop_start_after_start_does_nothing() {
    assert_eq!(
        nothing(start(&netloop_started(), &["layout=netloop"])),
        "peth0 exists: network-bridge has already run"
    );
    // Without layout=, the layout is found and the answer is the same.
    assert_eq!(
        nothing(start(&netloop_started(), &[])),
        "peth0 exists: network-bridge has already run"
    );
}

#[test]
fn nl07_netloop_stop_swaps_names_and_macs_back_and_deletes_pair_and_bridge_last() {
    let p = planned(stop(&netloop_started(), &[]));
    assert_eq!(
        cmds(&p),
        [
            "ip route del 198.51.100.0/24 via 192.0.2.1 dev eth0 proto static metric 5",
            "ip route del default via 192.0.2.1 dev eth0",
            "ip addr del 2001:db8::10/64 dev eth0",
            "ip addr del 192.0.2.10/24 dev eth0",
            "ip link set dev eth0 down",
            "ip link set dev xenbr0 down",
            "ip link set dev peth0 nomaster",
            "ip link set dev peth0 down",
            "ip link set dev eth0 name veth0",
            "ip link set dev peth0 name eth0",
            "ip link set dev eth0 address 52:54:00:12:34:56 arp on multicast on",
            "ip link set dev eth0 up",
            "ip addr add 192.0.2.10/24 dev eth0",
            "ip addr add 2001:db8::10/64 nodad dev eth0",
            "ip route replace default via 192.0.2.1 dev eth0",
            "ip route replace 198.51.100.0/24 via 192.0.2.1 dev eth0 proto static metric 5",
            "ip link set dev vif0.0 down",
            "ip link del dev veth0",
            "ip link del dev xenbr0",
        ]
    );
    assert_eq!(without_undo(&p), ["delete bridge xenbr0"]);
    // The MAC step's undo makes the NIC a port again; the pair's makes the pair again as start
    // did, with dom0's MAC, MTU and flags.
    assert_eq!(
        undo_of(&p, "give eth0 back its MAC 52:54:00:12:34:56").as_deref(),
        Some("ip link set dev eth0 address fe:ff:ff:ff:ff:ff arp off multicast off")
    );
    assert_eq!(
        undo_of(&p, "delete the pair veth0/vif0.0").as_deref(),
        Some(
            "ip link add name vif0.0 address fe:ff:ff:ff:ff:ff mtu 1500 arp off multicast off \
             master xenbr0 type veth peer name veth0 address 52:54:00:12:34:56 mtu 1500 arp on \
             multicast on"
        )
    );
}

#[test]
fn nl12_stop_finds_the_netloop_layout_through_the_port_and_the_bridges_mark() {
    let host = netloop_started();
    let p = planned(stop(&host, &[]));
    assert_eq!(
        p.intro.as_deref(),
        Some(
            "network-bridge: layout=netloop (found on this host), netdev=eth0 (the device of the \
             default route), bridge=xenbr0, port peth0, dom0's eth0 through the pair \
             veth0/vif0.0"
        )
    );
    // netdev= named too: the same layout.
    let p = planned(stop(&netloop_started(), &["netdev=eth0"]));
    assert!(p
        .intro
        .unwrap()
        .contains("layout=netloop (found on this host)"));
}

#[test]
fn nl07_netloop_stop_refuses_when_dom0s_side_is_missing_or_veth_n_is_taken() {
    let taken = netloop_started().link(Link::named("veth0"));
    assert_eq!(
        refused(stop(&taken, &[])),
        "a link named veth0 exists, so eth0 cannot take its name back: remove it and retry"
    );
    let gone = netloop_started().answer(Fact::Link("eth0".into()), Answer::Link(None));
    assert_eq!(
        refused(stop(&gone, &["layout=netloop", "netdev=eth0"])),
        "eth0 (dom0's side of the pair vif0.0) is missing: put it back or remove xenbr0 by hand"
    );
}

#[test]
fn nl07_netloop_stop_leaves_bridges_it_did_not_make() {
    assert_eq!(
        nothing(stop(&dom0(), &["layout=netloop"])),
        "xenbr0 does not exist: nothing to stop"
    );
    assert_eq!(
        nothing(stop(
            &crate::fixture::testing::admin_bridge(),
            &["layout=netloop"]
        )),
        "peth0 and vif0.0 are not both ports of xenbr0: this bridge was not made by \
         network-bridge start layout=netloop"
    );
}

// ---------------------------------------------------------------------------------------------
// layout=xenbr

#[test]
fn xenbr_start_makes_the_marked_bridge_with_the_nics_mac_and_moves_dom0_to_it() {
    let p = planned(start(&dom0(), &["layout=xenbr"]));
    assert_eq!(
        cmds(&p),
        [
            "ip link add name xenbr0 type bridge stp_state 0 forward_delay 0",
            "ip link set dev xenbr0 alias 'xennet network-bridge layout=xenbr'",
            "ip link set dev xenbr0 address 52:54:00:12:34:56",
            "ip link set dev xenbr0 mtu 1500",
            "ip route del 198.51.100.0/24 via 192.0.2.1 dev eth0 proto static metric 5",
            "ip route del default via 192.0.2.1 dev eth0",
            "ip addr del 2001:db8::10/64 dev eth0",
            "ip addr del 192.0.2.10/24 dev eth0",
            "ip link set dev eth0 master xenbr0",
            "for i in $(seq 10); do grep -q 1 /sys/class/net/eth0/carrier && break; sleep 1; done",
            "ip link set dev xenbr0 up",
            "ip addr add 192.0.2.10/24 dev xenbr0",
            "ip addr add 2001:db8::10/64 nodad dev xenbr0",
            "ip route replace default via 192.0.2.1 dev xenbr0",
            "ip route replace 198.51.100.0/24 via 192.0.2.1 dev xenbr0 proto static metric 5",
        ]
    );
    assert_eq!(
        p.intro.as_deref(),
        Some(
            "network-bridge: layout=xenbr (argument layout=), netdev=eth0 (the device of the \
             default route), bridge=xenbr0, port eth0"
        )
    );
    assert_eq!(
        without_undo(&p),
        [
            "mark xenbr0 as made by network-bridge layout=xenbr",
            "give xenbr0 the MAC 52:54:00:12:34:56",
            "give xenbr0 the MTU 1500",
            "wait for eth0 to negotiate link",
        ]
    );
}

#[test]
fn xenbr_start_brings_a_nic_that_is_down_up_before_waiting_for_it() {
    let host = dom0().link(Link {
        address: "52:54:00:12:34:56".into(),
        up: false,
        ..Link::named("eth0")
    });
    let p = planned(start(&host, &["layout=xenbr"]));
    let up = pos(&p, "ip link set dev eth0 up");
    assert!(pos(&p, "ip link set dev eth0 master xenbr0") < up);
    assert!(
        up < pos(
            &p,
            "for i in $(seq 10); do grep -q 1 /sys/class/net/eth0/carrier && break; sleep 1; done"
        )
    );
    // An up NIC is left up: no such step.
    let p = planned(start(&dom0(), &["layout=xenbr"]));
    assert!(!cmds(&p).contains(&"ip link set dev eth0 up".to_string()));
}

#[test]
fn xenbr_start_after_start_does_nothing() {
    for args in [&["layout=xenbr"][..], &[]] {
        assert_eq!(
            nothing(start(&xenbr_started(), args)),
            "eth0 is already a port of xenbr0: network-bridge has already run",
            "{args:?}"
        );
    }
}

#[test]
fn xenbr_stop_moves_dom0_back_to_the_nic_and_deletes_the_bridge_last() {
    let p = planned(stop(&xenbr_started(), &[]));
    assert_eq!(
        cmds(&p),
        [
            "ip route del 198.51.100.0/24 via 192.0.2.1 dev xenbr0 proto static metric 5",
            "ip route del default via 192.0.2.1 dev xenbr0",
            "ip addr del 2001:db8::10/64 dev xenbr0",
            "ip addr del 192.0.2.10/24 dev xenbr0",
            "ip link set dev xenbr0 down",
            "ip link set dev eth0 nomaster",
            "ip addr add 192.0.2.10/24 dev eth0",
            "ip addr add 2001:db8::10/64 nodad dev eth0",
            "ip route replace default via 192.0.2.1 dev eth0",
            "ip route replace 198.51.100.0/24 via 192.0.2.1 dev eth0 proto static metric 5",
            "ip link del dev xenbr0",
        ]
    );
    assert_eq!(without_undo(&p), ["delete bridge xenbr0"]);
    assert_eq!(
        undo_of(&p, "remove eth0 from bridge xenbr0").as_deref(),
        Some("ip link set dev eth0 master xenbr0")
    );
}

#[test]
fn xenbr_stop_finds_the_layout_and_the_nic_from_the_bridge_of_the_default_route() {
    let p = planned(stop(&xenbr_started(), &[]));
    assert_eq!(
        p.intro.as_deref(),
        Some(
            "network-bridge: layout=xenbr (found on this host), netdev=eth0 (the port of xenbr0, \
             the bridge of the default route), bridge=xenbr0, port eth0"
        )
    );
}

#[test]
fn xenbr_stop_with_the_nic_named_finds_the_layout_too() {
    let p = planned(stop(&xenbr_started(), &["netdev=eth0"]));
    assert!(
        p.intro
            .as_deref()
            .unwrap()
            .starts_with("network-bridge: layout=xenbr (found on this host)"),
        "{:?}",
        p.intro
    );
    assert_eq!(cmds(&p).last().unwrap(), "ip link del dev xenbr0");
}

#[test]
fn xenbr_stop_leaves_a_bridge_an_administrator_made() {
    // xenbr0 with eth0 as its port, but without network-bridge's mark.
    let host = Fixture::new()
        .link(bridge("xenbr0"))
        .link(Link {
            master: Some("xenbr0".into()),
            up: true,
            ..Link::named("eth0")
        })
        .default_route("xenbr0")
        .tools(ALL_TOOLS);
    assert_eq!(
        nothing(stop(&host, &["layout=xenbr"])),
        "xenbr0 is not a bridge made by network-bridge start layout=xenbr with port eth0: left \
         alone"
    );
    assert_eq!(
        nothing(stop(&dom0(), &["layout=xenbr"])),
        "xenbr0 does not exist: nothing to stop"
    );
}

// ---------------------------------------------------------------------------------------------
// Layout detection at stop (no layout=)

#[test]
fn a_stop_without_layout_on_a_host_not_started_takes_the_netdev_layout() {
    let host = dom0();
    // The netdev layout's answer: its bridge would be eth0 with port peth0.
    assert_eq!(
        nothing(stop(&host, &[])),
        "peth0 is not a port of eth0: this bridge was not made by network-bridge start"
    );
    assert!(host.asked().contains(&Fact::Link("peth0".into())));
}

#[test]
fn a_layout_given_wins_over_the_one_found() {
    // layout=netdev on a xenbr host: the netdev layout's check, which leaves it alone.
    assert_eq!(
        nothing(stop(&xenbr_started(), &["layout=netdev"])),
        "pxenbr0 is not a port of xenbr0: this bridge was not made by network-bridge start"
    );
}

// ---------------------------------------------------------------------------------------------
// antispoof=yes (NB-15 without KP-07, NL-06)

#[test]
fn nb15_antispoof_with_iptables_accepts_the_port_records_the_policy_then_drops() {
    let host = Host::from(dom0());
    let p = planned(start(&host, &["antispoof=yes"]));
    let c = cmds(&p);
    let n = c.len();
    assert_eq!(
        c[n - 3],
        "iptables -w -A FORWARD -m physdev --physdev-in peth0 -j ACCEPT"
    );
    assert!(
        c[n - 2].starts_with("echo ACCEPT > ") && c[n - 2].ends_with(GUARD_RECORD),
        "{}",
        c[n - 2]
    );
    assert_eq!(c[n - 1], "iptables -w -P FORWARD DROP");
    // The real start recorded the same policy.
    assert_eq!(
        include_str!("../../fixtures/netdev-antispoof-record.txt").trim(),
        "ACCEPT"
    );
    // After dom0's addresses are back: the firewall comes last.
    assert!(pos(&p, "ip addr add 192.0.2.10/24 dev eth0") < n - 3);
    // KP-07: the administrator's FORWARD rules are kept, nothing is flushed.
    assert!(!lines(&p).contains("-F"), "{}", lines(&p));
    // Each undone: the rule deleted, the record removed, the policy put back.
    assert_eq!(
        undo_of(&p, "accept traffic from peth0").as_deref(),
        Some("iptables -w -D FORWARD -m physdev --physdev-in peth0 -j ACCEPT")
    );
    assert!(matches!(
        &step(&p, "remember the FORWARD policy for stop").undo,
        Some(Action::RemoveFile { path }) if path.ends_with(GUARD_RECORD)
    ));
    assert_eq!(
        undo_of(&p, "set the FORWARD policy to DROP").as_deref(),
        Some("iptables -w -P FORWARD ACCEPT")
    );
    assert!(p
        .intro
        .as_deref()
        .unwrap()
        .ends_with(", antispoof with iptables (firewall=auto, default: iptables is installed)"));
    assert!(host.asked().contains(&Fact::Iptables("filter".into())));
}

#[test]
fn nb15_antispoof_keeps_a_drop_policy_and_an_accept_rule_already_there() {
    let host = dom0().iptables(
        "filter",
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A FORWARD -m physdev --physdev-in peth0 -j ACCEPT\nCOMMIT\n",
    );
    let p = planned(start(&host, &["antispoof=yes"]));
    assert!(!lines(&p).contains("iptables"), "{}", lines(&p));
    assert!(!lines(&p).contains("forward-policy"), "{}", lines(&p));
}

#[test]
fn nl06_netloop_antispoof_also_accepts_dom0s_own_port() {
    let p = planned(start(&dom0(), &["layout=netloop", "antispoof=yes"]));
    let accepts: Vec<String> = cmds(&p)
        .into_iter()
        .filter(|l| l.starts_with("iptables -w -A"))
        .collect();
    assert_eq!(
        accepts,
        [
            "iptables -w -A FORWARD -m physdev --physdev-in peth0 -j ACCEPT",
            "iptables -w -A FORWARD -m physdev --physdev-in vif0.0 -j ACCEPT",
        ]
    );
    assert!(lines(&p).contains("network-bridge.xenbr0.forward-policy"));
}

#[test]
fn xenbr_antispoof_accepts_the_nic_under_its_own_name() {
    let p = planned(start(&dom0(), &["layout=xenbr", "antispoof=yes"]));
    assert!(lines(&p).contains("iptables -w -A FORWARD -m physdev --physdev-in eth0 -j ACCEPT"));
}

#[test]
fn nb19_fix_stop_removes_the_accept_rule_at_its_place_and_puts_the_policy_back() {
    // As the real start antispoof=yes left it, after the administrator's rule.
    let host = Host::from(netdev_started().iptables(
        "filter",
        include_str!("../../fixtures/netdev-antispoof-filter.txt"),
    ))
    .record(
        GUARD_RECORD,
        include_str!("../../fixtures/netdev-antispoof-record.txt"),
    );
    let p = planned(stop(&host, &[]));
    let c = cmds(&p);
    // The firewall first (before any link changes), the record last.
    assert_eq!(
        c[0],
        "iptables -w -D FORWARD -m physdev --physdev-in peth0 -j ACCEPT"
    );
    assert_eq!(c[1], "iptables -w -P FORWARD ACCEPT");
    assert!(c[2].starts_with("ip route del"), "{}", c[2]);
    assert_eq!(
        step(&p, "forget the FORWARD policy record").what,
        p.plan.steps.last().unwrap().what
    );
    assert!(c.last().unwrap().starts_with("rm -f ") && c.last().unwrap().ends_with(GUARD_RECORD));
    // A rollback puts the rule back where it was (2nd: the administrator's comes first), and
    // the policy to DROP.
    assert_eq!(
        undo_of(&p, "remove the antispoof rule for peth0").as_deref(),
        Some("iptables -w -I FORWARD 2 -m physdev --physdev-in peth0 -j ACCEPT")
    );
    assert_eq!(
        undo_of(&p, "restore the FORWARD policy ACCEPT").as_deref(),
        Some("iptables -w -P FORWARD DROP")
    );
    // The administrator's rule stays.
    assert!(!lines(&p).contains("-i lo"), "{}", lines(&p));
}

#[test]
fn nl06_netloop_stop_removes_both_rules_the_last_first() {
    let host = Host::from(netloop_started().iptables(
        "filter",
        include_str!("../../fixtures/netloop-antispoof-filter.txt"),
    ))
    .record(
        "network-bridge.xenbr0.forward-policy",
        include_str!("../../fixtures/netloop-antispoof-record.txt"),
    );
    let p = planned(stop(&host, &[]));
    let c = cmds(&p);
    assert_eq!(
        &c[..3],
        [
            "iptables -w -D FORWARD -m physdev --physdev-in vif0.0 -j ACCEPT",
            "iptables -w -D FORWARD -m physdev --physdev-in peth0 -j ACCEPT",
            "iptables -w -P FORWARD ACCEPT",
        ]
    );
    // Undone in reverse, each goes back to its place: peth0 at 2, then vif0.0 at 3.
    assert_eq!(
        undo_of(&p, "remove the antispoof rule for vif0.0").as_deref(),
        Some("iptables -w -I FORWARD 3 -m physdev --physdev-in vif0.0 -j ACCEPT")
    );
    assert_eq!(
        undo_of(&p, "remove the antispoof rule for peth0").as_deref(),
        Some("iptables -w -I FORWARD 2 -m physdev --physdev-in peth0 -j ACCEPT")
    );
    assert!(c
        .last()
        .unwrap()
        .ends_with("network-bridge.xenbr0.forward-policy"));
}

#[test]
fn antispoof_stop_without_a_record_removes_the_rules_and_leaves_the_policy() {
    // A policy that was DROP already: start wrote no record.
    let host = netdev_started().iptables(
        "filter",
        ":FORWARD DROP [0:0]\n-A FORWARD -m physdev --physdev-in peth0 -j ACCEPT\n",
    );
    let p = planned(stop(&host, &[]));
    let l = lines(&p);
    assert!(
        l.contains("iptables -w -D FORWARD -m physdev --physdev-in peth0 -j ACCEPT"),
        "{l}"
    );
    assert!(!l.contains("-P FORWARD"), "{l}");
    assert!(!l.contains("rm -f"), "{l}");
}

#[test]
fn nb15_antispoof_with_nftables_only_records_that_nftables_guards_the_bridge() {
    let host = Host::from(dom0_with(NO_IPTABLES));
    let p = planned(start(&host, &["antispoof=yes"]));
    let last = p.plan.steps.last().unwrap();
    assert_eq!(last.what, "note that nftables guards eth0's guests");
    assert!(matches!(
        &last.action,
        Action::WriteFile { path, value } if path.ends_with(GUARD_RECORD) && value == "nftables"
    ));
    // What the real start wrote.
    assert_eq!(
        include_str!("../../fixtures/nft-antispoof-record.txt").trim(),
        "nftables"
    );
    assert!(
        matches!(&last.undo, Some(Action::RemoveFile { path }) if path.ends_with(GUARD_RECORD))
    );
    assert!(!lines(&p).contains("iptables"), "{}", lines(&p));
    assert!(!read_iptables(&host.asked()));
    assert!(p.intro.as_deref().unwrap().ends_with(
        ", antispoof with nftables (firewall=auto, default: nft is installed and iptables is not)"
    ));
}

#[test]
fn nftables_guard_stop_forgets_the_record_and_reads_no_iptables() {
    let host = Host::from(netdev_started_with(NO_IPTABLES)).record(
        GUARD_RECORD,
        include_str!("../../fixtures/nft-antispoof-record.txt"),
    );
    let p = planned(stop(&host, &[]));
    let c = cmds(&p);
    assert!(c.last().unwrap().starts_with("rm -f ") && c.last().unwrap().ends_with(GUARD_RECORD));
    assert!(!lines(&p).contains("iptables"), "{}", lines(&p));
    let asked = host.asked();
    assert!(!asked.contains(&Fact::Tool("iptables".into())), "{asked:?}");
    assert!(!read_iptables(&asked), "{asked:?}");
}

#[test]
fn an_nftables_record_wins_over_iptables_being_installed_at_stop() {
    // The host got iptables after start: stop still undoes in nftables (nothing to remove
    // there but the record) and reads no iptables rules.
    let host = Host::from(netdev_started()).record(
        GUARD_RECORD,
        include_str!("../../fixtures/nft-antispoof-record.txt"),
    );
    let p = planned(stop(&host, &[]));
    assert!(!lines(&p).contains("iptables"), "{}", lines(&p));
    assert!(!read_iptables(&host.asked()));
}

#[test]
fn antispoof_firewall_none_adds_no_rule() {
    let p = planned(start(&dom0(), &["antispoof=yes", "firewall=none"]));
    assert!(!lines(&p).contains("iptables"), "{}", lines(&p));
    assert!(!lines(&p).contains("forward-policy"), "{}", lines(&p));
    assert!(p
        .intro
        .unwrap()
        .ends_with(", antispoof with none (argument firewall=)"));
}

#[test]
fn antispoof_without_any_firewall_warns() {
    let p = planned(start(&dom0_with(&["ip"]), &["antispoof=yes"]));
    assert!(
        warnings(&p)
            .iter()
            .any(|w| w.starts_with("neither iptables nor nft is installed")),
        "{:?}",
        p.notes
    );
}

#[test]
fn antispoof_must_be_yes_or_no() {
    let e = start(&dom0(), &["antispoof=maybe"]).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    assert!(e.to_string().contains("antispoof"), "{e}");
}

#[test]
fn nb09_every_layout_warns_of_dhcp_addresses_naming_the_link_they_move_to() {
    for (layout, to) in [
        ("layout=netdev", "eth0"),
        ("layout=netloop", "eth0"),
        ("layout=xenbr", "xenbr0"),
    ] {
        let p = planned(start(&dhcp_dom0(), &[layout]));
        assert_eq!(
            warnings(&p),
            [format!(
                "192.0.2.10/24 on eth0 was given by DHCP and moves with its remaining lifetime \
                 (86399 s); nothing renews it on {to}: start your DHCP client on {to} (e.g. \
                 dhclient {to})"
            )],
            "{layout}"
        );
        assert!(
            lines(&p).contains(&format!(
                "ip addr add 192.0.2.10/24 valid_lft 86399 preferred_lft 86399 dev {to}"
            )),
            "{layout}: {}",
            lines(&p)
        );
    }
}

#[test]
fn nb18_a_port_that_is_down_at_stop_is_not_brought_up() {
    let host = netdev_started().link(Link {
        master: Some("eth0".into()),
        up: false,
        address: "52:54:00:12:34:56".into(),
        ..Link::named("peth0")
    });
    let c = cmds(&planned(stop(&host, &[])));
    assert!(
        !c.contains(&"ip link set dev peth0 down".to_string()),
        "{c:#?}"
    );
    assert!(
        !c.contains(&"ip link set dev eth0 up".to_string()),
        "{c:#?}"
    );
}

#[test]
fn nb04_netloop_stop_checks_the_root_through_dom0s_veth() {
    let host = netloop_started()
        .file(mounts(), "192.0.2.1:/srv/root / nfs4 rw 0 0\n")
        .route_get("192.0.2.1", &route_via("192.0.2.1", "eth0", "192.0.2.10"));
    assert_eq!(
        nothing(stop(&host, &[])),
        "bridging not supported on network root; not stopping: the root filesystem \
         (192.0.2.1:/srv/root, nfs4) is reached through eth0"
    );
}

#[test]
fn xenbr_stop_removes_the_antispoof_rule_of_the_nic_first() {
    let host = Host::from(xenbr_started().iptables(
        "filter",
        ":FORWARD DROP [0:0]\n-A FORWARD -m physdev --physdev-in eth0 -j ACCEPT\n",
    ))
    .record("network-bridge.xenbr0.forward-policy", "ACCEPT\n");
    let p = planned(stop(&host, &[]));
    let c = cmds(&p);
    assert_eq!(
        &c[..2],
        [
            "iptables -w -D FORWARD -m physdev --physdev-in eth0 -j ACCEPT",
            "iptables -w -P FORWARD ACCEPT",
        ]
    );
    assert_eq!(
        undo_of(&p, "remove the antispoof rule for eth0").as_deref(),
        Some("iptables -w -I FORWARD 1 -m physdev --physdev-in eth0 -j ACCEPT")
    );
    assert!(c
        .last()
        .unwrap()
        .ends_with("network-bridge.xenbr0.forward-policy"));
}
