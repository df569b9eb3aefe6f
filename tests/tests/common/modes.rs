//! The three vif modes and the network scripts as the fault and idempotency tests drive them:
//! one dom0 per mode, guest 1's vif (or its `-emu` tap) made anew on demand.

use super::*;
use xennet_tests::*;

/// One vif mode: the script, its backend keys and environment.
pub struct Mode {
    pub script: &'static str,
    pub extra: Vec<(&'static str, &'static str)>,
    pub env: Vec<(&'static str, &'static str)>,
}

pub fn bridge_mode() -> Mode {
    Mode {
        script: "vif-bridge",
        extra: vec![("ip", "192.0.2.51")],
        env: vec![],
    }
}

pub fn nat_mode() -> Mode {
    Mode {
        script: "vif-nat",
        extra: vec![("ip", "10.0.0.1"), ("script", "/etc/xen/scripts/vif-nat")],
        env: vec![("dhcp", "no")],
    }
}

pub fn route_mode() -> Mode {
    Mode {
        script: "vif-route",
        extra: vec![
            ("ip", "192.0.2.60"),
            ("script", "/etc/xen/scripts/vif-route"),
        ],
        env: vec![],
    }
}

/// A dom0 ready for `m`: an administrator's bridge for vif-bridge, `network-nat start` or
/// `network-route start` for the others.
pub fn mode_host(name: &str, m: &Mode) -> Option<Host> {
    let h = host!(name).build()?;
    // A host with iptables has its nat table too, so that reading it changes no snapshot.
    cmd::ns_exec(
        &h.dom0,
        &["iptables", "-w", "-t", "nat", "-P", "POSTROUTING", "ACCEPT"],
    )
    .ok();
    match m.script {
        "vif-bridge" => h.make_admin_bridge("xenbr0"),
        "vif-nat" => assert_ok(
            &h,
            &h.script("network-nat").env("dhcp", "no").run(&["start"]),
            "network-nat start",
        ),
        _ => assert_ok(
            &h,
            &h.script("network-route").run(&["start"]),
            "network-route start",
        ),
    }
    Some(h)
}

pub fn dev(tap: bool) -> &'static str {
    if tap {
        "vif1.0-emu"
    } else {
        "vif1.0"
    }
}

pub fn words(tap: bool) -> (&'static [&'static str], &'static [&'static str]) {
    if tap {
        (ADD_TAP, REMOVE_TAP)
    } else {
        (ONLINE, OFFLINE)
    }
}

pub fn vif_call<'h>(h: &'h Host, m: &Mode, tap: bool) -> Call<'h> {
    let mut c = if tap {
        h.libxl_ioemu(m.script, 1, 0)
    } else {
        h.libxl(m.script, 1, 0)
    };
    for (k, v) in &m.env {
        c = c.env(k, v);
    }
    c
}

/// A brand-new backend interface for guest 1 (down, a MAC that is not the port MAC)
/// and libxl's keys for it, with no trace of earlier runs in xenstore.
pub fn fresh_vif(h: &mut Host, m: &Mode, tap: bool) {
    // The toolstack runs offline before netback destroys a vif: its rules and the firewall's
    // note of them go, so the next online is a new vif's (no ruleset read, issue 8).
    let _ = vif_call(h, m, tap).run(words(tap).1);
    cmd::ip(&h.dom0, &["link", "del", dev(tap)]);
    if tap {
        h.add_tap(1, 0);
    } else {
        h.add_guest(1, 0);
    }
    // Always the same MAC, so that snapshots of runs on different fresh vifs compare.
    cmd::ip_must(
        &h.dom0,
        &[
            "link",
            "set",
            "dev",
            dev(tap),
            "address",
            "02:00:00:00:01:00",
        ],
    );
    h.xs_rm(&h.backend_path(1, 0));
    h.xs_rm(&h.frontend_path(1, 0));
    h.xs_write_backend(1, 0, &m.extra);
}

/// A network script's call; network-nat without dhcpd (it would edit the machine's dhcpd.conf).
pub fn net_call<'h>(h: &'h Host, script: &str) -> Call<'h> {
    let c = h.script(script);
    if script == "network-nat" {
        c.env("dhcp", "no")
    } else {
        c
    }
}
