//! network-bridge `overlay=vxlan` (modes/network_bridge/overlay.rs): a bridge whose uplink is a
//! VXLAN device flooding to static peers. `start` over an underlay host as
//! `fixtures/capture-started.sh` builds it, `stop` over what the real `start` left there (with and
//! without a guest on the bridge); the MTU rule and every refusal with its sentence.

use super::bridge;
use super::network_bridge_captured::{
    captured, cmds, nothing, plan_on, planned, pos, refused, step, undo_of, without_undo, Host,
    ALL_TOOLS,
};
use crate::error::{Error, Note, Planned};
use crate::exec::Recorder;
use crate::fixture::testing::{dom0, lines};
use crate::fixture::Fixture;
use crate::modes::network_bridge::overlay::bridge_mac;
use crate::plan::Action;
use crate::snapshot::{Answer, Fact, Reader, Vxlan};
use crate::state::Link;

const START: &[&str] = &["overlay=vxlan", "vni=42", "peers=203.0.113.2,203.0.113.3"];
const STOP: &[&str] = &["overlay=vxlan", "vni=42"];
const RECORD: &str = "network-bridge.vxbr42.overlay";

/// dom0 with its underlay: eth1 203.0.113.1/24, MTU 1550, the route to the first peer through it.
fn underlay_host() -> Fixture {
    underlay_without_route().route_get(
        "203.0.113.2",
        include_str!("../../fixtures/overlay-routeget.json"),
    )
}

fn underlay_without_route() -> Fixture {
    captured(
        [
            include_str!("../../fixtures/overlay-links.json"),
            include_str!("../../fixtures/overlay-addrs.json"),
            include_str!("../../fixtures/overlay-routes4.json"),
            include_str!("../../fixtures/overlay-routes6.json"),
        ],
        "eth0",
        ALL_TOOLS,
    )
}

/// The VXLAN devices as the live reader makes them from the captured `ip -d -j link show type
/// vxlan` and `bridge -j fdb show dev vxlan42`.
fn started_vxlans() -> Vec<Vxlan> {
    let r = Recorder {
        answers: vec![
            (
                "ip -d -j link show type vxlan".into(),
                include_str!("../../fixtures/overlay-started-vxlans.json").into(),
            ),
            (
                "bridge -j fdb show dev vxlan42".into(),
                include_str!("../../fixtures/overlay-started-fdb.json").into(),
            ),
        ],
        ..Recorder::default()
    };
    crate::live::vxlans(&r)
}

/// The underlay host after the real `start overlay=vxlan vni=42 peers=203.0.113.2,203.0.113.3`.
fn started_fixture() -> Fixture {
    captured(
        [
            include_str!("../../fixtures/overlay-started-links.json"),
            include_str!("../../fixtures/overlay-started-addrs.json"),
            include_str!("../../fixtures/overlay-started-routes4.json"),
            include_str!("../../fixtures/overlay-started-routes6.json"),
        ],
        "eth0",
        ALL_TOOLS,
    )
    .vxlans(started_vxlans())
}

fn started() -> Host {
    Host::from(started_fixture()).record(
        RECORD,
        include_str!("../../fixtures/overlay-started-record.txt"),
    )
}

/// The same, with a guest's vif1.0 a port of vxbr42.
fn with_guest() -> Host {
    Host::from(
        Fixture::new()
            .ip_links(include_str!("../../fixtures/overlay-guest-links.json"))
            .ip_addrs(include_str!("../../fixtures/overlay-started-addrs.json"))
            .tools(ALL_TOOLS)
            .vxlans(started_vxlans()),
    )
    .record(
        RECORD,
        include_str!("../../fixtures/overlay-started-record.txt"),
    )
}

