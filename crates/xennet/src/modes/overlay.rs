//! The overlay uplink of bridge mode: `network-bridge start overlay=vxlan vni=N peers=A,B…`
//! makes a bridge whose uplink is a kernel VXLAN device instead of dom0's NIC, so guests on
//! several hosts share one L2 network (one VNI, one bridge per tenant). Each peer gets one static
//! all-zeros flood entry (broadcast, unknown unicast, multicast go to every peer); unicast is
//! learned per MAC, so a guest's frames go straight to the host it lives on.
//!
//! MTU, decided: guests keep full-size 1500-byte frames. VXLAN adds 50 bytes over IPv4 (70 over
//! IPv6), so `start` requires the underlay's MTU to be at least 1550 (1570) and refuses
//! otherwise, naming the command that fixes it. Lowering every vif's MTU instead would depend on
//! each guest honouring its xenstore `mtu` key, and a guest that does not would lose large
//! packets silently.

use super::HostPlanned;
use crate::bridge;
use crate::exec::{ip, Cmd, Runner};
use crate::invocation::Invocation;
use crate::plan::{Plan, Step};
use crate::state;
use crate::validate;
use std::net::IpAddr;

/// The names `network-bridge` reads for an overlay (its KNOWN lists them too; a unit test keeps
/// the two in step).
pub const KEYS: &[&str] = &["overlay", "vni", "peers", "dstport", "local", "underlay"];

/// The guests' frame size the overlay carries without fragmenting.
pub const GUEST_MTU: u32 = 1500;

/// The IANA VXLAN port.
pub const DEFAULT_DSTPORT: u16 = 4789;

/// The all-zeros MAC: the flood entry's key.
const FLOOD: &str = "00:00:00:00:00:00";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overlay {
    pub vni: u32,
    /// Every other host of the overlay (empty only for `stop`/`status`, which do not need them).
    pub peers: Vec<IpAddr>,
    pub dstport: u16,
    pub local: Option<IpAddr>,
    pub underlay: Option<String>,
    /// The tenant's bridge: `bridge=`, default `vxbr<VNI>`.
    pub bridge: String,
    /// The VXLAN device: `vxlan<VNI>`.
    pub vxlan: String,
}

/// Does this invocation ask for an overlay?
pub fn requested(inv: &Invocation) -> bool {
    inv.get("overlay").is_some_and(|v| !v.is_empty())
}

fn addr(what: &str, v: &str) -> Result<IpAddr, String> {
    let a: IpAddr = v.trim().parse().map_err(|_| {
        format!("{what}={v:?} is not an IPv4 or IPv6 address (e.g. 198.51.100.2 or 2001:db8::2)")
    })?;
    if a.is_unspecified() || a.is_multicast() || a.is_loopback() {
        return Err(format!(
            "{what}={v:?} is not a unicast address of another host: give the peer's underlay address"
        ));
    }
    Ok(a)
}

/// Reads and checks every overlay setting; `need_peers` for `start`.
pub fn settings(inv: &Invocation, need_peers: bool) -> Result<Overlay, String> {
    match inv.value("overlay") {
        "vxlan" => {}
        other => {
            return Err(format!(
                "overlay={other:?} is not a known overlay: the only one is overlay=vxlan"
            ))
        }
    }
    let vni =
        match inv.get("vni").filter(|v| !v.is_empty()) {
            None => return Err(
                "overlay=vxlan needs vni=N, the tenant network's number (1 to 16777215), the same \
                 on every host"
                    .into(),
            ),
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=16_777_215).contains(&n) => n,
                _ => {
                    return Err(format!(
                        "vni={v:?} is not a VXLAN id: give a number from 1 to 16777215"
                    ))
                }
            },
        };
    let dstport = match inv.get("dstport").filter(|v| !v.is_empty()) {
        None => DEFAULT_DSTPORT,
        Some(v) => match v.parse::<u16>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(format!(
                    "dstport={v:?} is not a UDP port: give a number from 1 to 65535 (default {DEFAULT_DSTPORT})"
                ))
            }
        },
    };
    let local = match inv.get("local").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => Some(addr("local", v)?),
    };
    let mut peers = Vec::new();
    for p in inv
        .value("peers")
        .split(',')
        .filter(|p| !p.trim().is_empty())
    {
        let a = addr("peers", p)?;
        if Some(a) == local {
            return Err(format!(
                "peers={p} is this host's own local= address: list only the other hosts"
            ));
        }
        if peers.contains(&a) {
            return Err(format!("peers lists {a} twice: list each other host once"));
        }
        if peers
            .first()
            .is_some_and(|f: &IpAddr| f.is_ipv4() != a.is_ipv4())
        {
            return Err(format!(
                "peers mixes IPv4 and IPv6 ({} and {a}): one overlay runs over one address family",
                peers[0]
            ));
        }
        peers.push(a);
    }
    if need_peers && peers.is_empty() {
        return Err(
            "overlay=vxlan needs peers=A[,B…], the underlay addresses of the other hosts".into(),
        );
    }
    if let (Some(l), Some(p)) = (local, peers.first()) {
        if l.is_ipv4() != p.is_ipv4() {
            return Err(format!(
                "local={l} and peers ({p}) are of different address families"
            ));
        }
    }
    let underlay = match inv.get("underlay").filter(|v| !v.is_empty()) {
        None => None,
        Some(u) => {
            validate::ifname("underlay", u).map_err(|e| e.0)?;
            Some(u.to_string())
        }
    };
    let bridge = match inv.get("bridge").filter(|v| !v.is_empty()) {
        Some(b) => {
            validate::ifname("bridge", b).map_err(|e| e.0)?;
            b.to_string()
        }
        None => format!("vxbr{vni}"),
    };
    Ok(Overlay {
        vni,
        peers,
        dstport,
        local,
        underlay,
        bridge,
        vxlan: format!("vxlan{vni}"),
    })
}

