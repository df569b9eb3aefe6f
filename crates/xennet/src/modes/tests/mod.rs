//! Unit tests of every planner, one file per script, over [`crate::fixture`] hosts.

mod network_bridge;
mod network_bridge_captured;
mod network_nat;
mod network_route;
mod overlay;
mod vif_bridge;
mod vif_nat;
mod vif_openvswitch;
mod vif_route;

use crate::state::{Addr, Link};

/// What libxl puts in a vif script's environment for vif1.0.
pub const VIF_ENV: &[(&str, &str)] = &[("vif", "vif1.0"), ("XENBUS_PATH", "backend/vif/1/0")];

/// A link as netback leaves a new vif: down, not a port, netback's MAC fe:ff:ff:ff:ff:ff
/// (the same as a bridge port's), interface index 7.
pub fn fresh(name: &str) -> Link {
    Link {
        address: "fe:ff:ff:ff:ff:ff".into(),
        ifindex: 7,
        ..Link::named(name)
    }
}

/// An up bridge with a MAC of its own.
pub fn bridge(name: &str) -> Link {
    Link {
        is_bridge: true,
        up: true,
        address: "52:54:00:aa:bb:cc".into(),
        ..Link::named(name)
    }
}

/// An up link.
pub fn up(name: &str) -> Link {
    Link {
        up: true,
        address: "52:54:00:12:34:56".into(),
        ..Link::named(name)
    }
}

/// An address as `ip -j addr` shows it.
pub fn addr(json: &str) -> Addr {
    serde_json::from_str(json).expect("an address")
}
