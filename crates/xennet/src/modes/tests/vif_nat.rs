//! vif-nat's planner (spec §5): the router address, the host route, proxy ARP, dhcpd's host
//! entry; and the addresses it refuses.

use super::*;
use crate::error::Error;
use crate::fixture::testing::*;
use crate::fixture::Fixture;

const KEYS: &[(&str, &str)] = &[
    ("ip", "10.0.0.1"),
    ("mac", "00:16:3e:00:00:01"),
    ("frontend-id", "1"),
    ("handle", "0"),
];

fn plan(
    command: &str,
    keys: &[(&str, &str)],
    args: &[&str],
    host: &Fixture,
) -> crate::error::Result<crate::error::Planned> {
    let mut words = vec![command, "type_if=vif"];
    words.extend_from_slice(args);
    let ctx = vif_ctx_with("vif-nat", &words, VIF_ENV, keys);
    plan_vif("vif-nat", &ctx, &inv("vif-nat", &words, VIF_ENV), host)
}

#[test]
fn vn05_vn09_online_gives_the_router_address_a_host_route_and_proxy_arp() {
    let host = dom0().link(fresh("vif1.0"));
    let p = plan("online", KEYS, &["dhcp=no", "firewall=none"], &host).unwrap();
    let l = lines(&p);
    assert!(l.contains("ip addr add 10.0.0.128/32 dev vif1.0"), "{l}");
    assert!(
        l.contains("ip route add 10.0.0.1 dev vif1.0 src 10.0.0.128"),
        "{l}"
    );
    assert!(
        l.contains(&format!("echo 1 > {}", crate::sysctl::proxy_arp("vif1.0"))),
        "{l}"
    );
}

#[test]
fn vn04_without_ip_the_address_comes_from_the_domain_and_device() {
    let host = dom0().link(fresh("vif1.0"));
    let keys = [("frontend-id", "5"), ("handle", "0")];
    let p = plan("online", &keys, &["dhcp=no", "firewall=none"], &host).unwrap();
    // 10.<5/256>.<5%256>.<handle+1>: 10.0.5.1, router 10.0.5.128.
    assert!(
        lines(&p).contains("ip addr add 10.0.5.128/32"),
        "{}",
        lines(&p)
    );
}

#[test]
fn vn06_vn07_addresses_without_a_router_address_are_refused() {
    let host = dom0().link(fresh("vif1.0"));
    for (ip, names) in [
        ("10.0.0.200", "10.0.0.327"),
        ("10.0.0.1 10.0.0.2", "2 addresses"),
        ("2001:db8::1", "not an IPv4 address"),
    ] {
        let mut keys = KEYS.to_vec();
        keys[0] = ("ip", ip);
        let e = plan("online", &keys, &["dhcp=no"], &host).unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{ip}: {e:?}");
        assert!(sentence(e).contains(names), "{ip}");
    }
}

#[test]
fn xs01_a_missing_handle_is_refused_naming_the_key() {
    let host = dom0().link(fresh("vif1.0"));
    let e = plan(
        "online",
        &[("ip", "10.0.0.1"), ("frontend-id", "1")],
        &["dhcp=no"],
        &host,
    )
    .unwrap_err();
    assert_eq!(sentence(e), "xenstore-read backend/vif/1/0/handle failed.");
}

#[test]
fn vn13_dhcp_writes_the_host_entry_and_lists_the_vif_under_its_lock() {
    let conf = "/tmp/dhcpd.conf.fixture";
    let host = dom0()
        .link(fresh("vif1.0"))
        .file("/etc/dhcp/dhcpd.conf", "# conf\n")
        .executable("/etc/init.d/isc-dhcp-server")
        .file("/etc/default/isc-dhcp-server", "INTERFACESv4=\"\"\n");
    let p = plan("online", KEYS, &["dhcp=yes", "firewall=none"], &host).unwrap();
    let entry = p
        .plan
        .steps
        .iter()
        .find(|s| s.what.contains("dhcpd host entry dom1"))
        .expect("a host entry step");
    assert_eq!(entry.lock, Some("vif-nat-dhcp"));
    let crate::plan::Action::SetLine { line: Some(l), .. } = &entry.action else {
        panic!("{:?}", entry.action)
    };
    assert!(
        l.contains("hardware ethernet 00:16:3e:00:00:01; fixed-address 10.0.0.1; option routers 10.0.0.128"),
        "{l}"
    );
    assert!(
        lines(&p).contains("add vif1.0 to the lists"),
        "{}",
        lines(&p)
    );
    let _ = conf;
    // Without the init script: refused, naming what to install.
    let bare = dom0()
        .link(fresh("vif1.0"))
        .file("/etc/dhcp/dhcpd.conf", "# conf\n");
    let e = plan("online", KEYS, &["dhcp=yes"], &bare).unwrap_err();
    assert!(sentence(e).contains("install isc-dhcp-server, or set dhcp=no"));
}

