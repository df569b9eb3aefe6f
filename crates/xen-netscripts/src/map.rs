//! `xennet map`: the picture administrators learned Xen networking from, for the live host
//! (`Dom0 eth0 -> vif0.0 -> xenbr0 -> peth0`): every domain, each of its interfaces, the backend
//! vif, the bridge (or the routed path) and the physical NIC behind it, with addresses and MACs.
//!
//! It reads the namespace it runs in: links and addresses from one `ip -j -d addr show`, routes
//! from `ip -j route`, and from xenstore, when its tools answer, the domains' names and the
//! backend directories (`backend/vif/<domid>/<devid>`: the guest's MAC and addresses, `vifname`).
//! Without xenstore, domains are found from their vif names and called `Domain-<id>`.

use serde::Serialize;
use std::collections::BTreeMap;
use xennet::exec::{Cmd, Runner};
use xennet::state::LinkDetail;
use xennet::xenstore::{self, XenStore};

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Map {
    pub domains: Vec<Domain>,
    pub bridges: Vec<Bridge>,
    /// VXLAN uplinks (`network-bridge … overlay=vxlan`): guests on several hosts, one L2 network.
    pub overlays: Vec<Overlay>,
    /// True when the xenstore tools answered (names and backend keys come from there).
    pub xenstore: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Domain {
    pub domid: u32,
    pub name: String,
    pub interfaces: Vec<Interface>,
}

/// A link as the picture shows it: its name, MAC and addresses.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Dev {
    pub name: String,
    pub mac: String,
    pub addresses: Vec<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Interface {
    /// The frontend's name: dom0's own link, or `eth<devid>` as a Linux guest calls it.
    pub name: String,
    pub devid: Option<u32>,
    /// The guest's MAC (xenstore `mac`) or dom0's link's; None when unknown.
    pub mac: Option<String>,
    /// The guest's addresses (xenstore `ip`), or dom0's link's.
    pub addresses: Vec<String>,
    /// The backend interface in dom0 (`vif<d>.<n>`); None for dom0's bridge itself.
    pub vif: Option<Dev>,
    /// The VLANs the vif carries on a VLAN-aware bridge, in xl's `vlan=` syntax (issue 19).
    pub vlans: Option<String>,
    pub path: Path,
}

/// Where an interface's traffic goes from its vif.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Path {
    /// A port of `bridge`; `uplink` is the bridge's physical NIC, None without one.
    Bridge { bridge: Dev, uplink: Option<Dev> },
    /// NAT or route mode: the vif's routes, out through dom0's uplink.
    Routed {
        routes: Vec<String>,
        uplink: Option<Dev>,
    },
    /// A vif that is no port and has no routes, or a backend without its vif.
    Unattached,
    /// dom0's own link, neither a bridge nor a port (a NIC not bridged, NAT's uplink).
    Direct,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Bridge {
    pub name: String,
    pub altnames: Vec<String>,
    pub mac: String,
    pub addresses: Vec<String>,
    pub ports: Vec<String>,
    pub uplink: Option<String>,
    /// VLAN-aware (`vlan_filtering 1`): each port's VLANs (`bridge vlan show`), in xl's `vlan=`
    /// syntax (`10p/20`); empty for a bridge that is not.
    pub vlan_aware: bool,
    pub port_vlans: BTreeMap<String, String>,
}

/// A VXLAN device: the bridge it joins and the hosts its flood entries reach.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Overlay {
    pub vxlan: String,
    pub vni: u32,
    pub bridge: Option<String>,
    pub local: String,
    pub underlay: String,
    /// Learned from BGP EVPN (a device without learning, `overlay=evpn`), not listed by hand.
    pub evpn: bool,
    /// The hosts its flood entries reach: the peers listed (static), or the remote VTEPs BGP
    /// EVPN told about (evpn).
    pub peers: Vec<String>,
}

impl Overlay {
    fn describe(&self) -> String {
        let peers = if self.peers.is_empty() {
            "none".to_string()
        } else {
            self.peers.join(", ")
        };
        if self.evpn {
            format!(
                "VXLAN VNI {} (BGP EVPN) from {} via {}; remote VTEPs: {peers}",
                self.vni, self.local, self.underlay
            )
        } else {
            format!(
                "VXLAN VNI {} from {} via {}; peers: {peers}",
                self.vni, self.local, self.underlay
            )
        }
    }
}