/// The bytes VXLAN adds to a guest frame: outer IP + UDP + VXLAN + inner Ethernet header.
pub fn overhead(ipv6: bool) -> u32 {
    if ipv6 {
        70
    } else {
        50
    }
}

/// The underlay device and local address: as given, else from the route to the first peer.
fn underlay_of(o: &Overlay, runner: &dyn Runner) -> Result<(String, IpAddr), String> {
    let peer = o.peers[0].to_string();
    let route = runner
        .run(&ip(["-j", "route", "get", &peer]))
        .ok()
        .and_then(|out| serde_json::from_str::<serde_json::Value>(out.trim()).ok())
        .and_then(|v| v.get(0).cloned());
    let dev = match (&o.underlay, &route) {
        (Some(u), _) => u.clone(),
        (None, Some(r)) => r["dev"].as_str().unwrap_or_default().to_string(),
        (None, None) => String::new(),
    };
    if dev.is_empty() {
        return Err(format!(
            "no route to peer {peer}: give the underlay device with underlay=DEV (and local=ADDR)"
        ));
    }
    let local = match (o.local, &route) {
        (Some(l), _) => Some(l),
        (None, Some(r)) => r["prefsrc"].as_str().and_then(|s| s.parse().ok()),
        (None, None) => None,
    };
    let Some(local) = local else {
        return Err(format!(
            "cannot tell this host's underlay address towards {peer}: give it with local=ADDR"
        ));
    };
    let mine = state::addrs(runner, &dev)?;
    if !mine
        .iter()
        .any(|a| a.local.parse::<IpAddr>().ok() == Some(local))
    {
        return Err(format!(
            "local={local} is not an address of the underlay {dev}: give local= one of {dev}'s \
             addresses, or underlay= the device that holds {local}"
        ));
    }
    Ok((dev, local))
}

fn record(bridge: &str) -> std::path::PathBuf {
    crate::paths::state_dir().join(format!("network-bridge.{bridge}.overlay"))
}

fn fdb(verb: &str, vxlan: &str, peer: &str) -> Cmd {
    Cmd::new("bridge").args(["fdb", verb, FLOOD, "dev", vxlan, "dst", peer])
}

/// The command that makes the VXLAN device; with `mac`, the undo of its deletion.
fn vxlan_add(
    vxlan: &str,
    vni: u32,
    port: u16,
    local: &str,
    dev: &str,
    mtu: u32,
    mac: Option<&str>,
) -> Cmd {
    let mut c = ip(["link", "add", "name", vxlan]);
    if let Some(m) = mac {
        c = c.args(["address", m]);
    }
    c.args([
        "mtu",
        &mtu.to_string(),
        "type",
        "vxlan",
        "id",
        &vni.to_string(),
        "dstport",
        &port.to_string(),
        "local",
        local,
        "dev",
        dev,
    ])
}

/// A fixed, locally administered MAC for the overlay bridge, the same for the same host address
/// and VNI: a bridge left to itself takes its lowest port's MAC and changes it as ports come and
/// go (MAC-04).
pub fn bridge_mac(local: &IpAddr, vni: u32) -> String {
    // FNV-1a over the address and the VNI.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in local.to_string().bytes().chain(vni.to_be_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4]
    )
}

