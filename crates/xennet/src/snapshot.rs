//! What a run knows of the host: a [`Snapshot`] of [`Fact`]s, each read once by a [`Reader`]
//! (the live host in production, a [`crate::fixture::Fixture`] in unit tests).
//!
//! Planners are pure functions of the settings and the snapshot: they start no process and read
//! no file. A planner that needs a fact the snapshot does not hold yet stops with
//! [`Error::Unread`]; [`plan`] then has the reader read that fact and plans again. So the
//! snapshot holds exactly what the plan depends on, every fact is read once, and what a
//! planner reads is what a fixture must provide.

use crate::error::{Error, Result};
pub use crate::facts::{Answer, Fact, OvsPort, Reader, Vxlan};
use crate::state::{Addr, Link, Route};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The facts read so far.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    facts: BTreeMap<Fact, Answer>,
}

/// How many facts one planning may ask for, one at a time (a planner asking for ever new
/// facts is a bug, not a host).
const MAX_ROUNDS: usize = 512;

/// Plans with `planner` over a snapshot that `reader` fills as planning asks for facts.
pub fn plan<T>(
    reader: &dyn Reader,
    snap: &mut Snapshot,
    mut planner: impl FnMut(&Snapshot) -> Result<T>,
) -> Result<T> {
    for _ in 0..MAX_ROUNDS {
        match planner(snap) {
            Err(Error::Unread(Fact::Several(facts))) => {
                for (fact, answer) in reader.read_several(&facts) {
                    log::trace!("read {fact:?}: {answer:?}");
                    snap.facts.insert(fact, answer);
                }
                // Asked once: what was left out is read fact by fact.
                snap.facts.insert(Fact::Several(facts), Answer::Yes(true));
            }
            Err(Error::Unread(fact)) => {
                if snap.facts.contains_key(&fact) {
                    return Err(Error::Unreadable(format!(
                        "internal error: {fact:?} was read but is still asked for"
                    )));
                }
                let answer = reader.read(&fact);
                log::trace!("read {fact:?}: {answer:?}");
                snap.facts.insert(fact, answer);
            }
            done => return done,
        }
    }
    Err(Error::Unreadable(
        "internal error: planning asked for too many facts".into(),
    ))
}

fn failed(msg: &str, missing_tool: bool) -> Error {
    if missing_tool {
        Error::MissingTool(msg.to_string())
    } else {
        Error::Unreadable(msg.to_string())
    }
}

impl Snapshot {
    pub fn new() -> Snapshot {
        Snapshot::default()
    }

    /// Records an answer (readers, and tests that build a snapshot by hand).
    pub fn insert(&mut self, fact: Fact, answer: Answer) {
        self.facts.insert(fact, answer);
    }

    /// The facts read, in order (tests check what a planner needed).
    pub fn facts(&self) -> impl Iterator<Item = &Fact> {
        self.facts.keys()
    }

    fn get(&self, fact: Fact) -> Result<&Answer> {
        match self.facts.get(&fact) {
            Some(Answer::Failed { msg, missing_tool }) => Err(failed(msg, *missing_tool)),
            Some(a) => Ok(a),
            None => Err(Error::Unread(fact)),
        }
    }

    fn mismatch(fact: &str, a: &Answer) -> Error {
        Error::Unreadable(format!("internal error: {fact} answered with {a:?}"))
    }

    pub fn link(&self, name: &str) -> Result<Option<&Link>> {
        match self.get(Fact::Link(name.to_string()))? {
            Answer::Link(l) => Ok(l.as_ref()),
            a => Err(Self::mismatch("Link", a)),
        }
    }

    pub fn exists(&self, name: &str) -> Result<bool> {
        Ok(self.link(name)?.is_some())
    }

    /// BR-02: is `dev` a port of `bridge`?
    pub fn is_port(&self, bridge: &str, dev: &str) -> Result<bool> {
        Ok(self.link(dev)?.and_then(|l| l.master.as_deref()) == Some(bridge))
    }

