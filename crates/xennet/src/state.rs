//! What the host looks like now. Link facts come from `/sys/class/net` (no process needed);
//! addresses and routes from `ip -j`, parsed with serde.

use crate::exec::{ip, Runner};
use serde::Deserialize;
use std::path::PathBuf;

fn sys(dev: &str) -> PathBuf {
    crate::paths::sys_class_net().join(dev)
}

fn sys_read(dev: &str, file: &str) -> Option<String> {
    std::fs::read_to_string(sys(dev).join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

/// A link, as sysfs shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub ifindex: u32,
    pub mtu: u32,
    pub address: String,
    /// Administratively up (IFF_UP).
    pub up: bool,
    pub master: Option<String>,
    pub is_bridge: bool,
    pub alias: String,
}

/// Reads a link from sysfs; None if there is no such link.
pub fn link(dev: &str) -> Option<Link> {
    if dev.is_empty() || dev.contains('/') || dev == "." || dev == ".." {
        return None;
    }
    let base = sys(dev);
    let ifindex = sys_read(dev, "ifindex")?.parse().ok()?;
    let flags = sys_read(dev, "flags")
        .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0);
    let master = std::fs::read_link(base.join("master"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    Some(Link {
        name: dev.to_string(),
        ifindex,
        mtu: sys_read(dev, "mtu")
            .and_then(|m| m.parse().ok())
            .unwrap_or(0),
        address: sys_read(dev, "address").unwrap_or_default(),
        up: flags & 1 == 1,
        master,
        is_bridge: base.join("bridge").is_dir(),
        alias: sys_read(dev, "ifalias").unwrap_or_default(),
    })
}

pub fn exists(dev: &str) -> bool {
    link(dev).is_some()
}

/// BR-02: is `dev` a port of `bridge`?
pub fn is_port(bridge: &str, dev: &str) -> bool {
    sys(bridge).join("brif").join(dev).exists()
}

/// The ports of a bridge, sorted.
pub fn ports(bridge: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(sys(bridge).join("brif"))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Every bridge on the host, sorted by name (the order `brctl show` lists them in).
pub fn bridges() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(crate::paths::sys_class_net())
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .filter(|n| sys(n).join("bridge").is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The interface flags of a link (IFF_*), from sysfs; 0 if unreadable.
pub fn flags(dev: &str) -> u32 {
    sys_read(dev, "flags")
        .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0)
}

/// IFF_NOARP and IFF_MULTICAST, the two flags a netloop port changes (NL-04).
pub const IFF_NOARP: u32 = 0x80;
pub const IFF_MULTICAST: u32 = 0x1000;

/// The link that carries `name` as its name or as an alternative name (`ip link property add …
/// altname`); sysfs knows only the first, the kernel's name lookup both.
pub fn resolve_name(runner: &dyn Runner, name: &str) -> Option<String> {
    if exists(name) {
        return Some(name.to_string());
    }
    #[derive(Deserialize)]
    struct Named {
        ifname: String,
    }
    let out = runner.run(&ip(["-j", "link", "show", "dev", name])).ok()?;
    let links: Vec<Named> = parse_json(&out, "link show").ok()?;
    links.into_iter().next().map(|l| l.ifname)
}

/// An address as `ip -j addr` shows it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Addr {
    pub family: String,
    pub local: String,
    pub prefixlen: u8,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub broadcast: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub secondary: bool,
    #[serde(default)]
    pub dynamic: bool,
    #[serde(default)]
    pub noprefixroute: bool,
    #[serde(default)]
    pub nodad: bool,
    #[serde(default)]
    pub mngtmpaddr: bool,
    #[serde(default)]
    pub home: bool,
    #[serde(default)]
    pub valid_life_time: Option<u64>,
    #[serde(default)]
    pub preferred_life_time: Option<u64>,
}

impl Addr {
    /// Kernel-made IPv6 link-local addresses stay with their link; everything else moves.
    pub fn movable(&self) -> bool {
        !(self.family == "inet6" && self.scope.as_deref() == Some("link"))
    }

    /// `ip addr add|del` arguments that recreate this address on `dev` (NB-08, from structured
    /// data so that flags like `dynamic` cannot break it: NB-09). The label moves with the device
    /// name (`eth0:1` on `eth0` → `br:1` on `br`).
    pub fn args(&self, verb: &str, from_dev: &str, dev: &str) -> Vec<String> {
        let mut a: Vec<String> = vec!["addr".into(), verb.into()];
        a.push(format!("{}/{}", self.local, self.prefixlen));
        if verb == "del" {
            a.extend(["dev".into(), dev.into()]);
            return a;
        }
        if let Some(peer) = &self.address {
            a.extend(["peer".into(), peer.clone()]);
        }
        if let Some(b) = &self.broadcast {
            a.extend(["broadcast".into(), b.clone()]);
        }
        if let Some(s) = &self.scope {
            if s != "global" {
                a.extend(["scope".into(), s.clone()]);
            }
        }
        if let Some(l) = &self.label {
            if let Some(rest) = l.strip_prefix(from_dev) {
                if !rest.is_empty() {
                    a.extend(["label".into(), format!("{dev}{rest}")]);
                }
            }
        }
        if let (Some(v), Some(p)) = (self.valid_life_time, self.preferred_life_time) {
            if v != u64::from(u32::MAX) {
                a.extend([
                    "valid_lft".into(),
                    v.to_string(),
                    "preferred_lft".into(),
                    p.to_string(),
                ]);
            }
        }
        // The flags an administrator sets survive the move (IPv6's nodad, home, mngtmpaddr).
        for (set, flag) in [
            (self.noprefixroute, "noprefixroute"),
            (self.nodad, "nodad"),
            (self.mngtmpaddr, "mngtmpaddr"),
            (self.home, "home"),
        ] {
            if set {
                a.push(flag.into());
            }
        }
        a.extend(["dev".into(), dev.into()]);
        a
    }
}

#[derive(Deserialize)]
struct AddrLink {
    #[serde(default)]
    addr_info: Vec<Addr>,
}

/// Parses `ip -j` output; no output is an empty list, anything unreadable an error (planning on
/// a misread host would move nothing and then lose what it did not see).
fn parse_json<T: serde::de::DeserializeOwned>(out: &str, what: &str) -> Result<Vec<T>, String> {
    let text = out.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(text).map_err(|e| {
        format!(
            "cannot read the output of `ip -j {what}` ({e}): iproute2 with JSON output is needed"
        )
    })
}

/// The addresses of a link, in the kernel's order (primary before secondary).
pub fn addrs(runner: &dyn Runner, dev: &str) -> Result<Vec<Addr>, String> {
    let out = runner
        .run(&ip(["-j", "addr", "show", "dev", dev]))
        .map_err(|e| e.to_string())?;
    let links: Vec<AddrLink> = parse_json(&out, "addr show")?;
    Ok(links.into_iter().flat_map(|l| l.addr_info).collect())
}

/// IP-01: the first primary IPv4 address of a link, without prefix; None if it has none.
pub fn primary_ipv4(runner: &dyn Runner, dev: &str) -> Result<Option<String>, String> {
    if !exists(dev) {
        return Ok(None);
    }
    Ok(addrs(runner, dev)?
        .into_iter()
        .find(|a| a.family == "inet" && !a.secondary)
        .map(|a| a.local))
}

/// The uplink of the routed modes: `netdev` when given; else `eth0`, the originals' default, when
/// it exists; else the device of the default route (modern names like `enp0s3`). Returns the
/// device and how it was chosen.
pub fn choose_uplink(runner: &dyn Runner, given: Option<&str>, origin: &str) -> (String, String) {
    if let Some(n) = given.filter(|n| !n.is_empty()) {
        return (n.to_string(), origin.to_string());
    }
    if exists("eth0") {
        return ("eth0".into(), "the default".into());
    }
    match default_route_dev(runner) {
        Ok(Some(d)) => (
            d,
            "the device of the default route, as there is no eth0".into(),
        ),
        _ => ("eth0".into(), "the default".into()),
    }
}

/// network-bridge's and network-nat's uplink: `netdev` when given, else the default route's device
/// (NB-02, parsed whole; issue 3 asks the same of NAT), else `eth0`. Checked as an interface name;
/// returned with how it was chosen, which the scripts print.
pub fn uplink_by_default_route(
    inv: &crate::invocation::Invocation,
    runner: &dyn Runner,
) -> Result<(String, String), String> {
    let (netdev, origin) = match inv.get("netdev").filter(|v| !v.is_empty()) {
        Some(n) => (n.to_string(), inv.origin("netdev")),
        None => match default_route_dev(runner)? {
            Some(d) => (d, "the device of the default route".to_string()),
            None => (
                "eth0".to_string(),
                "the default, as there is no default route".to_string(),
            ),
        },
    };
    crate::validate::ifname("netdev", &netdev).map_err(|e| e.0)?;
    Ok((netdev, origin))
}

/// A link with everything `ip -j -d addr show` tells about it: the whole-host view that
/// `xennet map` draws (one call for every link of the namespace it runs in).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct LinkDetail {
    pub ifname: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub master: Option<String>,
    /// A veth's peer, when it is in the same namespace.
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub altnames: Vec<String>,
    #[serde(default)]
    pub ifalias: Option<String>,
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default)]
    pub mtu: u32,
    #[serde(default)]
    pub linkinfo: Option<LinkInfo>,
    #[serde(default)]
    pub addr_info: Vec<Addr>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct LinkInfo {
    #[serde(default)]
    pub info_kind: Option<String>,
}

