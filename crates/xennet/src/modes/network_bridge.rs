//! `network-bridge start|stop|status` in its last upstream form (spec §8.1–8.4): the bridge takes
//! the NIC's name, the NIC becomes `p<name>` and its port, and dom0's addresses (IPv4 and IPv6)
//! and routes move to the bridge; `stop` moves them back. Every step has its undo and the run is
//! journalled, so a failure or a kill half-way never leaves dom0 without its address.

use crate::bridge;
use crate::exec::{ip, Cmd, Runner};
use crate::invocation::Invocation;
use crate::plan::{Action, Plan, Step};
use crate::state::{self, Addr, Route};
use crate::validate;

pub const KNOWN: &[&str] = &[
    "netdev",
    "bridge",
    "vifnum",
    "antispoof",
    "firewall",
    "confirm",
    // overlay=vxlan (modes/overlay.rs)
    "overlay",
    "vni",
    "peers",
    "dstport",
    "local",
    "underlay",
];

/// The temporary name of the bridge while the NIC still has its name (G2).
pub const TMP: &str = "tmpbridge";

#[derive(Clone, Debug)]
pub struct Settings {
    pub netdev: String,
    /// How netdev was chosen, printed so the administrator sees it (NB-02).
    pub netdev_origin: String,
    pub bridge: String,
    pub pdev: String,
    pub antispoof: bool,
}

/// §8.1 with the FIX rows: netdev is the default route's device, parsed whole (`enp0s3`).
pub fn settings(inv: &Invocation, runner: &dyn Runner) -> Result<Settings, String> {
    let (netdev, netdev_origin) = state::uplink_by_default_route(inv, runner)?;
    let pdev = format!("p{netdev}");
    if pdev.len() > 15 {
        return Err(format!(
            "netdev={netdev:?} is 15 bytes long, so its renamed port {pdev:?} would exceed Linux's limit: rename the NIC first"
        ));
    }
    let bridge = match inv.get("bridge").filter(|v| !v.is_empty()) {
        Some(b) => b.to_string(),
        None => netdev.clone(),
    };
    if bridge != "null" {
        validate::ifname("bridge", &bridge).map_err(|e| e.0)?;
    }
    if let Some(v) = inv.get("vifnum").filter(|v| !v.is_empty()) {
        validate::number("vifnum", v).map_err(|e| e.0)?;
    }
    let antispoof = validate::yes_no("antispoof", inv.value("antispoof")).map_err(|e| e.0)?;
    Ok(Settings {
        netdev,
        netdev_origin,
        bridge,
        pdev,
        antispoof,
    })
}

/// NB-04 FIX: is the root filesystem on the network, carried by `netdev`?
pub fn network_root_on(netdev: &str, runner: &dyn Runner) -> Option<String> {
    let mounts_path =
        std::env::var("XENNET_PROC_MOUNTS").unwrap_or_else(|_| "/proc/mounts".to_string());
    let mounts = std::fs::read_to_string(mounts_path).ok()?;
    let root = mounts
        .lines()
        .rfind(|l| l.split_whitespace().nth(1) == Some("/"))?;
    let f: Vec<&str> = root.split_whitespace().collect();
    let (source, fstype, options) = (f.first()?, f.get(2)?, f.get(3).unwrap_or(&""));
    let networked = fstype.starts_with("nfs")
        || ["cifs", "smb3", "ceph", "glusterfs", "9p"].contains(fstype)
        || options.split(',').any(|o| o == "_netdev");
    if !networked {
        return None;
    }
    // The server's device, where the source names it (`server:/path`); otherwise assume netdev.
    let server = source
        .split_once(':')
        .map(|(s, _)| s.trim_matches(['[', ']']));
    let dev = server.and_then(|s| {
        let out = runner.run(&ip(["-j", "route", "get", s])).ok()?;
        let r: Vec<Route> = serde_json::from_str(out.trim()).ok()?;
        r.into_iter().find_map(|r| r.dev)
    });
    match dev {
        Some(d) if d != netdev => None,
        _ => Some(format!(
            "the root filesystem ({source}, {fstype}) is reached through {netdev}"
        )),
    }
}

fn addr_moves(addrs: &[Addr], from: &str, to: &str) -> (Vec<Step>, Vec<Step>) {
    let movable: Vec<&Addr> = addrs.iter().filter(|a| a.movable()).collect();
    // Secondaries first, so deleting a primary cannot take its secondaries with it.
    let dels = movable
        .iter()
        .rev()
        .map(|a| {
            Step::run(
                format!("remove {}/{} from {from}", a.local, a.prefixlen),
                ip(a.args("del", from, from)),
            )
            .undo(ip(a.args("add", from, from)))
        })
        .collect();
    let adds = movable
        .iter()
        .map(|a| {
            Step::run(
                format!("add {}/{} to {to}", a.local, a.prefixlen),
                ip(a.args("add", from, to)),
            )
            .undo(ip(a.args("del", from, to)))
        })
        .collect();
    (dels, adds)
}

