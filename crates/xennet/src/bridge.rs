//! Bridge helpers as plan steps (spec §2.7, BR-01…BR-05): a new bridge is made with bridge-utils
//! when `brctl` is on PATH, otherwise `ip`; ports always with `ip`; the same effect. Device names always follow the `dev` keyword or
//! stand as their own argv element (GEN-13).

use crate::exec::{ip, Cmd};
use crate::plan::{OnError, Step};

/// The MAC every port the scripts add gets (MAC-03).
pub const PORT_MAC: &str = "fe:ff:ff:ff:ff:ff";

/// BR-01: bridge-utils when `brctl` is on PATH; looked up once per run.
fn have_brctl() -> bool {
    static HAVE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAVE.get_or_init(|| which::which("brctl").is_ok())
}

/// BR-05: a new bridge with STP off and forward delay 0, left down.
pub fn create(bridge: &str) -> Step {
    let cmd = if have_brctl() {
        Cmd::new("brctl").args(["addbr", bridge])
    } else {
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
        ])
    };
    Step::run(format!("create bridge {bridge}"), cmd).undo(ip(["link", "del", "dev", bridge]))
}

/// With brctl, `addbr` leaves the kernel defaults: turn STP off and the delay to 0 (BR-05).
pub fn create_settings(bridge: &str) -> Vec<Step> {
    if !have_brctl() {
        return Vec::new();
    }
    vec![
        Step::run(
            format!("turn STP off on {bridge}"),
            Cmd::new("brctl").args(["stp", bridge, "off"]),
        ),
        Step::run(
            format!("set forward delay 0 on {bridge}"),
            Cmd::new("brctl").args(["setfd", bridge, "0"]),
        ),
    ]
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
