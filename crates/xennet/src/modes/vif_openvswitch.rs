//! `vif-openvswitch` (spec §7.2, VO-01): a guest's backend interface as a port of an Open vSwitch
//! bridge, with an access VLAN tag and trunks from `bridge=NAME[.TAG][:TRUNK1[:TRUNK2…]]`.
//! Unlike the original it also sets the MTU (as vif-bridge does, MTU-01) and checks the bridge
//! exists before touching the vif, so a typo is reported instead of an `ovs-vsctl` failure.

use crate::bridge;
use crate::error::{Error, Note, Planned, Result};
use crate::exec::ovs_vsctl as vsctl;
use crate::exec::{ip, Cmd};
use crate::firewall::{self, Vif};
use crate::invocation::Invocation;
use crate::plan::{OnError, Plan, Step};
use crate::snapshot::{unless_unread, Snapshot};
use crate::validate::{self, Invalid};
use crate::vif::{Found, TypeIf, VifContext};
use crate::vlan;
use crate::xenstore::join;

/// The device the kernel datapath of Open vSwitch puts its ports under.
const OVS_DATAPATH: &str = "ovs-system";

/// A parsed `bridge=` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OvsBridge {
    pub name: String,
    /// The access VLAN (`tag=`), if any.
    pub tag: Option<u16>,
    /// Trunk VLANs (`trunks=`), in the order given.
    pub trunks: Vec<u16>,
}

fn vlan(value: &str, what: &str, v: &str) -> Result<u16, Invalid> {
    match v.parse::<u16>() {
        Ok(n) if n <= 4095 => Ok(n),
        _ => Err(Invalid(format!(
            "No valid bridge was specified: in {value:?}, {what} {v:?} is not a VLAN id (0 to 4095)"
        ))),
    }
}

/// Parses `NAME[.TAG][:TRUNK1[:TRUNK2…]]`; an error starts with the original's
/// `No valid bridge was specified` and says what is wrong with the value.
pub fn parse_bridge(value: &str) -> Result<OvsBridge, Invalid> {
    let mut parts = value.split(':');
    let head = parts.next().unwrap_or("");
    let (name, tag) = match head.split_once('.') {
        Some((n, t)) => (n, Some(vlan(value, "VLAN tag", t)?)),
        None => (head, None),
    };
    if name.is_empty() {
        return Err(Invalid(format!(
            "No valid bridge was specified: {value:?} has no bridge name (expected NAME[.VLAN][:TRUNK1:TRUNK2…])"
        )));
    }
    validate::ifname("bridge", name)
        .map_err(|e| Invalid(format!("No valid bridge was specified: {}", e.0)))?;
    let trunks = parts
        .map(|t| vlan(value, "trunk", t))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(OvsBridge {
        name: name.to_string(),
        tag,
        trunks,
    })
}

/// The registry's check of a given `bridge=` value.
pub fn check_bridge(_: &str, v: &str) -> Result<(), Invalid> {
    parse_bridge(v).map(|_| ())
}

/// The port's VLAN columns: `tag=`, `trunks=` and, for a port with a PVID and tagged VLANs,
/// `vlan_mode=native-untagged` (OVS makes a port with a tag an access port, whose trunks it
/// ignores).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortVlans {
    pub tag: Option<u16>,
    pub trunks: Vec<u16>,
    pub mode: Option<&'static str>,
}

impl PortVlans {
    /// What `bridge=NAME[.TAG][:TRUNKS]` says, as the original script sets it.
    fn from_bridge(b: &OvsBridge) -> PortVlans {
        PortVlans {
            tag: b.tag,
            trunks: b.trunks.clone(),
            mode: None,
        }
    }
}

