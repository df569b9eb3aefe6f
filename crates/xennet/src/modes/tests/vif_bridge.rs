//! vif-bridge's planner (spec §4): online, offline, add, remove and their refusals.

use super::*;
use crate::error::{Error, Note};
use crate::fixture::testing::*;
use crate::fixture::Fixture;
use crate::snapshot::Fact;

/// xenstore's usual keys for vif1.0.
fn keys() -> Vec<(&'static str, &'static str)> {
    vec![
        ("bridge", "xenbr0"),
        ("mac", "00:16:3e:00:00:01"),
        ("frontend-id", "1"),
        ("handle", "0"),
    ]
}

/// `vif1.0` as netback leaves it (down, not a port), on a host with the bridge `xenbr0`.
fn fresh_vif_host() -> Fixture {
    dom0().link(bridge("xenbr0")).link(fresh("vif1.0"))
}

fn online(
    keys: &[(&str, &str)],
    args: &[&str],
    host: &Fixture,
) -> crate::error::Result<crate::error::Planned> {
    let mut words = vec!["online", "type_if=vif"];
    words.extend_from_slice(args);
    let ctx = vif_ctx_with("vif-bridge", &words, VIF_ENV, keys);
    plan_vif(
        "vif-bridge",
        &ctx,
        &inv("vif-bridge", &words, VIF_ENV),
        host,
    )
}

fn offline(keys: &[(&str, &str)], args: &[&str], host: &Fixture) -> crate::error::Planned {
    let mut words = vec!["offline", "type_if=vif"];
    words.extend_from_slice(args);
    let ctx = vif_ctx_with("vif-bridge", &words, VIF_ENV, keys);
    plan_vif(
        "vif-bridge",
        &ctx,
        &inv("vif-bridge", &words, VIF_ENV),
        host,
    )
    .unwrap()
}

#[test]
fn vb05_online_makes_a_port_with_the_bridges_mtu_and_reports_the_frontend_mtu() {
    let p = online(&keys(), &[], &fresh_vif_host()).unwrap();
    let l = lines(&p);
    assert!(
        l.contains("ip link set dev vif1.0 address fe:ff:ff:ff:ff:ff"),
        "{l}"
    );
    assert!(l.contains("ip address flush dev vif1.0"), "{l}");
    assert!(l.contains("ip link set dev vif1.0 master xenbr0"), "{l}");
    assert!(l.contains("ip link set dev vif1.0 up"), "{l}");
    // The originals' rules for a new vif, in one iptables-restore.
    assert!(l.contains("iptables-restore '--wait=10' --noflush"), "{l}");
    assert!(
        l.contains("-I FORWARD -m physdev --physdev-is-bridged --physdev-out vif1.0 -j ACCEPT"),
        "{l}"
    );
    assert_eq!(
        p.frontend_keys,
        [(
            "/local/domain/1/device/vif/0/mtu".to_string(),
            "1500".to_string()
        )]
    );
    assert!(p
        .done
        .contains("Successful vif-bridge online for vif1.0, bridge xenbr0"));
    // Every step but the MAC change (ignored on failure, as BR-04's) undoes itself.
    assert!(p
        .plan
        .steps
        .iter()
        .filter(|s| !s.what.contains("MAC"))
        .all(|s| s.undo.is_some() || s.what.contains("flush") || s.what.contains("note")));
}

#[test]
fn vb05_a_missing_bridge_is_refused_naming_the_bridges_there_are() {
    let e = online(&[("bridge", "nosuchbr")], &[], &fresh_vif_host()).unwrap_err();
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    let m = sentence(e);
    assert!(
        m.starts_with("Could not find bridge device nosuchbr")
            && m.contains("from xenstore key backend/vif/1/0/bridge")
            && m.contains("bridges on this host: xenbr0"),
        "{m}"
    );
}

#[test]
fn vb05_a_link_that_is_not_a_bridge_is_refused() {
    let e = online(&[("bridge", "eth0")], &[], &fresh_vif_host()).unwrap_err();
    assert!(sentence(e).starts_with("eth0 is not a bridge"));
}

