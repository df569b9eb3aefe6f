//! vif-openvswitch's planner (spec §7.2): one ovs-vsctl transaction with the VLANs and the
//! guest's labels; the bridge checked first.

use super::*;
use crate::error::Error;
use crate::facts::{Answer, Fact, OvsPort};
use crate::fixture::testing::*;
use crate::fixture::Fixture;

fn host() -> Fixture {
    Fixture::new()
        .link(fresh("vif1.0"))
        .link(up("ovsbr0"))
        .tools(&["ip", "ovs-vsctl"])
        .answer(Fact::OvsBridge("ovsbr0".into()), Answer::Yes(true))
        .answer(
            Fact::Xenstore("/local/domain/1/vm".into()),
            Answer::Text(Some("/vm/u-1".into())),
        )
        .answer(
            Fact::Xenstore("/vm/u-1/name".into()),
            Answer::Text(Some("web".into())),
        )
        .answer(
            Fact::Xenstore("/vm/u-1/uuid".into()),
            Answer::Text(Some("u-1".into())),
        )
}

fn plan(
    command: &str,
    bridge: &str,
    host: &Fixture,
) -> crate::error::Result<crate::error::Planned> {
    let keys = [
        ("bridge", bridge),
        ("mac", "00:16:3e:00:00:01"),
        ("frontend-id", "1"),
        ("handle", "0"),
    ];
    let words = [command, "type_if=vif", "firewall=none"];
    let ctx = vif_ctx_with("vif-openvswitch", &words, VIF_ENV, &keys);
    plan_vif(
        "vif-openvswitch",
        &ctx,
        &inv("vif-openvswitch", &words, VIF_ENV),
        host,
    )
}

#[test]
fn vo01_online_adds_the_port_with_tag_trunks_and_labels_in_one_transaction() {
    let p = plan("online", "ovsbr0.10:20:30", &host()).unwrap();
    let l = lines(&p);
    assert!(
        l.contains("add-port ovsbr0 vif1.0 'tag=10' 'trunks=20,30'"),
        "{l}"
    );
    assert!(
        l.contains("xen-vm-name") && l.contains("web") && l.contains("u-1"),
        "{l}"
    );
    assert_eq!(l.matches("ovs-vsctl").count(), 1, "{l}");
}

#[test]
fn an_unknown_ovs_bridge_is_refused_naming_the_others() {
    let host = host()
        .answer(Fact::OvsBridge("ovsbr9".into()), Answer::Yes(false))
        .answer(Fact::OvsBridges, Answer::Names(vec!["ovsbr0".into()]));
    let e = plan("online", "ovsbr9", &host).unwrap_err();
    let m = sentence(e);
    assert!(
        m.contains("Open vSwitch has no bridge ovsbr9") && m.contains("its bridges: ovsbr0"),
        "{m}"
    );
}

#[test]
fn without_ovs_vsctl_online_is_refused_with_the_package() {
    let host = Fixture::new().link(fresh("vif1.0")).tools(&["ip"]);
    let e = plan("online", "ovsbr0", &host).unwrap_err();
    assert!(matches!(e, Error::MissingTool(_)));
    assert!(sentence(e).contains("openvswitch-switch"));
}

#[test]
fn a_port_already_as_wanted_is_left_alone() {
    let mut vif = fresh("vif1.0");
    vif.up = true;
    vif.address = crate::bridge::PORT_MAC.into();
    let host = host().link(vif).answer(
        Fact::OvsPort {
            bridge: "ovsbr0".into(),
            port: "vif1.0".into(),
        },
        Answer::OvsPort(Some(OvsPort {
            tag: "10".into(),
            trunks: "[]".into(),
            vlan_mode: "[]".into(),
        })),
    );
    let p = plan("online", "ovsbr0.10", &host).unwrap();
    assert!(!lines(&p).contains("ovs-vsctl"), "{}", lines(&p));
    let p = plan("online", "ovsbr0.11", &host).unwrap();
    assert!(lines(&p).contains("'tag=11'"), "another tag is set again");
}

#[test]
fn offline_deletes_exactly_this_port() {
    let p = plan("offline", "ovsbr0", &host()).unwrap();
    assert!(
        lines(&p).contains("ovs-vsctl '--timeout=15' -- --if-exists del-port vif1.0"),
        "{}",
        lines(&p)
    );
}