/// Did an earlier `start` create this bridge (so `stop` may delete it)?
fn created_by_us(bridge: &str) -> bool {
    std::fs::read_to_string(record(bridge))
        .unwrap_or_default()
        .split_whitespace()
        .any(|w| w == "created_bridge=yes")
}

/// `network-bridge start|stop … overlay=vxlan`.
pub fn plan(start: bool, inv: &Invocation, runner: &dyn Runner) -> Result<HostPlanned, String> {
    let o = settings(inv, start)?;
    if start {
        plan_start(&o, runner)
    } else {
        plan_stop(&o, runner)
    }
}

fn plan_start(o: &Overlay, runner: &dyn Runner) -> Result<HostPlanned, String> {
    if let Some(l) = state::link(&o.vxlan) {
        return match l.master.as_deref() {
            Some(m) if m == o.bridge => Ok(HostPlanned::Nothing(format!(
                "{} is already the overlay uplink of {}: nothing to do",
                o.vxlan, o.bridge
            ))),
            _ => Err(format!(
                "{} exists but is not a port of {}: remove it (ip link del {}) or run stop first",
                o.vxlan, o.bridge, o.vxlan
            )),
        };
    }
    let existing = state::link(&o.bridge);
    if existing.as_ref().is_some_and(|l| !l.is_bridge) {
        return Err(format!(
            "bridge={} names an existing link that is not a bridge: choose another name",
            o.bridge
        ));
    }
    let (dev, local) = underlay_of(o, runner)?;
    let under = state::link(&dev).ok_or_else(|| {
        format!("underlay {dev} does not exist: name the device towards the other hosts with underlay=DEV")
    })?;
    let mtu = existing.as_ref().map_or(GUEST_MTU, |l| l.mtu);
    let need = mtu + overhead(local.is_ipv6());
    if under.mtu < need {
        return Err(format!(
            "the underlay {dev} has MTU {}, but VXLAN over {} adds {} bytes, so {mtu}-byte guest \
             frames need an underlay MTU of at least {need}: raise it on every host (ip link set \
             dev {dev} mtu {need}) and on the switches between them",
            under.mtu,
            if local.is_ipv6() { "IPv6" } else { "IPv4" },
            overhead(local.is_ipv6())
        ));
    }
    let local_s = local.to_string();
    let mut p = Plan::default();
    // A bridge an earlier start made (and a stop kept, as guests were on it) is still ours.
    let created = existing.is_none() || created_by_us(&o.bridge);
    if existing.is_none() {
        p.push(bridge::create(&o.bridge));
        let mac = bridge_mac(&local, o.vni);
        p.push(Step::run(
            format!("give {} the fixed MAC {mac}", o.bridge),
            ip(["link", "set", "dev", &o.bridge, "address", &mac]),
        ));
        p.push(Step::run(
            format!("give {} the guests' MTU {mtu}", o.bridge),
            ip(["link", "set", "dev", &o.bridge, "mtu", &mtu.to_string()]),
        ));
    }
    p.push(
        Step::run(
            format!(
                "create {} (VNI {}, UDP port {}, from {local_s} over {dev})",
                o.vxlan, o.vni, o.dstport
            ),
            vxlan_add(&o.vxlan, o.vni, o.dstport, &local_s, &dev, mtu, None),
        )
        .undo(ip(["link", "del", "dev", &o.vxlan])),
    );
    for peer in &o.peers {
        let peer = peer.to_string();
        p.push(
            Step::run(
                format!("flood to peer {peer}"),
                fdb("append", &o.vxlan, &peer),
            )
            .undo(fdb("del", &o.vxlan, &peer)),
        );
    }
    p.push(bridge::enslave(&o.bridge, &o.vxlan));
    p.push(bridge::link_up(&o.vxlan));
    if !existing.is_some_and(|l| l.up) {
        p.push(bridge::link_up(&o.bridge));
    }
    p.push(crate::plan::write_record(
        "remember what stop removes",
        &record(&o.bridge),
        format!(
            "vxlan={} vni={} created_bridge={}",
            o.vxlan,
            o.vni,
            if created { "yes" } else { "no" }
        ),
    ));
    let peers: Vec<String> = o.peers.iter().map(IpAddr::to_string).collect();
    Ok(HostPlanned::Plan {
        intro: format!(
            "network-bridge: overlay vxlan VNI {} on bridge {} via {} (underlay {dev}, local \
             {local_s}, port {}), peers {}",
            o.vni,
            o.bridge,
            o.vxlan,
            o.dstport,
            peers.join(", ")
        ),
        plan: p,
    })
}

