//! Bridge helpers as plan steps (spec §2.7, BR-01…BR-05), all with `ip`: the same bridges and
//! ports the originals make with bridge-utils when it is installed, in fewer processes and on
//! hosts whose only brctl is busybox's. Device names always follow the `dev` keyword or stand as
//! their own argv element (GEN-13).

use crate::exec::ip;
use crate::plan::{OnError, Step};

/// The all-zeros MAC: a VXLAN device's flood entries' key (broadcast and unknown unicast go to
/// every peer with one).
pub const FLOOD: &str = "00:00:00:00:00:00";

/// The MAC every port the scripts add gets (MAC-03).
pub const PORT_MAC: &str = "fe:ff:ff:ff:ff:ff";

/// BR-05: a new bridge with STP off and forward delay 0, left down. One `ip link add` whether or
/// not bridge-utils is installed (BR-01's brctl path made the same bridge in three processes, and
/// busybox's brctl has no `stp`, so a busybox-only dom0 could not make one at all).
pub fn create(bridge: &str) -> Step {
    Step::run(
        format!("create bridge {bridge}"),
        ip([
            "link",
            "add",
            "name",
            bridge,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ]),
    )
    .undo(ip(["link", "del", "dev", bridge]))
}

/// BR-02: enslave `dev` (the caller checks it is not a port already). Always with `ip link set
/// master`, the same effect as `brctl addif`, so that it shares one `ip -batch` process with the
/// port's other link changes.
pub fn enslave(bridge: &str, dev: &str) -> Step {
    Step::run(
        format!("add {dev} to bridge {bridge}"),
        ip(["link", "set", "dev", dev, "master", bridge]),
    )
    .undo(ip(["link", "set", "dev", dev, "nomaster"]))
}

/// BR-03: release `dev` from its bridge, failures collected (teardown goes on).
pub fn release(bridge: &str, dev: &str) -> Step {
    Step::run(
        format!("remove {dev} from bridge {bridge}"),
        ip(["link", "set", "dev", dev, "nomaster"]),
    )
    .on_error(OnError::Collect)
}

pub fn link_up(dev: &str) -> Step {
    Step::run(
        format!("bring {dev} up"),
        ip(["link", "set", "dev", dev, "up"]),
    )
    .undo(ip(["link", "set", "dev", dev, "down"]))
}

pub fn link_down(dev: &str) -> Step {
    Step::run(
        format!("take {dev} down"),
        ip(["link", "set", "dev", dev, "down"]),
    )
    .undo(ip(["link", "set", "dev", dev, "up"]))
}

/// BR-04: port preparation: down, MAC fe:ff:ff:ff:ff:ff (failure ignored), addresses flushed.
/// `was_up` and `old_mac` let a rollback put the link back as it was.
pub fn prepare_port(dev: &str, was_up: bool, old_mac: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    if was_up {
        steps.push(link_down(dev));
    }
    if !old_mac.eq_ignore_ascii_case(PORT_MAC) {
        let mut s = Step::run(
            format!("set {dev} MAC to {PORT_MAC}"),
            ip(["link", "set", "dev", dev, "address", PORT_MAC]),
        )
        .on_error(OnError::Ignore);
        if !old_mac.is_empty() {
            s = s.undo(ip(["link", "set", "dev", dev, "address", old_mac]));
        }
        steps.push(s);
    }
    steps.push(Step::run(
        format!("flush addresses of {dev}"),
        ip(["address", "flush", "dev", dev]),
    ));
    steps
}
