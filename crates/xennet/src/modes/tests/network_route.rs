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

// ---------------------------------------------------------------------------------------------
// the uplink's choice, the record, stop's restore, nothing to do, what is read.

use super::network_bridge_captured::{cmds, step, undo_of};
use crate::error::{Error, Planned};
use crate::facts::Fact;
use crate::fixture::Fixture;
use crate::plan::Action;

fn planned(o: Outcome) -> Planned {
    match o {
        Outcome::Plan(p) => p,
        Outcome::Nothing(m) => panic!("nothing planned: {m}"),
    }
}

fn nothing(o: Outcome) -> String {
    match o {
        Outcome::Nothing(m) => m,
        Outcome::Plan(p) => panic!("planned:\n{}", lines(&p)),
    }
}

fn run(start: bool, args: &[&str], host: &Fixture) -> crate::error::Result<Outcome> {
    let mut words = vec![if start { "start" } else { "stop" }];
    words.extend_from_slice(args);
    plan_host(
        "network-route",
        start,
        &inv("network-route", &words, &[]),
        host,
    )
}

fn record_of(netdev: &str) -> std::path::PathBuf {
    crate::paths::state_dir().join(format!("network-route.{netdev}.before"))
}

#[test]
fn nr02_start_records_first_then_forwarding_then_proxy_arp_each_undone_to_what_it_was() {
    let host = dom0()
        .file(sysctl::ip_forward(), "0\n")
        .file(sysctl::proxy_arp("eth0"), "0\n");
    let p = planned(run(true, &[], &host).unwrap());
    assert_eq!(
        p.plan.steps[0].action,
        Action::WriteFile {
            path: record().display().to_string(),
            value: "ip_forward=0\nproxy_arp=0".into()
        }
    );
    assert_eq!(
        p.plan.steps[0].undo,
        Some(Action::RemoveFile {
            path: record().display().to_string()
        })
    );
    assert_eq!(
        cmds(&p)[1..],
        [
            format!("echo 1 > {}", sysctl::ip_forward()),
            format!("echo 1 > {}", sysctl::proxy_arp("eth0")),
        ]
    );
    assert_eq!(
        undo_of(&p, "turn IPv4 forwarding on"),
        Some(format!("echo 0 > {}", sysctl::ip_forward()))
    );
    assert_eq!(
        undo_of(&p, "turn proxy ARP on on eth0"),
        Some(format!("echo 0 > {}", sysctl::proxy_arp("eth0")))
    );
}

#[test]
fn nr02_forwarding_already_on_is_left_and_recorded_as_it_was() {
    let host = dom0()
        .file(sysctl::ip_forward(), "1\n")
        .file(sysctl::proxy_arp("eth0"), "0\n");
    let p = planned(run(true, &[], &host).unwrap());
    assert_eq!(
        cmds(&p)[1..],
        [format!("echo 1 > {}", sysctl::proxy_arp("eth0"))]
    );
    let Action::WriteFile { value, .. } =
        &step(&p, "remember forwarding and proxy ARP for stop").action
    else {
        panic!()
    };
    assert_eq!(value, "ip_forward=1\nproxy_arp=0");
}

#[test]
fn nr02_without_eth0_the_uplink_is_the_default_routes_device_and_the_intro_says_so() {
    let host = Fixture::new()
        .link(super::up("enp0s3"))
        .default_route("enp0s3")
        .file(sysctl::ip_forward(), "0\n")
        .file(sysctl::proxy_arp("enp0s3"), "0\n");
    let p = planned(run(true, &[], &host).unwrap());
    assert_eq!(
        p.intro.as_deref(),
        Some("network-route: netdev=enp0s3 (the device of the default route, as there is no eth0)")
    );
    assert!(lines(&p).contains(&format!("echo 1 > {}", sysctl::proxy_arp("enp0s3"))));
    assert!(lines(&p).contains(&record_of("enp0s3").display().to_string()));
}

#[test]
fn nr02_netdev_given_is_the_uplink_and_eth0_is_not_looked_at() {
    let host = dom0()
        .file(sysctl::ip_forward(), "1\n")
        .file(sysctl::proxy_arp("eth1"), "0\n");
    let p = planned(run(true, &["netdev=eth1"], &host).unwrap());
    assert_eq!(
        p.intro.as_deref(),
        Some("network-route: netdev=eth1 (argument netdev=)")
    );
    assert!(!host.asked().contains(&Fact::Link("eth0".into())));
    assert!(!host
        .asked()
        .contains(&Fact::File(sysctl::proxy_arp("eth0").into())));
}