/// What the live VXLAN device is: enough to make it again (a rollback of `stop`).
fn live_vxlan(vxlan: &str, runner: &dyn Runner) -> Option<(Cmd, Vec<String>)> {
    let out = runner
        .run(&ip(["-d", "-j", "link", "show", "dev", vxlan]))
        .ok()?;
    let v: serde_json::Value = serde_json::from_str(out.trim()).ok()?;
    let l = v.get(0)?;
    let d = &l["linkinfo"]["info_data"];
    let local = d["local"].as_str().or_else(|| d["local6"].as_str())?;
    let add = vxlan_add(
        vxlan,
        u32::try_from(d["id"].as_u64()?).ok()?,
        u16::try_from(d["port"].as_u64()?).ok()?,
        local,
        d["link"].as_str()?,
        u32::try_from(l["mtu"].as_u64()?).ok()?,
        Some(l["address"].as_str()?),
    );
    Some((add, flood_peers(vxlan, runner)))
}

/// The peers of a VXLAN device: the destinations of its all-zeros entries.
pub fn flood_peers(vxlan: &str, runner: &dyn Runner) -> Vec<String> {
    let out = runner
        .run(&Cmd::new("bridge").args(["-j", "fdb", "show", "dev", vxlan]))
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_default();
    v.as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["mac"] == FLOOD)
        .filter_map(|e| e["dst"].as_str().map(str::to_string))
        .collect()
}

/// Takes the VXLAN device out, every step with its exact undo: the flood entries first, the
/// device (made again as it was, MAC included, on a rollback) last.
fn remove_vxlan(o: &Overlay, link: &state::Link, runner: &dyn Runner) -> Vec<Step> {
    let mut p = Vec::new();
    let live = live_vxlan(&o.vxlan, runner);
    for peer in live.as_ref().map(|l| l.1.clone()).unwrap_or_default() {
        p.push(
            Step::run(
                format!("stop flooding to peer {peer}"),
                fdb("del", &o.vxlan, &peer),
            )
            .undo(fdb("append", &o.vxlan, &peer)),
        );
    }
    if link.up {
        p.push(bridge::link_down(&o.vxlan));
    }
    if let Some(m) = &link.master {
        p.push(
            Step::run(
                format!("remove {} from bridge {m}", o.vxlan),
                ip(["link", "set", "dev", &o.vxlan, "nomaster"]),
            )
            .undo(ip(["link", "set", "dev", &o.vxlan, "master", m])),
        );
    }
    let mut del = Step::run(
        format!("delete {}", o.vxlan),
        ip(["link", "del", "dev", &o.vxlan]),
    );
    if let Some((add, _)) = live {
        del = del.undo(add);
    }
    p.push(del);
    p
}

fn plan_stop(o: &Overlay, runner: &dyn Runner) -> Result<HostPlanned, String> {
    let created_bridge = created_by_us(&o.bridge) && state::exists(&o.bridge);
    let link = state::link(&o.vxlan);
    // A bridge kept by an earlier stop (guests were on it) is still to be deleted.
    if link.is_none() && !created_bridge {
        return Ok(HostPlanned::Nothing(format!(
            "{} does not exist: no overlay to stop",
            o.vxlan
        )));
    }
    let rec = std::fs::read_to_string(record(&o.bridge)).unwrap_or_default();
    let mut p = Plan::default();
    if let Some(link) = link {
        p.extend(remove_vxlan(o, &link, runner));
    }
    let guests: Vec<String> = state::ports(&o.bridge)
        .into_iter()
        .filter(|d| *d != o.vxlan)
        .collect();
    let keep_bridge = created_bridge && !guests.is_empty();
    if created_bridge && guests.is_empty() {
        // Last of the links: nothing can fail after it, and it has no undo (NB-18's rule).
        p.push(Step::run(
            format!("delete bridge {}", o.bridge),
            ip(["link", "del", "dev", &o.bridge]),
        ));
    } else if keep_bridge {
        log::warn!(
            "bridge {} still has guest ports ({}): it stays, without its overlay uplink; stop \
             again once they are gone to delete it",
            o.bridge,
            guests.join(", ")
        );
    }
    // A kept bridge keeps its record, so that a later stop still knows it is ours.
    if !rec.is_empty() && !keep_bridge {
        p.push(crate::plan::remove_record(
            "forget the overlay record",
            &record(&o.bridge),
        ));
    }
    Ok(HostPlanned::Plan {
        intro: format!(
            "network-bridge: removing overlay vxlan VNI {} from bridge {}",
            o.vni, o.bridge
        ),
        plan: p,
    })
}

