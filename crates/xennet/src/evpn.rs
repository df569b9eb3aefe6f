//! The BGP EVPN control plane of the VXLAN overlay (issue 18), below its planner: what FRR must be
//! told for `network-bridge start overlay=evpn vni=N rr=IP[,IP…] [asn=] [local=]`, what `stop`
//! takes back, and what `status` shows. Pure functions over text FRR prints — no process, no file:
//! the planner reads `vtysh -c 'show running-config'` and the record this module wrote, and gets
//! `vtysh` command lines with their undo.
//!
//! The data plane stays the kernel's (bridge `vxbr<N>`, `vxlan<N> … nolearning`, port `learning off
//! neigh_suppress on`); FRR's zebra finds every VXLAN device that is a bridge port and bgpd
//! advertises it (`advertise-all-vni`): type-3 routes make the flood list, type-2 routes install
//! remote MACs as `extern_learn` entries.
//!
//! What we add, each only when missing from the running configuration:
//!
//! ```text
//! router bgp 65000                                   Item::Router (when FRR has no BGP instance)
//!  bgp router-id <local>                               (part of Router)
//!  no bgp default ipv4-unicast                         (part of Router)
//!  neighbor <rr> remote-as internal                  Item::Neighbor, one per reflector
//!  neighbor <rr> update-source <local>                 (part of Neighbor)
//!  address-family ipv4 unicast                         (part of Neighbor, only in an instance
//!   no neighbor <rr> activate                           that activates IPv4 by default)
//!  address-family l2vpn evpn
//!   neighbor <rr> activate                           Item::Activate
//!   advertise-all-vni                                Item::AdvertiseAllVni
//! ```
//!
//! Ownership: an item found in the configuration and not in our [`Record`] is the
//! administrator's and is never removed. The record holds, for each item we added, the VNIs that
//! use it (one record per host: every EVPN VNI shares the session and `advertise-all-vni`);
//! `stop` of the last VNI using an item removes it. `router bgp` goes only if we made it and
//! nothing but our items is left in it.
//!
//! Quirks found on FRR 8.4.4 (Debian 12) and checked against the 10.3 sources (Debian 13):
//! - `vtysh -c A -c B …` stops at the first failing command but keeps what the earlier ones did:
//!   it is no transaction, so each [`Change`] is one `vtysh` call with its own undo.
//! - `router bgp N` while FRR runs AS M: "BGP is already running; AS is M", exit 1.
//! - `no router bgp N` when there is none: "% Can't find BGP instance", exit 1; `no neighbor X`
//!   and `no advertise-all-vni` for what is not there exit 0. Removals are only planned for what
//!   the running configuration shows.
//! - `show evpn vni N json`: 8.4 puts the remote VTEPs as a list of strings under
//!   `numRemoteVteps`; 10.3 has a count there and `remoteVteps: [{"ip", "flood"}]`. `show evpn vni
//!   json` has `remoteVteps: ["ip"…]` in both. A VNI zebra does not know prints `{}`; no VNI at all
//!   prints nothing.
//! - `show bgp l2vpn evpn route json`: one object per RD, paths as a list of lists (both).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// `asn=` when neither the user nor FRR names one.
pub const DEFAULT_ASN: u32 = 65000;

/// The highest VXLAN network identifier (24 bits).
pub const MAX_VNI: u32 = 16_777_215;

/// What stops the EVPN planning, with the sentence a user sees.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvpnError {
    /// A setting that cannot work (`vni=`, `asn=`, `local=`, `rr=`).
    #[error("{0}")]
    Invalid(String),
    /// FRR is set up in a way the overlay cannot join (another AS).
    #[error("{0}")]
    Conflict(String),
    /// What FRR printed, or our record, cannot be read.
    #[error("{0}")]
    Unreadable(String),
}

// ---------------------------------------------------------------------------------------------
// What a start wants

/// What one `start overlay=evpn` needs from FRR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Want {
    pub vni: u32,
    /// `asn=`; None: the AS of FRR's BGP instance if it has one, else [`DEFAULT_ASN`].
    pub asn: Option<u32>,
    /// This host's VTEP address (`local=`, the VXLAN device's `local`): the router-id of an
    /// instance we create, and the source of the sessions to the reflectors. FRR's EVPN VTEPs
    /// are IPv4 only (8.4 and 10.3).
    pub local: Ipv4Addr,
    /// The route reflectors (`rr=`), in the order given.
    pub reflectors: Vec<IpAddr>,
}