fn route_moves(routes: &[Route], from: &str, to: &str) -> (Vec<Step>, Vec<Step>) {
    // Routes to the link itself first: a gateway must be reachable before a route uses it.
    let mut movable: Vec<&Route> = routes.iter().filter(|r| r.movable()).collect();
    movable.sort_by_key(|r| r.has_gateway());
    let dels = movable
        .iter()
        .rev()
        .map(|r| {
            Step::run(
                format!("remove route {} from {from}", r.dst),
                ip(r.args("del", from)),
            )
            .undo(ip(r.args("replace", from)))
        })
        .collect();
    // `replace`, not `add`: the kernel may already have made the route on the new link (an IPv6
    // router advertisement), and that must not fail the move.
    let adds = movable
        .iter()
        .map(|r| {
            Step::run(
                format!("add route {} via {to}", r.dst),
                ip(r.args("replace", to)),
            )
            .undo(ip(r.args("del", to)))
        })
        .collect();
    (dels, adds)
}

fn rename(from: &str, to: &str) -> Step {
    Step::run(
        format!("rename {from} to {to}"),
        ip(["link", "set", "dev", from, "name", to]),
    )
    .undo(ip(["link", "set", "dev", to, "name", from]))
}

fn antispoof_rule(verb: &str, pdev: &str) -> Cmd {
    Cmd::new("iptables").args([
        "-w",
        verb,
        "FORWARD",
        "-m",
        "physdev",
        "--physdev-in",
        pdev,
        "-j",
        "ACCEPT",
    ])
}

fn antispoof_record(bridge: &str) -> std::path::PathBuf {
    crate::paths::state_dir().join(format!("network-bridge.{bridge}.forward-policy"))
}

fn forward_policy(runner: &dyn Runner) -> Result<(String, Vec<String>), String> {
    let out = runner
        .run(&Cmd::new("iptables").args(["-w", "-S", "FORWARD"]))
        .map_err(|e| format!("antispoof=yes needs iptables: {e}"))?;
    let policy = out
        .lines()
        .find_map(|l| l.strip_prefix("-P FORWARD "))
        .unwrap_or("ACCEPT")
        .trim()
        .to_string();
    Ok((policy, out.lines().map(str::to_string).collect()))
}

use super::HostPlanned as Planned;

/// Reads the settings and plans `start` or `stop`.
pub fn plan(start: bool, inv: &Invocation, runner: &dyn Runner) -> Result<Planned, String> {
    if super::overlay::requested(inv) {
        return super::overlay::plan(start, inv, runner);
    }
    let s = settings(inv, runner)?;
    let planned = if start {
        plan_start(&s, runner)?
    } else {
        plan_stop(&s, runner)?
    };
    Ok(match planned {
        Planned::Plan { plan, .. } => Planned::Plan {
            intro: format!(
                "network-bridge: netdev={} ({}), bridge={}, port {}",
                s.netdev, s.netdev_origin, s.bridge, s.pdev
            ),
            plan,
        },
        nothing => nothing,
    })
}

