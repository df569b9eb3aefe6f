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

// ---------------------------------------------------------------------------------------------
// start in full (the record, the order, partial rules, dhcpd's subnet), the uplink, nftables
// only, the firewall choice, stop's undo positions, what is read.

use super::network_bridge_captured::{cmds, step, undo_of};
use crate::error::{Note, Planned};
use crate::plan::{Action, OnError};

const CONF: &str = "/etc/dhcp/dhcpd.conf";
const INIT: &str = "/etc/init.d/isc-dhcp-server";

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
    plan_host("network-nat", start, &inv("network-nat", &words, &[]), host)
}

/// dom0 without iptables: only nft (and ip) installed.
fn nft_only() -> Fixture {
    Fixture::new()
        .ip_links(include_str!("../../fixtures/dom0-links.json"))
        .ip_addrs(include_str!("../../fixtures/dom0-addrs.json"))
        .default_route("eth0")
        .tools(&["ip", "nft"])
        .file(sysctl::ip_forward(), "0\n")
}

fn nat_member() -> std::path::PathBuf {
    crate::firewall::nftables::members_dir(crate::firewall::Family::Inet).join("nat.eth0")
}

#[test]
fn nn05_start_writes_its_record_first_then_forwarding_then_the_rules() {
    let host = dom0().file(sysctl::ip_forward(), "0\n");
    let p = planned(start(&host, &[]).unwrap());
    assert_eq!(
        cmds(&p),
        [
            format!(
                "echo '{{\"ip_forward_before\":\"0\",\"masquerade_added\":true,\"inbound_drop_added\":true,\"subnet_added\":false,\"firewall\":\"iptables\"}}' > {}",
                record().display()
            ),
            format!("echo 1 > {}", sysctl::ip_forward()),
            "iptables -w -t nat -A POSTROUTING -o eth0 -j MASQUERADE".to_string(),
            "iptables -w -A FORWARD -i eth0 -m conntrack --ctstate NEW -j DROP".to_string(),
        ]
    );
    assert_eq!(
        undo_of(&p, "remember what start changes, for stop"),
        Some(format!("rm -f {}", record().display()))
    );
    assert_eq!(
        undo_of(&p, "turn IPv4 forwarding on"),
        Some(format!("echo 0 > {}", sysctl::ip_forward()))
    );
    assert_eq!(
        undo_of(&p, "masquerade traffic leaving eth0").as_deref(),
        Some("iptables -w -t nat -D POSTROUTING -o eth0 -j MASQUERADE")
    );
    assert_eq!(
        undo_of(&p, "refuse new connections from eth0 to the guests").as_deref(),
        Some("iptables -w -D FORWARD -i eth0 -m conntrack --ctstate NEW -j DROP")
    );
    assert_eq!(
        p.intro.as_deref(),
        Some("network-nat: netdev=eth0 (the device of the default route)")
    );
}

#[test]
fn nn06_only_the_missing_rule_is_added_and_recorded_as_ours() {
    let host = dom0()
        .file(sysctl::ip_forward(), "1\n")
        .iptables("nat", "-A POSTROUTING -o eth0 -j MASQUERADE\n");
    let p = planned(start(&host, &[]).unwrap());
    let l = lines(&p);
    assert!(!l.contains("-A POSTROUTING"), "{l}");
    assert!(
        l.contains("-A FORWARD -i eth0 -m conntrack --ctstate NEW -j DROP"),
        "{l}"
    );
    assert!(!l.contains("ip_forward'"), "{l}");
    assert!(
        l.contains(
            "\"ip_forward_before\":\"1\",\"masquerade_added\":false,\"inbound_drop_added\":true"
        ),
        "{l}"
    );
}

#[test]
fn nn06_a_masquerade_rule_of_another_uplink_does_not_count() {
    let host = dom0()
        .file(sysctl::ip_forward(), "1\n")
        .iptables("nat", "-A POSTROUTING -o eth1 -j MASQUERADE\n")
        .iptables(
            "filter",
            "-A FORWARD -i eth0 -m conntrack --ctstate NEW -j DROP\n",
        );
    let p = planned(start(&host, &[]).unwrap());
    assert!(
        lines(&p).contains("iptables -w -t nat -A POSTROUTING -o eth0 -j MASQUERADE"),
        "{}",
        lines(&p)
    );
}

