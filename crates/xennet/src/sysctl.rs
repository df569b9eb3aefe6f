//! The kernel settings the scripts touch, written straight to `/proc/sys` as the originals do
//! (spec Appendix B), as plan steps that undo themselves.

use crate::plan::{Action, Step};

/// `/proc/sys/net/ipv4/ip_forward`.
pub fn ip_forward() -> String {
    crate::paths::proc_sys_net()
        .join("ipv4/ip_forward")
        .display()
        .to_string()
}

/// `/proc/sys/net/ipv4/conf/<dev>/proxy_arp`.
pub fn proxy_arp(dev: &str) -> String {
    crate::paths::proc_sys_net()
        .join("ipv4/conf")
        .join(dev)
        .join("proxy_arp")
        .display()
        .to_string()
}

/// A step setting `path` to `value`, undone by writing back `old`; None if it already holds it.
pub fn set(what: &str, path: &str, value: &str, old: Option<&str>) -> Option<Step> {
    if old == Some(value) {
        return None;
    }
    let mut step = Step::new(
        what.to_string(),
        Action::WriteFile {
            path: path.to_string(),
            value: value.to_string(),
        },
    );
    if let Some(old) = old {
        step = step.undo_action(Action::WriteFile {
            path: path.to_string(),
            value: old.to_string(),
        });
    }
    Some(step)
}
