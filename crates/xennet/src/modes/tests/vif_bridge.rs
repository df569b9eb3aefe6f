//! vif-bridge's planner (spec §4): online, offline, add, remove and their refusals.

use crate::error::Error;
use crate::fixture::testing::*;
use crate::fixture::Fixture;
use crate::snapshot::Fact;
use crate::state::Link;

/// The admin bridge host with xenstore's usual keys for vif1.0.
fn keys() -> Vec<(&'static str, &'static str)> {
    vec![
        ("bridge", "xenbr0"),
        ("mac", "00:16:3e:00:00:01"),
        ("frontend-id", "1"),
        ("handle", "0"),
    ]
}

/// `vif1.0` as netback leaves it (down, its own MAC), on a host with the bridge `xenbr0`.
fn fresh_vif_host() -> Fixture {
    let mut vif = Link::named("vif1.0");
    vif.address = "fe:ff:ff:ff:ff:fe".into();
    dom0()
        .link(Link {
            is_bridge: true,
            up: true,
            address: "52:54:00:aa:bb:cc".into(),
            ..Link::named("xenbr0")
        })
        .link(vif)
}

#[test]
fn vb05_online_makes_a_port_with_the_bridges_mtu_and_reports_the_frontend_mtu() {
    let ctx = vif_ctx("vif-bridge", "online", &keys());
    let i = inv("vif-bridge", &["online"], &[]);
    let p = plan_vif("vif-bridge", &ctx, &i, &fresh_vif_host()).unwrap();
    let l = lines(&p);
    assert!(
        l.contains("ip link set dev vif1.0 address fe:ff:ff:ff:ff:ff"),
        "{l}"
    );
    assert!(l.contains("ip link set dev vif1.0 master xenbr0"), "{l}");
    assert!(l.contains("ip link set dev vif1.0 up"), "{l}");
    // The originals' rules for a new vif, in one iptables-restore, without reading the ruleset.
    assert!(l.contains("iptables-restore '--wait=10' --noflush"), "{l}");
    assert_eq!(
        p.frontend_keys,
        [(
            "/local/domain/1/device/vif/0/mtu".to_string(),
            "1500".to_string()
        )]
    );
}

#[test]
fn vb05_a_missing_bridge_is_refused_naming_the_bridges_there_are() {
    let ctx = vif_ctx("vif-bridge", "online", &[("bridge", "nosuchbr")]);
    let i = inv("vif-bridge", &["online"], &[]);
    let e = plan_vif("vif-bridge", &ctx, &i, &fresh_vif_host()).unwrap_err();
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    let m = sentence(e);
    assert!(
        m.starts_with("Could not find bridge device nosuchbr")
            && m.contains("bridges on this host: xenbr0"),
        "{m}"
    );
}

#[test]
fn online_of_a_new_vif_reads_no_firewall_state() {
    let ctx = vif_ctx("vif-bridge", "online", &keys());
    let i = inv("vif-bridge", &["online"], &[]);
    let host = fresh_vif_host();
    plan_vif("vif-bridge", &ctx, &i, &host).unwrap();
    assert!(
        !host.asked().contains(&Fact::Iptables("filter".into())),
        "{:?}",
        host.asked()
    );
}