#[test]
fn vn12_a_tap_gets_no_address_or_route() {
    let env = [
        ("INTERFACE", "vif1.0-emu"),
        ("XENBUS_PATH", "backend/vif/1/0"),
    ];
    let c = vif_ctx_with("vif-nat", &["add", "type_if=tap"], &env, KEYS);
    let host = dom0().link(fresh("vif1.0-emu"));
    let i = inv(
        "vif-nat",
        &["add", "type_if=tap", "dhcp=no", "firewall=none"],
        &env,
    );
    let p = plan_vif("vif-nat", &c, &i, &host).unwrap();
    assert!(!lines(&p).contains("ip addr") && !lines(&p).contains("ip route"));
}

#[test]
fn vn11_offline_takes_the_router_address_and_the_route_away() {
    let mut vif = fresh("vif1.0");
    vif.up = true;
    let host = dom0()
        .link(vif)
        .addrs(
            "vif1.0",
            vec![addr(
                r#"{"family":"inet","local":"10.0.0.128","prefixlen":32}"#,
            )],
        )
        .answer(
            crate::facts::Fact::Routes("vif1.0".into()),
            crate::facts::Answer::Routes(
                serde_json::from_str(r#"[{"dst":"10.0.0.1","dev":"vif1.0","scope":"link"}]"#)
                    .unwrap(),
            ),
        );
    let p = plan("offline", KEYS, &["dhcp=no", "firewall=none"], &host).unwrap();
    let l = lines(&p);
    assert!(l.contains("ip route del 10.0.0.1 dev vif1.0"), "{l}");
    assert!(l.contains("ip addr del 10.0.0.128/32 dev vif1.0"), "{l}");
}

// ---------------------------------------------------------------------------------------------
// online and offline in full, dhcpd's files and their undo, taps, what is read.

use super::network_bridge_captured::{cmds, pos, step, undo_of};
use crate::facts::{Answer, Fact};
use crate::plan::{Action, OnError};

const CONF: &str = "/etc/dhcp/dhcpd.conf";
const INIT: &str = "/etc/init.d/isc-dhcp-server";
const ARGS: &str = "/etc/default/isc-dhcp-server";

/// dom0 with netback's vif1.0 (down) and ISC dhcpd's three files (DH-01).
fn dhcp_host(conf: &str, args: &str) -> Fixture {
    dom0()
        .link(fresh("vif1.0"))
        .file(CONF, conf)
        .executable(INIT)
        .file(ARGS, args)
}

/// vif1.0 as vif-nat's online leaves it: up, the router address, the guest's route, proxy ARP.
fn online_vif(router: &str, guest: &str) -> Fixture {
    let mut vif = fresh("vif1.0");
    vif.up = true;
    dom0()
        .link(vif)
        .addrs(
            "vif1.0",
            vec![addr(&format!(
                r#"{{"family":"inet","local":"{router}","prefixlen":32,"scope":"global"}}"#
            ))],
        )
        .answer(
            Fact::Routes("vif1.0".into()),
            routes(&format!(
                r#"[{{"dst":"{guest}","dev":"vif1.0","scope":"link","prefsrc":"{router}"}}]"#
            )),
        )
        .file(crate::sysctl::proxy_arp("vif1.0"), "1\n")
}

fn tap(
    command: &str,
    keys: &[(&str, &str)],
    args: &[&str],
    host: &Fixture,
) -> crate::error::Result<crate::error::Planned> {
    let mut words = vec![command, "type_if=tap"];
    words.extend_from_slice(args);
    let ctx = vif_ctx_with("vif-nat", &words, TAP_ENV, keys);
    plan_vif("vif-nat", &ctx, &inv("vif-nat", &words, TAP_ENV), host)
}

#[test]
fn vn09_online_is_proxy_arp_link_up_router_address_and_the_guests_route_in_that_order() {
    // Proxy ARP first (issue 17): the ip changes and the route then share one ip -batch.
    let host = dom0()
        .link(fresh("vif1.0"))
        .file(crate::sysctl::proxy_arp("vif1.0"), "0\n");
    let p = plan("online", KEYS, &["dhcp=no", "firewall=none"], &host).unwrap();
    assert_eq!(
        cmds(&p),
        [
            format!("echo 1 > {}", crate::sysctl::proxy_arp("vif1.0")),
            "ip link set dev vif1.0 up arp on".to_string(),
            "ip addr add 10.0.0.128/32 dev vif1.0".to_string(),
            "ip route add 10.0.0.1 dev vif1.0 src 10.0.0.128".to_string(),
        ]
    );
    assert_eq!(
        undo_of(&p, "ip addr add 10.0.0.128/32 dev vif1.0").as_deref(),
        Some("ip addr del 10.0.0.128/32 dev vif1.0")
    );
    assert_eq!(
        undo_of(&p, "ip route add 10.0.0.1 dev vif1.0 src 10.0.0.128").as_deref(),
        Some("ip route del 10.0.0.1 dev vif1.0")
    );
    assert_eq!(
        undo_of(&p, "turn proxy ARP on on vif1.0"),
        Some(format!("echo 0 > {}", crate::sysctl::proxy_arp("vif1.0")))
    );
    assert_eq!(p.done, "Successful vif-nat online for vif1.0.");
    assert!(p.frontend_keys.is_empty());
}

#[test]
fn vn10_an_online_vif_is_checked_and_nothing_is_done_again() {
    let host = online_vif("10.0.0.128", "10.0.0.1");
    let p = plan("online", KEYS, &["dhcp=no", "firewall=none"], &host).unwrap();
    assert!(p.plan.is_empty(), "{}", lines(&p));
    assert_eq!(p.done, "Successful vif-nat online for vif1.0.");
}

#[test]
fn vn10_a_route_through_another_device_does_not_make_the_vif_up() {
    // The original's substring match took `dev vif1.0-emu` for vif1.0.
    let host = dom0().link(fresh("vif1.0")).answer(
        Fact::Routes("vif1.0-emu".into()),
        routes(r#"[{"dst":"10.0.0.1","dev":"vif1.0-emu","scope":"link"}]"#),
    );
    let p = plan("online", KEYS, &["dhcp=no", "firewall=none"], &host).unwrap();
    assert!(
        lines(&p).contains("ip route add 10.0.0.1 dev vif1.0 src 10.0.0.128"),
        "{}",
        lines(&p)
    );
    assert!(!host.asked().contains(&Fact::Routes("vif1.0-emu".into())));
}

#[test]
fn vn10_only_the_missing_route_is_added_to_a_vif_that_has_its_address() {
    let host = online_vif("10.0.0.128", "10.0.0.99");
    let p = plan("online", KEYS, &["dhcp=no", "firewall=none"], &host).unwrap();
    assert_eq!(
        cmds(&p),
        ["ip route add 10.0.0.1 dev vif1.0 src 10.0.0.128"]
    );
}

#[test]
fn vn04_vn08_a_second_nic_of_domain_300_is_10_1_44_2_with_host_name_dom300_2() {
    let host = dhcp_host("# conf\n", "INTERFACESv4=\"eth0\"\n");
    let keys = [
        ("frontend-id", "300"),
        ("handle", "1"),
        ("mac", "00:16:3e:00:01:2c"),
    ];
    let p = plan("online", &keys, &["dhcp=yes", "firewall=none"], &host).unwrap();
    let l = lines(&p);
    assert!(l.contains("ip addr add 10.1.44.129/32 dev vif1.0"), "{l}");
    assert!(
        l.contains("ip route add 10.1.44.2 dev vif1.0 src 10.1.44.129"),
        "{l}"
    );
    let entry = step(
        &p,
        &format!("write the dhcpd host entry dom300-2 in {CONF}"),
    );
    let Action::SetLine { key, line, .. } = &entry.action else {
        panic!("{:?}", entry.action)
    };
    assert_eq!(key, "host dom300-2 {");
    assert_eq!(
        line.as_deref(),
        Some("host dom300-2 { hardware ethernet 00:16:3e:00:01:2c; fixed-address 10.1.44.2; option routers 10.1.44.129; option host-name \"dom300-2\"; }")
    );
}

#[test]
fn vn05_a_prefix_is_dropped_for_the_router_and_the_route() {
    let host = dom0().link(fresh("vif1.0"));
    let mut keys = KEYS.to_vec();
    keys[0] = ("ip", "192.168.1.10/24");
    let p = plan("online", &keys, &["dhcp=no", "firewall=none"], &host).unwrap();
    let l = lines(&p);
    assert!(l.contains("ip addr add 192.168.1.137/32 dev vif1.0"), "{l}");
    assert!(
        l.contains("ip route add 192.168.1.10 dev vif1.0 src 192.168.1.137"),
        "{l}"
    );
}

#[test]
fn vn06_last_octet_127_is_the_highest_that_gives_a_router_address() {
    let host = dom0().link(fresh("vif1.0"));
    let mut keys = KEYS.to_vec();
    keys[0] = ("ip", "10.0.0.127");
    let p = plan("online", &keys, &["dhcp=no", "firewall=none"], &host).unwrap();
    assert!(lines(&p).contains("ip addr add 10.0.0.254/32 dev vif1.0"));
    keys[0] = ("ip", "10.0.0.128");
    let e = plan("online", &keys, &["dhcp=no"], &host).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)));
    assert!(sentence(e)
        .starts_with("ip=\"10.0.0.128\": vif-nat gives dom0 the router address 10.0.0.255"),);
}

