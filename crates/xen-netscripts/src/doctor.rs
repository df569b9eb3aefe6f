//! `xennet doctor`: what the scripts need from the host, one line per check, each problem with
//! what to do about it. It only reads: files under /proc, /sys and the scripts' directories, the
//! tools' own version output, dpkg's conffile records (`dpkg-query`) and `md5sum` of the scripts
//! dpkg has a record of.
//! It never creates a link, rule, file or directory.

use crate::dpkg::Conffiles;
use crate::install::{classify, Found, How, ORIG_SUFFIX};
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use xennet::exec::{Cmd, Runner, System};
use xennet::scripts::SCRIPTS;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ok => "OK  ",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub status: Status,
    pub name: String,
    pub detail: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.name, self.detail)
    }
}

fn check(status: Status, name: impl Into<String>, detail: impl Into<String>) -> Check {
    Check {
        status,
        name: name.into(),
        detail: detail.into(),
    }
}

/// The directories the scripts add after the caller's PATH (GEN-06).
pub const SYSTEM_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Where the doctor looks for tools.
pub struct Search {
    /// The caller's PATH.
    pub path: Vec<PathBuf>,
    /// Searched after PATH, as the scripts do.
    pub system: Vec<PathBuf>,
}

impl Search {
    pub fn from_env() -> Search {
        Search {
            path: std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).collect())
                .unwrap_or_default(),
            system: SYSTEM_DIRS.iter().map(PathBuf::from).collect(),
        }
    }

    /// The tool's path, and whether it was found only in the system directories.
    pub fn find(&self, tool: &str) -> Option<(PathBuf, bool)> {
        let exe = |d: &PathBuf| {
            let p = d.join(tool);
            std::fs::metadata(&p)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .then_some(p)
        };
        if let Some(p) = self.path.iter().find_map(exe) {
            return Some((p, false));
        }
        self.system.iter().find_map(exe).map(|p| (p, true))
    }
}

/// How much a missing tool matters.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Required,
    /// Missing is a warning; the text says what it is for.
    Wanted(&'static str),
    /// Missing is fine; the text says what is used instead.
    Optional(&'static str),
}

struct Tool {
    name: &'static str,
    version_args: &'static [&'static str],
    need: Need,
}

const TOOLS: &[Tool] = &[
    Tool {
        name: "ip",
        version_args: &["-V"],
        need: Need::Required,
    },
    Tool {
        name: "bridge",
        version_args: &["-V"],
        need: Need::Required,
    },
    Tool {
        name: "brctl",
        version_args: &["-V"],
        need: Need::Optional("ip link is used instead"),
    },
    Tool {
        name: "iptables",
        version_args: &["-V"],
        need: Need::Optional("firewall=auto uses nftables where iptables is not installed"),
    },
    Tool {
        name: "iptables-save",
        version_args: &["-V"],
        need: Need::Optional("firewall=auto uses nftables where iptables is not installed"),
    },
    Tool {
        name: "iptables-restore",
        version_args: &["-V"],
        need: Need::Optional("firewall=auto uses nftables where iptables is not installed"),
    },
    Tool {
        name: "nft",
        version_args: &["-v"],
        need: Need::Optional(
            "firewall=auto uses it where iptables is not installed, firewall=nftables always",
        ),
    },
    Tool {
        name: "xenstore-read",
        version_args: &[],
        need: Need::Required,
    },
    Tool {
        name: "xenstore-write",
        version_args: &[],
        need: Need::Required,
    },
    Tool {
        name: "logger",
        version_args: &[],
        need: Need::Wanted(
            "Xen's own scripts and many hooks log with it (xennet writes to /dev/log itself)",
        ),
    },
    Tool {
        name: "bash",
        version_args: &[],
        need: Need::Wanted("the vif-post.d hooks run in bash"),
    },
];

/// What a missing required tool breaks, for the FAIL line.
fn needed_for(tool: &str) -> &'static str {
    match tool {
        "ip" | "bridge" => "every script manages links with it",
        t if t.starts_with("xenstore-") => {
            "the vif scripts read their settings and report to the toolstack with it"
        }
        _ => "the scripts need it",
    }
}

