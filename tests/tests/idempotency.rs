//! Every command twice in a row (issue 6, item 3): all six scripts, every command word. The
//! second run succeeds and changes nothing (the full snapshot: links, addresses, routes,
//! iptables, sysctls, xenstore). Also `stop` without `start`, `offline` for a vif that is already
//! gone (succeeds, says nothing on stderr, and removes what is left: its rules), and `online`
//! over half a setup. (`online` after a crash at each step is in faults.rs.)

mod common;

use common::modes::*;
use common::*;
use xennet_tests::faults::{assert_full_same, no_journal, Full};
use xennet_tests::*;

/// Runs `c args` twice: both succeed, the second changes nothing. Returns the state after.
#[track_caller]
fn twice<'h>(h: &'h Host, c: &dyn Fn() -> Call<'h>, args: &[&str], what: &str) -> Full {
    let r = c().run(args);
    assert_ok(h, &r, &format!("{what}, first"));
    let after_first = Full::take(h);
    let status = h.hotplug_status(1, 0);
    let r = c().run(args);
    assert_ok(h, &r, &format!("{what}, second"));
    assert_full_same(
        &after_first,
        &Full::take(h),
        &format!("{what}, run a second time"),
    );
    assert_eq!(h.hotplug_status(1, 0), status, "{what}: hotplug-status");
    assert!(no_journal(h));
    after_first
}

fn vif_matrix(name: &str, m: Mode) {
    let Some(mut h) = mode_host(name, &m) else {
        return;
    };
    let mut runs = 0;
    for tap in [false, true] {
        let (up, down) = if tap {
            (ADD_TAP, REMOVE_TAP)
        } else {
            (ONLINE, OFFLINE)
        };
        let dev = if tap { "vif1.0-emu" } else { "vif1.0" };
        fresh_vif(&mut h, &m, tap);
        let hh = &h;
        let before = Full::take(hh);
        let c = || vif_call(hh, &m, tap);
        let online = twice(hh, &c, up, &format!("{} {}", m.script, up[0]));
        assert_ne!(online, before, "{} {} changed nothing", m.script, up[0]);
        twice(hh, &c, down, &format!("{} {}", m.script, down[0]));
        // Down without up, on a fresh vif: succeeds and changes nothing.
        fresh_vif(&mut h, &m, tap);
        let hh = &h;
        let fresh = Full::take(hh);
        let r = vif_call(hh, &m, tap).run(down);
        assert_ok(
            hh,
            &r,
            &format!("{} {} without {}", m.script, down[0], up[0]),
        );
        assert_full_same(
            &fresh,
            &Full::take(hh),
            &format!("{} {} without {}", m.script, down[0], up[0]),
        );

        // Down for a vif that is already gone (the guest died; netback removed it): succeeds
        // quietly and removes what the kernel left: its FORWARD rules.
        let r = vif_call(hh, &m, tap).run(up);
        assert_ok(hh, &r, "up");
        cmd::ip_must(&hh.dom0, &["link", "del", dev]);
        let r = vif_call(hh, &m, tap).run(down);
        assert_ok(
            hh,
            &r,
            &format!("{} {} for a vif that is gone", m.script, down[0]),
        );
        assert!(
            r.stderr.trim().is_empty(),
            "{} {} for a vif that is gone must be quiet: {}",
            m.script,
            down[0],
            r.stderr
        );
        assert!(
            snapshot::forward_rules_for(&hh.dom0, dev).is_empty(),
            "{dev}'s rules were left: {:?}",
            hh.forward_rules()
        );
        assert_full_same(
            &fresh.without_link(dev),
            &Full::take(hh),
            &format!("{} {} for a vif that is gone", m.script, down[0]),
        );
        runs += 9;
    }
    eprintln!("idempotency: {}: {runs} runs", m.script);
}

#[test]
fn vif_bridge_every_command_twice() {
    vif_matrix("idem_vb", bridge_mode());
}

#[test]
fn vif_nat_every_command_twice() {
    vif_matrix("idem_vn", nat_mode());
}

#[test]
fn vif_route_every_command_twice() {
    vif_matrix("idem_vr", route_mode());
}

/// `online` over half a setup made by hand (port of the bridge, down, no rules): finishes it,
/// exactly as a clean online does.
#[test]
fn vif_bridge_online_over_half_a_setup_finishes_it() {
    let m = bridge_mode();
    let Some(mut h) = mode_host("idem_half", &m) else {
        return;
    };
    fresh_vif(&mut h, &m, false);
    assert_ok(&h, &vif_call(&h, &m, false).run(ONLINE), "online");
    let online = Full::take(&h);
    fresh_vif(&mut h, &m, false);
    for args in [
        &["link", "set", "dev", "vif1.0", "master", "xenbr0"][..],
        &["addr", "add", "192.0.2.99/32", "dev", "vif1.0"],
    ] {
        cmd::ip_must(&h.dom0, args);
    }
    cmd::ns_exec(
        &h.dom0,
        &[
            "iptables",
            "-w",
            "-I",
            "FORWARD",
            "-m",
            "physdev",
            "--physdev-is-bridged",
            "--physdev-out",
            "vif1.0",
            "-j",
            "ACCEPT",
        ],
    )
    .ok();
    assert_ok(&h, &vif_call(&h, &m, false).run(ONLINE), "online over half");
    assert_full_same(&online, &Full::take(&h), "online over half a setup");
}

fn host_matrix(name: &str, script: &str) {
    let Some(h) = host!(name).build() else {
        return;
    };
    cmd::ns_exec(
        &h.dom0,
        &["iptables", "-w", "-t", "nat", "-P", "POSTROUTING", "ACCEPT"],
    )
    .ok();
    let hh = &h;
    let before = Full::take(hh);
    let c = || net_call(hh, script);
    // stop without start: succeeds, changes nothing.
    let r = c().run(&["stop"]);
    assert_ok(hh, &r, &format!("{script} stop without start"));
    assert_full_same(
        &before,
        &Full::take(hh),
        &format!("{script} stop without start"),
    );
    let started = twice(hh, &c, &["start"], &format!("{script} start"));
    assert_ne!(started, before, "{script} start changed nothing");
    // status only reports, whatever it says.
    for _ in 0..2 {
        let _ = c().run(&["status"]);
        assert_full_same(&started, &Full::take(hh), &format!("{script} status"));
    }
    let stopped = twice(hh, &c, &["stop"], &format!("{script} stop"));
    assert_full_same(&before, &stopped, &format!("{script} start, stop"));
    eprintln!("idempotency: {script}: 8 runs");
}

#[test]
fn network_bridge_every_command_twice() {
    host_matrix("idem_nb", "network-bridge");
}

#[test]
fn network_nat_every_command_twice() {
    host_matrix("idem_nn", "network-nat");
}

#[test]
fn network_route_every_command_twice() {
    host_matrix("idem_nr", "network-route");
}
