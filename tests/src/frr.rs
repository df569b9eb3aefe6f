//! FRR inside a test namespace (issue 18): zebra and bgpd started with `ip netns exec`, each
//! instance in its own pathspace (`-N <name>`: sockets in `/var/run/frr/<name>/`), its
//! configuration, pid files and logs in a private directory owned by user `frr` (the daemons drop
//! to it), no vty TCP port (`-P 0`). `vtysh -N <name>` talks to it. Dropping the [`Frr`] stops
//! exactly the daemons it started (by PID, checked against their command line first), also when
//! the test panics, and removes the socket directory.
//!
//! FRR is never started outside a namespace the test bed made: [`Frr::start`] refuses a
//! namespace that is not ours, and checks each daemon's network namespace after it started.
//!
//! ```ignore
//! let rr = Frr::start(&rr_ns.name, &format!("{}-rr", rr_ns.name), &frr::reflector_config("rr", "198.51.100.254", 65000, "198.51.100.0/24"));
//! let j = rr.json("show bgp l2vpn evpn summary json");
//! ```

use crate::cmd::{self, Output};
use crate::netns::NS_MARK;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where Debian's `frr` package puts the daemons.
pub const DAEMON_DIR: &str = "/usr/lib/frr";
/// FRR's socket root (`--localstatedir`): a pathspace's sockets go to `<RUN_ROOT>/<name>/`.
pub const RUN_ROOT: &str = "/var/run/frr";

/// Is FRR installed? Without it the FRR tests skip loudly, except under `CI=true`, where that is
/// a failure (`.ci/install-deps` installs it).
pub fn have_frr() -> bool {
    let missing: Vec<&str> = ["/usr/lib/frr/zebra", "/usr/lib/frr/bgpd", "/usr/bin/vtysh"]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    let user = nix::unistd::User::from_name("frr").ok().flatten().is_some();
    if missing.is_empty() && user {
        return true;
    }
    let msg = format!(
        "FRR is not installed (missing: {}{}); .ci/install-deps installs the frr package",
        missing.join(", "),
        if user { "" } else { " user frr" }
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}; CI=true, so this is a failure, not a skip");
    }
    eprintln!("!!! SKIPPED: {msg}");
    false
}

/// A route reflector: iBGP AS `asn`, every host in `listen_range` accepted as a
/// route-reflector client of `address-family l2vpn evpn` (no per-host configuration).
pub fn reflector_config(hostname: &str, router_id: &str, asn: u32, listen_range: &str) -> String {
    format!(
        "frr defaults datacenter\n\
         hostname {hostname}\n\
         log timestamp precision 3\n\
         !\n\
         router bgp {asn}\n \
         bgp router-id {router_id}\n \
         no bgp default ipv4-unicast\n \
         neighbor fabric peer-group\n \
         neighbor fabric remote-as {asn}\n \
         bgp listen range {listen_range} peer-group fabric\n \
         !\n \
         address-family l2vpn evpn\n  \
         neighbor fabric activate\n  \
         neighbor fabric route-reflector-client\n \
         exit-address-family\n\
         exit\n\
         !\n"
    )
}

/// A host's FRR before anything is configured: datacenter defaults (3 s keepalive, 9 s hold
/// time, 10 s connect retry), no BGP instance.
pub fn host_config(hostname: &str) -> String {
    format!("frr defaults datacenter\nhostname {hostname}\nlog timestamp precision 3\n!\n")
}

/// One FRR instance in one namespace.
pub struct Frr {
    /// The pathspace (`-N`).
    pub name: String,
    /// The namespace the daemons run in.
    pub ns: String,
    /// Configuration, pid files, logs; `vtysh/<name>/vtysh.conf` for vtysh's `--config_dir`.
    pub dir: PathBuf,
    /// `/var/run/frr/<name>`: the daemons' sockets.
    pub run_dir: PathBuf,
    /// (daemon, PID) in start order.
    daemons: Vec<(String, i32)>,
    _tmp: tempfile::TempDir,
}

/// The inode of a network namespace file.
fn netns_inode(path: &str) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

fn chown_frr(p: &Path) {
    let u = nix::unistd::User::from_name("frr")
        .ok()
        .flatten()
        .expect("user frr (the frr package creates it)");
    nix::unistd::chown(p, Some(u.uid), Some(u.gid))
        .unwrap_or_else(|e| panic!("chown frr {}: {e}", p.display()));
}

/// Does `pid` run the FRR daemon `daemon` of pathspace `name` (so that a PID the kernel gave
/// to someone else since is never signalled)?
fn is_our_daemon(pid: i32, daemon: &str, name: &str) -> bool {
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    args.first()
        .is_some_and(|a| a.ends_with(&format!("/{daemon}")))
        && args.windows(2).any(|w| w[0] == "-N" && w[1] == name)
}

