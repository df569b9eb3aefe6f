//! Set-ups and expectations shared by the integration tests.
#![allow(dead_code)]

pub mod modes;
pub mod nft;
pub mod ovs;

use xennet_tests::*;

/// The libxl arguments (TS-02).
pub const ONLINE: &[&str] = &["online", "type_if=vif"];
pub const OFFLINE: &[&str] = &["offline", "type_if=vif"];
pub const ADD_TAP: &[&str] = &["add", "type_if=tap"];
pub const REMOVE_TAP: &[&str] = &["remove", "type_if=tap"];

/// The rules of IPT-03 as `iptables-save` prints them.
pub fn out_rule(dev: &str) -> String {
    format!("-A FORWARD -m physdev --physdev-out {dev} --physdev-is-bridged -j ACCEPT")
}
pub fn in_rule(dev: &str) -> String {
    format!("-A FORWARD -m physdev --physdev-in {dev} --physdev-is-bridged -j ACCEPT")
}
pub fn in_rule_from(dev: &str, addr: &str) -> String {
    format!("-A FORWARD -s {addr}/32 -m physdev --physdev-in {dev} --physdev-is-bridged -j ACCEPT")
}
pub fn dhcp_rule(dev: &str) -> String {
    format!(
        "-A FORWARD -p udp -m physdev --physdev-in {dev} --physdev-is-bridged -m udp --sport 68 --dport 67 -j ACCEPT"
    )
}

/// A host whose dom0 has an administrator's bridge `xenbr0` holding `eth0` (the G3 layout),
/// guest 1 with `vif1.0`, and libxl's backend keys for it (`bridge=xenbr0` plus `extra`).
pub fn admin_bridge_host(name: &str, extra: &[(&str, &str)]) -> Option<(Host, Guest)> {
    let mut h = host!(name).build()?;
    h.make_admin_bridge("xenbr0");
    let g = h.add_guest(1, 0);
    h.xs_write_backend(1, 0, extra);
    Some((h, g))
}

/// A host after `network-bridge start` (bridge `eth0`, port `peth0`), guest 1 with `vif1.0`,
/// and libxl's backend keys (`bridge=xenbr0`, translated by VB-04, plus `extra`).
pub fn network_bridge_host(name: &str, extra: &[(&str, &str)]) -> Option<(Host, Guest)> {
    let mut h = host!(name).build()?;
    let r = h.script("network-bridge").run(&["start"]);
    assert!(
        r.success(),
        "network-bridge start failed:\n{}",
        h.explain(&r)
    );
    assert_eq!(
        snapshot::master_of(&h.dom0, "peth0").as_deref(),
        Some("eth0"),
        "network-bridge start did not build the bridge:\n{}",
        h.explain(&r)
    );
    let g = h.add_guest(1, 0);
    h.xs_write_backend(1, 0, extra);
    Some((h, g))
}

/// Asserts `dev` is an up port of `bridge` with the backend MAC and the given MTU.
#[track_caller]
pub fn assert_port(h: &Host, dev: &str, bridge: &str, mtu: u64) {
    let l = h
        .link(dev)
        .unwrap_or_else(|| panic!("{dev} does not exist in dom0"));
    assert_eq!(
        l["master"].as_str(),
        Some(bridge),
        "{dev} should be a port of {bridge}: {l}"
    );
    assert!(snapshot::is_up(&l), "{dev} should be up: {l}");
    assert_eq!(
        l["address"].as_str(),
        Some(BACKEND_MAC),
        "{dev} MAC (BR-04): {l}"
    );
    assert_eq!(l["mtu"].as_u64(), Some(mtu), "{dev} MTU (MTU-01): {l}");
}

/// Asserts `dev` is not a bridge port and is down (or gone).
#[track_caller]
pub fn assert_released(h: &Host, dev: &str) {
    if let Some(l) = h.link(dev) {
        assert!(l["master"].is_null(), "{dev} is still a port: {l}");
        assert!(
            !snapshot::is_up(&l),
            "{dev} should be down after release: {l}"
        );
    }
}