#[test]
fn vb01_the_xenstore_key_wins_over_the_argument() {
    let host = fresh_vif_host().link(bridge("br1"));
    let p = online(&[("bridge", "br1")], &["bridge=xenbr0"], &host).unwrap();
    assert!(lines(&p).contains("master br1"));
    let p = online(&[], &["bridge=xenbr0"], &host).unwrap();
    assert!(lines(&p).contains("master xenbr0"));
}

#[test]
fn vb03_no_bridge_named_takes_the_first_and_says_so() {
    let host = fresh_vif_host().link(bridge("abr"));
    let p = online(&[], &[], &host).unwrap();
    assert!(lines(&p).contains("master abr"), "{}", lines(&p));
    assert!(p.notes.iter().any(
        |n| matches!(n, Note::Info(t) if t.contains("using the first bridge on this host, abr"))
    ));
    let none = dom0().link(fresh("vif1.0"));
    let e = online(&[], &[], &none).unwrap_err();
    assert_eq!(sentence(e), "Could not find bridge, and none was specified");
}

#[test]
fn vb04_an_old_xenbr_name_becomes_the_g2_bridge() {
    let host = dom0().link(bridge("eth1")).link(fresh("vif1.0"));
    let p = online(&[("bridge", "xenbr1")], &[], &host).unwrap();
    assert!(lines(&p).contains("master eth1"), "{}", lines(&p));
}

#[test]
fn an_alternative_name_resolves_to_the_bridge() {
    let host = fresh_vif_host().answer(
        Fact::Resolve("xenbr7".into()),
        crate::facts::Answer::Name(Some("xenbr0".into())),
    );
    let p = online(&[("bridge", "xenbr7")], &[], &host).unwrap();
    assert!(lines(&p).contains("master xenbr0"));
}

#[test]
fn vb09_a_working_port_is_left_alone() {
    let mut port = fresh("vif1.0");
    port.up = true;
    port.master = Some("xenbr0".into());
    port.address = crate::bridge::PORT_MAC.into();
    let host = dom0().link(bridge("xenbr0")).link(port);
    let p = online(&keys(), &["firewall=none"], &host).unwrap();
    assert!(!lines(&p).contains("ip link"), "{}", lines(&p));
}

#[test]
fn a_port_of_another_bridge_is_released_first() {
    let mut port = fresh("vif1.0");
    port.master = Some("other".into());
    let host = fresh_vif_host().link(bridge("other")).link(port);
    let p = online(&keys(), &["firewall=none"], &host).unwrap();
    let l = lines(&p);
    let release = l.find("nomaster").unwrap();
    let enslave = l.find("master xenbr0").unwrap();
    assert!(release < enslave, "{l}");
}

#[test]
fn mtu01_the_backend_key_sets_the_mtu_else_the_bridges() {
    let mut keys = keys();
    keys.push(("mtu", "9000"));
    let p = online(&keys, &[], &fresh_vif_host()).unwrap();
    assert!(lines(&p).contains("ip link set dev vif1.0 mtu 9000"));
    assert_eq!(p.frontend_keys[0].1, "9000");
    let mut big = bridge("xenbr0");
    big.mtu = 1450;
    let host = dom0().link(big).link(fresh("vif1.0"));
    let p = online(&self::keys(), &[], &host).unwrap();
    assert!(lines(&p).contains("mtu 1450"));
    assert_eq!(p.frontend_keys[0].1, "1450");
}

#[test]
fn vc07_vifname_renames_the_link_first_and_a_taken_name_is_refused() {
    let mut keys = keys();
    keys.push(("vifname", "web0"));
    let p = online(&keys, &["firewall=none"], &fresh_vif_host()).unwrap();
    let l = lines(&p);
    assert!(
        l.contains("ip link set dev vif1.0 name web0 alias vif1.0"),
        "{l}"
    );
    assert!(l.contains("ip link set dev web0 master xenbr0"), "{l}");
    let taken = fresh_vif_host().link(fresh("web0"));
    let e = online(&keys, &[], &taken).unwrap_err();
    assert!(sentence(e).contains("An interface with name web0 already exists"));
}

