//! `network-bridge start|stop|status` (spec §8): dom0's NIC behind a bridge for the guests,
//! in one of three layouts, or a VXLAN overlay as the bridge's uplink. This module reads the
//! settings, makes the checks every layout shares once, and hands over to the layout:
//!
//! - [`netdev`]: the bridge takes the NIC's name (spec §8.1–8.4, the default);
//! - [`netloop`]: `eth0 -> vif0.0 -> xenbr0 -> peth0` (spec §8.5);
//! - [`xenbr`]: bridge `xenbrN` holds the addresses, the NIC keeps its name;
//! - [`overlay`]: `overlay=vxlan`, a bridge whose uplink is a VXLAN device.
//!
//! [`uplink`] moves addresses and routes between links, [`antispoof`] is `antispoof=yes`, and
//! [`layout`] what the layouts share (which one a host has, the bridge they make).

pub mod antispoof;
pub mod layout;
pub mod netdev;
pub mod netloop;
pub mod overlay;
pub mod uplink;
pub mod xenbr;

use crate::error::{Error, Outcome, Result};
use crate::exec::{ip, Cmd, Runner};
use crate::invocation::Invocation;
use crate::snapshot::{Reader, Snapshot};
use crate::state::Route;
use crate::validate::{self, Invalid};
pub use layout::Layout;

/// The temporary name of the bridge while the NIC still has its name (G2).
pub const TMP: &str = "tmpbridge";

#[derive(Clone, Debug)]
pub struct Settings {
    pub layout: Layout,
    /// How the layout was chosen (given, or found on this host at stop).
    pub layout_origin: String,
    pub netdev: String,
    /// How netdev was chosen, printed so the administrator sees it (NB-02).
    pub netdev_origin: String,
    pub bridge: String,
    /// The NIC as the bridge's port: `p<netdev>` (netdev, netloop) or netdev itself (xenbr).
    pub pdev: String,
    /// NL-01: the number in `xenbrN`, `vethN`, `vif0.N`.
    pub vifnum: u32,
    /// netloop: the veth that becomes dom0's `netdev`, and its peer, the bridge port.
    pub vdev: String,
    pub vif0: String,
    /// netdev layout: the bridge's alternative name `xenbrN`, so that `bridge=xenbrN` finds it.
    pub alias: Option<String>,
    pub antispoof: bool,
    /// `antispoof=yes` at start: the firewall that guards the bridge.
    pub guard: Option<crate::firewall::Choice>,
}

/// The registry's check of `layout=`.
pub fn check_layout(_: &str, v: &str) -> Result<(), Invalid> {
    Layout::parse(v).map(|_| ())
}

/// The registry's check of `overlay=`.
pub fn check_overlay(what: &str, v: &str) -> Result<(), Invalid> {
    overlay::kind(what, v).map(|_| ())
}

/// NL-02: the number of a NIC: the digits after its letters (`eth1` → 1, `eno2` → 2), else 0
/// (`enp0s3`: its digits are a PCI address, not a number a user would give).
pub fn number_of(dev: &str) -> u32 {
    let digits = dev.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return 0;
    }
    digits.parse().unwrap_or(0)
}