impl LinkDetail {
    /// `bridge`, `veth`, `vxlan` …; None for a plain device (a physical NIC).
    pub fn kind(&self) -> Option<&str> {
        self.linkinfo.as_ref().and_then(|i| i.info_kind.as_deref())
    }

    pub fn up(&self) -> bool {
        self.flags.iter().any(|f| f == "UP")
    }

    /// Addresses as `local/prefixlen`, kernel-made IPv6 link-local ones left out.
    pub fn addresses(&self) -> Vec<String> {
        self.addr_info
            .iter()
            .filter(|a| a.movable())
            .map(|a| format!("{}/{}", a.local, a.prefixlen))
            .collect()
    }
}

/// Every link of this namespace with its addresses, in ifindex order.
pub fn detailed_links(runner: &dyn Runner) -> Result<Vec<LinkDetail>, String> {
    let out = runner
        .run(&ip(["-j", "-d", "addr", "show"]))
        .map_err(|e| e.to_string())?;
    parse_json(&out, "-d addr show")
}

/// A route as `ip -j route` shows it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Route {
    pub dst: String,
    #[serde(default)]
    pub gateway: Option<String>,
    #[serde(default)]
    pub dev: Option<String>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub prefsrc: Option<String>,
    #[serde(default)]
    pub metric: Option<u32>,
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub table: Option<String>,
    #[serde(skip)]
    pub v6: bool,
}