/// §8.2 `start`, NB-05…NB-16.
pub fn plan_start(s: &Settings, runner: &dyn Runner) -> Result<Planned, String> {
    if s.bridge == "null" {
        return Ok(Planned::Nothing("bridge=null: nothing to do".into()));
    }
    if state::exists(&s.pdev) {
        return Ok(Planned::Nothing(format!(
            "{} exists: network-bridge has already run",
            s.pdev
        )));
    }
    if state::link(&s.bridge).is_some_and(|l| l.is_bridge) {
        return Ok(Planned::Nothing(format!(
            "{} is already a bridge: nothing to do",
            s.bridge
        )));
    }
    let Some(nic) = state::link(&s.netdev) else {
        return Err(format!(
            "netdev {} does not exist ({}): name the physical NIC with netdev=<if>",
            s.netdev, s.netdev_origin
        ));
    };
    if s.bridge != s.netdev && state::exists(&s.bridge) {
        return Err(format!(
            "bridge={} names an existing link that is not a bridge: choose another name",
            s.bridge
        ));
    }
    if state::exists(TMP) {
        return Err(format!(
            "a link named {TMP} exists (left by an earlier network-bridge run?): remove it with `ip link del {TMP}` and retry"
        ));
    }
    if let Some(why) = network_root_on(&s.netdev, runner) {
        return Ok(Planned::Nothing(format!(
            "bridging not supported on network root; not starting: {why}"
        )));
    }
    let addrs = state::addrs(runner, &s.netdev).map_err(|e| e.to_string())?;
    let routes = state::routes(runner, &s.netdev).map_err(|e| e.to_string())?;
    let (addr_dels, addr_adds) = addr_moves(&addrs, &s.netdev, &s.bridge);
    let (route_dels, route_adds) = route_moves(&routes, &s.netdev, &s.bridge);
    for a in addrs.iter().filter(|a| a.movable() && a.dynamic) {
        log::warn!(
            "{}/{} on {} was given by DHCP and moves with its remaining lifetime ({} s); \
             nothing renews it on {}: start your DHCP client on {} (e.g. dhclient {})",
            a.local,
            a.prefixlen,
            s.netdev,
            a.valid_life_time.unwrap_or(0),
            s.bridge,
            s.bridge,
            s.bridge
        );
    }

    let mut p = Plan::default();
    p.push(bridge::create(TMP));
    p.extend(bridge::create_settings(TMP));
    // A fixed MAC: the bridge keeps the NIC's address whatever ports come and go (MAC-04).
    p.push(Step::run(
        format!("give {TMP} the MAC of {}", s.netdev),
        ip(["link", "set", "dev", TMP, "address", &nic.address]),
    ));
    // A fixed MTU: a guest's smaller vif MTU must not shrink dom0's own link.
    p.push(Step::run(
        format!("give {TMP} the MTU of {}", s.netdev),
        ip(["link", "set", "dev", TMP, "mtu", &nic.mtu.to_string()]),
    ));
    p.extend(route_dels);
    p.extend(addr_dels);
    if nic.up {
        p.push(bridge::link_down(&s.netdev));
    }
    p.push(rename(&s.netdev, &s.pdev));
    p.push(rename(TMP, &s.bridge));
    p.push(bridge::enslave(&s.bridge, &s.pdev));
    p.push(bridge::link_up(&s.pdev));
    p.push(Step::new(
        format!("wait for {} to negotiate link", s.pdev),
        Action::WaitRunning {
            dev: s.pdev.clone(),
            secs: 10,
        },
    ));
    p.push(bridge::link_up(&s.bridge));
    p.extend(addr_adds);
    p.extend(route_adds);
    if s.antispoof {
        // NB-15 without KP-07: the admin's FORWARD rules are kept, not flushed.
        let (policy, rules) = forward_policy(runner)?;
        let rule = format!("-A FORWARD -m physdev --physdev-in {} -j ACCEPT", s.pdev);
        if !rules.contains(&rule) {
            p.push(
                Step::run(
                    format!("accept traffic from {}", s.pdev),
                    antispoof_rule("-A", &s.pdev),
                )
                .undo(antispoof_rule("-D", &s.pdev)),
            );
        }
        if policy != "DROP" {
            p.push(crate::plan::write_record(
                "remember the FORWARD policy for stop",
                &antispoof_record(&s.bridge),
                policy.clone(),
            ));
            p.push(
                Step::run(
                    "set the FORWARD policy to DROP",
                    Cmd::new("iptables").args(["-w", "-P", "FORWARD", "DROP"]),
                )
                .undo(Cmd::new("iptables").args(["-w", "-P", "FORWARD", &policy])),
            );
        }
    }
    Ok(Planned::Plan {
        intro: String::new(),
        plan: p,
    })
}