/// The first line of a tool's version output, trimmed.
fn version(runner: &dyn Runner, path: &Path, args: &[&str]) -> Option<String> {
    if args.is_empty() {
        return None;
    }
    let out = runner
        .run(&Cmd::new(&path.to_string_lossy()).args(args.iter().copied()))
        .ok()?;
    out.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

/// `iptables v1.8.9 (nf_tables)` → (1, 8, 9) and the backend.
pub fn parse_iptables_version(line: &str) -> Option<((u32, u32, u32), Option<String>)> {
    let v = line
        .split_whitespace()
        .filter_map(|w| w.strip_prefix('v'))
        .find(|v| v.starts_with(|c: char| c.is_ascii_digit()))?;
    let mut n = v.split('.').map(|p| p.parse::<u32>().ok());
    let version = (n.next()??, n.next()??, n.next().flatten().unwrap_or(0));
    let backend = line
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(b, _)| b.to_string());
    Some((version, backend))
}

fn tool_checks(search: &Search, runner: &dyn Runner, hooks: &[PathBuf]) -> Vec<Check> {
    let mut out = Vec::new();
    for t in TOOLS {
        let package = xennet::exec::package_of(t.name);
        let Some((path, outside_path)) = search.find(t.name) else {
            let c = match t.need {
                Need::Required => check(
                    Status::Fail,
                    t.name,
                    format!(
                        "not found on PATH nor in {}; install the Debian package {package} ({})",
                        SYSTEM_DIRS.join(":"),
                        needed_for(t.name)
                    ),
                ),
                Need::Wanted(_) if t.name == "bash" && !hooks.is_empty() => check(
                    Status::Fail,
                    t.name,
                    format!(
                        "not found on PATH nor in the system directories, and {} hook(s) need it ({}); install the Debian \
                         package bash",
                        hooks.len(),
                        hooks[0].display()
                    ),
                ),
                Need::Wanted(why) => check(
                    Status::Warn,
                    t.name,
                    format!("not found on PATH nor in the system directories; install the Debian package {package}: {why}"),
                ),
                Need::Optional(instead) => check(
                    Status::Ok,
                    t.name,
                    format!(
                        "not installed (optional: {instead}; the Debian package is {package})"
                    ),
                ),
            };
            out.push(c);
            continue;
        };
        let ver = version(runner, &path, t.version_args);
        let mut detail = match &ver {
            Some(v) => format!("{v} ({})", path.display()),
            None => path.display().to_string(),
        };
        if outside_path {
            detail.push_str(", outside your PATH; the scripts add the system directories to PATH");
        }
        let mut status = Status::Ok;
        match t.name {
            "ip" => {
                // The scripts read the host through `ip -j` (JSON).
                let json = runner
                    .run(
                        &Cmd::new(&path.to_string_lossy())
                            .args(["-j", "link", "show", "dev", "lo"]),
                    )
                    .map(|o| o.trim_start().starts_with('['));
                if !matches!(json, Ok(true)) {
                    status = Status::Fail;
                    detail.push_str(
                        "; but `ip -j` gives no JSON: the scripts need iproute2 4.15 or newer",
                    );
                }
            }
            "iptables" => match ver.as_deref().and_then(parse_iptables_version) {
                Some((v, backend)) => {
                    detail.push_str(&format!(
                        "; backend {}",
                        backend.as_deref().unwrap_or("legacy")
                    ));
                    if v < (1, 6, 2) {
                        status = Status::Warn;
                        detail.push_str(
                            "; older than 1.6.2, so iptables-restore has no --wait and \
                             parallel guests may fail on the xtables lock: upgrade iptables",
                        );
                    }
                }
                None => {
                    status = Status::Warn;
                    detail.push_str("; its version could not be read (`iptables -V`)");
                }
            },
            "bash" if !hooks.is_empty() => {
                detail.push_str(&format!("; runs {} hook(s)", hooks.len()));
            }
            _ => {}
        }
        out.push(check(status, t.name, detail));
    }
    out
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn dom0_check() -> Check {
    match read_trimmed(Path::new("/proc/xen/capabilities")) {
        Some(c) if c.split(',').any(|w| w.trim() == "control_d") => check(
            Status::Ok,
            "dom0",
            "this is Xen's dom0 (/proc/xen/capabilities: control_d)",
        ),
        Some(_) => check(
            Status::Warn,
            "dom0",
            "this is a Xen guest, not dom0: the toolstack runs the vif scripts in dom0 (or a \
             driver domain)",
        ),
        None => check(
            Status::Warn,
            "dom0",
            "not running on Xen (no /proc/xen/capabilities): fine for trying the scripts, but no \
             toolstack will call them here; boot Xen and mount xenfs on /proc/xen",
        ),
    }
}

fn kernel_release() -> Option<String> {
    read_trimmed(Path::new("/proc/sys/kernel/osrelease"))
}

fn bridge_check(proc_sys_net: &Path) -> Check {
    if Path::new("/sys/module/bridge").exists() || proc_sys_net.join("bridge").exists() {
        return check(Status::Ok, "kernel bridge", "bridge support is loaded");
    }
    if let Some(rel) = kernel_release() {
        let dir = Path::new("/lib/modules").join(&rel);
        let listed = |file: &str| {
            std::fs::read_to_string(dir.join(file))
                .is_ok_and(|s| s.lines().any(|l| l.contains("net/bridge/bridge.ko")))
        };
        if listed("modules.builtin") {
            return check(Status::Ok, "kernel bridge", "built into the kernel");
        }
        if listed("modules.dep") {
            return check(
                Status::Ok,
                "kernel bridge",
                "the bridge module is not loaded yet; the kernel loads it when the first bridge \
                 is made",
            );
        }
    }
    check(
        Status::Warn,
        "kernel bridge",
        "no bridge support found (no /sys/module/bridge, no bridge.ko for this kernel): \
         vif-bridge and network-bridge need a kernel with CONFIG_BRIDGE; try `modprobe bridge`",
    )
}

fn br_netfilter_check(proc_sys_net: &Path) -> Check {
    let key = proc_sys_net.join("bridge/bridge-nf-call-iptables");
    match read_trimmed(&key).as_deref() {
        Some("1") => check(
            Status::Ok,
            "br_netfilter",
            format!(
                "{} = 1: bridged traffic passes iptables, so vif-bridge's antispoof rules apply",
                key.display()
            ),
        ),
        Some(v) => check(
            Status::Warn,
            "br_netfilter",
            format!(
                "{} = {v}: bridged traffic skips iptables, so vif-bridge's antispoof rules do \
                 nothing; `sysctl -w net.bridge.bridge-nf-call-iptables=1` and keep it in \
                 /etc/sysctl.d",
                key.display()
            ),
        ),
        None => check(
            Status::Warn,
            "br_netfilter",
            format!(
                "not loaded (no {}): bridged traffic skips iptables, so vif-bridge's antispoof \
                 rules do nothing; `modprobe br_netfilter` and list it in /etc/modules-load.d",
                key.display()
            ),
        ),
    }
}

fn root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A directory the scripts write to (or create): writable, or its nearest existing parent is.
fn dir_check(name: &str, dir: &Path, var: &str) -> Check {
    use nix::unistd::{access, AccessFlags};
    let writable = |p: &Path| access(p, AccessFlags::W_OK | AccessFlags::X_OK).is_ok();
    let not_writable = |p: &Path| {
        if root() {
            check(
                Status::Fail,
                name,
                format!(
                    "{} is not writable (a read-only file system?); the scripts need it, or set \
                     {var} to another directory",
                    p.display()
                ),
            )
        } else {
            check(
                Status::Warn,
                name,
                format!(
                    "{} is not writable by you (uid {}); the scripts run as root, so run the \
                     doctor as root to be sure",
                    p.display(),
                    nix::unistd::geteuid()
                ),
            )
        }
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {
            if writable(dir) {
                check(Status::Ok, name, format!("{} is writable", dir.display()))
            } else {
                not_writable(dir)
            }
        }
        Ok(_) => check(
            Status::Fail,
            name,
            format!(
                "{} exists and is not a directory: remove it, or set {var} to a directory",
                dir.display()
            ),
        ),
        Err(_) => {
            let mut parent = dir.parent();
            while let Some(p) = parent {
                if std::fs::symlink_metadata(p).is_ok() {
                    break;
                }
                parent = p.parent();
            }
            let Some(p) = parent else {
                return check(
                    Status::Fail,
                    name,
                    format!("{} cannot be made", dir.display()),
                );
            };
            if !p.is_dir() {
                check(
                    Status::Fail,
                    name,
                    format!(
                        "{} cannot be made: {} is not a directory; set {var} to a directory",
                        dir.display(),
                        p.display()
                    ),
                )
            } else if writable(p) {
                check(
                    Status::Ok,
                    name,
                    format!(
                        "{} does not exist yet; the scripts make it (in {}, writable)",
                        dir.display(),
                        p.display()
                    ),
                )
            } else {
                not_writable(p)
            }
        }
    }
}

/// The scripts directory, then (when it exists) one line per script.
fn script_checks(dir: &Path) -> Vec<Check> {
    if !dir.is_dir() {
        return vec![check(
            Status::Warn,
            "scripts dir",
            format!(
                "{} does not exist or is not a directory (are Xen's tools installed?); --dir \
                 names another scripts directory",
                dir.display()
            ),
        )];
    }
    let mut out = vec![check(
        Status::Ok,
        "scripts dir",
        format!("{} exists", dir.display()),
    )];
    let conffiles = Conffiles::load();
    let abs_dir = crate::dpkg::absolute_dir(dir);
    let mut ours = Vec::new();
    let mut not_ours = Vec::new();
    for s in &SCRIPTS {
        let found = classify(dir, s.name);
        if matches!(found, Ok(Found::Ours { .. })) {
            ours.push(s.name);
        } else {
            not_ours.push(s.name);
        }
        out.push(script_check(dir, &abs_dir, &conffiles, s.name, found));
    }
    out.push(match (ours.is_empty(), not_ours.is_empty()) {
        (_, true) => check(
            Status::Ok,
            "scripts",
            format!("all {} are xennet's", ours.len()),
        ),
        (true, false) => check(
            Status::Ok,
            "scripts",
            "none is xennet's: the toolstack runs what is in the scripts directory; `xennet \
             install` switches to xennet's",
        ),
        (false, false) => check(
            Status::Warn,
            "scripts",
            format!(
                "xennet's: {}; not xennet's: {}. Run `xennet install` to use xennet's for all \
                 (or `xennet uninstall` to go back to the originals for all)",
                ours.join(", "),
                not_ours.join(", ")
            ),
        ),
    });
    out
}

/// One script's line: ours (and runnable), missing, Xen's, or someone else's, and what to do.
fn script_check(
    dir: &Path,
    abs_dir: &Path,
    conffiles: &Conffiles,
    name: &str,
    found: std::io::Result<Found>,
) -> Check {
    let line = format!("script {name}");
    let path = dir.join(name);
    let orig = dir.join(format!("{name}{ORIG_SUFFIX}"));
    let dist = dir.join(format!("{name}.dpkg-dist"));
    let record = conffiles.get(&abs_dir.join(name));
    match found {
        Ok(Found::Ours {
            target,
            dangling: false,
            ..
        }) if std::fs::metadata(&target).is_ok_and(|m| m.permissions().mode() & 0o111 == 0) => {
            check(
                Status::Fail,
                line,
                format!(
                    "{} runs {}, which is not executable: `chmod +x` it",
                    path.display(),
                    target.display()
                ),
            )
        }
        Ok(Found::Ours {
            target,
            dangling: false,
            how,
        }) => {
            let mut detail = match how {
                How::Script => format!("{} runs {} (xennet)", path.display(), target.display()),
                How::Link => format!(
                    "{} -> {} (xennet), a symbolic link from an earlier install: dpkg never \
                     updates a conffile that is a link (it leaves {name}.dpkg-new); run `xennet \
                     install` to make it a script dpkg handles",
                    path.display(),
                    target.display()
                ),
            };
            let newer =
                record.is_some() && conffiles.is_shipped(&abs_dir.join(name), &dist) == Some(true);
            if newer {
                detail.push_str(&format!(
                    "; {} holds the script {} ships now (dpkg kept ours): `xennet uninstall` \
                     would put that one back",
                    dist.display(),
                    record.map(|r| r.package.as_str()).unwrap_or("the package")
                ));
            }
            let status = if how == How::Link {
                Status::Warn
            } else {
                Status::Ok
            };
            check(status, line, detail)
        }
        Ok(Found::Ours {
            target,
            dangling: true,
            ..
        }) => check(
            Status::Fail,
            line,
            format!(
                "{} runs {}, which does not exist: the toolstack cannot run it; install the \
                 binaries and run `xennet install` (or `xennet uninstall`) again",
                path.display(),
                target.display()
            ),
        ),
        Ok(Found::Missing) => check(
            Status::Warn,
            line,
            format!(
                "{} does not exist; `xennet install` puts xennet's there",
                path.display()
            ),
        ),
        Ok(Found::Other) if orig.exists() => {
            let shipped = conffiles.is_shipped(&abs_dir.join(name), &path) == Some(true);
            let same = std::fs::read(&path).ok() == std::fs::read(&orig).ok();
            let saved = dir.join(format!("{name}.dpkg-old"));
            let saved = if crate::install::script_target(&saved, name).is_some() {
                format!(" (xennet's was saved as {})", saved.display())
            } else {
                String::new()
            };
            let detail = if shipped {
                format!(
                    "{} is Xen's script as {} ships it now, not xennet's: dpkg put it back \
                     (e.g. apt with --force-confnew){saved}. Run `xennet install` to use \
                     xennet's again; it keeps this one as {} instead of the older copy",
                    path.display(),
                    record.map(|r| r.package.as_str()).unwrap_or("its package"),
                    orig.display()
                )
            } else if same {
                format!(
                    "{} is the original again (the same as {}), not xennet's{saved}. Run \
                     `xennet install` to use xennet's again",
                    path.display(),
                    orig.display()
                )
            } else {
                format!(
                    "{} is not xennet's, and {} holds another original: compare the two, \
                     remove the one you do not want, then run `xennet install`",
                    path.display(),
                    orig.display()
                )
            };
            check(Status::Warn, line, detail)
        }
        Ok(Found::Other) => {
            let shell = std::fs::read(&path).is_ok_and(|b| b.starts_with(b"#!"));
            let what = if shell {
                "a shell script, not xennet (Xen's original?)"
            } else {
                "not xennet's"
            };
            check(
                Status::Warn,
                line,
                format!(
                    "{} is {what}; `xennet install` puts xennet's there and keeps it as \
                     {name}{ORIG_SUFFIX}",
                    path.display(),
                ),
            )
        }
        Err(e) => check(
            Status::Warn,
            line,
            format!("{} cannot be read: {e}", path.display()),
        ),
    }
}

/// The executable `*.hook` files the vif scripts would run.
fn hooks(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join("vif-post.d")) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "hook")
                && std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
        })
        .collect();
    v.sort();
    v
}

