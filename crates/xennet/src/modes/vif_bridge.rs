//! `vif-bridge` (spec §4): a guest's backend interface as a port of a bridge. The plan holds only
//! the steps the live state needs, so a second `online` leaves a working port alone (VB-09).

use crate::bridge::{self, PORT_MAC};
use crate::conntrack;
use crate::error::{Error, Note, Planned, Result};
use crate::exec::ip;
use crate::firewall::{self, Family, Vif};
use crate::invocation::Invocation;
use crate::modes::network_bridge::overlay;
use crate::plan::{OnError, Plan, Step};
use crate::snapshot::{unless_unread, Snapshot};
use crate::validate;
use crate::vif::{Found, TypeIf, VifContext};
use crate::vlan;
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
    snap: &Snapshot,
    notes: &mut Vec<Note>,
) -> Result<BridgeChoice> {
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
        match snap.bridges()?.first() {
            Some(first) => {
                notes.push(Note::Info(format!(
                    "no bridge was named; using the first bridge on this host, {first}"
                )));
                origin = "chosen as the first bridge on this host".into();
                name = first.clone();
            }
            None => {
                return Err(Error::refused(
                    "Could not find bridge, and none was specified",
                ))
            }
        }
    }
    validate::ifname("bridge", &name)
        .map_err(|e| Error::Invalid(validate::Invalid(format!("{} ({origin})", e.0))))?;
    // VB-04
    if let Some(suffix) = name.strip_prefix("xenbr") {
        let eth = format!("eth{suffix}");
        if !snap.exists(&name)? && snap.link(&eth)?.is_some_and(|l| l.is_bridge) {
            notes.push(Note::Debug(format!(
                "bridge {name} does not exist; using {eth}, its network-bridge name"
            )));
            origin = format!("{origin}, translated from {name}");
            name = eth;
        }
    }
    // network-bridge's netdev layout names its bridge also xenbrN (an alternative name, which
    // sysfs does not show): use the bridge's own name from here on.
    if !snap.exists(&name)? {
        if let Some(real) = snap.resolve(&name)? {
            notes.push(Note::Debug(format!(
                "{name} is an alternative name of {real}"
            )));
            origin = format!("{origin}, the alternative name of {real}");
            name = real.to_string();
        }
    }
    Ok(BridgeChoice { name, origin })
}

/// VB-05, with the facts an administrator needs to fix it.
fn check_bridge(b: &BridgeChoice, snap: &Snapshot) -> Result<()> {
    match snap.link(&b.name)? {
        Some(l) if l.is_bridge => Ok(()),
        Some(_) => Err(Error::refused(format!(
            "{} is not a bridge ({}): name a bridge with bridge= in the guest's vif spec",
            b.name, b.origin
        ))),
        None => {
            let existing = snap.bridges()?;
            let list = if existing.is_empty() {
                "none".to_string()
            } else {
                existing.join(", ")
            };
            Err(Error::refused(format!(
                "Could not find bridge device {} ({}; bridges on this host: {list}). Create it \
                 (network-bridge start, or ip link add {} type bridge) or name an existing bridge \
                 with bridge= in the guest's vif spec",
                b.name, b.origin, b.name
            )))
        }
    }
}

/// Issue 19: a guest that asks for VLANs is attached only to a VLAN-aware bridge, never
/// untagged to the bridge's LAN; the refusal says why and what to do.
fn check_vlan_bridge(bridge: &str, dev: &str, asked: &vlan::Asked, snap: &Snapshot) -> Result<()> {
    let asks = format!(
        "{dev} asks for VLANs vlan={} ({})",
        asked.value, asked.origin
    );
    match vlan::filtering(bridge, snap)? {
        vlan::Filtering::On => {}
        vlan::Filtering::Off => {
            return Err(Error::refused(format!(
                "{asks}, but bridge {bridge} is not VLAN-aware (its vlan_filtering is 0): \
                 attached, the guest would be on the bridge's untagged LAN. Make the bridge \
                 VLAN-aware (network-bridge start vlan_filtering=yes trunk=<VLANs of the \
                 uplink>, or ip link set dev {bridge} type bridge vlan_filtering 1), or remove \
                 vlan= from the guest's vif spec"
            )))
        }
        vlan::Filtering::Unsupported => {
            return Err(Error::refused(format!(
                "{asks}, but this kernel has no bridge VLAN filtering ({} is missing): \
                 attached, the guest would be on bridge {bridge}'s untagged LAN. Boot a dom0 \
                 kernel built with CONFIG_BRIDGE_VLAN_FILTERING=y (Debian's has it) and make \
                 the bridge VLAN-aware (network-bridge start vlan_filtering=yes), or remove \
                 vlan= from the guest's vif spec",
                vlan::sysfs(bridge, "vlan_filtering").display()
            )))
        }
    }
    if !snap.tool("bridge")? {
        return Err(Error::MissingTool(format!(
            "{asks}, and setting a port's VLANs needs the `bridge` program: install the Debian \
             package iproute2"
        )));
    }
    Ok(())
}

