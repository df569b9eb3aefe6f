//! `network-bridge start vlan_filtering=yes [trunk=VLANS]` (issue 19): the bridge is made
//! VLAN-aware as soon as it exists, so that `vif-bridge` can give each guest exactly the VLANs of
//! its `vlan=` key, and the uplink carries the VLANs of `trunk=` tagged to the LAN (its untagged
//! VLAN stays the bridge's default, 1: dom0's own network). `stop` needs nothing of its own: the
//! bridge goes, and a port's VLANs go with the port.

use super::settings::Settings;
use crate::error::{Error, Result};
use crate::exec::ip;
use crate::plan::Step;
use crate::snapshot::Snapshot;
use crate::validate::Invalid;
use crate::vlan::{self, Filtering, Flags, Vlans};

/// The VLAN a new bridge gives its ports and itself: dom0's untagged network.
const DEFAULT_PVID: u16 = 1;

/// start: the settings make sense together, and this kernel can filter by VLAN where that can
/// be seen before anything changes (on any bridge that exists already); otherwise the step that
/// makes the bridge VLAN-aware fails first, and nothing is left changed.
pub fn check_start(s: &Settings, snap: &Snapshot) -> Result<()> {
    if !s.trunk.is_empty() && !s.vlan_filtering {
        let list: Vec<String> = s.trunk.iter().map(u16::to_string).collect();
        return Err(Error::Invalid(Invalid(format!(
            "trunk={} needs vlan_filtering=yes: only a VLAN-aware bridge keeps VLANs apart; \
             add vlan_filtering=yes",
            list.join(",")
        ))));
    }
    if s.trunk.contains(&DEFAULT_PVID) {
        return Err(Error::Invalid(Invalid(
            "trunk= lists VLAN 1, the uplink's untagged VLAN (dom0's own network), which \
             cannot also be tagged: leave 1 out"
                .into(),
        )));
    }
    if !s.vlan_filtering {
        return Ok(());
    }
    if let Some(other) = snap.bridges()?.first() {
        if vlan::filtering(other, snap)? == Filtering::Unsupported {
            return Err(Error::refused(format!(
                "vlan_filtering=yes: this kernel has no bridge VLAN filtering ({} is missing on \
                 bridge {other}): boot a dom0 kernel built with CONFIG_BRIDGE_VLAN_FILTERING=y \
                 (Debian's has it), or start without vlan_filtering= (guests with vlan= are then \
                 refused)",
                vlan::sysfs(other, "vlan_filtering").display()
            )));
        }
    }
    if !s.trunk.is_empty() && !snap.tool("bridge")? {
        return Err(Error::MissingTool(
            "trunk= needs the `bridge` program: install the Debian package iproute2".into(),
        ));
    }
    Ok(())
}

/// start: the new bridge `name` made VLAN-aware, right after it is made (its undo, deleting
/// the bridge, takes this along).
pub fn make_aware(s: &Settings, name: &str) -> Option<Step> {
    s.vlan_filtering.then(|| {
        Step::run(
            format!(
                "make bridge {name} VLAN-aware (vlan_filtering 1, which needs a kernel with \
                 CONFIG_BRIDGE_VLAN_FILTERING)"
            ),
            ip([
                "link",
                "set",
                "dev",
                name,
                "type",
                "bridge",
                "vlan_filtering",
                "1",
            ]),
        )
    })
}

/// start: the uplink `port` carries the VLANs of `trunk=` tagged, besides its untagged VLAN 1.
pub fn trunk(s: &Settings, port: &str) -> Vec<Step> {
    if !s.vlan_filtering || s.trunk.is_empty() {
        return Vec::new();
    }
    let have = Vlans::only_pvid(DEFAULT_PVID);
    let mut want = have.clone();
    for vid in &s.trunk {
        want.insert(*vid, Flags::TAGGED);
    }
    vlan::port_steps(port, &have, &want)
}

/// What the `Nothing` of a start on an existing bridge must add when `vlan_filtering=yes` was
/// asked for and that bridge is not VLAN-aware: it is left as it is, and the administrator is
/// told how to make it so.
pub fn not_applied(s: &Settings, snap: &Snapshot) -> Result<Option<String>> {
    if !s.vlan_filtering || !snap.link(&s.bridge)?.is_some_and(|l| l.is_bridge) {
        return Ok(None);
    }
    Ok(match vlan::filtering(&s.bridge, snap)? {
        Filtering::On => None,
        Filtering::Off => Some(format!(
            "; {b} is not VLAN-aware and vlan_filtering=yes was not applied to the running \
             bridge: stop and start again, or ip link set dev {b} type bridge vlan_filtering 1",
            b = s.bridge
        )),
        Filtering::Unsupported => Some(format!(
            "; this kernel has no bridge VLAN filtering, so {} cannot be VLAN-aware \
             (CONFIG_BRIDGE_VLAN_FILTERING)",
            s.bridge
        )),
    })
}