#[test]
fn nr04_no_eth0_and_no_default_route_is_refused_naming_eth0() {
    let host = Fixture::new().file(sysctl::ip_forward(), "0\n");
    let e = run(true, &[], &host).unwrap_err();
    assert!(matches!(e, Error::Refused(_)));
    assert_eq!(
        sentence(e),
        format!(
            "netdev eth0 does not exist (the default; {} is missing): name the uplink with netdev=<if>",
            sysctl::proxy_arp("eth0")
        )
    );
}

#[test]
fn a_start_with_both_on_but_no_record_only_records_them() {
    let host = dom0()
        .file(sysctl::ip_forward(), "1\n")
        .file(sysctl::proxy_arp("eth0"), "1\n");
    let p = planned(run(true, &[], &host).unwrap());
    assert_eq!(p.plan.steps.len(), 1, "{}", lines(&p));
    assert_eq!(
        p.plan.steps[0].what,
        "remember forwarding and proxy ARP for stop"
    );
    // So stop puts back exactly that: nothing but the record goes.
    let host = host.file(record(), "ip_forward=1\nproxy_arp=1\n");
    let p = planned(run(false, &[], &host).unwrap());
    assert_eq!(cmds(&p), [format!("rm -f {}", record().display())]);
}

#[test]
fn a_start_after_a_start_whose_settings_were_undone_by_hand_keeps_the_first_record() {
    let host = dom0()
        .file(sysctl::ip_forward(), "0\n")
        .file(sysctl::proxy_arp("eth0"), "1\n")
        .file(record(), "ip_forward=0\nproxy_arp=0\n");
    let p = planned(run(true, &[], &host).unwrap());
    assert_eq!(cmds(&p), [format!("echo 1 > {}", sysctl::ip_forward())]);
}

#[test]
fn nr05_stop_restores_both_then_forgets_the_record() {
    let host = dom0()
        .file(sysctl::ip_forward(), "1\n")
        .file(sysctl::proxy_arp("eth0"), "1\n")
        .file(record(), "ip_forward=0\nproxy_arp=0\n");
    let p = planned(run(false, &[], &host).unwrap());
    assert_eq!(
        cmds(&p),
        [
            format!("echo 0 > {}", sysctl::proxy_arp("eth0")),
            format!("echo 0 > {}", sysctl::ip_forward()),
            format!("rm -f {}", record().display()),
        ]
    );
    assert_eq!(
        undo_of(&p, "restore IPv4 forwarding"),
        Some(format!("echo 1 > {}", sysctl::ip_forward()))
    );
    assert_eq!(
        undo_of(&p, "restore proxy ARP on eth0"),
        Some(format!("echo 1 > {}", sysctl::proxy_arp("eth0")))
    );
    assert_eq!(
        p.intro.as_deref(),
        Some("network-route: netdev=eth0 (the default)")
    );
}

#[test]
fn nr05_a_record_without_a_value_restores_only_what_it_holds() {
    let host = dom0()
        .file(sysctl::ip_forward(), "1\n")
        .file(sysctl::proxy_arp("eth0"), "1\n")
        .file(record(), "ip_forward=0\n");
    let p = planned(run(false, &[], &host).unwrap());
    assert_eq!(
        cmds(&p),
        [
            format!("echo 0 > {}", sysctl::ip_forward()),
            format!("rm -f {}", record().display()),
        ]
    );
}

#[test]
fn nr05_stop_without_start_reads_no_setting() {
    let host = dom0()
        .file(sysctl::ip_forward(), "1\n")
        .file(sysctl::proxy_arp("eth0"), "1\n");
    let m = nothing(run(false, &[], &host).unwrap());
    assert_eq!(
        m,
        format!(
            "network-route: netdev=eth0 (the default): not started by network-route (no {}), nothing to undo",
            record().display()
        )
    );
    let asked = host.asked();
    assert!(
        !asked.contains(&Fact::File(sysctl::ip_forward().into()))
            && !asked.contains(&Fact::File(sysctl::proxy_arp("eth0").into())),
        "{asked:?}"
    );
}

#[test]
fn nr01_network_route_adds_no_firewall_rule() {
    let host = dom0()
        .file(sysctl::ip_forward(), "0\n")
        .file(sysctl::proxy_arp("eth0"), "0\n");
    let p = planned(run(true, &["antispoof=yes"], &host).unwrap());
    assert!(!lines(&p).contains("iptables") && !lines(&p).contains("nft"));
    assert!(!host
        .asked()
        .iter()
        .any(|f| matches!(f, Fact::Iptables(_) | Fact::Tool(_))));
}
