//! Guest VLANs from xl's `vlan=` key (issue 19), in namespaces.
//!
//! These machines' kernel has no bridge VLAN filtering (`ip link add … type bridge
//! vlan_filtering 1`: "Operation not supported"; no `vlan_filtering` in a bridge's sysfs), so on
//! a Linux bridge only the refusals can be proved here: a vif with `vlan=` is refused with
//! `hotplug-error` and nothing changed, never attached untagged; `network-bridge start
//! vlan_filtering=yes` changes nothing. Where the kernel has it, the same tests take the full path
//! instead (VLANs on the port, a ping within a VLAN and none across). Open vSwitch filters VLANs
//! itself, so `vif-openvswitch` with `vlan=` is proved end to end here: guests on one VLAN reach
//! each other and not those on another.

mod common;

use common::ovs::{have_ovs, Ovs};
use common::*;
use xennet_tests::*;

/// Does this kernel filter bridges by VLAN? Asked of a throwaway bridge in `ns`.
fn kernel_filters_vlans(ns: &str) -> bool {
    cmd::ip_must(ns, &["link", "add", "name", "xtvlprobe", "type", "bridge"]);
    let has = cmd::ns_exec(
        ns,
        &[
            "test",
            "-e",
            "/sys/class/net/xtvlprobe/bridge/vlan_filtering",
        ],
    )
    .success();
    cmd::ip_must(ns, &["link", "del", "dev", "xtvlprobe"]);
    if !has {
        eprintln!(
            "NOTE: this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING): \
             only the refusals are tested on a Linux bridge"
        );
    }
    has
}

/// The VLANs of `dev` as `bridge -j vlan show dev` lists them: (vid, flags).
fn port_vlans(ns: &str, dev: &str) -> Vec<(u64, Vec<String>)> {
    let out = cmd::ns_exec(ns, &["bridge", "-j", "vlan", "show", "dev", dev]);
    let v: serde_json::Value = serde_json::from_str(out.ok().trim()).unwrap_or_default();
    let mut all = Vec::new();
    for e in v.as_array().into_iter().flatten() {
        for item in e["vlans"].as_array().into_iter().flatten() {
            let first = item["vlan"].as_u64().unwrap_or(0);
            let last = item["vlanEnd"].as_u64().unwrap_or(first);
            let flags: Vec<String> = item["flags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect();
            for vid in first..=last {
                all.push((vid, flags.clone()));
            }
        }
    }
    all
}

#[test]
fn a_vif_with_vlan_on_a_bridge_that_cannot_filter_is_refused_and_never_attached() {
    let Some((h, g)) = admin_bridge_host("vlan_refused", &[("vlan", "10")]) else {
        return;
    };
    let filters = kernel_filters_vlans(&h.dom0);
    let before = h.snapshot();
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    let err = assert_reported(&h, &r, "online with vlan=10", "asks for VLANs vlan=10");
    if filters {
        // xenbr0 was made without vlan_filtering: not VLAN-aware.
        assert!(
            err.contains("bridge xenbr0 is not VLAN-aware")
                && err.contains("network-bridge start vlan_filtering=yes"),
            "{err}"
        );
    } else {
        assert!(
            err.contains("this kernel has no bridge VLAN filtering")
                && err.contains("CONFIG_BRIDGE_VLAN_FILTERING")
                && err.contains("remove vlan="),
            "{err}"
        );
    }
    // Nothing changed: the guest is not on the untagged LAN.
    assert_same(&before, &h.snapshot(), "a refused vlan= online");
    assert_released(&h, "vif1.0");
    assert!(!ping(&g.ns, LAN_ADDR), "a refused guest reached the LAN");
    // libxl's cleanup after the failure (TS-06): offline succeeds and changes nothing.
    let r = h.libxl("vif-bridge", 1, 0).run(OFFLINE);
    assert_ok(&h, &r, "offline after the refusal");
    assert_same(&before, &h.snapshot(), "offline after a refused online");

    // Malformed values: the value, what is wrong and the fix; nothing changed.
    for (value, names) in [
        ("10/20", "2 VLANs and none is the PVID"),
        ("4095", "4095 is not a VLAN id"),
        ("10p/20p", "two PVIDs, 10 and 20"),
        ("10-", "\"10-\" is not a VLAN term"),
        ("100+10x0", "a count of 0 adds no VLAN"),
    ] {
        h.xs_write_backend(1, 0, &[("vlan", value)]);
        let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
        let err = assert_reported(&h, &r, value, names);
        assert!(
            err.contains(&format!("vlan={value:?}"))
                && err.contains("(from xenstore key backend/vif/1/0/vlan)"),
            "{err}"
        );
        assert_same(&before, &h.snapshot(), value);
    }
    // Without the key the same guest is attached as before (untagged, as it asked).
    h.xs_rm(&format!("{}/vlan", h.backend_path(1, 0)));
    h.xs_write_backend(1, 0, &[]);
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "online without vlan=");
    assert_port(&h, "vif1.0", "xenbr0", 1500);
    assert!(ping_retry(&g.ns, LAN_ADDR, 5));
}

