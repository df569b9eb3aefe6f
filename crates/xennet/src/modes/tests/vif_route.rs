//! vif-route's planner (spec §6): dom0's address on the vif as a /32, proxy ARP, one host route
//! per guest address; offline takes exactly that away.

use super::*;
use crate::error::{Error, Note};
use crate::facts::{Answer, Fact};
use crate::fixture::testing::*;
use crate::fixture::Fixture;

fn ctx(command: &str, keys: &[(&str, &str)]) -> crate::vif::VifContext {
    vif_ctx_with("vif-route", &[command, "type_if=vif"], VIF_ENV, keys)
}

fn plan(
    command: &str,
    keys: &[(&str, &str)],
    args: &[&str],
    host: &Fixture,
) -> crate::error::Result<crate::error::Planned> {
    let mut words = vec![command, "type_if=vif"];
    words.extend_from_slice(args);
    plan_vif(
        "vif-route",
        &ctx(command, keys),
        &inv("vif-route", &words, VIF_ENV),
        host,
    )
}

fn proxy_arp(dev: &str) -> String {
    crate::sysctl::proxy_arp(dev)
}

#[test]
fn vr03_vr05_online_gives_the_vif_dom0s_address_proxy_arp_and_a_route_per_guest_address() {
    let host = dom0()
        .link(fresh("vif1.0"))
        .file(proxy_arp("vif1.0"), "0\n");
    let p = plan(
        "online",
        &[("ip", "192.0.2.60 10.1.0.0/24")],
        &["firewall=none"],
        &host,
    )
    .unwrap();
    let l = lines(&p);
    assert!(l.contains("ip link set dev vif1.0 up arp on"), "{l}");
    assert!(
        l.contains("ip addr add 192.0.2.10/32 broadcast 192.0.2.255 dev vif1.0"),
        "{l}"
    );
    assert!(
        l.contains(&format!("echo 1 > {}", proxy_arp("vif1.0"))),
        "{l}"
    );
    assert!(
        l.contains("ip route add 192.0.2.60 dev vif1.0 src 192.0.2.10 metric 2"),
        "{l}"
    );
    assert!(
        l.contains("ip route add 10.1.0.0/24 dev vif1.0 src 192.0.2.10 metric 2"),
        "{l}"
    );
}

#[test]
fn vr07_a_second_online_changes_nothing() {
    let mut vif = fresh("vif1.0");
    vif.up = true;
    let routes: Vec<crate::state::Route> = serde_json::from_str(
        r#"[{"dst":"192.0.2.60","dev":"vif1.0","scope":"link","prefsrc":"192.0.2.10","metric":2}]"#,
    )
    .unwrap();
    let host = dom0()
        .link(vif)
        .addrs(
            "vif1.0",
            vec![addr(
                r#"{"family":"inet","local":"192.0.2.10","prefixlen":32,"broadcast":"192.0.2.255","scope":"global"}"#,
            )],
        )
        .answer(Fact::Routes("vif1.0".into()), Answer::Routes(routes))
        .file(proxy_arp("vif1.0"), "1\n");
    let p = plan("online", &[("ip", "192.0.2.60")], &["firewall=none"], &host).unwrap();
    assert!(p.plan.is_empty(), "{}", lines(&p));
}

#[test]
fn ip02_an_uplink_without_an_address_is_refused_after_a_warning() {
    let host = Fixture::new()
        .link(up("eth0"))
        .link(fresh("vif1.0"))
        .tools(&["ip"]);
    let e = plan("online", &[("ip", "192.0.2.60")], &[], &host).unwrap_err();
    let Error::Noted(notes, e) = e else {
        panic!("no warning before the error: {e:?}")
    };
    assert!(notes
        .iter()
        .any(|n| matches!(n, Note::Warn(t) if t == "eth0 (the default) has no IPv4 address")));
    assert!(
        e.to_string().starts_with(
            "eth0 is not up.  Bring it up or specify another interface with netdev=<if>"
        ),
        "{e}"
    );
}

