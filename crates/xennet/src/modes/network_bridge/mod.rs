//! `network-bridge start|stop|status` (spec §8): dom0's NIC behind a bridge for the guests,
//! in one of three layouts, or a VXLAN overlay as the bridge's uplink. This module reads the
//! settings, makes the checks every layout shares once, and hands over to the layout:
//!
//! - [`netdev`]: the bridge takes the NIC's name (spec §8.1–8.4, the default);
//! - [`netloop`]: `eth0 -> vif0.0 -> xenbr0 -> peth0` (spec §8.5);
//! - [`xenbr`]: bridge `xenbrN` holds the addresses, the NIC keeps its name;
//! - [`overlay`]: `overlay=vxlan|evpn`, a bridge whose uplink is a VXLAN device; [`frr`] is
//!   EVPN's control plane, FRR's BGP.
//!
//! [`settings`] reads what was asked (and which layout a host has), [`uplink`] moves addresses
//! and routes between links, [`antispoof`] is `antispoof=yes`, and [`layout`] is what the
//! netloop and xenbr layouts share (the bridge they make, the checks of their start).

pub mod antispoof;
pub mod frr;
pub mod layout;
pub mod netdev;
pub mod netloop;
pub mod overlay;
pub mod settings;
pub mod uplink;
pub mod vlans;
pub mod xenbr;

use crate::error::{Outcome, Result};
use crate::exec::{ip, Cmd, Runner};
use crate::invocation::Invocation;
use crate::snapshot::{Reader, Snapshot};
use crate::state::Route;
use settings::{settings, Layout, Settings};

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
    let server = nfs_server(source);
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

/// The server of a mount source `server:/path`, where the server may be a bracketed IPv6
/// address (`[2001:db8::5]:/export`); None for a source without one.
fn nfs_server(source: &str) -> Option<&str> {
    if let Some(rest) = source.strip_prefix('[') {
        return rest.split_once("]:").map(|(s, _)| s);
    }
    source.split_once(':').map(|(s, _)| s)
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
    if inv.get("bridge") == Some("null") {
        return Ok(Outcome::Nothing("bridge=null: nothing to do".into()));
    }
    if overlay::requested(inv) {
        if start && (inv.value("vlan_filtering") == "yes" || !inv.value("trunk").is_empty()) {
            return Err(crate::error::Error::Invalid(crate::validate::Invalid(
                "vlan_filtering= and trunk= do not go with overlay=: a VXLAN overlay carries one \
                 network per VNI; give each VLAN its own VNI and bridge"
                    .into(),
            )));
        }
        return overlay::plan(start, inv, snap);
    }
    let s = settings(inv, snap)?;
    if start {
        vlans::check_start(&s, snap)?;
    }
    let outcome = match (s.layout, start) {
        (Layout::Netdev, true) => netdev::start(&s, snap)?,
        (Layout::Netdev, false) => netdev::stop(&s, snap)?,
        (Layout::Netloop, true) => netloop::start(&s, snap)?,
        (Layout::Netloop, false) => netloop::stop(&s, snap)?,
        (Layout::Xenbr, true) => xenbr::start(&s, snap)?,
        (Layout::Xenbr, false) => xenbr::stop(&s, snap)?,
    };
    let mut planned = match outcome {
        Outcome::Plan(planned) => planned,
        Outcome::Nothing(why) if start => {
            let more = vlans::not_applied(&s, snap)?.unwrap_or_default();
            return Ok(Outcome::Nothing(format!("{why}{more}")));
        }
        nothing => return Ok(nothing),
    };
    if start {
        planned.notes.extend(s.guard_notes.iter().cloned());
    }
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
    if s.vlan_filtering {
        line.push_str(", VLAN-aware");
        if !s.trunk.is_empty() {
            let v = s
                .trunk
                .iter()
                .map(|v| (*v, crate::vlan::Flags::TAGGED))
                .fold(crate::vlan::Vlans::new(), |mut acc, (v, f)| {
                    acc.insert(v, f);
                    acc
                });
            line.push_str(&format!(", VLANs {v} tagged on the uplink"));
        }
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
    let (s, is_bridge, vlan_aware) = crate::snapshot::plan(reader, &mut snap, |snap| {
        let s = settings(inv, snap)?;
        let is_bridge = snap.link(&s.bridge)?.is_some_and(|l| l.is_bridge);
        let vlan_aware =
            is_bridge && crate::vlan::filtering(&s.bridge, snap)? == crate::vlan::Filtering::On;
        Ok((s, is_bridge, vlan_aware))
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
    if vlan_aware {
        // Issue 19: each port's VLANs (the guests' vlan=, the uplink's trunk=).
        say(&format!("({} is VLAN-aware)\n", s.bridge));
        show(&mut say, Cmd::new("bridge").args(["vlan", "show"]));
    }
    say(" \n");
    show(&mut say, ip(["route", "list"]));
    say(" \n");
    show(&mut say, Cmd::new("route").arg("-n"));
    say(&format!("{rule}\n"));
    Ok(ok)
}