fn route_via(dst: &str, dev: &str, src: &str) -> String {
    format!(r#"[{{"dst":"{dst}","dev":"{dev}","prefsrc":"{src}","flags":[],"uid":0,"cache":[]}}]"#)
}

/// The record's line a start writes (the last step), in network-bridge.<bridge>.overlay.
fn record_written(p: &Planned) -> String {
    match &p.plan.steps.last().expect("a step").action {
        Action::WriteFile { path, value } if path.ends_with(".overlay") => value.clone(),
        other => panic!("the last step writes {other:?}"),
    }
}

fn link_of(host: &Fixture, name: &str) -> Link {
    match host.read(&Fact::Link(name.into())) {
        Answer::Link(Some(l)) => l,
        other => panic!("{name}: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// start

#[test]
fn vxlan_start_makes_the_bridge_the_device_its_flood_entries_and_the_record_in_order() {
    let p = planned(plan_on(&underlay_host(), true, START));
    let c = cmds(&p);
    assert_eq!(
        c[..c.len() - 1],
        [
            "ip link add name vxbr42 type bridge stp_state 0 forward_delay 0",
            "ip link set dev vxbr42 address 02:5d:25:9a:a6:d1",
            "ip link set dev vxbr42 mtu 1500",
            "ip link add name vxlan42 mtu 1500 type vxlan id 42 dstport 4789 local 203.0.113.1 dev eth1",
            "bridge fdb append 00:00:00:00:00:00 dev vxlan42 dst 203.0.113.2",
            "bridge fdb append 00:00:00:00:00:00 dev vxlan42 dst 203.0.113.3",
            "ip link set dev vxlan42 master vxbr42",
            "ip link set dev vxlan42 up",
            "ip link set dev vxbr42 up",
        ]
    );
    assert_eq!(
        record_written(&p),
        "vxlan=vxlan42 vni=42 created_bridge=yes overlay=vxlan"
    );
    // What the real start wrote.
    assert_eq!(
        include_str!("../../fixtures/overlay-started-record.txt").trim(),
        record_written(&p)
    );
    assert!(p.notes.is_empty(), "{:?}", p.notes);
}

#[test]
fn vxlan_start_says_vni_bridge_device_underlay_local_port_and_peers() {
    let p = planned(plan_on(&underlay_host(), true, START));
    assert_eq!(
        p.intro.as_deref(),
        Some(
            "network-bridge: overlay vxlan VNI 42 on bridge vxbr42 via vxlan42 (underlay eth1, \
             local 203.0.113.1, port 4789), peers 203.0.113.2, 203.0.113.3"
        )
    );
}

#[test]
fn mac04_the_overlay_bridge_gets_the_fixed_mac_the_real_start_gave_it() {
    let p = planned(plan_on(&underlay_host(), true, START));
    let mac = link_of(&started_fixture(), "vxbr42").address;
    assert_eq!(mac, bridge_mac(&"203.0.113.1".parse().unwrap(), 42));
    assert_eq!(cmds(&p)[1], format!("ip link set dev vxbr42 address {mac}"));
}

#[test]
fn vxlan_start_undoes_every_step_but_those_on_the_new_bridge() {
    let p = planned(plan_on(&underlay_host(), true, START));
    assert_eq!(
        without_undo(&p),
        [
            "give vxbr42 the fixed MAC 02:5d:25:9a:a6:d1",
            "give vxbr42 the guests' MTU 1500",
        ]
    );
    assert_eq!(
        undo_of(
            &p,
            "create vxlan42 (VNI 42, UDP port 4789, from 203.0.113.1 over eth1)"
        )
        .as_deref(),
        Some("ip link del dev vxlan42")
    );
    assert_eq!(
        undo_of(&p, "flood to peer 203.0.113.3").as_deref(),
        Some("bridge fdb del 00:00:00:00:00:00 dev vxlan42 dst 203.0.113.3")
    );
    assert!(matches!(
        &step(&p, "remember what stop removes").undo,
        Some(Action::RemoveFile { path }) if path.ends_with(RECORD)
    ));
}

#[test]
fn vxlan_start_reads_the_route_to_the_first_peer_and_the_underlay_not_dom0s_uplink() {
    let host = underlay_host();
    planned(plan_on(&host, true, START));
    let asked = host.asked();
    for f in [
        Fact::RouteGet("203.0.113.2".into()),
        Fact::Addrs("eth1".into()),
        Fact::Link("eth1".into()),
        Fact::Link("vxlan42".into()),
        Fact::Link("vxbr42".into()),
    ] {
        assert!(asked.contains(&f), "{f:?} in {asked:?}");
    }
    // No layout: neither the default route, nor the NIC, nor any firewall.
    assert!(!asked.contains(&Fact::DefaultRouteDev), "{asked:?}");
    assert!(!asked.contains(&Fact::RouteGet("203.0.113.3".into())));
    assert!(
        !asked
            .iter()
            .any(|f| matches!(f, Fact::Iptables(_) | Fact::Tool(_))),
        "{asked:?}"
    );
}

#[test]
fn vxlan_start_takes_underlay_local_dstport_and_bridge_as_given() {
    // No route to the peer is needed when both are given.
    let p = planned(plan_on(
        &underlay_without_route(),
        true,
        &[
            "overlay=vxlan",
            "vni=42",
            "peers=203.0.113.2",
            "underlay=eth1",
            "local=203.0.113.1",
            "dstport=8472",
            "bridge=tenant1",
        ],
    ));
    let l = lines(&p);
    assert!(l.contains("ip link add name tenant1 type bridge"), "{l}");
    assert!(
        l.contains("ip link add name vxlan42 mtu 1500 type vxlan id 42 dstport 8472 local 203.0.113.1 dev eth1"),
        "{l}"
    );
    assert!(l.contains("ip link set dev vxlan42 master tenant1"), "{l}");
    assert!(l.contains("network-bridge.tenant1.overlay"), "{l}");
    assert!(record_written(&p).contains("created_bridge=yes"));
}

#[test]
fn vxlan_start_after_start_does_nothing() {
    assert_eq!(
        nothing(plan_on(&started(), true, START)),
        "vxlan42 is already the overlay uplink of vxbr42: nothing to do"
    );
}

#[test]
fn vxlan_start_onto_an_administrators_bridge_keeps_it_and_records_that_it_is_not_ours() {
    let host = underlay_host().link(bridge("vxbr42"));
    let p = planned(plan_on(&host, true, START));
    let c = cmds(&p);
    assert_eq!(
        c[0],
        "ip link add name vxlan42 mtu 1500 type vxlan id 42 dstport 4789 local 203.0.113.1 dev eth1"
    );
    assert!(
        !lines(&p).contains("ip link add name vxbr42"),
        "{}",
        lines(&p)
    );
    // Already up: left as it is.
    assert!(
        !c.contains(&"ip link set dev vxbr42 up".to_string()),
        "{c:#?}"
    );
    assert_eq!(
        record_written(&p),
        "vxlan=vxlan42 vni=42 created_bridge=no overlay=vxlan"
    );
}

#[test]
fn vxlan_start_onto_a_bridge_an_earlier_stop_kept_still_counts_it_ours() {
    // stop kept vxbr42 (a guest was on it), down, and its record.
    let host = Host::from(underlay_host().link(Link {
        up: false,
        ..bridge("vxbr42")
    }))
    .record(
        RECORD,
        "vxlan=vxlan42 vni=42 created_bridge=yes overlay=vxlan",
    );
    let p = planned(plan_on(&host, true, START));
    assert!(
        !lines(&p).contains("ip link add name vxbr42"),
        "{}",
        lines(&p)
    );
    assert!(cmds(&p).contains(&"ip link set dev vxbr42 up".to_string()));
    assert_eq!(
        record_written(&p),
        "vxlan=vxlan42 vni=42 created_bridge=yes overlay=vxlan"
    );
    // The old record comes back on a rollback.
    assert!(matches!(
        &step(&p, "remember what stop removes").undo,
        Some(Action::WriteFile { value, .. }) if value == "vxlan=vxlan42 vni=42 created_bridge=yes overlay=vxlan"
    ));
}

// ---------------------------------------------------------------------------------------------
// start's refusals

#[test]
fn an_underlay_mtu_too_small_for_full_frames_is_refused_naming_the_fix() {
    // dom0's eth0 (MTU 1500) as the underlay.
    let host = dom0().route_get("192.0.2.20", &route_via("192.0.2.20", "eth0", "192.0.2.10"));
    assert_eq!(
        refused(plan_on(
            &host,
            true,
            &["overlay=vxlan", "vni=42", "peers=192.0.2.20"]
        )),
        "the underlay eth0 has MTU 1500, but VXLAN over IPv4 adds 50 bytes, so 1500-byte guest \
         frames need an underlay MTU of at least 1550: raise it on every host (ip link set dev \
         eth0 mtu 1550) and on the switches between them"
    );
}

#[test]
fn an_ipv6_underlay_needs_70_bytes_more() {
    let host = underlay_host()
        .addrs(
            "eth1",
            vec![super::addr(
                r#"{"family":"inet6","local":"2001:db8:ff::1","prefixlen":64,"scope":"global"}"#,
            )],
        )
        .route_get(
            "2001:db8:ff::2",
            &route_via("2001:db8:ff::2", "eth1", "2001:db8:ff::1"),
        );
    assert_eq!(
        refused(plan_on(
            &host,
            true,
            &["overlay=vxlan", "vni=42", "peers=2001:db8:ff::2"]
        )),
        "the underlay eth1 has MTU 1550, but VXLAN over IPv6 adds 70 bytes, so 1500-byte guest \
         frames need an underlay MTU of at least 1570: raise it on every host (ip link set dev \
         eth1 mtu 1570) and on the switches between them"
    );
}

#[test]
fn an_existing_bridges_mtu_is_what_the_underlay_must_carry() {
    let jumbo = underlay_host().link(Link {
        mtu: 9000,
        ..bridge("vxbr42")
    });
    assert!(refused(plan_on(&jumbo, true, START)).starts_with(
        "the underlay eth1 has MTU 1550, but VXLAN over IPv4 adds 50 bytes, so 9000-byte guest \
         frames need an underlay MTU of at least 9050"
    ));
    let small = underlay_host().link(Link {
        mtu: 1400,
        ..bridge("vxbr42")
    });
    let p = planned(plan_on(&small, true, START));
    assert!(lines(&p).contains("ip link add name vxlan42 mtu 1400 type vxlan"));
}

#[test]
fn no_route_to_the_first_peer_is_refused() {
    assert_eq!(
        refused(plan_on(&underlay_without_route(), true, START)),
        "no route to peer 203.0.113.2: give the underlay device with underlay=DEV (and local=ADDR)"
    );
}

#[test]
fn an_underlay_without_local_and_no_route_is_refused() {
    let mut args = START.to_vec();
    args.push("underlay=eth1");
    assert_eq!(
        refused(plan_on(&underlay_without_route(), true, &args)),
        "cannot tell this host's underlay address towards 203.0.113.2: give it with local=ADDR"
    );
}

#[test]
fn a_local_address_not_on_the_underlay_is_refused() {
    let mut args = START.to_vec();
    args.push("local=203.0.113.9");
    assert_eq!(
        refused(plan_on(&underlay_host(), true, &args)),
        "local=203.0.113.9 is not an address of the underlay eth1: give local= one of eth1's \
         addresses, or underlay= the device that holds 203.0.113.9"
    );
}

#[test]
fn a_missing_underlay_is_refused_by_name() {
    // `ip -j addr show dev eth7` fails on a host without eth7, as the live reader reports.
    let host = underlay_host().answer(
        Fact::Addrs("eth7".into()),
        Answer::Failed {
            msg: "ip -j addr show dev eth7 exited with status 1: Device \"eth7\" does not exist."
                .into(),
            missing_tool: false,
        },
    );
    let mut args = START.to_vec();
    args.extend(["underlay=eth7", "local=203.0.113.1"]);
    assert_eq!(
        refused(plan_on(&host, true, &args)),
        "underlay eth7 does not exist: name the device towards the other hosts with underlay=DEV"
    );
}

#[test]
fn a_vxlan_device_that_is_not_the_bridges_port_is_refused() {
    for master in [None, Some("br9".to_string())] {
        let host = underlay_host().link(Link {
            master: master.clone(),
            ..Link::named("vxlan42")
        });
        assert_eq!(
            refused(plan_on(&host, true, START)),
            "vxlan42 exists but is not a port of vxbr42: remove it (ip link del vxlan42) or run \
             stop first",
            "{master:?}"
        );
    }
}

#[test]
fn a_bridge_name_taken_by_a_link_that_is_not_a_bridge_is_refused() {
    let mut args = START.to_vec();
    args.push("bridge=eth0");
    assert_eq!(
        refused(plan_on(&underlay_host(), true, &args)),
        "bridge=eth0 names an existing link that is not a bridge: choose another name"
    );
}

#[test]
fn overlay_settings_are_checked_before_the_host_is_read() {
    let host = underlay_host();
    let e = plan_on(&host, true, &["overlay=vxlan", "vni=42"]).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "overlay=vxlan needs peers=A[,B…], the underlay addresses of the other hosts"
    );
    assert_eq!(host.asked(), []);
}

// ---------------------------------------------------------------------------------------------
// stop

#[test]
fn vxlan_stop_removes_flood_entries_device_and_bridge_then_forgets_the_record() {
    let host = started();
    let p = planned(plan_on(&host, false, STOP));
    let c = cmds(&p);
    assert_eq!(
        c[..c.len() - 1],
        [
            "bridge fdb del 00:00:00:00:00:00 dev vxlan42 dst 203.0.113.2",
            "bridge fdb del 00:00:00:00:00:00 dev vxlan42 dst 203.0.113.3",
            "ip link set dev vxlan42 down",
            "ip link set dev vxlan42 nomaster",
            "ip link del dev vxlan42",
            "ip link del dev vxbr42",
        ]
    );
    assert!(
        c.last().unwrap().starts_with("rm -f ") && c.last().unwrap().ends_with(RECORD),
        "{c:#?}"
    );
    assert_eq!(
        p.intro.as_deref(),
        Some("network-bridge: removing overlay vxlan VNI 42 from bridge vxbr42")
    );
    assert!(p.notes.is_empty(), "{:?}", p.notes);
    let asked = host.asked();
    assert!(asked.contains(&Fact::Vxlans));
    assert!(
        !asked
            .iter()
            .any(|f| matches!(f, Fact::Iptables(_) | Fact::Tool(_) | Fact::DefaultRouteDev)),
        "{asked:?}"
    );
}

#[test]
fn vxlan_stop_undo_makes_the_device_again_as_it_was() {
    let p = planned(plan_on(&started(), false, STOP));
    assert_eq!(
        undo_of(&p, "delete vxlan42").as_deref(),
        Some(
            "ip link add name vxlan42 address ce:6c:d0:fa:e9:e6 mtu 1500 type vxlan id 42 \
             dstport 4789 local 203.0.113.1 dev eth1"
        )
    );
    assert_eq!(
        undo_of(&p, "remove vxlan42 from bridge vxbr42").as_deref(),
        Some("ip link set dev vxlan42 master vxbr42")
    );
    assert_eq!(
        undo_of(&p, "stop flooding to peer 203.0.113.2").as_deref(),
        Some("bridge fdb append 00:00:00:00:00:00 dev vxlan42 dst 203.0.113.2")
    );
    // NB-18's rule: the bridge goes last but for the record, and has no undo.
    assert_eq!(
        without_undo(&p),
        ["delete bridge vxbr42", "forget the overlay record"]
    );
    assert!(pos(&p, "ip link del dev vxlan42") < pos(&p, "ip link del dev vxbr42"));
}

#[test]
fn vxlan_stop_keeps_a_bridge_with_guests_and_its_record() {
    let p = planned(plan_on(&with_guest(), false, STOP));
    assert_eq!(
        cmds(&p),
        [
            "bridge fdb del 00:00:00:00:00:00 dev vxlan42 dst 203.0.113.2",
            "bridge fdb del 00:00:00:00:00:00 dev vxlan42 dst 203.0.113.3",
            "ip link set dev vxlan42 down",
            "ip link set dev vxlan42 nomaster",
            "ip link del dev vxlan42",
        ]
    );
    assert_eq!(
        p.notes,
        [Note::Warn(
            "bridge vxbr42 still has guest ports (vif1.0): it stays, without its overlay \
             uplink; stop again once they are gone to delete it"
                .into()
        )]
    );
}

#[test]
fn vxlan_stop_once_the_guests_left_deletes_the_bridge_kept_before() {
    let host = Host::from(
        started_fixture()
            .answer(Fact::Link("vxlan42".into()), Answer::Link(None))
            .answer(Fact::Ports("vxbr42".into()), Answer::Names(Vec::new()))
            .vxlans(Vec::new()),
    )
    .record(
        RECORD,
        include_str!("../../fixtures/overlay-started-record.txt"),
    );
    let p = planned(plan_on(&host, false, STOP));
    let c = cmds(&p);
    assert_eq!(c.len(), 2, "{c:#?}");
    assert_eq!(c[0], "ip link del dev vxbr42");
    assert!(
        c[1].starts_with("rm -f ") && c[1].ends_with(RECORD),
        "{}",
        c[1]
    );
}

#[test]
fn vxlan_stop_leaves_a_bridge_it_did_not_make() {
    let host = Host::from(started_fixture()).record(
        RECORD,
        "vxlan=vxlan42 vni=42 created_bridge=no overlay=vxlan",
    );
    let p = planned(plan_on(&host, false, STOP));
    let l = lines(&p);
    assert!(l.contains("ip link del dev vxlan42"), "{l}");
    assert!(!l.contains("ip link del dev vxbr42"), "{l}");
    // The record goes: nothing of the overlay is left.
    assert!(cmds(&p).last().unwrap().ends_with(RECORD), "{l}");
    assert!(p.notes.is_empty(), "{:?}", p.notes);
}

#[test]
fn vxlan_stop_without_the_overlay_does_nothing() {
    assert_eq!(
        nothing(plan_on(&underlay_host(), false, STOP)),
        "vxlan42 does not exist: no overlay to stop"
    );
    // A bridge of that name that was not made by start is not a reason to act either.
    assert_eq!(
        nothing(plan_on(
            &underlay_host().link(bridge("vxbr42")),
            false,
            STOP
        )),
        "vxlan42 does not exist: no overlay to stop"
    );
}

#[test]
fn vxlan_stop_removes_a_stray_device_start_refused() {
    // start says "remove it … or run stop first": stop removes a vxlan42 outside the bridge,
    // down, with no flood entries and no record, and nothing else.
    let host = underlay_host()
        .link(Link::named("vxlan42"))
        .vxlans(Vec::new());
    let p = planned(plan_on(&host, false, STOP));
    assert_eq!(cmds(&p), ["ip link del dev vxlan42"]);
}
