//! `xennet doctor`, run as the built binary in an environment the test controls: PATH, the lock
//! and state directories, the bridge sysctls and the scripts directory are all temporary. Whether
//! the host's own tools pass is not asserted, only the format and what the test arranged.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

const CHECKS: &[&str] = &[
    "root",
    "dom0",
    "ip",
    "bridge",
    "brctl",
    "iptables",
    "iptables-save",
    "iptables-restore",
    "nft",
    "xenstore-read",
    "xenstore-write",
    "logger",
    "bash",
    "firewall",
    "kernel bridge",
    "br_netfilter",
    "lock dir",
    "state dir",
    "boot",
    "scripts dir",
];

const SCRIPTS: [&str; 7] = [
    "vif-bridge",
    "vif-openvswitch",
    "vif-nat",
    "vif-route",
    "network-bridge",
    "network-nat",
    "network-route",
];

/// The directories the scripts (and so the doctor) search after PATH.
const SYSTEM_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

fn tool(dir: &Path, name: &str, body: &str) {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

struct Env {
    path: tempfile::TempDir,
    scratch: tempfile::TempDir,
    scripts: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env {
            path: tempfile::tempdir().unwrap(),
            scratch: tempfile::tempdir().unwrap(),
            scripts: tempfile::tempdir().unwrap(),
        };
        let p = env.path.path();
        tool(
            p,
            "ip",
            "case \"$1\" in -V) echo 'ip utility, iproute2-6.1.0';; -j) echo '[{\"ifname\":\"lo\"}]';; esac",
        );
        tool(p, "bridge", "echo 'bridge utility, 6.1.0'");
        tool(p, "iptables", "echo 'iptables v1.8.9 (legacy)'");
        let net = env.scratch.path().join("net");
        std::fs::create_dir_all(net.join("bridge")).unwrap();
        std::fs::write(net.join("bridge/bridge-nf-call-iptables"), "0\n").unwrap();
        env
    }

    fn doctor(&self, lock_dir: &Path) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_xen-netscripts"))
            .arg0("xennet")
            .args(["doctor", "--dir", self.scripts.path().to_str().unwrap()])
            .env("PATH", self.path.path())
            .env("XENNET_LOCK_DIR", lock_dir)
            .env("XENNET_STATE_DIR", self.scratch.path().join("state"))
            .env("XENNET_PROC_SYS_NET", self.scratch.path().join("net"))
            .output()
            .expect("run xennet doctor");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// The check lines (before the blank line and the summary) as (status, name, detail).
fn lines(out: &str) -> Vec<(String, String, String)> {
    let (checks, summary) = out
        .split_once("\n\n")
        .expect("a blank line before the summary");
    assert!(
        summary.trim_end().ends_with(" FAIL") && summary.contains(" checks: "),
        "{summary:?}"
    );
    checks
        .lines()
        .map(|l| {
            let (status, rest) = l.split_at(4);
            assert!(
                ["OK  ", "WARN", "FAIL"].contains(&status),
                "bad status in {l:?}"
            );
            let rest = rest.strip_prefix(' ').unwrap_or_else(|| panic!("{l:?}"));
            let (name, detail) = rest.split_once(": ").unwrap_or_else(|| panic!("{l:?}"));
            assert!(!detail.trim().is_empty(), "{l:?}");
            (
                status.trim().to_string(),
                name.to_string(),
                detail.to_string(),
            )
        })
        .collect()
}

fn find<'a>(ls: &'a [(String, String, String)], name: &str) -> &'a (String, String, String) {
    ls.iter()
        .find(|l| l.1 == name)
        .unwrap_or_else(|| panic!("no {name} line in {ls:?}"))
}

#[test]
fn one_line_per_check_and_what_the_test_arranged() {
    let env = Env::new();
    let lock = env.scratch.path().join("locks");
    let (code, out, err) = env.doctor(&lock);
    let ls = lines(&out);
    let names: Vec<&str> = ls.iter().map(|l| l.1.as_str()).collect();
    let mut expected: Vec<String> = CHECKS.iter().map(|s| s.to_string()).collect();
    expected.extend(SCRIPTS.iter().map(|s| format!("script {s}")));
    expected.push("scripts".to_string());
    assert_eq!(names, expected, "{out}{err}");
    let fails = ls.iter().filter(|l| l.0 == "FAIL").count();
    assert_eq!(code, i32::from(fails > 0), "{out}");
    assert!(out.contains(&format!("{} checks:", ls.len())));

    // The stand-ins on PATH come first, with their versions.
    let ip = find(&ls, "ip");
    assert_eq!(ip.0, "OK");
    assert!(ip.2.starts_with("ip utility, iproute2-6.1.0 ("), "{ip:?}");
    let ipt = find(&ls, "iptables");
    assert!(ipt.2.contains("backend legacy"), "{ipt:?}");
    // The sysctl the test wrote, and a lock directory still to be made.
    let nf = find(&ls, "br_netfilter");
    assert_eq!(nf.0, "WARN");
    assert!(nf.2.contains("= 0") && nf.2.contains("net.bridge.bridge-nf-call-iptables=1"));
    assert_eq!(find(&ls, "kernel bridge").0, "OK");
    let l = find(&ls, "lock dir");
    assert_eq!(l.0, "OK", "{l:?}");
    assert!(l.2.contains("does not exist yet"));
    // Only reading: the lock and state directories were not made.
    assert!(!lock.exists() && !env.scratch.path().join("state").exists());
    // Empty scripts directory: each script is reported missing, with what to do.
    for s in SCRIPTS {
        let l = find(&ls, &format!("script {s}"));
        assert_eq!(l.0, "WARN");
        assert!(l.2.contains("xennet install"), "{l:?}");
    }
    assert_eq!(std::fs::read_dir(env.scripts.path()).unwrap().count(), 0);
}