impl Want {
    /// Checks the values before anything is planned.
    pub fn check(&self) -> Result<(), EvpnError> {
        if !(1..=MAX_VNI).contains(&self.vni) {
            return Err(EvpnError::Invalid(format!(
                "vni={} is not a VXLAN id: give a number from 1 to {MAX_VNI}",
                self.vni
            )));
        }
        if self.asn == Some(0) {
            return Err(EvpnError::Invalid(
                "asn=0 is not an AS number: give 1 to 4294967295 (default 65000)".into(),
            ));
        }
        if self.local.is_unspecified()
            || self.local.is_loopback()
            || self.local.is_multicast()
            || self.local.is_broadcast()
        {
            return Err(EvpnError::Invalid(format!(
                "local={} is not a unicast address of this host's underlay",
                self.local
            )));
        }
        if self.reflectors.is_empty() {
            return Err(EvpnError::Invalid(
                "overlay=evpn needs rr=IP[,IP…], the underlay addresses of the BGP route reflectors"
                    .into(),
            ));
        }
        let mut seen = BTreeSet::new();
        for r in &self.reflectors {
            if r.is_unspecified() || r.is_loopback() || r.is_multicast() {
                return Err(EvpnError::Invalid(format!(
                    "rr={r} is not a unicast address of a route reflector"
                )));
            }
            if *r == IpAddr::V4(self.local) {
                return Err(EvpnError::Invalid(format!(
                    "rr={r} is this host's own local= address: name the route reflectors, not this host"
                )));
            }
            if !seen.insert(*r) {
                return Err(EvpnError::Invalid(format!(
                    "rr lists {r} twice: list each route reflector once"
                )));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The data plane's commands

/// The underlay MTU a VNI needs: 1500-byte guest frames plus VXLAN over IPv4 (50 bytes), the
/// rule of `overlay=vxlan` (EVPN's VTEPs are IPv4).
pub const UNDERLAY_MTU_MIN: u32 = 1550;

/// The IANA VXLAN port.
pub const DSTPORT: u16 = 4789;

/// The kernel side of one EVPN VNI, as `ip`/`bridge` argument lists (without the program's
/// path): FRR finds the VXLAN device once it is up in a bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataPlane {
    pub vni: u32,
    /// `bridge=`, default `vxbr<VNI>`.
    pub bridge: String,
    /// `vxlan<VNI>`.
    pub vxlan: String,
    pub local: Ipv4Addr,
    /// The underlay device (`underlay=`, or the route to the reflector).
    pub underlay: String,
}

impl DataPlane {
    pub fn new(vni: u32, local: Ipv4Addr, underlay: &str, bridge: Option<&str>) -> DataPlane {
        DataPlane {
            vni,
            bridge: bridge.map_or_else(|| format!("vxbr{vni}"), str::to_string),
            vxlan: format!("vxlan{vni}"),
            local,
            underlay: underlay.to_string(),
        }
    }

    fn words(v: &[&str]) -> Vec<String> {
        v.iter().map(|w| w.to_string()).collect()
    }

    /// `ip link add name vxlan<N> mtu 1500 type vxlan id <N> dstport 4789 local <L> dev <U>
    /// nolearning`: remote MACs come from BGP only (undo: `ip link del vxlan<N>`).
    pub fn vxlan_add(&self) -> Vec<String> {
        Self::words(&[
            "link",
            "add",
            "name",
            &self.vxlan,
            "mtu",
            "1500",
            "type",
            "vxlan",
            "id",
            &self.vni.to_string(),
            "dstport",
            &DSTPORT.to_string(),
            "local",
            &self.local.to_string(),
            "dev",
            &self.underlay,
            "nolearning",
        ])
    }

    /// `bridge link set dev vxlan<N> learning off neigh_suppress on`, after the device is a
    /// port of the bridge (undo: none needed, the flags go with the device).
    pub fn port_flags(&self) -> Vec<String> {
        Self::words(&[
            "link",
            "set",
            "dev",
            &self.vxlan,
            "learning",
            "off",
            "neigh_suppress",
            "on",
        ])
    }
}

// ---------------------------------------------------------------------------------------------
// The running configuration

/// What this module reads of `show running-config`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrrConfig {
    /// `frr version 8.4.4`.
    pub version: Option<String>,
    /// The default VRF's `router bgp N` block, if any.
    pub bgp: Option<BgpInstance>,
    /// Headers of the other BGP instances (`router bgp N vrf X`, `… view X`): while one exists,
    /// FRR refuses to delete the default instance.
    pub other_instances: Vec<String>,
}

/// One `router bgp` block, as lines without their indentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpInstance {
    pub asn: u32,
    /// The block's own lines (` bgp router-id …`, ` neighbor …`), in order.
    pub lines: Vec<String>,
    /// `address-family <name>` sub-blocks: name (`ipv4 unicast`, `l2vpn evpn`) and lines.
    pub families: Vec<(String, Vec<String>)>,
}

/// `65000`, or asdot `1.10` (= 65546), as FRR 10 may print it.
pub fn parse_asn(s: &str) -> Option<u32> {
    if let Some((hi, lo)) = s.split_once('.') {
        let hi: u32 = hi.parse().ok()?;
        let lo: u32 = lo.parse().ok()?;
        if hi > 0xffff || lo > 0xffff {
            return None;
        }
        return Some((hi << 16) | lo);
    }
    s.parse().ok().filter(|a| *a != 0)
}

/// Parses `vtysh -c 'show running-config'` (whole, or `show running-config bgpd`).
pub fn parse_running_config(text: &str) -> Result<FrrConfig, EvpnError> {
    let mut cfg = FrrConfig::default();
    let mut lines = text.lines().peekable();
    while let Some(raw) = lines.next() {
        let line = raw.trim_end();
        if let Some(v) = line.strip_prefix("frr version ") {
            cfg.version = Some(v.trim().to_string());
            continue;
        }
        let Some(rest) = line.strip_prefix("router bgp") else {
            continue;
        };
        if !(rest.is_empty() || rest.starts_with(' ')) {
            continue;
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        let asn = words.first().and_then(|w| parse_asn(w)).ok_or_else(|| {
            EvpnError::Unreadable(format!(
                "FRR's running configuration has {line:?}, whose AS number this tool cannot read"
            ))
        })?;
        let default_vrf = !words.get(1).is_some_and(|w| *w == "vrf" || *w == "view");
        let mut inst = BgpInstance {
            asn,
            lines: Vec::new(),
            families: Vec::new(),
        };
        // The block: indented lines, up to `exit` (FRR 8+) or the next top-level line.
        while let Some(next) = lines.peek() {
            let l = next.trim_end();
            if l == "exit" {
                lines.next();
                break;
            }
            if !l.starts_with(' ') && !l.is_empty() && l != "!" {
                break;
            }
            lines.next();
            let t = l.trim();
            if t.is_empty() || t == "!" {
                continue;
            }
            if let Some(af) = t.strip_prefix("address-family ") {
                let mut body = Vec::new();
                for a in lines.by_ref() {
                    let a = a.trim();
                    if a == "exit-address-family" {
                        break;
                    }
                    if !a.is_empty() && a != "!" {
                        body.push(a.to_string());
                    }
                }
                inst.families.push((af.trim().to_string(), body));
                continue;
            }
            inst.lines.push(t.to_string());
        }
        if default_vrf {
            if cfg.bgp.is_some() {
                return Err(EvpnError::Unreadable(format!(
                    "FRR's running configuration has two default BGP instances (second: {line:?})"
                )));
            }
            cfg.bgp = Some(inst);
        } else {
            cfg.other_instances.push(line.to_string());
        }
    }
    Ok(cfg)
}

impl BgpInstance {
    /// The lines of one address family (empty when the block is not there).
    pub fn family(&self, name: &str) -> &[String] {
        self.families
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, l)| l.as_slice())
            .unwrap_or(&[])
    }

