//! The host's objects as data: links, addresses and routes as sysfs and `ip -j` describe them,
//! and the `ip` arguments that make them again elsewhere. [`crate::live`] reads them.

use serde::Deserialize;

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
    /// The interface flags (IFF_*).
    pub flags: u32,
}

impl Link {
    /// A plain link of that name, down, MTU 1500, no master (fixtures start from it).
    pub fn named(name: &str) -> Link {
        Link {
            name: name.to_string(),
            ifindex: 0,
            mtu: 1500,
            address: String::new(),
            up: false,
            master: None,
            is_bridge: false,
            alias: String::new(),
            flags: IFF_MULTICAST,
        }
    }
}

/// IFF_NOARP and IFF_MULTICAST, the two flags a netloop port changes (NL-04).
pub const IFF_NOARP: u32 = 0x80;
pub const IFF_MULTICAST: u32 = 0x1000;

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
pub struct AddrLink {
    #[serde(default)]
    pub ifname: String,
    #[serde(default)]
    pub addr_info: Vec<Addr>,
}

/// Why part of the host could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Exec(#[from] crate::exec::ExecError),
    #[error(
        "cannot read the output of `ip -j {what}` ({source}): iproute2 with JSON output is needed"
    )]
    Json {
        what: String,
        source: serde_json::Error,
    },
}

/// Parses `ip -j` output; no output is an empty list, anything unreadable an error (planning on
/// a misread host would move nothing and then lose what it did not see).
pub fn parse_json<T: serde::de::DeserializeOwned>(
    out: &str,
    what: &str,
) -> Result<Vec<T>, ReadError> {
    let text = out.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(text).map_err(|source| ReadError::Json {
        what: what.to_string(),
        source,
    })
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
    #[serde(default)]
    pub info_data: Option<LinkInfoData>,
}

/// The kind-specific details `ip -d` shows, as far as they are read.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct LinkInfoData {
    /// A bridge's: 1 when it is VLAN-aware.
    #[serde(default)]
    pub vlan_filtering: Option<u8>,
}

impl LinkDetail {
    /// `bridge`, `veth`, `vxlan` …; None for a plain device (a physical NIC).
    pub fn kind(&self) -> Option<&str> {
        self.linkinfo.as_ref().and_then(|i| i.info_kind.as_deref())
    }

    pub fn up(&self) -> bool {
        self.flags.iter().any(|f| f == "UP")
    }

    /// A bridge that filters by VLAN (issue 19).
    pub fn vlan_aware(&self) -> bool {
        self.linkinfo
            .as_ref()
            .and_then(|i| i.info_data.as_ref())
            .and_then(|d| d.vlan_filtering)
            == Some(1)
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
