//! Safe remote change (issue 6, item 2): `start confirm=SECONDS` keeps its change only when
//! `confirm` comes from a second shell in time; otherwise it rolls itself back, as `netplan try`
//! does, so an administrator who cut off their own SSH session gets dom0 back.

mod common;

use common::*;
use std::time::Duration;
use xennet_tests::*;

/// Starts `<script> start confirm=<secs>` in the background; returns the child.
fn start_in_background(h: &Host, script: &str, secs: u32) -> std::process::Child {
    let argv = h
        .script(script)
        .argv(&["start", &format!("confirm={secs}")]);
    std::process::Command::new("timeout")
        .args(["-k", "5", "120"])
        .args(&argv)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting until {what}");
}

#[test]
fn unconfirmed_network_bridge_start_rolls_itself_back() {
    let Some(h) = host!("confirm_timeout").build() else {
        return;
    };
    let before = h.snapshot();
    let child = start_in_background(&h, "network-bridge", 2);
    // The bridge is really there while the change waits for its confirmation…
    wait_until("the bridge is built", || {
        snapshot::master_of(&h.dom0, "peth0").as_deref() == Some("eth0")
    });
    let out = child.wait_with_output().unwrap();
    // …and gone again when none came.
    assert!(
        !out.status.success(),
        "an unconfirmed start must say it was rolled back"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not confirmed within 2 s"), "{stderr}");
    assert_same(&before, &h.snapshot(), "an unconfirmed start");
    assert!(ping(&h.dom0, LAN_ADDR), "dom0 must reach the LAN again");
}

#[test]
fn confirmed_changes_are_kept_for_every_host_script() {
    let Some(h) = host!("confirm_ok").build() else {
        return;
    };
    let r = h.script("network-bridge").run(&["confirm"]);
    assert_failed(&h, &r, "confirm with nothing waiting");
    assert!(r.stderr.contains("nothing to confirm"), "{}", r.stderr);

    let child = start_in_background(&h, "network-bridge", 60);
    wait_until("the bridge is built", || {
        snapshot::master_of(&h.dom0, "peth0").as_deref() == Some("eth0")
    });
    wait_until("the change waits", || {
        h.state_dir.join("network-bridge.pending").exists()
    });
    let r = h.script("network-bridge").run(&["confirm"]);
    assert_ok(&h, &r, "network-bridge confirm");
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Confirmed"));
    assert_eq!(
        snapshot::master_of(&h.dom0, "peth0").as_deref(),
        Some("eth0"),
        "the change is kept"
    );
    assert!(ping(&h.dom0, LAN_ADDR));
    // Kept for good: no journal is left for a later run to undo.
    let after = h.snapshot();
    assert_ok(
        &h,
        &h.script("network-bridge").run(&["start"]),
        "a later start",
    );
    assert_same(&after, &h.snapshot(), "a later start after a confirmed one");

    // network-route and network-nat take confirm= the same way. (A host with iptables has its
    // nat table, so that network-nat's own use of it changes no snapshot.)
    cmd::ns_exec(
        &h.dom0,
        &["iptables", "-w", "-t", "nat", "-P", "POSTROUTING", "ACCEPT"],
    )
    .ok();
    for script in ["network-route", "network-nat"] {
        let before = h.snapshot();
        let child = start_in_background(&h, script, 1);
        let out = child.wait_with_output().unwrap();
        assert!(
            !out.status.success(),
            "{script}: unconfirmed start must fail"
        );
        assert_same(
            &before,
            &h.snapshot(),
            &format!("{script}: an unconfirmed start"),
        );
    }
}