#[test]
fn a_vif_the_backend_has_not_made_is_refused_with_what_to_check() {
    let host = Fixture::new()
        .link(bridge("xenbr0"))
        .tools(&["ip", "iptables"]);
    let e = online(&keys(), &[], &host).unwrap_err();
    let m = sentence(e);
    assert!(
        m.starts_with("vif1.0 does not exist") && m.contains("xen-netback"),
        "{m}"
    );
}

#[test]
fn hk01_hooks_run_in_order_with_the_scripts_variables() {
    let dir = crate::paths::script_dir().join("vif-post.d");
    let host = fresh_vif_host().answer(
        Fact::Executables(dir.clone(), "hook".into()),
        crate::facts::Answer::Paths(vec![dir.join("10-a.hook"), dir.join("20-b.hook")]),
    );
    let p = online(&keys(), &["firewall=none"], &host).unwrap();
    let hooks: Vec<&crate::plan::Step> = p
        .plan
        .steps
        .iter()
        .filter(|s| s.what.starts_with("hook"))
        .collect();
    assert_eq!(hooks.len(), 2);
    assert!(hooks[0].what.ends_with("10-a.hook"));
    let crate::plan::Action::Run(c) = &hooks[1].action else {
        panic!()
    };
    assert!(c
        .env
        .contains(&("bridge".to_string(), "xenbr0".to_string())));
    assert!(c
        .env
        .contains(&("command".to_string(), "online".to_string())));
}

#[test]
fn ipt04_without_iptables_restore_online_warns_and_sets_no_rules() {
    let host = Fixture::new()
        .link(bridge("xenbr0"))
        .link(fresh("vif1.0"))
        .tools(&["ip", "iptables"]);
    let p = online(&keys(), &["firewall=iptables"], &host).unwrap();
    assert!(!lines(&p).contains("iptables-restore"));
    assert!(p
        .notes
        .iter()
        .any(|n| matches!(n, Note::Warn(t) if t.contains("no firewall rules were changed"))));
}

#[test]
fn online_of_a_new_vif_reads_no_firewall_state() {
    let host = fresh_vif_host();
    online(&keys(), &[], &host).unwrap();
    assert!(
        !host.asked().contains(&Fact::Iptables("filter".into())),
        "{:?}",
        host.asked()
    );
}

#[test]
fn firewall_auto_without_iptables_gives_the_vif_an_nftables_chain() {
    let host = Fixture::new()
        .link(bridge("xenbr0"))
        .link(fresh("vif1.0"))
        .tools(&["ip", "nft"]);
    let p = online(&keys(), &[], &host).unwrap();
    let l = lines(&p);
    assert!(
        l.contains("add chain bridge xen_netscripts dev_vif1.0"),
        "{l}"
    );
    assert!(!l.contains("iptables"), "{l}");
    assert!(p
        .notes
        .iter()
        .any(|n| matches!(n, Note::Debug(t) if t.contains("nftables (firewall=auto"))));
}

#[test]
fn antispoof_with_nftables_checks_the_mac_and_the_addresses() {
    let mut keys = keys();
    keys.push(("ip", "192.0.2.51"));
    let p = online(
        &keys,
        &["firewall=nftables", "antispoof=yes"],
        &fresh_vif_host(),
    )
    .unwrap();
    let l = lines(&p);
    assert!(
        l.contains("ether saddr != 00:16:3e:00:00:01 counter drop")
            && l.contains("ip saddr { 192.0.2.51 } accept")
            && l.contains("add rule bridge xen_netscripts dev_vif1.0 counter drop"),
        "{l}"
    );
}

#[test]
fn a_guarded_bridge_ends_the_guests_nftables_chain_in_a_drop() {
    let mut keys = keys();
    keys.push(("ip", "192.0.2.51"));
    let host = fresh_vif_host().file(crate::firewall::guard_record("xenbr0"), "nftables\n");
    let p = online(&keys, &["firewall=nftables"], &host).unwrap();
    assert!(
        lines(&p).contains("dev_vif1.0 meta protocol ip counter drop"),
        "{}",
        lines(&p)
    );
    // Without the guard, the same guest's chain blocks nothing.
    let p = online(&keys, &["firewall=nftables"], &fresh_vif_host()).unwrap();
    assert!(!lines(&p).contains("drop"), "{}", lines(&p));
}