#[test]
fn a_missing_tool_is_a_failure_that_names_its_package() {
    let env = Env::new();
    let (_, out, _) = env.doctor(&env.scratch.path().join("locks"));
    let ls = lines(&out);
    // xenstore-read is not among the stand-ins; it is missing unless a system directory has it.
    let in_system = |t: &str| SYSTEM_DIRS.iter().any(|d| Path::new(d).join(t).exists());
    let mut checked = 0;
    for (tool, package) in [
        ("xenstore-read", "xenstore-utils"),
        ("xenstore-write", "xenstore-utils"),
    ] {
        let l = find(&ls, tool);
        if in_system(tool) {
            assert_eq!(l.0, "OK", "{l:?}");
            assert!(l.2.contains("outside your PATH"), "{l:?}");
            continue;
        }
        assert_eq!(l.0, "FAIL", "{l:?}");
        assert!(
            l.2.contains(&format!("install the Debian package {package}")),
            "{l:?}"
        );
        checked += 1;
    }
    if checked == 0 {
        eprintln!("note: every tool is installed in a system directory here; no FAIL to check");
    } else {
        assert_ne!(
            env.doctor(&env.scratch.path().join("locks")).0,
            0,
            "a FAIL must make the exit status non-zero"
        );
    }
}

#[test]
fn an_unusable_lock_dir_fails_and_the_exit_status_says_so() {
    let env = Env::new();
    let file = env.scratch.path().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    let (code, out, _) = env.doctor(&file.join("locks"));
    let ls = lines(&out);
    let l = find(&ls, "lock dir");
    assert_eq!(l.0, "FAIL", "{l:?}");
    assert!(
        l.2.contains("is not a directory") && l.2.contains("XENNET_LOCK_DIR"),
        "{l:?}"
    );
    assert_eq!(code, 1);
}

#[test]
fn installed_links_are_recognised_and_a_dangling_one_fails() {
    let env = Env::new();
    let bins = tempfile::tempdir().unwrap();
    for s in SCRIPTS {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_xen-netscripts"), bins.path().join(s))
            .unwrap();
    }
    std::fs::write(env.scripts.path().join("vif-nat"), "#!/bin/bash\n").unwrap();
    let st = Command::new(env!("CARGO_BIN_EXE_xen-netscripts"))
        .arg0("xennet")
        .args(["install", "--dir"])
        .arg(env.scripts.path())
        .arg("--bin-dir")
        .arg(bins.path())
        .output()
        .unwrap();
    assert!(st.status.success(), "{st:?}");
    std::fs::remove_file(bins.path().join("network-route")).unwrap();
    let (code, out, _) = env.doctor(&env.scratch.path().join("locks"));
    let ls = lines(&out);
    for s in ["vif-bridge", "vif-nat", "network-nat"] {
        let l = find(&ls, &format!("script {s}"));
        assert_eq!(l.0, "OK", "{l:?}");
        assert!(l.2.ends_with("(xennet)"), "{l:?}");
    }
    let l = find(&ls, "script network-route");
    assert_eq!(l.0, "FAIL", "{l:?}");
    assert!(l.2.contains("does not exist"), "{l:?}");
    assert_eq!(code, 1);
}

#[test]
fn a_missing_scripts_directory_is_one_warning() {
    let env = Env::new();
    let gone = env.scripts.path().join("nope");
    let out = Command::new(env!("CARGO_BIN_EXE_xen-netscripts"))
        .arg0("xennet")
        .args(["doctor", "--dir"])
        .arg(&gone)
        .env("PATH", env.path.path())
        .env("XENNET_LOCK_DIR", env.scratch.path())
        .env("XENNET_STATE_DIR", env.scratch.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    let ls = lines(&out);
    let l = find(&ls, "scripts dir");
    assert_eq!(l.0, "WARN");
    assert!(l.2.contains("does not exist"), "{l:?}");
    assert!(!ls.iter().any(|l| l.1.starts_with("script ")));
    assert!(!gone.exists());
}