/// One VXLAN uplink as the host has it now: what `status` (and `xennet map`) show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveOverlay {
    pub vxlan: String,
    pub vni: u32,
    /// The bridge it is a port of.
    pub bridge: Option<String>,
    pub local: String,
    pub underlay: String,
    pub port: u16,
    pub mtu: u32,
    pub up: bool,
    /// The destinations of its all-zeros flood entries.
    pub peers: Vec<String>,
}

/// Every VXLAN device on the host (`ip -d -j link show type vxlan`), sorted by name.
pub fn live(runner: &dyn Runner) -> Vec<LiveOverlay> {
    let out = runner
        .run(&ip(["-d", "-j", "link", "show", "type", "vxlan"]))
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_default();
    let mut all: Vec<LiveOverlay> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            let d = &l["linkinfo"]["info_data"];
            let name = l["ifname"].as_str()?.to_string();
            Some(LiveOverlay {
                vni: u32::try_from(d["id"].as_u64()?).ok()?,
                bridge: l["master"].as_str().map(str::to_string),
                local: d["local"]
                    .as_str()
                    .or(d["local6"].as_str())
                    .unwrap_or("?")
                    .to_string(),
                underlay: d["link"].as_str().unwrap_or("?").to_string(),
                port: d["port"]
                    .as_u64()
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or(0),
                mtu: l["mtu"]
                    .as_u64()
                    .and_then(|m| u32::try_from(m).ok())
                    .unwrap_or(0),
                up: l["flags"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|x| x == "UP")),
                peers: flood_peers(&name, runner),
                vxlan: name,
            })
        })
        .collect();
    all.sort_by(|a, b| a.vxlan.cmp(&b.vxlan));
    all
}