    /// `bgp router-id A.B.C.D`.
    pub fn router_id(&self) -> Option<Ipv4Addr> {
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix("bgp router-id "))
            .and_then(|v| v.trim().parse().ok())
    }

    /// New neighbors get IPv4 unicast unless `no bgp default ipv4-unicast` (FRR's default is on
    /// in 8.4 and 10.3, also with `frr defaults datacenter`).
    pub fn default_ipv4_unicast(&self) -> bool {
        !self
            .lines
            .iter()
            .any(|l| l == "no bgp default ipv4-unicast")
    }

    /// Is `peer` a neighbor (`remote-as`, or a member of a peer group)?
    pub fn has_neighbor(&self, peer: &IpAddr) -> bool {
        let p = format!("neighbor {peer} ");
        self.lines.iter().any(|l| {
            l.strip_prefix(&p)
                .is_some_and(|r| r.starts_with("remote-as ") || r.starts_with("peer-group "))
        })
    }

    /// The peer group `peer` belongs to.
    pub fn peer_group_of(&self, peer: &IpAddr) -> Option<&str> {
        let p = format!("neighbor {peer} peer-group ");
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(&p))
            .map(str::trim)
    }

    /// Is `peer` active in `address-family l2vpn evpn`, itself or through its peer group?
    pub fn evpn_active(&self, peer: &IpAddr) -> bool {
        let af = self.family("l2vpn evpn");
        let me = format!("neighbor {peer} activate");
        if af.contains(&me) {
            return true;
        }
        if af.iter().any(|l| *l == format!("no {me}")) {
            return false;
        }
        self.peer_group_of(peer)
            .is_some_and(|g| af.iter().any(|l| *l == format!("neighbor {g} activate")))
    }

    pub fn advertise_all_vni(&self) -> bool {
        self.family("l2vpn evpn")
            .iter()
            .any(|l| l == "advertise-all-vni")
    }
}

// ---------------------------------------------------------------------------------------------
// Items, commands, changes

/// One thing we may add to FRR's configuration.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Item {
    /// `router bgp ASN` with `bgp router-id` and `no bgp default ipv4-unicast`.
    Router { router_id: Ipv4Addr },
    /// `neighbor P remote-as internal`, `neighbor P update-source S`, and, in an instance that
    /// activates IPv4 unicast by default, `no neighbor P activate` there.
    Neighbor {
        peer: IpAddr,
        source: Ipv4Addr,
        ipv4_off: bool,
    },
    /// `address-family l2vpn evpn` / `neighbor P activate`.
    Activate { peer: IpAddr },
    /// `address-family l2vpn evpn` / `advertise-all-vni`.
    AdvertiseAllVni,
}

impl Item {
    /// What identifies the item in the configuration and in the record.
    pub fn key(&self) -> String {
        match self {
            Item::Router { .. } => "router".into(),
            Item::Neighbor { peer, .. } => format!("neighbor {peer}"),
            Item::Activate { peer } => format!("activate {peer}"),
            Item::AdvertiseAllVni => "advertise-all-vni".into(),
        }
    }

    /// Does the configuration show it? (Router: is there a default BGP instance of that AS.)
    pub fn present(&self, cfg: &FrrConfig, asn: u32) -> bool {
        let Some(b) = cfg.bgp.as_ref().filter(|b| b.asn == asn) else {
            return false;
        };
        match self {
            Item::Router { .. } => true,
            Item::Neighbor { peer, .. } => b.has_neighbor(peer),
            Item::Activate { peer } => b.evpn_active(peer),
            Item::AdvertiseAllVni => b.advertise_all_vni(),
        }
    }

    /// The configuration lines (after `configure terminal`) that add it.
    fn add_lines(&self, asn: u32) -> Vec<String> {
        let router = format!("router bgp {asn}");
        match self {
            Item::Router { router_id } => vec![
                router,
                format!("bgp router-id {router_id}"),
                "no bgp default ipv4-unicast".into(),
            ],
            Item::Neighbor {
                peer,
                source,
                ipv4_off,
            } => {
                let mut v = vec![
                    router,
                    format!("neighbor {peer} remote-as internal"),
                    format!("neighbor {peer} update-source {source}"),
                ];
                if *ipv4_off {
                    v.push("address-family ipv4 unicast".into());
                    v.push(format!("no neighbor {peer} activate"));
                }
                v
            }
            Item::Activate { peer } => vec![
                router,
                "address-family l2vpn evpn".into(),
                format!("neighbor {peer} activate"),
            ],
            Item::AdvertiseAllVni => vec![
                router,
                "address-family l2vpn evpn".into(),
                "advertise-all-vni".into(),
            ],
        }
    }

    /// The configuration lines that remove it.
    fn remove_lines(&self, asn: u32) -> Vec<String> {
        let router = format!("router bgp {asn}");
        match self {
            Item::Router { .. } => vec![format!("no router bgp {asn}")],
            Item::Neighbor { peer, .. } => vec![router, format!("no neighbor {peer}")],
            Item::Activate { peer } => vec![
                router,
                "address-family l2vpn evpn".into(),
                format!("no neighbor {peer} activate"),
            ],
            Item::AdvertiseAllVni => vec![
                router,
                "address-family l2vpn evpn".into(),
                "no advertise-all-vni".into(),
            ],
        }
    }