    fn names(&self, fact: Fact) -> Result<&[String]> {
        match self.get(fact)? {
            Answer::Names(n) | Answer::Lines(n) => Ok(n),
            a => Err(Self::mismatch("a list", a)),
        }
    }

    pub fn bridges(&self) -> Result<&[String]> {
        self.names(Fact::Bridges)
    }

    pub fn ports(&self, bridge: &str) -> Result<&[String]> {
        self.names(Fact::Ports(bridge.to_string()))
    }

    /// The link that carries `name` as its name or an alternative name.
    pub fn resolve(&self, name: &str) -> Result<Option<&str>> {
        match self.get(Fact::Resolve(name.to_string()))? {
            Answer::Name(n) => Ok(n.as_deref()),
            a => Err(Self::mismatch("Resolve", a)),
        }
    }

    pub fn addrs(&self, dev: &str) -> Result<&[Addr]> {
        match self.get(Fact::Addrs(dev.to_string()))? {
            Answer::Addrs(a) => Ok(a),
            a => Err(Self::mismatch("Addrs", a)),
        }
    }

    /// Asks for `facts` together, so that the reader may read them in one go (issue 17: the
    /// `ip` reads of a vif event in one process); nothing when they are known or were asked.
    pub fn prefetch(&self, facts: Vec<Fact>) -> Result<()> {
        if facts.iter().all(|f| self.facts.contains_key(f)) {
            return Ok(());
        }
        let key = Fact::Several(facts);
        if self.facts.contains_key(&key) {
            return Ok(());
        }
        Err(Error::Unread(key))
    }

    /// IP-01: the first primary IPv4 address of a link; None when it has none (or no link).
    pub fn primary_ipv4(&self, dev: &str) -> Result<Option<&str>> {
        if !self.exists(dev)? {
            return Ok(None);
        }
        Ok(self
            .addrs(dev)?
            .iter()
            .find(|a| a.family == "inet" && !a.secondary)
            .map(|a| a.local.as_str()))
    }

    pub fn routes(&self, dev: &str) -> Result<&[Route]> {
        match self.get(Fact::Routes(dev.to_string()))? {
            Answer::Routes(r) => Ok(r),
            a => Err(Self::mismatch("Routes", a)),
        }
    }

    pub fn default_route_dev(&self) -> Result<Option<&str>> {
        match self.get(Fact::DefaultRouteDev)? {
            Answer::Name(n) => Ok(n.as_deref()),
            a => Err(Self::mismatch("DefaultRouteDev", a)),
        }
    }

    pub fn route_get(&self, addr: &str) -> Result<Option<&Route>> {
        match self.get(Fact::RouteGet(addr.to_string()))? {
            Answer::Route(r) => Ok(r.as_ref()),
            a => Err(Self::mismatch("RouteGet", a)),
        }
    }

    pub fn file(&self, path: impl AsRef<Path>) -> Result<Option<&str>> {
        match self.get(Fact::File(path.as_ref().to_path_buf()))? {
            Answer::Text(t) => Ok(t.as_deref()),
            a => Err(Self::mismatch("File", a)),
        }
    }

    /// A sysctl's value, trimmed; None when it does not exist (e.g. no such device).
    pub fn sysctl(&self, path: &str) -> Result<Option<&str>> {
        Ok(self.file(path)?.map(str::trim))
    }

    pub fn executable(&self, path: impl AsRef<Path>) -> Result<bool> {
        match self.get(Fact::Executable(path.as_ref().to_path_buf()))? {
            Answer::Yes(y) => Ok(*y),
            a => Err(Self::mismatch("Executable", a)),
        }
    }

    pub fn executables(&self, dir: impl AsRef<Path>, ext: &str) -> Result<&[PathBuf]> {
        match self.get(Fact::Executables(
            dir.as_ref().to_path_buf(),
            ext.to_string(),
        ))? {
            Answer::Paths(p) => Ok(p),
            a => Err(Self::mismatch("Executables", a)),
        }
    }