/// Issue 19: xl's `vlan=` on Open vSwitch: the PVID as the port's tag, the tagged VLANs as its
/// trunks. OVS sends only a port's native VLAN untagged, so other untagged VLANs are refused.
fn from_vlan(dev: &str, asked: &vlan::Asked) -> Result<PortVlans> {
    let v = &asked.vlans;
    let untagged = v.untagged_others();
    if !untagged.is_empty() {
        let list: Vec<String> = untagged.iter().map(u16::to_string).collect();
        return Err(Error::refused(format!(
            "{dev} asks for VLANs vlan={} ({}), with {} untagged besides the PVID: an Open \
             vSwitch port sends only its native VLAN (the PVID) untagged; drop the u from those \
             terms, or attach the guest to a VLAN-aware Linux bridge (script=vif-bridge)",
            asked.value,
            asked.origin,
            list.join(", ")
        )));
    }
    let tagged = v.tagged();
    let mode = (!tagged.is_empty()).then_some("native-untagged");
    Ok(PortVlans {
        tag: v.pvid(),
        trunks: tagged,
        mode,
    })
}

/// The VLANs of the port: from `bridge=`, from `vlan`, or from both when they say the same
/// (a contradiction is refused, naming both).
fn port_vlans(
    dev: &str,
    b: &OvsBridge,
    bridge_value: &str,
    bridge_origin: &str,
    asked: Option<&vlan::Asked>,
) -> Result<PortVlans> {
    let Some(asked) = asked else {
        return Ok(PortVlans::from_bridge(b));
    };
    let from_key = from_vlan(dev, asked)?;
    if b.tag.is_none() && b.trunks.is_empty() {
        return Ok(from_key);
    }
    let mut trunks = b.trunks.clone();
    trunks.sort_unstable();
    trunks.dedup();
    if b.tag == from_key.tag && trunks == from_key.trunks {
        return Ok(from_key);
    }
    let says = |tag: Option<u16>, trunks: &[u16]| {
        let t: Vec<String> = trunks.iter().map(u16::to_string).collect();
        format!(
            "{} and {}",
            tag.map_or("no access VLAN".to_string(), |t| format!("access VLAN {t}")),
            if t.is_empty() {
                "no trunk".to_string()
            } else {
                format!("trunks {}", t.join(","))
            }
        )
    };
    Err(Error::refused(format!(
        "bridge={bridge_value} ({bridge_origin}) says {}, but vlan={} ({}) says {}: give the \
         guest's VLANs in one place, either vlan= (xl's key) with bridge={} or \
         bridge=NAME.VLAN:TRUNKS alone",
        says(b.tag, &trunks),
        asked.value,
        asked.origin,
        says(from_key.tag, &from_key.trunks),
        b.name
    )))
}

/// `--if-exists del-port <dev>`: exactly this port, from whichever bridge holds it.
fn del_port(dev: &str) -> Cmd {
    vsctl().args(["--", "--if-exists", "del-port", dev])
}

/// The original's one transaction: drop a stale port of that name, add it with its VLANs, and
/// label it with the guest's name, uuid and MAC (what OVS controllers look for).
fn add_port(
    dev: &str,
    b: &OvsBridge,
    v: &PortVlans,
    vm_name: &str,
    vm_uuid: &str,
    mac: &str,
) -> Cmd {
    let mut c = vsctl().args([
        "--",
        "--if-exists",
        "del-port",
        dev,
        "--",
        "add-port",
        &b.name,
        dev,
    ]);
    if let Some(t) = v.tag {
        c = c.arg(format!("tag={t}"));
    }
    if !v.trunks.is_empty() {
        let list: Vec<String> = v.trunks.iter().map(u16::to_string).collect();
        c = c.arg(format!("trunks={}", list.join(",")));
    }
    if let Some(m) = v.mode {
        c = c.arg(format!("vlan_mode={m}"));
    }
    for (k, v) in [
        ("xen-vm-name", vm_name),
        ("xen-vm-uuid", vm_uuid),
        ("attached-mac", mac),
    ] {
        c = c.args([
            "--".to_string(),
            "set".into(),
            "interface".into(),
            dev.into(),
            format!("external-ids:\"{k}\"=\"{}\"", quote_value(v)),
        ]);
    }
    c
}

