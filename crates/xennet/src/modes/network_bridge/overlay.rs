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

use crate::bridge;
use crate::bridge::FLOOD;
use crate::error::{Error, Note, Outcome, Planned, Result};
use crate::exec::{ip, Cmd, Runner};
use crate::invocation::Invocation;
use crate::plan::{Action, Plan, Step};
use crate::snapshot::{Reader, Snapshot, Vxlan};
use crate::state::Link;
use crate::validate::{self, Invalid};
use std::net::IpAddr;

/// The names `network-bridge` reads for an overlay.
pub const KEYS: &[&str] = &[
    "overlay", "vni", "peers", "rr", "asn", "dstport", "local", "underlay",
];

/// The guests' frame size the overlay carries without fragmenting.
pub const GUEST_MTU: u32 = 1500;

/// The IANA VXLAN port.
pub const DEFAULT_DSTPORT: u16 = 4789;

/// How the hosts of an overlay find each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// `overlay=vxlan`: every other host listed (`peers=`), one flood entry each, MACs learned
    /// from the frames.
    Static,
    /// `overlay=evpn`: FRR's BGP EVPN through route reflectors (`rr=`, in `peers`), MACs
    /// learned from BGP (issue 18, [`super::frr`]).
    Evpn { asn: Option<u32> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overlay {
    pub vni: u32,
    pub control: Control,
    /// Every other host of the overlay, or (EVPN) the route reflectors; empty only for
    /// `stop`/`status`, which do not need them.
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

/// The registry's check of `overlay=`.
pub fn check(what: &str, v: &str) -> std::result::Result<(), Invalid> {
    kind(what, v).map(|_| ())
}

/// The kinds of overlay: `overlay=vxlan` (static peers) and `overlay=evpn` (BGP EVPN).
pub fn kind<'a>(what: &str, v: &'a str) -> std::result::Result<&'a str, Invalid> {
    match v {
        "vxlan" | "evpn" => Ok(v),
        other => Err(Invalid(format!(
            "{what}={other:?} is not a known overlay: use overlay=vxlan (a handful of hosts, \
             each listing the others) or overlay=evpn (a pool, through BGP route reflectors)"
        ))),
    }
}

/// The registry's check of `asn=`: a BGP AS number, as FRR reads one.
pub fn check_asn(what: &str, v: &str) -> std::result::Result<(), Invalid> {
    asn(what, v).map(|_| ())
}

fn asn(what: &str, v: &str) -> std::result::Result<u32, Invalid> {
    crate::evpn::parse_asn(v).ok_or_else(|| {
        Invalid(format!(
            "{what}={v:?} is not an AS number: give 1 to 4294967295 (default 65000)"
        ))
    })
}

fn bad(msg: impl Into<String>) -> Error {
    Error::Invalid(Invalid(msg.into()))
}