/// FRR, once an `overlay=evpn` VNI is in use on this host (its record in the state directory):
/// zebra and bgpd must answer, or the overlay learns nothing new.
fn frr_check(runner: &dyn Runner) -> Option<Check> {
    let record = xennet::modes::network_bridge::frr::record_path();
    if !record.exists() {
        return None;
    }
    let argv = {
        let mut v = xennet::modes::network_bridge::frr::vtysh();
        v.extend(["-c".to_string(), "show daemons".to_string()]);
        v
    };
    let (code, stdout, stderr) =
        match runner.run(&Cmd::new(&argv[0]).args(argv[1..].iter().cloned())) {
            Ok(out) => (0, out, String::new()),
            Err(xennet::exec::ExecError::Failed { code, stderr, .. }) => {
                (code.unwrap_or(-1), String::new(), stderr)
            }
            Err(e) => (-1, String::new(), e.to_string()),
        };
    Some(match xennet::evpn::check_running(code, &stdout, &stderr) {
        Ok(()) => check(
            Status::Ok,
            "frr",
            format!(
                "zebra and bgpd answer; the EVPN overlay's FRR configuration is recorded in {}",
                record.display()
            ),
        ),
        Err(why) => check(
            Status::Fail,
            "frr",
            xennet::evpn::down_message(
                &why,
                std::fs::read_to_string(xennet::modes::network_bridge::frr::DAEMONS_FILE)
                    .ok()
                    .as_deref(),
                "The EVPN overlay learns no new host or guest until then.",
            ),
        ),
    })
}