    /// The configuration lines the item puts into the `router bgp` block, as
    /// [`parse_running_config`] returns them: (family or "" for the block itself, line).
    fn shown_lines(&self) -> Vec<(&'static str, String)> {
        match self {
            Item::Router { router_id } => vec![
                ("", format!("bgp router-id {router_id}")),
                ("", "no bgp default ipv4-unicast".into()),
            ],
            Item::Neighbor { peer, ipv4_off, .. } => {
                let mut v = vec![("", format!("neighbor {peer} "))];
                if *ipv4_off {
                    v.push(("ipv4 unicast", format!("no neighbor {peer} activate")));
                }
                v
            }
            Item::Activate { peer } => vec![("l2vpn evpn", format!("neighbor {peer} activate"))],
            Item::AdvertiseAllVni => vec![("l2vpn evpn", "advertise-all-vni".into())],
        }
    }

    fn describe(&self, asn: u32) -> String {
        match self {
            Item::Router { router_id } => {
                format!("FRR: create BGP instance AS {asn} (router-id {router_id})")
            }
            Item::Neighbor { peer, .. } => format!("FRR: BGP session to route reflector {peer}"),
            Item::Activate { peer } => format!("FRR: EVPN routes with {peer}"),
            Item::AdvertiseAllVni => "FRR: advertise every VNI (advertise-all-vni)".into(),
        }
    }
}

/// One `vtysh` call: `configure terminal`, then `lines`, each its own `-c`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vtysh {
    pub lines: Vec<String>,
}

impl Vtysh {
    fn config(lines: Vec<String>) -> Vtysh {
        let mut v = vec!["configure terminal".to_string()];
        v.extend(lines);
        Vtysh { lines: v }
    }

    fn concat(parts: impl IntoIterator<Item = Vtysh>) -> Vtysh {
        let mut v = vec!["configure terminal".to_string()];
        for p in parts {
            v.extend(p.lines.into_iter().filter(|l| l != "configure terminal"));
        }
        Vtysh { lines: v }
    }

    /// `vtysh [-N pathspace] -c L1 -c L2 …`.
    pub fn argv(&self, pathspace: Option<&str>) -> Vec<String> {
        let mut v = vec!["vtysh".to_string()];
        if let Some(n) = pathspace {
            v.push("-N".into());
            v.push(n.into());
        }
        for l in &self.lines {
            v.push("-c".into());
            v.push(l.clone());
        }
        v
    }
}

impl fmt::Display for Vtysh {
    /// The shell line, for `--dry-run` and messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vtysh")?;
        for l in &self.lines {
            write!(f, " -c '{}'", l.replace('\'', "'\\''"))?;
        }
        Ok(())
    }
}

/// One step of a plan: a `vtysh` call and the call that undoes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// In words, for the plan and for errors.
    pub what: String,
    pub apply: Vtysh,
    pub undo: Vtysh,
}

// ---------------------------------------------------------------------------------------------
// The record

/// One item we added, and the VNIs that use it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub item: Item,
    pub vnis: BTreeSet<u32>,
}

/// What this tool added to FRR on this host, kept between `start` and `stop` (one file per host).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// The BGP instance the entries live in.
    pub asn: Option<u32>,
    pub entries: Vec<Entry>,
}

const RECORD_HEAD: &str =
    "# FRR configuration added by network-bridge overlay=evpn; stop removes exactly this";

impl Record {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every VNI some entry is kept for.
    pub fn vnis(&self) -> BTreeSet<u32> {
        self.entries
            .iter()
            .flat_map(|e| e.vnis.iter().copied())
            .collect()
    }

    fn find_mut(&mut self, key: &str) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.item.key() == key)
    }

    /// The file's text: one line per entry.
    pub fn to_text(&self) -> String {
        let mut s = format!("{RECORD_HEAD}\n");
        if let Some(a) = self.asn {
            s.push_str(&format!("asn {a}\n"));
        }
        for e in &self.entries {
            let vnis = e
                .vnis
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let item = match &e.item {
                Item::Router { router_id } => format!("router router-id={router_id}"),
                Item::Neighbor {
                    peer,
                    source,
                    ipv4_off,
                } => format!(
                    "neighbor {peer} source={source} ipv4-off={}",
                    if *ipv4_off { "yes" } else { "no" }
                ),
                Item::Activate { peer } => format!("activate {peer}"),
                Item::AdvertiseAllVni => "advertise-all-vni".into(),
            };
            s.push_str(&format!("{item} vnis={vnis}\n"));
        }
        s
    }

    /// Reads [`Record::to_text`]'s format; an empty text is an empty record.
    pub fn parse(text: &str) -> Result<Record, EvpnError> {
        let mut r = Record::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || {
                EvpnError::Unreadable(format!("EVPN record, line {}: cannot read {line:?}", n + 1))
            };
            let words: Vec<&str> = line.split_whitespace().collect();
            let kv = |k: &str| {
                words
                    .iter()
                    .find_map(|w| w.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            };
            if words[0] == "asn" {
                r.asn = Some(words.get(1).and_then(|a| a.parse().ok()).ok_or_else(bad)?);
                continue;
            }
            let vnis: BTreeSet<u32> = match kv("vnis") {
                Some("") | None => BTreeSet::new(),
                Some(v) => v
                    .split(',')
                    .map(|x| x.parse::<u32>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| bad())?,
            };
            let peer = || -> Result<IpAddr, EvpnError> {
                words.get(1).and_then(|p| p.parse().ok()).ok_or_else(bad)
            };
            let item = match words[0] {
                "router" => Item::Router {
                    router_id: kv("router-id")
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(bad)?,
                },
                "neighbor" => Item::Neighbor {
                    peer: peer()?,
                    source: kv("source").and_then(|v| v.parse().ok()).ok_or_else(bad)?,
                    ipv4_off: kv("ipv4-off") == Some("yes"),
                },
                "activate" => Item::Activate { peer: peer()? },
                "advertise-all-vni" => Item::AdvertiseAllVni,
                _ => return Err(bad()),
            };
            r.entries.push(Entry { item, vnis });
        }
        if !r.entries.is_empty() && r.asn.is_none() {
            return Err(EvpnError::Unreadable(
                "EVPN record has entries but no `asn` line".into(),
            ));
        }
        Ok(r)
    }
}

// ---------------------------------------------------------------------------------------------
// start: what to add

