//! `network-bridge antispoof=yes` (NB-15 without KP-07): forwarded traffic is dropped unless it
//! comes in from the uplink or a guest's rules accept it. The rules are the firewall driver's:
//! with iptables, accept rules for the uplink's ports and the FORWARD policy DROP (the admin's
//! rules kept); with nftables, every guest's chain on the bridge ends in a drop. Either way a
//! record says what `start` did, so that `stop` undoes exactly that.

use super::settings::Settings;
use crate::error::Result;
use crate::firewall::{self, guard_record, Backend};
use crate::plan::Step;
use crate::snapshot::Snapshot;

/// start: the bridge guarded, `ports` (the NIC, and in the netloop layout dom0's own port too,
/// NL-06) let through.
pub fn add(s: &Settings, ports: &[&str], snap: &Snapshot) -> Result<Vec<Step>> {
    match &s.guard {
        Some(choice) => firewall::host_driver(choice.backend).guard_add(&s.bridge, ports, snap),
        None => Ok(Vec::new()),
    }
}

/// stop: what start's [`add`] did, undone in the backend it used: nftables when the record says
/// so, else iptables where it is installed (the rules are looked for also without a record).
pub fn remove(s: &Settings, ports: &[&str], snap: &Snapshot) -> Result<Vec<Step>> {
    let record = snap.file(guard_record(&s.bridge))?;
    let backend = match record.map(str::trim) {
        Some("nftables") => Backend::Nftables,
        _ if snap.tool("iptables")? => Backend::Iptables,
        _ => return Ok(Vec::new()),
    };
    firewall::host_driver(backend).guard_remove(&s.bridge, ports, snap)
}

/// The last step of stop: forget the record, if start made one.
pub fn forget(s: &Settings, snap: &Snapshot) -> Result<Option<Step>> {
    let record = guard_record(&s.bridge);
    Ok(snap
        .file(&record)?
        .is_some()
        .then(|| crate::plan::remove_record("forget the FORWARD policy record", &record)))
}
