//! network-bridge's settings (spec §8.1 with the FIX rows): which layout, which NIC, which
//! bridge and its names, and how each was chosen; and which layout a host has, so that `stop`
//! and `status` need no `layout=`.

use crate::error::{Error, Result};
use crate::invocation::Invocation;
use crate::snapshot::Snapshot;
use crate::state::Link;
use crate::validate::{self, Invalid};

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
    /// What choosing that firewall has to say (none installed: the bridge is not guarded).
    pub guard_notes: Vec<crate::error::Note>,
    /// `vlan_filtering=yes` (issue 19): the bridge is made VLAN-aware.
    pub vlan_filtering: bool,
    /// `trunk=`: the VLANs the uplink carries tagged.
    pub trunk: Vec<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// The bridge takes the NIC's name, the NIC becomes `p<name>` (spec §8, the default).
    Netdev,
    /// `eth0 -> vif0.0 -> xenbr0 -> peth0` (spec §8.5).
    Netloop,
    /// Bridge `xenbrN` with the addresses; the NIC keeps its name and is the port.
    Xenbr,
}

impl Layout {
    pub const NAMES: &'static [&'static str] = &["netdev", "netloop", "xenbr"];

    pub fn parse(v: &str) -> Result<Layout, Invalid> {
        match v {
            "netdev" => Ok(Layout::Netdev),
            "netloop" => Ok(Layout::Netloop),
            "xenbr" => Ok(Layout::Xenbr),
            _ => Err(Invalid(format!(
                "layout={v:?} is not a layout: use netdev (the bridge takes the NIC's name), \
                 netloop (eth0 -> vif0.0 -> xenbr0 -> peth0) or xenbr (xenbr0 holds the \
                 addresses, the NIC keeps its name)"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Layout::Netdev => "netdev",
            Layout::Netloop => "netloop",
            Layout::Xenbr => "xenbr",
        }
    }

    /// The alias the bridges of this layout carry (none for `netdev`, recognised by its port).
    pub fn marker(self) -> String {
        format!("xennet network-bridge layout={}", self.name())
    }
}

/// The registry's check of `layout=`.
pub fn check_layout(_: &str, v: &str) -> Result<(), Invalid> {
    Layout::parse(v).map(|_| ())
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
    let (mut netdev, mut netdev_origin) = crate::modes::default_route_uplink(inv, snap)?;
    let netdev_given = inv.get("netdev").is_some_and(|v| !v.is_empty());
    let (layout, layout_origin) = match inv.get("layout").filter(|v| !v.is_empty()) {
        Some(v) => (Layout::parse(v)?, inv.origin("layout")),
        None => match found_on_host(&netdev, snap)? {
            Some(l) => (l, "found on this host".to_string()),
            None => (Layout::Netdev, "the default".to_string()),
        },
    };
    let mut bridge_found = None;
    if layout == Layout::Xenbr && !netdev_given {
        // After start the default route leaves through the bridge: the NIC is its port.
        if let Some(nic) = uplink_port(&netdev, snap)? {
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
    let vlan_filtering = validate::yes_no("vlan_filtering", inv.value("vlan_filtering"))?;
    let trunk = match inv.get("trunk").filter(|v| !v.trim().is_empty()) {
        Some(v) => crate::vlan::parse_trunk("trunk", v)?,
        None => Vec::new(),
    };
    let (guard, guard_notes) = if antispoof {
        let (choice, notes) = crate::firewall::choose(inv, snap)?;
        (Some(choice), notes)
    } else {
        (None, Vec::new())
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
        guard_notes,
        vlan_filtering,
        trunk,
    })
}

/// The layout `network-bridge start` built around `dev` (the device of the default route), if it
/// built one: how `stop` and `status` without `layout=` know what to undo.
pub fn found_on_host(dev: &str, snap: &Snapshot) -> Result<Option<Layout>> {
    let Some(l) = snap.link(dev)? else {
        return Ok(None);
    };
    if l.is_bridge {
        if snap.is_port(dev, &format!("p{dev}"))? {
            return Ok(Some(Layout::Netdev));
        }
        return Ok((l.alias == Layout::Xenbr.marker()).then_some(Layout::Xenbr));
    }
    // The NIC itself named: a port of the bridge the xenbr layout made.
    if let Some(m) = &l.master {
        if snap
            .link(m)?
            .is_some_and(|b| b.alias == Layout::Xenbr.marker())
        {
            return Ok(Some(Layout::Xenbr));
        }
    }
    let Some(master) = snap
        .link(&format!("p{dev}"))?
        .and_then(|p| p.master.clone())
    else {
        return Ok(None);
    };
    Ok(snap
        .link(&master)?
        .is_some_and(|m| m.alias == Layout::Netloop.marker())
        .then_some(Layout::Netloop))
}

/// Is this bridge port a guest's backend (`vifD.N`, `vifD.N-emu`, a tap, or a vif renamed by
/// `vifname`, which keeps its kernel name as its alias)?
pub fn is_guest_port(l: &Link) -> bool {
    let vif = |n: &str| n.starts_with("vif") || n.starts_with("tap");
    vif(&l.name) || vif(&l.alias)
}

/// The bridge's uplink: its first port that is not a guest's backend.
pub fn uplink_port(bridge: &str, snap: &Snapshot) -> Result<Option<String>> {
    for p in snap.ports(bridge)? {
        if snap.link(p)?.is_some_and(|l| !is_guest_port(l)) {
            return Ok(Some(p.clone()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_parse_and_name() {
        for n in Layout::NAMES {
            assert_eq!(Layout::parse(n).unwrap().name(), *n);
        }
        let e = Layout::parse("G1").unwrap_err().0;
        assert!(e.contains("\"G1\"") && e.contains("netloop"), "{e}");
    }
}
