//! Locks shared with Xen's original scripts (LK-01 … LK-05, NB-22) and many guests at once.
//! The test process itself holds a lock with `flock(LOCK_EX)` on the same path the original
//! `locking.sh` uses, exactly like a concurrently running shell script would.

mod common;

use common::*;
use nix::fcntl::{Flock, FlockArg};
use std::time::{Duration, Instant};
use xennet_tests::*;

fn hold(path: &std::path::Path) -> Flock<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .unwrap();
    Flock::lock(f, FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .unwrap()
}

#[test]
fn lk03_online_waits_for_the_iptables_lock_then_releases_it() {
    let Some((h, _g)) = admin_bridge_host("lk_wait", &[]) else {
        return;
    };
    let path = h.lock_dir.join("iptables");
    let lock = hold(&path);
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        drop(lock);
    });
    let t = Instant::now();
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    let waited = t.elapsed();
    releaser.join().unwrap();
    assert_ok(&h, &r, "online while another script held the iptables lock");
    assert!(
        waited >= Duration::from_millis(1500),
        "online did not wait for the iptables lock (LK-02/LK-03): took {waited:?}"
    );
    assert_eq!(
        h.forward_rules(),
        vec![out_rule("vif1.0"), in_rule("vif1.0")]
    );
    assert_eq!(h.hotplug_status(1, 0).as_deref(), Some("connected"));
    assert!(!path.exists(), "LK-04: the lock file is removed on release");
}

#[test]
fn lk05_a_lock_that_is_never_released_fails_in_bounded_time_and_rolls_back() {
    let Some((h, _g)) = admin_bridge_host("lk_bound", &[]) else {
        return;
    };
    let before = h.snapshot();
    let lock = hold(&h.lock_dir.join("iptables"));
    let t = Instant::now();
    let r = h
        .libxl("vif-bridge", 1, 0)
        .env("XENNET_LOCK_TIMEOUT", "2")
        .run(ONLINE);
    let took = t.elapsed();
    drop(lock);
    assert_reported(&h, &r, "online with the iptables lock held forever", "lock");
    assert!(
        took < Duration::from_secs(15),
        "the lock wait is not bounded: {took:?}"
    );
    assert_same(&before, &h.snapshot(), "online that could not get the lock");
}

#[test]
fn nb22_network_bridge_start_honours_its_lock() {
    let Some(h) = host!("lk_nb").build() else {
        return;
    };
    let before = h.snapshot();
    let lock = hold(&h.lock_dir.join("network-bridge"));
    let r = h
        .script("network-bridge")
        .env("XENNET_LOCK_TIMEOUT", "2")
        .run(&["start"]);
    drop(lock);
    assert_failed(&h, &r, "network-bridge start with its lock held");
    assert_same(&before, &h.snapshot(), "start that could not get the lock");
    // and once the lock is free it works
    let r = h.script("network-bridge").run(&["start"]);
    assert_ok(&h, &r, "network-bridge start after the lock was released");
    assert_eq!(h.master_of("peth0").as_deref(), Some("eth0"));
}

#[test]
fn many_guests_online_and_offline_at_once() {
    let Some(mut h) = host!("lk_many").build() else {
        return;
    };
    h.make_admin_bridge("xenbr0");
    let domids = [1u32, 2, 3, 4, 5, 6];
    let mut guests = Vec::new();
    for &d in &domids {
        guests.push(h.add_guest(d, 0));
        let ip = format!("192.0.2.{}", 50 + d);
        h.xs_write_backend(d, 0, &[("ip", &ip)]);
    }
    let h = &h;
    let results: Vec<(u32, Output)> = std::thread::scope(|s| {
        let handles: Vec<_> = domids
            .iter()
            .map(|&d| s.spawn(move || (d, h.libxl("vif-bridge", d, 0).run(ONLINE))))
            .collect();
        handles.into_iter().map(|j| j.join().unwrap()).collect()
    });
    for (d, r) in &results {
        assert_ok(h, r, &format!("concurrent online of vif{d}.0"));
        assert_eq!(h.hotplug_status(*d, 0).as_deref(), Some("connected"));
        assert_port(h, &format!("vif{d}.0"), "xenbr0", 1500);
        let dev = format!("vif{d}.0");
        let mut got = snapshot::forward_rules_for(&h.dom0, &dev);
        got.sort();
        let mut want = vec![
            out_rule(&dev),
            dhcp_rule(&dev),
            in_rule_from(&dev, &format!("192.0.2.{}", 50 + d)),
        ];
        want.sort();
        assert_eq!(got, want, "rules of {dev} after concurrent onlines");
    }
    assert_eq!(h.forward_rules().len(), 3 * domids.len());
    for g in &guests {
        assert!(
            ping_retry(&g.ns, LAN_ADDR, 5),
            "guest {} cannot reach the LAN",
            g.domid
        );
    }
    let results: Vec<(u32, Output)> = std::thread::scope(|s| {
        let handles: Vec<_> = domids
            .iter()
            .map(|&d| s.spawn(move || (d, h.libxl("vif-bridge", d, 0).run(OFFLINE))))
            .collect();
        handles.into_iter().map(|j| j.join().unwrap()).collect()
    });
    for (d, r) in &results {
        assert_ok(h, r, &format!("concurrent offline of vif{d}.0"));
        assert_released(h, &format!("vif{d}.0"));
    }
    assert!(
        h.forward_rules().is_empty(),
        "rules left: {:?}",
        h.forward_rules()
    );
}