impl Route {
    /// Routes the kernel makes by itself (prefix routes of addresses) are not moved.
    pub fn movable(&self) -> bool {
        self.protocol.as_deref() != Some("kernel")
            && self.kind.as_deref().is_none_or(|k| k == "unicast")
            && self.table.as_deref() != Some("local")
    }

    /// `ip route add|del` arguments for this route on `dev`.
    pub fn args(&self, verb: &str, dev: &str) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        if self.v6 {
            a.push("-6".into());
        }
        a.extend(["route".into(), verb.into(), self.dst.clone()]);
        if let Some(g) = &self.gateway {
            a.extend(["via".into(), g.clone()]);
        }
        a.extend(["dev".into(), dev.into()]);
        if let Some(p) = &self.protocol {
            a.extend(["proto".into(), p.clone()]);
        }
        if let Some(s) = &self.scope {
            if s != "global" {
                a.extend(["scope".into(), s.clone()]);
            }
        }
        if let Some(s) = &self.prefsrc {
            a.extend(["src".into(), s.clone()]);
        }
        if let Some(m) = self.metric {
            a.extend(["metric".into(), m.to_string()]);
        }
        if self.flags.iter().any(|f| f == "onlink") {
            a.push("onlink".into());
        }
        if let Some(t) = self.table.as_deref().filter(|t| *t != "main") {
            a.extend(["table".into(), t.to_string()]);
        }
        a
    }

    /// A route that needs another route to reach its gateway goes after routes without one.
    pub fn has_gateway(&self) -> bool {
        self.gateway.is_some()
    }
}

/// The routes through `dev` in every table (policy-routing tables included), IPv4 then IPv6.
pub fn routes(runner: &dyn Runner, dev: &str) -> Result<Vec<Route>, String> {
    let mut all = Vec::new();
    for v6 in [false, true] {
        let fam = if v6 { "-6" } else { "-4" };
        let out = runner
            .run(&ip([
                fam, "-j", "route", "show", "table", "all", "dev", dev,
            ]))
            .map_err(|e| e.to_string())?;
        let mut rs: Vec<Route> = parse_json(&out, "route show")?;
        for r in &mut rs {
            r.v6 = v6;
        }
        all.extend(rs);
    }
    Ok(all)
}

/// The device of the first IPv4 default route (NB-02, parsed properly: `enp0s3` stays whole).
pub fn default_route_dev(runner: &dyn Runner) -> Result<Option<String>, String> {
    let out = runner
        .run(&ip(["-4", "-j", "route", "show", "default"]))
        .map_err(|e| e.to_string())?;
    let rs: Vec<Route> = parse_json(&out, "route show default")?;
    Ok(rs.into_iter().find_map(|r| r.dev))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_args_keep_flags_and_move_labels() {
        let a: Addr = serde_json::from_str(
            r#"{"family":"inet","local":"192.0.2.11","prefixlen":24,"scope":"global","secondary":true,
                "dynamic":true,"label":"eth0:1","valid_life_time":300,"preferred_life_time":200}"#,
        )
        .unwrap();
        assert_eq!(
            a.args("add", "eth0", "tmpbridge").join(" "),
            "addr add 192.0.2.11/24 label tmpbridge:1 valid_lft 300 preferred_lft 200 dev tmpbridge"
        );
        assert_eq!(
            a.args("del", "eth0", "eth0").join(" "),
            "addr del 192.0.2.11/24 dev eth0"
        );
    }

    #[test]
    fn route_args() {
        let r: Route = serde_json::from_str(
            r#"{"dst":"10.50.0.0/16","gateway":"192.0.2.1","protocol":"static","metric":5,"flags":[]}"#,
        )
        .unwrap();
        assert!(r.movable());
        assert_eq!(
            r.args("add", "eth0").join(" "),
            "route add 10.50.0.0/16 via 192.0.2.1 dev eth0 proto static metric 5"
        );
        let k: Route =
            serde_json::from_str(r#"{"dst":"192.0.2.0/24","protocol":"kernel","scope":"link"}"#)
                .unwrap();
        assert!(!k.movable());
    }
}