#[test]
fn vn06_vn07_refusals_come_before_the_host_is_read() {
    let host = dom0().link(fresh("vif1.0"));
    for ip in ["10.0.0.200", "10.0.0.1/24 10.0.0.2/24", "2001:db8::1"] {
        let mut keys = KEYS.to_vec();
        keys[0] = ("ip", ip);
        let e = plan("offline", &keys, &["dhcp=no"], &host).unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{ip}: {e:?}");
    }
    assert!(
        !host.asked().iter().any(|f| matches!(f, Fact::Link(_))),
        "{:?}",
        host.asked()
    );
}

#[test]
fn vn07_several_addresses_with_prefixes_are_refused_naming_them() {
    let host = dom0().link(fresh("vif1.0"));
    let mut keys = KEYS.to_vec();
    keys[0] = ("ip", "10.0.0.1/24 10.0.0.2/24");
    let e = plan("online", &keys, &["dhcp=no"], &host).unwrap_err();
    assert_eq!(
        sentence(e),
        "ip holds 2 addresses (10.0.0.1/24 10.0.0.2/24); vif-nat routes one address per vif: give one, or use vif-route"
    );
}

#[test]
fn xs01_a_missing_frontend_id_is_refused_naming_the_key() {
    let host = dom0().link(fresh("vif1.0"));
    let e = plan(
        "online",
        &[("ip", "10.0.0.1"), ("handle", "0")],
        &["dhcp=no"],
        &host,
    )
    .unwrap_err();
    assert_eq!(
        sentence(e),
        "xenstore-read backend/vif/1/0/frontend-id failed."
    );
}