#[test]
fn vb07_offline_removes_the_rules_then_takes_the_port_out() {
    let mut port = fresh("vif1.0");
    port.up = true;
    port.master = Some("xenbr0".into());
    let host = dom0().link(bridge("xenbr0")).link(port).iptables(
        "filter",
        "-A FORWARD -m physdev --physdev-out vif1.0 --physdev-is-bridged -j ACCEPT\n\
         -A FORWARD -m physdev --physdev-in vif1.0 --physdev-is-bridged -j ACCEPT\n\
         -A FORWARD -i eth9 -j ACCEPT\n",
    );
    let p = offline(&keys(), &["firewall=iptables"], &host);
    let l = lines(&p);
    let rules = l.find("-D FORWARD").unwrap();
    let down = l.find("ip link set dev vif1.0 down").unwrap();
    let out = l.find("nomaster").unwrap();
    assert!(rules < down && down < out, "{l}");
    assert!(!l.contains("eth9"), "the administrator's rule stays: {l}");
}

#[test]
fn vb10_offline_with_the_bridge_gone_cleans_up_then_reports() {
    let mut port = fresh("vif1.0");
    port.master = Some("xenbr0".into());
    let host = dom0().link(port);
    let p = offline(&keys(), &["firewall=none"], &host);
    assert!(lines(&p).contains("nomaster"));
    assert!(p
        .report_after
        .as_deref()
        .is_some_and(|m| m.starts_with("Could not find bridge device xenbr0")));
}

#[test]
fn kp16_offline_leaves_another_guests_link_alone() {
    // vif1.0 was to be renamed web0, but web0 is another guest's (it carries vif2.0's name).
    let mut other = fresh("web0");
    other.alias = "vif2.0".into();
    other.master = Some("xenbr0".into());
    let host = fresh_vif_host().link(other);
    let mut keys = keys();
    keys.push(("vifname", "web0"));
    let p = offline(&keys, &[], &host);
    assert!(p.plan.is_empty(), "{}", lines(&p));
    assert!(p
        .notes
        .iter()
        .any(|n| matches!(n, Note::Warn(t) if t.contains("belongs to vif2.0"))));
}

#[test]
fn offline_of_a_vif_already_gone_still_removes_its_rules() {
    let host = dom0().link(bridge("xenbr0")).iptables(
        "filter",
        "-A FORWARD -m physdev --physdev-out vif1.0 --physdev-is-bridged -j ACCEPT\n",
    );
    let p = offline(&keys(), &["firewall=iptables"], &host);
    let l = lines(&p);
    assert!(
        l.contains("-D FORWARD -m physdev --physdev-out vif1.0"),
        "{l}"
    );
    assert!(!l.contains("ip link"), "{l}");
}

#[test]
fn offline_under_nftables_also_removes_iptables_rules_an_earlier_setting_left() {
    let host = fresh_vif_host().iptables(
        "filter",
        "-A FORWARD -m physdev --physdev-out vif1.0 --physdev-is-bridged -j ACCEPT\n",
    );
    let p = offline(&keys(), &["firewall=nftables"], &host);
    let l = lines(&p);
    assert!(
        l.contains("-D FORWARD") && l.contains("delete chain bridge xen_netscripts dev_vif1.0"),
        "{l}"
    );
    // The table goes when nothing of ours is left in it.
    assert!(l.contains("nft delete table bridge xen_netscripts"), "{l}");
}

