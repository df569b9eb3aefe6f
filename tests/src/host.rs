//! A simulated Xen host made of network namespaces (see `../shared/testing.md`):
//!
//! ```text
//!  [<p>-lan]      lan0 192.0.2.1/24, 2001:db8::1/64      the outside network
//!     | veth
//!  [<p>-dom0]     eth0 192.0.2.10/24, default via 192.0.2.1   <- the binaries run here
//!     | veth, dom0 end vif<domid>.<devid> (down, like netback leaves it)
//!  [<p>-domU-<domid>]  eth<devid>, 192.0.2.(50+domid)/24, default via 192.0.2.1
//! ```
//!
//! plus private directories (fake xenstore, locks, state, `XEN_SCRIPT_DIR` with its hooks,
//! logs) and a `PATH` directory whose `xenstore-*` entries are the fake xenstore. The binaries
//! under test are run the way libxl runs hotplug scripts (spec §11.1, TS-01 … TS-04).

use crate::cmd::{self, Output};
use crate::netns::{self, Netns};
use crate::snapshot::{self, Snapshot};
use crate::xsfake::{self, Store};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The LAN side of the uplink (the "router" every namespace's default route points at).
pub const LAN_ADDR: &str = "192.0.2.1";
pub const LAN_ADDR6: &str = "2001:db8::1";
/// dom0's own address on its NIC.
pub const DOM0_ADDR: &str = "192.0.2.10";
/// The MAC netback (and the scripts, BR-04/MAC-03) give every backend port.
pub const BACKEND_MAC: &str = "fe:ff:ff:ff:ff:ff";

/// Where the scripts under test live: `$XENNET_BIN_DIR` if set (this is how the same tests run
/// against Xen's original shell scripts), else the aliases of the multi-call `xen-netscripts` in
/// the cargo profile directory the tests were built into (`target/debug`, else
/// `<workspace>/target/debug`). The only place that decides this.
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XENNET_BIN_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let profile = std::env::current_exe()
        .ok()
        .and_then(|exe| {
            // target/<profile>/deps/<test>-<hash>
            let deps = exe.parent()?;
            (deps.file_name()? == "deps").then(|| deps.parent().map(Path::to_path_buf))?
        })
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
                .join("debug")
        });
    aliases_of(&profile.join("xen-netscripts"))
}

/// A directory of symlinks named like the scripts (and `xennet`), all to the multi-call
/// executable `exe`, beside it: what `bin-aliases/` and the package hold. Made on first use;
/// several test processes may race to make it, which is harmless.
pub fn aliases_of(exe: &Path) -> PathBuf {
    let dir = exe.with_file_name("bin-aliases");
    let Ok(out) = std::process::Command::new(exe).arg("--list").output() else {
        return dir; // missing: binary() says how to build it
    };
    let _ = std::fs::create_dir_all(&dir);
    for name in String::from_utf8_lossy(&out.stdout).lines() {
        let link = dir.join(name);
        if std::fs::read_link(&link).is_err() {
            let _ = std::os::unix::fs::symlink("../xen-netscripts", &link);
        }
    }
    dir
}

/// The path of one binary under test; panics with instructions when it is missing.
#[track_caller]
pub fn binary(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "binary under test {} not found: build it with `cargo build --workspace`, or point \
         XENNET_BIN_DIR at a directory holding {name}",
        p.display()
    );
    p
}

/// Refuses addresses outside the documentation/private ranges the test bed uses, so a typo can
/// never aim traffic at a real network (the namespaces have no way out anyway).
fn assert_test_addr(addr: &str) {
    let ok = ["192.0.2.", "198.51.100.", "203.0.113.", "10."]
        .iter()
        .any(|p| addr.starts_with(p))
        || addr.to_ascii_lowercase().starts_with("2001:db8:");
    assert!(
        ok,
        "refusing to send traffic to {addr}: not a test-bed address"
    );
}

/// Builds a [`Host`]; see the `host!` macro for the usual entry point.
pub struct HostBuilder {
    name: String,
    xenstore_fake: PathBuf,
    nic: String,
    iptables: bool,
    xenstored: Option<Vec<String>>,
}