fn overlays(runner: &dyn Runner) -> Vec<Overlay> {
    xennet::live::vxlans(runner)
        .into_iter()
        .map(|o| Overlay {
            vxlan: o.name,
            vni: o.vni,
            bridge: o.bridge,
            local: o.local,
            underlay: o.underlay,
            evpn: !o.learning,
            peers: o.peers,
        })
        .collect()
}

/// `vif<d>.<n>` or `vif<d>.<n>-emu` → (domid, devid).
pub fn parse_vif(name: &str) -> Option<(u32, u32)> {
    let rest = name.strip_prefix("vif")?;
    let rest = rest.strip_suffix("-emu").unwrap_or(rest);
    let (d, n) = rest.split_once('.')?;
    Some((d.parse().ok()?, n.parse().ok()?))
}

fn dev(l: &LinkDetail) -> Dev {
    Dev {
        name: l.ifname.clone(),
        mac: l.address.clone(),
        addresses: l.addresses(),
    }
}

/// Is this bridge port a guest's (or dom0's netloop) backend rather than an uplink?
fn is_backend(l: &LinkDetail) -> bool {
    let vif = |n: &str| n.starts_with("vif") || n.starts_with("tap");
    vif(&l.ifname) || l.ifalias.as_deref().is_some_and(vif)
}

/// xenstore through its command-line tools, or nothing when they do not answer.
struct Store<'a> {
    runner: &'a dyn Runner,
    cli: xenstore::Cli<'a>,
    up: bool,
}

impl<'a> Store<'a> {
    fn new(runner: &'a dyn Runner) -> Self {
        let cli = xenstore::Cli { runner };
        let up = runner
            .run(&Cmd::new("xenstore-read").arg("/local/domain/0/name"))
            .is_ok();
        Store { runner, cli, up }
    }

    fn read(&self, path: &str) -> Option<String> {
        if !self.up {
            return None;
        }
        self.cli.read(path).ok().flatten()
    }