#[test]
fn nn05_dhcp_adds_the_subnet_with_the_resolvers_values_and_restarts_dhcpd_with_a_warning() {
    let host = dom0()
        .file(sysctl::ip_forward(), "1\n")
        .file(CONF, "# conf\n")
        .executable(INIT)
        .file(
            crate::paths::resolv_conf(),
            "search example.org\nnameserver 192.0.2.53\n",
        );
    let p = planned(start(&host, &["dhcp=yes"]).unwrap());
    let add = step(&p, &format!("add the guests' subnet to {CONF}"));
    assert_eq!(
        add.action,
        Action::SetLine {
            path: CONF.into(),
            key: "subnet 10.0.0.0 netmask 255.255.0.0 {".into(),
            line: Some(
                "subnet 10.0.0.0 netmask 255.255.0.0 { option domain-name \"example.org\"; option domain-name-servers 192.0.2.53; }".into()
            ),
        }
    );
    assert_eq!(
        add.undo,
        Some(Action::SetLine {
            path: CONF.into(),
            key: "subnet 10.0.0.0 netmask 255.255.0.0 {".into(),
            line: None
        })
    );
    let restart = step(&p, "restart dhcpd");
    assert_eq!(restart.action.line(), format!("{INIT} restart"));
    assert!(matches!(restart.on_error, OnError::Warn(_)));
    assert!(lines(&p).contains("\"subnet_added\":true"), "{}", lines(&p));
}

#[test]
fn nn05_a_subnet_already_there_is_not_added_again() {
    let host = dom0()
        .file(sysctl::ip_forward(), "1\n")
        .file(
            CONF,
            "subnet 10.0.0.0 netmask 255.255.0.0 { option domain-name \"x\"; }\n",
        )
        .executable(INIT)
        .iptables("nat", "-A POSTROUTING -o eth0 -j MASQUERADE\n")
        .iptables(
            "filter",
            "-A FORWARD -i eth0 -m conntrack --ctstate NEW -j DROP\n",
        );
    let m = nothing(start(&host, &["dhcp=yes"]).unwrap());
    assert_eq!(
        m,
        "network-nat: netdev=eth0 (the device of the default route): already started"
    );
}

#[test]
fn nn03_stop_too_is_refused_without_dhcpd_when_dhcp_is_on() {
    let host = dom0().file(CONF, "# conf\n");
    let e = run(false, &["dhcp=yes"], &host).unwrap_err();
    assert!(matches!(e, Error::Refused(_)));
    assert_eq!(
        sentence(e),
        "Failed to find dhcpd configuration or init file. (install isc-dhcp-server, or set dhcp=no)"
    );
}

#[test]
fn nn02_dhcp_is_on_by_default_when_etc_dhcpd_conf_exists() {
    let host = dom0()
        .file(sysctl::ip_forward(), "1\n")
        .file("/etc/dhcpd.conf", "# old path\n")
        .executable("/etc/init.d/dhcpd");
    let p = planned(run(true, &[], &host).unwrap());
    assert!(
        lines(&p).contains("add the guests' subnet to /etc/dhcpd.conf"),
        "{}",
        lines(&p)
    );
    // Without the file, dhcp is off and dhcpd's files are not looked for.
    let host = dom0().file(sysctl::ip_forward(), "1\n");
    let p = planned(run(true, &[], &host).unwrap());
    assert!(!lines(&p).contains("dhcpd"), "{}", lines(&p));
    assert!(!host.asked().contains(&Fact::File(CONF.into())));
}

#[test]
fn nn02_an_empty_dhcp_takes_the_default() {
    // No /etc/dhcpd.conf: the default is off, so no dhcpd files are needed.
    let host = dom0().file(sysctl::ip_forward(), "0\n");
    let p = planned(run(true, &["dhcp="], &host).unwrap());
    assert!(!lines(&p).contains("dhcpd"), "{}", lines(&p));
}

#[test]
fn nn02_the_uplink_is_the_argument_else_the_default_routes_device_else_eth0() {
    let host = dom0()
        .link(super::up("eth1"))
        .addrs(
            "eth1",
            vec![super::addr(
                r#"{"family":"inet","local":"198.51.100.2","prefixlen":24}"#,
            )],
        )
        .file(sysctl::ip_forward(), "0\n");
    let p = planned(start(&host, &["netdev=eth1"]).unwrap());
    assert_eq!(
        p.intro.as_deref(),
        Some("network-nat: netdev=eth1 (argument netdev=)")
    );
    assert!(lines(&p).contains("-o eth1 -j MASQUERADE"));
    let no_route = Fixture::new()
        .ip_links(include_str!("../../fixtures/dom0-links.json"))
        .ip_addrs(include_str!("../../fixtures/dom0-addrs.json"))
        .tools(&["ip", "iptables"]);
    let p = planned(start(&no_route, &[]).unwrap());
    assert_eq!(
        p.intro.as_deref(),
        Some("network-nat: netdev=eth0 (the default, as there is no default route)")
    );
}

