//! A dom0 without iptables (issue 15): Debian 12 and 13 install nftables by default and neither
//! Xen package depends on iptables. Every iptables program is hidden from the scripts (bound
//! over with /dev/null in their mount namespace), and with the default `firewall=auto` NAT mode,
//! route mode and bridge mode with `antispoof=yes` still work end to end through nftables:
//! guests behind vif-nat are masqueraded and cannot be reached from the LAN, a forged source is
//! dropped on an `antispoof=yes` bridge, and once the last guest and the mode are gone
//! `nft list ruleset` is byte for byte what it was before.

mod common;

use common::nft::*;
use common::*;
use xennet_tests::*;

const FORGED: &str = "192.0.2.99";

/// The iptables programs really are gone for the scripts: `iptables` fails to run there.
#[track_caller]
fn assert_hidden(h: &Host) {
    assert!(!h.hidden.is_empty(), "no iptables program found to hide");
    let r = h
        .script("network-route")
        .run(&["status", "netdev=no-such-uplink"]);
    assert!(r.success(), "status runs: {r}");
    let probe = cmd::run_with_timeout(10, &{
        let mut v = vec!["ip".to_string(), "netns".into(), "exec".into()];
        v.push(h.dom0.clone());
        v.extend(["sh".into(), "-c".into()]);
        let mounts: Vec<String> = h
            .hidden
            .iter()
            .map(|f| format!("mount --bind /dev/null '{f}';"))
            .collect();
        v.push(format!("{} iptables -S", mounts.join(" ")));
        v
    });
    assert!(!probe.success(), "iptables still runs in the scripts' view");
}

/// A counter in the guest's own namespace: echo requests reaching it from the LAN.
fn guest_counter(g: &Guest) -> impl Fn() -> u64 + '_ {
    let t = format!(
        "table inet xt_guest {{\ncounter from_lan {{ }}\nchain in {{\ntype filter hook input priority 0; policy accept;\nip saddr {LAN_ADDR} icmp type echo-request counter name from_lan\n}}\n}}\n"
    );
    let path = std::env::temp_dir().join(format!("{}-guest.nft", g.ns));
    std::fs::write(&path, t).unwrap();
    let r = cmd::ns_exec(&g.ns, &["nft", "-f", &path.display().to_string()]);
    let _ = std::fs::remove_file(&path);
    assert!(r.success(), "guest counter: {r}");
    move || {
        cmd::ns_exec(
            &g.ns,
            &["nft", "list", "counter", "inet", "xt_guest", "from_lan"],
        )
        .ok()
        .split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
    }
}

#[test]
fn nat_mode_masquerades_and_refuses_inbound_through_nftables_and_leaves_no_trace() {
    let Some(mut h) = host!("noipt_nat").without_iptables().build() else {
        return;
    };
    assert_hidden(&h);
    let g = add_nat_guest(&mut h);
    let before = ruleset(&h.dom0);
    lan_counters(&h, &[("from_dom0", DOM0_ADDR), ("from_guest", "10.0.0.1")]);

    // firewall=auto, the default: nftables, since iptables is not installed; the choice is logged.
    let r = h
        .script("network-nat")
        .env("dhcp", "no")
        .run(&["-v", "start"]);
    assert_ok(&h, &r, "network-nat start without iptables");
    assert!(
        r.stderr.contains("nftables (firewall=auto"),
        "the choice is logged: {}",
        r.stderr
    );
    let table = cmd::ns_exec(&h.dom0, &["nft", "list", "table", "inet", "xen_netscripts"])
        .ok()
        .to_string();
    assert!(
        table.contains("oifname \"eth0\" masquerade")
            && table.contains("iifname \"eth0\" ct state new drop"),
        "{table}"
    );
    let r = h.libxl("vif-nat", 1, 0).env("dhcp", "no").run(ONLINE);
    assert_ok(&h, &r, "vif-nat online without iptables");
    assert_eq!(h.hotplug_status(1, 0).as_deref(), Some("connected"));

    // Out: the guest reaches the LAN, which sees dom0's address, never the guest's.
    assert!(
        ping_retry(&g.ns, LAN_ADDR, 5),
        "the guest cannot reach the LAN"
    );
    assert!(lan_count(&h, "from_dom0") > 0, "not masqueraded");
    assert_eq!(lan_count(&h, "from_guest"), 0, "the guest's address leaked");

    // In: the LAN cannot open a connection to the guest, even with a route to it.
    let reached = guest_counter(&g);
    cmd::ip_must(&h.lan, &["route", "add", "10.0.0.0/16", "via", DOM0_ADDR]);
    assert!(!ping(&h.lan, "10.0.0.1"), "the LAN reached the guest");
    assert_eq!(
        reached(),
        0,
        "a new connection from the LAN got to the guest"
    );

    let r = h.libxl("vif-nat", 1, 0).env("dhcp", "no").run(OFFLINE);
    assert_ok(&h, &r, "vif-nat offline");
    let r = h.script("network-nat").env("dhcp", "no").run(&["stop"]);
    assert_ok(&h, &r, "network-nat stop");
    assert_eq!(
        ruleset(&h.dom0),
        before,
        "nft list ruleset is not what it was before"
    );
}