/// §8.1 with the FIX rows: netdev is the default route's device, parsed whole (`enp0s3`).
pub fn settings(inv: &Invocation, snap: &Snapshot) -> Result<Settings> {
    let (mut netdev, mut netdev_origin) = super::default_route_uplink(inv, snap)?;
    let netdev_given = inv.get("netdev").is_some_and(|v| !v.is_empty());
    let (layout, layout_origin) = match inv.get("layout").filter(|v| !v.is_empty()) {
        Some(v) => (Layout::parse(v)?, inv.origin("layout")),
        None => match layout::found_on_host(&netdev, snap)? {
            Some(l) => (l, "found on this host".to_string()),
            None => (Layout::Netdev, "the default".to_string()),
        },
    };
    let mut bridge_found = None;
    if layout == Layout::Xenbr && !netdev_given {
        // After start the default route leaves through the bridge: the NIC is its port.
        if let Some(nic) = layout::uplink_port(&netdev, snap)? {
            netdev_origin = format!("the port of {netdev}, the bridge of the default route");
            bridge_found = Some(std::mem::replace(&mut netdev, nic));
        }
    }
    if layout == Layout::Netloop && !netdev_given {
        // After start the default route leaves through the veth named like the NIC: same name.
        if let Some(b) = snap
            .link(&format!("p{netdev}"))?
            .and_then(|l| l.master.clone())
        {
            bridge_found = Some(b);
        }
    }
    let vifnum = match inv.get("vifnum").filter(|v| !v.is_empty()) {
        Some(v) => validate::number("vifnum", v)?,
        None => match bridge_found
            .as_deref()
            .and_then(|b| b.strip_prefix("xenbr"))
        {
            Some(n) if n.parse::<u32>().is_ok() => n.parse().unwrap_or(0),
            _ => number_of(&netdev),
        },
    };
    let pdev = match layout {
        Layout::Xenbr => netdev.clone(),
        Layout::Netdev | Layout::Netloop => format!("p{netdev}"),
    };
    if pdev.len() > 15 {
        return Err(Error::Invalid(Invalid(format!(
            "netdev={netdev:?} is 15 bytes long, so its renamed port {pdev:?} would exceed Linux's limit: rename the NIC first"
        ))));
    }
    let xenbr = format!("xenbr{vifnum}");
    let bridge = match inv.get("bridge").filter(|v| !v.is_empty()) {
        Some(b) => b.to_string(),
        None => match layout {
            Layout::Netdev => netdev.clone(),
            Layout::Netloop | Layout::Xenbr => bridge_found.unwrap_or_else(|| xenbr.clone()),
        },
    };
    let alias = (layout == Layout::Netdev && bridge != xenbr).then_some(xenbr);
    let antispoof = validate::yes_no("antispoof", inv.value("antispoof"))?;
    let guard = if antispoof {
        Some(crate::firewall::choose(inv, snap)?.0)
    } else {
        None
    };
    Ok(Settings {
        layout,
        layout_origin,
        netdev,
        netdev_origin,
        bridge,
        pdev,
        vifnum,
        vdev: format!("veth{vifnum}"),
        vif0: format!("vif0.{vifnum}"),
        alias,
        antispoof,
        guard,
    })
}

/// NB-04 FIX: is the root filesystem on the network, carried by `dev`? Says how, if so.
pub fn network_root_on(dev: &str, snap: &Snapshot) -> Result<Option<String>> {
    let mounts_path =
        std::env::var("XENNET_PROC_MOUNTS").unwrap_or_else(|_| "/proc/mounts".to_string());
    let Some(mounts) = snap.file(&mounts_path)? else {
        return Ok(None);
    };
    let Some(root) = mounts
        .lines()
        .rfind(|l| l.split_whitespace().nth(1) == Some("/"))
    else {
        return Ok(None);
    };
    let f: Vec<&str> = root.split_whitespace().collect();
    let (Some(source), Some(fstype)) = (f.first(), f.get(2)) else {
        return Ok(None);
    };
    let options = f.get(3).unwrap_or(&"");
    let networked = fstype.starts_with("nfs")
        || ["cifs", "smb3", "ceph", "glusterfs", "9p"].contains(fstype)
        || options.split(',').any(|o| o == "_netdev");
    if !networked {
        return Ok(None);
    }
    // The server's device, where the source names it (`server:/path`); otherwise assume dev.
    let server = source
        .split_once(':')
        .map(|(s, _)| s.trim_matches(['[', ']']));
    let server_dev = match server {
        Some(s) => snap.route_get(s)?.and_then(|r: &Route| r.dev.clone()),
        None => None,
    };
    Ok(match server_dev {
        Some(d) if d != dev => None,
        _ => Some(format!(
            "the root filesystem ({source}, {fstype}) is reached through {dev}"
        )),
    })
}

/// The link that carries dom0's own address: the NIC at start, and at stop the bridge
/// (netdev, xenbr) or the veth named like the NIC (netloop).
fn dom0_link(s: &Settings, start: bool) -> &str {
    match (start, s.layout) {
        (true, _) | (false, Layout::Netloop) => &s.netdev,
        (false, Layout::Netdev | Layout::Xenbr) => &s.bridge,
    }
}

