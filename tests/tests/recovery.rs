//! network-bridge never leaves dom0 between states (issue 2, NB-11 with its rollback FIX): a
//! failure at any step is rolled back to the exact before-state, and a run killed half-way is
//! undone by the next run from its journal. Faults come from wrappers named `ip` and `brctl`
//! first on the binaries' PATH, which count the calls that change the host and fail (or hang at)
//! the k-th.

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;
use xennet_tests::*;

/// A dom0 with several addresses, IPv6, a static route, a route whose gateway is reached only
/// through another non-kernel route, and a policy-routing table: everything start must move.
fn rich_host(name: &str) -> Option<Host> {
    let h = host!(name).build()?;
    let d = &h.dom0;
    for args in [
        &[
            "addr",
            "add",
            "192.0.2.11/24",
            "dev",
            "eth0",
            "label",
            "eth0:1",
        ][..],
        &["addr", "add", "198.51.100.10/24", "dev", "eth0"],
        &["addr", "add", "2001:db8::10/64", "dev", "eth0", "nodad"],
        &[
            "route",
            "add",
            "203.0.113.0/24",
            "via",
            "192.0.2.1",
            "dev",
            "eth0",
            "proto",
            "static",
        ],
        &["route", "add", "10.99.0.1", "dev", "eth0", "scope", "link"],
        &[
            "route",
            "add",
            "10.98.0.0/16",
            "via",
            "10.99.0.1",
            "dev",
            "eth0",
        ],
        &[
            "route",
            "add",
            "198.18.0.0/15",
            "dev",
            "eth0",
            "table",
            "100",
        ],
    ] {
        cmd::ip_must(d, args);
    }
    faults::install_host_change(&h.fake_bin, &["ip", "brctl"]);
    Some(h)
}

fn faults(h: &Host) -> std::path::PathBuf {
    let dir = h.scratch.join("faults");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn no_journal(h: &Host) -> bool {
    std::fs::read_dir(&h.state_dir)
        .map(|d| {
            !d.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().ends_with(".journal"))
        })
        .unwrap_or(true)
}

fn nb(h: &Host, dir: &Path, var: &str, k: usize, args: &[&str]) -> Output {
    h.script("network-bridge")
        .env("FAULT_DIR", &dir.display().to_string())
        .env(var, &k.to_string())
        .run(args)
}

#[test]
fn nb11_a_failure_at_every_step_of_start_and_stop_restores_the_host() {
    let Some(h) = rich_host("nb_fault_every_step") else {
        return;
    };
    let before = h.snapshot();
    // start: fail the k-th host change, for every k, until start gets through.
    let mut k = 1;
    loop {
        let dir = faults(&h);
        let r = nb(&h, &dir, "FAIL_AT", k, &["start"]);
        if r.success() {
            break;
        }
        assert!(
            r.stderr.contains("failed"),
            "start, failure {k}: the error must name the step:\n{}",
            h.explain(&r)
        );
        assert_same(
            &before,
            &h.snapshot(),
            &format!(
                "start failing at host change {k}\n{}\nhost changes:\n{}",
                h.explain(&r),
                std::fs::read_to_string(dir.join("log")).unwrap_or_default()
            ),
        );
        assert!(no_journal(&h), "a rolled-back start left its journal");
        k += 1;
        assert!(k < 80, "start never got through");
    }
    assert!(
        k > 10,
        "only {k} host changes were tried: the injector is not in the path"
    );
    assert_eq!(
        snapshot::master_of(&h.dom0, "peth0").as_deref(),
        Some("eth0")
    );
    for route in ["203.0.113.0/24 via 192.0.2.1", "10.98.0.0/16 via 10.99.0.1"] {
        assert!(
            cmd::ip_must(&h.dom0, &["route", "show", "dev", "eth0"]).contains(route),
            "{route} did not move"
        );
    }
    assert!(cmd::ip_must(&h.dom0, &["route", "show", "table", "100"])
        .contains("198.18.0.0/15 dev eth0"));
    let bridged = h.snapshot();

    // stop: the same, each failure leaving the bridged host as it was.
    let mut k = 1;
    loop {
        let dir = faults(&h);
        let r = nb(&h, &dir, "FAIL_AT", k, &["stop"]);
        if r.success() {
            break;
        }
        assert_same(
            &bridged,
            &h.snapshot(),
            &format!("stop failing at host change {k}"),
        );
        k += 1;
        assert!(k < 80, "stop never got through");
    }
    assert_same(&before, &h.snapshot(), "start, then stop");
}

/// Runs `network-bridge start` until it hangs at host change `k`, then kills it with SIGKILL.
fn kill_start_at(h: &Host, k: usize) {
    let dir = faults(h);
    let call = h
        .script("network-bridge")
        .env("FAULT_DIR", &dir.display().to_string())
        .env("HANG_AT", &k.to_string());
    let argv = call.argv(&["start"]);
    let mut child = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let hanging = dir.join("hanging");
    for _ in 0..200 {
        if hanging.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(hanging.exists(), "start never reached host change {k}");
    // `ip netns exec` and `env` exec the binary, so the child's pid is the script's.
    child.kill().unwrap();
    child.wait().unwrap();
    let sleeper = std::fs::read_to_string(&hanging).unwrap();
    let _ = cmd::run(&["kill", "-9", sleeper.trim()]);
}

#[test]
fn nb11_a_start_killed_half_way_is_undone_by_the_next_run() {
    let Some(h) = rich_host("nb_killed") else {
        return;
    };
    let before = h.snapshot();
    // How many host changes a whole start makes.
    let dir = faults(&h);
    assert_ok(&h, &nb(&h, &dir, "FAIL_AT", 0, &["start"]), "start");
    let total: usize = std::fs::read_to_string(dir.join("count"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let bridged = h.snapshot();
    assert_ok(&h, &h.script("network-bridge").run(&["stop"]), "stop");
    assert_same(&before, &h.snapshot(), "start, stop");

    for k in [total / 3, total / 2, total - 2] {
        // Killed with dom0 half-moved: the next stop finds the journal and puts the host back.
        kill_start_at(&h, k);
        assert!(!no_journal(&h), "killed at {k}: no journal was left");
        let r = h.script("network-bridge").run(&["stop"]);
        assert_ok(&h, &r, "stop after a killed start");
        assert!(
            r.stdout.contains("Recovered from an interrupted run"),
            "{}",
            r.stdout
        );
        assert_same(
            &before,
            &h.snapshot(),
            &format!("stop after start was killed at host change {k}"),
        );

        // Killed again; this time the next start recovers and then does its whole job.
        kill_start_at(&h, k);
        let r = h.script("network-bridge").run(&["start"]);
        assert_ok(&h, &r, "start after a killed start");
        assert!(
            r.stdout.contains("Recovered from an interrupted run"),
            "{}",
            r.stdout
        );
        assert_same(
            &bridged,
            &h.snapshot(),
            &format!("start after start was killed at host change {k}"),
        );
        assert_ok(&h, &h.script("network-bridge").run(&["stop"]), "stop");
        assert!(no_journal(&h));
    }
    assert_same(&before, &h.snapshot(), "after all the kills");
}