/// Asserts a run succeeded, with everything useful in the message.
#[track_caller]
pub fn assert_ok(h: &Host, r: &Output, what: &str) {
    assert!(r.success(), "{what} should succeed:\n{}", h.explain(r));
}

/// Asserts a run failed (non-zero exit, not a timeout).
#[track_caller]
pub fn assert_failed(h: &Host, r: &Output, what: &str) {
    assert!(!r.success(), "{what} should fail:\n{}", h.explain(r));
    assert!(
        !r.timed_out(),
        "{what} timed out instead of failing:\n{}",
        h.explain(r)
    );
}

/// MTU of a dom0 link.
pub fn mtu_of(h: &Host, dev: &str) -> u64 {
    h.link(dev).and_then(|l| l["mtu"].as_u64()).unwrap_or(0)
}

/// The failure protocol of a vif script (GEN-10, XS-03): a non-zero exit, `hotplug-status=error`
/// and a `hotplug-error` that is not empty and contains `names`. Returns the hotplug-error.
#[track_caller]
pub fn assert_reported(h: &Host, r: &Output, what: &str, names: &str) -> String {
    assert_failed(h, r, what);
    assert_eq!(
        h.hotplug_status(1, 0).as_deref(),
        Some("error"),
        "{what}: hotplug-status (XS-03)\n{}",
        h.explain(r)
    );
    let err = h.hotplug_error(1, 0).unwrap_or_default();
    assert!(
        !err.is_empty() && err.contains(names),
        "{what}: hotplug-error should name {names:?}: {err:?}\n{}",
        h.explain(r)
    );
    err
}

/// Guest `domid` with one address `cidr` and `gateway` as its default route, the address as
/// `ip=` and `script` in its backend keys.
fn add_addressed_guest(h: &mut Host, domid: u32, cidr: &str, gateway: &str, script: &str) -> Guest {
    let g = h.add_guest(domid, 0);
    cmd::ip_must(&g.ns, &["addr", "flush", "dev", &g.guest_if]);
    cmd::ip_must(&g.ns, &["addr", "add", cidr, "dev", &g.guest_if]);
    cmd::ip_must(
        &g.ns,
        &[
            "route",
            "replace",
            "default",
            "via",
            gateway,
            "dev",
            &g.guest_if,
        ],
    );
    let ip = cidr.split('/').next().unwrap_or(cidr);
    let script = format!("/etc/xen/scripts/{script}");
    h.xs_write_backend(domid, 0, &[("ip", ip), ("script", script.as_str())]);
    g
}

/// Guest `domid` as route mode has it: 192.0.2.(59+domid)/24 with the LAN host as its default
/// gateway, `ip=` that address and vif-route in its backend keys.
pub fn add_routed_guest_at(h: &mut Host, domid: u32) -> Guest {
    let cidr = format!("192.0.2.{}/24", 59 + domid);
    add_addressed_guest(h, domid, &cidr, LAN_ADDR, "vif-route")
}

/// Guest 1 as route mode has it (192.0.2.60).
pub fn add_routed_guest(h: &mut Host) -> Guest {
    add_routed_guest_at(h, 1)
}

/// Guest `domid` as NAT mode has it: 10.0.0.(domid)/16 with its router address (VN-05: the
/// last octet + 127) as its default gateway, `ip=` that address and vif-nat in its backend keys.
pub fn add_nat_guest_at(h: &mut Host, domid: u32) -> Guest {
    let cidr = format!("10.0.0.{domid}/16");
    let router = format!("10.0.0.{}", 127 + domid);
    add_addressed_guest(h, domid, &cidr, &router, "vif-nat")
}

/// Guest 1 as NAT mode has it (10.0.0.1, router 10.0.0.128).
pub fn add_nat_guest(h: &mut Host) -> Guest {
    add_nat_guest_at(h, 1)
}