    fn list(&self, path: &str) -> Vec<u32> {
        if !self.up {
            return Vec::new();
        }
        let mut v: Vec<u32> = self
            .runner
            .run(&Cmd::new("xenstore-list").arg(path))
            .map(|o| o.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

const BACKEND: &str = "/local/domain/0/backend/vif";

/// Reads the live host (the namespace this runs in).
pub fn read(runner: &dyn Runner) -> anyhow::Result<Map> {
    let links = xennet::live::detailed_links(runner).map_err(anyhow::Error::msg)?;
    let by_name: BTreeMap<&str, &LinkDetail> =
        links.iter().map(|l| (l.ifname.as_str(), l)).collect();
    let xs = Store::new(runner);
    let default_dev = xennet::live::default_route_dev(runner).ok().flatten();

    // Every port's VLANs, read once when a bridge is VLAN-aware (issue 19).
    let vlans = if links
        .iter()
        .any(|l| l.kind() == Some("bridge") && l.vlan_aware())
    {
        runner
            .run(&Cmd::new("bridge").args(["-j", "vlan", "show"]))
            .ok()
            .and_then(|out| xennet::vlan::parse_show(&out).ok())
            .unwrap_or_default()
    } else {
        BTreeMap::new()
    };
    // Bridges and their uplinks.
    let mut bridges = Vec::new();
    for l in links.iter().filter(|l| l.kind() == Some("bridge")) {
        let mut ports: Vec<&LinkDetail> = links
            .iter()
            .filter(|p| p.master.as_deref() == Some(l.ifname.as_str()))
            .collect();
        ports.sort_by(|a, b| a.ifname.cmp(&b.ifname));
        bridges.push(Bridge {
            name: l.ifname.clone(),
            altnames: l.altnames.clone(),
            mac: l.address.clone(),
            addresses: l.addresses(),
            ports: ports.iter().map(|p| p.ifname.clone()).collect(),
            uplink: ports
                .iter()
                .find(|p| !is_backend(p))
                .map(|p| p.ifname.clone()),
            vlan_aware: l.vlan_aware(),
            port_vlans: if l.vlan_aware() {
                ports
                    .iter()
                    .filter_map(|p| {
                        vlans
                            .get(&p.ifname)
                            .map(|v| (p.ifname.clone(), v.to_string()))
                    })
                    .collect()
            } else {
                BTreeMap::new()
            },
        });
    }
    let bridge_path = |name: &str| -> Path {
        let b = bridges.iter().find(|b| b.name == name);
        Path::Bridge {
            bridge: by_name.get(name).map(|l| dev(l)).unwrap_or(Dev {
                name: name.to_string(),
                mac: String::new(),
                addresses: Vec::new(),
            }),
            uplink: b
                .and_then(|b| b.uplink.as_deref())
                .and_then(|u| by_name.get(u))
                .map(|l| dev(l)),
        }
    };

    // Backends: from the links (vif names, or a vifname's alias) and from xenstore.
    let mut backends: BTreeMap<(u32, u32), Option<&LinkDetail>> = BTreeMap::new();
    for l in &links {
        let id = parse_vif(&l.ifname).or_else(|| l.ifalias.as_deref().and_then(parse_vif));
        if let Some(id) = id {
            backends.insert(id, Some(l));
        }
    }
    for d in xs.list(BACKEND) {
        for n in xs.list(&format!("{BACKEND}/{d}")) {
            let named = xs
                .read(&format!("{BACKEND}/{d}/{n}/vifname"))
                .and_then(|v| by_name.get(v.as_str()).copied());
            let entry = backends.entry((d, n)).or_insert(None);
            if entry.is_none() {
                *entry = named;
            }
        }
    }

    let mut domains: BTreeMap<u32, Domain> = BTreeMap::new();
    fn domain<'m>(
        domains: &'m mut BTreeMap<u32, Domain>,
        xs: &Store,
        domid: u32,
    ) -> &'m mut Domain {
        domains.entry(domid).or_insert_with(|| Domain {
            domid,
            name: xs
                .read(&format!("/local/domain/{domid}/name"))
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| format!("Domain-{domid}")),
            interfaces: Vec::new(),
        })
    }
    // dom0's own address on a bridge (netdev and xenbr layouts): dom0 sits on the bridge.
    domain(&mut domains, &xs, 0);
    for b in bridges.iter().filter(|b| !b.addresses.is_empty()) {
        let Some(l) = by_name.get(b.name.as_str()) else {
            continue;
        };
        domain(&mut domains, &xs, 0).interfaces.push(Interface {
            name: b.name.clone(),
            devid: None,
            mac: Some(l.address.clone()),
            addresses: l.addresses(),
            vif: None,
            vlans: None,
            path: bridge_path(&b.name),
        });
    }
    // dom0's other interfaces with an address (the uplink of NAT and route mode, a NIC not
    // bridged yet), so that the picture shows the whole of dom0.
    let shown_peer = |l: &LinkDetail| {
        backends
            .values()
            .flatten()
            .any(|b| b.link.as_deref() == Some(l.ifname.as_str()))
    };
    for l in &links {
        let plain = l.kind() != Some("bridge") && l.master.is_none() && !is_backend(l);
        if plain && l.ifname != "lo" && !l.addresses().is_empty() && !shown_peer(l) {
            domain(&mut domains, &xs, 0).interfaces.push(Interface {
                name: l.ifname.clone(),
                devid: None,
                mac: Some(l.address.clone()),
                addresses: l.addresses(),
                vif: None,
                vlans: None,
                path: Path::Direct,
            });
        }
    }
    for (&(d, n), link) in &backends {
        let be = format!("{BACKEND}/{d}/{n}");
        let peer = link
            .and_then(|l| l.link.as_deref())
            .and_then(|p| by_name.get(p));
        // dom0's netloop interface is the veth peer of vif0.N; a guest's is eth<devid> to it.
        let (name, mac, addresses) = match peer.filter(|_| d == 0) {
            Some(p) => (p.ifname.clone(), Some(p.address.clone()), p.addresses()),
            None => (
                format!("eth{n}"),
                xs.read(&format!("{be}/mac")),
                xs.read(&format!("{be}/ip"))
                    .map(|v| v.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default(),
            ),
        };
        let path = match link {
            None => Path::Unattached,
            Some(l) => match &l.master {
                Some(m) => bridge_path(m),
                None => {
                    let routes: Vec<String> = xennet::live::routes(runner, &l.ifname)
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|r| r.protocol.as_deref() != Some("kernel"))
                        .filter(|r| r.table.as_deref().is_none_or(|t| t == "main"))
                        .map(|r| r.dst)
                        .collect();
                    if routes.is_empty() {
                        Path::Unattached
                    } else {
                        Path::Routed {
                            routes,
                            uplink: default_dev
                                .as_deref()
                                .and_then(|u| by_name.get(u))
                                .map(|l| dev(l)),
                        }
                    }
                }
            },
        };
        let port_vlans = link.and_then(|l| {
            let master = l.master.as_deref()?;
            bridges
                .iter()
                .find(|b| b.name == master)?
                .port_vlans
                .get(&l.ifname)
                .cloned()
        });
        domain(&mut domains, &xs, d).interfaces.push(Interface {
            name,
            devid: Some(n),
            mac,
            addresses,
            vif: link.map(dev),
            vlans: port_vlans,
            path,
        });
    }
    Ok(Map {
        domains: domains.into_values().collect(),
        bridges,
        overlays: overlays(runner),
        xenstore: xs.up,
    })
}

