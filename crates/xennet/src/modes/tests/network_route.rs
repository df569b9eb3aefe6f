//! network-route's planner (spec §10): forwarding and proxy ARP on, and back as they were.

use crate::error::Outcome;
use crate::fixture::testing::*;
use crate::sysctl;

fn record() -> std::path::PathBuf {
    crate::paths::state_dir().join("network-route.eth0.before")
}

#[test]
fn nr03_start_turns_forwarding_and_proxy_arp_on_and_remembers_them() {
    let host = dom0()
        .file(sysctl::ip_forward(), "0\n")
        .file(sysctl::proxy_arp("eth0"), "0\n");
    let Outcome::Plan(p) = plan_host(
        "network-route",
        true,
        &inv("network-route", &["start"], &[]),
        &host,
    )
    .unwrap() else {
        panic!("nothing planned")
    };
    let l = lines(&p);
    assert!(
        l.contains(&format!("echo 1 > {}", sysctl::ip_forward())),
        "{l}"
    );
    assert!(
        l.contains(&format!("echo 1 > {}", sysctl::proxy_arp("eth0"))),
        "{l}"
    );
    assert!(
        l.contains("ip_forward=0"),
        "the record keeps what was found: {l}"
    );
    assert_eq!(
        p.intro.as_deref(),
        Some("network-route: netdev=eth0 (the default)")
    );
}

#[test]
fn a_second_start_and_a_stop_without_start_do_nothing() {
    let host = dom0()
        .file(sysctl::ip_forward(), "1\n")
        .file(sysctl::proxy_arp("eth0"), "1\n")
        .file(record(), "ip_forward=0\nproxy_arp=0\n");
    assert!(matches!(
        plan_host("network-route", true, &inv("network-route", &["start"], &[]), &host).unwrap(),
        Outcome::Nothing(m) if m.ends_with("already started")
    ));
    let fresh = dom0().file(sysctl::ip_forward(), "0\n");
    assert!(matches!(
        plan_host("network-route", false, &inv("network-route", &["stop"], &[]), &fresh).unwrap(),
        Outcome::Nothing(m) if m.contains("not started by network-route")
    ));
}

#[test]
fn nr05_stop_puts_back_what_start_found() {
    let host = dom0()
        .file(sysctl::ip_forward(), "1\n")
        .file(sysctl::proxy_arp("eth0"), "1\n")
        .file(record(), "ip_forward=0\nproxy_arp=1\n");
    let Outcome::Plan(p) = plan_host(
        "network-route",
        false,
        &inv("network-route", &["stop"], &[]),
        &host,
    )
    .unwrap() else {
        panic!()
    };
    let l = lines(&p);
    assert!(
        l.contains(&format!("echo 0 > {}", sysctl::ip_forward())),
        "{l}"
    );
    assert!(!l.contains("proxy_arp'"), "proxy ARP was on before: {l}");
    assert!(l.contains("rm -f"), "{l}");
}

#[test]
fn nr04_an_uplink_that_does_not_exist_is_refused() {
    let host = dom0();
    let e = plan_host(
        "network-route",
        true,
        &inv("network-route", &["start", "netdev=eth7"], &[]),
        &host,
    )
    .unwrap_err();
    assert!(sentence(e).starts_with("netdev eth7 does not exist (argument netdev=;"));
}