/// What `start` does to FRR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddPlan {
    /// The BGP instance's AS (given, found, or the default).
    pub asn: u32,
    /// In order; empty when FRR already has everything (a second start).
    pub changes: Vec<Change>,
    /// The record to write once the changes are done.
    pub record: Record,
    /// What the planner should tell the user (the administrator's items we rely on, a stale
    /// record forgotten).
    pub notes: Vec<String>,
}

/// What `start` must add to FRR for `want`, given the running configuration and our record.
/// Running it again once the changes are made plans nothing.
pub fn plan_add(want: &Want, cfg: &FrrConfig, record: &Record) -> Result<AddPlan, EvpnError> {
    want.check()?;
    let asn = match (&cfg.bgp, want.asn) {
        (Some(b), Some(a)) if b.asn != a => {
            return Err(EvpnError::Conflict(format!(
                "FRR already runs BGP as AS {} (router bgp {}), and FRR has one default BGP \
                 instance: give asn={} or leave asn= out",
                b.asn, b.asn, b.asn
            )))
        }
        (Some(b), _) => b.asn,
        (None, a) => a.unwrap_or(DEFAULT_ASN),
    };
    let mut notes = Vec::new();
    let mut rec = record.clone();
    if rec.asn.is_some_and(|a| a != asn) && !rec.is_empty() {
        notes.push(format!(
            "forgetting the EVPN record of AS {}: FRR runs AS {asn} now, so none of it is there",
            rec.asn.unwrap_or_default()
        ));
        rec = Record::default();
    }
    rec.asn = Some(asn);
    let inst = cfg.bgp.as_ref();
    // The instance first: made when missing, else ours (the record says so) or the
    // administrator's.
    let mut needed = vec![Item::Router {
        router_id: want.local,
    }];
    // In an instance we make, `no bgp default ipv4-unicast` keeps the sessions EVPN-only.
    let ipv4_on = inst.is_some_and(BgpInstance::default_ipv4_unicast);
    for r in &want.reflectors {
        needed.push(Item::Neighbor {
            peer: *r,
            source: want.local,
            ipv4_off: ipv4_on,
        });
        needed.push(Item::Activate { peer: *r });
    }
    needed.push(Item::AdvertiseAllVni);

    let mut changes = Vec::new();
    for item in needed {
        let key = item.key();
        let ours = rec.find_mut(&key).is_some();
        if item.present(cfg, asn) {
            match rec.find_mut(&key) {
                Some(e) => {
                    e.vnis.insert(want.vni);
                }
                None => notes.push(format!(
                    "FRR already has {} (not ours, kept as it is)",
                    describe_present(&item, asn)
                )),
            }
            continue;
        }
        changes.push(Change {
            what: item.describe(asn),
            apply: Vtysh::config(item.add_lines(asn)),
            undo: Vtysh::config(item.remove_lines(asn)),
        });
        if ours {
            if let Some(e) = rec.find_mut(&key) {
                e.item = item;
                e.vnis.insert(want.vni);
            }
        } else {
            rec.entries.push(Entry {
                item,
                vnis: BTreeSet::from([want.vni]),
            });
        }
    }
    rec.entries.sort_by(|a, b| a.item.cmp(&b.item));
    Ok(AddPlan {
        asn,
        changes,
        record: rec,
        notes,
    })
}