impl HostBuilder {
    /// `xenstore_fake` is the compiled `xenstore-fake` (integration tests:
    /// `env!("CARGO_BIN_EXE_xenstore-fake")`, which `host!` passes).
    pub fn new(name: &str, xenstore_fake: impl Into<PathBuf>) -> HostBuilder {
        HostBuilder {
            name: name.to_string(),
            xenstore_fake: xenstore_fake.into(),
            nic: "eth0".to_string(),
            iptables: true,
            xenstored: None,
        }
    }

    /// A stand-in xenstored (`xenstored-fake`, beside `xenstore-fake`) on a socket of this
    /// host, over the same store as the `xenstore-*` stand-ins, and `XENSTORED_PATH` naming it:
    /// the scripts talk to it over the wire protocol, as on a host running xenstored (issue 17).
    /// Without it, `XENSTORED_PATH` names a socket that does not exist, so the scripts use the
    /// `xenstore-*` stand-ins (and never a real xenstored of the machine running the tests).
    pub fn xenstored(self) -> HostBuilder {
        self.xenstored_with(&[])
    }

    /// [`HostBuilder::xenstored`] with options for it, e.g.
    /// `["--interfere", "backend/vif/1/0/bridge", "xenbr0"]`.
    pub fn xenstored_with(mut self, options: &[&str]) -> HostBuilder {
        self.xenstored = Some(options.iter().map(|s| s.to_string()).collect());
        self
    }

    /// dom0 without iptables, as a Debian host with only nftables (issue 15): the scripts run
    /// in a mount namespace where every iptables program is `/dev/null` (not executable, so
    /// not found on PATH), and dom0 gets no iptables tables up front.
    pub fn without_iptables(mut self) -> HostBuilder {
        self.iptables = false;
        self
    }

    /// Names dom0's NIC (default `eth0`), e.g. `enp0s3` for NB-02.
    pub fn nic(mut self, name: &str) -> HostBuilder {
        self.nic = name.to_string();
        self
    }

    /// The host, or None (after a loud message) when not root; under `CI=true` it panics instead.
    pub fn build(self) -> Option<Host> {
        if !netns::require_root() {
            return None;
        }
        Some(Host::create(self))
    }
}

/// One guest interface: the dom0 end (`vif1.0`, `vif1.0-emu`) and the guest's end.
#[derive(Debug, Clone)]
pub struct Guest {
    pub domid: u32,
    pub devid: u32,
    /// The guest's namespace.
    pub ns: String,
    /// The dom0-side name (`vif<domid>.<devid>` or `…-emu`).
    pub vif: String,
    /// The guest-side name.
    pub guest_if: String,
    /// The guest's IPv4 address on it, if it got one.
    pub addr: Option<String>,
}

/// The test bed. Dropping it removes every namespace and directory it made.
pub struct Host {
    pub prefix: String,
    pub lan: String,
    pub dom0: String,
    /// dom0's NIC name (`eth0` unless built with `.nic(…)`).
    pub nic: String,
    pub xenstore_dir: PathBuf,
    pub lock_dir: PathBuf,
    pub state_dir: PathBuf,
    /// `XEN_SCRIPT_DIR`; hooks go to its `vif-post.d`.
    pub script_dir: PathBuf,
    pub log_dir: PathBuf,
    /// Holds `xenstore-read` … symlinks; first on the binaries' PATH.
    pub fake_bin: PathBuf,
    /// A scratch directory for the test's own files.
    pub scratch: PathBuf,
    pub bin_dir: PathBuf,
    /// Files hidden (bound over with /dev/null) from the scripts' view of the host.
    pub hidden: Vec<String>,
    store: Store,
    /// `XENSTORED_PATH` of the runs: the stand-in's socket, or a path where nothing is.
    pub xenstored_path: PathBuf,
    /// The stand-in xenstored, when the host has one (stopped by its pid on drop).
    xenstored: Option<Xenstored>,
    guest_ns: Vec<Netns>,
    addressed: BTreeSet<u32>,
    // Declared last: dropped after the namespaces.
    _ns: Vec<Netns>,
    _dirs: tempfile::TempDir,
}