/// §8.3 `stop`, NB-17…NB-20: everything start did, undone from the live state.
pub fn plan_stop(s: &Settings, runner: &dyn Runner) -> Result<Planned, String> {
    if s.bridge == "null" {
        return Ok(Planned::Nothing("bridge=null: nothing to do".into()));
    }
    if !state::exists(&s.bridge) {
        return Ok(Planned::Nothing(format!(
            "{} does not exist: nothing to stop",
            s.bridge
        )));
    }
    if !state::is_port(&s.bridge, &s.pdev) {
        return Ok(Planned::Nothing(format!(
            "{} is not a port of {}: this bridge was not made by network-bridge start",
            s.pdev, s.bridge
        )));
    }
    if state::exists(TMP) {
        return Err(format!(
            "a link named {TMP} exists: remove it with `ip link del {TMP}` and retry"
        ));
    }
    if let Some(why) = network_root_on(&s.bridge, runner) {
        return Ok(Planned::Nothing(format!(
            "bridging not supported on network root; not stopping: {why}"
        )));
    }
    let bridge_link = state::link(&s.bridge).ok_or("bridge vanished")?;
    let addrs = state::addrs(runner, &s.bridge).map_err(|e| e.to_string())?;
    let routes = state::routes(runner, &s.bridge).map_err(|e| e.to_string())?;
    let (addr_dels, addr_adds) = addr_moves(&addrs, &s.bridge, &s.netdev);
    let (route_dels, route_adds) = route_moves(&routes, &s.bridge, &s.netdev);

    let mut p = Plan::default();
    let record = antispoof_record(&s.bridge);
    if let Ok((_, rules)) = forward_policy(runner) {
        if rules.contains(&format!(
            "-A FORWARD -m physdev --physdev-in {} -j ACCEPT",
            s.pdev
        )) {
            p.push(
                Step::run(
                    format!("remove the antispoof rule for {}", s.pdev),
                    antispoof_rule("-D", &s.pdev),
                )
                .undo(antispoof_rule("-A", &s.pdev)),
            );
        }
        if let Ok(old) = std::fs::read_to_string(&record) {
            let old = old.trim().to_string();
            if !old.is_empty() {
                p.push(
                    Step::run(
                        format!("restore the FORWARD policy {old}"),
                        Cmd::new("iptables").args(["-w", "-P", "FORWARD", &old]),
                    )
                    .undo(Cmd::new("iptables").args(["-w", "-P", "FORWARD", "DROP"])),
                );
            }
        }
    }
    p.extend(route_dels);
    p.extend(addr_dels);
    if bridge_link.up {
        p.push(bridge::link_down(&s.bridge));
    }
    p.push(
        Step::run(
            format!("remove {} from bridge {}", s.pdev, s.bridge),
            ip(["link", "set", "dev", &s.pdev, "nomaster"]),
        )
        .undo(ip(["link", "set", "dev", &s.pdev, "master", &s.bridge])),
    );
    let pdev_up = state::link(&s.pdev).is_some_and(|l| l.up);
    if pdev_up {
        p.push(bridge::link_down(&s.pdev));
    }
    p.push(rename(&s.bridge, TMP));
    p.push(rename(&s.pdev, &s.netdev));
    if pdev_up {
        p.push(bridge::link_up(&s.netdev));
    }
    p.extend(addr_adds);
    p.extend(route_adds);
    // NB-18: deleting the bridge detaches any vifs still on it. Last, so nothing can fail after.
    p.push(Step::run(
        format!("delete bridge {TMP}"),
        ip(["link", "del", "dev", TMP]),
    ));
    if record.exists() {
        p.push(crate::plan::remove_record(
            "forget the FORWARD policy record",
            &record,
        ));
    }
    Ok(Planned::Plan {
        intro: String::new(),
        plan: p,
    })
}

/// §8.4 `status` (NB-21): the original's block, between two lines of 60 `=`. Returns false if a
/// part could not be shown (it says which).
pub fn status(inv: &Invocation, runner: &dyn Runner) -> Result<bool, String> {
    if super::overlay::requested(inv) {
        return super::overlay::status(inv, runner);
    }
    let s = &settings(inv, runner)?;
    use std::io::Write;
    let rule = "=".repeat(60);
    let mut out = std::io::stdout().lock();
    let mut ok = true;
    // A closed stdout (e.g. `| head`) just ends the output; it is not an error of ours.
    let mut say = |text: &str| {
        let _ = out.write_all(text.as_bytes());
    };
    let mut show = |say: &mut dyn FnMut(&str), cmd: Cmd| match runner.run(&cmd) {
        Ok(text) => say(&text),
        Err(e) if e.is_missing_tool() => say(&format!("({} skipped: {e})\n", cmd.line())),
        Err(e) => {
            ok = false;
            say(&format!("({e})\n"));
        }
    };
    say(&format!("{rule}\n"));
    show(&mut say, ip(["addr", "show", "dev", &s.netdev]));
    show(&mut say, ip(["addr", "show", "dev", &s.bridge]));
    say(" \n");
    if !state::link(&s.bridge).is_some_and(|l| l.is_bridge) {
        say(&format!(
            "({} is not a bridge: network-bridge is not started)\n",
            s.bridge
        ));
    } else if which::which("brctl").is_ok() {
        show(&mut say, Cmd::new("brctl").args(["show", &s.bridge]));
    } else {
        show(
            &mut say,
            Cmd::new("bridge").args(["link", "show", "master", &s.bridge]),
        );
    }
    say(" \n");
    show(&mut say, ip(["route", "list"]));
    say(" \n");
    show(&mut say, Cmd::new("route").arg("-n"));
    say(&format!("{rule}\n"));
    Ok(ok)
}