/// Which firewall the scripts will drive here: `firewall=` from the environment or the config
/// file (as the scripts read it), `auto` by default, and whether its tools are installed.
fn firewall_check(search: &Search) -> Check {
    let conf = xennet::conf::path();
    let (value, origin) = match std::env::var("firewall").ok().filter(|v| !v.is_empty()) {
        Some(v) => (v, "environment variable firewall".to_string()),
        None => match std::fs::read_to_string(&conf)
            .ok()
            .and_then(|t| xennet::conf::lookup(&t, "firewall"))
        {
            Some(v) => (v, format!("firewall= in {}", conf.display())),
            None => ("auto".to_string(), "the default".to_string()),
        },
    };
    let iptables = ["iptables", "iptables-save", "iptables-restore"]
        .iter()
        .all(|t| search.find(t).is_some());
    let nft = search.find("nft").is_some();
    let (status, detail) = match value.as_str() {
        "auto" if iptables => (Status::Ok, "iptables (installed)".to_string()),
        "auto" if nft => (
            Status::Ok,
            "nftables, since iptables is not installed: every rule (vif, NAT, antispoof) is made in              tables xen_netscripts"
                .to_string(),
        ),
        "auto" => (
            Status::Warn,
            "none: neither iptables nor nft is installed, so guests get no firewall rules and              network-nat cannot masquerade; install the Debian package nftables"
                .to_string(),
        ),
        "iptables" if !iptables => (
            Status::Fail,
            "iptables, which is not installed: install the Debian package iptables, or set              firewall=auto"
                .to_string(),
        ),
        "nftables" if !nft => (
            Status::Fail,
            "nftables, whose nft is not installed: install the Debian package nftables, or set              firewall=auto"
                .to_string(),
        ),
        "iptables" | "nftables" | "none" => (Status::Ok, value.clone()),
        other => (
            Status::Fail,
            format!("{other:?} is not a firewall backend: use auto, iptables, nftables or none"),
        ),
    };
    check(
        status,
        "firewall",
        format!("firewall={value} ({origin}): {detail}"),
    )
}