#[test]
fn xs01_dhcp_needs_the_guests_mac() {
    let host = dhcp_host("# conf\n", "INTERFACESv4=\"\"\n");
    let e = plan(
        "online",
        &[("ip", "10.0.0.1"), ("frontend-id", "1"), ("handle", "0")],
        &["dhcp=yes"],
        &host,
    )
    .unwrap_err();
    assert_eq!(sentence(e), "xenstore-read backend/vif/1/0/mac failed.");
    // Without dhcp the MAC is not needed.
    plan(
        "online",
        &[("ip", "10.0.0.1"), ("frontend-id", "1"), ("handle", "0")],
        &["dhcp=no", "firewall=none"],
        &host,
    )
    .unwrap();
}

#[test]
fn vn01_dhcp_is_on_when_etc_dhcpd_conf_exists_and_dhcp_no_wins() {
    let host = dom0()
        .link(fresh("vif1.0"))
        .file("/etc/dhcpd.conf", "# old path\n")
        .executable("/etc/init.d/dhcpd")
        .file("/etc/sysconfig/dhcpd", "DHCPDARGS=\"\"\n");
    let p = plan("online", KEYS, &["firewall=none"], &host).unwrap();
    // The first conf of DH-01's list that exists, the old path.
    assert!(
        lines(&p).contains("the dhcpd host entry dom1 in /etc/dhcpd.conf"),
        "{}",
        lines(&p)
    );
    assert!(
        lines(&p).contains("/etc/init.d/dhcpd restart"),
        "{}",
        lines(&p)
    );
    let host = dom0()
        .link(fresh("vif1.0"))
        .file("/etc/dhcpd.conf", "# old path\n");
    let p = plan("online", KEYS, &["dhcp=no", "firewall=none"], &host).unwrap();
    assert!(!lines(&p).contains("dhcpd"), "{}", lines(&p));
    // dhcp=no: dhcpd's files are not even looked for.
    assert!(!host.asked().contains(&Fact::File(CONF.into())));
    assert!(!host.asked().contains(&Fact::File("/etc/dhcpd.conf".into())));
}

