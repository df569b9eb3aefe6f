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
fn with_nftables_the_routed_vif_gets_a_chain_in_the_inet_table() {
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
        l.contains("add chain inet xen_netscripts dev_vif1.0"),
        "{l}"
    );
    assert!(l.contains("ip saddr { 192.0.2.60 } accept"), "{l}");
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