#[test]
fn a_missing_uplink_is_refused_naming_where_it_came_from() {
    let e = start(&dom0(), &["netdev=eth9"]).unwrap_err();
    assert_eq!(
        sentence(e),
        "netdev eth9 does not exist (argument netdev=): name the uplink with netdev=<if>"
    );
}

#[test]
fn ip02_the_warning_names_the_uplink_and_how_it_was_chosen() {
    let host = Fixture::new()
        .link(super::up("eth0"))
        .default_route("eth0")
        .tools(&["ip", "iptables"]);
    let (notes, e) = start(&host, &[]).unwrap_err().split();
    assert_eq!(
        notes,
        [Note::Warn(
            "eth0 (the device of the default route) has no IPv4 address".into()
        )]
    );
    assert_eq!(
        e.to_string(),
        "eth0 is not up.  Bring it up or specify another interface with netdev=<if> as a parameter to network-nat."
    );
}

#[test]
fn antispoof_yes_is_accepted_with_a_warning() {
    let host = dom0().file(sysctl::ip_forward(), "0\n");
    let p = planned(start(&host, &["antispoof=yes"]).unwrap());
    assert!(p.notes.contains(&Note::Warn(
        "antispoof=yes is not implemented by network-nat (nor by the original)".into()
    )));
}

#[test]
fn nftables_only_start_notes_the_uplink_then_adds_both_chains_and_the_undo_drops_the_table_if_unused(
) {
    let host = nft_only();
    let p = planned(start(&host, &[]).unwrap());
    let note = step(&p, "note that eth0's NAT rules are in inet xen_netscripts");
    assert_eq!(
        note.action,
        Action::WriteFile {
            path: nat_member().display().to_string(),
            value: "1".into()
        }
    );
    assert_eq!(note.lock, Some("nftables"));
    let Some(Action::Seq(undo)) = &note.undo else {
        panic!("{:?}", note.undo)
    };
    assert_eq!(
        undo[0],
        Action::RemoveFile {
            path: nat_member().display().to_string()
        }
    );
    let Action::IfUnused { members, then } = &undo[1] else {
        panic!("{:?}", undo[1])
    };
    assert_eq!(
        members,
        &crate::firewall::nftables::members_dir(crate::firewall::Family::Inet)
            .display()
            .to_string()
    );
    assert!(then.line().contains("delete table inet xen_netscripts"));
    let rules = step(
        &p,
        "masquerade traffic leaving eth0 and refuse new connections from it to the guests",
    );
    let Action::Run(c) = &rules.action else {
        panic!()
    };
    assert_eq!(
        c.stdin.as_deref(),
        Some(
            "add table inet xen_netscripts\n\
             add chain inet xen_netscripts nat_out_eth0 { type nat hook postrouting priority srcnat; policy accept; }\n\
             flush chain inet xen_netscripts nat_out_eth0\n\
             add rule inet xen_netscripts nat_out_eth0 meta nfproto ipv4 oifname \"eth0\" masquerade\n\
             add chain inet xen_netscripts nat_in_eth0 { type filter hook forward priority filter; policy accept; }\n\
             flush chain inet xen_netscripts nat_in_eth0\n\
             add rule inet xen_netscripts nat_in_eth0 meta nfproto ipv4 iifname \"eth0\" ct state new drop\n"
        )
    );
    assert!(undo_of(
        &p,
        "masquerade traffic leaving eth0 and refuse new connections from it to the guests"
    )
    .unwrap()
    .contains("delete chain inet xen_netscripts nat_out_eth0"));
    // The choice is logged.
    assert!(p.notes.iter().any(|n| matches!(n, Note::Debug(t)
        if t == "firewall backend nftables (firewall=auto, default: nft is installed and iptables is not)")));
}

#[test]
fn nftables_a_second_start_finds_its_member_note_and_does_nothing() {
    let host = nft_only()
        .file(sysctl::ip_forward(), "1\n")
        .file(nat_member(), "1\n");
    assert!(nothing(start(&host, &[]).unwrap()).ends_with("already started"));
}

