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

// ---------------------------------------------------------------------------------------------
// the bridge syntax, missing tools, the labels, MTU, taps, offline, what is read.

use super::network_bridge_captured::{cmds, pos, step, undo_of};
use crate::error::Note;
use crate::plan::OnError;

fn plan_with(
    words: &[&str],
    env: &[(&str, &str)],
    keys: &[(&str, &str)],
    host: &Fixture,
) -> crate::error::Result<crate::error::Planned> {
    let ctx = vif_ctx_with("vif-openvswitch", words, env, keys);
    plan_vif(
        "vif-openvswitch",
        &ctx,
        &inv("vif-openvswitch", words, env),
        host,
    )
}

fn add_port_line(p: &crate::error::Planned) -> String {
    step(p, "add vif1.0 to Open vSwitch bridge ovsbr0")
        .action
        .line()
}

#[test]
fn vo01_online_prepares_the_port_adds_it_then_brings_it_up_with_an_undo_that_deletes_it() {
    // A vif whose MAC is not yet the port MAC (netback's already is).
    let host = host().link(Link {
        address: "fe:ff:ff:ff:ff:fe".into(),
        ..fresh("vif1.0")
    });
    let p = plan("online", "ovsbr0", &host).unwrap();
    assert_eq!(
        cmds(&p),
        [
            "ip link set dev vif1.0 address fe:ff:ff:ff:ff:ff".to_string(),
            "ip address flush dev vif1.0".to_string(),
            add_port_line(&p),
            "ip link set dev vif1.0 up".to_string(),
        ]
    );
    assert_eq!(
        undo_of(&p, "add vif1.0 to Open vSwitch bridge ovsbr0").as_deref(),
        Some("ovs-vsctl '--timeout=15' -- --if-exists del-port vif1.0")
    );
    assert_eq!(
        p.done,
        "Successful vif-openvswitch online for vif1.0, bridge ovsbr0."
    );
    assert_eq!(
        p.frontend_keys,
        [(
            "/local/domain/1/device/vif/0/mtu".to_string(),
            "1500".to_string()
        )]
    );
}

#[test]
fn vo01_a_plain_bridge_has_no_tag_or_trunks_and_the_labels_name_the_guest() {
    let p = plan("online", "ovsbr0", &host()).unwrap();
    assert_eq!(
        add_port_line(&p),
        "ovs-vsctl '--timeout=15' -- --if-exists del-port vif1.0 -- add-port ovsbr0 vif1.0 \
         -- set interface vif1.0 'external-ids:\"xen-vm-name\"=\"web\"' \
         -- set interface vif1.0 'external-ids:\"xen-vm-uuid\"=\"u-1\"' \
         -- set interface vif1.0 'external-ids:\"attached-mac\"=\"00:16:3e:00:00:01\"'"
    );
}

#[test]
fn vo01_a_tag_alone_and_trunks_alone() {
    let l = add_port_line(&plan("online", "ovsbr0.100", &host()).unwrap());
    assert!(l.contains("add-port ovsbr0 vif1.0 'tag=100' --"), "{l}");
    assert!(!l.contains("trunks"), "{l}");
    let l = add_port_line(&plan("online", "ovsbr0:7:8:9", &host()).unwrap());
    assert!(
        l.contains("add-port ovsbr0 vif1.0 'trunks=7,8,9' --"),
        "{l}"
    );
    assert!(!l.contains("tag="), "{l}");
}

#[test]
fn vo01_a_malformed_bridge_argument_is_refused_naming_where_it_came_from() {
    let words = ["online", "type_if=vif", "bridge=ovsbr0.5000"];
    let e = plan_with(&words, VIF_ENV, &[("frontend-id", "1")], &host()).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    assert_eq!(
        sentence(e),
        "No valid bridge was specified: in \"ovsbr0.5000\", VLAN tag \"5000\" is not a VLAN id (0 to 4095) (from argument bridge=)"
    );
    // No bridge at all.
    let words = ["online", "type_if=vif"];
    let e = plan_with(&words, VIF_ENV, &[("frontend-id", "1")], &host()).unwrap_err();
    assert!(sentence(e).starts_with("No valid bridge was specified: \"\" has no bridge name"));
}

#[test]
fn vo01_a_malformed_bridge_key_is_refused_by_the_front_end() {
    let xs = crate::xenstore::Memory::default();
    crate::xenstore::XenStore::write(&xs, &[("backend/vif/1/0/bridge", "ovsbr0:x")]).unwrap();
    let r = crate::vif::front_end(
        &inv("vif-openvswitch", &["online"], VIF_ENV),
        crate::scripts::find("vif-openvswitch").unwrap().settings,
        &xs,
    );
    let Err(stop) = r else { panic!("accepted") };
    let m = stop.error.to_string();
    assert!(
        m.starts_with("No valid bridge was specified")
            && m.ends_with("(from xenstore key backend/vif/1/0/bridge)"),
        "{m}"
    );
}