fn describe_present(item: &Item, asn: u32) -> String {
    match item {
        Item::Router { .. } => format!("router bgp {asn}"),
        Item::Neighbor { peer, .. } => format!("neighbor {peer}"),
        Item::Activate { peer } => format!("neighbor {peer} active in l2vpn evpn"),
        Item::AdvertiseAllVni => "advertise-all-vni".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// stop: what to remove

/// What `stop` does to FRR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovePlan {
    /// In order; each `undo` puts the item back (a failed stop rolls back).
    pub changes: Vec<Change>,
    /// The record once the changes are done; empty: delete the file.
    pub record: Record,
    pub notes: Vec<String>,
}

/// What `stop` of `vni` removes from FRR: the items our record holds for it that no other VNI of
/// ours uses, and that the running configuration still shows.
pub fn plan_remove(vni: u32, cfg: &FrrConfig, record: &Record) -> RemovePlan {
    let mut notes = Vec::new();
    let mut keep = Record {
        asn: record.asn,
        entries: Vec::new(),
    };
    let mut go: Vec<Item> = Vec::new();
    for e in &record.entries {
        let mut e = e.clone();
        e.vnis.remove(&vni);
        if e.vnis.is_empty() {
            go.push(e.item);
        } else {
            keep.entries.push(e);
        }
    }
    let Some(asn) = record.asn else {
        return RemovePlan {
            changes: Vec::new(),
            record: keep,
            notes,
        };
    };
    let (present, gone): (Vec<Item>, Vec<Item>) = go.into_iter().partition(|i| i.present(cfg, asn));
    for i in &gone {
        notes.push(format!(
            "{} is no longer in FRR's configuration: nothing to remove",
            describe_present(i, asn)
        ));
    }
    let mut changes = Vec::new();
    let mut router = present.iter().find(|i| matches!(i, Item::Router { .. }));
    let rest: Vec<&Item> = present
        .iter()
        .filter(|i| !matches!(i, Item::Router { .. }))
        .collect();
    if let Some(r) = router.filter(|_| !keep.is_empty()) {
        // A record where the router lost its VNIs but other items did not: the router stays
        // ours for as long as they do.
        keep.entries.insert(
            0,
            Entry {
                item: r.clone(),
                vnis: keep.vnis(),
            },
        );
        router = None;
    }
    let leftover = router.and_then(|_| {
        if let Some(o) = cfg.other_instances.first() {
            return Some(format!("the BGP instance {o:?} depends on it"));
        }
        cfg.bgp
            .as_ref()
            .and_then(|b| foreign_line(b, &present))
            .map(|l| format!("it holds {l:?}, which is not ours"))
    });
    match (router, leftover) {
        (Some(r), None) => {
            // Ours and nothing else in it: one command takes it all.
            let mut undo = vec![Vtysh::config(r.add_lines(asn))];
            undo.extend(rest.iter().map(|i| Vtysh::config(i.add_lines(asn))));
            changes.push(Change {
                what: format!("FRR: remove BGP instance AS {asn}"),
                apply: Vtysh::config(r.remove_lines(asn)),
                undo: Vtysh::concat(undo),
            });
        }
        (r, why) => {
            if let (Some(_), Some(why)) = (r, why) {
                notes.push(format!(
                    "keeping router bgp {asn} (made by overlay=evpn): {why}; it is left to the \
                     administrator now"
                ));
            }
            let mut rest = rest;
            rest.sort();
            for i in rest.into_iter().rev() {
                changes.push(Change {
                    what: format!("FRR: remove {}", describe_present(i, asn)),
                    apply: Vtysh::config(i.remove_lines(asn)),
                    undo: Vtysh::config(i.add_lines(asn)),
                });
            }
        }
    }
    if keep.is_empty() {
        keep.asn = None;
    }
    RemovePlan {
        changes,
        record: keep,
        notes,
    }
}

/// The first line of the instance that none of `ours` accounts for.
fn foreign_line(b: &BgpInstance, ours: &[Item]) -> Option<String> {
    let shown: Vec<(&str, String)> = ours.iter().flat_map(Item::shown_lines).collect();
    let mine = |fam: &str, line: &str| {
        shown.iter().any(|(f, l)| {
            *f == fam && (line == l || (l.ends_with(' ') && line.starts_with(l.as_str())))
        })
    };
    if let Some(l) = b.lines.iter().find(|l| !mine("", l)) {
        return Some(l.clone());
    }
    for (fam, lines) in &b.families {
        if let Some(l) = lines.iter().find(|l| !mine(fam, l)) {
            return Some(format!("address-family {fam}: {l}"));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Is FRR there?

/// Why FRR cannot take our configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrrDown {
    /// vtysh reached no daemon: "Exiting: failed to connect to any daemons." (exit 1).
    NotRunning,
    /// zebra answers, bgpd does not ("bgpd is not running", exit 1, for any BGP command).
    BgpdNotRunning,
    /// bgpd answers but zebra does not: no VNI would ever be learned from the kernel.
    ZebraNotRunning,
}

/// The daemons `vtysh -c 'show daemons'` lists (` zebra bgpd`).
pub fn parse_daemons(show_daemons: &str) -> BTreeSet<String> {
    show_daemons
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// From `vtysh -c 'show daemons'`: Ok when zebra and bgpd both answer.
pub fn check_running(status: i32, stdout: &str, stderr: &str) -> Result<(), FrrDown> {
    if status != 0 || stderr.contains("failed to connect to any daemons") {
        return Err(FrrDown::NotRunning);
    }
    let d = parse_daemons(stdout);
    match (d.contains("zebra"), d.contains("bgpd")) {
        (true, true) => Ok(()),
        (true, false) => Err(FrrDown::BgpdNotRunning),
        (false, true) => Err(FrrDown::ZebraNotRunning),
        (false, false) => Err(FrrDown::NotRunning),
    }
}

/// `bgpd=yes|no` from `/etc/frr/daemons` (None: no such line).
pub fn bgpd_enabled(daemons_file: &str) -> Option<bool> {
    daemons_file.lines().find_map(|l| {
        let l = l.trim();
        let v = l.strip_prefix("bgpd=")?;
        Some(matches!(
            v.trim().trim_matches('"').trim_matches('\''),
            "yes" | "true" | "1"
        ))
    })
}

/// The message for a host where FRR cannot take the overlay's configuration (`daemons_file` is
/// `/etc/frr/daemons` if it could be read): what is wrong and how to set it right, then
/// `outcome`, what it means here ("Nothing was changed." for a start; what the overlay misses,
/// for `xennet doctor`).
pub fn down_message(why: &FrrDown, daemons_file: Option<&str>, outcome: &str) -> String {
    let enable = match daemons_file.map(bgpd_enabled) {
        Some(Some(false)) | Some(None) => {
            " bgpd is not enabled: set bgpd=yes in /etc/frr/daemons, then restart FRR \
             (systemctl restart frr)."
        }
        None => " FRR does not seem to be installed (no /etc/frr/daemons): apt-get install frr.",
        Some(Some(true)) => "",
    };
    let what = match why {
        FrrDown::NotRunning => {
            "overlay=evpn needs FRR's zebra and bgpd, but vtysh reaches no FRR daemon \
             (systemctl start frr)."
        }
        FrrDown::BgpdNotRunning => {
            "overlay=evpn needs FRR's bgpd, but only zebra is running."
        }
        FrrDown::ZebraNotRunning => {
            "overlay=evpn needs FRR's zebra (it learns the VXLAN devices), but only bgpd is running."
        }
    };
    format!("{what}{enable} {outcome}")
}

// ---------------------------------------------------------------------------------------------
// status: FRR's JSON

fn json(text: &str, what: &str) -> Result<Option<serde_json::Value>, EvpnError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_str(t).map_err(|e| {
        EvpnError::Unreadable(format!("cannot read FRR's {what} output as JSON: {e}"))
    })?;
    if v.as_object().is_some_and(|o| o.is_empty()) {
        return Ok(None);
    }
    Ok(Some(v))
}

/// One BGP session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The neighbor's address (as FRR names it).
    pub peer: String,
    /// The address family it was listed under (`l2VpnEvpn`, `ipv4Unicast`), when the output
    /// had several.
    pub family: Option<String>,
    /// The hostname the peer announced.
    pub hostname: Option<String>,
    /// `Established`, `Active`, `Connect`, `Idle` …
    pub state: String,
    pub uptime_msec: u64,
    /// Prefixes received (EVPN routes, for l2vpn evpn).
    pub prefixes_received: Option<u64>,
    /// A peer accepted through `bgp listen range`.
    pub dynamic: bool,
}

impl Session {
    pub fn established(&self) -> bool {
        self.state == "Established"
    }
}

fn sessions_of(v: &serde_json::Value, family: Option<&str>) -> Vec<Session> {
    let Some(peers) = v.get("peers").and_then(|p| p.as_object()) else {
        return Vec::new();
    };
    peers
        .iter()
        .map(|(peer, p)| Session {
            peer: peer.clone(),
            family: family.map(str::to_string),
            hostname: p["hostname"].as_str().map(str::to_string),
            state: p["state"].as_str().unwrap_or("unknown").to_string(),
            uptime_msec: p["peerUptimeMsec"].as_u64().unwrap_or(0),
            prefixes_received: p["pfxRcd"].as_u64(),
            dynamic: p["dynamicPeer"].as_bool().unwrap_or(false),
        })
        .collect()
}

/// `show bgp l2vpn evpn summary json` (peers at the top) or `show bgp summary json` (one object
/// per address family). No BGP instance prints `{}`: no sessions.
pub fn parse_bgp_summary(text: &str) -> Result<Vec<Session>, EvpnError> {
    let Some(v) = json(text, "show bgp summary json")? else {
        return Ok(Vec::new());
    };
    if v.get("peers").is_some() {
        return Ok(sessions_of(&v, None));
    }
    let Some(o) = v.as_object() else {
        return Err(EvpnError::Unreadable(
            "FRR's BGP summary is not a JSON object".into(),
        ));
    };
    Ok(o.iter()
        .filter(|(_, af)| af.get("peers").is_some())
        .flat_map(|(name, af)| sessions_of(af, Some(name)))
        .collect())
}

/// One VNI as zebra knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VniState {
    pub vni: u32,
    /// `L2` or `L3`.
    pub kind: String,
    pub vxlan_if: Option<String>,
    /// The bridge (`show evpn vni N json` only).
    pub svi_if: Option<String>,
    /// This host's VTEP address (`show evpn vni N json` only).
    pub local_vtep: Option<IpAddr>,
    pub macs: Option<u64>,
    pub arp_nd: Option<u64>,
    /// The other hosts' VTEPs zebra floods to (from their type-3 routes).
    pub remote_vteps: Vec<IpAddr>,
}

fn ips(v: &serde_json::Value) -> Vec<IpAddr> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().or_else(|| x["ip"].as_str()))
                .filter_map(|s| s.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn vni_state(v: &serde_json::Value) -> Option<VniState> {
    let vni = v["vni"].as_u64().and_then(|n| u32::try_from(n).ok())?;
    let mut remote = ips(&v["remoteVteps"]);
    if remote.is_empty() {
        // FRR 8.4's `show evpn vni N json`: the list sits under numRemoteVteps.
        remote = ips(&v["numRemoteVteps"]);
    }
    remote.sort();
    Some(VniState {
        vni,
        kind: v["type"].as_str().unwrap_or("").to_string(),
        vxlan_if: v["vxlanInterface"]
            .as_str()
            .or_else(|| v["vxlanIf"].as_str())
            .map(str::to_string),
        svi_if: v["sviInterface"].as_str().map(str::to_string),
        local_vtep: v["vtepIp"].as_str().and_then(|s| s.parse().ok()),
        macs: v["numMacs"].as_u64(),
        arp_nd: v["numArpNd"].as_u64(),
        remote_vteps: remote,
    })
}

/// `show evpn vni N json`: None when zebra does not know the VNI (it prints `{}`).
pub fn parse_evpn_vni(text: &str) -> Result<Option<VniState>, EvpnError> {
    let Some(v) = json(text, "show evpn vni N json")? else {
        return Ok(None);
    };
    vni_state(&v).map(Some).ok_or_else(|| {
        EvpnError::Unreadable("FRR's `show evpn vni N json` has no \"vni\" number".into())
    })
}

/// `show evpn vni json`: every VNI zebra knows (no output at all when there is none).
pub fn parse_evpn_vnis(text: &str) -> Result<Vec<VniState>, EvpnError> {
    let Some(v) = json(text, "show evpn vni json")? else {
        return Ok(Vec::new());
    };
    let mut out: Vec<VniState> = match &v {
        serde_json::Value::Object(o) => o.values().filter_map(vni_state).collect(),
        serde_json::Value::Array(a) => a.iter().filter_map(vni_state).collect(),
        _ => {
            return Err(EvpnError::Unreadable(
                "FRR's `show evpn vni json` is neither an object nor a list".into(),
            ))
        }
    };
    out.sort_by_key(|s| s.vni);
    Ok(out)
}

/// Where zebra has a MAC of a VNI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MacAt {
    /// On a port of this host (`intf`: vif1.0).
    Local { intf: Option<String> },
    /// Behind another host's VTEP (learned from its type-2 route).
    Remote { vtep: IpAddr },
    /// Behind a multihomed Ethernet segment (FRR 10: `remoteEs`).
    RemoteEs { esi: String },
    /// Anything else zebra reports (`auto`).
    Other { kind: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mac {
    pub mac: String,
    pub at: MacAt,
}

/// `show evpn mac vni N json` (`{}` for an unknown VNI).
pub fn parse_evpn_macs(text: &str) -> Result<Vec<Mac>, EvpnError> {
    let Some(v) = json(text, "show evpn mac vni N json")? else {
        return Ok(Vec::new());
    };
    let Some(macs) = v.get("macs").and_then(|m| m.as_object()) else {
        return Ok(Vec::new());
    };
    let mut out: Vec<Mac> = macs
        .iter()
        .map(|(mac, m)| {
            let kind = m["type"].as_str().unwrap_or("");
            let at = match kind {
                "local" => MacAt::Local {
                    intf: m["intf"].as_str().map(str::to_string),
                },
                "remote" => match (
                    m["remoteVtep"].as_str().and_then(|s| s.parse().ok()),
                    m["remoteEs"].as_str(),
                ) {
                    (Some(vtep), _) => MacAt::Remote { vtep },
                    (None, Some(esi)) => MacAt::RemoteEs {
                        esi: esi.to_string(),
                    },
                    (None, None) => MacAt::Other {
                        kind: kind.to_string(),
                    },
                },
                k => MacAt::Other {
                    kind: k.to_string(),
                },
            };
            Mac {
                mac: mac.to_ascii_lowercase(),
                at,
            }
        })
        .collect();
    out.sort_by(|a, b| a.mac.cmp(&b.mac));
    Ok(out)
}

/// How many MACs each remote VTEP has in `macs`.
pub fn macs_per_vtep(macs: &[Mac]) -> BTreeMap<IpAddr, usize> {
    let mut m = BTreeMap::new();
    for mac in macs {
        if let MacAt::Remote { vtep } = mac.at {
            *m.entry(vtep).or_insert(0) += 1;
        }
    }
    m
}

/// One ARP/ND entry of a VNI (`show evpn arp-cache vni N json`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbor {
    pub ip: IpAddr,
    pub mac: String,
    /// None: local.
    pub remote_vtep: Option<IpAddr>,
}

/// `show evpn arp-cache vni N json`.
pub fn parse_evpn_arp_cache(text: &str) -> Result<Vec<Neighbor>, EvpnError> {
    let Some(v) = json(text, "show evpn arp-cache vni N json")? else {
        return Ok(Vec::new());
    };
    let Some(o) = v.as_object() else {
        return Ok(Vec::new());
    };
    let mut out: Vec<Neighbor> = o
        .iter()
        .filter_map(|(ip, n)| {
            Some(Neighbor {
                ip: ip.parse().ok()?,
                mac: n["mac"].as_str()?.to_ascii_lowercase(),
                remote_vtep: n["remoteVtep"].as_str().and_then(|s| s.parse().ok()),
            })
        })
        .collect();
    out.sort_by_key(|n| n.ip);
    Ok(out)
}

/// One EVPN route (`show bgp l2vpn evpn route json`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub rd: String,
    /// 2 (MAC/IP), 3 (inclusive multicast: the VTEP floods this VNI) …
    pub route_type: u8,
    pub mac: Option<String>,
    pub ip: Option<String>,
    /// The VTEP the route leads to.
    pub nexthop: Option<IpAddr>,
    /// The route targets (`RT:65000:42`), whose number after the AS is the VNI with FRR's
    /// automatic route targets.
    pub route_targets: Vec<String>,
    pub best: bool,
}

