//! Route mode (issue 4, spec §6 and §10): network-route and vif-route on a namespace host.
//! The guests hold addresses of the LAN subnet; dom0 routes to them and answers ARP for them.

mod common;

use common::*;
use xennet_tests::*;

/// A dom0 in route mode: `network-route start`, and guests whose addresses are on the LAN
/// subnet (`192.0.2.60 + n`), each with `ip=` in its backend and `script=vif-route`.
fn route_host(name: &str, guests: u32) -> Option<(Host, Vec<Guest>)> {
    let mut h = host!(name).build()?;
    let mut gs = Vec::new();
    for domid in 1..=guests {
        let g = add_routed_guest_at(&mut h, domid);
        gs.push(g);
    }
    Some((h, gs))
}

fn lan_routes(h: &Host) -> Vec<String> {
    cmd::ip_must(&h.lan, &["route", "show"])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn nr02_vr03_guest_on_the_lan_subnet_is_reached_through_proxy_arp() {
    let Some((h, gs)) = route_host("route_proxy_arp", 2) else {
        return;
    };
    let lan_before = lan_routes(&h);
    let before = h.snapshot();
    let r = h.script("network-route").run(&["start"]);
    assert_ok(&h, &r, "network-route start");
    assert_eq!(
        snapshot::sysctl(&h.dom0, "net/ipv4/ip_forward").as_deref(),
        Some("1")
    );
    assert_eq!(
        snapshot::sysctl(&h.dom0, "net/ipv4/conf/eth0/proxy_arp").as_deref(),
        Some("1")
    );

    for g in &gs {
        let r = h.libxl("vif-route", g.domid, 0).run(ONLINE);
        assert_ok(&h, &r, "vif-route online");
        assert_eq!(
            h.hotplug_status(g.domid, 0).as_deref(),
            Some("connected"),
            "XS-04"
        );
        // VR-03: dom0's address as a /32 on the vif, up, proxy ARP on.
        assert_eq!(
            snapshot::addrs(&h.dom0, &g.vif, "inet"),
            vec!["192.0.2.10/32".to_string()]
        );
        assert!(snapshot::is_up(&h.link(&g.vif).unwrap()));
        let key = format!("net/ipv4/conf/{}/proxy_arp", g.vif);
        assert_eq!(snapshot::sysctl(&h.dom0, &key).as_deref(), Some("1"));
    }
    // VR-05/VR-06: one host route per guest, with dom0's source address and metric 2.
    let routes = cmd::ip_must(&h.dom0, &["route", "show"]);
    assert!(
        routes.contains("192.0.2.60 dev vif1.0 scope link src 192.0.2.10 metric 2"),
        "{routes}"
    );
    assert!(
        routes.contains("192.0.2.61 dev vif2.0 scope link src 192.0.2.10 metric 2"),
        "{routes}"
    );

    // The LAN host reaches the guest with no route added on its side: dom0 answers its ARP.
    assert!(
        ping_retry(&h.lan, "192.0.2.60", 5),
        "LAN host cannot reach the guest"
    );
    assert_eq!(
        lan_routes(&h),
        lan_before,
        "nothing may be added on the LAN side"
    );
    // The guest reaches the LAN host, and the two guests reach each other through dom0.
    assert!(
        ping_retry(&gs[0].ns, LAN_ADDR, 5),
        "guest cannot reach the LAN host"
    );
    assert!(
        ping_retry(&gs[0].ns, "192.0.2.61", 5),
        "guest 1 cannot reach guest 2"
    );
    assert!(
        ping_retry(&gs[1].ns, "192.0.2.60", 5),
        "guest 2 cannot reach guest 1"
    );

    // VR-07 FIX: a second online changes nothing and succeeds.
    let mid = h.snapshot();
    let r = h.libxl("vif-route", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "second vif-route online");
    assert_same(&mid, &h.snapshot(), "a second online");

    // offline removes exactly what online added; stop puts back what start found (NR-05 FIX).
    for g in &gs {
        let r = h.libxl("vif-route", g.domid, 0).run(OFFLINE);
        assert_ok(&h, &r, "vif-route offline");
    }
    assert!(!cmd::ip_must(&h.dom0, &["route", "show"]).contains("192.0.2.60"));
    let r = h.script("network-route").run(&["stop"]);
    assert_ok(&h, &r, "network-route stop");
    assert_same(&before, &h.snapshot(), "network-route start … stop");
}

#[test]
fn nr05_status_reports_and_changes_nothing_and_stop_without_start_is_harmless() {
    let Some((h, _)) = route_host("route_status", 0) else {
        return;
    };
    let before = h.snapshot();
    let r = h.script("network-route").run(&["status"]);
    assert_ok(&h, &r, "network-route status");
    assert!(r.stdout.contains("ip_forward = 0"), "{}", r.stdout);
    assert_same(&before, &h.snapshot(), "status");
    let r = h.script("network-route").run(&["stop"]);
    assert_ok(&h, &r, "stop without start");
    assert_same(&before, &h.snapshot(), "stop without start");
    let r = h.script("network-route").run(&["frobnicate"]);
    assert_failed(&h, &r, "a bad command");
    assert!(
        r.stderr.contains("Unknown command: frobnicate"),
        "{}",
        r.stderr
    );
}

#[test]
fn ip02_no_address_on_netdev_fails_cleanly() {
    let Some((h, _)) = route_host("route_ip02", 1) else {
        return;
    };
    // A link without an address (no dummy driver here: a veth pair stands in).
    cmd::ip_must(
        &h.dom0,
        &[
            "link", "add", "name", "dummy0", "type", "veth", "peer", "name", "dummy0p",
        ],
    );
    let before = h.snapshot();
    let r = h
        .libxl("vif-route", 1, 0)
        .env("netdev", "dummy0")
        .run(ONLINE);
    assert_failed(&h, &r, "vif-route online with an address-less netdev");
    let err = h.hotplug_error(1, 0).unwrap_or_default();
    assert!(
        err.starts_with("dummy0 is not up.  Bring it up or specify another interface with netdev=<if> as a parameter to "),
        "IP-02 message, naming the device: {err:?}"
    );
    assert_eq!(h.hotplug_status(1, 0).as_deref(), Some("error"));
    assert_same(&before, &h.snapshot(), "a failed online");
}

#[test]
fn vr02_offline_removes_the_routes_even_when_the_uplink_lost_its_address() {
    let Some((h, _)) = route_host("route_vr02", 1) else {
        return;
    };
    assert_ok(&h, &h.libxl("vif-route", 1, 0).run(ONLINE), "online");
    cmd::ip_must(&h.dom0, &["addr", "flush", "dev", "eth0"]);
    let r = h.libxl("vif-route", 1, 0).run(OFFLINE);
    assert_ok(&h, &r, "offline without dom0 address");
    let routes = cmd::ip_must(&h.dom0, &["route", "show"]);
    assert!(
        !routes.contains("192.0.2.60"),
        "route left behind: {routes}"
    );
}

#[test]
fn dry_run_shows_the_route_plan_and_changes_nothing() {
    let Some((h, _)) = route_host("route_dry_run", 1) else {
        return;
    };
    let before = h.snapshot();
    let r = h
        .libxl("vif-route", 1, 0)
        .run(&["online", "type_if=vif", "--dry-run"]);
    assert_ok(&h, &r, "vif-route --dry-run");
    assert!(
        r.stdout
            .contains("ip route add 192.0.2.60 dev vif1.0 src 192.0.2.10 metric 2"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("ip addr add 192.0.2.10/32 broadcast 192.0.2.255 dev vif1.0"),
        "{}",
        r.stdout
    );
    let r2 = h.script("network-route").run(&["start", "--dry-run"]);
    assert_ok(&h, &r2, "network-route --dry-run");
    assert!(r2.stdout.contains("ip_forward"), "{}", r2.stdout);
    assert_same(&before, &h.snapshot(), "--dry-run");
    assert_eq!(
        h.hotplug_status(1, 0).as_deref(),
        Some(""),
        "dry-run writes nothing to xenstore"
    );
}
