//! scripts-compat (issue 5): the same scenarios on Xen's original vif scripts and on ours, side
//! by side, each side in a fresh namespace host, run the way libxl runs them (spec §11.1/§11.2,
//! relative `XENBUS_PATH`). After the set-up and after every step, dom0 is snapshotted and
//! normalised (links with master/state/MTU/MAC, addresses, routes, `iptables-save` without
//! counters, the sysctls the scripts touch, the whole xenstore, the run's exit status and stdout),
//! and side A is diffed against side B. Every difference must be listed in
//! `scripts-compat/DEVIATIONS.md`; an unlisted one, or a listed one that no longer shows, fails.
//!
//! Sides and modes (see `scripts-compat/README.md`):
//! - default: the originals are fetched at run time (`scripts-compat/fetch-originals.sh`, Debian
//!   12's `xen-utils-common`) and compared with our binaries twice: `debian` (Debian's scripts,
//!   ours with `firewall=none`) and `upstream` (Debian's iptables switch-off undone, ours with
//!   the default firewall);
//! - `XENNET_COMPAT_A=<dir> XENNET_COMPAT_B=<dir> [XENNET_COMPAT_MODE=debian|upstream]`: two
//!   given directories, one mode (default `upstream`).
//!
//! `XENNET_COMPAT_JOBS` (default 3) hosts are run at once. The report goes to stdout and to
//! `target/tmp/scripts-compat/report.txt`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use xennet_tests::cmd::{self, Output};
use xennet_tests::snapshot::{self, line_diff};
use xennet_tests::{Host, HostBuilder, BACKEND_MAC, LAN_ADDR};

const XENSTORE_FAKE: &str = env!("CARGO_BIN_EXE_xenstore-fake");
/// The path libxl runs every script by; both sides' script directories are shown as this.
const SCRIPT_DIR: &str = "/etc/xen/scripts";

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

// ---------------------------------------------------------------------------------------------
// Scenarios

type HostFn = Box<dyn Fn(&Host) + Send + Sync>;
type SetupFn = Box<dyn Fn(&mut Host) + Send + Sync>;

enum Act {
    /// libxl's call of a vif script for vif `<domid>.<devid>` (TS-01 … TS-03).
    Run {
        script: &'static str,
        domid: u32,
        devid: u32,
        ioemu: bool,
        args: Vec<&'static str>,
        env: Vec<(&'static str, &'static str)>,
        unset: Vec<&'static str>,
    },
    /// Something that happens to dom0 between script runs (an administrator, the kernel).
    Host(HostFn),
}

struct Step {
    name: &'static str,
    /// One line for the report.
    what: String,
    act: Act,
}

impl Step {
    fn ioemu(mut self) -> Step {
        if let Act::Run { ioemu, .. } = &mut self.act {
            *ioemu = true;
        }
        self.refresh();
        self
    }

    fn env(mut self, k: &'static str, v: &'static str) -> Step {
        if let Act::Run { env, .. } = &mut self.act {
            env.push((k, v));
        }
        self.refresh();
        self
    }

    /// For vif `<domid>.<devid>` instead of 1.0.
    fn dev(mut self, d: u32, n: u32) -> Step {
        if let Act::Run { domid, devid, .. } = &mut self.act {
            (*domid, *devid) = (d, n);
        }
        self.refresh();
        self
    }

    fn unset(mut self, k: &'static str) -> Step {
        if let Act::Run { unset, .. } = &mut self.act {
            unset.push(k);
        }
        self.refresh();
        self
    }

    fn refresh(&mut self) {
        if let Act::Run {
            script,
            domid,
            devid,
            args,
            env,
            unset,
            ioemu,
        } = &self.act
        {
            let mut w = String::new();
            if (*domid, *devid) != (1, 0) {
                let _ = write!(w, "(vif{domid}.{devid}) ");
            }
            for (k, v) in env {
                let _ = write!(w, "{k}={} ", cmd::shell_quote(v));
            }
            for k in unset {
                let _ = write!(w, "(no {k}) ");
            }
            if *ioemu {
                w.push_str("(ioemu) ");
            }
            let _ = write!(w, "{script} {}", args.join(" "));
            self.what = w;
        }
    }
}

