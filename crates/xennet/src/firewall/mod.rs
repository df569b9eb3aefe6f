//! One firewall driver for every rule any script adds (spec §2.10, DESIGN: firewall): a vif's
//! rules (vif-bridge, vif-route, vif-nat), network-nat's masquerading and its drop of new
//! inbound connections, and network-bridge's forward policy (`antispoof=yes`). Three backends
//! implement [`Driver`]: [`iptables`] (the originals' rules, as `iptables-save` shows them),
//! [`nftables`] (tables of our own, gone when their last rule goes) and `none`.
//!
//! `firewall=auto`, the default, takes iptables when the `iptables` command is installed (the
//! originals' rules, unchanged), else nftables when `nft` is, else none, with a warning; the
//! choice is logged. network-route adds no rule in any backend: routing is the sysctls'.

pub mod driver;
pub mod iptables;
pub mod nftables;

use crate::error::{Error, Note, Result};
use crate::invocation::Invocation;
use crate::plan::Step;
use crate::snapshot::Snapshot;
use crate::validate::Invalid;
pub use driver::{guard_record, Driver, Family, Vif};

/// Which firewall the scripts drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Iptables,
    Nftables,
    None,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Iptables => "iptables",
            Backend::Nftables => "nftables",
            Backend::None => "none",
        }
    }

    pub fn from_name(v: &str) -> Option<Backend> {
        match v {
            "iptables" => Some(Backend::Iptables),
            "nftables" => Some(Backend::Nftables),
            "none" => Some(Backend::None),
            _ => None,
        }
    }

    fn driver(self) -> &'static dyn Driver {
        match self {
            Backend::Iptables => &iptables::Iptables,
            Backend::Nftables => &nftables::Nftables,
            Backend::None => &Nothing,
        }
    }
}

/// `firewall=` values: auto (the default), iptables, nftables or none.
pub fn check_setting(what: &str, v: &str) -> Result<(), Invalid> {
    match v {
        "auto" | "iptables" | "nftables" | "none" => Ok(()),
        other => Err(Invalid(format!(
            "{what}={other:?} is not a firewall backend: use auto (the default), iptables, \
             nftables or none"
        ))),
    }
}

/// The chosen backend and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub backend: Backend,
    /// In words, for the log: `iptables (argument firewall=)`, `nftables (auto: no iptables)`.
    pub why: String,
}

/// `firewall=` from the argument, the environment or the host's config file (in that order),
/// `auto` by default; auto looks at which tools are installed.
pub fn choose(inv: &Invocation, snap: &Snapshot) -> Result<(Choice, Vec<Note>)> {
    let (value, origin) = crate::conf::setting(inv, snap, "firewall", check_setting)?;
    let value = value.unwrap_or_else(|| "auto".into());
    if let Some(backend) = Backend::from_name(&value) {
        let why = format!("{} ({origin})", backend.name());
        return Ok((Choice { backend, why }, Vec::new()));
    }
    let mut notes = Vec::new();
    let (backend, reason) = if snap.tool("iptables")? {
        (Backend::Iptables, "iptables is installed")
    } else if snap.tool("nft")? {
        (Backend::Nftables, "nft is installed and iptables is not")
    } else {
        notes.push(Note::Warn(
            "neither iptables nor nft is installed: no firewall rules are set (install the \
             Debian package nftables or iptables, or set firewall=none to say so)"
                .into(),
        ));
        (Backend::None, "neither iptables nor nft is installed")
    };
    let why = format!("{} (firewall=auto, {origin}: {reason})", backend.name());
    notes.push(Note::Debug(format!("firewall backend {why}")));
    Ok((Choice { backend, why }, notes))
}

/// `firewall=none`: no rule anywhere (Debian's packaging, IPT-05).
struct Nothing;