/// On the bridge of an `overlay=evpn` VNI: each guest address as a permanent neighbour of the
/// bridge, which FRR advertises (MAC+IP), so that the other hosts answer ARP for the guest
/// themselves and no ARP crosses the underlay (issue 18). Needs the guest's MAC.
fn evpn_neighbors(bridge: &str, ctx: &VifContext, mac: &str, snap: &Snapshot) -> Result<Vec<Step>> {
    if mac.is_empty() || !overlay::is_evpn_bridge(bridge, snap)? {
        return Ok(Vec::new());
    }
    Ok(ctx
        .ips
        .iter()
        .map(|entry| {
            let addr = entry.split('/').next().unwrap_or(entry);
            let (add, del) = overlay::guest_neigh(bridge, addr, mac);
            Step::run(format!("tell {bridge} that {addr} is at {mac} (EVPN)"), add).undo(del)
        })
        .collect())
}

/// The guest's own addresses, for the conntrack purge: each `ip=` entry's address without its
/// prefix (on a bridge a prefix names the guest's LAN, which other guests share).
fn guest_addresses(ctx: &VifContext) -> Vec<String> {
    ctx.ips
        .iter()
        .map(|e| e.split('/').next().unwrap_or(e).to_string())
        .collect()
}

/// The guest interface as the firewall sees it.
fn fw_vif<'a>(
    ctx: &'a VifContext,
    ifindex: Option<u32>,
    mac: &'a str,
    guarded: bool,
    antispoof: bool,
) -> Vif<'a> {
    Vif {
        dev: &ctx.dev,
        ifindex,
        ips: &ctx.ips,
        mac,
        family: Some(Family::Bridge),
        antispoof,
        guarded,
    }
}

pub fn plan(ctx: &VifContext, inv: &Invocation, snap: &Snapshot) -> Result<Planned> {
    if !ctx.command.is_up() {
        return plan_release(ctx, inv, snap);
    }
    let mut notes = Vec::new();
    let bridge = choose_bridge(ctx, inv, snap, &mut notes)?;
    check_bridge(&bridge, snap)?;
    let fw = firewall::for_vif(inv, snap, &mut notes)?;
    // MTU-01: the backend key, else the bridge's.
    let mtu_key = ctx.key_or("mtu", "");
    let bridge_link = snap
        .link(&bridge.name)?
        .ok_or_else(|| Error::refused(format!("bridge {} vanished", bridge.name)))?;
    let mtu = match mtu_key.trim() {
        "" | "0" => {
            notes.push(Note::Debug(format!(
                "{} MTU is {}",
                bridge.name, bridge_link.mtu
            )));
            bridge_link.mtu
        }
        v => validate::mtu(&join(&ctx.xp, "mtu"), v)?,
    };
    // The guest's MAC is checked here so that a bad one is reported before the guest runs; an
    // emulated NIC's (tap) traffic is checked against it too.
    let mac = ctx.key_or("mac", inv.value("mac"));
    if ctx.type_if == TypeIf::Vif && !mac.is_empty() {
        validate::mac(&join(&ctx.xp, "mac"), &mac)?;
    }
    if bridge_link.address.eq_ignore_ascii_case(PORT_MAC) {
        // MAC-04
        notes.push(Note::Warn(format!(
            "bridge {} has the MAC {PORT_MAC} of its vif ports; two such hosts on one LAN collide: \
             give it a fixed MAC (ip link set dev {} address <mac>)",
            bridge.name, bridge.name
        )));
    }
    // Issue 19: checked before anything is touched.
    let vlans = vlan::asked(ctx, inv)?;
    if let Some(asked) = &vlans {
        check_vlan_bridge(&bridge.name, &ctx.dev, asked, snap)?;
    }
    let cfg = ctx.configure(snap)?;
    let link = cfg.link;

    let mut plan = Plan::default();
    let mut was_up = link.up;
    if cfg.rename {
        plan.extend(ctx.rename_steps(link));
        was_up = false;
    }
    let dev = ctx.dev.as_str();
    let is_port = link.master.as_deref() == Some(bridge.name.as_str());
    // VB-09: a working port is left alone. A rename takes the link down, so it is never ready.
    let ready = !cfg.rename
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
            notes.push(Note::Debug(format!("setting {dev} MTU to {mtu}")));
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
            notes.push(Note::Debug(format!(
                "{dev} already on bridge {}",
                bridge.name
            )));
        } else {
            notes.push(Note::Debug(format!(
                "adding {dev} to bridge {}",
                bridge.name
            )));
            plan.push(bridge::enslave(&bridge.name, dev));
        }
        plan.push(bridge::link_up(dev));
    }
    if let Some(asked) = &vlans {
        // The port's VLANs after the link changes, so that they share one `bridge -batch`:
        // nothing crosses the port before netback connects the guest (hotplug-status), nor
        // before an HVM guest runs (a tap).
        let have = if is_port && !cfg.rename {
            vlan::of_port(dev, snap)?
        } else {
            vlan::new_port(&bridge.name, snap)?
        };
        let steps = vlan::port_steps(dev, &have, &asked.vlans);
        notes.push(Note::Debug(if steps.is_empty() {
            format!("{dev} already carries VLANs {}", asked.vlans)
        } else {
            format!("{dev}: VLANs {} (was {have})", asked.vlans)
        }));
        plan.extend(steps);
    }
    plan.extend(evpn_neighbors(&bridge.name, ctx, &mac, snap)?);
    let guarded = snap.file(firewall::guard_record(&bridge.name))?.is_some();
    let vif = fw_vif(ctx, ctx.ifindex(snap)?, &mac, guarded, fw.antispoof);
    plan.extend(fw.online_steps(&vif, snap, &mut notes)?);
    let ip_joined = ctx.ips.join(" ");
    let vars = ctx.hook_vars(&[("bridge", bridge.name.as_str()), ("ip", ip_joined.as_str())]);
    plan.extend(crate::hooks::steps(&vars, OnError::Fail, snap)?);
    if ctx.type_if == TypeIf::Vif {
        // Issue 19: the guest starts with no connection of an earlier holder of its addresses.
        plan.extend(conntrack::purge_at_online(
            dev,
            &guest_addresses(ctx),
            was_up,
            snap,
            &mut notes,
        )?);
    }
    let frontend_keys = match ctx.frontend_mtu_path() {
        Some(path) if ctx.type_if == TypeIf::Vif => vec![(path, mtu.to_string())],
        _ => Vec::new(),
    };
    Ok(Planned {
        plan,
        notes,
        done: format!(
            "Successful vif-bridge {} for {dev}, bridge {}.",
            ctx.command.word(),
            bridge.name
        ),
        frontend_keys,
        ..Planned::default()
    })
}