/// `show bgp l2vpn evpn route json`: every path of every prefix of every RD.
pub fn parse_evpn_routes(text: &str) -> Result<Vec<Route>, EvpnError> {
    let Some(v) = json(text, "show bgp l2vpn evpn route json")? else {
        return Ok(Vec::new());
    };
    let Some(rds) = v.as_object() else {
        return Err(EvpnError::Unreadable(
            "FRR's EVPN route table is not a JSON object".into(),
        ));
    };
    let mut out = Vec::new();
    for (rd, prefixes) in rds {
        let Some(prefixes) = prefixes.as_object() else {
            continue; // numPrefix, numPaths
        };
        for p in prefixes.values() {
            let Some(paths) = p.get("paths").and_then(|x| x.as_array()) else {
                continue;
            };
            // A list of paths, each a list (FRR 8.4 and 10.3) or an object.
            for path in paths.iter().flat_map(|x| match x.as_array() {
                Some(a) => a.iter().collect::<Vec<_>>(),
                None => vec![x],
            }) {
                let Some(t) = path["routeType"].as_u64() else {
                    continue;
                };
                out.push(Route {
                    rd: rd.clone(),
                    route_type: u8::try_from(t).unwrap_or(0),
                    mac: path["mac"].as_str().map(str::to_string),
                    ip: path["ip"].as_str().map(str::to_string),
                    nexthop: path["nexthops"][0]["ip"]
                        .as_str()
                        .and_then(|s| s.parse().ok()),
                    route_targets: path["extendedCommunity"]["string"]
                        .as_str()
                        .unwrap_or("")
                        .split_whitespace()
                        .filter(|w| w.starts_with("RT:"))
                        .map(str::to_string)
                        .collect(),
                    best: path["bestpath"].as_bool().unwrap_or(false),
                });
            }
        }
    }
    Ok(out)
}

