//! Core of xen-netscripts: everything with logic lives here; the script binaries are one-liners
//! over [`cli::main`].
//!
//! Data flows one way: [`invocation`] → [`state`] → [`plan`] → [`apply`] → [`report`].

pub mod apply;
pub mod bridge;
pub mod budget;
pub mod cli;
pub mod conf;
pub mod confirm;
pub mod dhcpd;
pub mod evpn;
pub mod exec;
pub mod firewall;
pub mod hooks;
pub mod invocation;
pub mod journal;
pub mod lock;
pub mod modes;
pub mod nft;
pub mod paths;
pub mod plan;
pub mod report;
pub mod state;
pub mod sysctl;
pub mod validate;
pub mod vif;
pub mod xenstore;
