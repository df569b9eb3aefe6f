//! The live host as a [`Reader`]: link facts from `/sys/class/net` (no process needed),
//! addresses and routes from `ip -j` parsed with serde, files, tools on PATH, the iptables
//! tables, VXLAN devices, Open vSwitch and xenstore. The only module that reads the host for
//! planning; planners see what it read through the [`crate::snapshot::Snapshot`].

use crate::bridge::FLOOD;
use crate::exec::{ip, ovs_vsctl, Cmd, ExecError, Runner};
use crate::facts::{Answer, Fact, OvsPort, Reader, Vxlan};
use crate::state::{parse_json, Addr, AddrLink, Link, LinkDetail, ReadError, Route};
use crate::xenstore::XenStore;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Reads the host this process runs on.
pub struct LiveReader<'a> {
    pub runner: &'a dyn Runner,
    /// For facts beyond the backend directory; None where no xenstore is needed.
    pub xenstore: Option<&'a dyn XenStore>,
}

impl<'a> LiveReader<'a> {
    pub fn new(runner: &'a dyn Runner) -> LiveReader<'a> {
        LiveReader {
            runner,
            xenstore: None,
        }
    }
}

fn failed(e: impl std::fmt::Display, missing_tool: bool) -> Answer {
    Answer::Failed {
        msg: e.to_string(),
        missing_tool,
    }
}

fn from_exec(e: ExecError) -> Answer {
    let missing = e.is_missing_tool();
    failed(e, missing)
}

impl Reader for LiveReader<'_> {
    fn read(&self, fact: &Fact) -> Answer {
        match fact {
            Fact::Link(name) => Answer::Link(link(name)),
            Fact::Bridges => Answer::Names(bridges()),
            Fact::Ports(b) => Answer::Names(ports(b)),
            Fact::Resolve(name) => Answer::Name(resolve_name(self.runner, name)),
            Fact::Addrs(dev) => {
                addrs(self.runner, dev).map_or_else(|e| failed(e, false), Answer::Addrs)
            }
            Fact::Routes(dev) => {
                routes(self.runner, dev).map_or_else(|e| failed(e, false), Answer::Routes)
            }
            Fact::DefaultRouteDev => {
                default_route_dev(self.runner).map_or_else(|e| failed(e, false), Answer::Name)
            }
            Fact::RouteGet(addr) => Answer::Route(route_get(self.runner, addr)),
            Fact::File(path) => Answer::Text(read_file(path)),
            Fact::Executable(path) => Answer::Yes(is_executable(path)),
            Fact::Executables(dir, ext) => Answer::Paths(executables(dir, ext)),
            Fact::Tool(name) => Answer::Yes(which::which(name).is_ok()),
            Fact::Iptables(table) => {
                match self
                    .runner
                    .run(&Cmd::new("iptables-save").args(["-t", table.as_str()]))
                {
                    Ok(out) => Answer::Lines(
                        out.lines()
                            .filter(|l| l.starts_with("-A ") || l.starts_with(":"))
                            .map(str::to_string)
                            .collect(),
                    ),
                    Err(e) => from_exec(e),
                }
            }
            Fact::Vxlans => Answer::Vxlans(vxlans(self.runner)),
            Fact::OvsBridge(name) => {
                match self.runner.run(&ovs_vsctl().args(["br-exists", name])) {
                    Ok(_) => Answer::Yes(true),
                    // ovs-vsctl br-exists: exit status 2 means "no such bridge".
                    Err(ExecError::Failed { code: Some(2), .. }) => Answer::Yes(false),
                    Err(e) => from_exec(e),
                }
            }
            Fact::OvsBridges => match self.runner.run(&ovs_vsctl().arg("list-br")) {
                Ok(out) => Answer::Names(out.split_whitespace().map(str::to_string).collect()),
                Err(e) => from_exec(e),
            },
            Fact::OvsPort { bridge, port } => Answer::OvsPort(ovs_port(self.runner, bridge, port)),
            Fact::Command(argv) => {
                let Some((program, args)) = argv.split_first() else {
                    return failed("no command", false);
                };
                match self.runner.run(&Cmd::new(program).args(args)) {
                    Ok(stdout) => Answer::Output {
                        code: Some(0),
                        stdout,
                        stderr: String::new(),
                    },
                    Err(ExecError::Failed { code, stderr, .. }) => Answer::Output {
                        code,
                        stdout: String::new(),
                        stderr,
                    },
                    Err(e) => from_exec(e),
                }
            }
            Fact::Xenstore(path) => match self.xenstore.map(|xs| xs.read(path)) {
                Some(Ok(v)) => Answer::Text(v),
                Some(Err(e)) => from_exec(e),
                None => Answer::Text(None),
            },
        }
    }
}