/// What `status overlay=evpn vni=N` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub vni: u32,
    /// Sessions of the l2vpn evpn address family.
    pub sessions: Vec<Session>,
    /// None: zebra does not know the VNI (no `vxlan<N>` in a bridge, or `advertise-all-vni` is
    /// off).
    pub state: Option<VniState>,
    pub macs: Vec<Mac>,
}

impl Status {
    /// The lines `status` prints.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if self.sessions.is_empty() {
            s.push_str("BGP: no EVPN session configured\n");
        }
        for x in &self.sessions {
            s.push_str(&format!(
                "BGP session {}{}: {}{}\n",
                x.peer,
                x.hostname
                    .as_deref()
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default(),
                x.state,
                match (x.established(), x.prefixes_received) {
                    (true, Some(n)) => format!(", {n} EVPN routes received"),
                    _ => String::new(),
                }
            ));
        }
        let Some(st) = &self.state else {
            s.push_str(&format!(
                "VNI {}: unknown to FRR (is vxlan{} up in its bridge, and advertise-all-vni on?)\n",
                self.vni, self.vni
            ));
            return s;
        };
        let per = macs_per_vtep(&self.macs);
        let local = self
            .macs
            .iter()
            .filter(|m| matches!(m.at, MacAt::Local { .. }))
            .count();
        s.push_str(&format!(
            "VNI {}: {} MAC(s) here, {} remote VTEP(s)\n",
            st.vni,
            local,
            st.remote_vteps.len()
        ));
        for v in &st.remote_vteps {
            let macs: Vec<&str> = self
                .macs
                .iter()
                .filter(|m| m.at == MacAt::Remote { vtep: *v })
                .map(|m| m.mac.as_str())
                .collect();
            s.push_str(&format!(
                "remote VTEP {v}: {} MAC(s){}{}\n",
                per.get(v).copied().unwrap_or(0),
                if macs.is_empty() { "" } else { ": " },
                macs.join(", ")
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests;
