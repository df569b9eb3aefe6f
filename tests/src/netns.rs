//! Network namespaces owned by one test: created on demand, always removed (drop guard, so also
//! when the test panics).

use crate::cmd;
use std::sync::atomic::{AtomicU32, Ordering};

/// Every namespace this harness makes starts with this, then `<test>-<pid>-<n>-`.
pub const NS_MARK: &str = "xt-";

/// True when the tests may touch namespaces. Not root: a loud skip message and `false`, except
/// under `CI=true`, where skipping would hide a broken setup, so it panics.
pub fn require_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let msg = "namespace tests need root (ip netns, veth, bridges, iptables)";
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("{msg}; CI=true, so this is a failure, not a skip");
    }
    eprintln!();
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!!! SKIPPED: {msg}.");
    eprintln!("!!! This test did NOT run. Run the suite as root (CI=true makes this fatal).");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!();
    false
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique, short prefix: `xt-<test>-<pid>-<n>` (test name cut to 10 `[a-z0-9]` characters).
pub fn unique_prefix(test: &str) -> String {
    let short: String = test
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .take(10)
        .collect();
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{NS_MARK}{short}-{}-{n}", std::process::id())
}

/// One namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
    keep: bool,
}

impl Netns {
    /// Creates the namespace with `lo` up.
    #[track_caller]
    pub fn create(name: &str) -> Netns {
        assert!(
            name.starts_with(NS_MARK),
            "refusing to manage namespace {name:?}: not one of ours"
        );
        cmd::must(&["ip", "netns", "add", name]);
        let ns = Netns {
            name: name.to_string(),
            keep: std::env::var("XENNET_TEST_KEEP")
                .map(|v| v == "1")
                .unwrap_or(false),
        };
        cmd::ip_must(name, &["link", "set", "dev", "lo", "up"]);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if self.keep {
            eprintln!(
                "XENNET_TEST_KEEP=1: leaving namespace {} (remove with: ip netns del {})",
                self.name, self.name
            );
            return;
        }
        delete(&self.name);
    }
}

/// Kills what still runs inside one of our namespaces (only processes our tests started can be
/// there), then deletes it.
fn delete(name: &str) {
    if !name.starts_with(NS_MARK) {
        return;
    }
    let pids = cmd::run(&["ip", "netns", "pids", name]);
    for pid in pids.stdout.split_whitespace() {
        if let Ok(p) = pid.parse::<i32>() {
            if p > 1 && p != std::process::id() as i32 {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
    let o = cmd::run(&["ip", "netns", "del", name]);
    if !o.success() {
        eprintln!("warning: could not delete namespace {name}:\n{o}");
    }
}

/// Removes namespaces left behind by test processes that no longer exist (a SIGKILLed run):
/// only names of our form `xt-<test>-<pid>-<n>-…` whose pid is gone.
pub fn remove_stale() {
    let list = cmd::run(&["ip", "netns", "list"]);
    for line in list.stdout.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(NS_MARK) else {
            continue;
        };
        let mut parts = rest.split('-');
        let (_test, pid) = (parts.next(), parts.next());
        let Some(pid) = pid.and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("removing stale test namespace {name} (its test process {pid} is gone)");
            delete(name);
        }
    }
}
