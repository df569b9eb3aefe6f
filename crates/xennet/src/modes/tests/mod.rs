//! Unit tests of every planner, one file per script, over [`crate::fixture`] hosts.

mod vif_bridge;