/// Reads and checks every overlay setting; `need_peers` for `start`.
pub fn settings(inv: &Invocation, need_peers: bool) -> Result<Overlay> {
    let kind = kind("overlay", inv.value("overlay"))?;
    let evpn = kind == "evpn";
    let vni = match inv.get("vni").filter(|v| !v.is_empty()) {
        None => {
            return Err(bad(format!(
                "overlay={kind} needs vni=N, the tenant network's number (1 to 16777215), the \
                 same on every host"
            )))
        }
        Some(v) => validate::vni("vni", v)?,
    };
    let dstport = match inv.get("dstport").filter(|v| !v.is_empty()) {
        None => DEFAULT_DSTPORT,
        Some(v) => validate::port("dstport", v, DEFAULT_DSTPORT)?,
    };
    let local = match inv.get("local").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => Some(validate::host_addr("local", v)?),
    };
    // The hosts to reach: the other hosts (vxlan) or the route reflectors (evpn).
    let (list, listed) = if evpn {
        ("rr", "route reflector")
    } else {
        ("peers", "other host")
    };
    let control = if evpn {
        let asn = match inv.get("asn").filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => Some(asn("asn", v)?),
        };
        if let Some(l) = local.filter(IpAddr::is_ipv6) {
            return Err(bad(format!(
                "local={l} is IPv6, but FRR's EVPN tunnel endpoints are IPv4: give an IPv4 local="
            )));
        }
        Control::Evpn { asn }
    } else {
        Control::Static
    };
    let mut peers = Vec::new();
    for p in inv.value(list).split(',').filter(|p| !p.trim().is_empty()) {
        let a = validate::host_addr(list, p)?;
        if Some(a) == local {
            return Err(bad(format!(
                "{list}={p} is this host's own local= address: list only the {listed}s"
            )));
        }
        if peers.contains(&a) {
            return Err(bad(format!(
                "{list} lists {a} twice: list each {listed} once"
            )));
        }
        if peers
            .first()
            .is_some_and(|f: &IpAddr| f.is_ipv4() != a.is_ipv4())
        {
            return Err(bad(format!(
                "{list} mixes IPv4 and IPv6 ({} and {a}): one overlay runs over one address family",
                peers[0]
            )));
        }
        if evpn && a.is_ipv6() {
            return Err(bad(format!(
                "rr={a} is IPv6, but FRR's EVPN runs over IPv4 here: give the reflectors' IPv4 \
                 addresses"
            )));
        }
        peers.push(a);
    }
    if need_peers && peers.is_empty() {
        return Err(bad(if evpn {
            "overlay=evpn needs rr=IP[,IP…], the underlay addresses of the BGP route reflectors"
        } else {
            "overlay=vxlan needs peers=A[,B…], the underlay addresses of the other hosts"
        }));
    }
    if let (Some(l), Some(p)) = (local, peers.first()) {
        if l.is_ipv4() != p.is_ipv4() {
            return Err(bad(format!(
                "local={l} and {list} ({p}) are of different address families"
            )));
        }
    }
    let underlay = match inv.get("underlay").filter(|v| !v.is_empty()) {
        None => None,
        Some(u) => {
            validate::ifname("underlay", u)?;
            Some(u.to_string())
        }
    };
    let bridge = match inv.get("bridge").filter(|v| !v.is_empty()) {
        Some(b) => {
            validate::ifname("bridge", b)?;
            b.to_string()
        }
        None => format!("vxbr{vni}"),
    };
    Ok(Overlay {
        vni,
        control,
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
fn underlay_of(o: &Overlay, snap: &Snapshot) -> Result<(String, IpAddr)> {
    let peer = o.peers[0].to_string();
    let route = snap.route_get(&peer)?;
    let dev = match (&o.underlay, route) {
        (Some(u), _) => u.clone(),
        (None, Some(r)) => r.dev.clone().unwrap_or_default(),
        (None, None) => String::new(),
    };
    if dev.is_empty() {
        return Err(Error::refused(format!(
            "no route to peer {peer}: give the underlay device with underlay=DEV (and local=ADDR)"
        )));
    }
    if !snap.exists(&dev)? {
        return Err(Error::refused(format!(
            "underlay {dev} does not exist: name the device towards the other hosts with underlay=DEV"
        )));
    }
    let local = match (o.local, route) {
        (Some(l), _) => Some(l),
        (None, Some(r)) => r.prefsrc.as_deref().and_then(|s| s.parse().ok()),
        (None, None) => None,
    };
    let Some(local) = local else {
        return Err(Error::refused(format!(
            "cannot tell this host's underlay address towards {peer}: give it with local=ADDR"
        )));
    };
    let mine = snap.addrs(&dev)?;
    if !mine
        .iter()
        .any(|a| a.local.parse::<IpAddr>().ok() == Some(local))
    {
        return Err(Error::refused(format!(
            "local={local} is not an address of the underlay {dev}: give local= one of {dev}'s \
             addresses, or underlay= the device that holds {local}"
        )));
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
/// The VXLAN device as `ip link add` makes it; `mac` for the undo of its deletion, `learning`
/// false for EVPN, whose remote MACs come from BGP only.
struct VxlanDev<'a> {
    name: &'a str,
    vni: u32,
    port: u16,
    local: &'a str,
    underlay: &'a str,
    mtu: u32,
    mac: Option<&'a str>,
    learning: bool,
}

fn vxlan_add(d: &VxlanDev) -> Cmd {
    let mut c = ip(["link", "add", "name", d.name]);
    if let Some(m) = d.mac {
        c = c.args(["address", m]);
    }
    c = c.args([
        "mtu",
        &d.mtu.to_string(),
        "type",
        "vxlan",
        "id",
        &d.vni.to_string(),
        "dstport",
        &d.port.to_string(),
        "local",
        d.local,
        "dev",
        d.underlay,
    ]);
    if !d.learning {
        c = c.arg("nolearning");
    }
    c
}

/// EVPN's port flags on the VXLAN device (after it is a port): no learning from the underlay,
/// ARP and ND answered on this host for the guests BGP told about.
fn port_flags(vxlan: &str) -> Cmd {
    Cmd::new("bridge").args([
        "link",
        "set",
        "dev",
        vxlan,
        "learning",
        "off",
        "neigh_suppress",
        "on",
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

/// Is `bridge` the bridge of an `overlay=evpn` VNI? vif-bridge then tells the bridge each
/// guest's addresses, so that FRR advertises them and the other hosts answer ARP for them.
pub fn is_evpn_bridge(bridge: &str, snap: &Snapshot) -> Result<bool> {
    Ok(snap
        .file(record(bridge))?
        .is_some_and(|r| r.split_whitespace().any(|w| w == "overlay=evpn")))
}

/// A guest's address on an EVPN bridge (permanent, so it never ages out while the guest runs),
/// and its removal.
pub fn guest_neigh(bridge: &str, ip: &str, mac: &str) -> (Cmd, Cmd) {
    (
        crate::exec::ip([
            "neigh",
            "replace",
            ip,
            "lladdr",
            mac,
            "dev",
            bridge,
            "nud",
            "permanent",
        ]),
        crate::exec::ip(["neigh", "del", ip, "dev", bridge]),
    )
}

/// Did an earlier `start` create this bridge (so `stop` may delete it)?
fn created_by_us(bridge: &str, snap: &Snapshot) -> Result<bool> {
    Ok(snap
        .file(record(bridge))?
        .unwrap_or_default()
        .split_whitespace()
        .any(|w| w == "created_bridge=yes"))
}

/// `network-bridge start|stop … overlay=vxlan`.
pub fn plan(start: bool, inv: &Invocation, snap: &Snapshot) -> Result<Outcome> {
    let o = settings(inv, start)?;
    if start {
        plan_start(&o, snap)
    } else {
        plan_stop(&o, snap)
    }
}

fn plan_start(o: &Overlay, snap: &Snapshot) -> Result<Outcome> {
    if let Some(l) = snap.link(&o.vxlan)? {
        return match l.master.as_deref() {
            Some(m) if m == o.bridge => Ok(Outcome::Nothing(format!(
                "{} is already the overlay uplink of {}: nothing to do",
                o.vxlan, o.bridge
            ))),
            _ => Err(Error::refused(format!(
                "{} exists but is not a port of {}: remove it (ip link del {}) or run stop first",
                o.vxlan, o.bridge, o.vxlan
            ))),
        };
    }
    let existing = snap.link(&o.bridge)?;
    if existing.is_some_and(|l| !l.is_bridge) {
        return Err(Error::refused(format!(
            "bridge={} names an existing link that is not a bridge: choose another name",
            o.bridge
        )));
    }
    let (dev, local) = underlay_of(o, snap)?;
    let under = snap.link(&dev)?.ok_or_else(|| {
        Error::refused(format!("underlay {dev} does not exist: name the device towards the other hosts with underlay=DEV"))
    })?;
    let mtu = existing.map_or(GUEST_MTU, |l| l.mtu);
    let need = mtu + overhead(local.is_ipv6());
    if under.mtu < need {
        return Err(Error::refused(format!(
            "the underlay {dev} has MTU {}, but VXLAN over {} adds {} bytes, so {mtu}-byte guest \
             frames need an underlay MTU of at least {need}: raise it on every host (ip link set \
             dev {dev} mtu {need}) and on the switches between them",
            under.mtu,
            if local.is_ipv6() { "IPv6" } else { "IPv4" },
            overhead(local.is_ipv6())
        )));
    }
    let local_s = local.to_string();
    let mut p = Plan::default();
    let mut notes = Vec::new();
    let evpn = matches!(o.control, Control::Evpn { .. });
    if let Control::Evpn { asn } = o.control {
        // FRR first: a host whose FRR cannot take the configuration is told so before any
        // link is made.
        let (steps, frr_notes) = super::frr::start(o.vni, asn, local, &o.peers, snap)?;
        p.extend(steps);
        notes.extend(frr_notes);
    }
    // A bridge an earlier start made (and a stop kept, as guests were on it) is still ours.
    let created = existing.is_none() || created_by_us(&o.bridge, snap)?;
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
            vxlan_add(&VxlanDev {
                name: &o.vxlan,
                vni: o.vni,
                port: o.dstport,
                local: &local_s,
                underlay: &dev,
                mtu,
                mac: None,
                learning: !evpn,
            }),
        )
        .undo(ip(["link", "del", "dev", &o.vxlan])),
    );
    if !evpn {
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
    }
    p.push(bridge::enslave(&o.bridge, &o.vxlan));
    if evpn {
        // Steps on a device this plan made need no undo: deleting it takes them along.
        p.push(Step::run(
            format!(
                "{}: no learning, ARP answered here (neigh_suppress)",
                o.vxlan
            ),
            port_flags(&o.vxlan),
        ));
    }
    p.push(bridge::link_up(&o.vxlan));
    if !existing.is_some_and(|l| l.up) {
        p.push(bridge::link_up(&o.bridge));
    }
    p.push(crate::plan::write_record(
        "remember what stop removes",
        &record(&o.bridge),
        format!(
            "vxlan={} vni={} created_bridge={} overlay={}",
            o.vxlan,
            o.vni,
            if created { "yes" } else { "no" },
            if evpn { "evpn" } else { "vxlan" }
        ),
        snap.file(record(&o.bridge))?,
    ));
    let peers: Vec<String> = o.peers.iter().map(IpAddr::to_string).collect();
    let who = match o.control {
        Control::Static => format!("peers {}", peers.join(", ")),
        Control::Evpn { .. } => format!("BGP EVPN through route reflectors {}", peers.join(", ")),
    };
    Ok(Outcome::Plan(
        Planned::new(p)
            .intro(format!(
                "network-bridge: overlay {} VNI {} on bridge {} via {} (underlay {dev}, local \
                 {local_s}, port {}), {who}",
                if evpn { "evpn" } else { "vxlan" },
                o.vni,
                o.bridge,
                o.vxlan,
                o.dstport,
            ))
            .notes(notes),
    ))
}

/// The command that makes the live VXLAN device again as it is (a rollback of `stop`).
fn remake(v: &Vxlan) -> Cmd {
    vxlan_add(&VxlanDev {
        name: &v.name,
        vni: v.vni,
        port: v.port,
        local: &v.local,
        underlay: &v.underlay,
        mtu: v.mtu,
        mac: Some(&v.address),
        learning: v.learning,
    })
}

/// Takes the VXLAN device out, every step with its exact undo: the flood entries first, the
/// device (made again as it was, MAC included, on a rollback) last.
fn remove_vxlan(o: &Overlay, link: &Link, snap: &Snapshot) -> Result<Vec<Step>> {
    let mut p = Vec::new();
    let live = snap.vxlan(&o.vxlan)?;
    for peer in live.map(|l| l.peers.clone()).unwrap_or_default() {
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
        let back = Action::Run(ip(["link", "set", "dev", &o.vxlan, "master", m]));
        // An EVPN port gets its flags back with its place in the bridge.
        let back = match live {
            Some(v) if !v.learning => Action::Seq(vec![back, Action::Run(port_flags(&o.vxlan))]),
            _ => back,
        };
        p.push(
            Step::run(
                format!("remove {} from bridge {m}", o.vxlan),
                ip(["link", "set", "dev", &o.vxlan, "nomaster"]),
            )
            .undo_action(back),
        );
    }
    let mut del = Step::run(
        format!("delete {}", o.vxlan),
        ip(["link", "del", "dev", &o.vxlan]),
    );
    if let Some(v) = live {
        del = del.undo(remake(v));
    }
    p.push(del);
    Ok(p)
}

fn plan_stop(o: &Overlay, snap: &Snapshot) -> Result<Outcome> {
    let created_bridge = created_by_us(&o.bridge, snap)? && snap.exists(&o.bridge)?;
    let link = snap.link(&o.vxlan)?;
    // A bridge kept by an earlier stop (guests were on it) is still to be deleted.
    if link.is_none() && !created_bridge {
        return Ok(Outcome::Nothing(format!(
            "{} does not exist: no overlay to stop",
            o.vxlan
        )));
    }
    let rec = snap.file(record(&o.bridge))?.unwrap_or_default();
    let mut p = Plan::default();
    let mut notes = Vec::new();
    if let Some(link) = link {
        p.extend(remove_vxlan(o, link, snap)?);
    }
    // FRR's part after the device: the VNI's routes go with it first.
    let evpn = matches!(o.control, Control::Evpn { .. });
    if evpn {
        let (steps, frr_notes) = super::frr::stop(o.vni, snap)?;
        p.extend(steps);
        notes.extend(frr_notes);
    }
    let guests: Vec<String> = snap
        .ports(&o.bridge)?
        .iter()
        .filter(|d| **d != o.vxlan)
        .cloned()
        .collect();
    let keep_bridge = created_bridge && !guests.is_empty();
    if created_bridge && guests.is_empty() {
        // Last of the links: nothing can fail after it, and it has no undo (NB-18's rule).
        p.push(Step::run(
            format!("delete bridge {}", o.bridge),
            ip(["link", "del", "dev", &o.bridge]),
        ));
    } else if keep_bridge {
        notes.push(Note::Warn(format!(
            "bridge {} still has guest ports ({}): it stays, without its overlay uplink; stop \
             again once they are gone to delete it",
            o.bridge,
            guests.join(", ")
        )));
    }
    // A kept bridge keeps its record, so that a later stop still knows it is ours.
    if !rec.is_empty() && !keep_bridge {
        p.push(crate::plan::remove_record(
            "forget the overlay record",
            &record(&o.bridge),
        ));
    }
    Ok(Outcome::Plan(
        Planned::new(p)
            .intro(format!(
                "network-bridge: removing overlay {} VNI {} from bridge {}",
                if evpn { "evpn" } else { "vxlan" },
                o.vni,
                o.bridge
            ))
            .notes(notes),
    ))
}

/// `status` for an overlay: the bridge, its VXLAN uplink and peers, and what was learned.
/// Returns false when the overlay is not up.
pub fn status(inv: &Invocation, reader: &dyn Reader, runner: &dyn Runner) -> Result<bool> {
    let o = settings(inv, false)?;
    let mut snap = Snapshot::new();
    let (link, live, ports, is_bridge) = crate::snapshot::plan(reader, &mut snap, |s| {
        Ok((
            s.link(&o.vxlan)?.cloned(),
            s.vxlan(&o.vxlan)?.cloned(),
            s.ports(&o.bridge)?.to_vec(),
            s.link(&o.bridge)?.is_some_and(|l| l.is_bridge),
        ))
    })?;
    let rule = "=".repeat(60);
    let mut out = String::new();
    out.push_str(&format!("{rule}\n"));
    let ok = link
        .as_ref()
        .is_some_and(|l| l.up && l.master.as_deref() == Some(o.bridge.as_str()));
    match live {
        Some(l) => {
            out.push_str(&format!(
                "overlay: vxlan VNI {} on bridge {} via {} ({}), underlay {} local {} port {}, MTU {}\n",
                l.vni,
                l.bridge.as_deref().unwrap_or("(none)"),
                l.name,
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
    out.push_str(&format!(
        "bridge {}: {}\n",
        o.bridge,
        if is_bridge {
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
    if let (Control::Evpn { .. }, true) = (&o.control, link.is_some()) {
        out.push_str(&super::frr::status(o.vni, runner));
    }
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
            let e = settings(&inv(&a), true).unwrap_err().to_string();
            assert!(e.contains(names), "{args:?}: {e}");
        }
        // stop and status need no peers.
        assert!(settings(&inv(&["stop", "overlay=vxlan", "vni=4"]), false).is_ok());
    }

    #[test]
    fn vxlan_device_command() {
        assert_eq!(
            vxlan_add(&VxlanDev {
                name: "vxlan42",
                vni: 42,
                port: 4789,
                local: "198.51.100.1",
                underlay: "eth1",
                mtu: 1500,
                mac: None,
                learning: true
            })
            .line(),
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