/// VB-07, VB-10: offline/remove clean up whatever is left (rules before links), even when the
/// bridge is gone or misnamed, and report the bridge problem only afterwards.
fn plan_release(ctx: &VifContext, inv: &Invocation, snap: &Snapshot) -> Result<Planned> {
    let mut notes = Vec::new();
    let (name, problem) = match unless_unread(choose_bridge(ctx, inv, snap, &mut notes))? {
        Ok(b) => {
            let problem = unless_unread(check_bridge(&b, snap))?.err();
            (b.name, problem.map(|e| e.to_string()))
        }
        Err(e) => (String::new(), Some(e.to_string())),
    };
    let mut plan = Plan::default();
    let link = match ctx.link_to_release(snap)? {
        Found::NotOurs(link) => {
            // KP-16: another guest's interface of that name keeps its port and its rules.
            notes.push(Note::Warn(ctx.not_ours(link)));
            return Ok(Planned {
                notes,
                report_after: problem,
                ..Planned::default()
            });
        }
        Found::Gone => {
            notes.push(Note::Debug(format!("{} is already gone", ctx.dev)));
            None
        }
        Found::Ours(link) => Some(link),
    };
    let fw = firewall::for_vif(inv, snap, &mut notes)?;
    let mac = ctx.key_or("mac", inv.value("mac"));
    let vif = fw_vif(ctx, None, &mac, false, fw.antispoof);
    plan.extend(fw.offline_steps(&vif, snap, &mut notes)?);
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
            for del in evpn_neighbors(master, ctx, &mac, snap)?
                .into_iter()
                .filter_map(|s| s.undo)
            {
                plan.push(
                    Step::new("forget a guest address on the EVPN bridge", del)
                        .on_error(OnError::Ignore),
                );
            }
            plan.push(bridge::release(master, &ctx.dev));
        }
    }
    if ctx.type_if == TypeIf::Vif {
        // Issue 19: no connection of this guest outlives it.
        plan.extend(conntrack::purge(
            &ctx.dev,
            &guest_addresses(ctx),
            OnError::Collect,
            snap,
            &mut notes,
        )?);
    }
    let ip_joined = ctx.ips.join(" ");
    let vars = ctx.hook_vars(&[("bridge", name.as_str()), ("ip", ip_joined.as_str())]);
    plan.extend(crate::hooks::steps(&vars, OnError::Collect, snap)?);
    Ok(Planned {
        plan,
        notes,
        done: format!(
            "Successful vif-bridge {} for {}, bridge {name}.",
            ctx.command.word(),
            ctx.dev
        ),
        report_after: problem,
        ..Planned::default()
    })
}