#[test]
fn auto_without_iptables_or_nft_sets_no_rule_and_warns() {
    let host = Fixture::new()
        .ip_links(include_str!("../../fixtures/dom0-links.json"))
        .ip_addrs(include_str!("../../fixtures/dom0-addrs.json"))
        .default_route("eth0")
        .tools(&["ip"])
        .file(sysctl::ip_forward(), "0\n");
    let p = planned(start(&host, &[]).unwrap());
    assert_eq!(cmds(&p).len(), 2, "{}", lines(&p));
    assert!(lines(&p).contains("\"firewall\":\"none\""), "{}", lines(&p));
    assert!(p.notes.iter().any(
        |n| matches!(n, Note::Warn(t) if t.starts_with("neither iptables nor nft is installed"))
    ));
}

#[test]
fn a_second_start_keeps_the_first_starts_backend_and_record() {
    let host = nft_only()
        .tools(&["iptables"])
        .file(sysctl::ip_forward(), "1\n")
        .file(nat_member(), "1\n")
        .file(
            record(),
            r#"{"ip_forward_before":"0","masquerade_added":true,"inbound_drop_added":true,"subnet_added":false,"firewall":"nftables"}"#,
        );
    assert!(nothing(start(&host, &["firewall=iptables"]).unwrap()).ends_with("already started"));
    assert!(!host.asked().iter().any(|f| matches!(f, Fact::Iptables(_))));
    // A start after someone removed the drop by hand: the record keeps what the first start
    // found and added, and adds what this one adds.
    let host = dom0().file(sysctl::ip_forward(), "0\n").file(
        record(),
        r#"{"ip_forward_before":"0","masquerade_added":true,"inbound_drop_added":false,"subnet_added":false,"firewall":"iptables"}"#,
    );
    let p = planned(start(&host, &[]).unwrap());
    assert!(
        lines(&p).contains("\"masquerade_added\":true,\"inbound_drop_added\":true"),
        "{}",
        lines(&p)
    );
    assert_eq!(
        undo_of(&p, "remember what start changes, for stop").as_deref(),
        Some(
            format!(
                "echo '{{\"ip_forward_before\":\"0\",\"masquerade_added\":true,\"inbound_drop_added\":false,\"subnet_added\":false,\"firewall\":\"iptables\"}}' > {}",
                record().display()
            )
            .as_str()
        )
    );
}

#[test]
fn nn08_stop_puts_a_removed_inbound_drop_back_where_it_was_and_the_record_goes_last() {
    let host = dom0()
        .file(sysctl::ip_forward(), "1\n")
        .file(
            record(),
            r#"{"ip_forward_before":"1","masquerade_added":true,"inbound_drop_added":true,"subnet_added":false,"firewall":"iptables"}"#,
        )
        .iptables("nat", "-A POSTROUTING -o eth0 -j MASQUERADE\n")
        .iptables(
            "filter",
            "-A FORWARD -i eth9 -j ACCEPT\n-A FORWARD -m physdev --physdev-out vif2.0 --physdev-is-bridged -j ACCEPT\n\
             -A FORWARD -i eth0 -m conntrack --ctstate NEW -j DROP\n",
        );
    let p = planned(stop(&host).unwrap());
    let drop = step(&p, "let new connections from eth0 through again");
    assert_eq!(
        drop.action.line(),
        "iptables -w -D FORWARD -i eth0 -m conntrack --ctstate NEW -j DROP"
    );
    assert_eq!(
        drop.undo,
        Some(Action::RunUnless {
            check: crate::exec::Cmd::new("iptables").args([
                "-w",
                "-C",
                "FORWARD",
                "-i",
                "eth0",
                "-m",
                "conntrack",
                "--ctstate",
                "NEW",
                "-j",
                "DROP"
            ]),
            cmd: crate::exec::Cmd::new("iptables").args([
                "-w",
                "-I",
                "FORWARD",
                "3",
                "-i",
                "eth0",
                "-m",
                "conntrack",
                "--ctstate",
                "NEW",
                "-j",
                "DROP"
            ]),
        })
    );
    assert_eq!(
        undo_of(&p, "stop masquerading out of eth0").as_deref(),
        Some("iptables -w -t nat -C POSTROUTING -o eth0 -j MASQUERADE || iptables -w -t nat -I POSTROUTING 1 -o eth0 -j MASQUERADE")
    );
    // Forwarding was on before start: it stays on.
    assert!(!lines(&p).contains("ip_forward"), "{}", lines(&p));
    let c = cmds(&p);
    assert_eq!(c.last().unwrap(), &format!("rm -f {}", record().display()));
}