#[test]
fn vc03_a_tap_is_planned_by_add_and_remove() {
    let env = [
        ("INTERFACE", "vif1.0-emu"),
        ("XENBUS_PATH", "backend/vif/1/0"),
    ];
    let ctx = vif_ctx_with("vif-bridge", &["add", "type_if=tap"], &env, &keys());
    let host = fresh_vif_host().link(fresh("vif1.0-emu"));
    let i = inv("vif-bridge", &["add", "type_if=tap", "firewall=none"], &env);
    let p = plan_vif("vif-bridge", &ctx, &i, &host).unwrap();
    assert!(lines(&p).contains("ip link set dev vif1.0-emu master xenbr0"));
    // A tap reports nothing to the frontend (MTU-01 is for PV vifs).
    assert!(p.frontend_keys.is_empty());
}

#[test]
fn an_evpn_bridge_is_told_the_guests_addresses() {
    let mut keys = keys();
    keys.push(("ip", "192.0.2.51"));
    let record = crate::paths::state_dir().join("network-bridge.xenbr0.overlay");
    let host = fresh_vif_host().file(
        &record,
        "vxlan=vxlan42 vni=42 created_bridge=yes overlay=evpn",
    );
    let p = online(&keys, &["firewall=none"], &host).unwrap();
    assert!(
        lines(&p).contains(
            "ip neigh replace 192.0.2.51 lladdr 00:16:3e:00:00:01 dev xenbr0 nud permanent"
        ),
        "{}",
        lines(&p)
    );
    let p = online(&keys, &["firewall=none"], &fresh_vif_host()).unwrap();
    assert!(!lines(&p).contains("neigh"));
}

// Issue 19: xl's vlan= key.

/// `xenbr0` VLAN-aware (vlan_filtering 1, default_pvid 1) with the fresh vif1.0, and `bridge`.
fn vlan_host() -> Fixture {
    fresh_vif_host()
        .file(crate::vlan::sysfs("xenbr0", "vlan_filtering"), "1\n")
        .file(crate::vlan::sysfs("xenbr0", "default_pvid"), "1\n")
        .tools(&["bridge"])
}

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut k = keys();
    k.extend_from_slice(extra);
    k
}

#[test]
fn vlan_on_a_vlan_aware_bridge_gives_the_port_exactly_its_vlans() {
    let p = online(
        &with(&[("vlan", "10p/20/30-32u")]),
        &["firewall=none"],
        &vlan_host(),
    )
    .unwrap();
    let l = lines(&p);
    let enslave = l.find("ip link set dev vif1.0 master xenbr0").unwrap();
    let up = l.find("ip link set dev vif1.0 up").unwrap();
    let pvid = l
        .find("bridge vlan add dev vif1.0 vid 10 pvid untagged\n")
        .unwrap();
    let tagged = l.find("bridge vlan add dev vif1.0 vid 20\n").unwrap();
    let untagged = l
        .find("bridge vlan add dev vif1.0 vid 30-32 untagged\n")
        .unwrap();
    let default = l.find("bridge vlan del dev vif1.0 vid 1\n").unwrap();
    assert!(
        enslave < up && up < pvid && pvid < tagged && tagged < untagged && untagged < default,
        "{l}"
    );
    // Each VLAN step has its undo (a rollback puts back VLAN 1 as the PVID).
    let vlan_steps: Vec<_> = p
        .plan
        .steps
        .iter()
        .filter(|s| s.action.line().starts_with("bridge vlan"))
        .collect();
    assert_eq!(vlan_steps.len(), 4);
    assert!(vlan_steps.iter().all(|s| s.undo.is_some()));
    assert_eq!(
        vlan_steps[3].undo.as_ref().unwrap().line(),
        "bridge vlan add dev vif1.0 vid 1 pvid untagged"
    );
}

#[test]
fn vlan_1_stays_when_asked_for_and_a_bridge_without_default_pvid_loses_nothing() {
    let p = online(
        &with(&[("vlan", "1p/10")]),
        &["firewall=none"],
        &vlan_host(),
    )
    .unwrap();
    let l = lines(&p);
    assert!(l.contains("bridge vlan add dev vif1.0 vid 10\n"), "{l}");
    assert!(!l.contains("vid 1\n") && !l.contains("vlan del"), "{l}");
    let host = vlan_host().file(crate::vlan::sysfs("xenbr0", "default_pvid"), "0\n");
    let p = online(&with(&[("vlan", "10")]), &["firewall=none"], &host).unwrap();
    let l = lines(&p);
    assert!(
        l.contains("bridge vlan add dev vif1.0 vid 10 pvid untagged"),
        "{l}"
    );
    assert!(!l.contains("vlan del"), "{l}");
}

