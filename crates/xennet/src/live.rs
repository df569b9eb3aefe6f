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
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Reads the host this process runs on.
pub struct LiveReader<'a> {
    pub runner: &'a dyn Runner,
    /// For facts beyond the backend directory; None where no xenstore is needed.
    pub xenstore: Option<&'a dyn XenStore>,
    /// A device's addresses and routes, read together by the first ask for either.
    addressing: RefCell<BTreeMap<String, Cached>>,
}

/// A device's addresses and routes.
type Addressing = (Vec<Addr>, Vec<Route>);

/// A device's addresses, and its routes when they were read too.
type Cached = (Vec<Addr>, Option<Vec<Route>>);

impl<'a> LiveReader<'a> {
    pub fn new(runner: &'a dyn Runner) -> LiveReader<'a> {
        LiveReader {
            runner,
            xenstore: None,
            addressing: RefCell::default(),
        }
    }

    pub fn with_xenstore(runner: &'a dyn Runner, xenstore: &'a dyn XenStore) -> LiveReader<'a> {
        LiveReader {
            xenstore: Some(xenstore),
            ..LiveReader::new(runner)
        }
    }

    /// Are `dev`'s addresses (and its routes, with `routes`) read already?
    fn has(&self, dev: &str, routes: bool) -> bool {
        self.addressing
            .borrow()
            .get(dev)
            .is_some_and(|c| c.1.is_some() || !routes)
    }