#[test]
fn vn01_without_etc_dhcpd_conf_dhcp_is_off() {
    // Only the old path counts for the default, even when the new one exists.
    let host = dhcp_host("# conf\n", "INTERFACESv4=\"\"\n");
    let p = plan("online", KEYS, &["firewall=none"], &host).unwrap();
    assert!(!lines(&p).contains("dhcpd"), "{}", lines(&p));
}

#[test]
fn vn01_an_empty_dhcp_takes_the_default() {
    // No /etc/dhcpd.conf: the default is off, so no dhcpd files are needed.
    let host = dom0().link(fresh("vif1.0"));
    let p = plan("online", KEYS, &["dhcp=", "firewall=none"], &host).unwrap();
    assert!(!lines(&p).contains("dhcpd"), "{}", lines(&p));
}

#[test]
fn vn02_vn03_each_missing_dhcpd_file_is_refused() {
    let all = || {
        dom0()
            .link(fresh("vif1.0"))
            .file(CONF, "# conf\n")
            .executable(INIT)
            .file(ARGS, "INTERFACESv4=\"\"\n")
    };
    plan("online", KEYS, &["dhcp=yes", "firewall=none"], &all()).unwrap();
    let no_conf = dom0()
        .link(fresh("vif1.0"))
        .executable(INIT)
        .file(ARGS, "INTERFACESv4=\"\"\n");
    let no_init = dom0()
        .link(fresh("vif1.0"))
        .file(CONF, "# conf\n")
        .file(INIT, "#!/bin/sh\n")
        .file(ARGS, "INTERFACESv4=\"\"\n");
    let no_args = dom0()
        .link(fresh("vif1.0"))
        .file(CONF, "# conf\n")
        .executable(INIT);
    for host in [no_conf, no_init, no_args] {
        for command in ["online", "offline"] {
            let e = plan(command, KEYS, &["dhcp=yes"], &host).unwrap_err();
            assert!(matches!(e, Error::Refused(_)), "{e:?}");
            assert!(
                sentence(e).starts_with("Failed to find dhcpd configuration or init or args file.")
            );
        }
    }
}

#[test]
fn vn13_online_writes_the_entry_lists_the_vif_and_restarts_dhcpd_with_undos() {
    let host = dhcp_host("# conf\n", "INTERFACESv4=\"eth0\"\n");
    let p = plan("online", KEYS, &["dhcp=yes", "firewall=none"], &host).unwrap();
    let write = step(&p, &format!("write the dhcpd host entry dom1 in {CONF}"));
    assert_eq!(write.lock, Some("vif-nat-dhcp"));
    assert_eq!(write.on_error, OnError::Fail);
    assert_eq!(
        write.undo,
        Some(Action::SetLine {
            path: CONF.into(),
            key: "host dom1 {".into(),
            line: None
        })
    );
    let list = step(&p, &format!("list vif1.0 in {ARGS}"));
    assert_eq!(list.lock, Some("vif-nat-dhcp"));
    let Action::ListWord {
        vars,
        word,
        present,
        ..
    } = &list.action
    else {
        panic!("{:?}", list.action)
    };
    assert_eq!(
        (vars.as_slice(), word.as_str(), *present),
        (
            &[
                "DHCPDARGS".to_string(),
                "DHCPD_INTERFACE".into(),
                "INTERFACES".into(),
                "INTERFACESv4".into()
            ][..],
            "vif1.0",
            true
        )
    );
    assert!(matches!(
        &list.undo,
        Some(Action::ListWord { present: false, .. })
    ));
    let restart = step(&p, "restart dhcpd");
    assert_eq!(restart.on_error, OnError::Ignore);
    assert_eq!(restart.action.line(), format!("{INIT} restart"));
    // dhcpd learns of the guest once its route is there.
    assert!(
        pos(&p, "ip route add 10.0.0.1 dev vif1.0 src 10.0.0.128") < pos(&p, &write.action.line())
    );
    assert!(pos(&p, &list.action.line()) < pos(&p, &restart.action.line()));
}