/// `<script> <args…>` as libxl runs it for vif 1.0.
fn run(name: &'static str, script: &'static str, args: &[&'static str]) -> Step {
    let mut s = Step {
        name,
        what: String::new(),
        act: Act::Run {
            script,
            domid: 1,
            devid: 0,
            ioemu: false,
            args: args.to_vec(),
            env: Vec::new(),
            unset: Vec::new(),
        },
    };
    s.refresh();
    s
}

fn online(script: &'static str) -> Step {
    run("online", script, &["online", "type_if=vif"])
}
fn online_again(script: &'static str) -> Step {
    run("online-again", script, &["online", "type_if=vif"])
}
fn offline(script: &'static str) -> Step {
    run("offline", script, &["offline", "type_if=vif"])
}
fn offline_again(script: &'static str) -> Step {
    run("offline-again", script, &["offline", "type_if=vif"])
}
fn tap_add(script: &'static str) -> Step {
    run("tap-add", script, &["add", "type_if=tap"]).ioemu()
}
fn tap_remove(script: &'static str) -> Step {
    run("tap-remove", script, &["remove", "type_if=tap"]).ioemu()
}

fn host_step(name: &'static str, what: &str, f: impl Fn(&Host) + Send + Sync + 'static) -> Step {
    Step {
        name,
        what: format!("(dom0) {what}"),
        act: Act::Host(Box::new(f)),
    }
}

fn dom0_ip(h: &Host, args: &[&str]) {
    cmd::ip_must(&h.dom0, args);
}

struct Scenario {
    name: &'static str,
    setup: SetupFn,
    steps: Vec<Step>,
}

fn scenario(
    name: &'static str,
    setup: impl Fn(&mut Host) + Send + Sync + 'static,
    steps: Vec<Step>,
) -> Scenario {
    Scenario {
        name,
        setup: Box::new(setup),
        steps,
    }
}

type Keys = &'static [(&'static str, &'static str)];

/// G3 layout: the administrator's bridge `xenbr0` holds `eth0`; guest 1 with `vif1.0` and
/// libxl's backend keys (`bridge=xenbr0`, plus `extra`).
fn bridge_host(extra: Keys) -> impl Fn(&mut Host) + Send + Sync {
    move |h: &mut Host| {
        h.make_admin_bridge("xenbr0");
        h.add_guest(1, 0);
        h.xs_write_backend(1, 0, extra);
    }
}

/// As [`bridge_host`] for an HVM guest: `vif1.0` plus the emulated NIC's `vif1.0-emu`,
/// backend `type=vif_ioemu`.
fn hvm_host(layout: fn(&Host), extra: Keys) -> impl Fn(&mut Host) + Send + Sync {
    move |h: &mut Host| {
        layout(h);
        h.add_guest(1, 0);
        h.add_tap(1, 0);
        let mut keys = vec![("type", "vif_ioemu")];
        keys.extend_from_slice(extra);
        h.xs_write_backend(1, 0, &keys);
    }
}

fn admin_bridge(h: &Host) {
    h.make_admin_bridge("xenbr0");
}

fn no_bridge(_: &Host) {}

/// A guest whose backend runs `script` (NAT or route mode: no bridge), plus `extra` keys.
fn routed_host(script: &'static str, extra: Keys) -> impl Fn(&mut Host) + Send + Sync {
    move |h: &mut Host| {
        h.add_guest(1, 0);
        let mut keys = vec![("script", script)];
        keys.extend_from_slice(extra);
        h.xs_write_backend(1, 0, &keys);
    }
}

/// The G2 layout network-bridge made (Xen 3.2–4.4): the NIC renamed `peth0`, a bridge named
/// `eth0` with its MAC and address. Built by hand so both sides start from the same host.
fn g2_layout(h: &Host) {
    let mac = snapshot::link(&h.dom0, "eth0").expect("eth0")["address"]
        .as_str()
        .unwrap()
        .to_string();
    dom0_ip(h, &["link", "set", "dev", "eth0", "down"]);
    dom0_ip(h, &["link", "set", "dev", "eth0", "name", "peth0"]);
    dom0_ip(h, &["addr", "flush", "dev", "peth0"]);
    dom0_ip(
        h,
        &[
            "link",
            "add",
            "name",
            "eth0",
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
    dom0_ip(h, &["link", "set", "dev", "peth0", "master", "eth0"]);
    dom0_ip(h, &["link", "set", "dev", "peth0", "up"]);
    dom0_ip(h, &["link", "set", "dev", "eth0", "up"]);
    dom0_ip(h, &["addr", "add", "192.0.2.10/24", "dev", "eth0"]);
    dom0_ip(
        h,
        &[
            "route", "replace", "default", "via", LAN_ADDR, "dev", "eth0",
        ],
    );
}

/// A second veth in dom0 named `name` (its peer `<name>p`), down, no address.
fn extra_link(h: &Host, name: &str) {
    let peer = format!("{name}p");
    dom0_ip(
        h,
        &[
            "link", "add", "name", name, "type", "veth", "peer", "name", &peer,
        ],
    );
}

const HOOK: &str = r#"xenstore-write "$XENBUS_PATH/hook-saw" "command=$command dev=$dev vif=$vif vifname=$vifname bridge=$bridge type_if=$type_if ip=$ip""#;

fn scenarios() -> Vec<Scenario> {
    let vb = "vif-bridge";
    let vn = "vif-nat";
    let vr = "vif-route";
    vec![
        // ---- bridge mode (spec §4)
        scenario(
            "bridge",
            bridge_host(&[]),
            vec![online(vb), online_again(vb), offline(vb), offline_again(vb)],
        ),
        scenario(
            "bridge-ip",
            bridge_host(&[("ip", "192.0.2.51")]),
            vec![online(vb), online_again(vb), offline(vb)],
        ),
        scenario(
            "bridge-two-guests",
            |h: &mut Host| {
                bridge_host(&[("ip", "192.0.2.51")])(h);
                h.add_guest(2, 0);
                h.xs_write_backend(2, 0, &[("ip", "192.0.2.52")]);
            },
            vec![
                online(vb),
                run("online-2", vb, &["online", "type_if=vif"]).dev(2, 0),
                offline(vb),
                run("offline-2", vb, &["offline", "type_if=vif"]).dev(2, 0),
            ],
        ),
        scenario(
            "bridge-ip-two",
            bridge_host(&[("ip", "192.0.2.51 192.0.2.61")]),
            vec![online(vb), offline(vb)],
        ),
        scenario(
            "bridge-mtu",
            bridge_host(&[("mtu", "1400")]),
            vec![online(vb), offline(vb)],
        ),
        scenario(
            "bridge-jumbo",
            |h: &mut Host| {
                bridge_host(&[])(h);
                dom0_ip(h, &["link", "set", "dev", "eth0", "mtu", "9000"]);
                dom0_ip(h, &["link", "set", "dev", "xenbr0", "mtu", "9000"]);
            },
            vec![online(vb), offline(vb)],
        ),
        scenario(
            "bridge-vifname",
            bridge_host(&[("vifname", "web0"), ("mtu", "1400")]),
            vec![online(vb), online_again(vb), offline(vb)],
        ),
        scenario(
            "bridge-absolute-path",
            bridge_host(&[]),
            vec![
                online(vb).env("XENBUS_PATH", "/local/domain/0/backend/vif/1/0"),
                offline(vb).env("XENBUS_PATH", "/local/domain/0/backend/vif/1/0"),
            ],
        ),
        scenario(
            "bridge-auto",
            bridge_host(&[("bridge", "")]),
            vec![online(vb), offline(vb)],
        ),
        scenario(
            "bridge-g2-xenbr0",
            |h: &mut Host| {
                g2_layout(h);
                h.add_guest(1, 0);
                h.xs_write_backend(1, 0, &[]);
            },
            vec![online(vb), offline(vb)],
        ),
        scenario(
            "bridge-tap",
            hvm_host(admin_bridge, &[]),
            vec![
                online(vb).ioemu(),
                tap_add(vb),
                tap_remove(vb),
                offline(vb).ioemu(),
            ],
        ),
        scenario(
            "bridge-tap-vifname",
            hvm_host(admin_bridge, &[("vifname", "web0")]),
            vec![
                online(vb).ioemu(),
                tap_add(vb),
                tap_remove(vb),
                offline(vb).ioemu(),
            ],
        ),
        scenario(
            "bridge-wrong-pairs",
            bridge_host(&[]),
            vec![
                run("add-vif", vb, &["add", "type_if=vif"]),
                run("online-tap", vb, &["online", "type_if=tap"]).ioemu(),
            ],
        ),
        scenario(
            "bridge-hook",
            |h: &mut Host| {
                bridge_host(&[("ip", "192.0.2.51")])(h);
                h.add_hook("50-saw.hook", HOOK);
            },
            vec![online(vb), offline(vb)],
        ),
        // ---- bridge mode failures (spec §2.1, §3, §4)
        scenario(
            "fail-missing-bridge",
            bridge_host(&[("bridge", "nosuchbr")]),
            vec![online(vb), offline(vb)],
        ),
        scenario(
            "fail-bridge-gone",
            bridge_host(&[("ip", "192.0.2.51")]),
            vec![
                online(vb),
                host_step("bridge-deleted", "ip link del xenbr0", |h| {
                    dom0_ip(h, &["link", "del", "dev", "xenbr0"])
                }),
                offline(vb),
            ],
        ),
        scenario(
            "fail-not-a-bridge",
            bridge_host(&[("bridge", "eth0")]),
            vec![online(vb)],
        ),
        scenario(
            "fail-vifname-taken",
            |h: &mut Host| {
                bridge_host(&[("vifname", "web0")])(h);
                extra_link(h, "web0");
            },
            vec![online(vb)],
        ),
        scenario(
            "fail-bad-command",
            bridge_host(&[]),
            vec![run("frobnicate", vb, &["frobnicate", "type_if=vif"])],
        ),
        scenario(
            "fail-bad-type",
            bridge_host(&[]),
            vec![run("online-wlan", vb, &["online", "type_if=wlan"])],
        ),
        scenario(
            "fail-no-vif",
            bridge_host(&[]),
            vec![online(vb).unset("vif")],
        ),
        scenario(
            "fail-no-xenbus-path",
            bridge_host(&[]),
            vec![online(vb).unset("XENBUS_PATH")],
        ),
        // ---- NAT mode (spec §5); dhcp=no on both sides
        scenario(
            "nat",
            routed_host("/etc/xen/scripts/vif-nat", &[]),
            vec![
                online(vn).env("dhcp", "no"),
                host_step(
                    "status-reset",
                    "hotplug-status=\"\" (as libxl leaves it for a new run)",
                    |h| h.xs_write(&format!("{}/hotplug-status", h.backend_path(1, 0)), ""),
                ),
                online_again(vn).env("dhcp", "no"),
                offline(vn).env("dhcp", "no"),
            ],
        ),
        scenario(
            "nat-ip",
            routed_host("/etc/xen/scripts/vif-nat", &[("ip", "10.0.0.5/24")]),
            vec![online(vn).env("dhcp", "no"), offline(vn).env("dhcp", "no")],
        ),
        scenario(
            "nat-tap",
            hvm_host(no_bridge, &[("script", "/etc/xen/scripts/vif-nat")]),
            vec![
                online(vn).ioemu().env("dhcp", "no"),
                tap_add(vn).env("dhcp", "no"),
                tap_remove(vn).env("dhcp", "no"),
                offline(vn).ioemu().env("dhcp", "no"),
            ],
        ),
        scenario(
            "fail-nat-router-ip",
            routed_host("/etc/xen/scripts/vif-nat", &[("ip", "10.0.0.200")]),
            vec![online(vn).env("dhcp", "no")],
        ),
        // ---- route mode (spec §6)
        scenario(
            "route",
            routed_host("/etc/xen/scripts/vif-route", &[("ip", "192.0.2.60")]),
            vec![online(vr), online_again(vr), offline(vr), offline_again(vr)],
        ),
        scenario(
            "route-netdev",
            routed_host("/etc/xen/scripts/vif-route", &[("ip", "192.0.2.60")]),
            vec![
                online(vr).env("netdev", "eth0"),
                offline(vr).env("netdev", "eth0"),
            ],
        ),
        scenario(
            "route-tap",
            hvm_host(
                no_bridge,
                &[
                    ("script", "/etc/xen/scripts/vif-route"),
                    ("ip", "192.0.2.60"),
                ],
            ),
            vec![
                online(vr).ioemu(),
                tap_add(vr),
                tap_remove(vr),
                offline(vr).ioemu(),
            ],
        ),
        scenario(
            "fail-route-no-address",
            |h: &mut Host| {
                routed_host("/etc/xen/scripts/vif-route", &[("ip", "192.0.2.60")])(h);
                extra_link(h, "dummy0");
            },
            vec![
                online(vr).env("netdev", "dummy0"),
                offline(vr).env("netdev", "dummy0"),
            ],
        ),
        scenario(
            "fail-route-address-lost",
            routed_host("/etc/xen/scripts/vif-route", &[("ip", "192.0.2.60")]),
            vec![
                online(vr),
                host_step("address-lost", "ip addr flush dev eth0", |h| {
                    dom0_ip(h, &["addr", "flush", "dev", "eth0"])
                }),
                offline(vr),
            ],
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Running one side

/// A normalised snapshot: named sections of canonical lines.
type Canon = Vec<(&'static str, Vec<String>)>;

/// Sections whose order means something; the others are sorted.
const ORDERED: &[&str] = &["iptables", "stdout"];

struct StepRun {
    name: &'static str,
    what: String,
    canon: Canon,
    /// What this step added to the hotplug log (shown next to unlisted differences).
    log: String,
}

struct SideRun {
    steps: Vec<StepRun>,
}

/// Replaces what legitimately differs between two hosts: the script directory (`$0` in
/// messages) and the random MACs the test bed's veths were born with.
struct Normaliser {
    dirs: Vec<String>,
    macs: Vec<(String, String)>,
}

impl Normaliser {
    fn new(dir: &Path) -> Normaliser {
        let mut dirs = vec![dir.display().to_string()];
        if let Ok(c) = dir.canonicalize() {
            dirs.push(c.display().to_string());
        }
        dirs.sort_by_key(|d| std::cmp::Reverse(d.len()));
        dirs.dedup();
        Normaliser {
            dirs,
            macs: Vec::new(),
        }
    }

    /// Labels every MAC dom0's links have after the set-up (except the fixed ones) by the
    /// links that had it: `<mac of eth0,xenbr0>`.
    fn learn_macs(&mut self, h: &Host) {
        let mut by_mac: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for l in snapshot::links(&h.dom0) {
            let (Some(name), Some(mac)) = (l["ifname"].as_str(), l["address"].as_str()) else {
                continue;
            };
            if mac == BACKEND_MAC || mac == "00:00:00:00:00:00" {
                continue;
            }
            by_mac
                .entry(mac.to_string())
                .or_default()
                .push(name.to_string());
        }
        self.macs = by_mac
            .into_iter()
            .map(|(mac, mut names)| {
                names.sort();
                (mac, format!("<mac of {}>", names.join(",")))
            })
            .collect();
    }

    fn line(&self, l: &str) -> String {
        let mut s = l.to_string();
        for d in &self.dirs {
            s = s.replace(&format!("{d}/"), &format!("{SCRIPT_DIR}/"));
        }
        for (mac, label) in &self.macs {
            s = s.replace(mac.as_str(), label);
        }
        s
    }
}

/// `path = "value"` of every node of the store.
fn xenstore_state(h: &Host) -> BTreeMap<String, String> {
    h.store().dump("/").into_iter().collect()
}

/// The set-up's whole store, or what one step changed in it (`path = "value"` for a node
/// written with a new value or created, `path removed`): so that a write shows at the step
/// that made it, not in every later one.
fn xenstore_lines(
    before: Option<&BTreeMap<String, String>>,
    after: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (p, v) in after {
        if before.and_then(|b| b.get(p)) != Some(v) {
            out.push(format!("{p} = {v:?}"));
        }
    }
    if let Some(b) = before {
        for p in b.keys().filter(|p| !after.contains_key(*p)) {
            out.push(format!("{p} removed"));
        }
    }
    out
}

fn canon(h: &Host, norm: &Normaliser, out: Option<&Output>, xenstore: Vec<String>) -> Canon {
    let mut sections: Canon = Vec::new();
    if let Some(o) = out {
        let status = if o.timed_out() {
            format!("timed out ({})", o.status)
        } else {
            format!("status {}", o.status)
        };
        sections.push(("exit", vec![status]));
        sections.push(("stdout", o.stdout.lines().map(str::to_string).collect()));
    }
    for (name, lines) in h.snapshot().sections {
        let short = if name.starts_with("nftables") {
            "nftables"
        } else {
            name
        };
        sections.push((short, lines));
    }
    sections.push(("xenstore", xenstore));
    for (name, lines) in sections.iter_mut() {
        for l in lines.iter_mut() {
            *l = norm.line(l);
        }
        if !ORDERED.contains(name) {
            lines.sort();
        }
    }
    sections
}

fn run_step(h: &Host, step: &Step, mode_env: &[(String, String)]) -> Option<Output> {
    match &step.act {
        Act::Host(f) => {
            f(h);
            None
        }
        Act::Run {
            script,
            domid,
            devid,
            ioemu,
            args,
            env,
            unset,
        } => {
            let mut c = if *ioemu {
                h.libxl_ioemu(script, *domid, *devid)
            } else {
                h.libxl(script, *domid, *devid)
            };
            // The originals' first PATH entry (fetch-originals.sh); ours ignore it.
            c = c.env("XENNET_COMPAT_BINDIR", &h.fake_bin.display().to_string());
            for (k, v) in mode_env {
                c = c.env(k, v);
            }
            for (k, v) in env {
                c = c.env(k, v);
            }
            for k in unset {
                c = c.unset(k);
            }
            Some(cmd::run_with_timeout(
                cmd::SCRIPT_TIMEOUT_SECS,
                &c.argv(args),
            ))
        }
    }
}

fn run_side(sc: &Scenario, dir: &Path, mode_env: &[(String, String)]) -> Option<SideRun> {
    let mut h = HostBuilder::new(&format!("cmp{}", sc.name), XENSTORE_FAKE).build()?;
    h.bin_dir = dir.to_path_buf();
    // No IPv6 duplicate address detection on the links to come: snapshots leave link-local
    // addresses out anyway, and waiting for DAD to settle would triple the run time.
    for k in ["all", "default"] {
        cmd::ns_exec(
            &h.dom0,
            &[
                "sysctl",
                "-q",
                "-w",
                &format!("net.ipv6.conf.{k}.accept_dad=0"),
            ],
        )
        .ok();
    }
    (sc.setup)(&mut h);
    let mut norm = Normaliser::new(dir);
    norm.learn_macs(&h);
    let mut log_seen = 0;
    let mut log = |h: &Host| {
        let all = h.hotplug_log();
        let new = all.get(log_seen..).unwrap_or("").to_string();
        log_seen = all.len();
        new
    };
    let mut store = xenstore_state(&h);
    let mut steps = vec![StepRun {
        name: "setup",
        what: "(the scenario's host, before any script)".into(),
        canon: canon(&h, &norm, None, xenstore_lines(None, &store)),
        log: log(&h),
    }];
    for step in &sc.steps {
        let out = run_step(&h, step, mode_env);
        let now = xenstore_state(&h);
        let changes = xenstore_lines(Some(&store), &now);
        store = now;
        steps.push(StepRun {
            name: step.name,
            what: step.what.clone(),
            canon: canon(&h, &norm, out.as_ref(), changes),
            log: log(&h),
        });
    }
    Some(SideRun { steps })
}

// ---------------------------------------------------------------------------------------------
// DEVIATIONS.md

/// Which differing lines a `match:` line covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sign {
    /// `-`: a line only the original (A) has.
    OnlyA,
    /// `+`: a line only ours (B) has.
    OnlyB,
    /// `-dup`: an extra copy, in A, of a line B has as well (duplicated iptables rules).
    DupA,
    /// `+dup`: an extra copy, in B, of a line A has as well.
    DupB,
    /// `-adds TEXT`: a pair of lines, A's being B's with TEXT added (next to a space).
    AddsA,
    /// `+adds TEXT`: a pair of lines, B's being A's with TEXT added (next to a space).
    AddsB,
}

impl Sign {
    fn parse(s: &str) -> Option<Sign> {
        Some(match s {
            "-" => Sign::OnlyA,
            "+" => Sign::OnlyB,
            "-dup" => Sign::DupA,
            "+dup" => Sign::DupB,
            "-adds" => Sign::AddsA,
            "+adds" => Sign::AddsB,
            _ => return None,
        })
    }

    fn text(self) -> &'static str {
        match self {
            Sign::OnlyA => "-",
            Sign::OnlyB => "+",
            Sign::DupA => "-dup",
            Sign::DupB => "+dup",
            Sign::AddsA => "-adds",
            Sign::AddsB => "+adds",
        }
    }

    /// Does a single-line matcher with this sign cover a diff line with `sign` (`-`/`+`)
    /// whose text the other side has too (`dup`)?
    fn covers(self, sign: char, dup: bool) -> bool {
        match self {
            Sign::OnlyA => sign == '-',
            Sign::OnlyB => sign == '+',
            Sign::DupA => sign == '-' && dup,
            Sign::DupB => sign == '+' && dup,
            Sign::AddsA | Sign::AddsB => false,
        }
    }
}

/// `long` without one occurrence of `text` and a space next to it, if that gives `short`.
fn adds(long: &str, short: &str, text: &str) -> bool {
    [format!(" {text}"), format!("{text} ")].iter().any(|t| {
        long.match_indices(t.as_str()).any(|(i, _)| {
            let mut s = long.to_string();
            s.replace_range(i..i + t.len(), "");
            s == short
        })
    })
}

/// What a listed entry is (`- kind:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A FIX row of the spec, or a SHOULD row whose deviation README documents.
    Fix,
    /// Asked for by an issue (and README), but the spec row it departs from is not a FIX row.
    Asked,
    /// Not justified: an incompatibility awaiting a fix or a decision. Listed so the run stays
    /// usable; the report shows it apart, and the entry goes stale (failing the run) once fixed.
    Open,
}

/// One `match:` line: `<mode> <scenario>/<step> <section> <sign> <line>`; scenario, step,
/// section and line are globs (`*` = any text), the first three may list alternatives
/// (`offline*|tap-remove`).
#[derive(Debug)]
struct Matcher {
    mode: String,
    scenario: String,
    step: String,
    section: String,
    sign: Sign,
    line: String,
    /// Source line in DEVIATIONS.md, for messages.
    at: usize,
}

impl Matcher {
    fn show(&self) -> String {
        format!(
            "{} {}/{} {} {} {}",
            self.mode,
            self.scenario,
            self.step,
            self.section,
            self.sign.text(),
            self.line
        )
    }
}

#[derive(Debug)]
struct Deviation {
    id: String,
    title: String,
    spec: String,
    kind: Kind,
    matchers: Vec<Matcher>,
}

impl Deviation {
    fn tag(&self) -> String {
        match self.kind {
            Kind::Fix => self.id.clone(),
            Kind::Asked => format!("{} asked", self.id),
            Kind::Open => format!("{} OPEN", self.id),
        }
    }
}

fn glob(pat: &str, text: &str) -> bool {
    // Iterative `*` matching (no other metacharacters).
    let (p, t): (Vec<char>, Vec<char>) = (pat.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// `a|b|…`: any of the globs.
fn globs(pats: &str, text: &str) -> bool {
    pats.split('|').any(|p| glob(p, text))
}

/// Reads the entries of DEVIATIONS.md: each starts with a `### <ID> <title>` heading, and has
/// a `- spec:` line, a `- kind:` line (`fix`, `asked` or `open`) and one or more
/// `` - match: `…` `` lines.
fn parse_deviations(text: &str) -> Result<Vec<Deviation>, String> {
    let mut out: Vec<Deviation> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let at = i + 1;
        let l = raw.trim_end();
        if let Some(rest) = l.strip_prefix("### ") {
            let (id, title) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push(Deviation {
                id: id.trim_end_matches('.').to_string(),
                title: title.trim().to_string(),
                spec: String::new(),
                kind: Kind::Fix,
                matchers: Vec::new(),
            });
            continue;
        }
        if l.starts_with("## ") || l.starts_with("# ") {
            continue;
        }
        let Some(cur) = out.last_mut() else { continue };
        if let Some(s) = l.strip_prefix("- spec: ") {
            cur.spec = s.trim().to_string();
        } else if let Some(s) = l.strip_prefix("- kind: ") {
            cur.kind = match s.trim() {
                "fix" => Kind::Fix,
                "asked" => Kind::Asked,
                "open" => Kind::Open,
                other => {
                    return Err(format!(
                        "DEVIATIONS.md:{at}: kind must be fix, asked or open, not {other:?}"
                    ))
                }
            };
        } else if let Some(m) = l.strip_prefix("- match: ") {
            let m = m
                .trim()
                .strip_prefix('`')
                .and_then(|m| m.strip_suffix('`'))
                .ok_or_else(|| format!("DEVIATIONS.md:{at}: a match must be in backquotes"))?;
            let mut parts = m.splitn(5, ' ');
            let mut next = || parts.next().unwrap_or("");
            let (mode, ss, section, sign, line) = (next(), next(), next(), next(), next());
            let (scenario, step) = ss
                .split_once('/')
                .ok_or_else(|| format!("DEVIATIONS.md:{at}: `{ss}` should be <scenario>/<step>"))?;
            let sign = Sign::parse(sign).ok_or_else(|| {
                format!(
                    "DEVIATIONS.md:{at}: the sign must be -, +, -dup, +dup, -adds or +adds, \
                     not {sign:?}"
                )
            })?;
            if !matches!(mode, "debian" | "upstream" | "*") {
                return Err(format!(
                    "DEVIATIONS.md:{at}: mode must be debian, upstream or *, not {mode:?}"
                ));
            }
            if line.is_empty() {
                return Err(format!("DEVIATIONS.md:{at}: empty line pattern"));
            }
            cur.matchers.push(Matcher {
                mode: mode.into(),
                scenario: scenario.into(),
                step: step.into(),
                section: section.into(),
                sign,
                line: line.into(),
                at,
            });
        }
    }
    for d in &out {
        if d.spec.is_empty() || d.matchers.is_empty() {
            return Err(format!(
                "DEVIATIONS.md: {} needs a `- spec:` line and at least one `- match:` line",
                d.id
            ));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Comparing

struct Mode {
    name: String,
    a: PathBuf,
    b: PathBuf,
    env: Vec<(String, String)>,
}

/// One mode's comparison: counts, which matchers matched, and the report text.
struct Comparison<'d> {
    mode: &'d str,
    devs: &'d [Deviation],
    /// (deviation index, matcher index) → lines matched.
    hits: BTreeMap<(usize, usize), usize>,
    steps: usize,
    identical: usize,
    listed: usize,
    asked: usize,
    open: usize,
    unlisted: usize,
    errors: Vec<String>,
    report: String,
}

impl<'d> Comparison<'d> {
    fn new(mode: &'d str, devs: &'d [Deviation]) -> Comparison<'d> {
        Comparison {
            mode,
            devs,
            hits: BTreeMap::new(),
            steps: 0,
            identical: 0,
            listed: 0,
            asked: 0,
            open: 0,
            unlisted: 0,
            errors: Vec::new(),
            report: String::new(),
        }
    }

    fn applies(&self, m: &Matcher, scenario: &str, step: &str, section: &str) -> bool {
        (m.mode == "*" || m.mode == self.mode)
            && globs(&m.scenario, scenario)
            && globs(&m.step, step)
            && globs(&m.section, section)
    }

    /// Which deviations cover each line of one section's diff (`-`/`+` lines): first the
    /// pairs of `±adds` matchers, then single lines.
    fn explain(
        &mut self,
        scenario: &str,
        step: &str,
        section: &str,
        diff: &[(char, String, bool)],
    ) -> Vec<Vec<usize>> {
        let mut found: Vec<Vec<usize>> = vec![Vec::new(); diff.len()];
        let mut paired = vec![false; diff.len()];
        for (di, dev) in self.devs.iter().enumerate() {
            for (mi, m) in dev.matchers.iter().enumerate() {
                let long_sign = match m.sign {
                    Sign::AddsA => '-',
                    Sign::AddsB => '+',
                    _ => continue,
                };
                if !self.applies(m, scenario, step, section) {
                    continue;
                }
                for li in 0..diff.len() {
                    if paired[li] || diff[li].0 != long_sign {
                        continue;
                    }
                    let partner = (0..diff.len()).find(|&si| {
                        !paired[si]
                            && diff[si].0 != long_sign
                            && adds(&diff[li].1, &diff[si].1, &m.line)
                    });
                    if let Some(si) = partner {
                        paired[li] = true;
                        paired[si] = true;
                        found[li].push(di);
                        found[si].push(di);
                        *self.hits.entry((di, mi)).or_default() += 2;
                    }
                }
            }
        }
        for (li, (sign, text, dup)) in diff.iter().enumerate() {
            if paired[li] {
                continue;
            }
            for (di, dev) in self.devs.iter().enumerate() {
                for (mi, m) in dev.matchers.iter().enumerate() {
                    if m.sign.covers(*sign, *dup)
                        && self.applies(m, scenario, step, section)
                        && glob(&m.line, text)
                    {
                        *self.hits.entry((di, mi)).or_default() += 1;
                        if !found[li].contains(&di) {
                            found[li].push(di);
                        }
                    }
                }
            }
        }
        found
    }

    fn scenario(&mut self, sc: &Scenario, a: &SideRun, b: &SideRun) {
        if a.steps.len() != b.steps.len() {
            self.errors.push(format!(
                "{}: the sides ran a different number of steps",
                sc.name
            ));
            return;
        }
        for (sa, sb) in a.steps.iter().zip(&b.steps) {
            self.steps += 1;
            let mut lines: Vec<String> = Vec::new();
            let (mut unlisted, mut asked, mut open) = (0, 0, 0);
            for ((section, la), (_, lb)) in sa.canon.iter().zip(&sb.canon) {
                if la == lb {
                    continue;
                }
                lines.push(format!("    [{section}]"));
                let diff: Vec<(char, String, bool)> = line_diff(la, lb)
                    .into_iter()
                    .map(|d| {
                        let (sign, text) = d.split_at(1);
                        let sign = sign.chars().next().unwrap_or(' ');
                        let text = text.trim_start().to_string();
                        let other = if sign == '-' { lb } else { la };
                        let dup = other.contains(&text);
                        (sign, text, dup)
                    })
                    .collect();
                let found = self.explain(sc.name, sa.name, section, &diff);
                for ((sign, text, dup), found) in diff.iter().zip(found) {
                    let tag = if found.is_empty() {
                        unlisted += 1;
                        "   <-- UNLISTED".to_string()
                    } else {
                        let kinds: Vec<Kind> = found.iter().map(|&i| self.devs[i].kind).collect();
                        if kinds.contains(&Kind::Open) {
                            open += 1;
                        } else if kinds.contains(&Kind::Asked) {
                            asked += 1;
                        }
                        let tags: Vec<String> = found.iter().map(|&i| self.devs[i].tag()).collect();
                        format!("   [{}]", tags.join(", "))
                    };
                    let copy = if *dup { " (extra copy)" } else { "" };
                    lines.push(format!("      {sign} {text}{copy}{tag}"));
                }
            }
            if lines.is_empty() {
                self.identical += 1;
                continue;
            }
            let mark = if unlisted > 0 {
                self.unlisted += 1;
                "!!"
            } else if open > 0 {
                self.open += 1;
                "??"
            } else if asked > 0 {
                self.asked += 1;
                "~a"
            } else {
                self.listed += 1;
                "~ "
            };
            let _ = writeln!(self.report, "  {mark} {}/{}: {}", sc.name, sa.name, sa.what);
            for l in lines {
                let _ = writeln!(self.report, "{l}");
            }
            if unlisted > 0 {
                for (side, s) in [("A", sa), ("B", sb)] {
                    if !s.log.trim().is_empty() {
                        let _ = writeln!(self.report, "    hotplug log, side {side}:");
                        for l in s.log.lines().take(20) {
                            let _ = writeln!(self.report, "      | {l}");
                        }
                    }
                }
            }
        }
    }

    /// Listed matchers that matched nothing in this mode: the list must stay true.
    fn check_stale(&mut self) {
        for (di, d) in self.devs.iter().enumerate() {
            for (mi, m) in d.matchers.iter().enumerate() {
                if (m.mode == "*" || m.mode == self.mode) && !self.hits.contains_key(&(di, mi)) {
                    self.errors.push(format!(
                        "DEVIATIONS.md:{}: {} `{}` matched nothing in mode {} (fixed, or a wrong \
                         pattern: update the list)",
                        m.at,
                        d.id,
                        m.show(),
                        self.mode
                    ));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The test

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The originals, fetched and prepared for this run; None (after a loud message) when that is
/// impossible outside CI.
fn fetch_originals(into: &Path) -> Option<String> {
    let script = repo_file("scripts-compat/fetch-originals.sh");
    let o = cmd::run_with_timeout(
        240,
        &[
            "bash".to_string(),
            script.display().to_string(),
            into.display().to_string(),
        ],
    );
    if o.success() {
        return Some(
            std::fs::read_to_string(into.join("VERSION"))
                .unwrap_or_default()
                .trim()
                .to_string(),
        );
    }
    let msg = format!("could not fetch Xen's original scripts:\n{o}");
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("{msg}");
    }
    eprintln!("\n!!! SKIPPED scripts-compat: {msg}");
    None
}

fn check_tools() {
    for (tool, package) in [
        ("ifconfig", "net-tools"),
        ("brctl", "bridge-utils"),
        ("flock", "util-linux"),
        ("perl", "perl-base"),
        ("dpkg-deb", "dpkg"),
    ] {
        let o = cmd::run(&["sh", "-c", &format!("command -v {tool}")]);
        assert!(
            o.success(),
            "the original scripts need `{tool}` (Debian package {package}); run .ci/install-deps"
        );
    }
}

fn modes(tmp: &Path, header: &mut String) -> Option<Vec<Mode>> {
    let firewall_none = || vec![("firewall".to_string(), "none".to_string())];
    match (env_path("XENNET_COMPAT_A"), env_path("XENNET_COMPAT_B")) {
        (Some(a), Some(b)) => {
            let name = std::env::var("XENNET_COMPAT_MODE").unwrap_or_else(|_| "upstream".into());
            assert!(
                name == "debian" || name == "upstream",
                "XENNET_COMPAT_MODE must be debian or upstream, not {name:?}"
            );
            let env = if name == "debian" {
                firewall_none()
            } else {
                Vec::new()
            };
            Some(vec![Mode { name, a, b, env }])
        }
        (None, None) => {
            check_tools();
            let version = fetch_originals(tmp)?;
            let ours = xennet_tests::bin_dir();
            for s in ["vif-bridge", "vif-nat", "vif-route"] {
                xennet_tests::binary(s);
            }
            let _ = writeln!(header, "originals: Debian xen-utils-common {version}");
            Some(vec![
                Mode {
                    name: "debian".into(),
                    a: tmp.join("debian"),
                    b: ours.clone(),
                    env: firewall_none(),
                },
                Mode {
                    name: "upstream".into(),
                    a: tmp.join("upstream"),
                    b: ours,
                    env: Vec::new(),
                },
            ])
        }
        _ => panic!("set both XENNET_COMPAT_A and XENNET_COMPAT_B, or neither"),
    }
}

/// Writes both sides' normalised snapshots of every step to `<dir>/<scenario>.txt`, for
/// reading what a scenario does (the report shows only differences).
fn dump_scenario(dir: &Path, name: &str, a: &SideRun, b: &SideRun) {
    let mut t = String::new();
    for (side, run) in [("A (original)", a), ("B (ours)", b)] {
        let _ = writeln!(t, "######## side {side}");
        for s in &run.steps {
            let _ = writeln!(t, "==== {}: {}", s.name, s.what);
            for (section, lines) in &s.canon {
                if lines.is_empty() {
                    continue;
                }
                let _ = writeln!(t, "  [{section}]");
                for l in lines {
                    let _ = writeln!(t, "    {l}");
                }
            }
        }
    }
    let _ = std::fs::create_dir_all(dir);
    let _ = std::fs::write(dir.join(format!("{name}.txt")), t);
}

type Done = BTreeMap<(usize, usize, usize), Result<SideRun, String>>;

/// Runs every (mode, scenario, side) as one job, `XENNET_COMPAT_JOBS` hosts at a time.
fn run_all(modes: &[Mode], scs: &[Scenario]) -> Done {
    let mut jobs: Vec<(usize, usize, usize)> = Vec::new();
    for mi in 0..modes.len() {
        for si in 0..scs.len() {
            for side in 0..2 {
                jobs.push((mi, si, side));
            }
        }
    }
    jobs.reverse();
    let queue = Mutex::new(jobs);
    let done: Mutex<Done> = Mutex::new(BTreeMap::new());
    let workers: usize = std::env::var("XENNET_COMPAT_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(3);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let Some(job) = queue.lock().unwrap().pop() else {
                    break;
                };
                let (mi, si, side) = job;
                let m = &modes[mi];
                let dir = if side == 0 { &m.a } else { &m.b };
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_side(&scs[si], dir, &m.env)
                }));
                let r = match r {
                    Ok(Some(run)) => Ok(run),
                    Ok(None) => Err("the host could not be built (not root?)".to_string()),
                    Err(p) => Err(p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "panicked".into())),
                };
                done.lock().unwrap().insert(job, r);
            });
        }
    });
    done.into_inner().unwrap()
}

#[test]
fn scripts_compat_side_by_side() {
    if !xennet_tests::require_root() {
        return;
    }
    let devs_path = repo_file("scripts-compat/DEVIATIONS.md");
    let devs = parse_deviations(&std::fs::read_to_string(&devs_path).unwrap_or_else(|e| {
        panic!("{}: {e}", devs_path.display());
    }))
    .unwrap_or_else(|e| panic!("{e}"));

    let tmp = tempfile::Builder::new()
        .prefix("xennet-compat.")
        .tempdir()
        .expect("temporary directory");
    let mut header = String::new();
    let Some(modes) = modes(tmp.path(), &mut header) else {
        return;
    };
    for m in &modes {
        let with: Vec<String> = m.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            header,
            "mode {}: A = {} | B = {}{}",
            m.name,
            m.a.display(),
            m.b.display(),
            if with.is_empty() {
                String::new()
            } else {
                format!(" | both sides with {}", with.join(" "))
            }
        );
    }

    let scs = scenarios();
    let started = std::time::Instant::now();
    let mut done = run_all(&modes, &scs);
    let elapsed = started.elapsed();

    let mut report = String::new();
    let _ = writeln!(
        report,
        "scripts-compat: A = Xen's original scripts, B = ours, side by side\n{header}\n\
         `- line`: only in A; `+ line`: only in B; (extra copy): the other side has it once less.\n\
         [Dnn] = a deviation listed in DEVIATIONS.md (a FIX row); [Dnn asked] = asked for by \
         an issue, not a FIX row;\n[Dnn OPEN] = listed as an open incompatibility; \
         <-- UNLISTED fails the run.\n\
         Step marks: ~ = differs only by FIX rows; ~a = also by asked-for changes; ?? = also \
         by an open incompatibility; !! = unlisted.\n"
    );
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scripts-compat");
    let _ = std::fs::remove_dir_all(&out_dir);
    let mut failures: Vec<String> = Vec::new();
    let mut summary: Vec<String> = Vec::new();
    let mut total_hits: BTreeMap<usize, usize> = BTreeMap::new();
    for (mi, m) in modes.iter().enumerate() {
        let mut cmp = Comparison::new(&m.name, &devs);
        for (si, sc) in scs.iter().enumerate() {
            let a = done.remove(&(mi, si, 0)).unwrap();
            let b = done.remove(&(mi, si, 1)).unwrap();
            match (a, b) {
                (Ok(a), Ok(b)) => {
                    dump_scenario(&out_dir.join(&m.name), sc.name, &a, &b);
                    cmp.scenario(sc, &a, &b)
                }
                (a, b) => {
                    for (side, r) in [("A", a), ("B", b)] {
                        if let Err(e) = r {
                            cmp.errors
                                .push(format!("{}: side {side} could not run: {e}", sc.name));
                        }
                    }
                }
            }
        }
        cmp.check_stale();
        for ((di, _), n) in &cmp.hits {
            *total_hits.entry(*di).or_default() += n;
        }
        let line = format!(
            "mode {}: {} scenarios, {} steps compared ({} set-ups + {} script/host steps): {} \
             identical, {} differ by FIX rows only, {} also by asked-for changes, {} also by an \
             open incompatibility, {} unlisted, {} errors",
            m.name,
            scs.len(),
            cmp.steps,
            scs.len(),
            cmp.steps.saturating_sub(scs.len()),
            cmp.identical,
            cmp.listed,
            cmp.asked,
            cmp.open,
            cmp.unlisted,
            cmp.errors.len()
        );
        let _ = writeln!(report, "== mode {} ==\n{}", m.name, cmp.report);
        let _ = writeln!(report, "{line}");
        for e in &cmp.errors {
            let _ = writeln!(report, "  error: {e}");
        }
        let _ = writeln!(report);
        if cmp.unlisted > 0 {
            failures.push(format!(
                "mode {}: {} step(s) with differences not listed in scripts-compat/DEVIATIONS.md",
                m.name, cmp.unlisted
            ));
        }
        failures.extend(cmp.errors.iter().map(|e| format!("mode {}: {e}", m.name)));
        summary.push(line);
    }
    let _ = writeln!(report, "listed in DEVIATIONS.md (lines matched):");
    for (di, d) in devs.iter().enumerate() {
        let kind = match d.kind {
            Kind::Fix => "",
            Kind::Asked => "(asked) ",
            Kind::Open => "(OPEN) ",
        };
        let _ = writeln!(
            report,
            "  {} {kind}{} [{}]: {}",
            d.id,
            d.title,
            d.spec,
            total_hits.get(&di).copied().unwrap_or(0)
        );
    }
    let _ = writeln!(report, "\nran in {elapsed:.1?}");
    for l in &summary {
        let _ = writeln!(report, "{l}");
    }

    let _ = std::fs::create_dir_all(&out_dir);
    let report_path = out_dir.join("report.txt");
    let _ = std::fs::write(&report_path, &report);
    println!("{report}");
    println!("(report written to {})", report_path.display());
    assert!(
        failures.is_empty(),
        "scripts-compat failed:\n  {}\n(see the report above, or {})",
        failures.join("\n  "),
        report_path.display()
    );
}