fn details(d: &Dev) -> String {
    let mut s = d.mac.clone();
    for a in &d.addresses {
        s.push(' ');
        s.push_str(a);
    }
    s
}

impl Interface {
    /// `eth0 -> vif0.0 -> xenbr0 -> peth0`, and the links on it with their MACs and addresses.
    fn chain(&self) -> (String, Vec<(String, String)>) {
        let mut names = vec![self.name.clone()];
        let mut rows = Vec::new();
        let mut own = self.mac.clone().unwrap_or_default();
        for a in &self.addresses {
            own.push(' ');
            own.push_str(a);
        }
        rows.push((self.name.clone(), own));
        match &self.vif {
            Some(v) => {
                names.push(v.name.clone());
                let mut d = details(v);
                if let Some(vl) = &self.vlans {
                    d.push_str(&format!(" VLANs {vl}"));
                }
                rows.push((v.name.clone(), d));
            }
            None if self.devid.is_some() => names.push("(no backend interface)".into()),
            None => {}
        }
        match &self.path {
            Path::Bridge { bridge, uplink } => {
                if self.vif.is_some() {
                    names.push(bridge.name.clone());
                    rows.push((format!("{} (bridge)", bridge.name), details(bridge)));
                } else {
                    rows[0].0 = format!("{} (bridge)", self.name);
                }
                match uplink {
                    Some(u) => {
                        names.push(u.name.clone());
                        rows.push((format!("{} (physical NIC)", u.name), details(u)));
                    }
                    None => names.push("(no uplink)".into()),
                }
            }
            Path::Routed { routes, uplink } => {
                names.push(format!("(routed: {})", routes.join(", ")));
                if let Some(u) = uplink {
                    names.push(u.name.clone());
                    rows.push((format!("{} (uplink)", u.name), details(u)));
                }
            }
            Path::Unattached if self.vif.is_some() => names.push("(not attached)".into()),
            Path::Unattached => {}
            Path::Direct => names.push("(not bridged)".into()),
        }
        (names.join(" -> "), rows)
    }
}

/// The picture as text: one line per interface, the chain, then each link's MAC and addresses.
pub fn text(map: &Map) -> String {
    let mut out = String::new();
    for d in &map.domains {
        out.push_str(&format!("{} (domid {})\n", d.name, d.domid));
        if d.interfaces.is_empty() {
            out.push_str("  (no network interfaces)\n");
        }
        for i in &d.interfaces {
            let (chain, rows) = i.chain();
            out.push_str(&format!("  {chain}\n"));
            let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
            for (name, what) in rows {
                out.push_str(format!("      {name:<w$}  {what}").trim_end());
                out.push('\n');
            }
        }
    }
    out.push_str("Bridges\n");
    if map.bridges.is_empty() {
        out.push_str("  (none)\n");
    }
    for b in &map.bridges {
        let also = if b.altnames.is_empty() {
            String::new()
        } else {
            format!(" (also {})", b.altnames.join(", "))
        };
        let uplink = match &b.uplink {
            Some(u) => format!("uplink {u}"),
            None => "no uplink".to_string(),
        };
        let ports = if b.ports.is_empty() {
            "none".to_string()
        } else {
            b.ports.join(", ")
        };
        out.push_str(&format!("  {}{also}: {uplink}; ports: {ports}\n", b.name));
        if b.vlan_aware {
            let each: Vec<String> = b
                .port_vlans
                .iter()
                .map(|(p, v)| format!("{p} {v}"))
                .collect();
            out.push_str(&format!(
                "    VLAN-aware; VLANs: {}\n",
                if each.is_empty() {
                    "(none shown)".to_string()
                } else {
                    each.join(", ")
                }
            ));
        }
    }
    if !map.overlays.is_empty() {
        out.push_str("Overlays\n");
    }
    for o in &map.overlays {
        let on = o.bridge.as_deref().unwrap_or("no bridge");
        out.push_str(&format!("  {} on {on}: {}\n", o.vxlan, o.describe()));
    }
    if !map.xenstore {
        out.push_str(
            "(xenstore did not answer: domains named Domain-<id>, found from vif names)\n",
        );
    }
    out
}