#[test]
fn route_mode_works_through_nftables_and_leaves_no_trace() {
    let Some(mut h) = host!("noipt_route").without_iptables().build() else {
        return;
    };
    let g = add_routed_guest(&mut h);
    let before = ruleset(&h.dom0);
    assert_ok(
        &h,
        &h.script("network-route").run(&["start"]),
        "network-route start",
    );
    let r = h.libxl("vif-route", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "vif-route online without iptables");
    let table = cmd::ns_exec(&h.dom0, &["nft", "list", "table", "inet", "xen_netscripts"])
        .ok()
        .to_string();
    assert!(table.contains("\"vif1.0\" : jump vif_open"), "{table}");
    assert!(
        ping_retry(&g.ns, LAN_ADDR, 5),
        "the guest cannot reach the LAN"
    );
    assert!(
        ping(&h.lan, "192.0.2.60"),
        "the LAN cannot reach the guest (proxy ARP)"
    );

    assert_ok(&h, &h.libxl("vif-route", 1, 0).run(OFFLINE), "offline");
    assert_ok(&h, &h.script("network-route").run(&["stop"]), "stop");
    assert_eq!(
        ruleset(&h.dom0),
        before,
        "nft ruleset after offline and stop"
    );
}

/// Guest `domid` (192.0.2.50+domid) on the bridge of `network-bridge start [antispoof=yes]`,
/// able to send from a forged address: how many of its pings reach the LAN from its own address
/// (counted as `legit<domid>`) and from the forged one.
fn forged_on_bridge(h: &mut Host, domid: u32, antispoof: bool) -> (u64, u64) {
    let mut args = vec!["start"];
    if antispoof {
        args.push("antispoof=yes");
    }
    let r = h.script("network-bridge").run(&args);
    assert_ok(h, &r, "network-bridge start");
    let g = h.add_guest(domid, 0);
    let legit = g.addr.clone().unwrap();
    h.xs_write_backend(domid, 0, &[("ip", legit.as_str()), ("bridge", "xenbr0")]);
    add_forged_address(&g, FORGED);
    let r = h.libxl("vif-bridge", domid, 0).run(ONLINE);
    assert_ok(h, &r, "vif-bridge online without iptables");
    assert!(
        ping_retry(&g.ns, LAN_ADDR, 5),
        "the guest cannot reach the LAN"
    );
    let counts = (
        arrived(h, &g, &legit, LAN_ADDR, &format!("legit{domid}")),
        arrived(h, &g, FORGED, LAN_ADDR, "forged"),
    );
    assert_ok(h, &h.libxl("vif-bridge", domid, 0).run(OFFLINE), "offline");
    assert_ok(h, &h.script("network-bridge").run(&["stop"]), "stop");
    counts
}

#[test]
fn bridge_mode_antispoof_drops_a_forged_source_through_nftables() {
    let Some(mut h) = host!("noipt_bridge").without_iptables().build() else {
        return;
    };
    let before = ruleset(&h.dom0);
    lan_counters(
        &h,
        &[
            ("legit1", "192.0.2.51"),
            ("legit2", "192.0.2.52"),
            ("forged", FORGED),
        ],
    );
    // Control: without antispoof the forged source gets through.
    let (legit, forged) = forged_on_bridge(&mut h, 1, false);
    assert!(
        legit > 0 && forged > 0,
        "control: legit {legit}, forged {forged}"
    );
    assert_eq!(
        ruleset(&h.dom0),
        before,
        "nft ruleset after the control run"
    );
    // antispoof=yes on the bridge: only the guest's own address passes.
    let (legit, forged) = forged_on_bridge(&mut h, 2, true);
    assert!(legit > 0, "the guest's own address must pass");
    assert_eq!(forged, 0, "a forged source must be dropped");
    assert_eq!(ruleset(&h.dom0), before, "nft ruleset after antispoof=yes");
}

#[test]
fn our_nftables_table_goes_with_its_last_vif() {
    let Some(mut h) = host!("noipt_last").without_iptables().build() else {
        return;
    };
    h.make_admin_bridge("xenbr0");
    let before = ruleset(&h.dom0);
    for domid in [1, 2] {
        h.add_guest(domid, 0);
        h.xs_write_backend(domid, 0, &[("bridge", "xenbr0")]);
        assert_ok(&h, &h.libxl("vif-bridge", domid, 0).run(ONLINE), "online");
    }
    assert_ok(&h, &h.libxl("vif-bridge", 1, 0).run(OFFLINE), "offline 1");
    let rs = ruleset(&h.dom0);
    assert!(
        rs.contains("table bridge xen_netscripts") && rs.contains("\"vif2.0\" : jump"),
        "the table stays while vif2.0 uses it:\n{rs}"
    );
    assert_ok(&h, &h.libxl("vif-bridge", 2, 0).run(OFFLINE), "offline 2");
    assert_eq!(ruleset(&h.dom0), before, "the table outlived its last vif");
}
