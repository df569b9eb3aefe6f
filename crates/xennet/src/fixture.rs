//! A host made of data, for planners' unit tests: the links, addresses and routes come from
//! captured `ip -j` output (or are built by hand), files and sysctls from strings. A fact the
//! fixture was not given reads as absent: no such link, no file, an empty list, a tool not
//! installed. It remembers which facts were asked for, so a test can also check what a plan
//! needed to read.

use crate::facts::{Answer, Fact, Reader, Vxlan};
use crate::state::{parse_json, Addr, AddrLink, Link, Route};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Default)]
pub struct Fixture {
    answers: BTreeMap<Fact, Answer>,
    links: BTreeMap<String, Link>,
    altnames: BTreeMap<String, String>,
    asked: RefCell<Vec<Fact>>,
}

/// One link of `ip -j -d link show`, as far as the fixture needs it.
#[derive(Deserialize)]
struct IpLink {
    ifname: String,
    #[serde(default)]
    ifindex: u32,
    #[serde(default)]
    mtu: u32,
    #[serde(default)]
    address: String,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    master: Option<String>,
    #[serde(default)]
    ifalias: Option<String>,
    #[serde(default)]
    altnames: Vec<String>,
    #[serde(default)]
    linkinfo: Option<IpLinkInfo>,
}

#[derive(Deserialize)]
struct IpLinkInfo {
    #[serde(default)]
    info_kind: Option<String>,
}