#[test]
fn vn13_an_entry_already_right_and_a_listed_vif_change_nothing() {
    let entry = crate::dhcpd::host_line("dom1", "00:16:3e:00:00:01", "10.0.0.1", "10.0.0.128");
    let mut host = dhcp_host(
        &format!("# conf\n{entry}\n"),
        "INTERFACESv4=\"eth0 vif1.0\"\n",
    );
    host = host
        .link({
            let mut v = fresh("vif1.0");
            v.up = true;
            v
        })
        .addrs(
            "vif1.0",
            vec![addr(
                r#"{"family":"inet","local":"10.0.0.128","prefixlen":32}"#,
            )],
        )
        .answer(
            Fact::Routes("vif1.0".into()),
            routes(r#"[{"dst":"10.0.0.1","dev":"vif1.0","scope":"link"}]"#),
        )
        .file(crate::sysctl::proxy_arp("vif1.0"), "1\n");
    let p = plan("online", KEYS, &["dhcp=yes", "firewall=none"], &host).unwrap();
    assert!(p.plan.is_empty(), "{}", lines(&p));
}

#[test]
fn vn13_a_changed_mac_rewrites_the_entry_and_the_undo_puts_the_old_one_back() {
    let old = crate::dhcpd::host_line("dom1", "00:16:3e:00:00:99", "10.0.0.1", "10.0.0.128");
    let host = dhcp_host(&format!("# conf\n{old}\n"), "INTERFACESv4=\"vif1.0\"\n");
    let p = plan("online", KEYS, &["dhcp=yes", "firewall=none"], &host).unwrap();
    let write = step(&p, &format!("write the dhcpd host entry dom1 in {CONF}"));
    assert_eq!(
        write.undo,
        Some(Action::SetLine {
            path: CONF.into(),
            key: "host dom1 {".into(),
            line: Some(old)
        })
    );
}

#[test]
fn vn11_vn13_offline_removes_the_entry_and_the_word_keeps_going_and_restarts_dhcpd() {
    let entry = crate::dhcpd::host_line("dom1", "00:16:3e:00:00:01", "10.0.0.1", "10.0.0.128");
    let host = dhcp_host(
        &format!("# conf\n{entry}\n"),
        "INTERFACESv4=\"eth0 vif1.0\"\n",
    );
    let p = plan("offline", KEYS, &["dhcp=yes", "firewall=none"], &host).unwrap();
    let remove = step(&p, &format!("remove the dhcpd host entry dom1 in {CONF}"));
    assert_eq!(
        remove.action,
        Action::SetLine {
            path: CONF.into(),
            key: "host dom1 {".into(),
            line: None
        }
    );
    assert_eq!(remove.on_error, OnError::Collect);
    assert_eq!(remove.lock, Some("vif-nat-dhcp"));
    let unlist = step(&p, &format!("unlist vif1.0 in {ARGS}"));
    assert!(matches!(
        &unlist.action,
        Action::ListWord { present: false, .. }
    ));
    assert_eq!(unlist.on_error, OnError::Collect);
    assert_eq!(step(&p, "restart dhcpd").on_error, OnError::Ignore);
    assert_eq!(p.done, "Successful vif-nat offline for vif1.0.");
}

#[test]
fn vn15_offline_of_dom1_leaves_dom10s_entry_alone() {
    let dom10 = crate::dhcpd::host_line("dom10", "00:16:3e:00:00:0a", "10.0.10.1", "10.0.10.128");
    let host = dhcp_host(&format!("{dom10}\n"), "INTERFACESv4=\"eth0 vif10.0\"\n");
    let p = plan("offline", KEYS, &["dhcp=yes", "firewall=none"], &host).unwrap();
    assert!(!lines(&p).contains("dhcpd"), "{}", lines(&p));
}

#[test]
fn vn12_add_and_remove_of_a_tap_touch_no_dhcpd_and_no_route() {
    let host = dhcp_host("# conf\n", "INTERFACESv4=\"\"\n").link(fresh("vif1.0-emu"));
    let p = tap("add", KEYS, &["dhcp=yes", "firewall=none"], &host).unwrap();
    assert!(p.plan.is_empty(), "{}", lines(&p));
    assert_eq!(p.done, "Successful vif-nat add for vif1.0-emu.");
    let mut up_tap = fresh("vif1.0-emu");
    up_tap.up = true;
    let host = dhcp_host(
        &format!(
            "{}\n",
            crate::dhcpd::host_line("dom1", "00:16:3e:00:00:01", "10.0.0.1", "10.0.0.128")
        ),
        "INTERFACESv4=\"vif1.0-emu\"\n",
    )
    .link(up_tap);
    let p = tap("remove", KEYS, &["dhcp=yes", "firewall=none"], &host).unwrap();
    assert!(p.plan.is_empty(), "{}", lines(&p));
    assert!(!host.asked().contains(&Fact::Routes("vif1.0-emu".into())));
}

#[test]
fn vn12_a_renamed_tap_is_brought_back_up() {
    let mut t = fresh("vif1.0-emu");
    t.up = true;
    let host = dom0().link(t);
    let mut keys = KEYS.to_vec();
    keys.push(("vifname", "web0"));
    let p = tap("add", &keys, &["dhcp=no", "firewall=none"], &host).unwrap();
    assert_eq!(
        cmds(&p),
        [
            "ip link set dev vif1.0-emu down",
            "ip link set dev vif1.0-emu name web0-emu alias vif1.0-emu",
            "ip link set dev web0-emu up",
        ]
    );
}

#[test]
fn vn12_a_tap_gets_the_firewall_rules_of_the_guest_address() {
    let host = dom0().link(fresh("vif1.0-emu"));
    let p = tap("add", KEYS, &["dhcp=no", "firewall=iptables"], &host).unwrap();
    let l = lines(&p);
    assert!(
        l.contains("-I FORWARD -m physdev --physdev-is-bridged --physdev-in vif1.0-emu -s 10.0.0.1 -j ACCEPT"),
        "{l}"
    );
}

#[test]
fn vn17_vif_nat_never_touches_forwarding_or_nat_rules() {
    let host = dom0().link(fresh("vif1.0"));
    for command in ["online", "offline"] {
        let p = plan(command, KEYS, &["dhcp=no", "firewall=iptables"], &host).unwrap();
        let l = lines(&p);
        assert!(
            !l.contains("ip_forward") && !l.contains("MASQUERADE") && !l.contains("-t nat"),
            "{l}"
        );
    }
}

#[test]
fn vn11_offline_removes_by_name_what_it_cannot_list() {
    let mut vif = fresh("vif1.0");
    vif.up = true;
    let host = dom0()
        .link(vif)
        .answer(Fact::Routes("vif1.0".into()), failed_read())
        .answer(Fact::Addrs("vif1.0".into()), failed_read());
    let p = plan("offline", KEYS, &["dhcp=no", "firewall=none"], &host).unwrap();
    assert_eq!(
        cmds(&p),
        [
            "ip route del 10.0.0.1 dev vif1.0".to_string(),
            "ip addr del 10.0.0.128/32 dev vif1.0".to_string(),
            "ip link set dev vif1.0 down".to_string(),
            format!("echo 0 > {}", crate::sysctl::proxy_arp("vif1.0")),
        ]
    );
    let w = warnings(&p.notes);
    assert!(
        w.contains(&"cannot list the routes of vif1.0: ip failed")
            && w.contains(&"cannot list the addresses of vif1.0: ip failed"),
        "{w:?}"
    );
}

#[test]
fn vn11_offline_leaves_addresses_that_are_not_the_router_address() {
    let mut vif = fresh("vif1.0");
    vif.up = true;
    let host = dom0()
        .link(vif)
        .addrs(
            "vif1.0",
            vec![
                addr(r#"{"family":"inet","local":"10.0.0.128","prefixlen":32}"#),
                addr(r#"{"family":"inet","local":"198.51.100.1","prefixlen":32}"#),
            ],
        )
        .file(crate::sysctl::proxy_arp("vif1.0"), "1\n");
    let p = plan("offline", KEYS, &["dhcp=no", "firewall=none"], &host).unwrap();
    let l = lines(&p);
    assert!(l.contains("ip addr del 10.0.0.128/32 dev vif1.0"), "{l}");
    assert!(!l.contains("198.51.100.1"), "{l}");
}

#[test]
fn kp16_offline_leaves_another_guests_link_and_dhcp_entry_alone() {
    let mut other = fresh("web0");
    other.up = true;
    other.alias = "vif2.0".into();
    let entry = crate::dhcpd::host_line("dom1", "00:16:3e:00:00:01", "10.0.0.1", "10.0.0.128");
    let host = dhcp_host(&format!("{entry}\n"), "INTERFACESv4=\"web0\"\n").link(other);
    let mut keys = KEYS.to_vec();
    keys.push(("vifname", "web0"));
    let p = plan("offline", &keys, &["dhcp=yes", "firewall=iptables"], &host).unwrap();
    assert!(p.plan.is_empty(), "{}", lines(&p));
    assert!(warnings(&p.notes).contains(&"web0 belongs to vif2.0, not to vif1.0: left alone"));
}

#[test]
fn vc07_online_renames_first_and_reads_nothing_of_the_new_name() {
    let host = dom0().link(fresh("vif1.0"));
    let mut keys = KEYS.to_vec();
    keys.push(("vifname", "web0"));
    let p = plan("online", &keys, &["dhcp=no", "firewall=none"], &host).unwrap();
    let c = cmds(&p);
    assert_eq!(c[0], "ip link set dev vif1.0 name web0 alias vif1.0");
    assert_eq!(
        c[1],
        format!("echo 1 > {}", crate::sysctl::proxy_arp("web0"))
    );
    assert_eq!(c[2], "ip link set dev web0 up arp on");
    assert!(c.contains(&"ip route add 10.0.0.1 dev web0 src 10.0.0.128".to_string()));
    let asked = host.asked();
    assert!(
        !asked.contains(&Fact::Addrs("web0".into()))
            && !asked.contains(&Fact::Routes("web0".into())),
        "{asked:?}"
    );
}

#[test]
fn vn09_a_vif_the_backend_has_not_made_is_refused() {
    let host = Fixture::new().link(up("eth0")).tools(&["ip"]);
    let e = plan("online", KEYS, &["dhcp=no"], &host).unwrap_err();
    assert!(sentence(e).starts_with("vif1.0 does not exist"));
}

#[test]
fn hk02_hooks_see_the_guest_and_router_addresses() {
    let dir = crate::paths::script_dir().join("vif-post.d");
    let host = dom0().link(fresh("vif1.0")).answer(
        Fact::Executables(dir.clone(), "hook".into()),
        Answer::Paths(vec![dir.join("50-nat.hook")]),
    );
    let keys = [("frontend-id", "5"), ("handle", "0")];
    let p = plan("online", &keys, &["dhcp=no", "firewall=none"], &host).unwrap();
    let hook = p.plan.steps.last().unwrap();
    assert_eq!(hook.on_error, OnError::Fail);
    let Action::Run(c) = &hook.action else {
        panic!()
    };
    for (k, v) in [
        ("ip", "10.0.5.1/16"),
        ("router_ip", "10.0.5.128"),
        ("dev", "vif1.0"),
        ("command", "online"),
    ] {
        assert!(
            c.env.contains(&(k.to_string(), v.to_string())),
            "{k}: {:?}",
            c.env
        );
    }
}

#[test]
fn ipt04_the_iptables_rules_use_the_computed_default_address() {
    let host = dom0().link(fresh("vif1.0"));
    let keys = [("frontend-id", "5"), ("handle", "0")];
    let p = plan("online", &keys, &["dhcp=no", "firewall=iptables"], &host).unwrap();
    let note = step(&p, "note that vif1.0 has iptables rules of ours");
    let Action::WriteFile { value, .. } = &note.action else {
        panic!()
    };
    assert!(
        value.starts_with(
            "-A FORWARD -s 10.0.0.0/16 -m physdev --physdev-in vif1.0 --physdev-is-bridged -j ACCEPT\n"
        ),
        "{value}"
    );
    assert!(
        lines(&p).contains("-I FORWARD -m physdev --physdev-is-bridged --physdev-in vif1.0 -s 10.0.5.1/16 -j ACCEPT"),
        "{}",
        lines(&p)
    );
}

#[test]
fn with_nftables_the_nat_vif_gets_elements_in_the_inet_table() {
    let host = dom0().link(fresh("vif1.0"));
    let p = plan(
        "online",
        KEYS,
        &["dhcp=no", "firewall=nftables", "antispoof=yes"],
        &host,
    )
    .unwrap();
    let l = lines(&p);
    assert!(
        l.contains("add element inet xen_netscripts vif_verdicts { 7 : jump vif_checked }")
            && l.contains("add element inet xen_netscripts vif_ips4 { 7 . 10.0.0.1 }"),
        "{l}"
    );
    // Routed: no MAC check.
    assert!(!l.contains("vif_macs"), "{l}");
}

#[test]
fn vlan_is_refused_in_nat_mode() {
    let host = dom0().link(fresh("vif1.0"));
    let mut keys = KEYS.to_vec();
    keys.push(("vlan", "10p/20"));
    let e = plan("online", &keys, &["dhcp=no", "firewall=none"], &host).unwrap_err();
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    assert!(sentence(e)
        .contains("vlan=10p/20 (from xenstore key backend/vif/1/0/vlan), but vif-nat routes"));
}

#[test]
fn online_and_offline_purge_the_guests_connections_masqueraded_ones_included() {
    let host = dom0()
        .link(fresh("vif1.0"))
        .file(crate::conntrack::count_path(), "7\n")
        .tools(&["conntrack"]);
    let p = plan("online", KEYS, &["dhcp=no", "firewall=none"], &host).unwrap();
    assert!(
        lines(&p).ends_with(
            "conntrack -R - <<'EOF'\n-D -s 10.0.0.1\n-D -d 10.0.0.1\n-D -r 10.0.0.1\nEOF\n"
        ),
        "{}",
        lines(&p)
    );
    let p = plan("offline", KEYS, &["dhcp=no", "firewall=none"], &host).unwrap();
    assert!(lines(&p).contains("-D -s 10.0.0.1\n"), "{}", lines(&p));
}
