//! `vif-bridge` (spec §4): a guest's backend interface as a port of a bridge. The plan holds only
//! the steps the live state needs, so a second `online` leaves a working port alone (VB-09).

use super::Planned;
use crate::bridge::{self, PORT_MAC};
use crate::exec::{ip, Runner};
use crate::firewall;
use crate::invocation::Invocation;
use crate::nft::Family;
use crate::plan::{OnError, Plan, Step};
use crate::report::Reporter;
use crate::state;
use crate::validate;
use crate::vif::{Found, Stop, TypeIf, VifContext};
use crate::xenstore::join;

/// The bridge this vif belongs on, and where its name came from (for messages).
struct BridgeChoice {
    name: String,
    origin: String,
}

/// VB-01…VB-04: name the bridge (xenstore, then argument/environment, then the first bridge on the
/// host) and translate an old `xenbrN` to the G2 bridge `ethN`.
fn choose_bridge(
    ctx: &VifContext,
    inv: &Invocation,
    runner: &dyn Runner,
    rep: &Reporter,
) -> Result<BridgeChoice, Stop> {
    let key = join(&ctx.xp, "bridge");
    let (mut name, mut origin) = match ctx.key("bridge") {
        Some(v) => (v.to_string(), format!("from xenstore key {key}")),
        None => (
            inv.value("bridge").to_string(),
            format!("from {}", inv.origin("bridge")),
        ),
    };
    if name.is_empty() {
        // VB-02 FIX, VB-03: one name, the first bridge, and say so.
        match state::bridges().into_iter().next() {
            Some(first) => {
                rep.info(&format!(
                    "no bridge was named; using the first bridge on this host, {first}"
                ));
                origin = "chosen as the first bridge on this host".into();
                name = first;
            }
            None => return Err(ctx.fatal("Could not find bridge, and none was specified")),
        }
    }
    validate::ifname("bridge", &name).map_err(|e| ctx.fatal(format!("{} ({origin})", e.0)))?;
    // VB-04
    if let Some(suffix) = name.strip_prefix("xenbr") {
        let eth = format!("eth{suffix}");
        if !state::exists(&name) && state::link(&eth).is_some_and(|l| l.is_bridge) {
            rep.debug(&format!(
                "bridge {name} does not exist; using {eth}, its network-bridge name"
            ));
            origin = format!("{origin}, translated from {name}");
            name = eth;
        }
    }
    // network-bridge's netdev layout names its bridge also xenbrN (an alternative name, which
    // sysfs does not show): use the bridge's own name from here on.
    if !state::exists(&name) {
        if let Some(real) = state::resolve_name(runner, &name) {
            rep.debug(&format!("{name} is an alternative name of {real}"));
            origin = format!("{origin}, the alternative name of {real}");
            name = real;
        }
    }
    Ok(BridgeChoice { name, origin })
}

/// VB-05, with the facts an administrator needs to fix it.
fn check_bridge(b: &BridgeChoice) -> Result<(), String> {
    match state::link(&b.name) {
        Some(l) if l.is_bridge => Ok(()),
        Some(_) => Err(format!(
            "{} is not a bridge ({}): name a bridge with bridge= in the guest's vif spec",
            b.name, b.origin
        )),
        None => {
            let existing = state::bridges();
            let list = if existing.is_empty() {
                "none".to_string()
            } else {
                existing.join(", ")
            };
            Err(format!(
                "Could not find bridge device {} ({}; bridges on this host: {list}). Create it \
                 (network-bridge start, or ip link add {} type bridge) or name an existing bridge \
                 with bridge= in the guest's vif spec",
                b.name, b.origin, b.name
            ))
        }
    }
}