/// Reads the settings and plans `start` or `stop` for the chosen layout, after the checks every
/// layout shares: `bridge=null` does nothing (NB-03), nor does a host whose root filesystem
/// comes over the network (NB-04 FIX).
pub fn plan(start: bool, inv: &Invocation, snap: &Snapshot) -> Result<Outcome> {
    if overlay::requested(inv) {
        return overlay::plan(start, inv, snap);
    }
    let s = settings(inv, snap)?;
    if s.bridge == "null" {
        return Ok(Outcome::Nothing("bridge=null: nothing to do".into()));
    }
    let outcome = match (s.layout, start) {
        (Layout::Netdev, true) => netdev::start(&s, snap)?,
        (Layout::Netdev, false) => netdev::stop(&s, snap)?,
        (Layout::Netloop, true) => netloop::start(&s, snap)?,
        (Layout::Netloop, false) => netloop::stop(&s, snap)?,
        (Layout::Xenbr, true) => xenbr::start(&s, snap)?,
        (Layout::Xenbr, false) => xenbr::stop(&s, snap)?,
    };
    let Outcome::Plan(planned) = outcome else {
        return Ok(outcome);
    };
    if let Some(why) = network_root_on(dom0_link(&s, start), snap)? {
        return Ok(Outcome::Nothing(format!(
            "bridging not supported on network root; not {}: {why}",
            if start { "starting" } else { "stopping" }
        )));
    }
    Ok(Outcome::Plan(planned.intro(intro(&s))))
}

/// What was chosen, in one line (NB-02, NL-12: say which layout is built).
fn intro(s: &Settings) -> String {
    let mut line = format!(
        "network-bridge: layout={} ({}), netdev={} ({}), bridge={}",
        s.layout.name(),
        s.layout_origin,
        s.netdev,
        s.netdev_origin,
        s.bridge
    );
    match s.layout {
        Layout::Netdev => {
            line.push_str(&format!(", port {}", s.pdev));
            if let Some(a) = &s.alias {
                line.push_str(&format!(" (bridge also named {a})"));
            }
        }
        Layout::Netloop => line.push_str(&format!(
            ", port {}, dom0's {} through the pair {}/{}",
            s.pdev, s.netdev, s.vdev, s.vif0
        )),
        Layout::Xenbr => line.push_str(&format!(", port {}", s.pdev)),
    }
    if let Some(g) = &s.guard {
        line.push_str(&format!(", antispoof with {}", g.why));
    }
    line
}

/// §8.4 `status` (NB-21): the original's block, between two lines of 60 `=`. Returns false if a
/// part could not be shown (it says which).
pub fn status(inv: &Invocation, reader: &dyn Reader, runner: &dyn Runner) -> Result<bool> {
    if overlay::requested(inv) {
        return overlay::status(inv, reader, runner);
    }
    let mut snap = Snapshot::new();
    let (s, is_bridge) = crate::snapshot::plan(reader, &mut snap, |snap| {
        let s = settings(inv, snap)?;
        let is_bridge = snap.link(&s.bridge)?.is_some_and(|l| l.is_bridge);
        Ok((s, is_bridge))
    })?;
    use std::io::Write;
    let rule = "=".repeat(60);
    let mut out = std::io::stdout().lock();
    let mut ok = true;
    // A closed stdout (e.g. `| head`) just ends the output; it is not an error of ours.
    let mut say = |text: &str| {
        let _ = out.write_all(text.as_bytes());
    };
    let mut show = |say: &mut dyn FnMut(&str), cmd: Cmd| match runner.run(&cmd) {
        Ok(text) => say(&text),
        Err(e) if e.is_missing_tool() => say(&format!("({} skipped: {e})\n", cmd.line())),
        Err(e) => {
            ok = false;
            say(&format!("({e})\n"));
        }
    };
    say(&format!("{rule}\n"));
    say(&format!(
        "layout={} ({})\n",
        s.layout.name(),
        s.layout_origin
    ));
    show(&mut say, ip(["addr", "show", "dev", &s.netdev]));
    show(&mut say, ip(["addr", "show", "dev", &s.bridge]));
    say(" \n");
    if !is_bridge {
        say(&format!(
            "({} is not a bridge: network-bridge is not started)\n",
            s.bridge
        ));
    } else if which::which("brctl").is_ok() {
        show(&mut say, Cmd::new("brctl").args(["show", &s.bridge]));
    } else {
        show(
            &mut say,
            Cmd::new("bridge").args(["link", "show", "master", &s.bridge]),
        );
    }
    say(" \n");
    show(&mut say, ip(["route", "list"]));
    say(" \n");
    show(&mut say, Cmd::new("route").arg("-n"));
    say(&format!("{rule}\n"));
    Ok(ok)
}
