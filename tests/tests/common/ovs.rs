//! Open vSwitch in a test's namespace: a private `ovsdb-server` and `ovs-vswitchd` (userspace
//! datapath), shared by multihost.rs and vlan.rs.

use std::path::{Path, PathBuf};
use xennet_tests::cmd;

/// One host's Open vSwitch: its daemons' PIDs (killed on drop, also when the test panics) and
/// the environment that points `ovs-vsctl` at them.
pub struct Ovs {
    dir: PathBuf,
    pids: Vec<i32>,
}

impl Ovs {
    pub fn env(&self) -> Vec<(String, String)> {
        let d = self.dir.display().to_string();
        vec![
            ("OVS_RUNDIR".into(), d.clone()),
            ("OVS_DBDIR".into(), d.clone()),
            ("OVS_LOGDIR".into(), d.clone()),
            ("OVS_SYSCONFDIR".into(), d),
            ("OVS_PKGDATADIR".into(), "/usr/share/openvswitch".into()),
        ]
    }

    /// Starts ovsdb-server and ovs-vswitchd inside `ns`, everything under `dir`.
    pub fn start(ns: &str, dir: &Path) -> Ovs {
        std::fs::create_dir_all(dir).unwrap();
        let mut ovs = Ovs {
            dir: dir.to_path_buf(),
            pids: Vec::new(),
        };
        let d = |f: &str| dir.join(f).display().to_string();
        cmd::must(&[
            "ovsdb-tool",
            "create",
            &d("conf.db"),
            "/usr/share/openvswitch/vswitch.ovsschema",
        ]);
        let sock = format!("punix:{}", d("db.sock"));
        ovs.daemon(
            ns,
            "ovsdb-server",
            &[
                &d("conf.db"),
                &format!("--remote={sock}"),
                &format!("--unixctl={}", d("ovsdb-server.ctl")),
            ],
        );
        ovs.vsctl(ns, &["--no-wait", "init"]);
        let db = format!("unix:{}", d("db.sock"));
        ovs.daemon(
            ns,
            "ovs-vswitchd",
            &[&db, &format!("--unixctl={}", d("ovs-vswitchd.ctl"))],
        );
        ovs
    }

    fn daemon(&mut self, ns: &str, prog: &str, args: &[&str]) {
        let pidfile = self.dir.join(format!("{prog}.pid"));
        let log = self.dir.join(format!("{prog}.log"));
        let mut argv: Vec<String> = vec![
            "ip".into(),
            "netns".into(),
            "exec".into(),
            ns.into(),
            "env".into(),
        ];
        argv.extend(self.env().into_iter().map(|(k, v)| format!("{k}={v}")));
        argv.push(prog.into());
        argv.extend(args.iter().map(|a| a.to_string()));
        argv.push(format!("--pidfile={}", pidfile.display()));
        argv.push(format!("--log-file={}", log.display()));
        argv.push("--detach".into());
        let o = cmd::run(&argv);
        let pid = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok());
        if let Some(pid) = pid {
            self.pids.push(pid);
        }
        assert!(o.success() && pid.is_some(), "starting {prog}:\n{o}");
    }

    /// `ovs-vsctl` against this host's database.
    pub fn vsctl(&self, ns: &str, args: &[&str]) -> cmd::Output {
        let mut argv: Vec<String> = vec![
            "ip".into(),
            "netns".into(),
            "exec".into(),
            ns.into(),
            "env".into(),
        ];
        argv.extend(self.env().into_iter().map(|(k, v)| format!("{k}={v}")));
        argv.push("ovs-vsctl".into());
        argv.push("--timeout=10".into());
        argv.extend(args.iter().map(|a| a.to_string()));
        cmd::run(&argv)
    }

    #[track_caller]
    pub fn must(&self, ns: &str, args: &[&str]) -> String {
        let o = self.vsctl(ns, args);
        o.ok();
        o.stdout.trim().to_string()
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        for pid in self.pids.drain(..).rev() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
}

/// Is Open vSwitch installed? Without it the OVS tests skip loudly, except under `CI=true`.
pub fn have_ovs() -> bool {
    if which("ovsdb-server").is_some() && which("ovs-vswitchd").is_some() {
        return true;
    }
    let msg = "openvswitch-switch is not installed (.ci/install-deps installs it)";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}; CI=true, so this is a failure, not a skip");
    }
    eprintln!("!!! SKIPPED: {msg}");
    false
}

fn which(prog: &str) -> Option<PathBuf> {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/usr/bin", "/sbin"])
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.exists())
}