fn q(s: &str) -> String {
    // Line breaks become DOT's `\n` (a centred line).
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

fn label(title: &str, d: &Dev) -> String {
    let mut l = title.to_string();
    if !d.mac.is_empty() {
        l.push('\n');
        l.push_str(&d.mac);
    }
    for a in &d.addresses {
        l.push('\n');
        l.push_str(a);
    }
    q(&l)
}

/// The picture in Graphviz DOT: a box per domain with its interfaces, dom0's box also holding
/// the vifs, bridges and NICs; arrows from each interface along its path to the wire.
/// A bridge's uplink as the picture names it: a NIC, or a VXLAN overlay and its peers.
fn uplink_title(map: &Map, name: &str) -> String {
    match map.overlays.iter().find(|o| o.vxlan == name) {
        Some(o) => format!("{name} ({})", o.describe()),
        None => format!("{name} (physical NIC)"),
    }
}

pub fn dot(map: &Map) -> String {
    let mut nodes: BTreeMap<String, String> = BTreeMap::new(); // id -> attributes (dom0 side)
    let mut edges: Vec<(String, String, String)> = Vec::new();
    let mut clusters = String::new();
    let mut dom0_inner = String::new();
    let node = |nodes: &mut BTreeMap<String, String>, id: &str, attrs: String| {
        nodes.entry(id.to_string()).or_insert(attrs);
    };
    for d in &map.domains {
        let mut inner = String::new();
        for i in &d.interfaces {
            let own = Dev {
                name: i.name.clone(),
                mac: i.mac.clone().unwrap_or_default(),
                addresses: i.addresses.clone(),
            };
            // dom0 on its bridge (netdev, xenbr layouts): the bridge is dom0's interface.
            let is_bridge = i.vif.is_none() && matches!(i.path, Path::Bridge { .. });
            let fid = if is_bridge {
                let id = format!("l:{}", i.name);
                node(
                    &mut nodes,
                    &id,
                    format!(
                        "shape=component, label={}",
                        label(&format!("{} (bridge)", i.name), &own)
                    ),
                );
                id
            } else {
                let id = format!("d{}:{}", d.domid, i.name);
                inner.push_str(&format!(
                    "    {} [label={}];\n",
                    q(&id),
                    label(&i.name, &own)
                ));
                id
            };
            let mut prev = fid.clone();
            if let Some(v) = &i.vif {
                let id = format!("l:{}", v.name);
                node(&mut nodes, &id, format!("label={}", label(&v.name, v)));
                edges.push((prev.clone(), id.clone(), String::new()));
                prev = id;
            }
            match &i.path {
                Path::Bridge { bridge, uplink } => {
                    if i.vif.is_some() {
                        let id = format!("l:{}", bridge.name);
                        node(
                            &mut nodes,
                            &id,
                            format!(
                                "shape=component, label={}",
                                label(&format!("{} (bridge)", bridge.name), bridge)
                            ),
                        );
                        let attrs = match &i.vlans {
                            Some(v) => format!("label={}", q(&format!("VLANs {v}"))),
                            None => String::new(),
                        };
                        edges.push((prev.clone(), id.clone(), attrs));
                        prev = id;
                    }
                    match uplink {
                        Some(u) => {
                            let id = format!("l:{}", u.name);
                            node(
                                &mut nodes,
                                &id,
                                format!(
                                    "shape=box3d, label={}",
                                    label(&uplink_title(map, &u.name), u)
                                ),
                            );
                            edges.push((prev, id, String::new()));
                        }
                        None => {
                            let id = format!("none:{}", bridge.name);
                            node(
                                &mut nodes,
                                &id,
                                "shape=plaintext, label=\"(no uplink)\"".into(),
                            );
                            edges.push((prev, id, "style=dashed".into()));
                        }
                    }
                }
                Path::Routed { routes, uplink } => {
                    let id = match uplink {
                        Some(u) => {
                            let id = format!("l:{}", u.name);
                            node(
                                &mut nodes,
                                &id,
                                format!(
                                    "shape=box3d, label={}",
                                    label(&format!("{} (uplink)", u.name), u)
                                ),
                            );
                            id
                        }
                        None => {
                            node(
                                &mut nodes,
                                "none:uplink",
                                "shape=plaintext, label=\"(no uplink)\"".into(),
                            );
                            "none:uplink".into()
                        }
                    };
                    edges.push((
                        prev,
                        id,
                        format!("label={}", q(&format!("routed: {}", routes.join(", ")))),
                    ));
                }
                Path::Direct => {}
                Path::Unattached => {
                    let id = format!("none:{fid}");
                    node(
                        &mut nodes,
                        &id,
                        "shape=plaintext, label=\"(not attached)\"".into(),
                    );
                    edges.push((prev, id, "style=dashed".into()));
                }
            }
        }
        if d.domid == 0 {
            // dom0's own interfaces share its box with the vifs, bridges and NICs.
            dom0_inner = inner;
        } else {
            clusters.push_str(&format!(
                "  subgraph {} {{\n    label={};\n{inner}  }}\n",
                q(&format!("cluster_d{}", d.domid)),
                q(&format!("{} (domid {})", d.name, d.domid))
            ));
        }
    }
    // Bridges no interface reaches (no vif, no address) are still part of the host.
    for b in &map.bridges {
        let id = format!("l:{}", b.name);
        if !nodes.contains_key(&id) {
            let bd = Dev {
                name: b.name.clone(),
                mac: b.mac.clone(),
                addresses: b.addresses.clone(),
            };
            node(
                &mut nodes,
                &id,
                format!(
                    "shape=component, label={}",
                    label(&format!("{} (bridge)", b.name), &bd)
                ),
            );
            if let Some(u) = &b.uplink {
                let uid = format!("l:{u}");
                node(
                    &mut nodes,
                    &uid,
                    format!("shape=box3d, label={}", q(&format!("{u} (physical NIC)"))),
                );
                edges.push((id, uid, String::new()));
            }
        }
    }
    let dom0 = map
        .domains
        .iter()
        .find(|d| d.domid == 0)
        .map(|d| d.name.clone())
        .unwrap_or_else(|| "Domain-0".into());
    let mut out = String::from(
        "digraph xennet {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    out.push_str(&clusters);
    out.push_str(&format!(
        "  subgraph \"cluster_d0\" {{\n    label={};\n",
        q(&format!("{dom0} (domid 0)"))
    ));
    out.push_str(&dom0_inner);
    for (id, attrs) in &nodes {
        out.push_str(&format!("    {} [{attrs}];\n", q(id)));
    }
    out.push_str("  }\n");
    // Several interfaces share a bridge's way out: each arrow once.
    let mut seen = std::collections::BTreeSet::new();
    edges.retain(|e| seen.insert(e.clone()));
    for (a, b, attrs) in edges {
        if attrs.is_empty() {
            out.push_str(&format!("  {} -> {};\n", q(&a), q(&b)));
        } else {
            out.push_str(&format!("  {} -> {} [{attrs}];\n", q(&a), q(&b)));
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(name: &str, mac: &str, addrs: &[&str]) -> Dev {
        Dev {
            name: name.into(),
            mac: mac.into(),
            addresses: addrs.iter().map(|a| a.to_string()).collect(),
        }
    }

    fn netloop() -> Map {
        let bridge = d("xenbr0", "02:00:00:00:00:01", &[]);
        let uplink = Some(d("peth0", "fe:ff:ff:ff:ff:ff", &[]));
        Map {
            domains: vec![
                Domain {
                    domid: 0,
                    name: "Domain-0".into(),
                    interfaces: vec![Interface {
                        name: "eth0".into(),
                        devid: Some(0),
                        mac: Some("00:00:00:00:00:01".into()),
                        addresses: vec!["192.0.2.10/24".into()],
                        vif: Some(d("vif0.0", "fe:ff:ff:ff:ff:ff", &[])),
                        vlans: None,
                        path: Path::Bridge {
                            bridge: bridge.clone(),
                            uplink: uplink.clone(),
                        },
                    }],
                },
                Domain {
                    domid: 1,
                    name: "web\"1".into(),
                    interfaces: vec![
                        Interface {
                            name: "eth0".into(),
                            devid: Some(0),
                            mac: Some("00:16:3e:00:01:00".into()),
                            addresses: vec![],
                            vif: Some(d("vif1.0", "fe:ff:ff:ff:ff:ff", &[])),
                            vlans: None,
                            path: Path::Bridge { bridge, uplink },
                        },
                        Interface {
                            name: "eth1".into(),
                            devid: Some(1),
                            mac: None,
                            addresses: vec![],
                            vif: Some(d("vif1.1", "fe:ff:ff:ff:ff:ff", &[])),
                            vlans: None,
                            path: Path::Unattached,
                        },
                    ],
                },
            ],
            bridges: vec![Bridge {
                name: "xenbr0".into(),
                altnames: vec![],
                mac: "02:00:00:00:00:01".into(),
                addresses: vec![],
                ports: vec!["peth0".into(), "vif0.0".into(), "vif1.0".into()],
                uplink: Some("peth0".into()),
                vlan_aware: false,
                port_vlans: BTreeMap::new(),
            }],
            overlays: Vec::new(),
            xenstore: true,
        }
    }

    #[test]
    fn vif_names() {
        assert_eq!(parse_vif("vif1.0"), Some((1, 0)));
        assert_eq!(parse_vif("vif12.3-emu"), Some((12, 3)));
        assert_eq!(parse_vif("vif1"), None);
        assert_eq!(parse_vif("eth0"), None);
    }

    #[test]
    fn text_is_the_classic_picture() {
        let t = text(&netloop());
        assert!(t.contains("  eth0 -> vif0.0 -> xenbr0 -> peth0\n"), "{t}");
        assert!(
            t.contains("web\"1 (domid 1)\n  eth0 -> vif1.0 -> xenbr0 -> peth0\n"),
            "{t}"
        );
        assert!(t.contains("  eth1 -> vif1.1 -> (not attached)\n"), "{t}");
        assert!(
            t.contains("  xenbr0: uplink peth0; ports: peth0, vif0.0, vif1.0\n"),
            "{t}"
        );
    }

    #[test]
    fn dot_quotes_and_connects() {
        let g = dot(&netloop());
        assert!(g.starts_with("digraph xennet {"), "{g}");
        assert!(g.contains("label=\"web\\\"1 (domid 1)\""), "{g}");
        assert!(g.contains("\"d1:eth0\" -> \"l:vif1.0\";"), "{g}");
        assert!(g.contains("\"l:vif1.0\" -> \"l:xenbr0\";"), "{g}");
        assert!(g.contains("\"l:xenbr0\" -> \"l:peth0\";"), "{g}");
        assert!(
            g.contains("\"l:vif1.1\" -> \"none:d1:eth1\" [style=dashed];"),
            "{g}"
        );
    }

    #[test]
    fn a_vlan_aware_bridge_shows_each_ports_vlans() {
        let mut m = netloop();
        m.bridges[0].vlan_aware = true;
        m.bridges[0].port_vlans = [
            ("peth0".to_string(), "1p/10/20".to_string()),
            ("vif1.0".to_string(), "10p".to_string()),
        ]
        .into_iter()
        .collect();
        m.domains[1].interfaces[0].vlans = Some("10p".into());
        let t = text(&m);
        assert!(
            t.contains("      vif1.0                fe:ff:ff:ff:ff:ff VLANs 10p\n"),
            "{t}"
        );
        assert!(
            t.contains("    VLAN-aware; VLANs: peth0 1p/10/20, vif1.0 10p\n"),
            "{t}"
        );
        let g = dot(&m);
        assert!(
            g.contains("\"l:vif1.0\" -> \"l:xenbr0\" [label=\"VLANs 10p\"];"),
            "{g}"
        );
        let j = serde_json::to_string(&m).unwrap();
        assert!(
            j.contains("\"vlan_aware\":true") && j.contains("\"vlans\":\"10p\""),
            "{j}"
        );
    }
}