    pub fn tool(&self, name: &str) -> Result<bool> {
        match self.get(Fact::Tool(name.to_string()))? {
            Answer::Yes(y) => Ok(*y),
            a => Err(Self::mismatch("Tool", a)),
        }
    }

    /// The rule lines of an iptables table (`-P` and `-A` lines of `iptables-save`).
    pub fn iptables(&self, table: &str) -> Result<&[String]> {
        self.names(Fact::Iptables(table.to_string()))
    }

    pub fn vxlans(&self) -> Result<&[Vxlan]> {
        match self.get(Fact::Vxlans)? {
            Answer::Vxlans(v) => Ok(v),
            a => Err(Self::mismatch("Vxlans", a)),
        }
    }

    pub fn vxlan(&self, name: &str) -> Result<Option<&Vxlan>> {
        Ok(self.vxlans()?.iter().find(|v| v.name == name))
    }

    pub fn ovs_bridge(&self, name: &str) -> Result<bool> {
        match self.get(Fact::OvsBridge(name.to_string()))? {
            Answer::Yes(y) => Ok(*y),
            a => Err(Self::mismatch("OvsBridge", a)),
        }
    }

    pub fn ovs_bridges(&self) -> Result<&[String]> {
        self.names(Fact::OvsBridges)
    }

    pub fn ovs_port(&self, bridge: &str, port: &str) -> Result<Option<&OvsPort>> {
        match self.get(Fact::OvsPort {
            bridge: bridge.to_string(),
            port: port.to_string(),
        })? {
            Answer::OvsPort(p) => Ok(p.as_ref()),
            a => Err(Self::mismatch("OvsPort", a)),
        }
    }

    /// What a read-only command printed: its exit status (None: killed), stdout and stderr.
    pub fn command(&self, argv: &[String]) -> Result<(Option<i32>, &str, &str)> {
        match self.get(Fact::Command(argv.to_vec()))? {
            Answer::Output {
                code,
                stdout,
                stderr,
            } => Ok((*code, stdout, stderr)),
            a => Err(Self::mismatch("Command", a)),
        }
    }

    pub fn xenstore(&self, path: &str) -> Result<Option<&str>> {
        match self.get(Fact::Xenstore(path.to_string()))? {
            Answer::Text(t) => Ok(t.as_deref()),
            a => Err(Self::mismatch("Xenstore", a)),
        }
    }
}

/// `Err(Unread)` goes up to the planning loop; anything else is the caller's to handle (a
/// failed read planning can work around).
pub fn unless_unread<T>(r: Result<T>) -> Result<Result<T>> {
    match r {
        Err(e @ Error::Unread(_)) => Err(e),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::Fixture;

    #[test]
    fn planning_reads_each_fact_it_asks_for_once() {
        let fx = Fixture::new().link(Link::named("eth0"));
        let mut snap = Snapshot::new();
        let mut runs = 0;
        let out = plan(&fx, &mut snap, |s| {
            runs += 1;
            Ok((s.exists("eth0")?, s.exists("eth1")?))
        })
        .unwrap();
        assert_eq!(out, (true, false));
        assert_eq!(runs, 3);
        assert_eq!(
            fx.asked(),
            [Fact::Link("eth0".into()), Fact::Link("eth1".into())]
        );
    }

    #[test]
    fn a_failed_read_is_the_planners_to_handle() {
        let fx = Fixture::new().answer(
            Fact::Addrs("eth0".into()),
            Answer::Failed {
                msg: "ip failed".into(),
                missing_tool: false,
            },
        );
        let mut snap = Snapshot::new();
        let r = plan(&fx, &mut snap, |s| {
            Ok(match unless_unread(s.addrs("eth0").map(|a| a.len()))? {
                Ok(n) => n.to_string(),
                Err(e) => format!("fallback: {e}"),
            })
        });
        assert_eq!(r.unwrap(), "fallback: ip failed");
    }
}