/// OVSDB strings are C-like inside double quotes: a guest name may hold `"` or `\\`.
fn quote_value(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The `bridge=` value: the backend key, else the argument or environment (VO-01 step 3).
fn bridge_value(ctx: &VifContext, inv: &Invocation) -> (String, String) {
    let key = join(&ctx.xp, "bridge");
    match ctx.key("bridge") {
        Some(v) => (v.to_string(), format!("from xenstore key {key}")),
        None => (
            inv.value("bridge").to_string(),
            format!("from {}", inv.origin("bridge")),
        ),
    }
}

/// Is `dev` already a port of the bridge with the wanted tag, trunks and VLAN mode?
fn is_port_as_wanted(dev: &str, b: &OvsBridge, v: &PortVlans, snap: &Snapshot) -> Result<bool> {
    let Some(port) = snap.ovs_port(&b.name, dev)? else {
        return Ok(false);
    };
    let tag = v.tag.map_or("[]".to_string(), |t| t.to_string());
    let trunks = format!(
        "[{}]",
        v.trunks
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mode = v.mode.unwrap_or("[]");
    Ok(port.tag == tag && port.trunks == trunks && port.vlan_mode == mode)
}

/// Reads a key that may be missing (the guest's name and uuid are labels, not requirements).
fn read_opt(snap: &Snapshot, path: &str) -> Result<String> {
    Ok(unless_unread(snap.xenstore(path))?
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_string())
}

/// nftables hooks do not see an OVS port's traffic: no nft family (warned with antispoof).
fn fw_vif<'a>(ctx: &'a VifContext, mac: &'a str, antispoof: bool) -> Vif<'a> {
    Vif {
        dev: &ctx.dev,
        ifindex: None,
        ips: &ctx.ips,
        mac,
        family: None,
        antispoof,
        guarded: false,
    }
}

pub fn plan(ctx: &VifContext, inv: &Invocation, snap: &Snapshot) -> Result<Planned> {
    if !ctx.command.is_up() {
        return plan_release(ctx, inv, snap);
    }
    let mut notes = Vec::new();
    // Step 1: the tools, with the package to install.
    if !snap.tool("ovs-vsctl")? {
        return Err(Error::MissingTool(
            "Unable to find ovs-vsctl tool: install the Debian package openvswitch-switch".into(),
        ));
    }
    if !snap.tool("ip")? {
        return Err(Error::MissingTool(
            "Unable to find ip tool: install the Debian package iproute2".into(),
        ));
    }
    let (value, origin) = bridge_value(ctx, inv);
    let b = parse_bridge(&value).map_err(|e| Invalid(format!("{} ({origin})", e.0)))?;
    let asked = vlan::asked(ctx, inv)?;
    let vlans = port_vlans(&ctx.dev, &b, &value, &origin, asked.as_ref())?;
    // The bridge must exist in this host's Open vSwitch.
    match unless_unread(snap.ovs_bridge(&b.name))? {
        Ok(true) => {}
        Ok(false) => {
            let list = unless_unread(snap.ovs_bridges())?
                .map(|l| l.join(", "))
                .unwrap_or_default();
            return Err(Error::refused(format!(
                "Open vSwitch has no bridge {} ({origin}; its bridges: {}): create it with \
                 `ovs-vsctl add-br {}` or name an existing one with bridge= in the guest's vif spec",
                b.name,
                if list.is_empty() { "none" } else { &list },
                b.name
            )));
        }
        Err(e) => {
            return Err(Error::Unreadable(format!(
                "cannot ask Open vSwitch about bridge {}: {e} (is ovsdb-server running?)",
                b.name
            )))
        }
    }
    let fw = firewall::for_vif(inv, snap, &mut notes)?;
    // Step 4: labels for the port.
    let fe = ctx.key_or("frontend-id", "");
    let vm = if fe.is_empty() {
        String::new()
    } else {
        read_opt(snap, &format!("/local/domain/{fe}/vm"))?
    };
    let (vm_name, vm_uuid) = if vm.is_empty() {
        (String::new(), String::new())
    } else {
        (
            read_opt(snap, &join(&vm, "name"))?,
            read_opt(snap, &join(&vm, "uuid"))?,
        )
    };
    let mac = ctx.key_or("mac", inv.value("mac"));
    if !mac.is_empty() {
        validate::mac(&join(&ctx.xp, "mac"), &mac)?;
    }
    // MTU-01: the backend key, else the bridge's (its internal port is a link here).
    let mtu_key = ctx.key_or("mtu", "");
    let mtu = match mtu_key.trim() {
        "" | "0" => snap.link(&b.name)?.map(|l| l.mtu),
        v => Some(validate::mtu(&join(&ctx.xp, "mtu"), v)?),
    };
    let cfg = ctx.configure(snap)?;
    let link = cfg.link;

    let mut plan = Plan::default();
    let mut was_up = link.up;
    if cfg.rename {
        plan.extend(ctx.rename_steps(link));
        was_up = false;
    }
    let dev = ctx.dev.as_str();
    // Open vSwitch's kernel datapath makes its `ovs-system` device the master of every port;
    // any other master is a Linux bridge.
    let linux_bridge = link.master.as_deref().filter(|m| *m != OVS_DATAPATH);
    // As VB-09: a working port is left alone, so a second online does not drop its traffic.
    let ready = !cfg.rename
        && linux_bridge.is_none()
        && link.up
        && link.address.eq_ignore_ascii_case(bridge::PORT_MAC)
        && mtu.is_none_or(|m| m == link.mtu)
        && is_port_as_wanted(dev, &b, &vlans, snap)?;
    if ready {
        notes.push(Note::Debug(format!(
            "{dev} already on Open vSwitch bridge {}",
            b.name
        )));
    } else {
        if let Some(other) = linux_bridge {
            // A Linux bridge port (a guest moved from vif-bridge): it cannot be both.
            plan.push(
                Step::run(
                    format!("release {dev} from bridge {other}"),
                    ip(["link", "set", "dev", dev, "nomaster"]),
                )
                .undo(ip(["link", "set", "dev", dev, "master", other])),
            );
        }
        // Step 2: BR-04.
        plan.extend(bridge::prepare_port(dev, was_up, &link.address));
        if let Some(mtu) = mtu.filter(|m| *m != link.mtu) {
            notes.push(Note::Debug(format!("setting {dev} MTU to {mtu}")));
            let old = link.mtu.to_string();
            plan.push(
                Step::run(
                    format!("set {dev} MTU to {mtu}"),
                    ip(["link", "set", "dev", dev, "mtu", &mtu.to_string()]),
                )
                .undo(ip(["link", "set", "dev", dev, "mtu", &old]))
                .on_error(OnError::Ignore),
            );
        }
        // Step 5.
        plan.push(
            Step::run(
                format!("add {dev} to Open vSwitch bridge {}", b.name),
                add_port(dev, &b, &vlans, &vm_name, &vm_uuid, &mac),
            )
            .undo(del_port(dev)),
        );
        // Step 6.
        plan.push(bridge::link_up(dev));
    }
    let frontend_keys = match (ctx.frontend_mtu_path(), mtu) {
        (Some(path), Some(mtu)) if ctx.type_if == TypeIf::Vif => vec![(path, mtu.to_string())],
        _ => Vec::new(),
    };
    plan.extend(fw.online_steps(&fw_vif(ctx, &mac, fw.antispoof), snap, &mut notes)?);
    Ok(Planned {
        plan,
        notes,
        done: format!(
            "Successful vif-openvswitch {} for {dev}, bridge {}.",
            ctx.command.word(),
            b.name
        ),
        frontend_keys,
        ..Planned::default()
    })
}

/// offline/remove (§7.2 step 3): the firewall rules, then exactly this port out of the
/// database (also when netback already removed the link: OVS keeps the record), then the link
/// down. Nothing of another guest's interface is touched (KP-16).
fn plan_release(ctx: &VifContext, inv: &Invocation, snap: &Snapshot) -> Result<Planned> {
    let mut notes = Vec::new();
    let mut plan = Plan::default();
    let link = match ctx.link_to_release(snap)? {
        Found::NotOurs(link) => {
            notes.push(Note::Warn(ctx.not_ours(link)));
            return Ok(Planned {
                notes,
                ..Planned::default()
            });
        }
        Found::Gone => None,
        Found::Ours(link) => Some(link),
    };
    let fw = firewall::for_vif(inv, snap, &mut notes)?;
    let mac = ctx.key_or("mac", inv.value("mac"));
    plan.extend(fw.offline_steps(&fw_vif(ctx, &mac, fw.antispoof), snap, &mut notes)?);
    if snap.tool("ovs-vsctl")? {
        plan.push(
            Step::run(
                format!("remove port {} from Open vSwitch", ctx.dev),
                del_port(&ctx.dev),
            )
            .on_error(OnError::Collect),
        );
    } else {
        notes.push(Note::Warn(
            "ovs-vsctl is not installed: no Open vSwitch port to remove".into(),
        ));
    }
    if link.is_some_and(|l| l.up) {
        plan.push(
            Step::run(
                format!("take {} down", ctx.dev),
                ip(["link", "set", "dev", &ctx.dev, "down"]),
            )
            .on_error(OnError::Ignore),
        );
    }
    Ok(Planned {
        plan,
        notes,
        done: format!(
            "Successful vif-openvswitch {} for {}.",
            ctx.command.word(),
            ctx.dev
        ),
        ..Planned::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_syntax() {
        assert_eq!(
            parse_bridge("ovsbr0").unwrap(),
            OvsBridge {
                name: "ovsbr0".into(),
                tag: None,
                trunks: vec![]
            }
        );
        assert_eq!(
            parse_bridge("ovsbr0.10:20:30").unwrap(),
            OvsBridge {
                name: "ovsbr0".into(),
                tag: Some(10),
                trunks: vec![20, 30]
            }
        );
        for bad in [
            "", ".5", "br0.x", "br0.5000", "br0:", "br0:a", "a/b", "br0.5.6",
        ] {
            let e = parse_bridge(bad).unwrap_err().0;
            assert!(e.starts_with("No valid bridge was specified"), "{bad}: {e}");
        }
    }

    #[test]
    fn one_transaction_with_tag_trunks_and_labels() {
        let b = parse_bridge("ovsbr0.10:20:30").unwrap();
        let v = PortVlans::from_bridge(&b);
        let c = add_port("vif1.0", &b, &v, "web", "u-1", "00:16:3e:00:01:00");
        let words = [
            "--timeout=15",
            "--",
            "--if-exists",
            "del-port",
            "vif1.0",
            "--",
            "add-port",
            "ovsbr0",
            "vif1.0",
            "tag=10",
            "trunks=20,30",
            "--",
            "set",
            "interface",
            "vif1.0",
            "external-ids:\"xen-vm-name\"=\"web\"",
            "--",
            "set",
            "interface",
            "vif1.0",
            "external-ids:\"xen-vm-uuid\"=\"u-1\"",
            "--",
            "set",
            "interface",
            "vif1.0",
            "external-ids:\"attached-mac\"=\"00:16:3e:00:01:00\"",
        ];
        assert_eq!(
            (c.program.as_str(), c.args.clone()),
            ("ovs-vsctl", words.map(String::from).to_vec())
        );
        let plain = parse_bridge("b").unwrap();
        let none = PortVlans::from_bridge(&plain);
        let q = add_port("vif1.0", &plain, &none, "a\"b\\", "", "");
        assert_eq!(q.args[13], "external-ids:\"xen-vm-name\"=\"a\\\"b\\\\\"");
        assert_eq!(
            del_port("vif1.0").args,
            ["--timeout=15", "--", "--if-exists", "del-port", "vif1.0"]
        );
    }
}
