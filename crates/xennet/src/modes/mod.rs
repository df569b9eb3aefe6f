//! The scripts' logic: each mode turns an invocation and the host's state into a plan.

pub mod bridge_layout;
pub mod network_bridge;
pub mod network_nat;
pub mod network_route;
pub mod overlay;
pub mod routed;
pub mod vif_bridge;
pub mod vif_nat;
pub mod vif_openvswitch;
pub mod vif_route;

use crate::invocation::Invocation;
use crate::plan::Plan;

/// A vif mode: the backend keys come with the context; xenstore is for what lies beyond the
/// backend directory (vif-openvswitch reads the guest's VM name and uuid).
pub type VifPlanner = fn(
    &crate::vif::VifContext,
    &Invocation,
    &dyn crate::xenstore::XenStore,
    &dyn crate::exec::Runner,
    &crate::report::Reporter,
) -> Result<Planned, crate::vif::Stop>;

/// A host-wide script's planner (`start` when the flag is set, else `stop`).
pub type HostPlanner =
    fn(bool, &Invocation, &dyn crate::exec::Runner) -> Result<HostPlanned, String>;

/// A host-wide script's `status`: true when the mode is set up.
pub type HostStatus = fn(&Invocation, &dyn crate::exec::Runner) -> Result<bool, String>;

/// What a vif mode planned.
pub struct Planned {
    pub plan: Plan,
    /// The debug line logged on success (VB-08).
    pub done: String,
    /// An error to report after the plan ran (VB-10: clean up first, then tell).
    pub report_after: Option<String>,
    /// Keys written with `hotplug-status` in the same xenstore call (the frontend's `mtu`,
    /// MTU-01): one process for the whole report, and written only once the plan succeeded.
    pub frontend_keys: Vec<(String, String)>,
}

/// What a host-wide (`network-*`) script planned.
pub enum HostPlanned {
    /// Nothing to do, and why.
    Nothing(String),
    /// A line telling the administrator what was chosen, and the plan.
    Plan { intro: String, plan: Plan },
}