/// Every check, in order.
pub fn run(script_dir: &Path) -> Vec<Check> {
    let runner = System {
        timeout: Duration::from_secs(5),
    };
    let search = Search::from_env();
    let proc_sys_net = xennet::paths::proc_sys_net();
    let mut out = Vec::new();
    out.push(if root() {
        check(Status::Ok, "root", "running as root, as the scripts do")
    } else {
        check(
            Status::Warn,
            "root",
            format!(
                "running as uid {}: the scripts run as root, and some checks may differ for root",
                nix::unistd::geteuid()
            ),
        )
    });
    out.push(dom0_check());
    out.extend(tool_checks(&search, &runner, &hooks(script_dir)));
    out.push(firewall_check(&search));
    out.extend(frr_check(&runner));
    out.push(bridge_check(&proc_sys_net));
    out.push(br_netfilter_check(&proc_sys_net));
    out.push(dir_check(
        "lock dir",
        &xennet::paths::lock_dir(),
        "XENNET_LOCK_DIR",
    ));
    out.push(dir_check(
        "state dir",
        &xennet::paths::state_dir(),
        "XENNET_STATE_DIR",
    ));
    out.push(boot_check(
        &xennet::conf::path(),
        Path::new(UNIT_DIRS[0]).parent(),
    ));
    out.extend(script_checks(script_dir));
    out
}

