//! `vif-bridge` (spec §4): a guest's backend interface as a port of a bridge. The plan holds only
//! the steps the live state needs, so a second `online` leaves a working port alone (VB-09).

use super::Planned;
use crate::bridge::{self, PORT_MAC};
use crate::exec::{ip, Runner};
use crate::firewall::{self, Backend};
use crate::invocation::Invocation;
use crate::plan::{OnError, Plan, Step};
use crate::report::Reporter;
use crate::state;
use crate::validate;
use crate::vif::{read_default, Stop, TypeIf, VifContext};
use crate::xenstore::{join, write_cmd, XenStore};

/// The bridge this vif belongs on, and where its name came from (for messages).
struct BridgeChoice {
    name: String,
    origin: String,
}

fn fatal(ctx: &VifContext, msg: impl Into<String>) -> Stop {
    Stop::Error {
        xp: Some(ctx.xp.clone()),
        msg: msg.into(),
    }
}

/// VB-01…VB-04: name the bridge (xenstore, then argument/environment, then the first bridge on the
/// host) and translate an old `xenbrN` to the G2 bridge `ethN`.
fn choose_bridge(
    ctx: &VifContext,
    inv: &Invocation,
    xs: &dyn XenStore,
    rep: &Reporter,
) -> Result<BridgeChoice, Stop> {
    let key = join(&ctx.xp, "bridge");
    let (mut name, mut origin) = match xs.read(&key).map_err(|e| fatal(ctx, e.to_string()))? {
        Some(v) => (v, format!("from xenstore key {key}")),
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
            None => return Err(fatal(ctx, "Could not find bridge, and none was specified")),
        }
    }
    validate::ifname("bridge", &name).map_err(|e| fatal(ctx, format!("{} ({origin})", e.0)))?;
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

/// The live FORWARD rules, or None when the firewall is off or iptables is unusable here.
fn current_rules(backend: Backend, runner: &dyn Runner, rep: &Reporter) -> Option<Vec<String>> {
    if backend == Backend::None {
        return None;
    }
    firewall::forward_rules(runner).unwrap_or_else(|e| {
        rep.warn(&e);
        None
    })
}

pub fn plan(
    ctx: &VifContext,
    inv: &Invocation,
    xs: &dyn XenStore,
    runner: &dyn Runner,
    rep: &Reporter,
) -> Result<Planned, Stop> {
    let backend = Backend::from_setting(inv.get("firewall")).map_err(|e| fatal(ctx, e.0))?;
    let bridge = choose_bridge(ctx, inv, xs, rep)?;
    let bridge_missing = check_bridge(&bridge).err();
    let done = format!(
        "Successful vif-bridge {} for {}, bridge {}.",
        ctx.command.word(),
        ctx.dev,
        bridge.name
    );
    let ip_joined = ctx.ips.join(" ");
    let vars = ctx.hook_vars(&[("bridge", bridge.name.as_str()), ("ip", ip_joined.as_str())]);

    let mut plan = Plan::default();
    if !ctx.command.is_up() {
        // VB-07, VB-10: rules before links; keep going; a missing bridge is reported at the end.
        if let Some(rules) = current_rules(backend, runner, rep) {
            plan.extend(firewall::offline_steps(&ctx.dev, &rules));
        }
        match state::link(&ctx.dev) {
            Some(link) if ctx.owns(&link) => {
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
            Some(link) => rep.warn(&format!(
                "{} belongs to {}, not to {}: left alone",
                ctx.dev, link.alias, ctx.kernel_name
            )),
            None => rep.debug(&format!("{} is already gone", ctx.dev)),
        }
        plan.extend(crate::hooks::steps(&vars, OnError::Collect));
        return Ok(Planned {
            plan,
            done,
            report_after: bridge_missing,
        });
    }

    if let Some(msg) = bridge_missing {
        return Err(fatal(ctx, msg));
    }
    // MTU-01: the backend key, else the bridge's.
    let mtu_key = read_default(xs, &ctx.xp, "mtu", "")?;
    let bridge_link = state::link(&bridge.name)
        .ok_or_else(|| fatal(ctx, format!("bridge {} vanished", bridge.name)))?;
    let mtu = match mtu_key.trim() {
        "" | "0" => {
            rep.debug(&format!("{} MTU is {}", bridge.name, bridge_link.mtu));
            bridge_link.mtu
        }
        v => validate::mtu(&join(&ctx.xp, "mtu"), v).map_err(|e| fatal(ctx, e.0))?,
    };
    if ctx.type_if == TypeIf::Vif {
        let mac = read_default(xs, &ctx.xp, "mac", inv.value("mac"))?;
        if !mac.is_empty() {
            validate::mac(&join(&ctx.xp, "mac"), &mac).map_err(|e| fatal(ctx, e.0))?;
        }
    }

    if bridge_link.address.eq_ignore_ascii_case(PORT_MAC) {
        // MAC-04
        rep.warn(&format!(
            "bridge {} has the MAC {PORT_MAC} of its vif ports; two such hosts on one LAN collide: \
             give it a fixed MAC (ip link set dev {} address <mac>)",
            bridge.name, bridge.name
        ));
    }
    let link_name = if ctx.rename {
        &ctx.kernel_name
    } else {
        &ctx.dev
    };
    let Some(link) = state::link(link_name) else {
        return Err(fatal(
            ctx,
            format!(
                "{} does not exist: the backend has not created it yet (is xen-netback loaded, and \
                 has the backend reached InitWait?), or the guest is gone",
                link_name
            ),
        ));
    };
    if !ctx.owns(&link) {
        return Err(fatal(
            ctx,
            format!(
                "{} belongs to {}, not to {}: choose another vifname",
                ctx.dev, link.alias, ctx.kernel_name
            ),
        ));
    }
    let mut was_up = link.up;
    if ctx.rename {
        plan.extend(ctx.rename_steps(&link));
        was_up = false;
    }
    let dev = ctx.dev.as_str();
    let is_port = link.master.as_deref() == Some(bridge.name.as_str());
    let ready =
        is_port && link.up && link.address.eq_ignore_ascii_case(PORT_MAC) && link.mtu == mtu;
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
    if ctx.type_if == TypeIf::Vif {
        if let Some(path) = ctx.frontend_mtu_path() {
            let value = mtu.to_string();
            plan.push(Step::run(
                format!("Writing {path} {value} to xenstore"),
                write_cmd(&[(&path, &value)]),
            ));
        }
    }
    if let Some(rules) = current_rules(backend, runner, rep) {
        plan.extend(firewall::online_steps(dev, &ctx.ips, &rules));
    }
    plan.extend(crate::hooks::steps(&vars, OnError::Fail));
    Ok(Planned {
        plan,
        done,
        report_after: None,
    })
}