#[test]
fn nn08_a_rule_start_added_that_is_gone_since_is_not_deleted() {
    let host = dom0().file(sysctl::ip_forward(), "1\n").file(
        record(),
        r#"{"ip_forward_before":"1","masquerade_added":true,"inbound_drop_added":true,"subnet_added":false,"firewall":"iptables"}"#,
    );
    let p = planned(stop(&host).unwrap());
    assert_eq!(cmds(&p), [format!("rm -f {}", record().display())]);
}

#[test]
fn nn08_stop_removes_the_subnet_start_added_and_restarts_dhcpd() {
    let subnet = "subnet 10.0.0.0 netmask 255.255.0.0 { option domain-name \"example.org\"; option domain-name-servers 192.0.2.53; }";
    let host = dom0()
        .file(sysctl::ip_forward(), "1\n")
        .file(CONF, &format!("# conf\n{subnet}\n"))
        .executable(INIT)
        .file(
            record(),
            r#"{"ip_forward_before":"1","masquerade_added":false,"inbound_drop_added":false,"subnet_added":true,"firewall":"iptables"}"#,
        );
    let p = planned(run(false, &["dhcp=yes"], &host).unwrap());
    let remove = step(&p, &format!("remove the guests' subnet from {CONF}"));
    assert_eq!(
        remove.undo,
        Some(Action::SetLine {
            path: CONF.into(),
            key: "subnet 10.0.0.0 netmask 255.255.0.0 {".into(),
            line: Some(subnet.into())
        })
    );
    assert_eq!(step(&p, "restart dhcpd").on_error, OnError::Ignore);
    // No rule was added by start: none is removed.
    assert!(!lines(&p).contains("iptables"), "{}", lines(&p));
}

#[test]
fn stop_of_an_nftables_start_without_its_member_note_removes_no_chain() {
    let host = dom0().file(sysctl::ip_forward(), "1\n").file(
        record(),
        r#"{"ip_forward_before":"0","masquerade_added":true,"inbound_drop_added":true,"subnet_added":false,"firewall":"nftables"}"#,
    );
    let p = planned(stop(&host).unwrap());
    assert_eq!(
        cmds(&p),
        [
            format!("echo 0 > {}", sysctl::ip_forward()),
            format!("rm -f {}", record().display())
        ]
    );
}

#[test]
fn stop_of_an_nftables_start_forgets_the_member_and_drops_the_table_if_unused() {
    let host = dom0()
        .file(sysctl::ip_forward(), "1\n")
        .file(
            record(),
            r#"{"ip_forward_before":"1","masquerade_added":true,"inbound_drop_added":true,"subnet_added":false,"firewall":"nftables"}"#,
        )
        .file(nat_member(), "1\n");
    let p = planned(stop(&host).unwrap());
    let forget = step(&p, "forget that eth0 has nftables rules");
    assert_eq!(
        forget.action,
        Action::RemoveFile {
            path: nat_member().display().to_string()
        }
    );
    assert_eq!(forget.lock, Some("nftables"));
    let drop = step(
        &p,
        "delete table inet xen_netscripts if nothing of ours is left in it",
    );
    assert!(matches!(drop.action, Action::IfUnused { .. }));
    assert!(undo_of(
        &p,
        "stop masquerading out of eth0 and let new connections through again"
    )
    .unwrap()
    .contains(
        "add rule inet xen_netscripts nat_out_eth0 meta nfproto ipv4 oifname \"eth0\" masquerade"
    ),);
    // stop removes from nftables even with iptables installed: the record says where.
    assert!(!host.asked().iter().any(|f| matches!(f, Fact::Iptables(_))));
}

#[test]
fn stop_without_a_record_reads_no_firewall_and_no_forwarding() {
    let host = dom0();
    let m = nothing(stop(&host).unwrap());
    assert_eq!(
        m,
        format!(
            "network-nat: netdev=eth0 (the device of the default route): not started by network-nat (no {}), nothing to undo",
            record().display()
        )
    );
    let asked = host.asked();
    assert!(
        !asked.iter().any(|f| matches!(f, Fact::Iptables(_)))
            && !asked.contains(&Fact::File(sysctl::ip_forward().into())),
        "{asked:?}"
    );
}
