//! network-nat's planner (spec §9): forwarding, masquerading and no inbound connections, in
//! iptables or (without it) nftables; stop removes exactly what start added.

use crate::error::{Error, Outcome};
use crate::fixture::testing::*;
use crate::fixture::Fixture;
use crate::snapshot::Fact;
use crate::sysctl;

fn record() -> std::path::PathBuf {
    crate::paths::state_dir().join("network-nat.eth0.json")
}

fn start(host: &Fixture, args: &[&str]) -> crate::error::Result<Outcome> {
    let mut words = vec!["start", "dhcp=no"];
    words.extend_from_slice(args);
    plan_host("network-nat", true, &inv("network-nat", &words, &[]), host)
}

fn stop(host: &Fixture) -> crate::error::Result<Outcome> {
    plan_host(
        "network-nat",
        false,
        &inv("network-nat", &["stop", "dhcp=no"], &[]),
        host,
    )
}

#[test]
fn nn05_start_with_iptables_forwards_masquerades_and_refuses_inbound() {
    let host = dom0().file(sysctl::ip_forward(), "0\n");
    let Outcome::Plan(p) = start(&host, &[]).unwrap() else {
        panic!()
    };
    let l = lines(&p);
    assert!(
        l.contains("iptables -w -t nat -A POSTROUTING -o eth0 -j MASQUERADE"),
        "{l}"
    );
    assert!(
        l.contains("iptables -w -A FORWARD -i eth0 -m conntrack --ctstate NEW -j DROP"),
        "{l}"
    );
    assert!(
        l.contains(&format!("echo 1 > {}", sysctl::ip_forward())),
        "{l}"
    );
    assert!(
        l.contains("\"firewall\":\"iptables\""),
        "the record says which firewall: {l}"
    );
}

#[test]
fn nn06_an_existing_rule_is_not_added_again() {
    let host = dom0()
        .file(sysctl::ip_forward(), "1\n")
        .iptables("nat", "-A POSTROUTING -o eth0 -j MASQUERADE\n")
        .iptables(
            "filter",
            "-A FORWARD -i eth0 -m conntrack --ctstate NEW -j DROP\n",
        );
    assert!(
        matches!(start(&host, &[]).unwrap(), Outcome::Nothing(m) if m.ends_with("already started"))
    );
}

#[test]
fn without_iptables_the_rules_go_to_nftables() {
    let host = Fixture::new()
        .ip_links(include_str!("../../fixtures/dom0-links.json"))
        .ip_addrs(include_str!("../../fixtures/dom0-addrs.json"))
        .default_route("eth0")
        .tools(&["ip", "nft"])
        .file(sysctl::ip_forward(), "0\n");
    let Outcome::Plan(p) = start(&host, &[]).unwrap() else {
        panic!()
    };
    let l = lines(&p);
    assert!(
        l.contains("meta nfproto ipv4 oifname \"eth0\" masquerade"),
        "{l}"
    );
    assert!(
        l.contains("meta nfproto ipv4 iifname \"eth0\" ct state new drop"),
        "{l}"
    );
    assert!(!l.contains("iptables"), "{l}");
    assert!(l.contains("\"firewall\":\"nftables\""), "{l}");
    assert!(!host.asked().iter().any(|f| matches!(f, Fact::Iptables(_))));
}

#[test]
fn nn08_stop_removes_exactly_what_start_added_where_it_was() {
    let host = dom0()
        .file(sysctl::ip_forward(), "1\n")
        .file(
            record(),
            r#"{"ip_forward_before":"0","masquerade_added":true,"inbound_drop_added":false,"subnet_added":false,"firewall":"iptables"}"#,
        )
        .iptables(
            "nat",
            "-A POSTROUTING -o eth1 -j MASQUERADE\n-A POSTROUTING -o eth0 -j MASQUERADE\n",
        )
        .iptables("filter", "-A FORWARD -i eth0 -m conntrack --ctstate NEW -j DROP\n");
    let Outcome::Plan(p) = stop(&host).unwrap() else {
        panic!()
    };
    let l = lines(&p);
    assert!(
        l.contains("iptables -w -t nat -D POSTROUTING -o eth0 -j MASQUERADE"),
        "{l}"
    );
    // The inbound drop was the administrator's: it stays.
    assert!(!l.contains("--ctstate NEW -j DROP"), "{l}");
    let masq = p
        .plan
        .steps
        .iter()
        .find(|s| s.what.contains("stop masquerading"))
        .unwrap();
    let Some(crate::plan::Action::RunUnless { cmd, .. }) = &masq.undo else {
        panic!()
    };
    assert_eq!(
        cmd.line(),
        "iptables -w -t nat -I POSTROUTING 2 -o eth0 -j MASQUERADE"
    );
    assert!(
        l.contains(&format!("echo 0 > {}", sysctl::ip_forward())),
        "{l}"
    );
}

#[test]
fn stop_of_an_nftables_start_removes_its_chains_and_the_table_if_unused() {
    let host = dom0()
        .file(sysctl::ip_forward(), "1\n")
        .file(
            record(),
            r#"{"ip_forward_before":"0","masquerade_added":true,"inbound_drop_added":true,"subnet_added":false,"firewall":"nftables"}"#,
        )
        .file(crate::firewall::nftables::members_dir(crate::firewall::Family::Inet).join("nat.eth0"), "1\n");
    let Outcome::Plan(p) = stop(&host).unwrap() else {
        panic!()
    };
    let l = lines(&p);
    assert!(
        l.contains("delete chain inet xen_netscripts nat_out_eth0"),
        "{l}"
    );
    assert!(l.contains("delete table inet xen_netscripts"), "{l}");
}

#[test]
fn ip02_an_uplink_without_an_address_is_refused() {
    let host = Fixture::new()
        .link(super::up("eth0"))
        .default_route("eth0")
        .tools(&["ip", "iptables"]);
    let e = start(&host, &[]).unwrap_err();
    assert!(matches!(e, Error::Noted(..)));
    assert!(sentence(e).starts_with("eth0 is not up."));
}

#[test]
fn nn03_dhcp_without_dhcpd_is_refused() {
    let host = dom0();
    let e = plan_host(
        "network-nat",
        true,
        &inv("network-nat", &["start", "dhcp=yes"], &[]),
        &host,
    )
    .unwrap_err();
    assert!(sentence(e).contains("install isc-dhcp-server, or set dhcp=no"));
}

#[test]
fn stop_without_start_does_nothing() {
    assert!(
        matches!(stop(&dom0()).unwrap(), Outcome::Nothing(m) if m.contains("not started by network-nat"))
    );
}