#[test]
fn the_uplink_is_the_default_routes_device_when_there_is_no_eth0() {
    let host = Fixture::new()
        .link(up("enp0s3"))
        .default_route("enp0s3")
        .addrs(
            "enp0s3",
            vec![addr(
                r#"{"family":"inet","local":"192.0.2.20","prefixlen":24}"#,
            )],
        )
        .link(fresh("vif1.0"));
    let p = plan("online", &[("ip", "192.0.2.60")], &["firewall=none"], &host).unwrap();
    assert!(lines(&p).contains("src 192.0.2.20"), "{}", lines(&p));
}

#[test]
fn vr02_offline_removes_the_routes_even_when_the_uplink_lost_its_address() {
    let mut vif = fresh("vif1.0");
    vif.up = true;
    let routes: Vec<crate::state::Route> = serde_json::from_str(
        r#"[{"dst":"192.0.2.60","dev":"vif1.0","scope":"link","metric":2},
            {"dst":"198.51.100.0/24","dev":"vif1.0","scope":"link"}]"#,
    )
    .unwrap();
    let host = Fixture::new()
        .link(up("eth0"))
        .link(vif)
        .answer(Fact::Routes("vif1.0".into()), Answer::Routes(routes))
        .addrs(
            "vif1.0",
            vec![addr(
                r#"{"family":"inet","local":"192.0.2.10","prefixlen":32}"#,
            )],
        )
        .file(proxy_arp("vif1.0"), "1\n");
    let p = plan(
        "offline",
        &[("ip", "192.0.2.60")],
        &["firewall=none"],
        &host,
    )
    .unwrap();
    let l = lines(&p);
    assert!(l.contains("ip route del 192.0.2.60 dev vif1.0"), "{l}");
    assert!(
        !l.contains("198.51.100.0"),
        "a route not the guest's stays: {l}"
    );
    assert!(l.contains("ip addr del 192.0.2.10/32 dev vif1.0"), "{l}");
    assert!(
        l.contains(&format!("echo 0 > {}", proxy_arp("vif1.0"))),
        "{l}"
    );
    // The uplink was not even looked at.
    assert!(!host.asked().contains(&Fact::Addrs("eth0".into())));
}

#[test]
fn offline_removes_by_name_what_it_cannot_list() {
    let mut vif = fresh("vif1.0");
    vif.up = true;
    let failed = || Answer::Failed {
        msg: "ip failed".into(),
        missing_tool: false,
    };
    let host = Fixture::new()
        .link(vif)
        .answer(Fact::Routes("vif1.0".into()), failed())
        .answer(Fact::Addrs("vif1.0".into()), failed());
    let p = plan(
        "offline",
        &[("ip", "192.0.2.60")],
        &["firewall=none"],
        &host,
    )
    .unwrap();
    let l = lines(&p);
    assert!(
        l.contains("ip route del 192.0.2.60 dev vif1.0 || failed=1"),
        "{l}"
    );
    assert!(l.contains("ip -4 addr flush dev vif1.0"), "{l}");
    assert!(p
        .notes
        .iter()
        .any(|n| matches!(n, Note::Warn(t) if t.contains("cannot list the routes"))));
}

#[test]
fn online_without_ip_warns_that_the_guest_is_unreachable() {
    let host = dom0().link(fresh("vif1.0"));
    let p = plan("online", &[], &["firewall=none"], &host).unwrap();
    assert!(!lines(&p).contains("ip route add"));
    assert!(p
        .notes
        .iter()
        .any(|n| matches!(n, Note::Warn(t) if t.contains("no ip= is set"))));
}

#[test]
fn a_tap_gets_metric_1() {
    let env = [
        ("INTERFACE", "vif1.0-emu"),
        ("XENBUS_PATH", "backend/vif/1/0"),
    ];
    let c = vif_ctx_with(
        "vif-route",
        &["add", "type_if=tap"],
        &env,
        &[("ip", "192.0.2.60")],
    );
    let host = dom0().link(fresh("vif1.0-emu"));
    let i = inv("vif-route", &["add", "type_if=tap", "firewall=none"], &env);
    let p = plan_vif("vif-route", &c, &i, &host).unwrap();
    assert!(lines(&p).contains("metric 1"), "{}", lines(&p));
}