#[test]
fn vo01_without_ovs_vsctl_nothing_else_is_read() {
    let host = Fixture::new().link(fresh("vif1.0")).tools(&["ip"]);
    let e = plan("online", "ovsbr0", &host).unwrap_err();
    assert_eq!(
        sentence(e),
        "Unable to find ovs-vsctl tool: install the Debian package openvswitch-switch"
    );
    assert_eq!(host.asked(), [Fact::Tool("ovs-vsctl".into())]);
}

#[test]
fn vo01_without_ip_online_is_refused_with_its_package() {
    let host = Fixture::new()
        .link(fresh("vif1.0"))
        .tools(&["ovs-vsctl"])
        .answer(Fact::OvsBridge("ovsbr0".into()), Answer::Yes(true));
    let e = plan("online", "ovsbr0", &host).unwrap_err();
    assert!(matches!(e, Error::MissingTool(_)));
    assert_eq!(
        sentence(e),
        "Unable to find ip tool: install the Debian package iproute2"
    );
}

#[test]
fn an_unknown_ovs_bridge_on_a_host_without_bridges_says_none() {
    let host = host().answer(Fact::OvsBridge("ovsbr9".into()), Answer::Yes(false));
    let e = plan("online", "ovsbr9", &host).unwrap_err();
    assert!(matches!(e, Error::Refused(_)));
    assert_eq!(
        sentence(e),
        "Open vSwitch has no bridge ovsbr9 (from xenstore key backend/vif/1/0/bridge; its bridges: none): \
         create it with `ovs-vsctl add-br ovsbr9` or name an existing one with bridge= in the guest's vif spec"
    );
}

#[test]
fn an_ovsdb_that_cannot_be_asked_is_reported_as_unreadable() {
    let host = host().answer(
        Fact::OvsBridge("ovsbr0".into()),
        Answer::Failed {
            msg: "database connection failed".into(),
            missing_tool: false,
        },
    );
    let e = plan("online", "ovsbr0", &host).unwrap_err();
    assert!(matches!(e, Error::Unreadable(_)));
    assert_eq!(
        sentence(e),
        "cannot ask Open vSwitch about bridge ovsbr0: database connection failed (is ovsdb-server running?)"
    );
}

#[test]
fn vo01_a_guest_without_a_vm_path_gets_empty_labels() {
    let host = Fixture::new()
        .link(fresh("vif1.0"))
        .link(up("ovsbr0"))
        .tools(&["ip", "ovs-vsctl"])
        .answer(Fact::OvsBridge("ovsbr0".into()), Answer::Yes(true));
    let p = plan("online", "ovsbr0", &host).unwrap();
    let l = add_port_line(&p);
    assert!(
        l.contains("'external-ids:\"xen-vm-name\"=\"\"'")
            && l.contains("'external-ids:\"xen-vm-uuid\"=\"\"'"),
        "{l}"
    );
    // The VM's name and uuid are not looked for without its path.
    assert!(!host
        .asked()
        .iter()
        .any(|f| matches!(f, Fact::Xenstore(p) if p.starts_with("/vm/"))));
}

#[test]
fn mtu01_the_key_or_the_bridges_mtu_and_none_without_a_bridge_link() {
    let words = ["online", "type_if=vif", "firewall=none"];
    let keys = [
        ("bridge", "ovsbr0"),
        ("mac", "00:16:3e:00:00:01"),
        ("frontend-id", "1"),
        ("handle", "0"),
        ("mtu", "9000"),
    ];
    let p = plan_with(&words, VIF_ENV, &keys, &host()).unwrap();
    assert!(lines(&p).contains("ip link set dev vif1.0 mtu 9000"));
    assert_eq!(step(&p, "set vif1.0 MTU to 9000").on_error, OnError::Ignore);
    assert_eq!(p.frontend_keys[0].1, "9000");
    let mut br = up("ovsbr0");
    br.mtu = 1450;
    let p = plan("online", "ovsbr0", &host().link(br)).unwrap();
    assert!(lines(&p).contains("ip link set dev vif1.0 mtu 1450"));
    assert_eq!(p.frontend_keys[0].1, "1450");
    // An OVS bridge with no link of its name: no MTU is set or reported.
    let host = Fixture::new()
        .link(fresh("vif1.0"))
        .tools(&["ip", "ovs-vsctl"])
        .answer(Fact::OvsBridge("ovsbr0".into()), Answer::Yes(true));
    let p = plan("online", "ovsbr0", &host).unwrap();
    assert!(!lines(&p).contains(" mtu "), "{}", lines(&p));
    assert!(p.frontend_keys.is_empty());
}