    /// `dev`'s addresses and routes: one process for both, once per run (routes are read
    /// again only when a prefetch took the addresses alone).
    fn addressing(&self, dev: &str, want_routes: bool) -> Result<Cached, ReadError> {
        if self.has(dev, want_routes) {
            return Ok(self.addressing.borrow()[dev].clone());
        }
        let (addrs, routes) = addressing(self.runner, dev)?;
        let both = (addrs, Some(routes));
        self.addressing
            .borrow_mut()
            .insert(dev.to_string(), both.clone());
        Ok(both)
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
            Fact::Addrs(dev) => self
                .addressing(dev, false)
                .map_or_else(|e| failed(e, false), |(a, _)| Answer::Addrs(a)),
            Fact::Routes(dev) => self.addressing(dev, true).map_or_else(
                |e| failed(e, false),
                |(_, r)| Answer::Routes(r.unwrap_or_default()),
            ),
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
            // Asked only as a whole, through read_several (snapshot::plan does).
            Fact::Several(_) => failed("several facts are read together, not one by one", false),
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

    /// The addresses and routes of every device asked for, in one `ip -batch` process; when
    /// that fails (a device is missing), each is read alone when asked for, so that its error
    /// names it.
    fn read_several(&self, facts: &[Fact]) -> Vec<(Fact, Answer)> {
        // Each device once, with its routes only when they are asked for (a vif-route event
        // needs the uplink's addresses, not its routing table).
        let mut devs: Vec<(&str, bool)> = Vec::new();
        for f in facts {
            let (Fact::Addrs(d) | Fact::Routes(d)) = f else {
                continue;
            };
            let routes = matches!(f, Fact::Routes(_));
            match devs.iter_mut().find(|(x, _)| x == d) {
                Some(entry) => entry.1 |= routes,
                None if !self.has(d, routes) => devs.push((d, routes)),
                None => {}
            }
        }
        if !devs.is_empty() {
            match addressing_of(self.runner, &devs) {
                Ok(all) => self.addressing.borrow_mut().extend(all),
                Err(e) => log::debug!("reading {devs:?} together: {e}; one by one"),
            }
        }
        facts
            .iter()
            .filter(|f| match f {
                Fact::Addrs(d) => self.has(d, false),
                Fact::Routes(d) => self.has(d, true),
                _ => true,
            })
            .map(|f| (f.clone(), self.read(f)))
            .collect()
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

/// Every link of this namespace with its addresses, in ifindex order (`xennet map`).
pub fn detailed_links(runner: &dyn Runner) -> Result<Vec<LinkDetail>, ReadError> {
    let out = runner.run(&ip(["-j", "-d", "addr", "show"]))?;
    parse_json(&out, "-d addr show")
}

/// The routes through `dev` in every table (policy-routing tables included), IPv4 then IPv6:
/// with `table all`, `ip route show` lists both families.
pub fn routes(runner: &dyn Runner, dev: &str) -> Result<Vec<Route>, ReadError> {
    let out = runner.run(&ip(["-j", "route", "show", "table", "all", "dev", dev]))?;
    routes_of(serde_json::from_str(out.trim()).unwrap_or_default())
}

/// Routes from `ip -j route` values, each marked with its family: IPv6 routes carry `pref`
/// (the kernel always gives RTA_PREF for them), and only they name addresses with colons.
fn routes_of(values: Vec<serde_json::Value>) -> Result<Vec<Route>, ReadError> {
    let mut all: Vec<Route> = Vec::new();
    for v in values {
        let v6 = v.get("pref").is_some()
            || ["dst", "gateway", "prefsrc"].iter().any(|k| {
                v.get(k)
                    .and_then(|x| x.as_str())
                    .is_some_and(|x| x.contains(':'))
            });
        let mut r: Route = serde_json::from_value(v).map_err(|source| ReadError::Json {
            what: "route show".into(),
            source,
        })?;
        r.v6 = v6;
        all.push(r);
    }
    // IPv4 first, as the two separate listings gave them.
    all.sort_by_key(|r| r.v6);
    Ok(all)
}

/// `dev`'s addresses and its routes (both families, every table) from one `ip -batch`
/// process (issue 17: a routed vif's event reads them once).
pub fn addressing(runner: &dyn Runner, dev: &str) -> Result<Addressing, ReadError> {
    let mut all = addressing_of(runner, &[(dev, true)])?;
    let (addrs, routes) = all.remove(dev).unwrap_or_default();
    Ok((addrs, routes.unwrap_or_default()))
}

/// The addresses of several devices, and the routes of those marked, from one `ip -batch`
/// process.
fn addressing_of(
    runner: &dyn Runner,
    devs: &[(&str, bool)],
) -> Result<BTreeMap<String, Cached>, ReadError> {
    let lines: String = devs
        .iter()
        .map(|(d, routes)| match routes {
            true => format!("addr show dev {d}\nroute show table all dev {d}\n"),
            false => format!("addr show dev {d}\n"),
        })
        .collect();
    let out = runner.run(&ip(["-j", "-batch", "-"]).stdin(lines))?;
    let json = |source| ReadError::Json {
        what: "-batch addr show, route show".into(),
        source,
    };
    let mut parts = serde_json::Deserializer::from_str(&out).into_iter::<serde_json::Value>();
    let mut next = || -> Result<serde_json::Value, ReadError> {
        Ok(parts.next().transpose().map_err(json)?.unwrap_or_default())
    };
    let mut all = BTreeMap::new();
    for (d, with_routes) in devs {
        let links: Vec<AddrLink> = serde_json::from_value(next()?).unwrap_or_default();
        let routes = match with_routes {
            true => Some(routes_of(
                serde_json::from_value(next()?).unwrap_or_default(),
            )?),
            false => None,
        };
        all.insert(
            d.to_string(),
            (
                links.into_iter().flat_map(|l| l.addr_info).collect(),
                routes,
            ),
        );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Recorder;

    /// What `ip -j -batch -` prints for `addr show dev d0` and `route show table all dev d0`
    /// (captured on kernel 6.18, iproute2 6.1): two JSON arrays, routes of both families.
    const BATCH: &str = r#"[{"ifindex":3,"ifname":"d0","flags":["UP"],"mtu":1500,"addr_info":[{"family":"inet","local":"10.1.1.1","prefixlen":24,"scope":"global"},{"family":"inet6","local":"2001:db8::1","prefixlen":64,"scope":"global"}]}]
[{"dst":"default","scope":"link","metric":7,"flags":["linkdown"]},{"dst":"10.1.1.0/24","protocol":"kernel","scope":"link","prefsrc":"10.1.1.1","flags":[]},{"dst":"2001:db8::/64","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},{"dst":"default","metric":5,"flags":[],"pref":"medium"}]
"#;

    #[test]
    fn addresses_and_routes_of_both_families_come_from_one_process() {
        let r = Recorder {
            answers: vec![("-batch".into(), BATCH.into())],
            ..Recorder::default()
        };
        let reader = LiveReader::new(&r);
        let (Answer::Addrs(a), Answer::Routes(routes)) = (
            reader.read(&Fact::Addrs("d0".into())),
            reader.read(&Fact::Routes("d0".into())),
        ) else {
            panic!("no answers")
        };
        assert_eq!(r.lines.borrow().len(), 1, "{:?}", r.lines.borrow());
        assert_eq!(a.len(), 2);
        let fam: Vec<(&str, bool)> = routes.iter().map(|x| (x.dst.as_str(), x.v6)).collect();
        // The IPv6 default route has no colon anywhere: its `pref` tells.
        assert_eq!(
            fam,
            [
                ("default", false),
                ("10.1.1.0/24", false),
                ("2001:db8::/64", true),
                ("default", true)
            ]
        );
    }

    #[test]
    fn facts_asked_together_are_read_by_one_process_or_else_one_by_one() {
        // eth0's addresses alone (its routes are not asked for), then vif1.0's both.
        let addrs_only = BATCH.lines().next().unwrap();
        let two = format!("{addrs_only}\n{BATCH}");
        let r = Recorder {
            answers: vec![("-batch".into(), two)],
            ..Recorder::default()
        };
        let reader = LiveReader::new(&r);
        let facts = [
            Fact::Addrs("eth0".into()),
            Fact::Addrs("vif1.0".into()),
            Fact::Routes("vif1.0".into()),
        ];
        let got = reader.read_several(&facts);
        assert_eq!(got.len(), 3);
        assert_eq!(r.lines.borrow().len(), 1);
        assert!(r.lines.borrow()[0].contains(
            "addr show dev eth0\naddr show dev vif1.0\nroute show table all dev vif1.0\n"
        ));
        assert!(!r.lines.borrow()[0].contains("route show table all dev eth0"));
        let Some((_, Answer::Routes(routes))) = got.iter().find(|(f, _)| *f == facts[2]) else {
            panic!("{got:?}")
        };
        assert_eq!(routes.len(), 4);
        // A failing batch (a device is missing): nothing answered, each fact read on its own.
        let bad = Recorder::default();
        *bad.fail_when.borrow_mut() = Some("-batch".into());
        assert!(LiveReader::new(&bad).read_several(&facts).is_empty());
    }
}