#[test]
fn with_nftables_the_routed_vif_gets_elements_in_the_inet_table() {
    let host = dom0().link(fresh("vif1.0"));
    let p = plan(
        "online",
        &[("ip", "192.0.2.60")],
        &["firewall=nftables", "antispoof=yes"],
        &host,
    )
    .unwrap();
    let l = lines(&p);
    assert!(
        l.contains("add element inet xen_netscripts vif_verdicts { 7 : jump vif_checked }"),
        "{l}"
    );
    assert!(l.contains("vif_ips4 { 7 . 192.0.2.60 }"), "{l}");
}

// ---------------------------------------------------------------------------------------------
// the uplink's address, metrics, IPv6, offline's fallbacks, taps, renames, hooks.

use super::network_bridge_captured::{cmds, step, undo_of};
use crate::plan::{Action, OnError};

fn tap(
    command: &str,
    keys: &[(&str, &str)],
    args: &[&str],
    host: &Fixture,
) -> crate::error::Result<crate::error::Planned> {
    let mut words = vec![command, "type_if=tap"];
    words.extend_from_slice(args);
    let c = vif_ctx_with("vif-route", &words, TAP_ENV, keys);
    plan_vif("vif-route", &c, &inv("vif-route", &words, TAP_ENV), host)
}

#[test]
fn vr03_vr06_online_in_order_with_undos_and_the_success_line() {
    let host = dom0()
        .link(fresh("vif1.0"))
        .file(proxy_arp("vif1.0"), "0\n");
    let p = plan("online", &[("ip", "192.0.2.60")], &["firewall=none"], &host).unwrap();
    assert_eq!(
        cmds(&p),
        [
            // Proxy ARP first, so that the ip changes and the route share one ip -batch.
            format!("echo 1 > {}", proxy_arp("vif1.0")),
            "ip link set dev vif1.0 up arp on".to_string(),
            "ip addr add 192.0.2.10/32 broadcast 192.0.2.255 dev vif1.0".to_string(),
            "ip route add 192.0.2.60 dev vif1.0 src 192.0.2.10 metric 2".to_string(),
        ]
    );
    assert_eq!(
        undo_of(&p, "route 192.0.2.60 to vif1.0").as_deref(),
        Some("ip route del 192.0.2.60 dev vif1.0 metric 2")
    );
    assert_eq!(
        undo_of(
            &p,
            "ip addr add 192.0.2.10/32 broadcast 192.0.2.255 dev vif1.0"
        )
        .as_deref(),
        Some("ip addr del 192.0.2.10/32 dev vif1.0")
    );
    assert_eq!(
        undo_of(&p, "ip link set dev vif1.0 up arp on").as_deref(),
        Some("ip link set dev vif1.0 down")
    );
    assert_eq!(p.done, "Successful vif-route online for vif1.0.");
}