/// IFF_* bits for the flag words `ip -j` prints.
fn flag_bits(words: &[String]) -> u32 {
    words
        .iter()
        .map(|w| match w.as_str() {
            "UP" => 0x1,
            "BROADCAST" => 0x2,
            "LOOPBACK" => 0x8,
            "POINTOPOINT" => 0x10,
            "NOARP" => crate::state::IFF_NOARP,
            "PROMISC" => 0x100,
            "MULTICAST" => crate::state::IFF_MULTICAST,
            _ => 0,
        })
        .fold(0, |a, b| a | b)
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::default()
    }

    /// The links of captured `ip -j -d link show` output (names, MACs, MTUs, flags, masters,
    /// aliases, alternative names, which are bridges).
    pub fn ip_links(mut self, json: &str) -> Fixture {
        let links: Vec<IpLink> = parse_json(json, "-d link show").expect("fixture: ip -j link");
        for l in links {
            for alt in &l.altnames {
                self.altnames.insert(alt.clone(), l.ifname.clone());
            }
            let flags = flag_bits(&l.flags);
            self.links.insert(
                l.ifname.clone(),
                Link {
                    name: l.ifname,
                    ifindex: l.ifindex,
                    mtu: l.mtu,
                    address: l.address,
                    up: flags & 1 == 1,
                    master: l.master,
                    is_bridge: l
                        .linkinfo
                        .and_then(|i| i.info_kind)
                        .is_some_and(|k| k == "bridge"),
                    alias: l.ifalias.unwrap_or_default(),
                    flags,
                },
            );
        }
        self
    }

    /// The addresses of captured `ip -j addr show` output, per link.
    pub fn ip_addrs(mut self, json: &str) -> Fixture {
        let links: Vec<AddrLink> = parse_json(json, "addr show").expect("fixture: ip -j addr");
        for l in links {
            self.answers
                .insert(Fact::Addrs(l.ifname), Answer::Addrs(l.addr_info));
        }
        self
    }

    /// The routes of captured `ip -j [-6] route show table all` output, per device.
    pub fn ip_routes(mut self, json: &str, v6: bool) -> Fixture {
        let routes: Vec<Route> = parse_json(json, "route show").expect("fixture: ip -j route");
        for mut r in routes {
            r.v6 = v6;
            let Some(dev) = r.dev.clone() else { continue };
            if v6 && r.dst == "default" && dev.is_empty() {
                continue;
            }
            let entry = self
                .answers
                .entry(Fact::Routes(dev))
                .or_insert_with(|| Answer::Routes(Vec::new()));
            if let Answer::Routes(list) = entry {
                list.push(r);
            }
        }
        self
    }

    /// A link built by hand.
    pub fn link(mut self, link: Link) -> Fixture {
        self.links.insert(link.name.clone(), link);
        self
    }

    pub fn addrs(mut self, dev: &str, addrs: Vec<Addr>) -> Fixture {
        self.answers
            .insert(Fact::Addrs(dev.to_string()), Answer::Addrs(addrs));
        self
    }

    pub fn default_route(mut self, dev: &str) -> Fixture {
        self.answers
            .insert(Fact::DefaultRouteDev, Answer::Name(Some(dev.to_string())));
        self
    }

    pub fn route_get(mut self, addr: &str, route_json: &str) -> Fixture {
        let r: Vec<Route> = parse_json(route_json, "route get").expect("fixture: ip route get");
        self.answers.insert(
            Fact::RouteGet(addr.to_string()),
            Answer::Route(r.into_iter().next()),
        );
        self
    }

    pub fn file(mut self, path: impl AsRef<Path>, text: &str) -> Fixture {
        self.answers.insert(
            Fact::File(path.as_ref().to_path_buf()),
            Answer::Text(Some(text.to_string())),
        );
        self
    }

    pub fn executable(mut self, path: impl AsRef<Path>) -> Fixture {
        self.answers.insert(
            Fact::Executable(path.as_ref().to_path_buf()),
            Answer::Yes(true),
        );
        self
    }

    pub fn tools(mut self, names: &[&str]) -> Fixture {
        for n in names {
            self.answers
                .insert(Fact::Tool(n.to_string()), Answer::Yes(true));
        }
        self
    }

    /// `iptables-save -t TABLE` output (only its `:` and `-A` lines count).
    pub fn iptables(mut self, table: &str, save: &str) -> Fixture {
        let lines = save
            .lines()
            .filter(|l| l.starts_with("-A ") || l.starts_with(':'))
            .map(str::to_string)
            .collect();
        self.answers
            .insert(Fact::Iptables(table.to_string()), Answer::Lines(lines));
        self
    }

    pub fn vxlans(mut self, v: Vec<Vxlan>) -> Fixture {
        self.answers.insert(Fact::Vxlans, Answer::Vxlans(v));
        self
    }

    /// Any answer, e.g. a failed read.
    pub fn answer(mut self, fact: Fact, answer: Answer) -> Fixture {
        self.answers.insert(fact, answer);
        self
    }

    /// The facts planning asked for, in order.
    pub fn asked(&self) -> Vec<Fact> {
        self.asked.borrow().clone()
    }

    fn derived(&self, fact: &Fact) -> Answer {
        match fact {
            Fact::Link(name) => Answer::Link(self.links.get(name).cloned()),
            Fact::Bridges => Answer::Names(
                self.links
                    .values()
                    .filter(|l| l.is_bridge)
                    .map(|l| l.name.clone())
                    .collect(),
            ),
            Fact::Ports(b) => Answer::Names(
                self.links
                    .values()
                    .filter(|l| l.master.as_deref() == Some(b.as_str()))
                    .map(|l| l.name.clone())
                    .collect(),
            ),
            Fact::Resolve(name) => Answer::Name(if self.links.contains_key(name) {
                Some(name.clone())
            } else {
                self.altnames.get(name).cloned()
            }),
            Fact::Addrs(_) => Answer::Addrs(Vec::new()),
            Fact::Routes(_) => Answer::Routes(Vec::new()),
            Fact::DefaultRouteDev => Answer::Name(None),
            Fact::RouteGet(_) => Answer::Route(None),
            Fact::File(_) | Fact::Xenstore(_) => Answer::Text(None),
            Fact::Executable(_) | Fact::Tool(_) | Fact::OvsBridge(_) => Answer::Yes(false),
            Fact::Executables(..) => Answer::Paths(Vec::new()),
            Fact::Iptables(_) => Answer::Lines(Vec::new()),
            Fact::Vxlans => Answer::Vxlans(Vec::new()),
            Fact::OvsBridges => Answer::Names(Vec::new()),
            Fact::OvsPort { .. } => Answer::OvsPort(None),
            Fact::Command(_) => Answer::Failed {
                msg: "the fixture runs no command".into(),
                missing_tool: true,
            },
            Fact::Several(_) => Answer::Yes(true),
        }
    }
}

impl Reader for Fixture {
    fn read(&self, fact: &Fact) -> Answer {
        self.asked.borrow_mut().push(fact.clone());
        self.answers
            .get(fact)
            .cloned()
            .unwrap_or_else(|| self.derived(fact))
    }
}

/// Ready-made hosts and invocations for the planners' unit tests.
#[cfg(test)]
pub mod testing {
    use super::Fixture;
    use crate::error::{Error, Outcome, Planned, Result};
    use crate::invocation::Invocation;
    use crate::snapshot::{self, Snapshot};
    use crate::vif::{Front, VifContext};
    use crate::xenstore::{Memory, XenStore};