/// `status` for an overlay: the bridge, its VXLAN uplink and peers, and what was learned.
/// Returns false when the overlay is not up.
pub fn status(inv: &Invocation, runner: &dyn Runner) -> Result<bool, String> {
    let o = settings(inv, false)?;
    let rule = "=".repeat(60);
    let mut out = String::new();
    out.push_str(&format!("{rule}\n"));
    let link = state::link(&o.vxlan);
    let ok = link
        .as_ref()
        .is_some_and(|l| l.up && l.master.as_deref() == Some(o.bridge.as_str()));
    match live(runner).into_iter().find(|l| l.vxlan == o.vxlan) {
        Some(l) => {
            out.push_str(&format!(
                "overlay: vxlan VNI {} on bridge {} via {} ({}), underlay {} local {} port {}, MTU {}\n",
                l.vni,
                l.bridge.as_deref().unwrap_or("(none)"),
                l.vxlan,
                if l.up { "up" } else { "down" },
                l.underlay,
                l.local,
                l.port,
                l.mtu
            ));
            out.push_str(&format!(
                "peers: {}\n",
                if l.peers.is_empty() {
                    "none".to_string()
                } else {
                    l.peers.join(", ")
                }
            ));
        }
        None => out.push_str(&format!(
            "overlay: {} does not exist: the overlay VNI {} is not started\n",
            o.vxlan, o.vni
        )),
    }
    let ports = state::ports(&o.bridge);
    out.push_str(&format!(
        "bridge {}: {}\n",
        o.bridge,
        if state::link(&o.bridge).is_some_and(|l| l.is_bridge) {
            format!(
                "ports {}",
                if ports.is_empty() {
                    "none".into()
                } else {
                    ports.join(", ")
                }
            )
        } else {
            "does not exist".into()
        }
    ));
    if link.is_some() {
        out.push_str(&format!("learned (bridge fdb show dev {}):\n", o.vxlan));
        let fdb = runner
            .run(&Cmd::new("bridge").args(["fdb", "show", "dev", &o.vxlan]))
            .unwrap_or_default();
        for l in fdb
            .lines()
            .filter(|l| !l.starts_with("33:33") && !l.starts_with("01:00"))
        {
            out.push_str(&format!("  {l}\n"));
        }
    }
    out.push_str(&format!("{rule}\n"));
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn inv(args: &[&str]) -> Invocation {
        let argv = std::iter::once("network-bridge")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        let known = crate::scripts::find("network-bridge")
            .unwrap()
            .known_names();
        assert!(
            KEYS.iter().all(|k| known.contains(k)),
            "network-bridge must know {KEYS:?}"
        );
        Invocation::parse(argv, Vec::new(), &known).unwrap()
    }

    #[test]
    fn settings_are_checked() {
        let o = settings(
            &inv(&[
                "start",
                "overlay=vxlan",
                "vni=42",
                "peers=198.51.100.2,198.51.100.3",
            ]),
            true,
        )
        .unwrap();
        assert_eq!(o.vni, 42);
        assert_eq!(o.bridge, "vxbr42");
        assert_eq!(o.vxlan, "vxlan42");
        assert_eq!(o.dstport, 4789);
        assert_eq!(o.peers.len(), 2);
        let o = settings(
            &inv(&[
                "start",
                "overlay=vxlan",
                "vni=16777215",
                "peers=2001:db8::2",
                "dstport=8472",
                "bridge=t1",
            ]),
            true,
        )
        .unwrap();
        assert_eq!(
            (o.vxlan.as_str(), o.dstport, o.bridge.as_str()),
            ("vxlan16777215", 8472, "t1")
        );
        for (args, names) in [
            (
                &["overlay=gre", "vni=1", "peers=198.51.100.2"][..],
                "overlay=\"gre\"",
            ),
            (&["overlay=vxlan", "peers=198.51.100.2"][..], "vni=N"),
            (
                &["overlay=vxlan", "vni=0", "peers=198.51.100.2"][..],
                "vni=\"0\"",
            ),
            (
                &["overlay=vxlan", "vni=16777216", "peers=198.51.100.2"][..],
                "16777216",
            ),
            (&["overlay=vxlan", "vni=4"][..], "peers="),
            (
                &["overlay=vxlan", "vni=4", "peers=198.51.100.300"][..],
                "198.51.100.300",
            ),
            (
                &["overlay=vxlan", "vni=4", "peers=198.51.100.2,2001:db8::2"][..],
                "mixes",
            ),
            (
                &["overlay=vxlan", "vni=4", "peers=198.51.100.2,198.51.100.2"][..],
                "twice",
            ),
            (
                &["overlay=vxlan", "vni=4", "peers=224.0.0.1"][..],
                "unicast",
            ),
            (
                &["overlay=vxlan", "vni=4", "peers=198.51.100.2", "dstport=0"][..],
                "dstport",
            ),
            (
                &[
                    "overlay=vxlan",
                    "vni=4",
                    "peers=198.51.100.2",
                    "dstport=65536",
                ][..],
                "dstport",
            ),
            (
                &["overlay=vxlan", "vni=4", "peers=198.51.100.2", "local=x"][..],
                "local",
            ),
            (
                &[
                    "overlay=vxlan",
                    "vni=4",
                    "peers=198.51.100.2",
                    "local=198.51.100.2",
                ][..],
                "own",
            ),
            (
                &[
                    "overlay=vxlan",
                    "vni=4",
                    "peers=198.51.100.2",
                    "underlay=a/b",
                ][..],
                "a/b",
            ),
        ] {
            let mut a = vec!["start"];
            a.extend_from_slice(args);
            let e = settings(&inv(&a), true).unwrap_err();
            assert!(e.contains(names), "{args:?}: {e}");
        }
        // stop and status need no peers.
        assert!(settings(&inv(&["stop", "overlay=vxlan", "vni=4"]), false).is_ok());
    }

    #[test]
    fn vxlan_device_command() {
        assert_eq!(
            vxlan_add("vxlan42", 42, 4789, "198.51.100.1", "eth1", 1500, None).line(),
            "ip link add name vxlan42 mtu 1500 type vxlan id 42 dstport 4789 local 198.51.100.1 dev eth1"
        );
        assert_eq!(
            fdb("append", "vxlan42", "198.51.100.2").line(),
            "bridge fdb append 00:00:00:00:00:00 dev vxlan42 dst 198.51.100.2"
        );
        let a: IpAddr = "198.51.100.1".parse().unwrap();
        let b: IpAddr = "198.51.100.2".parse().unwrap();
        assert_eq!(bridge_mac(&a, 42), bridge_mac(&a, 42));
        assert_ne!(bridge_mac(&a, 42), bridge_mac(&b, 42));
        assert_ne!(bridge_mac(&a, 42), bridge_mac(&a, 43));
        assert!(bridge_mac(&a, 42).starts_with("02:"));
    }
}