#[test]
fn ip01_the_address_is_the_uplinks_first_primary_ipv4_one() {
    let host = Fixture::new()
        .link(up("eth0"))
        .addrs(
            "eth0",
            vec![
                addr(r#"{"family":"inet6","local":"2001:db8::10","prefixlen":64}"#),
                addr(r#"{"family":"inet","local":"198.51.100.7","prefixlen":24,"secondary":true}"#),
                addr(r#"{"family":"inet","local":"172.16.5.4","prefixlen":16}"#),
                addr(r#"{"family":"inet","local":"172.16.5.5","prefixlen":16}"#),
            ],
        )
        .link(fresh("vif1.0"));
    let p = plan("online", &[("ip", "172.16.9.9")], &["firewall=none"], &host).unwrap();
    let l = lines(&p);
    // ifconfig's classful broadcast of a class B address (VR-03's state).
    assert!(
        l.contains("ip addr add 172.16.5.4/32 broadcast 172.16.255.255 dev vif1.0"),
        "{l}"
    );
    assert!(l.contains("src 172.16.5.4 metric 2"), "{l}");
}

#[test]
fn vr01_netdev_from_the_environment_is_the_uplink_as_libxl_passes_gatewaydev() {
    let host = dom0()
        .link(up("eth1"))
        .addrs(
            "eth1",
            vec![addr(
                r#"{"family":"inet","local":"198.51.100.2","prefixlen":24}"#,
            )],
        )
        .link(fresh("vif1.0"));
    let env = [
        ("vif", "vif1.0"),
        ("XENBUS_PATH", "backend/vif/1/0"),
        ("netdev", "eth1"),
    ];
    let words = ["online", "type_if=vif", "firewall=none"];
    let c = vif_ctx_with("vif-route", &words, &env, &[("ip", "198.51.100.60")]);
    let p = plan_vif("vif-route", &c, &inv("vif-route", &words, &env), &host).unwrap();
    assert!(
        lines(&p).contains("ip route add 198.51.100.60 dev vif1.0 src 198.51.100.2 metric 2"),
        "{}",
        lines(&p)
    );
    // An empty netdev (libxl's when no gatewaydev is set) means the default, eth0.
    let env = [
        ("vif", "vif1.0"),
        ("XENBUS_PATH", "backend/vif/1/0"),
        ("netdev", ""),
    ];
    let p = plan_vif("vif-route", &c, &inv("vif-route", &words, &env), &host).unwrap();
    assert!(
        lines(&p).contains("src 192.0.2.10 metric 2"),
        "{}",
        lines(&p)
    );
}

#[test]
fn ip02_a_named_uplink_without_an_address_is_named_in_the_warning_and_the_error() {
    let host = dom0().link(up("eth1")).link(fresh("vif1.0"));
    let e = plan("online", &[("ip", "192.0.2.60")], &["netdev=eth1"], &host).unwrap_err();
    let (notes, e) = e.split();
    assert_eq!(
        warnings(&notes),
        ["eth1 (argument netdev=) has no IPv4 address"]
    );
    assert!(matches!(e, Error::Refused(_)));
    assert_eq!(
        e.to_string(),
        "eth1 is not up.  Bring it up or specify another interface with netdev=<if> as a parameter to vif-route."
    );
    // An uplink that does not exist at all is reported the same way.
    let e = plan("online", &[("ip", "192.0.2.60")], &["netdev=eth7"], &host).unwrap_err();
    assert!(sentence(e).starts_with("eth7 is not up."));
}

#[test]
fn ip02_the_uplink_is_checked_before_the_vif() {
    // No vif and no address: the uplink is what is reported.
    let host = Fixture::new().link(up("eth0")).tools(&["ip"]);
    let e = plan("online", &[("ip", "192.0.2.60")], &[], &host).unwrap_err();
    assert!(sentence(e).starts_with("eth0 is not up."));
    // An uplink with an address but no vif: the vif is.
    let host = host.addrs(
        "eth0",
        vec![addr(
            r#"{"family":"inet","local":"192.0.2.10","prefixlen":24}"#,
        )],
    );
    let e = plan("online", &[("ip", "192.0.2.60")], &[], &host).unwrap_err();
    assert!(sentence(e).starts_with("vif1.0 does not exist"));
}

#[test]
fn vr05_the_vifs_route_is_added_beside_the_taps_of_metric_1() {
    let mut vif = fresh("vif1.0");
    vif.up = true;
    let host = dom0()
        .link(vif)
        .addrs(
            "vif1.0",
            vec![addr(
                r#"{"family":"inet","local":"192.0.2.10","prefixlen":32}"#,
            )],
        )
        .answer(
            Fact::Routes("vif1.0".into()),
            routes(r#"[{"dst":"192.0.2.60","dev":"vif1.0","scope":"link","metric":1}]"#),
        )
        .file(proxy_arp("vif1.0"), "1\n");
    let p = plan("online", &[("ip", "192.0.2.60")], &["firewall=none"], &host).unwrap();
    assert_eq!(
        cmds(&p),
        ["ip route add 192.0.2.60 dev vif1.0 src 192.0.2.10 metric 2"]
    );
}

#[test]
fn vr06_an_ipv6_guest_address_gets_an_ipv6_route_without_src() {
    let host = dom0().link(fresh("vif1.0"));
    let p = plan(
        "online",
        &[("ip", "192.0.2.60 2001:db8::60 2001:db8:1::/64")],
        &["firewall=none"],
        &host,
    )
    .unwrap();
    let l = lines(&p);
    assert!(
        l.contains("ip -6 route add 2001:db8::60 dev vif1.0 metric 2\n"),
        "{l}"
    );
    assert!(
        l.contains("ip -6 route add 2001:db8:1::/64 dev vif1.0 metric 2\n"),
        "{l}"
    );
    // Only dom0's IPv4 address goes on the vif.
    assert_eq!(
        cmds(&p)
            .iter()
            .filter(|c| c.starts_with("ip addr add"))
            .count(),
        1,
        "{l}"
    );
}

#[test]
fn vr06_a_network_is_routed_by_its_network_address() {
    let host = dom0().link(fresh("vif1.0"));
    let p = plan(
        "online",
        &[("ip", "10.1.0.5/24")],
        &["firewall=none"],
        &host,
    )
    .unwrap();
    assert!(
        lines(&p).contains("ip route add 10.1.0.0/24 dev vif1.0 src 192.0.2.10 metric 2"),
        "{}",
        lines(&p)
    );
}

#[test]
fn vr08_vif_route_never_touches_forwarding_or_the_uplinks_proxy_arp() {
    let host = dom0()
        .link(fresh("vif1.0"))
        .file(crate::sysctl::ip_forward(), "0\n");
    for command in ["online", "offline"] {
        let p = plan(
            command,
            &[("ip", "192.0.2.60")],
            &["firewall=iptables"],
            &host,
        )
        .unwrap();
        let l = lines(&p);
        assert!(
            !l.contains("ip_forward") && !l.contains(&proxy_arp("eth0")),
            "{command}: {l}"
        );
    }
    assert!(!host
        .asked()
        .contains(&Fact::File(crate::sysctl::ip_forward().into())));
}

#[test]
fn vr03_proxy_arp_already_on_is_left_alone() {
    let host = dom0()
        .link(fresh("vif1.0"))
        .file(proxy_arp("vif1.0"), "1\n");
    let p = plan("online", &[("ip", "192.0.2.60")], &["firewall=none"], &host).unwrap();
    assert!(!lines(&p).contains("proxy_arp"), "{}", lines(&p));
}

#[test]
fn vr04_remove_of_a_tap_takes_its_routes_of_any_metric_and_its_address_away() {
    let mut t = fresh("vif1.0-emu");
    t.up = true;
    let host = dom0()
        .link(t)
        .answer(
            Fact::Routes("vif1.0-emu".into()),
            routes(r#"[{"dst":"192.0.2.60","dev":"vif1.0-emu","scope":"link","prefsrc":"192.0.2.10","metric":1}]"#),
        )
        .addrs(
            "vif1.0-emu",
            vec![addr(r#"{"family":"inet","local":"192.0.2.10","prefixlen":32}"#)],
        );
    let p = tap("remove", &[("ip", "192.0.2.60")], &["firewall=none"], &host).unwrap();
    assert_eq!(
        cmds(&p),
        [
            "ip route del 192.0.2.60 dev vif1.0-emu scope link src 192.0.2.10 metric 1".to_string(),
            "ip addr del 192.0.2.10/32 dev vif1.0-emu".to_string(),
            "ip link set dev vif1.0-emu down".to_string(),
            format!("echo 0 > {}", proxy_arp("vif1.0-emu")),
        ]
    );
    assert_eq!(p.done, "Successful vif-route remove for vif1.0-emu.");
    assert!(p
        .plan
        .steps
        .iter()
        .filter(|s| s.what.starts_with("remove"))
        .all(|s| s.on_error == OnError::Collect));
}

#[test]
fn vr05_add_of_a_tap_gives_it_the_address_and_routes_of_metric_1() {
    let host = dom0().link(fresh("vif1.0-emu"));
    let p = tap("add", &[("ip", "192.0.2.60")], &["firewall=none"], &host).unwrap();
    assert_eq!(
        cmds(&p)[1..3],
        [
            "ip link set dev vif1.0-emu up arp on",
            "ip addr add 192.0.2.10/32 broadcast 192.0.2.255 dev vif1.0-emu"
        ]
    );
    assert!(lines(&p).contains("ip route add 192.0.2.60 dev vif1.0-emu src 192.0.2.10 metric 1"));
    assert!(p.frontend_keys.is_empty());
}

#[test]
fn vr02_offline_of_a_vif_already_gone_removes_its_rules_only() {
    let host = Fixture::new()
        .link(up("eth0"))
        .tools(&["ip", "iptables", "iptables-save"])
        .iptables(
            "filter",
            "-A FORWARD -m physdev --physdev-out vif1.0 --physdev-is-bridged -j ACCEPT\n",
        );
    let p = plan(
        "offline",
        &[("ip", "192.0.2.60")],
        &["firewall=iptables"],
        &host,
    )
    .unwrap();
    let l = lines(&p);
    assert!(
        !l.contains("ip route") && !l.contains("ip addr") && !l.contains("ip link"),
        "{l}"
    );
    assert!(
        l.contains("-D FORWARD -m physdev --physdev-out vif1.0"),
        "{l}"
    );
    assert!(debugs(&p.notes).contains(&"vif1.0 is already gone"));
}

#[test]
fn kp16_offline_leaves_another_guests_link_alone() {
    let mut other = fresh("web0");
    other.up = true;
    other.alias = "vif2.0".into();
    let host = dom0().link(other).answer(
        Fact::Routes("web0".into()),
        routes(r#"[{"dst":"192.0.2.60","dev":"web0","scope":"link","metric":2}]"#),
    );
    let p = plan(
        "offline",
        &[("ip", "192.0.2.60"), ("vifname", "web0")],
        &["firewall=iptables"],
        &host,
    )
    .unwrap();
    assert!(p.plan.is_empty(), "{}", lines(&p));
    assert!(warnings(&p.notes).contains(&"web0 belongs to vif2.0, not to vif1.0: left alone"));
}

#[test]
fn offline_removes_by_name_the_routes_it_cannot_list_and_what_it_can_as_listed() {
    let mut vif = fresh("vif1.0");
    vif.up = true;
    let host = Fixture::new()
        .link(vif)
        .answer(Fact::Routes("vif1.0".into()), failed_read())
        .addrs(
            "vif1.0",
            vec![addr(
                r#"{"family":"inet","local":"192.0.2.10","prefixlen":32}"#,
            )],
        );
    let p = plan(
        "offline",
        &[("ip", "192.0.2.60 10.1.0.5/24")],
        &["firewall=none"],
        &host,
    )
    .unwrap();
    let c = cmds(&p);
    assert_eq!(c[0], "ip route del 192.0.2.60 dev vif1.0");
    assert_eq!(c[1], "ip route del 10.1.0.0/24 dev vif1.0");
    assert_eq!(c[2], "ip addr del 192.0.2.10/32 dev vif1.0");
    assert_eq!(
        step(
            &p,
            "remove route 192.0.2.60 from vif1.0 (the routes could not be listed)"
        )
        .on_error,
        OnError::Collect
    );
    assert_eq!(
        warnings(&p.notes),
        ["cannot list the routes of vif1.0: ip failed"]
    );
}

#[test]
fn vc07_online_renames_and_reads_nothing_of_the_new_name() {
    let host = dom0().link(fresh("vif1.0"));
    let p = plan(
        "online",
        &[("ip", "192.0.2.60"), ("vifname", "web0")],
        &["firewall=none"],
        &host,
    )
    .unwrap();
    let c = cmds(&p);
    assert_eq!(c[0], "ip link set dev vif1.0 name web0 alias vif1.0");
    assert_eq!(c[1], format!("echo 1 > {}", proxy_arp("web0")));
    assert_eq!(c[2], "ip link set dev web0 up arp on");
    // A renamed link has no proxy ARP yet: it is set, and its undo turns it off.
    assert_eq!(
        undo_of(&p, "turn proxy ARP on on web0"),
        Some(format!("echo 0 > {}", proxy_arp("web0")))
    );
    let asked = host.asked();
    for f in [
        Fact::Addrs("web0".into()),
        Fact::Routes("web0".into()),
        Fact::File(proxy_arp("web0").into()),
    ] {
        assert!(!asked.contains(&f), "{f:?} read: {asked:?}");
    }
    assert_eq!(p.done, "Successful vif-route online for web0.");
}

#[test]
fn hk02_hooks_see_main_ip_and_netdev_online_and_no_main_ip_offline() {
    let dir = crate::paths::script_dir().join("vif-post.d");
    let mut vif = fresh("vif1.0");
    vif.up = true;
    let host = dom0().link(vif).answer(
        Fact::Executables(dir.clone(), "hook".into()),
        Answer::Paths(vec![dir.join("10-route.hook")]),
    );
    let env_of = |p: &crate::error::Planned| {
        let Action::Run(c) = &p.plan.steps.last().unwrap().action else {
            panic!()
        };
        c.env.clone()
    };
    let p = plan("online", &[("ip", "192.0.2.60")], &["firewall=none"], &host).unwrap();
    let env = env_of(&p);
    for (k, v) in [
        ("main_ip", "192.0.2.10"),
        ("netdev", "eth0"),
        ("ip", "192.0.2.60"),
    ] {
        assert!(
            env.contains(&(k.to_string(), v.to_string())),
            "{k}: {env:?}"
        );
    }
    let p = plan(
        "offline",
        &[("ip", "192.0.2.60")],
        &["firewall=none"],
        &host,
    )
    .unwrap();
    let env = env_of(&p);
    assert!(
        env.contains(&("main_ip".to_string(), String::new())),
        "{env:?}"
    );
    assert!(
        env.contains(&("command".to_string(), "offline".to_string())),
        "{env:?}"
    );
    assert_eq!(p.plan.steps.last().unwrap().on_error, OnError::Collect);
}

#[test]
fn with_iptables_the_routed_vif_gets_the_originals_rules() {
    let host = dom0().link(fresh("vif1.0"));
    let p = plan(
        "online",
        &[("ip", "192.0.2.60")],
        &["firewall=iptables"],
        &host,
    )
    .unwrap();
    let l = lines(&p);
    assert!(
        l.contains("-I FORWARD -m physdev --physdev-is-bridged --physdev-in vif1.0 -s 192.0.2.60 -j ACCEPT"),
        "{l}"
    );
    assert_eq!(
        step(&p, "set the iptables rules of vif1.0").lock,
        Some("iptables")
    );
}

#[test]
fn vlan_is_refused_in_routed_mode_and_offline_still_cleans_up() {
    let host = dom0().link(fresh("vif1.0"));
    let e = plan(
        "online",
        &[("ip", "192.0.2.60"), ("vlan", "10")],
        &["firewall=none"],
        &host,
    )
    .unwrap_err();
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    let m = sentence(e);
    assert!(
        m.starts_with("vif1.0 asks for VLANs vlan=10 (from xenstore key backend/vif/1/0/vlan), but vif-route routes")
            && m.contains("script=vif-bridge"),
        "{m}"
    );
    let mut vif = fresh("vif1.0");
    vif.up = true;
    let p = plan(
        "offline",
        &[("ip", "192.0.2.60"), ("vlan", "10")],
        &["firewall=none"],
        &dom0().link(vif),
    )
    .unwrap();
    assert!(lines(&p).contains("ip link set dev vif1.0 down"));
}

#[test]
fn online_and_offline_purge_the_connections_of_the_guests_addresses_and_networks() {
    let tracking = |h: Fixture| {
        h.file(crate::conntrack::count_path(), "2\n")
            .tools(&["conntrack"])
    };
    let keys = [("ip", "192.0.2.60 10.1.0.5/24")];
    let host = tracking(dom0().link(fresh("vif1.0")));
    let p = plan("online", &keys, &["firewall=none"], &host).unwrap();
    let l = lines(&p);
    assert!(
        l.ends_with(
            "conntrack -R - <<'EOF'\n-D -s 192.0.2.60\n-D -d 192.0.2.60\n-D -r 192.0.2.60\n\
             -D -s 10.1.0.0/24\n-D -d 10.1.0.0/24\nEOF\n"
        ),
        "{l}"
    );
    let mut vif = fresh("vif1.0");
    vif.up = true;
    let p = plan(
        "offline",
        &keys,
        &["firewall=none"],
        &tracking(dom0().link(vif)),
    )
    .unwrap();
    let l = lines(&p);
    assert!(
        l.find("ip link set dev vif1.0 down").unwrap() < l.find("conntrack -R -").unwrap(),
        "{l}"
    );
    assert!(l.contains("conntrack -R - <<'EOF'\n-D -s 192.0.2.60\n") && l.contains("|| failed=1"));
}
