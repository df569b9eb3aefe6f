//! The scripts' logic: each mode is a pure function from the invocation and a
//! [`Snapshot`] of the host to a plan or a typed error (see [`crate::snapshot`]).

pub mod network_bridge;
pub mod network_nat;
pub mod network_route;
pub mod routed;
pub mod vif_bridge;
pub mod vif_nat;
pub mod vif_openvswitch;
pub mod vif_route;

use crate::error::{Outcome, Planned, Result};
use crate::exec::Runner;
use crate::invocation::Invocation;
use crate::snapshot::{Reader, Snapshot};
use crate::vif::VifContext;

/// A vif script's planner: the backend keys come with the context.
pub type VifPlanner = fn(&VifContext, &Invocation, &Snapshot) -> Result<Planned>;

/// A host-wide script's planner (`start` when the flag is set, else `stop`).
pub type HostPlanner = fn(bool, &Invocation, &Snapshot) -> Result<Outcome>;

/// A host-wide script's `status`: reports (through the reader and the tools it shows), changes
/// nothing; true when the mode is set up.
pub type HostStatus = fn(&Invocation, &dyn Reader, &dyn Runner) -> Result<bool>;

/// The uplink of the routed modes: `netdev` when given; else `eth0`, the originals' default, when
/// it exists; else the device of the default route (modern names like `enp0s3`). Returns the
/// device and how it was chosen.
pub fn routed_uplink(inv: &Invocation, snap: &Snapshot) -> Result<(String, String)> {
    if let Some(n) = inv.get("netdev").filter(|n| !n.is_empty()) {
        return Ok((n.to_string(), inv.origin("netdev")));
    }
    if snap.exists("eth0")? {
        return Ok(("eth0".into(), "the default".into()));
    }
    Ok(
        match crate::snapshot::unless_unread(snap.default_route_dev())? {
            Ok(Some(d)) => (
                d.to_string(),
                "the device of the default route, as there is no eth0".into(),
            ),
            _ => ("eth0".into(), "the default".into()),
        },
    )
}

/// network-bridge's and network-nat's uplink: `netdev` when given, else the default route's
/// device (NB-02, parsed whole; issue 3 asks the same of NAT), else `eth0`. Returned with how
/// it was chosen, which the scripts print.
pub fn default_route_uplink(inv: &Invocation, snap: &Snapshot) -> Result<(String, String)> {
    Ok(match inv.get("netdev").filter(|v| !v.is_empty()) {
        Some(n) => (n.to_string(), inv.origin("netdev")),
        None => match snap.default_route_dev()? {
            Some(d) => (d.to_string(), "the device of the default route".to_string()),
            None => (
                "eth0".to_string(),
                "the default, as there is no default route".to_string(),
            ),
        },
    })
}

/// The planners' unit tests: each script's every command word, layout and refusal, planned over
/// fixtures (captured `ip -j` output) with no process and no file.
#[cfg(test)]
mod tests;