impl Host {
    fn create(b: HostBuilder) -> Host {
        netns::remove_stale();
        let prefix = netns::unique_prefix(&b.name);
        let dirs = tempfile::Builder::new()
            .prefix(&format!("{prefix}."))
            .tempdir()
            .expect("temporary directory");
        let root = dirs.path().to_path_buf();
        let sub = |n: &str| {
            let p = root.join(n);
            std::fs::create_dir_all(&p).expect("create test directory");
            p
        };
        let xenstore_dir = sub("xenstore");
        let lock_dir = sub("lock");
        let state_dir = sub("state");
        let script_dir = sub("scripts");
        let log_dir = sub("log");
        let fake_bin = sub("bin");
        let scratch = sub("scratch");
        assert!(
            b.xenstore_fake.exists(),
            "xenstore-fake binary missing at {}",
            b.xenstore_fake.display()
        );
        for c in xsfake::CLIENTS {
            std::os::unix::fs::symlink(&b.xenstore_fake, fake_bin.join(c))
                .expect("symlink xenstore client");
        }

        let lan = format!("{prefix}-lan");
        let dom0 = format!("{prefix}-dom0");
        let spaces = vec![Netns::create(&lan), Netns::create(&dom0)];
        let nic = b.nic;

        // Uplink: dom0's NIC <-> lan0, created from inside dom0 straight into both namespaces.
        cmd::ip_must(
            &dom0,
            &[
                "link", "add", "name", &nic, "type", "veth", "peer", "name", "lan0", "netns", &lan,
            ],
        );
        cmd::ip_must(&lan, &["addr", "add", "192.0.2.1/24", "dev", "lan0"]);
        cmd::ip_must(
            &lan,
            &["addr", "add", "2001:db8::1/64", "dev", "lan0", "nodad"],
        );
        cmd::ip_must(&lan, &["link", "set", "dev", "lan0", "up"]);
        cmd::ip_must(&dom0, &["addr", "add", "192.0.2.10/24", "dev", &nic]);
        cmd::ip_must(&dom0, &["link", "set", "dev", &nic, "up"]);
        cmd::ip_must(
            &dom0,
            &["route", "add", "default", "via", LAN_ADDR, "dev", &nic],
        );
        // A host with iptables has its filter table; create it so that a binary merely
        // looking at the firewall does not make the before/after snapshots differ.
        if b.iptables {
            for chain in ["INPUT", "FORWARD", "OUTPUT"] {
                cmd::ns_exec(&dom0, &["iptables", "-w", "-P", chain, "ACCEPT"]).ok();
            }
        }
        let hidden = if b.iptables {
            Vec::new()
        } else {
            iptables_programs()
        };

        let store = Store::new(&xenstore_dir, 0);
        // What xenstored always has.
        store.write("/local/domain/0/name", b"Domain-0").unwrap();
        store.write("/local/domain/0/domid", b"0").unwrap();
        let (xenstored_path, xenstored) = match &b.xenstored {
            Some(options) => {
                let socket = root.join("xenstored.sock");
                let daemon = b.xenstore_fake.with_file_name("xenstored-fake");
                let x = Xenstored::start(&daemon, options, &socket, &xenstore_dir);
                (socket, Some(x))
            }
            None => (root.join("no-xenstored"), None),
        };

        Host {
            prefix,
            lan,
            dom0,
            nic,
            xenstore_dir,
            lock_dir,
            state_dir,
            script_dir,
            log_dir,
            fake_bin,
            scratch,
            bin_dir: bin_dir(),
            hidden,
            store,
            xenstored_path,
            xenstored,
            guest_ns: Vec::new(),
            addressed: BTreeSet::new(),
            _ns: spaces,
            _dirs: dirs,
        }
    }

    /// The namespace name of guest `domid`.
    pub fn guest_ns(&self, domid: u32) -> String {
        format!("{}-domU-{domid}", self.prefix)
    }

    fn ensure_guest_ns(&mut self, domid: u32) -> String {
        let ns = self.guest_ns(domid);
        if !self.guest_ns.iter().any(|n| n.name == ns) {
            self.guest_ns.push(Netns::create(&ns));
        }
        ns
    }

