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

use crate::error::Note;
use crate::facts::Answer;
use crate::state::{Addr, Link, Route};

/// What libxl puts in a vif script's environment for vif1.0.
pub const VIF_ENV: &[(&str, &str)] = &[("vif", "vif1.0"), ("XENBUS_PATH", "backend/vif/1/0")];

/// What libxl puts in a vif script's environment for vif1.0's emulated twin (TS-03): the
/// backend path is ignored for a tap and made from the name (VC-06).
pub const TAP_ENV: &[(&str, &str)] = &[
    ("vif", "vif1.0"),
    ("INTERFACE", "vif1.0-emu"),
    ("XENBUS_PATH", "backend/vif/1/0"),
];

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

/// A working port of `bridge` as vif-bridge leaves it: up, MAC fe:ff:ff:ff:ff:ff, enslaved.
pub fn port_of(name: &str, bridge: &str) -> Link {
    Link {
        up: true,
        master: Some(bridge.to_string()),
        address: crate::bridge::PORT_MAC.into(),
        ..Link::named(name)
    }
}

/// Routes as `ip -j route` shows them, as a fixture's answer.
pub fn routes(json: &str) -> Answer {
    let r: Vec<Route> = serde_json::from_str(json).expect("routes");
    Answer::Routes(r)
}

/// A read that failed (a failing `ip`, not a missing tool).
pub fn failed_read() -> Answer {
    Answer::Failed {
        msg: "ip failed".into(),
        missing_tool: false,
    }
}

/// The warnings among `notes`.
pub fn warnings(notes: &[Note]) -> Vec<&str> {
    notes
        .iter()
        .filter_map(|n| match n {
            Note::Warn(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// The debug lines among `notes`.
pub fn debugs(notes: &[Note]) -> Vec<&str> {
    notes
        .iter()
        .filter_map(|n| match n {
            Note::Debug(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}