#[test]
fn vlan_as_an_argument_counts_when_xenstore_has_none() {
    let p = online(&keys(), &["firewall=none", "vlan=42"], &vlan_host()).unwrap();
    assert!(lines(&p).contains("bridge vlan add dev vif1.0 vid 42 pvid untagged"));
    // The key wins over the argument.
    let p = online(
        &with(&[("vlan", "7")]),
        &["firewall=none", "vlan=42"],
        &vlan_host(),
    )
    .unwrap();
    assert!(lines(&p).contains("vid 7 pvid untagged") && !lines(&p).contains("42"));
}

#[test]
fn vlan_on_a_bridge_that_is_not_vlan_aware_is_refused_before_anything_changes() {
    let host = fresh_vif_host()
        .file(crate::vlan::sysfs("xenbr0", "vlan_filtering"), "0\n")
        .tools(&["bridge"]);
    let e = online(&with(&[("vlan", "10")]), &[], &host).unwrap_err();
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    let m = sentence(e);
    assert!(
        m.starts_with("vif1.0 asks for VLANs vlan=10 (from xenstore key backend/vif/1/0/vlan), but bridge xenbr0 is not VLAN-aware")
            && m.contains("network-bridge start vlan_filtering=yes")
            && m.contains("ip link set dev xenbr0 type bridge vlan_filtering 1")
            && m.contains("remove vlan="),
        "{m}"
    );
}

#[test]
fn vlan_on_a_kernel_without_bridge_vlan_filtering_is_refused() {
    // No vlan_filtering file in the bridge's sysfs directory: what this machine's kernel shows.
    let host = fresh_vif_host().tools(&["bridge"]);
    let e = online(&with(&[("vlan", "10p/20")]), &[], &host).unwrap_err();
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    let m = sentence(e);
    assert!(
        m.contains("this kernel has no bridge VLAN filtering (/sys/class/net/xenbr0/bridge/vlan_filtering is missing)")
            && m.contains("CONFIG_BRIDGE_VLAN_FILTERING")
            && m.contains("vlan=10p/20"),
        "{m}"
    );
}

#[test]
fn vlan_without_the_bridge_program_names_the_package() {
    let host = fresh_vif_host().file(crate::vlan::sysfs("xenbr0", "vlan_filtering"), "1\n");
    let e = online(&with(&[("vlan", "10")]), &[], &host).unwrap_err();
    assert!(matches!(e, Error::MissingTool(_)), "{e:?}");
    assert!(sentence(e).contains("install the Debian package iproute2"));
}

#[test]
fn a_malformed_vlan_key_is_refused_by_the_front_end_with_the_key_and_the_fix() {
    let xs = crate::xenstore::Memory::default();
    use crate::xenstore::XenStore;
    xs.write(&[("backend/vif/1/0/vlan", "10/20")]).unwrap();
    let words = ["online", "type_if=vif"];
    let i = inv("vif-bridge", &words, VIF_ENV);
    let r = crate::vif::front_end(
        &i,
        crate::scripts::find("vif-bridge").unwrap().settings,
        &xs,
    );
    let Err(stop) = r else { panic!("accepted") };
    assert_eq!(stop.xp.as_deref(), Some("backend/vif/1/0"));
    let m = stop.error.to_string();
    assert!(
        m.starts_with("vlan=\"10/20\": 2 VLANs and none is the PVID")
            && m.ends_with("(from xenstore key backend/vif/1/0/vlan)"),
        "{m}"
    );
}

