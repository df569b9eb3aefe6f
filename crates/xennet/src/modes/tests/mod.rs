//! Unit tests of every planner, one file per script, over [`crate::fixture`] hosts.

mod network_bridge;
mod vif_bridge;