/// Where the boot unit may be installed, the administrator's directory first.
const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];
const UNIT: &str = "xen-netscripts.service";

/// The network mode of the config file and whether anything starts it at boot: a mode with the
/// unit not enabled is a WARN that names the command. `systemd` is the directory holding
/// `system/` (a test's temporary one), whose `multi-user.target.wants/` says enabled.
fn boot_check(conf: &Path, systemd: Option<&Path>) -> Check {
    let text = match std::fs::read_to_string(conf) {
        Ok(t) => t,
        Err(_) => {
            return check(
                Status::Ok,
                "boot",
                format!("no {}: no network mode is set up at boot", conf.display()),
            )
        }
    };
    let plan = match xennet::boot::plan(&text, &conf.display().to_string()) {
        Ok(p) => p,
        Err(e) => {
            return check(
                Status::Fail,
                "boot",
                format!("{}: `xennet boot start` refuses it", e.0),
            )
        }
    };
    let etc = systemd.map(|d| d.join("system"));
    let enabled = etc
        .as_ref()
        .is_some_and(|d| d.join("multi-user.target.wants").join(UNIT).exists());
    let installed = match &etc {
        Some(d) if d != Path::new(UNIT_DIRS[0]) => d.join(UNIT).exists(),
        _ => UNIT_DIRS.iter().any(|d| Path::new(d).join(UNIT).exists()),
    };
    match (plan, installed, enabled) {
        (None, _, _) => check(
            Status::Ok,
            "boot",
            format!(
                "mode=none (or no mode=) in {}: no network mode is set up at boot{}",
                conf.display(),
                if enabled {
                    " (the unit is enabled and does nothing)"
                } else {
                    ""
                }
            ),
        ),
        (Some(b), _, true) => check(
            Status::Ok,
            "boot",
            format!(
                "{UNIT} is enabled: it runs {} at boot, before the guests",
                std::iter::once(b.script.name)
                    .chain(std::iter::once("start"))
                    .chain(b.settings.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ),
        (Some(b), true, false) => check(
            Status::Warn,
            "boot",
            format!(
                "{} sets up {} at boot, but {UNIT} is not enabled, so nothing runs it: \
                 `systemctl enable --now xen-netscripts`",
                conf.display(),
                b.script.name
            ),
        ),
        (Some(b), false, false) => check(
            Status::Warn,
            "boot",
            format!(
                "{} names {}, but {UNIT} is not installed (the Debian package has it): run \
                 `xennet boot start` at boot, before the guests start",
                conf.display(),
                b.script.name
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_firewall_check_says_what_auto_picks() {
        let with = |tools: &[&str]| {
            let d = tempfile::tempdir().unwrap();
            for t in tools {
                let p = d.path().join(t);
                std::fs::write(&p, "#!/bin/sh\n").unwrap();
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            let search = Search {
                path: vec![d.path().to_path_buf()],
                system: Vec::new(),
            };
            firewall_check(&search)
        };
        let c = with(&["iptables", "iptables-save", "iptables-restore", "nft"]);
        assert_eq!(c.status, Status::Ok);
        assert!(
            c.detail.contains("firewall=auto") && c.detail.contains(": iptables"),
            "{c}"
        );
        let c = with(&["nft"]);
        assert_eq!(c.status, Status::Ok);
        assert!(
            c.detail
                .contains("nftables, since iptables is not installed"),
            "{c}"
        );
        let c = with(&[]);
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.detail.contains("install the Debian package nftables"),
            "{c}"
        );
    }

    use super::*;
    use xennet::exec::ExecError;

    /// Answers version questions like a Debian 12 host.
    struct Fake;
    impl Runner for Fake {
        fn run(&self, cmd: &Cmd) -> Result<String, ExecError> {
            let base = cmd.program.rsplit('/').next().unwrap_or("");
            Ok(match (base, cmd.args.first().map(String::as_str)) {
                ("ip", Some("-j")) => "[{\"ifname\":\"lo\"}]".into(),
                ("ip", _) => "ip utility, iproute2-6.1.0, libbpf 1.1.2\n".into(),
                ("iptables", _) => "iptables v1.4.21\n".into(),
                _ => "x 1.0\n".into(),
            })
        }
    }

    fn tools_in(dir: &Path, names: &[&str]) {
        for n in names {
            let p = dir.join(n);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    #[test]
    fn tools_are_found_and_missing_ones_name_their_package() {
        let path = tempfile::tempdir().unwrap();
        let system = tempfile::tempdir().unwrap();
        tools_in(path.path(), &["ip", "bridge", "iptables", "nft"]);
        tools_in(system.path(), &["iptables-save", "iptables-restore"]);
        let search = Search {
            path: vec![path.path().into()],
            system: vec![system.path().into()],
        };
        let checks = tool_checks(&search, &Fake, &[]);
        let get = |n: &str| checks.iter().find(|c| c.name == n).unwrap();
        assert_eq!(checks.len(), TOOLS.len());
        assert_eq!(get("ip").status, Status::Ok);
        assert!(get("ip").detail.starts_with("ip utility, iproute2-6.1.0"));
        assert_eq!(get("iptables").status, Status::Warn);
        assert!(get("iptables").detail.contains("backend legacy"));
        assert!(get("iptables-save").detail.contains("outside your PATH"));
        assert_eq!(get("brctl").status, Status::Ok);
        assert!(get("brctl").detail.contains("optional"));
        let xs = get("xenstore-read");
        assert_eq!(xs.status, Status::Fail);
        assert!(xs.detail.contains("xenstore-utils"), "{}", xs.detail);
        assert_eq!(get("logger").status, Status::Warn);
        assert!(get("logger").detail.contains("bsdutils"));
        assert_eq!(get("bash").status, Status::Warn);
        let hooked = tool_checks(&search, &Fake, &[PathBuf::from("/x/vif-post.d/a.hook")]);
        assert_eq!(
            hooked.iter().find(|c| c.name == "bash").unwrap().status,
            Status::Fail
        );
    }

    #[test]
    fn iptables_versions() {
        assert_eq!(
            parse_iptables_version("iptables v1.8.9 (nf_tables)"),
            Some(((1, 8, 9), Some("nf_tables".into())))
        );
        assert_eq!(
            parse_iptables_version("iptables v1.8.7 (legacy)"),
            Some(((1, 8, 7), Some("legacy".into())))
        );
        assert_eq!(
            parse_iptables_version("iptables v1.6"),
            Some(((1, 6, 0), None))
        );
        assert_eq!(parse_iptables_version("nonsense"), None);
    }

    #[test]
    fn directories() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(dir_check("d", t.path(), "V").status, Status::Ok);
        let later = t.path().join("a/b");
        let c = dir_check("d", &later, "V");
        assert_eq!(c.status, Status::Ok);
        assert!(c.detail.contains("does not exist yet"));
        assert!(!later.exists());
        let file = t.path().join("f");
        std::fs::write(&file, "").unwrap();
        assert_eq!(dir_check("d", &file, "V").status, Status::Fail);
        assert_eq!(dir_check("d", &file.join("x"), "V").status, Status::Fail);
    }

    #[test]
    fn br_netfilter_values() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(br_netfilter_check(t.path()).status, Status::Warn);
        std::fs::create_dir(t.path().join("bridge")).unwrap();
        let key = t.path().join("bridge/bridge-nf-call-iptables");
        std::fs::write(&key, "0\n").unwrap();
        assert_eq!(br_netfilter_check(t.path()).status, Status::Warn);
        std::fs::write(&key, "1\n").unwrap();
        assert_eq!(br_netfilter_check(t.path()).status, Status::Ok);
    }

    #[test]
    fn the_boot_check_says_whether_the_mode_starts_at_boot() {
        let t = tempfile::tempdir().unwrap();
        let conf = t.path().join("xen-netscripts.conf");
        let systemd = t.path().join("systemd");
        let wants = systemd.join("system/multi-user.target.wants");
        std::fs::create_dir_all(&wants).unwrap();
        let c = boot_check(&conf, Some(&systemd));
        assert_eq!((c.status, c.name.as_str()), (Status::Ok, "boot"), "{c}");
        std::fs::write(&conf, "# example\nmode=none\n").unwrap();
        assert_eq!(boot_check(&conf, Some(&systemd)).status, Status::Ok);
        std::fs::write(&conf, "mode=bridge\nnetdev=eth0\n").unwrap();
        let c = boot_check(&conf, Some(&systemd));
        assert_eq!(c.status, Status::Warn, "{c}");
        assert!(c.detail.contains("not installed"), "{c}");
        std::fs::write(systemd.join("system").join(UNIT), "[Unit]\n").unwrap();
        let c = boot_check(&conf, Some(&systemd));
        assert_eq!(c.status, Status::Warn, "{c}");
        assert!(
            c.detail.contains("not enabled") && c.detail.contains("systemctl enable"),
            "{c}"
        );
        std::os::unix::fs::symlink(format!("../{UNIT}"), wants.join(UNIT)).unwrap();
        let c = boot_check(&conf, Some(&systemd));
        assert_eq!(c.status, Status::Ok, "{c}");
        assert!(c.detail.contains("network-bridge start netdev=eth0"), "{c}");
        std::fs::write(&conf, "mode=bridged\n").unwrap();
        assert_eq!(boot_check(&conf, Some(&systemd)).status, Status::Fail);
    }

    #[test]
    fn lines_have_the_format() {
        let c = check(Status::Warn, "x y", "z");
        assert_eq!(c.to_string(), "WARN x y: z");
        assert_eq!(check(Status::Ok, "a", "b").to_string(), "OK   a: b");
    }
}