#[test]
fn a_second_online_of_a_port_with_its_vlans_changes_nothing() {
    let mut port = fresh("vif1.0");
    port.up = true;
    port.master = Some("xenbr0".into());
    port.address = crate::bridge::PORT_MAC.into();
    let show = |json: &str| crate::facts::Answer::Output {
        code: Some(0),
        stdout: json.into(),
        stderr: String::new(),
    };
    let argv: Vec<String> = ["bridge", "-j", "vlan", "show", "dev", "vif1.0"]
        .map(String::from)
        .to_vec();
    let host = vlan_host().link(port.clone()).answer(
        Fact::Command(argv.clone()),
        show(r#"[{"ifname":"vif1.0","vlans":[{"vlan":10,"flags":["PVID","Egress Untagged"]},{"vlan":20}]}]"#),
    );
    let p = online(&with(&[("vlan", "10p/20")]), &["firewall=none"], &host).unwrap();
    assert!(p.plan.is_empty(), "{}", lines(&p));
    // A port left with VLAN 1 only (an online before vlan= was set) is brought to the key.
    let host = vlan_host().link(port).answer(
        Fact::Command(argv),
        show(r#"[{"ifname":"vif1.0","vlans":[{"vlan":1,"flags":["PVID","Egress Untagged"]}]}]"#),
    );
    let p = online(&with(&[("vlan", "10p/20")]), &["firewall=none"], &host).unwrap();
    assert_eq!(
        lines(&p),
        "# give vif1.0 VLAN 10 as its PVID, untagged\nbridge vlan add dev vif1.0 vid 10 pvid untagged\n\
         # give vif1.0 VLAN 20 tagged\nbridge vlan add dev vif1.0 vid 20\n\
         # take VLAN 1 off vif1.0\nbridge vlan del dev vif1.0 vid 1\n"
    );
}

#[test]
fn a_tap_gets_the_same_vlans() {
    let host = vlan_host().link(fresh("vif1.0-emu"));
    let words = ["add", "type_if=tap"];
    let env = [("INTERFACE", "vif1.0-emu")];
    let ctx = vif_ctx_with("vif-bridge", &words, &env, &with(&[("vlan", "10")]));
    let p = plan_vif("vif-bridge", &ctx, &inv("vif-bridge", &words, &env), &host).unwrap();
    assert!(
        lines(&p).contains("bridge vlan add dev vif1.0-emu vid 10 pvid untagged"),
        "{}",
        lines(&p)
    );
}

#[test]
fn offline_with_vlan_releases_the_port_which_takes_its_vlans_along() {
    let mut port = fresh("vif1.0");
    port.up = true;
    port.master = Some("xenbr0".into());
    let host = vlan_host().link(port);
    let p = offline(&with(&[("vlan", "10p/20")]), &["firewall=none"], &host);
    let l = lines(&p);
    assert!(l.contains("ip link set dev vif1.0 nomaster"), "{l}");
    assert!(!l.contains("bridge vlan"), "{l}");
    // A bridge that is no longer VLAN-aware does not stop the cleanup.
    let mut port = fresh("vif1.0");
    port.master = Some("xenbr0".into());
    let p = offline(
        &with(&[("vlan", "10")]),
        &["firewall=none"],
        &fresh_vif_host().link(port),
    );
    assert!(lines(&p).contains("nomaster") && p.report_after.is_none());
}

// Issue 19: no connection outlives its guest.

fn tracking(host: Fixture) -> Fixture {
    host.file(crate::conntrack::count_path(), "5\n")
        .tools(&["conntrack"])
}

#[test]
fn online_and_offline_purge_the_guests_tracked_connections() {
    let p = online(
        &with(&[("ip", "192.0.2.51/24 2001:db8::51")]),
        &["firewall=none"],
        &tracking(fresh_vif_host()),
    )
    .unwrap();
    let last = p.plan.steps.last().unwrap();
    assert_eq!(
        last.action.line(),
        "conntrack -R - <<'EOF'\n-D -s 192.0.2.51\n-D -d 192.0.2.51\n-D -r 192.0.2.51\n\
         -D -s 2001:db8::51\n-D -d 2001:db8::51\n-D -r 2001:db8::51\nEOF"
    );
    assert_eq!(last.on_error, crate::plan::OnError::Fail);

    let mut port = fresh("vif1.0");
    port.up = true;
    port.master = Some("xenbr0".into());
    let p = offline(
        &with(&[("ip", "192.0.2.51")]),
        &["firewall=none"],
        &tracking(dom0().link(bridge("xenbr0")).link(port)),
    );
    let l = lines(&p);
    let out = l.find("nomaster").unwrap();
    let purge = l.find("conntrack -R -").unwrap();
    assert!(out < purge, "{l}");
    // The vif is already gone: its addresses' entries go all the same.
    let p = offline(
        &with(&[("ip", "192.0.2.51")]),
        &["firewall=none"],
        &tracking(dom0().link(bridge("xenbr0"))),
    );
    assert!(lines(&p).contains("-D -s 192.0.2.51"), "{}", lines(&p));
}

#[test]
fn a_second_online_keeps_the_running_guests_connections_and_a_tap_purges_nothing() {
    let mut port = fresh("vif1.0");
    port.up = true;
    port.master = Some("xenbr0".into());
    port.address = crate::bridge::PORT_MAC.into();
    let host = tracking(dom0().link(bridge("xenbr0")).link(port));
    let p = online(&with(&[("ip", "192.0.2.51")]), &["firewall=none"], &host).unwrap();
    assert!(p.plan.is_empty(), "{}", lines(&p));
    let host = tracking(vlan_host().link(fresh("vif1.0-emu")));
    let words = ["add", "type_if=tap", "firewall=none"];
    let env = [("INTERFACE", "vif1.0-emu")];
    let ctx = vif_ctx_with("vif-bridge", &words, &env, &with(&[("ip", "192.0.2.51")]));
    let p = plan_vif("vif-bridge", &ctx, &inv("vif-bridge", &words, &env), &host).unwrap();
    assert!(!lines(&p).contains("conntrack"), "{}", lines(&p));
}

#[test]
fn without_conntrack_installed_online_warns_and_attaches() {
    let host = fresh_vif_host().file(crate::conntrack::count_path(), "5\n");
    let p = online(&with(&[("ip", "192.0.2.51")]), &["firewall=none"], &host).unwrap();
    assert!(lines(&p).contains("master xenbr0") && !lines(&p).contains("conntrack"));
    assert!(p
        .notes
        .iter()
        .any(|n| matches!(n, Note::Warn(t) if t.contains("install the Debian package conntrack"))));
}

#[test]
fn offline_forgets_evpn_neighbours_outside_the_ip_batch_so_a_gone_one_cannot_stop_the_release() {
    let record = crate::paths::state_dir().join("network-bridge.xenbr0.overlay");
    let mut port = fresh("vif1.0");
    port.up = true;
    port.master = Some("xenbr0".into());
    let host = dom0().link(bridge("xenbr0")).link(port).file(
        &record,
        "vxlan=vxlan42 vni=42 created_bridge=yes overlay=evpn",
    );
    let p = offline(
        &with(&[("ip", "192.0.2.51 2001:db8::51")]),
        &["firewall=none"],
        &host,
    );
    let l = lines(&p);
    assert!(
        l.contains("ip -4 neigh del 192.0.2.51 dev xenbr0 || true"),
        "{l}"
    );
    assert!(
        l.contains("ip -6 neigh del 2001:db8::51 dev xenbr0 || true"),
        "{l}"
    );
    // Applied with ip batching: the neighbours are processes of their own, and the port's
    // release still runs (in its own batch) when the kernel no longer has the neighbour.
    let r = crate::exec::Recorder {
        batch_ip: true,
        ..Default::default()
    };
    *r.fail_when.borrow_mut() = Some("neigh del 192.0.2.51".into());
    crate::apply::apply(&p.plan.teardown(), &r, None).unwrap();
    assert_eq!(
        *r.lines.borrow(),
        [
            "ip link set dev vif1.0 down",
            "ip -4 neigh del 192.0.2.51 dev xenbr0",
            "ip -6 neigh del 2001:db8::51 dev xenbr0",
            "ip link set dev vif1.0 nomaster"
        ]
    );
}