pub fn plan(
    ctx: &VifContext,
    inv: &Invocation,
    _xs: &dyn crate::xenstore::XenStore,
    runner: &dyn Runner,
    rep: &Reporter,
) -> Result<Planned, Stop> {
    if !ctx.command.is_up() {
        return plan_release(ctx, inv, runner, rep);
    }
    let bridge = choose_bridge(ctx, inv, runner, rep)?;
    check_bridge(&bridge).map_err(|msg| ctx.fatal(msg))?;
    let fw = firewall::for_vif(inv, Some(Family::Bridge), &ctx.dev, true, runner, rep)
        .map_err(|e| ctx.fatal(e.0))?;
    // MTU-01: the backend key, else the bridge's.
    let mtu_key = ctx.key_or("mtu", "");
    let bridge_link = state::link(&bridge.name)
        .ok_or_else(|| ctx.fatal(format!("bridge {} vanished", bridge.name)))?;
    let mtu = match mtu_key.trim() {
        "" | "0" => {
            rep.debug(&format!("{} MTU is {}", bridge.name, bridge_link.mtu));
            bridge_link.mtu
        }
        v => validate::mtu(&join(&ctx.xp, "mtu"), v).map_err(|e| ctx.fatal(e.0))?,
    };
    // The guest's MAC is checked here so that a bad one is reported before the guest runs; an
    // emulated NIC's (tap) traffic is checked against it too.
    let mac = ctx.key_or("mac", inv.value("mac"));
    if ctx.type_if == TypeIf::Vif && !mac.is_empty() {
        validate::mac(&join(&ctx.xp, "mac"), &mac).map_err(|e| ctx.fatal(e.0))?;
    }
    if bridge_link.address.eq_ignore_ascii_case(PORT_MAC) {
        // MAC-04
        rep.warn(&format!(
            "bridge {} has the MAC {PORT_MAC} of its vif ports; two such hosts on one LAN collide: \
             give it a fixed MAC (ip link set dev {} address <mac>)",
            bridge.name, bridge.name
        ));
    }
    let link = ctx.link_to_configure()?;

    let mut plan = Plan::default();
    let mut was_up = link.up;
    if ctx.rename {
        plan.extend(ctx.rename_steps(&link));
        was_up = false;
    }
    let dev = ctx.dev.as_str();
    let is_port = link.master.as_deref() == Some(bridge.name.as_str());
    // VB-09: a working port is left alone. A rename takes the link down, so it is never ready.
    let ready = !ctx.rename
        && is_port
        && link.up
        && link.address.eq_ignore_ascii_case(PORT_MAC)
        && link.mtu == mtu;
    if !ready {
        if let Some(other) = link.master.as_deref().filter(|m| *m != bridge.name) {
            plan.push(
                Step::run(
                    format!("release {dev} from bridge {other}"),
                    ip(["link", "set", "dev", dev, "nomaster"]),
                )
                .undo(ip(["link", "set", "dev", dev, "master", other])),
            );
        }
        plan.extend(bridge::prepare_port(dev, was_up, &link.address));
        if link.mtu != mtu {
            rep.debug(&format!("setting {dev} MTU to {mtu}"));
            plan.push(
                Step::run(
                    format!("set {dev} MTU to {mtu}"),
                    ip(["link", "set", "dev", dev, "mtu", &mtu.to_string()]),
                )
                .undo(ip([
                    "link",
                    "set",
                    "dev",
                    dev,
                    "mtu",
                    &link.mtu.to_string(),
                ]))
                .on_error(OnError::Ignore),
            );
        }
        if is_port {
            rep.debug(&format!("{dev} already on bridge {}", bridge.name));
        } else {
            rep.debug(&format!("adding {dev} to bridge {}", bridge.name));
            plan.push(bridge::enslave(&bridge.name, dev));
        }
        plan.push(bridge::link_up(dev));
    }
    plan.extend(
        fw.online_steps(dev, &ctx.ips, &mac, rep)
            .map_err(|e| ctx.fatal(e))?,
    );
    let ip_joined = ctx.ips.join(" ");
    let vars = ctx.hook_vars(&[("bridge", bridge.name.as_str()), ("ip", ip_joined.as_str())]);
    plan.extend(crate::hooks::steps(&vars, OnError::Fail));
    let frontend_keys = match ctx.frontend_mtu_path() {
        Some(path) if ctx.type_if == TypeIf::Vif => vec![(path, mtu.to_string())],
        _ => Vec::new(),
    };
    Ok(Planned {
        plan,
        done: format!(
            "Successful vif-bridge {} for {dev}, bridge {}.",
            ctx.command.word(),
            bridge.name
        ),
        report_after: None,
        frontend_keys,
    })
}

/// VB-07, VB-10: offline/remove clean up whatever is left (rules before links), even when the
/// bridge is gone or misnamed, and report the bridge problem only afterwards.
fn plan_release(
    ctx: &VifContext,
    inv: &Invocation,
    runner: &dyn Runner,
    rep: &Reporter,
) -> Result<Planned, Stop> {
    let (name, problem) = match choose_bridge(ctx, inv, runner, rep) {
        Ok(b) => (b.name.clone(), check_bridge(&b).err()),
        Err(Stop::Error { msg, .. }) => (String::new(), Some(msg)),
        Err(other) => return Err(other),
    };
    let mut plan = Plan::default();
    let link = match ctx.link_to_release() {
        Found::NotOurs(link) => {
            // KP-16: another guest's interface of that name keeps its port and its rules.
            rep.warn(&format!(
                "{} belongs to {}, not to {}: left alone",
                ctx.dev, link.alias, ctx.kernel_name
            ));
            return Ok(Planned {
                plan,
                done: String::new(),
                report_after: problem,
                frontend_keys: Vec::new(),
            });
        }
        Found::Gone => {
            rep.debug(&format!("{} is already gone", ctx.dev));
            None
        }
        Found::Ours(link) => Some(link),
    };
    let fw = firewall::for_vif(inv, Some(Family::Bridge), &ctx.dev, false, runner, rep)
        .map_err(|e| ctx.fatal(e.0))?;
    plan.extend(fw.offline_steps(&ctx.dev));
    if let Some(link) = link {
        if link.up {
            plan.push(
                Step::run(
                    format!("take {} down", ctx.dev),
                    ip(["link", "set", "dev", &ctx.dev, "down"]),
                )
                .on_error(OnError::Ignore),
            );
        }
        if let Some(master) = &link.master {
            plan.push(bridge::release(master, &ctx.dev));
        }
    }
    let ip_joined = ctx.ips.join(" ");
    let vars = ctx.hook_vars(&[("bridge", name.as_str()), ("ip", ip_joined.as_str())]);
    plan.extend(crate::hooks::steps(&vars, OnError::Collect));
    Ok(Planned {
        plan,
        done: format!(
            "Successful vif-bridge {} for {}, bridge {name}.",
            ctx.command.word(),
            ctx.dev
        ),
        report_after: problem,
        frontend_keys: Vec::new(),
    })
}
