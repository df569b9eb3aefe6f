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

use crate::plan::Plan;

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
