//! Core of xen-netscripts: everything with logic lives here; the script binaries are one-liners
//! over [`dispatch::run`].
//!
//! Data flows one way: [`invocation`] → [`snapshot`] (read by [`live`]) → planning in
//! [`modes`] → [`plan`] → [`apply`] → [`report`].

pub mod action;
pub mod apply;
pub mod boot;
pub mod bridge;
pub mod budget;
pub mod conf;
pub mod confirm;
pub mod conntrack;
pub mod dhcpd;
pub mod dispatch;
pub mod error;
pub mod evpn;
pub mod exec;
pub mod facts;
pub mod fileedit;
pub mod firewall;
pub mod fixture;
pub mod hooks;
pub mod invocation;
pub mod journal;
pub mod live;
pub mod lock;
pub mod modes;
pub mod nft_elements;
pub mod paths;
pub mod plan;
pub mod report;
pub mod scripts;
pub mod setting;
pub mod snapshot;
pub mod state;
pub mod sysctl;
pub mod validate;
pub mod vif;
pub mod vlan;
pub mod xenstore;
pub mod xenstore_wire;
