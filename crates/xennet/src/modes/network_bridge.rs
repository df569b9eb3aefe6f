//! `network-bridge start|stop|status` in its last upstream form (spec §8.1–8.4): the bridge takes
//! the NIC's name, the NIC becomes `p<name>` and its port, and dom0's addresses (IPv4 and IPv6)
//! and routes move to the bridge; `stop` moves them back. Every step has its undo and the run is
//! journalled, so a failure or a kill half-way never leaves dom0 without its address.
//!
//! `layout=` chooses among three shapes of the same idea: `netdev` (the default, above), and the
//! two in [`super::bridge_layout`]: `netloop` (spec §8.5, NL-*) and `xenbr`.

use crate::bridge;
use crate::exec::{ip, Cmd, Runner};
use crate::invocation::Invocation;
use crate::plan::{Action, Plan, Step};
use crate::state::{self, Addr, Route};
use crate::validate;

pub use super::bridge_layout::Layout;

/// The temporary name of the bridge while the NIC still has its name (G2).
pub const TMP: &str = "tmpbridge";

#[derive(Clone, Debug)]
pub struct Settings {
    pub layout: Layout,
    /// How the layout was chosen (given, or found on this host at stop).
    pub layout_origin: String,
    pub netdev: String,
    /// How netdev was chosen, printed so the administrator sees it (NB-02).
    pub netdev_origin: String,
    pub bridge: String,
    /// The NIC as the bridge's port: `p<netdev>` (netdev, netloop) or netdev itself (xenbr).
    pub pdev: String,
    /// NL-01: the number in `xenbrN`, `vethN`, `vif0.N`.
    pub vifnum: u32,
    /// netloop: the veth that becomes dom0's `netdev`, and its peer, the bridge port.
    pub vdev: String,
    pub vif0: String,
    /// netdev layout: the bridge's alternative name `xenbrN`, so that `bridge=xenbrN` finds it.
    pub alias: Option<String>,
    pub antispoof: bool,
}

/// NL-02: the number of a NIC: the digits after its letters (`eth1` → 1, `eno2` → 2), else 0
/// (`enp0s3`: its digits are a PCI address, not a number a user would give).
pub fn number_of(dev: &str) -> u32 {
    let digits = dev.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return 0;
    }
    digits.parse().unwrap_or(0)
}

