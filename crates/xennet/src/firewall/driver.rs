//! What every firewall backend implements ([`Driver`]), and what it is given: a guest's
//! interface ([`Vif`]) and the table family its rules belong in.

use crate::error::{Note, Result};
use crate::plan::Step;
use crate::snapshot::Snapshot;

/// Which of our two nftables tables a vif's rules live in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Bridge ports: the bridge family's prerouting hook sees every frame the guest sends into
    /// the bridge, without br_netfilter.
    Bridge,
    /// Routed and NAT vifs: forward (through dom0) and input (to dom0 itself).
    Inet,
}

/// One guest interface and what its rules are made from.
#[derive(Clone, Debug)]
pub struct Vif<'a> {
    pub dev: &'a str,
    /// Its interface index (nftables keys a guest's elements by it); None when it is missing.
    pub ifindex: Option<u32>,
    /// `ip=` entries (addresses or networks, IPv4 or IPv6).
    pub ips: &'a [String],
    /// The guest's MAC, empty when unknown.
    pub mac: &'a str,
    pub family: Option<Family>,
    pub antispoof: bool,
    /// The bridge drops what its guests' rules do not accept (network-bridge `antispoof=yes`).
    pub guarded: bool,
}

/// The rules any script adds, in one backend. Each method returns plan steps with their undo;
/// the planner puts them in its plan.
pub trait Driver {
    /// The vif's rules, made exactly what a clean online makes.
    fn vif_online(&self, vif: &Vif, snap: &Snapshot, notes: &mut Vec<Note>) -> Result<Vec<Step>>;
    /// Every rule of the vif in this backend, gone. `chosen` when this is the backend of the
    /// run (its failures are reported), else a clean-up of what an earlier setting left.
    fn vif_offline(
        &self,
        vif: &Vif,
        snap: &Snapshot,
        chosen: bool,
        notes: &mut Vec<Note>,
    ) -> Result<Vec<Step>>;
    /// Which of network-nat's two rules are there: (masquerade, drop of new inbound).
    fn nat_present(&self, netdev: &str, snap: &Snapshot) -> Result<(bool, bool)>;
    /// network-nat start: the rules of the two that are missing.
    fn nat_add(&self, netdev: &str, masquerade: bool, drop: bool) -> Vec<Step>;
    /// network-nat stop: the rules start added, each with the undo that puts it back.
    fn nat_remove(
        &self,
        netdev: &str,
        masquerade: bool,
        drop: bool,
        snap: &Snapshot,
    ) -> Result<Vec<Step>>;
    /// network-bridge `antispoof=yes`: forwarded traffic dropped unless it comes from `ports`
    /// (the uplink) or a vif's rules accept it.
    fn guard_add(&self, bridge: &str, ports: &[&str], snap: &Snapshot) -> Result<Vec<Step>>;
    /// stop's half of [`Driver::guard_add`].
    fn guard_remove(&self, bridge: &str, ports: &[&str], snap: &Snapshot) -> Result<Vec<Step>>;
}

/// Where network-bridge keeps what `antispoof=yes` changed of the bridge's forwarding: the
/// FORWARD policy it found (iptables), or that nftables guards the bridge. vif-bridge reads it.
pub fn guard_record(bridge: &str) -> std::path::PathBuf {
    crate::paths::state_dir().join(format!("network-bridge.{bridge}.forward-policy"))
}