#[test]
fn a_routed_guest_with_vlan_is_refused() {
    let Some(mut h) = host!("vlan_routed").build() else {
        return;
    };
    let _g = h.add_guest(1, 0);
    h.xs_write_backend(
        1,
        0,
        &[
            ("ip", "192.0.2.60"),
            ("vlan", "10"),
            ("script", "/etc/xen/scripts/vif-route"),
        ],
    );
    let before = h.snapshot();
    let r = h.libxl("vif-route", 1, 0).run(ONLINE);
    let err = assert_reported(&h, &r, "vif-route with vlan=", "vif-route routes");
    assert!(err.contains("script=vif-bridge"), "{err}");
    assert_same(&before, &h.snapshot(), "a refused vif-route online");
}

#[test]
fn network_bridge_vlan_filtering_on_a_kernel_without_it_changes_nothing() {
    let Some(h) = host!("vlan_nb").build() else {
        return;
    };
    if kernel_filters_vlans(&h.dom0) {
        return vlan_aware_network_bridge(h);
    }
    let before = h.snapshot();
    // No bridge to look at: the step that makes tmpbridge VLAN-aware fails and is rolled back.
    let r = h
        .script("network-bridge")
        .run(&["start", "vlan_filtering=yes", "trunk=10"]);
    assert!(!r.success(), "start should fail:\n{}", h.explain(&r));
    assert!(
        r.stderr.contains("VLAN-aware")
            && r.stderr.contains("CONFIG_BRIDGE_VLAN_FILTERING")
            && r.stderr.contains("Operation not supported")
            && r.stderr.contains("undone"),
        "{r}"
    );
    assert_same(&before, &h.snapshot(), "a failed vlan_filtering=yes start");
    assert!(ping(&h.dom0, LAN_ADDR), "dom0 lost its network");
    // With any bridge on the host its sysfs tells, and start is refused before any change.
    cmd::ip_must(
        &h.dom0,
        &["link", "add", "name", "bradmin", "type", "bridge"],
    );
    let before = h.snapshot();
    let r = h
        .script("network-bridge")
        .run(&["start", "vlan_filtering=yes"]);
    assert!(!r.success(), "start should be refused:\n{}", h.explain(&r));
    assert!(
        r.stderr.contains(
            "this kernel has no bridge VLAN filtering (/sys/class/net/bradmin/bridge/vlan_filtering is missing"
        ) && r.stderr.contains("nothing was changed"),
        "{r}"
    );
    assert_same(&before, &h.snapshot(), "a refused vlan_filtering=yes start");
    // Bad values are refused before anything is read.
    for (args, names) in [
        (
            &["start", "trunk=10"][..],
            "trunk=10 needs vlan_filtering=yes",
        ),
        (
            &["start", "vlan_filtering=yes", "trunk=10p"][..],
            "drop the 'p'",
        ),
        (&["start", "vlan_filtering=maybe"][..], "must be yes or no"),
    ] {
        let r = h.script("network-bridge").run(args);
        assert!(
            !r.success() && r.stderr.contains(names),
            "{args:?}: {}",
            h.explain(&r)
        );
        assert_same(&before, &h.snapshot(), names);
    }
}