/// §8.1 with the FIX rows: netdev is the default route's device, parsed whole (`enp0s3`).
pub fn settings(inv: &Invocation, runner: &dyn Runner) -> Result<Settings, String> {
    let (mut netdev, mut netdev_origin) = state::uplink_by_default_route(inv, runner)?;
    let netdev_given = inv.get("netdev").is_some_and(|v| !v.is_empty());
    let (layout, layout_origin) = match inv.get("layout").filter(|v| !v.is_empty()) {
        Some(v) => (Layout::parse(v)?, inv.origin("layout")),
        None => match super::bridge_layout::found_on_host(&netdev) {
            Some(l) => (l, "found on this host".to_string()),
            None => (Layout::Netdev, "the default".to_string()),
        },
    };
    let mut bridge_found = None;
    if layout == Layout::Xenbr && !netdev_given {
        // After start the default route leaves through the bridge: the NIC is its port.
        if let Some(nic) = super::bridge_layout::uplink_port(&netdev) {
            netdev_origin = format!("the port of {netdev}, the bridge of the default route");
            bridge_found = Some(std::mem::replace(&mut netdev, nic));
        }
    }
    if layout == Layout::Netloop && !netdev_given {
        // After start the default route leaves through the veth named like the NIC: same name.
        if let Some(b) = state::link(&format!("p{netdev}")).and_then(|l| l.master) {
            bridge_found = Some(b);
        }
    }
    let vifnum = match inv.get("vifnum").filter(|v| !v.is_empty()) {
        Some(v) => validate::number("vifnum", v).map_err(|e| e.0)?,
        None => match bridge_found
            .as_deref()
            .and_then(|b| b.strip_prefix("xenbr"))
        {
            Some(n) if n.parse::<u32>().is_ok() => n.parse().unwrap_or(0),
            _ => number_of(&netdev),
        },
    };
    let pdev = match layout {
        Layout::Xenbr => netdev.clone(),
        Layout::Netdev | Layout::Netloop => format!("p{netdev}"),
    };
    if pdev.len() > 15 {
        return Err(format!(
            "netdev={netdev:?} is 15 bytes long, so its renamed port {pdev:?} would exceed Linux's limit: rename the NIC first"
        ));
    }
    let xenbr = format!("xenbr{vifnum}");
    let bridge = match inv.get("bridge").filter(|v| !v.is_empty()) {
        Some(b) => b.to_string(),
        None => match layout {
            Layout::Netdev => netdev.clone(),
            Layout::Netloop | Layout::Xenbr => bridge_found.unwrap_or_else(|| xenbr.clone()),
        },
    };
    if bridge != "null" {
        validate::ifname("bridge", &bridge).map_err(|e| e.0)?;
    }
    let alias = (layout == Layout::Netdev && bridge != xenbr).then_some(xenbr);
    let antispoof = validate::yes_no("antispoof", inv.value("antispoof")).map_err(|e| e.0)?;
    Ok(Settings {
        layout,
        layout_origin,
        netdev,
        netdev_origin,
        bridge,
        pdev,
        vifnum,
        vdev: format!("veth{vifnum}"),
        vif0: format!("vif0.{vifnum}"),
        alias,
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

pub(crate) fn addr_moves(addrs: &[Addr], from: &str, to: &str) -> (Vec<Step>, Vec<Step>) {
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

pub(crate) fn route_moves(routes: &[Route], from: &str, to: &str) -> (Vec<Step>, Vec<Step>) {
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

pub(crate) fn rename(from: &str, to: &str) -> Step {
    Step::run(
        format!("rename {from} to {to}"),
        ip(["link", "set", "dev", from, "name", to]),
    )
    .undo(ip(["link", "set", "dev", to, "name", from]))
}

/// DHCP-learned addresses move with their lifetime; nothing renews them on the new link.
pub(crate) fn warn_dynamic(addrs: &[Addr], from: &str, to: &str) {
    for a in addrs.iter().filter(|a| a.movable() && a.dynamic) {
        log::warn!(
            "{}/{} on {from} was given by DHCP and moves with its remaining lifetime ({} s); \
             nothing renews it on {to}: start your DHCP client on {to} (e.g. dhclient {to})",
            a.local,
            a.prefixlen,
            a.valid_life_time.unwrap_or(0),
        );
    }
}

/// The bridge's alternative name: `bridge=xenbrN` (libxl's default) finds a bridge named after
/// the NIC, in vif-bridge and in any tool that looks names up in the kernel (NL-11, VB-04).
fn alias_step(bridge: &str, alias: &str) -> Step {
    Step::run(
        format!("name {bridge} also {alias}"),
        ip(["link", "property", "add", "dev", bridge, "altname", alias]),
    )
    .undo(ip([
        "link", "property", "del", "dev", bridge, "altname", alias,
    ]))
}

pub(crate) fn antispoof_rule(verb: &str, pdev: &str) -> Cmd {
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

pub(crate) fn antispoof_record(bridge: &str) -> std::path::PathBuf {
    crate::paths::state_dir().join(format!("network-bridge.{bridge}.forward-policy"))
}

pub(crate) fn forward_policy(runner: &dyn Runner) -> Result<(String, Vec<String>), String> {
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

/// NB-15 without KP-07: the admin's FORWARD rules are kept, not flushed; traffic coming in from
/// `ports` (the NIC, and in the netloop layout dom0's own port too, NL-06) is accepted.
pub(crate) fn antispoof_steps(
    s: &Settings,
    ports: &[&str],
    runner: &dyn Runner,
) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let (policy, rules) = forward_policy(runner)?;
    for port in ports {
        let rule = format!("-A FORWARD -m physdev --physdev-in {port} -j ACCEPT");
        if !rules.contains(&rule) {
            steps.push(
                Step::run(
                    format!("accept traffic from {port}"),
                    antispoof_rule("-A", port),
                )
                .undo(antispoof_rule("-D", port)),
            );
        }
    }
    if policy != "DROP" {
        steps.push(crate::plan::write_record(
            "remember the FORWARD policy for stop",
            &antispoof_record(&s.bridge),
            policy.clone(),
        ));
        steps.push(
            Step::run(
                "set the FORWARD policy to DROP",
                Cmd::new("iptables").args(["-w", "-P", "FORWARD", "DROP"]),
            )
            .undo(Cmd::new("iptables").args(["-w", "-P", "FORWARD", &policy])),
        );
    }
    Ok(steps)
}

/// stop's half of [`antispoof_steps`]: the accept rules of `ports` go, the policy comes back.
pub(crate) fn antispoof_undo_steps(s: &Settings, ports: &[&str], runner: &dyn Runner) -> Vec<Step> {
    let mut steps = Vec::new();
    let record = antispoof_record(&s.bridge);
    if let Ok((_, rules)) = forward_policy(runner) {
        // Each rule at its place in the chain: removed from the last up, so that a rollback
        // inserts them back, first up, exactly where they were.
        let appended: Vec<&String> = rules.iter().filter(|r| r.starts_with("-A ")).collect();
        let mut found: Vec<(usize, &str)> = ports
            .iter()
            .filter_map(|port| {
                let rule = format!("-A FORWARD -m physdev --physdev-in {port} -j ACCEPT");
                appended
                    .iter()
                    .position(|r| **r == rule)
                    .map(|i| (i + 1, *port))
            })
            .collect();
        found.sort_by_key(|f| std::cmp::Reverse(f.0));
        for (pos, port) in found {
            let mut back = antispoof_rule("-I", port);
            back.args.insert(3, pos.to_string());
            steps.push(
                Step::run(
                    format!("remove the antispoof rule for {port}"),
                    antispoof_rule("-D", port),
                )
                .undo(back),
            );
        }
        if let Ok(old) = std::fs::read_to_string(&record) {
            let old = old.trim().to_string();
            if !old.is_empty() {
                steps.push(
                    Step::run(
                        format!("restore the FORWARD policy {old}"),
                        Cmd::new("iptables").args(["-w", "-P", "FORWARD", &old]),
                    )
                    .undo(Cmd::new("iptables").args(["-w", "-P", "FORWARD", "DROP"])),
                );
            }
        }
    }
    steps
}

/// The last step of stop: forget the FORWARD policy record, if start made one.
pub(crate) fn forget_policy_step(s: &Settings) -> Option<Step> {
    let record = antispoof_record(&s.bridge);
    record
        .exists()
        .then(|| crate::plan::remove_record("forget the FORWARD policy record", &record))
}

/// Reads the settings and plans `start` or `stop` for the chosen layout.
pub fn plan(start: bool, inv: &Invocation, runner: &dyn Runner) -> Result<Planned, String> {
    if super::overlay::requested(inv) {
        return super::overlay::plan(start, inv, runner);
    }
    let s = settings(inv, runner)?;
    use super::bridge_layout::{netloop_start, netloop_stop, xenbr_start, xenbr_stop};
    let planned = match (s.layout, start) {
        (Layout::Netdev, true) => plan_start(&s, runner)?,
        (Layout::Netdev, false) => plan_stop(&s, runner)?,
        (Layout::Netloop, true) => netloop_start(&s, runner)?,
        (Layout::Netloop, false) => netloop_stop(&s, runner)?,
        (Layout::Xenbr, true) => xenbr_start(&s, runner)?,
        (Layout::Xenbr, false) => xenbr_stop(&s, runner)?,
    };
    // The one place for steps that build on the layout's bridge (e.g. an overlay port): append
    // them to `plan` at start; at stop, insert them first so they go before the bridge does.
    Ok(match planned {
        Planned::Plan { plan, .. } => Planned::Plan {
            intro: intro(&s),
            plan,
        },
        nothing => nothing,
    })
}

/// What was chosen, in one line (NB-02, NL-12: say which layout is built).
fn intro(s: &Settings) -> String {
    let mut line = format!(
        "network-bridge: layout={} ({}), netdev={} ({}), bridge={}",
        s.layout.name(),
        s.layout_origin,
        s.netdev,
        s.netdev_origin,
        s.bridge
    );
    match s.layout {
        Layout::Netdev => {
            line.push_str(&format!(", port {}", s.pdev));
            if let Some(a) = &s.alias {
                line.push_str(&format!(" (bridge also named {a})"));
            }
        }
        Layout::Netloop => line.push_str(&format!(
            ", port {}, dom0's {} through the pair {}/{}",
            s.pdev, s.netdev, s.vdev, s.vif0
        )),
        Layout::Xenbr => line.push_str(&format!(", port {}", s.pdev)),
    }
    line
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
    warn_dynamic(&addrs, &s.netdev, &s.bridge);

    let mut p = Plan::default();
    p.push(bridge::create(TMP));
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
    if let Some(alias) = s
        .alias
        .as_deref()
        .filter(|a| state::resolve_name(runner, a).is_none())
    {
        p.push(alias_step(&s.bridge, alias));
    }
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
        p.extend(antispoof_steps(s, &[&s.pdev], runner)?);
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
    let (mut p, addr_adds, route_adds) = release_uplink(s, &s.pdev, runner)?;
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
    p.extend(forget_policy_step(s));
    Ok(Planned::Plan {
        intro: String::new(),
        plan: p,
    })
}

/// The first half of every layout's `stop`: the addresses and routes the bridge holds are read
/// and deleted from it (after the antispoof rules for `port` are undone), the bridge goes down
/// and `port` leaves it. Returns that plan and the steps that then put the addresses and the
/// routes on `s.netdev`.
pub(crate) fn release_uplink(
    s: &Settings,
    port: &str,
    runner: &dyn Runner,
) -> Result<(Plan, Vec<Step>, Vec<Step>), String> {
    let bridge_link = state::link(&s.bridge).ok_or("bridge vanished")?;
    let addrs = state::addrs(runner, &s.bridge).map_err(|e| e.to_string())?;
    let routes = state::routes(runner, &s.bridge).map_err(|e| e.to_string())?;
    let (addr_dels, addr_adds) = addr_moves(&addrs, &s.bridge, &s.netdev);
    let (route_dels, route_adds) = route_moves(&routes, &s.bridge, &s.netdev);
    let mut p = Plan::default();
    p.extend(antispoof_undo_steps(s, &[port], runner));
    p.extend(route_dels);
    p.extend(addr_dels);
    if bridge_link.up {
        p.push(bridge::link_down(&s.bridge));
    }
    p.push(
        Step::run(
            format!("remove {port} from bridge {}", s.bridge),
            ip(["link", "set", "dev", port, "nomaster"]),
        )
        .undo(ip(["link", "set", "dev", port, "master", &s.bridge])),
    );
    Ok((p, addr_adds, route_adds))
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
    say(&format!(
        "layout={} ({})\n",
        s.layout.name(),
        s.layout_origin
    ));
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