impl Driver for Nothing {
    fn vif_online(&self, _: &Vif, _: &Snapshot, _: &mut Vec<Note>) -> Result<Vec<Step>> {
        Ok(Vec::new())
    }
    fn vif_offline(&self, _: &Vif, _: &Snapshot, _: bool, _: &mut Vec<Note>) -> Result<Vec<Step>> {
        Ok(Vec::new())
    }
    fn nat_present(&self, _: &str, _: &Snapshot) -> Result<(bool, bool)> {
        Ok((true, true))
    }
    fn nat_add(&self, _: &str, _: bool, _: bool) -> Vec<Step> {
        Vec::new()
    }
    fn nat_remove(&self, _: &str, _: bool, _: bool, _: &Snapshot) -> Result<Vec<Step>> {
        Ok(Vec::new())
    }
    fn guard_add(&self, _: &str, _: &[&str], _: &Snapshot) -> Result<Vec<Step>> {
        Ok(Vec::new())
    }
    fn guard_remove(&self, _: &str, _: &[&str], _: &Snapshot) -> Result<Vec<Step>> {
        Ok(Vec::new())
    }
}

/// A vif script's firewall: the backend and `antispoof=`.
#[derive(Clone, Debug)]
pub struct VifFirewall {
    pub choice: Choice,
    pub antispoof: bool,
}

/// The firewall for one vif event: `firewall=` and `antispoof=` from the argument, the
/// environment or the host's config file (in that order).
pub fn for_vif(inv: &Invocation, snap: &Snapshot, notes: &mut Vec<Note>) -> Result<VifFirewall> {
    let (choice, choice_notes) = choose(inv, snap)?;
    // The choice is logged below with antispoof's; only choose's warnings go on.
    notes.extend(
        choice_notes
            .into_iter()
            .filter(|n| !matches!(n, Note::Debug(_))),
    );
    let (spoof, spoof_origin) =
        crate::conf::setting(inv, snap, "antispoof", crate::validate::check_yes_no)?;
    let antispoof = crate::validate::yes_no("antispoof", spoof.as_deref().unwrap_or(""))
        .map_err(|e| Error::Invalid(Invalid(format!("{} ({spoof_origin})", e.0))))?;
    notes.push(Note::Debug(format!(
        "firewall backend {}, antispoof {} ({spoof_origin})",
        choice.why,
        if antispoof { "yes" } else { "no" }
    )));
    if antispoof && choice.backend != Backend::Nftables {
        notes.push(Note::Debug(
            "antispoof=yes blocks only with firewall=nftables; the iptables rules accept and \
             block nothing by themselves"
                .into(),
        ));
    }
    Ok(VifFirewall { choice, antispoof })
}

impl VifFirewall {
    /// The steps that give the vif its rules with the chosen backend.
    pub fn online_steps(
        &self,
        vif: &Vif,
        snap: &Snapshot,
        notes: &mut Vec<Note>,
    ) -> Result<Vec<Step>> {
        if self.antispoof && self.choice.backend == Backend::Nftables && vif.family.is_none() {
            notes.push(Note::Warn(
                "antispoof=yes cannot be enforced by nftables on an Open vSwitch port: the \
                 guest's traffic is not filtered"
                    .into(),
            ));
        }
        self.choice.backend.driver().vif_online(vif, snap, notes)
    }

    /// The steps that remove every rule of the vif, from whichever backend holds them: the
    /// chosen one, and the other one where an earlier setting left rules.
    pub fn offline_steps(
        &self,
        vif: &Vif,
        snap: &Snapshot,
        notes: &mut Vec<Note>,
    ) -> Result<Vec<Step>> {
        let mut steps = Vec::new();
        for backend in [Backend::Iptables, Backend::Nftables] {
            let chosen = backend == self.choice.backend;
            if chosen || backend.driver_cleans_up(vif, snap)? {
                steps.extend(backend.driver().vif_offline(vif, snap, chosen, notes)?);
            }
        }
        Ok(steps)
    }
}

impl Backend {
    /// Should `offline` also clean this backend, not the chosen one? When this vif's online
    /// recorded rules there (a host whose firewall= changed keeps no stale rules).
    fn driver_cleans_up(self, vif: &Vif, snap: &Snapshot) -> Result<bool> {
        Ok(match self {
            Backend::Iptables => iptables::used(vif.dev, snap)?,
            Backend::Nftables => vif.family.is_some() && nftables::used(vif.dev, snap)?,
            Backend::None => false,
        })
    }
}

/// The firewall a host script (network-nat, network-bridge) drives: its `firewall=` setting, or
/// the one an earlier `start` recorded (so that `stop` removes from where `start` added).
pub fn host_driver(backend: Backend) -> &'static dyn Driver {
    backend.driver()
}

#[cfg(test)]
mod tests;