// Issue 19: xl's vlan= key on Open vSwitch.

fn plan_vlan(
    bridge: &str,
    vlan: &str,
    host: &Fixture,
) -> crate::error::Result<crate::error::Planned> {
    let keys = [
        ("bridge", bridge),
        ("mac", "00:16:3e:00:00:01"),
        ("frontend-id", "1"),
        ("handle", "0"),
        ("vlan", vlan),
    ];
    let words = ["online", "type_if=vif", "firewall=none"];
    let ctx = vif_ctx_with("vif-openvswitch", &words, VIF_ENV, &keys);
    plan_vif(
        "vif-openvswitch",
        &ctx,
        &inv("vif-openvswitch", &words, VIF_ENV),
        host,
    )
}

#[test]
fn vlan_gives_the_port_its_tag_and_trunks() {
    let l = lines(&plan_vlan("ovsbr0", "10", &host()).unwrap());
    assert!(l.contains("add-port ovsbr0 vif1.0 'tag=10' --"), "{l}");
    assert!(!l.contains("trunks") && !l.contains("vlan_mode"), "{l}");
    let l = lines(&plan_vlan("ovsbr0", "10p/20/30-31", &host()).unwrap());
    assert!(
        l.contains("add-port ovsbr0 vif1.0 'tag=10' 'trunks=20,30,31' 'vlan_mode=native-untagged'"),
        "{l}"
    );
}

#[test]
fn vlan_with_untagged_vlans_besides_the_pvid_is_refused() {
    let e = plan_vlan("ovsbr0", "10p/20u", &host()).unwrap_err();
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    let m = sentence(e);
    assert!(
        m.contains("with 20 untagged besides the PVID") && m.contains("drop the u"),
        "{m}"
    );
}

#[test]
fn vlan_and_bridge_vlans_must_agree() {
    // The same VLANs said twice: fine, and OVS gets the mode that keeps the trunks.
    let l = lines(&plan_vlan("ovsbr0.10:20", "10p/20", &host()).unwrap());
    assert!(
        l.contains("'tag=10' 'trunks=20' 'vlan_mode=native-untagged'"),
        "{l}"
    );
    let l = lines(&plan_vlan("ovsbr0.10", "10", &host()).unwrap());
    assert!(l.contains("'tag=10' --"), "{l}");
    // A contradiction names both.
    for (bridge, vlan) in [
        ("ovsbr0.10", "20"),
        ("ovsbr0.10", "10p/20"),
        ("ovsbr0.10:20:30", "10p/20"),
        ("ovsbr0:20", "10p/20"),
    ] {
        let e = plan_vlan(bridge, vlan, &host()).unwrap_err();
        assert!(matches!(e, Error::Refused(_)), "{bridge} {vlan}: {e:?}");
        let m = sentence(e);
        assert!(
            m.starts_with(&format!(
                "bridge={bridge} (from xenstore key backend/vif/1/0/bridge) says"
            )) && m.contains(&format!(
                "but vlan={vlan} (from xenstore key backend/vif/1/0/vlan)"
            )) && m.contains("in one place"),
            "{m}"
        );
    }
}

#[test]
fn a_port_with_its_vlan_mode_is_left_alone() {
    let mut vif = fresh("vif1.0");
    vif.up = true;
    vif.address = crate::bridge::PORT_MAC.into();
    let port = |mode: &str| {
        Answer::OvsPort(Some(OvsPort {
            tag: "10".into(),
            trunks: "[20]".into(),
            vlan_mode: mode.into(),
        }))
    };
    let fact = Fact::OvsPort {
        bridge: "ovsbr0".into(),
        port: "vif1.0".into(),
    };
    let host1 = host()
        .link(vif.clone())
        .answer(fact.clone(), port("native-untagged"));
    let p = plan_vlan("ovsbr0", "10p/20", &host1).unwrap();
    assert!(!lines(&p).contains("ovs-vsctl"), "{}", lines(&p));
    // The original's access port with trunks (OVS ignores them) is made again.
    let host2 = host().link(vif).answer(fact, port("[]"));
    let p = plan_vlan("ovsbr0", "10p/20", &host2).unwrap();
    assert!(lines(&p).contains("vlan_mode=native-untagged"));
}