/// Where the kernel filters by VLAN: start makes the bridge VLAN-aware and trunks the uplink,
/// a guest with vlan=10 gets exactly VLAN 10, and stop puts the host back as it was.
fn vlan_aware_network_bridge(mut h: Host) {
    let before = h.snapshot();
    let r = h
        .script("network-bridge")
        .run(&["start", "vlan_filtering=yes", "trunk=10"]);
    assert_ok(&h, &r, "network-bridge start vlan_filtering=yes trunk=10");
    let vlans = port_vlans(&h.dom0, "peth0");
    assert!(
        vlans.iter().any(|(v, f)| *v == 10 && f.is_empty()),
        "{vlans:?}"
    );
    let g = h.add_guest(1, 0);
    h.xs_write_backend(1, 0, &[("vlan", "10")]);
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "online with vlan=10");
    let vlans = port_vlans(&h.dom0, "vif1.0");
    assert_eq!(vlans.len(), 1, "{vlans:?}");
    assert_eq!(vlans[0].0, 10);
    // VLAN 10 is not dom0's untagged LAN.
    assert!(!ping(&g.ns, DOM0_ADDR), "VLAN 10 reached dom0's VLAN 1");
    let r = h.libxl("vif-bridge", 1, 0).run(OFFLINE);
    assert_ok(&h, &r, "offline");
    assert!(port_vlans(&h.dom0, "vif1.0").is_empty());
    let r = h.script("network-bridge").run(&["stop"]);
    assert_ok(&h, &r, "stop");
    cmd::ip_must(&h.dom0, &["link", "del", "dev", "vif1.0"]);
    assert_same(&before, &h.snapshot(), "start then stop");
}

/// Connects guest `domid` with vif-openvswitch and the backend keys `keys`; the run's output.
fn ovs_online(h: &Host, ovs: &Ovs, domid: u32, keys: &[(&str, &str)]) -> cmd::Output {
    let mut all = vec![("script", "/etc/xen/scripts/vif-openvswitch")];
    all.extend_from_slice(keys);
    h.xs_write_backend(domid, 0, &all);
    let mut call = h.libxl("vif-openvswitch", domid, 0);
    for (k, v) in ovs.env() {
        call = call.env(&k, &v);
    }
    call.run(ONLINE)
}