#[test]
fn a_port_of_a_linux_bridge_is_released_before_it_joins_open_vswitch() {
    let host = host().link(port_of("vif1.0", "xenbr0"));
    let p = plan("online", "ovsbr0", &host).unwrap();
    assert!(
        pos(&p, "ip link set dev vif1.0 nomaster") < pos(&p, &add_port_line(&p)),
        "{}",
        lines(&p)
    );
    assert_eq!(
        undo_of(&p, "release vif1.0 from bridge xenbr0").as_deref(),
        Some("ip link set dev vif1.0 master xenbr0")
    );
}

#[test]
fn a_port_already_as_wanted_says_so_and_asks_open_vswitch_about_it() {
    let mut vif = fresh("vif1.0");
    vif.up = true;
    vif.address = crate::bridge::PORT_MAC.into();
    let host = host().link(vif).answer(
        Fact::OvsPort {
            bridge: "ovsbr0".into(),
            port: "vif1.0".into(),
        },
        Answer::OvsPort(Some(OvsPort {
            tag: "[]".into(),
            trunks: "[20, 30]".into(),
            vlan_mode: "[]".into(),
        })),
    );
    let p = plan("online", "ovsbr0:20:30", &host).unwrap();
    assert!(p.plan.is_empty(), "{}", lines(&p));
    assert!(p.notes.contains(&Note::Debug(
        "vif1.0 already on Open vSwitch bridge ovsbr0".into()
    )));
    // The frontend still learns the MTU.
    assert_eq!(p.frontend_keys.len(), 1);
    // Other trunks: the port is made again.
    let p = plan("online", "ovsbr0:20", &host).unwrap();
    assert!(add_port_line(&p).contains("'trunks=20'"));
}

#[test]
fn vc07_online_renames_the_vif_before_adding_the_port() {
    let words = ["online", "type_if=vif", "firewall=none"];
    let keys = [
        ("bridge", "ovsbr0"),
        ("frontend-id", "1"),
        ("handle", "0"),
        ("vifname", "web0"),
    ];
    let p = plan_with(&words, VIF_ENV, &keys, &host()).unwrap();
    let c = cmds(&p);
    assert_eq!(c[0], "ip link set dev vif1.0 name web0 alias vif1.0");
    assert!(
        c.iter().any(|l| l.contains("add-port ovsbr0 web0")),
        "{c:?}"
    );
    assert_eq!(
        p.done,
        "Successful vif-openvswitch online for web0, bridge ovsbr0."
    );
}

#[test]
fn vc03_add_of_a_tap_makes_its_port_and_reports_no_frontend_mtu() {
    let host = host().link(fresh("vif1.0-emu"));
    let words = ["add", "type_if=tap", "firewall=none"];
    let keys = [("bridge", "ovsbr0"), ("frontend-id", "1"), ("handle", "0")];
    let p = plan_with(&words, TAP_ENV, &keys, &host).unwrap();
    assert!(
        lines(&p).contains("add-port ovsbr0 vif1.0-emu"),
        "{}",
        lines(&p)
    );
    assert!(p.frontend_keys.is_empty());
    assert_eq!(
        p.done,
        "Successful vif-openvswitch add for vif1.0-emu, bridge ovsbr0."
    );
}

#[test]
fn vo01_offline_deletes_the_port_then_takes_the_link_down_and_keeps_going() {
    let mut vif = fresh("vif1.0");
    vif.up = true;
    let p = plan("offline", "ovsbr0", &host().link(vif)).unwrap();
    assert_eq!(
        cmds(&p),
        [
            "ovs-vsctl '--timeout=15' -- --if-exists del-port vif1.0",
            "ip link set dev vif1.0 down"
        ]
    );
    assert_eq!(
        step(&p, "remove port vif1.0 from Open vSwitch").on_error,
        OnError::Collect
    );
    assert_eq!(step(&p, "take vif1.0 down").on_error, OnError::Ignore);
    assert_eq!(p.done, "Successful vif-openvswitch offline for vif1.0.");
}

#[test]
fn offline_of_a_link_netback_removed_still_deletes_the_ovs_record() {
    let host = Fixture::new().tools(&["ip", "ovs-vsctl"]);
    let p = plan("offline", "ovsbr0", &host).unwrap();
    assert_eq!(
        cmds(&p),
        ["ovs-vsctl '--timeout=15' -- --if-exists del-port vif1.0"]
    );
}

