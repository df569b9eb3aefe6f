//! `network-bridge` on a simulated dom0 (spec §8.1–8.4, NB-xx).

mod common;

use common::*;
use xennet_tests::*;

/// dom0's NIC with what a real one carries: a second address in the same subnet with a label,
/// one in another subnet, a global IPv6 address, and the default route (set by the test bed).
fn add_extra_addresses(h: &Host) {
    let nic = h.nic.as_str();
    cmd::ip_must(
        &h.dom0,
        &[
            "addr",
            "add",
            "192.0.2.11/24",
            "dev",
            nic,
            "label",
            &format!("{nic}:1"),
        ],
    );
    cmd::ip_must(&h.dom0, &["addr", "add", "198.51.100.10/24", "dev", nic]);
    cmd::ip_must(&h.dom0, &["addr", "add", "2001:db8::10/64", "dev", nic]);
    snapshot::settle(&h.dom0);
}

fn mac_of(h: &Host, dev: &str) -> String {
    h.link(dev)
        .and_then(|l| l["address"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Everything NB-16 promises, for a NIC named `nic`.
#[track_caller]
fn assert_bridged(h: &Host, nic: &str, nic_mac: &str, r: &Output) {
    let pdev = format!("p{nic}");
    let ctx = || h.explain(r);
    let br = h
        .link(nic)
        .unwrap_or_else(|| panic!("no link {nic} after start:\n{}", ctx()));
    assert_eq!(
        snapshot::kind_of(&br),
        Some("bridge"),
        "{nic} should be a bridge: {br}\n{}",
        ctx()
    );
    assert!(snapshot::is_up(&br), "bridge {nic} should be up: {br}");
    let info = &br["linkinfo"]["info_data"];
    assert_eq!(info["stp_state"].as_u64(), Some(0), "STP off (NB-16): {br}");
    assert_eq!(
        info["forward_delay"].as_u64(),
        Some(0),
        "forward delay 0 (NB-16): {br}"
    );
    assert_eq!(
        br["address"].as_str(),
        Some(nic_mac),
        "the bridge keeps the NIC's MAC (NB-16)"
    );

    let p = h
        .link(&pdev)
        .unwrap_or_else(|| panic!("no {pdev} after start:\n{}", ctx()));
    assert_eq!(
        p["master"].as_str(),
        Some(nic),
        "{pdev} should be a port of {nic}: {p}"
    );
    assert!(snapshot::is_up(&p), "{pdev} should be up: {p}");
    assert_eq!(
        p["address"].as_str(),
        Some(nic_mac),
        "{pdev} keeps its MAC (MAC-03)"
    );
    assert!(
        snapshot::addrs(&h.dom0, &pdev, "inet").is_empty(),
        "{pdev} must have no IPv4 address: {:?}",
        snapshot::addr_info(&h.dom0, &pdev)
    );
    assert!(
        snapshot::addrs(&h.dom0, &pdev, "inet6").is_empty(),
        "{pdev} must have no global IPv6 address: {:?}",
        snapshot::addr_info(&h.dom0, &pdev)
    );

    assert_eq!(
        snapshot::addrs(&h.dom0, nic, "inet"),
        vec!["192.0.2.10/24", "192.0.2.11/24", "198.51.100.10/24"],
        "all IPv4 addresses move to the bridge (NB-08, NB-14)"
    );
    assert_eq!(
        snapshot::addrs(&h.dom0, nic, "inet6"),
        vec!["2001:db8::10/64"],
        "the global IPv6 address moves to the bridge"
    );
    let labelled = snapshot::addr_info(&h.dom0, nic)
        .into_iter()
        .find(|a| a["local"] == "192.0.2.11")
        .expect("192.0.2.11 on the bridge");
    assert_eq!(
        labelled["label"].as_str(),
        Some(format!("{nic}:1").as_str()),
        "labels are kept (NB-08)"
    );
    assert_eq!(
        snapshot::default_routes4(&h.dom0),
        vec![(LAN_ADDR.to_string(), nic.to_string())],
        "the default route now leaves through the bridge"
    );
}

#[test]
fn nb16_start_turns_the_nic_into_a_bridge_port_keeping_addresses_and_route() {
    let Some(h) = host!("nb_start").build() else {
        return;
    };
    add_extra_addresses(&h);
    let mac = mac_of(&h, "eth0");
    let r = h.script("network-bridge").run(&["start"]);
    assert_ok(&h, &r, "network-bridge start");
    assert_bridged(&h, "eth0", &mac, &r);
    assert!(
        ping_retry(&h.dom0, LAN_ADDR, 5),
        "dom0 lost the LAN after start"
    );
    assert!(
        ping_retry(&h.lan, DOM0_ADDR, 5),
        "the LAN lost dom0 after start"
    );
    assert!(
        ping_retry(&h.dom0, LAN_ADDR6, 15),
        "dom0 cannot reach {LAN_ADDR6} over IPv6 after start"
    );
}

#[test]
fn nb05_start_with_explicit_netdev() {
    let Some(h) = host!("nb_netdev").build() else {
        return;
    };
    add_extra_addresses(&h);
    let mac = mac_of(&h, "eth0");
    let r = h.script("network-bridge").run(&["start", "netdev=eth0"]);
    assert_ok(&h, &r, "network-bridge start netdev=eth0");
    assert_bridged(&h, "eth0", &mac, &r);
    assert!(ping_retry(&h.dom0, LAN_ADDR, 5));
}

#[test]
fn nb21_status_prints_the_banner_and_changes_nothing() {
    let Some(h) = host!("nb_status").build() else {
        return;
    };
    let r = h.script("network-bridge").run(&["start"]);
    assert_ok(&h, &r, "network-bridge start");
    let before = h.snapshot();
    let r = h.script("network-bridge").run(&["status"]);
    assert_ok(&h, &r, "network-bridge status");
    let first = r.stdout.lines().next().unwrap_or("");
    assert_eq!(
        first,
        "=".repeat(60),
        "status starts with 60 '=' (NB-21):\n{r}"
    );
    assert!(
        r.stdout.contains("eth0"),
        "status mentions the bridge:\n{r}"
    );
    assert!(r.stdout.contains("peth0"), "status mentions the port:\n{r}");
    assert_same(&before, &h.snapshot(), "network-bridge status");
    // As the original's, and as the man page says: status exits 0 with the mode down too.
    let r = h.script("network-bridge").run(&["stop"]);
    assert_ok(&h, &r, "network-bridge stop");
    let r = h.script("network-bridge").run(&["status"]);
    assert_ok(&h, &r, "network-bridge status with the mode down");
}

#[test]
fn nb18_stop_restores_the_exact_before_state() {
    let Some(h) = host!("nb_stop").build() else {
        return;
    };
    add_extra_addresses(&h);
    let before = h.snapshot();
    let r = h.script("network-bridge").run(&["start"]);
    assert_ok(&h, &r, "network-bridge start");
    assert!(
        before.diff(&h.snapshot()).is_some(),
        "start changed nothing?\n{}",
        h.explain(&r)
    );
    let r = h.script("network-bridge").run(&["stop"]);
    assert_ok(&h, &r, "network-bridge stop");
    assert!(h.link("peth0").is_none(), "peth0 still exists after stop");
    assert_same(&before, &h.snapshot(), "start then stop");
    assert!(
        ping_retry(&h.dom0, LAN_ADDR, 5),
        "dom0 lost the LAN after stop"
    );
    assert!(
        ping_retry(&h.dom0, LAN_ADDR6, 15),
        "dom0 lost IPv6 after stop"
    );
}

#[test]
fn nb18_stop_detaches_guest_vifs_and_deletes_the_bridge() {
    let Some(mut h) = host!("nb_stopvif").build() else {
        return;
    };
    let r = h.script("network-bridge").run(&["start"]);
    assert_ok(&h, &r, "network-bridge start");
    h.add_guest(1, 0);
    h.xs_write_backend(1, 0, &[("bridge", "eth0")]);
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "vif-bridge online");
    assert_eq!(h.master_of("vif1.0").as_deref(), Some("eth0"));
    let r = h.script("network-bridge").run(&["stop"]);
    assert_ok(&h, &r, "network-bridge stop with a vif attached");
    let eth0 = h.link("eth0").expect("eth0 back");
    assert_eq!(
        snapshot::kind_of(&eth0),
        Some("veth"),
        "eth0 is the NIC again: {eth0}"
    );
    assert!(
        h.master_of("vif1.0").is_none(),
        "vif1.0 still enslaved after stop"
    );
    assert!(
        !snapshot::links(&h.dom0)
            .iter()
            .any(|l| snapshot::kind_of(l) == Some("bridge")),
        "a bridge is left after stop:\n{}",
        h.explain(&r)
    );
    assert!(ping_retry(&h.dom0, LAN_ADDR, 5));
}

#[test]
fn nb07_second_start_is_a_no_op() {
    let Some(h) = host!("nb_twice").build() else {
        return;
    };
    add_extra_addresses(&h);
    let mac = mac_of(&h, "eth0");
    let r = h.script("network-bridge").run(&["start", "netdev=eth0"]);
    assert_ok(&h, &r, "first start");
    assert_bridged(&h, "eth0", &mac, &r);
    let after_first = h.snapshot();
    let r = h.script("network-bridge").run(&["start"]);
    assert_ok(&h, &r, "second start");
    assert_same(&after_first, &h.snapshot(), "second start");
    let r = h.script("network-bridge").run(&["start", "netdev=eth0"]);
    assert_ok(&h, &r, "third start (netdev=eth0)");
    assert_same(&after_first, &h.snapshot(), "third start");
    assert!(ping_retry(&h.dom0, LAN_ADDR, 5));
}

#[test]
fn nb17_stop_without_start_is_a_no_op() {
    let Some(h) = host!("nb_stoponly").build() else {
        return;
    };
    add_extra_addresses(&h);
    let before = h.snapshot();
    let r = h.script("network-bridge").run(&["stop"]);
    assert_ok(&h, &r, "stop without start");
    assert_same(&before, &h.snapshot(), "stop without start");
}

#[test]
fn nb02_predictable_nic_name_enp0s3_is_used_whole() {
    let Some(h) = host!("nb_enp").nic("enp0s3").build() else {
        return;
    };
    add_extra_addresses(&h);
    let mac = mac_of(&h, "enp0s3");
    let before = h.snapshot();
    let r = h.script("network-bridge").run(&["start"]);
    assert_ok(&h, &r, "network-bridge start on enp0s3");
    assert!(
        h.link("enp0").is_none(),
        "the original's truncated name enp0 appeared (NB-02)"
    );
    assert_bridged(&h, "enp0s3", &mac, &r);
    assert!(ping_retry(&h.dom0, LAN_ADDR, 5));
    let r = h.script("network-bridge").run(&["stop"]);
    assert_ok(&h, &r, "network-bridge stop on enp0s3");
    assert_same(&before, &h.snapshot(), "start then stop on enp0s3");
}

#[test]
fn dry_run_start_prints_shell_lines_and_changes_nothing() {
    let Some(h) = host!("nb_dry").build() else {
        return;
    };
    add_extra_addresses(&h);
    let before = h.snapshot();
    let r = h.script("network-bridge").run(&["--dry-run", "start"]);
    assert_ok(&h, &r, "network-bridge --dry-run start");
    assert!(
        r.stdout.contains("ip link"),
        "the plan should show ip commands:\n{r}"
    );
    assert_same(&before, &h.snapshot(), "--dry-run start");
    assert!(h.link("peth0").is_none());
}

#[test]
fn nb03_bridge_null_makes_start_and_stop_no_ops() {
    let Some(h) = host!("nb_null").build() else {
        return;
    };
    let before = h.snapshot();
    for cmd in ["start", "stop"] {
        let r = h.script("network-bridge").run(&["bridge=null", cmd]);
        assert_ok(&h, &r, &format!("bridge=null {cmd}"));
        assert_same(&before, &h.snapshot(), &format!("bridge=null {cmd}"));
    }
}

#[test]
fn nb01_unknown_or_missing_command_is_a_usage_error() {
    let Some(h) = host!("nb_badcmd").build() else {
        return;
    };
    let before = h.snapshot();
    let r = h.script("network-bridge").run(&["frobnicate"]);
    assert_eq!(r.status, 1, "unknown command exits 1 (NB-01):\n{r}");
    assert!(r.stderr.contains("Unknown command: frobnicate"), "{r}");
    assert!(
        r.stderr.contains("Valid commands are: start, stop, status"),
        "{r}"
    );
    let r = h.script("network-bridge").run(&[]);
    assert_eq!(r.status, 1, "missing command exits 1 (NB-01):\n{r}");
    assert!(r.stderr.contains("Unknown command:"), "{r}");
    assert!(
        r.stderr.contains("Valid commands are: start, stop, status"),
        "{r}"
    );
    assert_same(&before, &h.snapshot(), "bad commands");
}

/// README: "every non-kernel route" moves with the addresses, and back.
#[test]
fn nb10_static_routes_follow_the_bridge_and_come_back() {
    let Some(h) = host!("nb_routes").build() else {
        return;
    };
    add_extra_addresses(&h);
    cmd::ip_must(
        &h.dom0,
        &[
            "route",
            "add",
            "203.0.113.0/24",
            "via",
            "192.0.2.1",
            "dev",
            "eth0",
        ],
    );
    cmd::ip_must(
        &h.dom0,
        &[
            "-6", "route", "add", "default", "via", LAN_ADDR6, "dev", "eth0",
        ],
    );
    let mac = mac_of(&h, "eth0");
    let before = h.snapshot();
    let r = h.script("network-bridge").run(&["start"]);
    assert_ok(&h, &r, "network-bridge start");
    assert_bridged(&h, "eth0", &mac, &r);
    let routes = snapshot::routes(&h.dom0, "-4");
    assert!(
        routes.iter().any(|x| x["dst"] == "203.0.113.0/24"
            && x["gateway"] == "192.0.2.1"
            && x["dev"] == "eth0"),
        "the static route should follow the addresses to the bridge: {routes:?}\n{}",
        h.explain(&r)
    );
    let routes6 = snapshot::routes(&h.dom0, "-6");
    assert!(
        routes6
            .iter()
            .any(|x| x["dst"] == "default" && x["gateway"] == LAN_ADDR6 && x["dev"] == "eth0"),
        "the IPv6 default route should follow: {routes6:?}\n{}",
        h.explain(&r)
    );
    let r = h.script("network-bridge").run(&["stop"]);
    assert_ok(&h, &r, "network-bridge stop");
    assert_same(&before, &h.snapshot(), "start then stop with static routes");
}

/// NB-09 FIX: addresses with finite lifetimes (what a DHCP client installs) are transferred
/// from structured data, keep their lifetimes, and come back on stop.
#[test]
fn nb09_dynamic_addresses_move_with_their_lifetimes() {
    let Some(h) = host!("nb_dyn").build() else {
        return;
    };
    cmd::ip_must(
        &h.dom0,
        &[
            "addr",
            "add",
            "192.0.2.12/24",
            "dev",
            "eth0",
            "valid_lft",
            "3600",
            "preferred_lft",
            "1800",
        ],
    );
    let before = h.snapshot();
    assert!(
        before
            .section("addresses")
            .iter()
            .any(|l| l.contains("local=192.0.2.12 ") && l.contains("dynamic")),
        "test bed: the address should show as dynamic:\n{}",
        before.render()
    );
    let r = h.script("network-bridge").run(&["start"]);
    assert_ok(&h, &r, "network-bridge start with a dynamic address");
    let moved = snapshot::addr_info(&h.dom0, "eth0")
        .into_iter()
        .find(|a| a["local"] == "192.0.2.12")
        .unwrap_or_else(|| panic!("192.0.2.12 did not move to the bridge\n{}", h.explain(&r)));
    let lft = moved["valid_life_time"].as_u64().unwrap_or(0);
    assert!(
        lft > 0 && lft <= 3600,
        "the lifetime should be kept, got {moved}"
    );
    assert_eq!(h.master_of("peth0").as_deref(), Some("eth0"));
    let r = h.script("network-bridge").run(&["stop"]);
    assert_ok(&h, &r, "network-bridge stop");
    assert_same(
        &before,
        &h.snapshot(),
        "start then stop with a dynamic address",
    );
}

/// NB-06 FIX: an unrelated bridge (docker0, virbr0 …) does not stop `start`.
#[test]
fn nb06_an_unrelated_bridge_does_not_stop_start() {
    let Some(h) = host!("nb_docker").build() else {
        return;
    };
    cmd::ip_must(
        &h.dom0,
        &["link", "add", "name", "docker0", "type", "bridge"],
    );
    let mac = mac_of(&h, "eth0");
    add_extra_addresses(&h);
    let before = h.snapshot();
    let r = h.script("network-bridge").run(&["start"]);
    assert_ok(&h, &r, "network-bridge start next to docker0");
    assert_bridged(&h, "eth0", &mac, &r);
    assert!(h.link("docker0").is_some(), "docker0 must be left alone");
    let r = h.script("network-bridge").run(&["stop"]);
    assert_ok(&h, &r, "network-bridge stop next to docker0");
    assert_same(&before, &h.snapshot(), "start then stop next to docker0");
}

/// NB-15 (and README): `antispoof=yes` sets FORWARD to DROP and lets the uplink in, but keeps
/// the administrator's rules; stop puts the policy back.
#[test]
fn nb15_antispoof_keeps_admin_rules_and_stop_restores_the_policy() {
    let Some(h) = host!("nb_spoof").build() else {
        return;
    };
    let admin = "-A FORWARD -s 203.0.113.0/24 -j ACCEPT";
    cmd::ns_exec(
        &h.dom0,
        &[
            "iptables",
            "-w",
            "-A",
            "FORWARD",
            "-s",
            "203.0.113.0/24",
            "-j",
            "ACCEPT",
        ],
    )
    .ok();
    let r = h.script("network-bridge").run(&["start", "antispoof=yes"]);
    assert_ok(&h, &r, "network-bridge start antispoof=yes");
    let filter = snapshot::iptables_filter(&h.dom0);
    assert!(
        filter.contains(&":FORWARD DROP".to_string()),
        "policy DROP: {filter:?}"
    );
    assert!(
        filter.contains(&admin.to_string()),
        "the admin rule was flushed: {filter:?}"
    );
    assert!(
        filter.iter().any(|l| l.starts_with("-A FORWARD")
            && l.contains("--physdev-in peth0")
            && l.ends_with("-j ACCEPT")),
        "the uplink must be let in (NB-15): {filter:?}"
    );
    assert!(ping_retry(&h.dom0, LAN_ADDR, 5));
    let r = h.script("network-bridge").run(&["stop"]);
    assert_ok(&h, &r, "network-bridge stop after antispoof");
    let filter = snapshot::iptables_filter(&h.dom0);
    assert!(
        filter.contains(&":FORWARD ACCEPT".to_string()),
        "policy restored: {filter:?}"
    );
    assert!(
        filter.contains(&admin.to_string()),
        "admin rule kept: {filter:?}"
    );
}