    fn connect_guest(&mut self, domid: u32, devid: u32, vif: String, guest_if: String) -> Guest {
        let ns = self.ensure_guest_ns(domid);
        cmd::ip_must(
            &self.dom0,
            &[
                "link", "add", "name", &vif, "type", "veth", "peer", "name", &guest_if, "netns",
                &ns,
            ],
        );
        // netback leaves the backend down; so do we.
        cmd::ip_must(&self.dom0, &["link", "set", "dev", &vif, "down"]);
        cmd::ip_must(&ns, &["link", "set", "dev", &guest_if, "up"]);
        let mut addr = None;
        if self.addressed.insert(domid) {
            let a = format!("192.0.2.{}", 50 + domid);
            cmd::ip_must(&ns, &["addr", "add", &format!("{a}/24"), "dev", &guest_if]);
            cmd::ip_must(
                &ns,
                &["route", "add", "default", "via", LAN_ADDR, "dev", &guest_if],
            );
            addr = Some(a);
        }
        Guest {
            domid,
            devid,
            ns,
            vif,
            guest_if,
            addr,
        }
    }

    /// A PV guest NIC: `vif<domid>.<devid>` in dom0 (down, random MAC), its peer `eth<devid>`
    /// in `<p>-domU-<domid>`. The guest's first interface gets 192.0.2.(50+domid)/24 and a
    /// default route via 192.0.2.1.
    pub fn add_guest(&mut self, domid: u32, devid: u32) -> Guest {
        let vif = format!("vif{domid}.{devid}");
        self.connect_guest(domid, devid, vif, format!("eth{devid}"))
    }

    /// An HVM emulated NIC: `vif<domid>.<devid>-emu` in dom0 (a veth stands in for QEMU's tap),
    /// its peer `emu<devid>` in the guest.
    pub fn add_tap(&mut self, domid: u32, devid: u32) -> Guest {
        let vif = format!("vif{domid}.{devid}-emu");
        self.connect_guest(domid, devid, vif, format!("emu{devid}"))
    }

    /// An administrator's bridge (the G3 layout): `<name>` (STP off, forward delay 0, the NIC's
    /// MAC) holds dom0's NIC and takes over its address and default route.
    pub fn make_admin_bridge(&self, name: &str) {
        let d = &self.dom0;
        let mac = snapshot::link(d, &self.nic).expect("dom0 NIC")["address"]
            .as_str()
            .unwrap()
            .to_string();
        cmd::ip_must(
            d,
            &[
                "link",
                "add",
                "name",
                name,
                "address",
                &mac,
                "type",
                "bridge",
                "stp_state",
                "0",
                "forward_delay",
                "0",
            ],
        );
        cmd::ip_must(d, &["addr", "flush", "dev", &self.nic]);
        cmd::ip_must(d, &["link", "set", "dev", &self.nic, "master", name]);
        cmd::ip_must(d, &["link", "set", "dev", name, "up"]);
        cmd::ip_must(d, &["addr", "add", "192.0.2.10/24", "dev", name]);
        cmd::ip_must(
            d,
            &["route", "replace", "default", "via", LAN_ADDR, "dev", name],
        );
    }

    // -----------------------------------------------------------------------------------------
    // Running the binaries

    /// The environment every run gets (after `env -i`): PATH with the fake xenstore first, and
    /// the variables that move the binaries' files into this host's directories.
    pub fn base_env(&self) -> Vec<(String, String)> {
        let p = |x: &Path| x.display().to_string();
        vec![
            (
                "PATH".into(),
                format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", p(&self.fake_bin)),
            ),
            (xsfake::DIR_VAR.into(), p(&self.xenstore_dir)),
            ("XENSTORED_PATH".into(), p(&self.xenstored_path)),
            ("XENNET_LOCK_DIR".into(), p(&self.lock_dir)),
            ("XENNET_STATE_DIR".into(), p(&self.state_dir)),
            ("XEN_SCRIPT_DIR".into(), p(&self.script_dir)),
            ("XEN_LOG_DIR".into(), p(&self.log_dir)),
            // The host-wide settings file (issue 9): this host's own, absent unless a test writes it.
            (
                "XENNET_CONF".into(),
                p(&self.scratch.join("xen-netscripts.conf")),
            ),
        ]
    }