#[test]
fn offline_without_ovs_vsctl_warns_and_takes_the_link_down() {
    let mut vif = fresh("vif1.0");
    vif.up = true;
    let host = Fixture::new().link(vif).tools(&["ip"]);
    let p = plan("offline", "ovsbr0", &host).unwrap();
    assert_eq!(cmds(&p), ["ip link set dev vif1.0 down"]);
    assert_eq!(
        warnings(&p.notes),
        ["ovs-vsctl is not installed: no Open vSwitch port to remove"]
    );
}

#[test]
fn kp16_offline_leaves_another_guests_port_alone() {
    let mut other = fresh("web0");
    other.up = true;
    other.alias = "vif2.0".into();
    let words = ["offline", "type_if=vif", "firewall=none"];
    let keys = [("bridge", "ovsbr0"), ("vifname", "web0")];
    let p = plan_with(&words, VIF_ENV, &keys, &host().link(other)).unwrap();
    assert!(p.plan.is_empty(), "{}", lines(&p));
    assert_eq!(
        warnings(&p.notes),
        ["web0 belongs to vif2.0, not to vif1.0: left alone"]
    );
}

#[test]
fn hk01_vif_openvswitch_runs_no_hooks() {
    let dir = crate::paths::script_dir().join("vif-post.d");
    let host = host().answer(
        Fact::Executables(dir.clone(), "hook".into()),
        Answer::Paths(vec![dir.join("10-a.hook")]),
    );
    let p = plan("online", "ovsbr0", &host).unwrap();
    assert!(!lines(&p).contains("hook"), "{}", lines(&p));
    assert!(!host
        .asked()
        .iter()
        .any(|f| matches!(f, Fact::Executables(..))));
}

#[test]
fn antispoof_with_nftables_cannot_guard_an_ovs_port_and_says_so() {
    let words = [
        "online",
        "type_if=vif",
        "firewall=nftables",
        "antispoof=yes",
    ];
    let keys = [
        ("bridge", "ovsbr0"),
        ("mac", "00:16:3e:00:00:01"),
        ("frontend-id", "1"),
        ("handle", "0"),
        ("ip", "192.0.2.51"),
    ];
    let host = host().tools(&["nft"]);
    let p = plan_with(&words, VIF_ENV, &keys, &host).unwrap();
    assert!(!lines(&p).contains("nft"), "{}", lines(&p));
    assert!(warnings(&p.notes)
        .iter()
        .any(|w| w
            .starts_with("antispoof=yes cannot be enforced by nftables on an Open vSwitch port")));
}

#[test]
fn with_iptables_the_ovs_vif_gets_the_originals_rules() {
    let words = ["online", "type_if=vif", "firewall=iptables"];
    let keys = [("bridge", "ovsbr0"), ("frontend-id", "1"), ("handle", "0")];
    let host = host().tools(&["iptables-restore"]);
    let p = plan_with(&words, VIF_ENV, &keys, &host).unwrap();
    assert!(
        lines(&p)
            .contains("-I FORWARD -m physdev --physdev-is-bridged --physdev-out vif1.0 -j ACCEPT"),
        "{}",
        lines(&p)
    );
    // And offline removes them.
    let words = ["offline", "type_if=vif", "firewall=iptables"];
    let host = host.tools(&["iptables-save"]).iptables(
        "filter",
        "-A FORWARD -m physdev --physdev-out vif1.0 --physdev-is-bridged -j ACCEPT\n",
    );
    let p = plan_with(&words, VIF_ENV, &keys, &host).unwrap();
    let l = lines(&p);
    assert!(
        l.find("-D FORWARD").unwrap() < l.find("del-port vif1.0").unwrap(),
        "{l}"
    );
}

#[test]
fn vo01_remove_of_a_tap_deletes_exactly_its_port() {
    let mut t = fresh("vif1.0-emu");
    t.up = true;
    let words = ["remove", "type_if=tap", "firewall=none"];
    let p = plan_with(&words, TAP_ENV, &[("bridge", "ovsbr0")], &host().link(t)).unwrap();
    assert_eq!(
        cmds(&p),
        [
            "ovs-vsctl '--timeout=15' -- --if-exists del-port vif1.0-emu",
            "ip link set dev vif1.0-emu down"
        ]
    );
    assert_eq!(p.done, "Successful vif-openvswitch remove for vif1.0-emu.");
}

#[test]
fn vb09_a_port_of_the_kernel_datapath_is_left_alone_by_a_second_online() {
    // How sysfs shows a port of Open vSwitch's kernel datapath: its master is ovs-system
    // (net/openvswitch/vport-netdev.c links it under the datapath's device).
    let mut vif = fresh("vif1.0");
    vif.up = true;
    vif.address = crate::bridge::PORT_MAC.into();
    vif.master = Some("ovs-system".into());
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
    assert!(!lines(&p).contains("nomaster"), "{}", lines(&p));
    assert!(p.plan.is_empty(), "{}", lines(&p));
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