#[test]
fn adds_pairs_lines() {
    assert!(adds(
        "web0 kind=veth up mtu=1500 alias=vif1.0",
        "web0 kind=veth up mtu=1500",
        "alias=vif1.0"
    ));
    assert!(adds(
        "vif1.0 broadcast=192.0.2.255 family=inet",
        "vif1.0 family=inet",
        "broadcast=192.0.2.255"
    ));
    assert!(!adds(
        "web0 kind=veth up mtu=1400 alias=vif1.0",
        "web0 kind=veth up mtu=1500",
        "alias=vif1.0"
    ));
}

#[test]
fn glob_matching() {
    assert!(glob("abc", "abc"));
    assert!(!glob("abc", "abcd"));
    assert!(glob("a*", "abcd"));
    assert!(glob("*d", "abcd"));
    assert!(glob("a*c*", "abcd"));
    assert!(glob("*", ""));
    assert!(!glob("a*x", "abcd"));
    assert!(glob("bridge*", "bridge-ip"));
    assert!(glob(
        "-A FORWARD * vif1.0 *",
        "-A FORWARD -m physdev vif1.0 -j ACCEPT"
    ));
}

#[test]
fn deviations_file_parses() {
    let text = std::fs::read_to_string(repo_file("scripts-compat/DEVIATIONS.md"))
        .expect("scripts-compat/DEVIATIONS.md");
    let devs = parse_deviations(&text).unwrap_or_else(|e| panic!("{e}"));
    assert!(!devs.is_empty(), "DEVIATIONS.md lists nothing");
    let mut ids: Vec<&str> = devs.iter().map(|d| d.id.as_str()).collect();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "deviation ids must be unique");
    for d in &devs {
        assert!(
            d.kind != Kind::Fix || d.spec.contains("FIX") || d.spec.contains("SHOULD"),
            "{}: a `fix` entry must name its FIX row, or the SHOULD row whose deviation README \
             documents: {:?}",
            d.id,
            d.spec
        );
    }
}