    /// A call of binary `name` with only the base environment (e.g. `network-bridge`).
    pub fn script(&self, name: &str) -> Call<'_> {
        Call {
            host: self,
            name: name.to_string(),
            env: self.base_env(),
            cwd: None,
        }
    }

    /// A call the way libxl makes it for vif `<domid>.<devid>` (TS-03): `script`,
    /// `XENBUS_TYPE=vif`, relative `XENBUS_PATH`, `XENBUS_BASE_PATH=backend`, empty `netdev`,
    /// `vif=vif<domid>.<devid>`.
    pub fn libxl(&self, name: &str, domid: u32, devid: u32) -> Call<'_> {
        self.script(name)
            .env("script", &format!("/etc/xen/scripts/{name}"))
            .env("XENBUS_TYPE", "vif")
            .env("XENBUS_PATH", &format!("backend/vif/{domid}/{devid}"))
            .env("XENBUS_BASE_PATH", "backend")
            .env("netdev", "")
            .env("vif", &format!("vif{domid}.{devid}"))
    }

    /// libxl's call for an ioemu NIC: as [`Host::libxl`] plus `INTERFACE=vif<d>.<n>-emu`.
    pub fn libxl_ioemu(&self, name: &str, domid: u32, devid: u32) -> Call<'_> {
        self.libxl(name, domid, devid)
            .env("INTERFACE", &format!("vif{domid}.{devid}-emu"))
    }

    /// Runs `<bin_dir>/<name> <args…>` in dom0 with `env` added to the base environment.
    pub fn run_script(&self, name: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.script(name);
        for (k, v) in env {
            c = c.env(k, v);
        }
        c.run(args)
    }

    /// The contents of `$XEN_LOG_DIR/xen-hotplug.log` (empty if none).
    pub fn hotplug_log(&self) -> String {
        std::fs::read_to_string(self.log_dir.join("xen-hotplug.log")).unwrap_or_default()
    }

    /// A run's output plus what else helps to understand a failure: the hotplug log, the
    /// xenstore backend keys, dom0's links and FORWARD rules.
    pub fn explain(&self, out: &Output) -> String {
        let mut s = format!("{out}");
        let log = self.hotplug_log();
        if !log.trim().is_empty() {
            let _ = writeln!(s, "  xen-hotplug.log:");
            for l in log
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                let _ = writeln!(s, "    | {l}");
            }
        }
        let keys = self.store.dump("/local/domain");
        if !keys.is_empty() {
            let _ = writeln!(s, "  xenstore:");
            for (p, v) in keys {
                if !v.is_empty() || p.contains("hotplug") {
                    let _ = writeln!(s, "    {p} = {v:?}");
                }
            }
        }
        let _ = writeln!(s, "  dom0 links:");
        for l in cmd::ip(&self.dom0, &["-br", "link"]).stdout.lines() {
            let _ = writeln!(s, "    {l}");
        }
        let rules = snapshot::iptables_forward_rules(&self.dom0);
        if !rules.is_empty() {
            let _ = writeln!(s, "  dom0 FORWARD rules:");
            for r in rules {
                let _ = writeln!(s, "    {r}");
            }
        }
        s
    }

    // -----------------------------------------------------------------------------------------
    // xenstore

    /// The store the fake clients use, for direct access.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// `/local/domain/0/backend/vif/<domid>/<devid>`.
    pub fn backend_path(&self, domid: u32, devid: u32) -> String {
        format!("/local/domain/0/backend/vif/{domid}/{devid}")
    }

    /// `/local/domain/<domid>/device/vif/<devid>`.
    pub fn frontend_path(&self, domid: u32, devid: u32) -> String {
        format!("/local/domain/{domid}/device/vif/{devid}")
    }

    /// Writes what libxl writes for one NIC (spec §11.2) before running the script, then
    /// `extra` on top (same key: `extra` wins). Defaults: `bridge=xenbr0`, `type=vif`,
    /// `mac=00:16:3e:00:<domid>:<devid>`, `state=2` (netback reached InitWait),
    /// `hotplug-status=""`; frontend `mtu=1500`.
    pub fn xs_write_backend(&self, domid: u32, devid: u32, extra: &[(&str, &str)]) {
        let be = self.backend_path(domid, devid);
        let fe = self.frontend_path(domid, devid);
        let mac = format!("00:16:3e:00:{:02x}:{:02x}", domid % 256, devid % 256);
        let mut keys: Vec<(String, String)> = vec![
            ("frontend".into(), fe.clone()),
            ("frontend-id".into(), domid.to_string()),
            ("online".into(), "1".into()),
            ("state".into(), "2".into()),
            ("script".into(), "/etc/xen/scripts/vif-bridge".into()),
            ("mac".into(), mac.clone()),
            ("bridge".into(), "xenbr0".into()),
            ("handle".into(), devid.to_string()),
            ("type".into(), "vif".into()),
            ("hotplug-status".into(), String::new()),
        ];
        for (k, v) in extra {
            match keys.iter_mut().find(|(kk, _)| kk == k) {
                Some(e) => e.1 = v.to_string(),
                None => keys.push((k.to_string(), v.to_string())),
            }
        }
        for (k, v) in &keys {
            self.store
                .write(&format!("{be}/{k}"), v.as_bytes())
                .unwrap();
        }
        for (k, v) in [
            ("backend", be.as_str()),
            ("backend-id", "0"),
            ("state", "1"),
            ("handle", &devid.to_string()),
            ("mac", &mac),
            ("mtu", "1500"),
            ("trusted", "1"),
        ] {
            self.store
                .write(&format!("{fe}/{k}"), v.as_bytes())
                .unwrap();
        }
        self.store
            .write(
                &format!("/local/domain/{domid}/domid"),
                domid.to_string().as_bytes(),
            )
            .unwrap();
    }

    /// Reads a key (absolute, or relative to `/local/domain/0`); None if missing.
    pub fn xs_read(&self, path: &str) -> Option<String> {
        self.store.read_string(path)
    }

    pub fn xs_write(&self, path: &str, value: &str) {
        self.store
            .write(path, value.as_bytes())
            .expect("xenstore write");
    }

    /// Removes a key and its subtree (no error if missing).
    pub fn xs_rm(&self, path: &str) {
        let _ = self.store.rm(path, false);
    }

    /// `hotplug-status` of a vif's backend.
    pub fn hotplug_status(&self, domid: u32, devid: u32) -> Option<String> {
        self.xs_read(&format!(
            "{}/hotplug-status",
            self.backend_path(domid, devid)
        ))
    }

    /// `hotplug-error` of a vif's backend.
    pub fn hotplug_error(&self, domid: u32, devid: u32) -> Option<String> {
        self.xs_read(&format!(
            "{}/hotplug-error",
            self.backend_path(domid, devid)
        ))
    }

    /// Every xenstore client call the binaries made so far, and (with a stand-in xenstored)
    /// every request it got, as `xenstored TYPE [tx=N] args`.
    pub fn xs_calls(&self) -> Vec<String> {
        self.store.calls()
    }

    /// Does this host run a stand-in xenstored?
    pub fn has_xenstored(&self) -> bool {
        self.xenstored.is_some()
    }

    // -----------------------------------------------------------------------------------------
    // Hooks, observation

    /// `$XEN_SCRIPT_DIR/vif-post.d`, where hooks live (HK-01).
    pub fn hooks_dir(&self) -> PathBuf {
        self.script_dir.join("vif-post.d")
    }

    /// Installs an executable hook `$XEN_SCRIPT_DIR/vif-post.d/<file>` with `body` (bash).
    pub fn add_hook(&self, file: &str, body: &str) -> PathBuf {
        let dir = self.hooks_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(file);
        std::fs::write(&p, format!("#!/bin/bash\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// Snapshot of dom0.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::take(&self.dom0)
    }

    /// A link of dom0.
    pub fn link(&self, name: &str) -> Option<serde_json::Value> {
        snapshot::link(&self.dom0, name)
    }

    /// The master of a dom0 link.
    pub fn master_of(&self, name: &str) -> Option<String> {
        snapshot::master_of(&self.dom0, name)
    }

    /// dom0's FORWARD rules (`-A FORWARD …` lines of `iptables-save -t filter`).
    pub fn forward_rules(&self) -> Vec<String> {
        snapshot::iptables_forward_rules(&self.dom0)
    }
}

/// A running `xenstored-fake`. It exits by itself when its stdin closes (this process died);
/// dropping it kills it by its pid.
struct Xenstored {
    child: std::process::Child,
    _lifeline: std::process::ChildStdin,
}

impl Xenstored {
    fn start(daemon: &Path, options: &[String], socket: &Path, store: &Path) -> Xenstored {
        use std::io::BufRead;
        assert!(
            daemon.exists(),
            "xenstored-fake binary missing at {}: build the tests crate",
            daemon.display()
        );
        let mut child = std::process::Command::new(daemon)
            .arg("--until-stdin-closes")
            .args(options)
            .arg(socket)
            .env(xsfake::DIR_VAR, store)
            .env(xsfake::DOMID_VAR, "0")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start xenstored-fake");
        let mut line = String::new();
        let _ =
            std::io::BufReader::new(child.stdout.take().expect("its stdout")).read_line(&mut line);
        assert!(
            line.starts_with("ready "),
            "xenstored-fake did not start: {line:?}"
        );
        let lifeline = child.stdin.take().expect("its stdin");
        Xenstored {
            child,
            _lifeline: lifeline,
        }
    }
}

impl Drop for Xenstored {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The files behind every iptables program on PATH (they are symlinks to one or two
/// multi-call binaries: `xtables-nft-multi`, `xtables-legacy-multi`).
fn iptables_programs() -> Vec<String> {
    let mut files = BTreeSet::new();
    for name in [
        "iptables",
        "iptables-save",
        "iptables-restore",
        "iptables-legacy",
        "iptables-nft",
        "ip6tables",
        "ip6tables-save",
        "ip6tables-restore",
    ] {
        for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
            if let Ok(real) = std::fs::canonicalize(Path::new(dir).join(name)) {
                files.insert(real.display().to_string());
            }
        }
    }
    files.into_iter().collect()
}

/// One pending run of a binary under test.
pub struct Call<'h> {
    host: &'h Host,
    name: String,
    env: Vec<(String, String)>,
    cwd: Option<PathBuf>,
}

impl Call<'_> {
    /// Sets (or replaces) an environment variable.
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.retain(|(kk, _)| kk != k);
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    /// Removes an environment variable.
    pub fn unset(mut self, k: &str) -> Self {
        self.env.retain(|(kk, _)| kk != k);
        self
    }

    /// Runs the binary in this working directory (default: the test's own).
    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    /// The full command line this call would run.
    pub fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = vec!["ip".into(), "netns".into(), "exec".into()];
        v.push(self.host.dom0.clone());
        if !self.host.hidden.is_empty() {
            // `ip netns exec` runs the command in a mount namespace of its own: what is
            // bound over here is hidden from this run only.
            let mounts: Vec<String> = self
                .host
                .hidden
                .iter()
                .map(|f| format!("mount --bind /dev/null '{f}' || exit 97;"))
                .collect();
            v.extend([
                "sh".into(),
                "-c".into(),
                format!("{} exec \"$@\"", mounts.join(" ")),
                "sh".into(),
            ]);
        }
        v.extend(["env".into(), "-i".into()]);
        if let Some(d) = &self.cwd {
            v.push("-C".into());
            v.push(d.display().to_string());
        }
        v.extend(self.env.iter().map(|(k, val)| format!("{k}={val}")));
        v.push(self.host.bin_dir.join(&self.name).display().to_string());
        v.extend(args.iter().map(|a| a.to_string()));
        v
    }

    /// Runs it in dom0 (stdin /dev/null, under a timeout) and returns status, stdout, stderr.
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Output {
        binary(&self.name);
        cmd::run_with_timeout(cmd::SCRIPT_TIMEOUT_SECS, &self.argv(args))
    }
}

/// `ping -c1 -W1` from inside a namespace; true if answered.
pub fn ping(from_ns: &str, addr: &str) -> bool {
    assert_test_addr(addr);
    cmd::ns_exec(from_ns, &["ping", "-n", "-q", "-c1", "-W1", addr]).success()
}

/// Pings up to `tries` times (about a second each) until an answer comes.
pub fn ping_retry(from_ns: &str, addr: &str, tries: u32) -> bool {
    for i in 0..tries {
        if ping(from_ns, addr) {
            return true;
        }
        if i + 1 < tries {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    false
}