/// Alive and not a zombie (a daemon detached from `ip netns exec` is reparented; its new parent
/// may be slow to reap it).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn signal(pid: i32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
}

impl Frr {
    /// zebra and bgpd in namespace `ns` (one of the test bed's), pathspace `name`, started with
    /// `config`; returns once `vtysh -N name` lists both.
    #[track_caller]
    pub fn start(ns: &str, name: &str, config: &str) -> Frr {
        Frr::start_daemons(ns, name, config, &["zebra", "bgpd"])
    }

    /// As [`Frr::start`], with the daemons given (e.g. only `zebra`, to see how vtysh reports a
    /// missing bgpd).
    #[track_caller]
    pub fn start_daemons(ns: &str, name: &str, config: &str, daemons: &[&str]) -> Frr {
        assert!(
            ns.starts_with(NS_MARK) && Path::new(&format!("/run/netns/{ns}")).exists(),
            "refusing to start FRR in namespace {ns:?}: not one the test bed made"
        );
        assert!(
            name.starts_with(NS_MARK)
                && name.len() <= 60
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "FRR pathspace {name:?}: must be ours (xt-…), short, [a-z0-9-]"
        );
        remove_stale_run_dirs();
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{name}.frr."))
            .tempdir()
            .expect("FRR directory");
        let dir = tmp.path().to_path_buf();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750)).unwrap();
        chown_frr(&dir);
        let conf = dir.join("frr.conf");
        std::fs::write(&conf, config).unwrap();
        chown_frr(&conf);
        // vtysh -N <name> --config_dir <dir>/vtysh reads <dir>/vtysh/<name>/vtysh.conf: an
        // empty one keeps it from complaining about /etc/frr/<name>/vtysh.conf.
        let vdir = dir.join("vtysh").join(name);
        std::fs::create_dir_all(&vdir).unwrap();
        std::fs::write(vdir.join("vtysh.conf"), "").unwrap();
        let run_dir = Path::new(RUN_ROOT).join(name);
        if run_dir.exists() {
            std::fs::remove_dir_all(&run_dir).unwrap();
        }
        std::fs::create_dir_all(&run_dir).unwrap_or_else(|e| panic!("{}: {e}", run_dir.display()));
        chown_frr(&run_dir);
        let mut frr = Frr {
            name: name.to_string(),
            ns: ns.to_string(),
            dir,
            run_dir,
            daemons: Vec::new(),
            _tmp: tmp,
        };
        for d in daemons {
            frr.start_one(d);
            if *d == "zebra" {
                // bgpd would retry, but a ready zserv socket makes its start deterministic.
                frr.wait(Duration::from_secs(10), "zebra's zserv.api", |f| {
                    f.run_dir.join("zserv.api").exists()
                });
            }
        }
        frr.wait(Duration::from_secs(10), "vtysh to list the daemons", |f| {
            let o = f.vtysh(&["show daemons"]);
            let up: Vec<&str> = o.stdout.split_whitespace().collect();
            o.success() && daemons.iter().all(|d| up.contains(d))
        });
        frr
    }

    #[track_caller]
    fn start_one(&mut self, daemon: &str) {
        let pidfile = self.dir.join(format!("{daemon}.pid"));
        let log = self.dir.join(format!("{daemon}.log"));
        let o = cmd::run(&[
            "ip",
            "netns",
            "exec",
            &self.ns,
            &format!("{DAEMON_DIR}/{daemon}"),
            "-N",
            &self.name,
            "-d",
            "-P",
            "0",
            "-f",
            &self.dir.join("frr.conf").display().to_string(),
            "-i",
            &pidfile.display().to_string(),
            "--log",
            &format!("file:{}", log.display()),
        ]);
        let deadline = Instant::now() + Duration::from_secs(10);
        let pid = loop {
            let pid = std::fs::read_to_string(&pidfile)
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok())
                .filter(|p| *p > 1 && is_our_daemon(*p, daemon, &self.name));
            if pid.is_some() || Instant::now() > deadline {
                break pid;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let Some(pid) = pid else {
            panic!(
                "starting {daemon} in {}:\n{o}\n  log:\n{}",
                self.ns,
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        self.daemons.push((daemon.to_string(), pid));
        // Never outside the test's namespace.
        let mine = netns_inode(&format!("/proc/{pid}/ns/net"));
        let want = netns_inode(&format!("/run/netns/{}", self.ns));
        let root = netns_inode("/proc/1/ns/net");
        assert!(
            mine.is_some() && mine == want && mine != root,
            "{daemon} (PID {pid}) is not in namespace {}",
            self.ns
        );
    }

    /// `vtysh -N <name> -c L1 -c L2 …`.
    pub fn vtysh(&self, lines: &[&str]) -> Output {
        let mut argv = self.vtysh_prefix();
        for l in lines {
            argv.push("-c".into());
            argv.push(l.to_string());
        }
        cmd::run(&argv)
    }

    /// `vtysh -N <name> --config_dir …`, for callers that add their own arguments (e.g. the
    /// tail of `evpn::Vtysh::argv(None)`).
    pub fn vtysh_prefix(&self) -> Vec<String> {
        vec![
            "vtysh".into(),
            "-N".into(),
            self.name.clone(),
            "--config_dir".into(),
            self.dir.join("vtysh").display().to_string(),
        ]
    }

    /// A `show` command that must succeed; its stdout.
    #[track_caller]
    pub fn show(&self, command: &str) -> String {
        let o = self.vtysh(&[command]);
        o.ok();
        o.stdout
    }

    /// A `show … json` command, parsed (Null when FRR printed nothing).
    #[track_caller]
    pub fn json(&self, command: &str) -> serde_json::Value {
        let s = self.show(command);
        if s.trim().is_empty() {
            return serde_json::Value::Null;
        }
        serde_json::from_str(&s).unwrap_or_else(|e| panic!("{command}: {e}\n{s}"))
    }

    /// `show running-config`.
    #[track_caller]
    pub fn running_config(&self) -> String {
        self.show("show running-config")
    }

    /// The daemons still running, with their PIDs.
    pub fn pids(&self) -> Vec<(String, i32)> {
        self.daemons.clone()
    }

    /// Polls `ready` every 20 ms until it holds; panics naming `what` after `limit`. Returns how
    /// long it took.
    #[track_caller]
    pub fn wait(&self, limit: Duration, what: &str, ready: impl Fn(&Frr) -> bool) -> Duration {
        let t0 = Instant::now();
        loop {
            if ready(self) {
                return t0.elapsed();
            }
            if t0.elapsed() > limit {
                let logs: String = self
                    .daemons
                    .iter()
                    .map(|(d, _)| {
                        let l = std::fs::read_to_string(self.dir.join(format!("{d}.log")))
                            .unwrap_or_default();
                        let tail: Vec<&str> = l.lines().rev().take(15).collect();
                        format!(
                            "  {d}.log:\n{}\n",
                            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                        )
                    })
                    .collect();
                panic!(
                    "FRR {} in {}: no {what} after {limit:?}\n{logs}",
                    self.name, self.ns
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills every daemon at once with SIGKILL (a crashed host's FRR: no goodbye to its peers
    /// beyond the kernel closing the TCP sessions); waits until they are gone.
    pub fn kill(&mut self) {
        self.stop_with(nix::sys::signal::Signal::SIGKILL);
    }

    /// Kills one daemon (`bgpd`) with SIGKILL, as a crash would; waits until it is gone.
    pub fn kill_daemon(&mut self, daemon: &str) {
        let Some(i) = self.daemons.iter().position(|(d, _)| d == daemon) else {
            panic!("{daemon} is not running in FRR {}", self.name);
        };
        let (d, p) = self.daemons.remove(i);
        if is_our_daemon(p, &d, &self.name) {
            signal(p, nix::sys::signal::Signal::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while alive(p) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, then SIGKILL after 3 s, for each daemon we started; only PIDs that still run
    /// our daemon are signalled.
    pub fn stop(&mut self) {
        self.stop_with(nix::sys::signal::Signal::SIGTERM);
    }

    fn stop_with(&mut self, sig: nix::sys::signal::Signal) {
        let ours: Vec<(String, i32)> = self
            .daemons
            .drain(..)
            .rev()
            .filter(|(d, p)| is_our_daemon(*p, d, &self.name))
            .collect();
        for (_, p) in &ours {
            signal(*p, sig);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while ours.iter().any(|(_, p)| alive(*p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for (d, p) in &ours {
            if alive(*p) && is_our_daemon(*p, d, &self.name) {
                signal(*p, nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        self.stop();
        if self.run_dir.starts_with(RUN_ROOT)
            && self
                .run_dir
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(NS_MARK))
        {
            let _ = std::fs::remove_dir_all(&self.run_dir);
        }
    }
}

/// Removes `/var/run/frr/xt-<test>-<pid>-…` directories of test processes that no longer exist
/// (their daemons died with their namespaces, see `netns::remove_stale`).
pub fn remove_stale_run_dirs() {
    let Ok(rd) = std::fs::read_dir(RUN_ROOT) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(NS_MARK) else {
            continue;
        };
        let pid = rest.split('-').nth(1).and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}