fn ovs_port(runner: &dyn Runner, bridge: &str, port: &str) -> Option<OvsPort> {
    let listed = runner
        .run(&ovs_vsctl().args(["list-ports", bridge]))
        .is_ok_and(|o| o.lines().any(|l| l.trim() == port));
    if !listed {
        return None;
    }
    let out = runner
        .run(&ovs_vsctl().args(["get", "port", port, "tag", "trunks", "vlan_mode"]))
        .ok()?;
    let mut lines = out.lines().map(str::trim);
    Some(OvsPort {
        tag: lines.next()?.to_string(),
        trunks: lines.next()?.to_string(),
        vlan_mode: lines.next().unwrap_or("[]").to_string(),
    })
}

fn read_file(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn executables(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext) && is_executable(p))
        .collect();
    found.sort();
    found
}

fn sys(dev: &str) -> PathBuf {
    crate::paths::sys_class_net().join(dev)
}

fn sys_read(dev: &str, file: &str) -> Option<String> {
    std::fs::read_to_string(sys(dev).join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

/// A link from sysfs; None if there is no such link.
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
        flags,
    })
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

/// The link that carries `name` as its name or as an alternative name (`ip link property add …
/// altname`); sysfs knows only the first, the kernel's name lookup both.
pub fn resolve_name(runner: &dyn Runner, name: &str) -> Option<String> {
    if link(name).is_some() {
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

/// The addresses of a link, in the kernel's order (primary before secondary).
pub fn addrs(runner: &dyn Runner, dev: &str) -> Result<Vec<Addr>, ReadError> {
    let out = runner.run(&ip(["-j", "addr", "show", "dev", dev]))?;
    let links: Vec<AddrLink> = parse_json(&out, "addr show")?;
    Ok(links.into_iter().flat_map(|l| l.addr_info).collect())
}

/// Every link of this namespace with its addresses, in ifindex order (`xennet map`).
pub fn detailed_links(runner: &dyn Runner) -> Result<Vec<LinkDetail>, ReadError> {
    let out = runner.run(&ip(["-j", "-d", "addr", "show"]))?;
    parse_json(&out, "-d addr show")
}

/// The routes through `dev` in every table (policy-routing tables included), IPv4 then IPv6.
pub fn routes(runner: &dyn Runner, dev: &str) -> Result<Vec<Route>, ReadError> {
    let mut all = Vec::new();
    for v6 in [false, true] {
        let fam = if v6 { "-6" } else { "-4" };
        let out = runner.run(&ip([
            fam, "-j", "route", "show", "table", "all", "dev", dev,
        ]))?;
        let mut rs: Vec<Route> = parse_json(&out, "route show")?;
        for r in &mut rs {
            r.v6 = v6;
        }
        all.extend(rs);
    }
    Ok(all)
}

/// The device of the first IPv4 default route (NB-02, parsed properly: `enp0s3` stays whole).
pub fn default_route_dev(runner: &dyn Runner) -> Result<Option<String>, ReadError> {
    let out = runner.run(&ip(["-4", "-j", "route", "show", "default"]))?;
    let rs: Vec<Route> = parse_json(&out, "route show default")?;
    Ok(rs.into_iter().find_map(|r| r.dev))
}

/// `ip -j route get ADDR`: the route the kernel would take, None when it has none.
pub fn route_get(runner: &dyn Runner, addr: &str) -> Option<Route> {
    let out = runner.run(&ip(["-j", "route", "get", addr])).ok()?;
    let rs: Vec<Route> = parse_json(&out, "route get").ok()?;
    rs.into_iter().next()
}

/// The peers of a VXLAN device: the destinations of its all-zeros entries.
pub fn flood_peers(runner: &dyn Runner, vxlan: &str) -> Vec<String> {
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

/// Every VXLAN device on the host (`ip -d -j link show type vxlan`), sorted by name.
pub fn vxlans(runner: &dyn Runner) -> Vec<Vxlan> {
    let out = runner
        .run(&ip(["-d", "-j", "link", "show", "type", "vxlan"]))
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_default();
    let mut all: Vec<Vxlan> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            let d = &l["linkinfo"]["info_data"];
            let name = l["ifname"].as_str()?.to_string();
            Some(Vxlan {
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
                address: l["address"].as_str().unwrap_or_default().to_string(),
                up: l["flags"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|x| x == "UP")),
                learning: d["learning"].as_bool().unwrap_or(true),
                peers: flood_peers(runner, &name),
                name,
            })
        })
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}