    /// dom0 as `fixtures/capture.sh` makes it: `eth0` 192.0.2.10/24 and 2001:db8::10/64, the
    /// default route and a static one through it, `vif1.0` down as netback leaves it; every
    /// tool installed (iptables and nft).
    pub fn dom0() -> Fixture {
        Fixture::new()
            .ip_links(include_str!("fixtures/dom0-links.json"))
            .ip_addrs(include_str!("fixtures/dom0-addrs.json"))
            .ip_routes(include_str!("fixtures/dom0-routes4.json"), false)
            .ip_routes(include_str!("fixtures/dom0-routes6.json"), true)
            .default_route("eth0")
            .tools(&["ip", "iptables", "iptables-save", "iptables-restore", "nft"])
    }

    /// dom0 with an administrator's bridge `xenbr0` (up, no uplink) and `vif1.0` already its
    /// port, up.
    pub fn admin_bridge() -> Fixture {
        Fixture::new()
            .ip_links(include_str!("fixtures/admin-bridge-links.json"))
            .ip_addrs(include_str!("fixtures/admin-bridge-addrs.json"))
            .ip_routes(include_str!("fixtures/admin-bridge-routes4.json"), false)
            .ip_routes(include_str!("fixtures/admin-bridge-routes6.json"), true)
            .default_route("eth0")
            .tools(&["ip", "iptables", "iptables-save", "iptables-restore", "nft"])
    }

    /// An invocation of `script` as argv words and environment pairs (the registry's names).
    pub fn inv(script: &str, args: &[&str], env: &[(&str, &str)]) -> Invocation {
        let known = crate::scripts::find(script)
            .expect("a script")
            .known_names();
        let argv = std::iter::once(script)
            .chain(args.iter().copied())
            .map(std::ffi::OsString::from)
            .collect();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Invocation::parse(argv, env, &known).expect("a well-formed invocation")
    }

    /// A vif script's context as libxl gives it: `vif1.0`, backend `backend/vif/1/0` holding
    /// `keys`.
    pub fn vif_ctx(script: &str, command: &str, keys: &[(&str, &str)]) -> VifContext {
        vif_ctx_with(
            script,
            &[command, "type_if=vif"],
            &[("vif", "vif1.0"), ("XENBUS_PATH", "backend/vif/1/0")],
            keys,
        )
    }

    /// A vif script's context for any arguments and environment (a tap: `type_if=tap` and
    /// `INTERFACE=vif1.0-emu`), with `keys` in the backend directory `backend/vif/1/0`.
    pub fn vif_ctx_with(
        script: &str,
        args: &[&str],
        env: &[(&str, &str)],
        keys: &[(&str, &str)],
    ) -> VifContext {
        let xs = Memory::default();
        let pairs: Vec<(String, String)> = keys
            .iter()
            .map(|(k, v)| (format!("backend/vif/1/0/{k}"), v.to_string()))
            .collect();
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        xs.write(&refs).expect("memory xenstore");
        // A tap's backend path comes from its name (VC-06): /local/domain/0/backend/vif/1/0.
        for (k, v) in keys {
            xs.write(&[(&format!("/local/domain/0/backend/vif/1/0/{k}"), *v)])
                .expect("memory xenstore");
        }
        let i = inv(script, args, env);
        match crate::vif::front_end(&i, crate::scripts::find(script).unwrap().settings, &xs) {
            Ok(Front::Plan(ctx)) => ctx,
            other => panic!("no context: {other:?}"),
        }
    }

    /// Plans a vif script's event over the fixture.
    pub fn plan_vif(
        script: &str,
        ctx: &VifContext,
        inv: &Invocation,
        host: &Fixture,
    ) -> Result<Planned> {
        let crate::scripts::Run::Vif(planner) = crate::scripts::find(script).unwrap().run else {
            panic!("{script} is not a vif script");
        };
        snapshot::plan(host, &mut Snapshot::new(), |s| planner(ctx, inv, s))
    }

    /// Plans a host script's start (or stop) over the fixture.
    pub fn plan_host(
        script: &str,
        start: bool,
        inv: &Invocation,
        host: &Fixture,
    ) -> Result<Outcome> {
        let crate::scripts::Run::Host { plan, .. } = crate::scripts::find(script).unwrap().run
        else {
            panic!("{script} is not a host script");
        };
        snapshot::plan(host, &mut Snapshot::new(), |s| plan(start, inv, s))
    }

    /// The plan as the shell lines `--dry-run` prints, one string.
    pub fn lines(p: &Planned) -> String {
        p.plan.render()
    }

    /// The sentence of an error.
    pub fn sentence(e: Error) -> String {
        e.split().1.to_string()
    }
}