#[test]
fn open_vswitch_takes_vlan_as_the_ports_tag_and_trunks_and_keeps_vlans_apart() {
    if !have_ovs() {
        return;
    }
    let Some(mut h) = host!("vlan_ovs").build() else {
        return;
    };
    let ns = h.dom0.clone();
    let ovs = Ovs::start(&ns, &h.scratch.join("ovs"));
    ovs.must(
        &ns,
        &[
            "add-br",
            "ovsbr0",
            "--",
            "set",
            "bridge",
            "ovsbr0",
            "datapath_type=netdev",
        ],
    );
    cmd::ip_must(&ns, &["link", "set", "dev", "ovsbr0", "up"]);
    // Guests 1 and 2 on VLAN 10, 3 on VLAN 20, 4 a trunk: VLAN 10 untagged (its PVID), 20 tagged.
    let mut guests = Vec::new();
    for (domid, vlan) in [(1, "10"), (2, "10"), (3, "20"), (4, "10p/20")] {
        let g = h.add_guest(domid, 0);
        // The userspace datapath fills in no checksum.
        cmd::ns_exec(&g.ns, &["ethtool", "-K", &g.guest_if, "tx", "off"]).ok();
        let r = ovs_online(&h, &ovs, domid, &[("bridge", "ovsbr0"), ("vlan", vlan)]);
        assert!(
            r.success(),
            "online of guest {domid} with vlan={vlan}:\n{}",
            h.explain(&r)
        );
        assert_eq!(h.hotplug_status(domid, 0).as_deref(), Some("connected"));
        guests.push(g);
    }
    let get = |port: &str, col: &str| ovs.must(&ns, &["get", "port", port, col]);
    assert_eq!(get("vif1.0", "tag"), "10");
    assert_eq!(get("vif1.0", "trunks"), "[]");
    assert_eq!(get("vif3.0", "tag"), "20");
    assert_eq!(get("vif4.0", "tag"), "10");
    assert_eq!(get("vif4.0", "trunks"), "[20]");
    assert_eq!(get("vif4.0", "vlan_mode"), "native-untagged");
    let addr = |i: usize| guests[i].addr.clone().unwrap();
    assert!(ping_retry(&guests[0].ns, &addr(1), 10), "VLAN 10: 1 -> 2");
    assert!(
        ping_retry(&guests[0].ns, &addr(3), 10),
        "VLAN 10: 1 -> the trunk's PVID"
    );
    assert!(
        !ping(&guests[2].ns, &addr(0)),
        "VLAN 20 reached VLAN 10 (1)"
    );
    assert!(
        !ping(&guests[2].ns, &addr(1)),
        "VLAN 20 reached VLAN 10 (2)"
    );
    // The trunk's untagged side is VLAN 10, so VLAN 20's untagged frames do not reach it.
    assert!(
        !ping(&guests[2].ns, &addr(3)),
        "VLAN 20 reached the trunk untagged"
    );

    // A second online of a port as wanted changes nothing (the same OVS record).
    let uuid = get("vif4.0", "_uuid");
    let r = ovs_online(&h, &ovs, 4, &[("bridge", "ovsbr0"), ("vlan", "10p/20")]);
    assert!(r.success(), "{}", h.explain(&r));
    assert_eq!(get("vif4.0", "_uuid"), uuid);

    // vlan= and bridge=NAME.VLAN must agree; a contradiction is refused and nothing is added.
    let _g5 = h.add_guest(5, 0);
    let r = ovs_online(&h, &ovs, 5, &[("bridge", "ovsbr0.10"), ("vlan", "20")]);
    assert!(!r.success(), "{}", h.explain(&r));
    assert_eq!(h.hotplug_status(5, 0).as_deref(), Some("error"));
    let err = h.hotplug_error(5, 0).unwrap_or_default();
    assert!(
        err.contains("bridge=ovsbr0.10") && err.contains("vlan=20") && err.contains("in one place"),
        "{err}"
    );
    let ports = ovs.must(&ns, &["list-ports", "ovsbr0"]);
    assert!(!ports.contains("vif5.0"), "{ports}");
    // Untagged VLANs besides the PVID cannot be had on OVS.
    let r = ovs_online(&h, &ovs, 5, &[("bridge", "ovsbr0"), ("vlan", "10p/20u")]);
    assert!(!r.success(), "{}", h.explain(&r));
    assert!(h
        .hotplug_error(5, 0)
        .unwrap_or_default()
        .contains("untagged besides the PVID"));

    // offline removes exactly that port.
    let mut call = h.libxl("vif-openvswitch", 4, 0);
    for (k, v) in ovs.env() {
        call = call.env(&k, &v);
    }
    assert_ok(&h, &call.run(OFFLINE), "offline of the trunk");
    let ports = ovs.must(&ns, &["list-ports", "ovsbr0"]);
    assert_eq!(
        ports.lines().collect::<Vec<_>>(),
        ["vif1.0", "vif2.0", "vif3.0"],
        "{ports}"
    );
    assert!(
        ping(&guests[0].ns, &addr(1)),
        "VLAN 10 after the trunk went"
    );
}
