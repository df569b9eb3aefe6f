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
    // A vif whose MAC is not yet the port MAC (netback's already is: that step is then skipped).
    let host = fresh_vif_host().link(Link {
        address: "fe:ff:ff:ff:ff:fe".into(),
        ..fresh("vif1.0")
    });
    let p = online(&keys(), &[], &host).unwrap();
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
fn firewall_auto_without_iptables_gives_the_vif_nftables_elements() {
    let host = Fixture::new()
        .link(bridge("xenbr0"))
        .link(fresh("vif1.0"))
        .tools(&["ip", "nft"]);
    let p = online(&keys(), &[], &host).unwrap();
    let l = lines(&p);
    assert!(
        l.contains("add element bridge xen_netscripts vif_verdicts { 7 : jump vif_open }"),
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
        l.contains("vif_verdicts { 7 : jump vif_checked_mac }")
            && l.contains("vif_macs { 7 . 00:16:3e:00:00:01 }")
            && l.contains("vif_ips4 { 7 . 192.0.2.51 }"),
        "{l}"
    );
    // The fast path adds elements only; the table is made only if that fails.
    let fast = l.lines().find(|x| x.starts_with("nft -f -")).unwrap_or("");
    assert!(!fast.contains("add chain"), "{l}");
}

#[test]
fn a_guarded_bridge_sends_its_guests_to_the_chain_that_drops_unaccepted_ipv4() {
    let mut keys = keys();
    keys.push(("ip", "192.0.2.51"));
    let host = fresh_vif_host().file(crate::firewall::guard_record("xenbr0"), "nftables\n");
    let p = online(&keys, &["firewall=nftables"], &host).unwrap();
    assert!(
        lines(&p).contains("{ 7 : jump vif_open_guarded }"),
        "{}",
        lines(&p)
    );
    // Without the guard, the same guest goes to the chain that blocks nothing.
    let p = online(&keys, &["firewall=nftables"], &fresh_vif_host()).unwrap();
    assert!(lines(&p).contains("{ 7 : jump vif_open }"), "{}", lines(&p));
}

#[test]
fn a_second_nftables_online_with_the_same_settings_plans_no_firewall_step() {
    let p = online(&keys(), &["firewall=nftables"], &fresh_vif_host()).unwrap();
    let record = p
        .plan
        .steps
        .iter()
        .find_map(|s| match &s.action {
            crate::plan::Action::WriteFile { path, value } if path.contains("nftables") => {
                Some((path.clone(), value.clone()))
            }
            _ => None,
        })
        .expect("a record");
    let again = fresh_vif_host().file(&record.0, &format!("{}\n", record.1));
    let p = online(&keys(), &["firewall=nftables"], &again).unwrap();
    assert!(!lines(&p).contains("nft"), "{}", lines(&p));
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
fn offline_under_nftables_also_removes_iptables_rules_an_earlier_setting_recorded() {
    let rule = "-A FORWARD -m physdev --physdev-out vif1.0 --physdev-is-bridged -j ACCEPT";
    let members = crate::firewall::nftables::members_dir(crate::firewall::Family::Bridge);
    let host = fresh_vif_host()
        .file(
            crate::firewall::iptables::record_path("vif1.0"),
            &format!("{rule}\n"),
        )
        .file(
            members.join("vif.vif1.0"),
            "# vif1.0 ifindex 7\nadd element x\n",
        );
    let p = offline(&keys(), &["firewall=nftables"], &host);
    let l = lines(&p);
    assert!(
        l.contains("-D FORWARD -m physdev --physdev-out vif1.0"),
        "{l}"
    );
    // The nftables elements are queued, not deleted one vif at a time; the table goes when
    // nothing of ours is left in it.
    assert!(l.contains("nftables/bridge.gone/7"), "{l}");
    assert!(l.contains("delete table bridge xen_netscripts"), "{l}");
    // Neither ruleset was read.
    assert!(!host.asked().contains(&Fact::Iptables("filter".into())));
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

#[test]
fn offline_with_onlines_record_removes_exactly_those_rules_without_reading_the_ruleset() {
    let record = "-A FORWARD -m physdev --physdev-in vif1.0 --physdev-is-bridged -j ACCEPT\n\
                  -A FORWARD -m physdev --physdev-out vif1.0 --physdev-is-bridged -j ACCEPT\n";
    let host = fresh_vif_host().file(crate::firewall::iptables::record_path("vif1.0"), record);
    let p = offline(&keys(), &["firewall=iptables"], &host);
    let l = lines(&p);
    // One batch; should a rule be gone already, each one still there, one by one.
    assert!(
        l.contains("-D FORWARD -m physdev --physdev-in vif1.0 --physdev-is-bridged -j ACCEPT\n")
            && l.contains(
                "iptables -w -C FORWARD -m physdev --physdev-out vif1.0 --physdev-is-bridged -j ACCEPT && iptables -w -D FORWARD"
            ),
        "{l}"
    );
    assert!(
        !host.asked().contains(&Fact::Iptables("filter".into())),
        "{:?}",
        host.asked()
    );
}
// ---------------------------------------------------------------------------------------------
// online: the order of the steps, the bridge's name, the MTU, VB-09.

use super::network_bridge_captured::{cmds, pos, step, undo_of};
use crate::facts::Answer;
use crate::plan::{Action, OnError};

/// dom0 with its bridge xenbr0 but no vif1.0 (renamed, or gone with its guest).
fn without_vif() -> Fixture {
    Fixture::new()
        .link(up("eth0"))
        .link(bridge("xenbr0"))
        .tools(&["ip", "iptables", "iptables-save", "iptables-restore", "nft"])
}

fn plan_words(
    words: &[&str],
    env: &[(&str, &str)],
    keys: &[(&str, &str)],
    host: &Fixture,
) -> crate::error::Result<crate::error::Planned> {
    let ctx = vif_ctx_with("vif-bridge", words, env, keys);
    plan_vif("vif-bridge", &ctx, &inv("vif-bridge", words, env), host)
}

#[test]
fn vb06_online_prepares_the_port_then_enslaves_it_then_brings_it_up_then_sets_its_rules() {
    // A vif whose MAC is not yet the port MAC (netback's already is).
    let host = fresh_vif_host().link(Link {
        address: "fe:ff:ff:ff:ff:fe".into(),
        ..fresh("vif1.0")
    });
    let p = online(&keys(), &[], &host).unwrap();
    let mac = pos(&p, "ip link set dev vif1.0 address fe:ff:ff:ff:ff:ff");
    let flush = pos(&p, "ip address flush dev vif1.0");
    let enslave = pos(&p, "ip link set dev vif1.0 master xenbr0");
    let up = pos(&p, "ip link set dev vif1.0 up");
    let rules = cmds(&p)
        .iter()
        .position(|l| l.starts_with("iptables-restore"))
        .expect("the rules");
    assert!(
        mac < flush && flush < enslave && enslave < up && up < rules,
        "{}",
        lines(&p)
    );
    // BR-04: a MAC netback refuses to change is no failure.
    assert_eq!(
        step(&p, "set vif1.0 MAC to fe:ff:ff:ff:ff:ff").on_error,
        OnError::Ignore
    );
    assert_eq!(
        undo_of(&p, "add vif1.0 to bridge xenbr0").as_deref(),
        Some("ip link set dev vif1.0 nomaster")
    );
    assert_eq!(
        undo_of(&p, "bring vif1.0 up").as_deref(),
        Some("ip link set dev vif1.0 down")
    );
    // A link that is down needs no down step, and one of the bridge's MTU no MTU step.
    assert!(!lines(&p).contains("vif1.0 down\n"), "{}", lines(&p));
    assert!(!lines(&p).contains(" mtu "), "{}", lines(&p));
    assert_eq!(
        p.done,
        "Successful vif-bridge online for vif1.0, bridge xenbr0."
    );
    assert!(p.report_after.is_none());
}

#[test]
fn vb06_an_up_link_is_taken_down_first_and_one_with_the_port_mac_keeps_it() {
    let mut vif = fresh("vif1.0");
    vif.up = true;
    vif.address = crate::bridge::PORT_MAC.into();
    let host = dom0().link(bridge("xenbr0")).link(vif);
    let p = online(&keys(), &["firewall=none"], &host).unwrap();
    assert_eq!(
        cmds(&p),
        [
            "ip link set dev vif1.0 down",
            "ip address flush dev vif1.0",
            "ip link set dev vif1.0 master xenbr0",
            "ip link set dev vif1.0 up",
        ]
    );
    assert_eq!(
        undo_of(&p, "take vif1.0 down").as_deref(),
        Some("ip link set dev vif1.0 up")
    );
}

#[test]
fn vb01_the_environment_names_the_bridge_when_xenstore_has_no_key() {
    let host = fresh_vif_host().link(bridge("br1"));
    let env = [
        ("vif", "vif1.0"),
        ("XENBUS_PATH", "backend/vif/1/0"),
        ("bridge", "br1"),
    ];
    let p = plan_words(&["online", "type_if=vif"], &env, &[], &host).unwrap();
    assert!(lines(&p).contains("master br1"), "{}", lines(&p));
    // And a bridge that is not there is reported with where its name came from.
    let env = [
        ("vif", "vif1.0"),
        ("XENBUS_PATH", "backend/vif/1/0"),
        ("bridge", "nosuch"),
    ];
    let e = plan_words(&["online", "type_if=vif"], &env, &[], &host).unwrap_err();
    let m = sentence(e);
    assert!(
        m.starts_with("Could not find bridge device nosuch (from environment variable bridge;"),
        "{m}"
    );
}

#[test]
fn vb01_an_argument_names_the_bridge_and_is_named_when_it_is_missing() {
    let e = online(&[], &["bridge=nosuch"], &fresh_vif_host()).unwrap_err();
    let m = sentence(e);
    assert!(
        m.starts_with("Could not find bridge device nosuch (from argument bridge=; bridges on this host: xenbr0)"),
        "{m}"
    );
}

#[test]
fn xs02_vb01_an_empty_bridge_key_is_not_replaced_by_the_argument_but_detected() {
    // xenstore_read_default gives "" for a present empty key, so the argument is not used and
    // the first bridge is taken.
    let host = fresh_vif_host().link(bridge("abr"));
    let p = online(
        &[("bridge", "")],
        &["bridge=xenbr0", "firewall=none"],
        &host,
    )
    .unwrap();
    assert!(lines(&p).contains("master abr"), "{}", lines(&p));
}

#[test]
fn vb02_vb03_several_bridges_with_several_ports_give_one_name_the_first() {
    let host = dom0()
        .link(bridge("xenbr0"))
        .link(bridge("br9"))
        .link(port_of("vif2.0", "xenbr0"))
        .link(port_of("vif3.0", "xenbr0"))
        .link(port_of("vif4.0", "br9"))
        .link(fresh("vif1.0"));
    let p = online(&[], &["firewall=none"], &host).unwrap();
    assert!(
        lines(&p).contains("ip link set dev vif1.0 master br9\n"),
        "{}",
        lines(&p)
    );
    assert_eq!(
        p.done,
        "Successful vif-bridge online for vif1.0, bridge br9."
    );
}

#[test]
fn vb04_xenbr_is_kept_when_eth_is_no_bridge_and_refused_as_missing() {
    // eth0 is dom0's NIC, not a bridge: xenbr0 is not translated.
    let host = dom0().link(fresh("vif1.0"));
    let e = online(&keys(), &[], &host).unwrap_err();
    assert!(
        sentence(e).starts_with("Could not find bridge device xenbr0 (from xenstore key backend/vif/1/0/bridge; bridges on this host: none)")
    );
}

#[test]
fn vb04_a_translated_bridge_is_said_and_an_existing_xenbr_is_used_as_it_is() {
    let host = dom0().link(bridge("eth1")).link(fresh("vif1.0"));
    let p = online(&[("bridge", "xenbr1")], &["firewall=none"], &host).unwrap();
    assert!(debugs(&p.notes)
        .contains(&"bridge xenbr1 does not exist; using eth1, its network-bridge name"));
    // xenbr0 exists: neither eth0 nor an alternative name is looked up.
    let host = fresh_vif_host();
    online(&keys(), &["firewall=none"], &host).unwrap();
    let asked = host.asked();
    assert!(!asked.contains(&Fact::Link("eth0".into())), "{asked:?}");
    assert!(
        !asked.iter().any(|f| matches!(f, Fact::Resolve(_))),
        "{asked:?}"
    );
}

#[test]
fn an_alternative_name_is_resolved_only_when_no_link_has_it_and_is_said() {
    let host = fresh_vif_host().answer(
        Fact::Resolve("xenbr7".into()),
        Answer::Name(Some("xenbr0".into())),
    );
    let p = online(&[("bridge", "xenbr7")], &["firewall=none"], &host).unwrap();
    assert!(debugs(&p.notes).contains(&"xenbr7 is an alternative name of xenbr0"));
    assert_eq!(
        p.done,
        "Successful vif-bridge online for vif1.0, bridge xenbr0."
    );
    assert!(host.asked().contains(&Fact::Resolve("xenbr7".into())));
    // An alternative name that names no bridge is still reported by the name given.
    let e = online(&[("bridge", "xenbr8")], &[], &fresh_vif_host()).unwrap_err();
    assert!(sentence(e).starts_with("Could not find bridge device xenbr8"));
}

#[test]
fn an_alternative_name_from_a_captured_altnames_list_resolves() {
    // `ip -j link` lists altnames; the fixture answers Resolve from them as the host does.
    let links = r#"[{"ifindex":5,"ifname":"eth0","flags":["UP"],"mtu":1500,"address":"52:54:00:aa:bb:cc",
        "altnames":["xenbr0"],"linkinfo":{"info_kind":"bridge"}},
        {"ifindex":6,"ifname":"vif1.0","flags":[],"mtu":1500,"address":"fe:ff:ff:ff:ff:fe"}]"#;
    let host = Fixture::new().ip_links(links).tools(&["ip"]);
    let p = online(&keys(), &["firewall=none"], &host).unwrap();
    assert!(
        lines(&p).contains("ip link set dev vif1.0 master eth0"),
        "{}",
        lines(&p)
    );
}

#[test]
fn mtu01_without_a_key_the_bridges_mtu_is_taken_and_mtu02_says_both() {
    let mut br = bridge("xenbr0");
    br.mtu = 9000;
    let host = dom0().link(br).link(fresh("vif1.0"));
    let p = online(&keys(), &["firewall=none"], &host).unwrap();
    assert!(lines(&p).contains("ip link set dev vif1.0 mtu 9000"));
    assert_eq!(
        undo_of(&p, "set vif1.0 MTU to 9000").as_deref(),
        Some("ip link set dev vif1.0 mtu 1500")
    );
    // A failed MTU change is ignored, as the original's.
    assert_eq!(step(&p, "set vif1.0 MTU to 9000").on_error, OnError::Ignore);
    let d = debugs(&p.notes);
    assert!(
        d.contains(&"xenbr0 MTU is 9000") && d.contains(&"setting vif1.0 MTU to 9000"),
        "{d:?}"
    );
    assert_eq!(p.frontend_keys[0].1, "9000");
    // The key wins over the bridge: no "bridge MTU" line then.
    let mut keys = keys();
    keys.push(("mtu", "1400"));
    let p = online(&keys, &["firewall=none"], &host).unwrap();
    assert!(lines(&p).contains("ip link set dev vif1.0 mtu 1400"));
    assert!(!debugs(&p.notes).iter().any(|d| d.contains("MTU is")));
}

#[test]
fn mtu01_a_malformed_mtu_key_is_refused_naming_the_key() {
    let mut ctx = vif_ctx("vif-bridge", "online", &keys());
    ctx.keys.insert("mtu".into(), "9".into());
    let e = plan_vif(
        "vif-bridge",
        &ctx,
        &inv("vif-bridge", &["online", "type_if=vif"], VIF_ENV),
        &fresh_vif_host(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    assert!(sentence(e).starts_with("backend/vif/1/0/mtu=\"9\" is not an MTU"));
    // The front end refuses the same key before planning.
    let xs = crate::xenstore::Memory::default();
    crate::xenstore::XenStore::write(&xs, &[("backend/vif/1/0/mtu", "9")]).unwrap();
    let r = crate::vif::front_end(
        &inv("vif-bridge", &["online"], VIF_ENV),
        crate::scripts::find("vif-bridge").unwrap().settings,
        &xs,
    );
    let Err(stop) = r else { panic!("accepted") };
    assert!(
        stop.error
            .to_string()
            .contains("(from xenstore key backend/vif/1/0/mtu)"),
        "{}",
        stop.error
    );
}

#[test]
fn mtu03_the_frontend_mtu_path_comes_from_the_backend_path_not_the_vifname() {
    let mut keys = keys();
    keys.push(("vifname", "web0"));
    let p = online(&keys, &["firewall=none"], &fresh_vif_host()).unwrap();
    assert_eq!(
        p.frontend_keys,
        [(
            "/local/domain/1/device/vif/0/mtu".to_string(),
            "1500".to_string()
        )]
    );
}

#[test]
fn mac01_a_malformed_guest_mac_is_refused_before_anything() {
    let mut ctx = vif_ctx("vif-bridge", "online", &keys());
    ctx.keys.insert("mac".into(), "01:16:3e:00:00:01".into());
    let e = plan_vif(
        "vif-bridge",
        &ctx,
        &inv("vif-bridge", &["online", "type_if=vif"], VIF_ENV),
        &fresh_vif_host(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    assert!(sentence(e).contains("is a multicast address"));
}

#[test]
fn mac04_a_bridge_with_the_port_mac_is_warned_about() {
    let mut br = bridge("xenbr0");
    br.address = crate::bridge::PORT_MAC.into();
    let host = dom0().link(br).link(fresh("vif1.0"));
    let p = online(&keys(), &["firewall=none"], &host).unwrap();
    assert!(warnings(&p.notes)
        .iter()
        .any(|w| w.starts_with("bridge xenbr0 has the MAC fe:ff:ff:ff:ff:ff of its vif ports")));
    let p = online(&keys(), &["firewall=none"], &fresh_vif_host()).unwrap();
    assert!(warnings(&p.notes).is_empty(), "{:?}", p.notes);
}

#[test]
fn vb09_a_second_online_with_iptables_changes_neither_the_link_nor_the_rules() {
    let dev_rules = crate::firewall::iptables::vif_rules("vif1.0", &["192.0.2.51".into()]);
    let save: String = dev_rules
        .iter()
        .rev()
        .map(|r| format!("{}\n", r.save))
        .collect();
    let record: Vec<&str> = dev_rules.iter().map(|r| r.save.as_str()).collect();
    let host = dom0()
        .link(bridge("xenbr0"))
        .link(port_of("vif1.0", "xenbr0"))
        .iptables("filter", &save)
        .file(
            crate::firewall::iptables::record_path("vif1.0"),
            &record.join("\n"),
        );
    let mut keys = keys();
    keys.push(("ip", "192.0.2.51"));
    let p = online(&keys, &["firewall=iptables"], &host).unwrap();
    let l = lines(&p);
    assert!(
        !l.contains("ip link") && !l.contains("iptables-restore"),
        "{l}"
    );
    assert!(host.asked().contains(&Fact::Iptables("filter".into())));
}

#[test]
fn vb09_a_port_with_another_mtu_is_fixed_without_enslaving_it_again() {
    let mut port = port_of("vif1.0", "xenbr0");
    port.mtu = 1400;
    let host = dom0().link(bridge("xenbr0")).link(port);
    let p = online(&keys(), &["firewall=none"], &host).unwrap();
    assert_eq!(
        cmds(&p),
        [
            "ip link set dev vif1.0 down",
            "ip address flush dev vif1.0",
            "ip link set dev vif1.0 mtu 1500",
            "ip link set dev vif1.0 up",
        ]
    );
    assert!(debugs(&p.notes).contains(&"vif1.0 already on bridge xenbr0"));
}

#[test]
fn a_port_of_another_bridge_is_released_with_an_undo_that_puts_it_back() {
    let host = fresh_vif_host()
        .link(bridge("other"))
        .link(port_of("vif1.0", "other"));
    let p = online(&keys(), &["firewall=none"], &host).unwrap();
    assert_eq!(
        undo_of(&p, "release vif1.0 from bridge other").as_deref(),
        Some("ip link set dev vif1.0 master other")
    );
    assert!(
        pos(&p, "ip link set dev vif1.0 nomaster") < pos(&p, "ip link set dev vif1.0 down"),
        "{}",
        lines(&p)
    );
}

#[test]
fn vc07_a_rename_takes_an_up_link_down_first_and_undoes_to_the_kernel_name() {
    let mut vif = fresh("vif1.0");
    vif.up = true;
    let host = dom0().link(bridge("xenbr0")).link(vif);
    let mut keys = keys();
    keys.push(("vifname", "web0"));
    let p = online(&keys, &["firewall=none"], &host).unwrap();
    let c = cmds(&p);
    assert_eq!(c[0], "ip link set dev vif1.0 down");
    assert_eq!(c[1], "ip link set dev vif1.0 name web0 alias vif1.0");
    assert_eq!(
        undo_of(&p, "ip link set vif1.0 name web0").as_deref(),
        Some("ip link set dev web0 name vif1.0")
    );
    // VC-08: everything after acts on web0, and the link is down after the rename.
    assert!(c[2..].iter().all(|l| !l.contains("vif1.0")), "{c:?}");
    assert!(
        !c[2..].contains(&"ip link set dev web0 down".to_string()),
        "{c:?}"
    );
    assert_eq!(
        p.done,
        "Successful vif-bridge online for web0, bridge xenbr0."
    );
}

#[test]
fn vc07_a_rename_whose_name_is_taken_is_refused_with_the_originals_sentence() {
    let mut keys = keys();
    keys.push(("vifname", "web0"));
    let host = fresh_vif_host().link(bridge("web0"));
    let e = online(&keys, &[], &host).unwrap_err();
    assert!(matches!(e, Error::Refused(_)));
    assert_eq!(
        sentence(e),
        "Cannot rename interface vif1.0. An interface with name web0 already exists."
    );
}

#[test]
fn vc09_a_second_online_of_a_renamed_vif_is_accepted_and_leaves_its_working_port_alone() {
    let mut web0 = port_of("web0", "xenbr0");
    web0.alias = "vif1.0".into();
    // After the rename there is no vif1.0 any more.
    let host = without_vif().link(web0);
    let mut keys = keys();
    keys.push(("vifname", "web0"));
    let p = online(&keys, &["firewall=none"], &host).unwrap();
    assert!(p.plan.is_empty(), "{}", lines(&p));
    assert_eq!(
        p.done,
        "Successful vif-bridge online for web0, bridge xenbr0."
    );
}

#[test]
fn kp16_online_refuses_a_vifname_that_is_another_guests_link() {
    let mut web0 = port_of("web0", "xenbr0");
    web0.alias = "vif2.0".into();
    let host = without_vif().link(web0);
    let mut keys = keys();
    keys.push(("vifname", "web0"));
    let e = online(&keys, &[], &host).unwrap_err();
    assert_eq!(
        sentence(e),
        "web0 belongs to vif2.0, not to vif1.0: choose another vifname"
    );
}

#[test]
fn vc07_vc08_add_renames_the_tap_to_its_emu_twin_and_reports_no_frontend_mtu() {
    let mut keys = keys();
    keys.push(("vifname", "web0"));
    let host = fresh_vif_host().link(fresh("vif1.0-emu"));
    let p = plan_words(
        &["add", "type_if=tap", "firewall=none"],
        TAP_ENV,
        &keys,
        &host,
    )
    .unwrap();
    let c = cmds(&p);
    assert_eq!(
        c[0],
        "ip link set dev vif1.0-emu name web0-emu alias vif1.0-emu"
    );
    assert!(
        c.contains(&"ip link set dev web0-emu master xenbr0".to_string()),
        "{c:?}"
    );
    assert!(p.frontend_keys.is_empty());
    assert_eq!(
        p.done,
        "Successful vif-bridge add for web0-emu, bridge xenbr0."
    );
}

#[test]
fn vc03_add_of_a_tap_gets_the_tap_rules_and_the_guests_mac_is_not_required() {
    let host = fresh_vif_host().link(fresh("vif1.0-emu"));
    let p = plan_words(
        &["add", "type_if=tap", "firewall=iptables"],
        TAP_ENV,
        &[("bridge", "xenbr0")],
        &host,
    )
    .unwrap();
    let l = lines(&p);
    assert!(
        l.contains("-I FORWARD -m physdev --physdev-is-bridged --physdev-out vif1.0-emu -j ACCEPT"),
        "{l}"
    );
    assert!(l.contains("ip link set dev vif1.0-emu up"), "{l}");
}

#[test]
fn vb07_remove_takes_the_tap_out_of_its_bridge() {
    let host = fresh_vif_host().link(port_of("vif1.0-emu", "xenbr0"));
    let p = plan_words(
        &["remove", "type_if=tap", "firewall=none"],
        TAP_ENV,
        &keys(),
        &host,
    )
    .unwrap();
    assert_eq!(
        cmds(&p),
        [
            "ip link set dev vif1.0-emu down",
            "ip link set dev vif1.0-emu nomaster"
        ]
    );
    assert_eq!(
        p.done,
        "Successful vif-bridge remove for vif1.0-emu, bridge xenbr0."
    );
    assert!(p.frontend_keys.is_empty() && p.report_after.is_none());
}

#[test]
fn vb07_offline_keeps_going_past_failures_and_undoes_nothing() {
    let host = dom0()
        .link(bridge("xenbr0"))
        .link(port_of("vif1.0", "xenbr0"));
    let p = offline(&keys(), &["firewall=none"], &host);
    assert_eq!(step(&p, "take vif1.0 down").on_error, OnError::Ignore);
    assert_eq!(
        step(&p, "remove vif1.0 from bridge xenbr0").on_error,
        OnError::Collect
    );
    assert!(
        p.plan.steps.iter().all(|s| s.undo.is_none()),
        "{}",
        lines(&p)
    );
    assert_eq!(
        p.done,
        "Successful vif-bridge offline for vif1.0, bridge xenbr0."
    );
    // The bridge itself stays (BR-03).
    assert!(!lines(&p).contains("link del"), "{}", lines(&p));
}

#[test]
fn vb07_offline_of_a_vif_down_and_unbridged_touches_no_link() {
    let host = fresh_vif_host();
    let p = offline(&keys(), &["firewall=none"], &host);
    assert!(p.plan.is_empty(), "{}", lines(&p));
}

#[test]
fn vb07_offline_releases_the_vif_from_the_bridge_it_is_on_whatever_is_configured() {
    let host = fresh_vif_host()
        .link(bridge("br9"))
        .link(port_of("vif1.0", "br9"));
    let p = offline(&keys(), &["firewall=none"], &host);
    assert!(
        lines(&p).contains("ip link set dev vif1.0 nomaster"),
        "{}",
        lines(&p)
    );
    assert!(step(&p, "remove vif1.0 from bridge br9").undo.is_none());
}

#[test]
fn vc08_offline_of_a_renamed_vif_acts_on_its_vifname() {
    let mut web0 = port_of("web0", "xenbr0");
    web0.alias = "vif1.0".into();
    let host = without_vif().link(web0);
    let mut keys = keys();
    keys.push(("vifname", "web0"));
    let p = offline(&keys, &["firewall=none"], &host);
    assert_eq!(
        cmds(&p),
        ["ip link set dev web0 down", "ip link set dev web0 nomaster"]
    );
}

#[test]
fn vb10_offline_with_no_bridge_at_all_still_releases_then_reports() {
    let host = dom0().link(port_of("vif1.0", "gone"));
    let p = offline(&[], &["firewall=none"], &host);
    assert!(lines(&p).contains("ip link set dev vif1.0 nomaster"));
    assert_eq!(
        p.report_after.as_deref(),
        Some("Could not find bridge, and none was specified")
    );
}

#[test]
fn vb10_offline_of_a_vif_gone_with_its_bridge_still_removes_its_rules_then_reports() {
    let host = Fixture::new()
        .tools(&["ip", "iptables", "iptables-save"])
        .iptables(
            "filter",
            "-A FORWARD -m physdev --physdev-out vif1.0 --physdev-is-bridged -j ACCEPT\n\
         -A FORWARD -m physdev --physdev-in vif1.0 --physdev-is-bridged -j ACCEPT\n",
        );
    let p = offline(&keys(), &["firewall=iptables"], &host);
    let l = lines(&p);
    assert!(
        l.contains("-D FORWARD -m physdev --physdev-out vif1.0"),
        "{l}"
    );
    assert!(
        l.contains("-D FORWARD -m physdev --physdev-in vif1.0"),
        "{l}"
    );
    assert!(p
        .report_after
        .as_deref()
        .is_some_and(|m| m.starts_with("Could not find bridge device xenbr0")));
    assert!(debugs(&p.notes).contains(&"vif1.0 is already gone"));
}

#[test]
fn hk01_offline_runs_the_hooks_after_the_teardown_and_collects_their_failures() {
    let dir = crate::paths::script_dir().join("vif-post.d");
    let host = dom0()
        .link(bridge("xenbr0"))
        .link(port_of("vif1.0", "xenbr0"))
        .answer(
            Fact::Executables(dir.clone(), "hook".into()),
            Answer::Paths(vec![dir.join("00-vif-local.hook")]),
        );
    let mut keys = keys();
    keys.push(("ip", "192.0.2.51 192.0.2.52"));
    let p = offline(&keys, &["firewall=none"], &host);
    let hook = p.plan.steps.last().unwrap();
    assert_eq!(
        hook.what,
        format!("hook {}", dir.join("00-vif-local.hook").display())
    );
    assert_eq!(hook.on_error, OnError::Collect);
    let Action::Run(c) = &hook.action else {
        panic!()
    };
    assert_eq!(c.program, "bash");
    for (k, v) in [
        ("command", "offline"),
        ("dev", "vif1.0"),
        ("vif", "vif1.0"),
        ("type_if", "vif"),
        ("XENBUS_PATH", "backend/vif/1/0"),
        ("bridge", "xenbr0"),
        ("ip", "192.0.2.51 192.0.2.52"),
    ] {
        assert!(
            c.env.contains(&(k.to_string(), v.to_string())),
            "{k}: {:?}",
            c.env
        );
    }
    assert!(host
        .asked()
        .contains(&Fact::Executables(dir, "hook".into())));
}

#[test]
fn hk01_online_hooks_run_after_the_rules_and_fail_the_event() {
    let dir = crate::paths::script_dir().join("vif-post.d");
    let host = fresh_vif_host().answer(
        Fact::Executables(dir.clone(), "hook".into()),
        Answer::Paths(vec![dir.join("10-a.hook")]),
    );
    let p = online(&keys(), &["firewall=iptables"], &host).unwrap();
    let last = p.plan.steps.last().unwrap();
    assert!(last.what.starts_with("hook "), "{}", lines(&p));
    assert_eq!(last.on_error, OnError::Fail);
    let hook = pos(&p, &last.action.line());
    let rules = cmds(&p)
        .iter()
        .position(|l| l.starts_with("iptables-restore"))
        .unwrap();
    assert!(rules < hook);
}

#[test]
fn firewall_none_reads_no_firewall_state_online_or_offline() {
    let host = fresh_vif_host();
    online(&keys(), &["firewall=none"], &host).unwrap();
    offline(&keys(), &["firewall=none"], &host);
    let asked = host.asked();
    assert!(
        !asked
            .iter()
            .any(|f| matches!(f, Fact::Iptables(_)) || *f == Fact::Tool("iptables".into())),
        "{asked:?}"
    );
}

#[test]
fn the_config_files_firewall_is_used_and_an_invalid_one_refused_even_under_an_argument() {
    let conf = crate::conf::path();
    let host = dom0()
        .link(bridge("xenbr0"))
        .link(fresh("vif1.0"))
        .file(&conf, "# host settings\nfirewall=nftables\n");
    let p = online(&keys(), &[], &host).unwrap();
    assert!(
        lines(&p).contains("vif_verdicts { 7 : jump vif_open }"),
        "{}",
        lines(&p)
    );
    let bad = fresh_vif_host().file(&conf, "firewall=ipchains\n");
    let e = online(&keys(), &["firewall=none"], &bad).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    let m = sentence(e);
    assert!(
        m.contains("\"ipchains\" is not a firewall backend")
            && m.contains(&conf.display().to_string()),
        "{m}"
    );
    // Offline too: a broken host setting is reported, not left for the next guest.
    let words = ["offline", "type_if=vif", "firewall=none"];
    let ctx = vif_ctx_with("vif-bridge", &words, VIF_ENV, &keys());
    let e = plan_vif(
        "vif-bridge",
        &ctx,
        &inv("vif-bridge", &words, VIF_ENV),
        &bad,
    )
    .unwrap_err();
    let m = sentence(e);
    assert!(m.contains("\"ipchains\" is not a firewall backend"), "{m}");
}

#[test]
fn an_evpn_bridges_guest_addresses_are_forgotten_at_offline() {
    let mut keys = keys();
    keys.push(("ip", "192.0.2.51"));
    let record = crate::paths::state_dir().join("network-bridge.xenbr0.overlay");
    let host = dom0()
        .link(bridge("xenbr0"))
        .link(port_of("vif1.0", "xenbr0"))
        .file(
            &record,
            "vxlan=vxlan42 vni=42 created_bridge=yes overlay=evpn",
        );
    let p = offline(&keys, &["firewall=none"], &host);
    let forget = step(&p, "forget a guest address on the EVPN bridge");
    assert_eq!(forget.on_error, OnError::Ignore);
    assert!(
        forget.action.line().starts_with("ip neigh del 192.0.2.51"),
        "{}",
        lines(&p)
    );
    assert!(
        pos(&p, &forget.action.line()) < pos(&p, "ip link set dev vif1.0 nomaster"),
        "{}",
        lines(&p)
    );
}

// ---------------------------------------------------------------------------------------------
// The front end's refusals and no-ops, as vif-bridge meets them (§3).

fn front(
    words: &[&str],
    env: &[(&str, &str)],
    keys: &[(&str, &str)],
) -> std::result::Result<crate::vif::Front, crate::vif::Stop> {
    let xs = crate::xenstore::Memory::default();
    for (k, v) in keys {
        crate::xenstore::XenStore::write(&xs, &[(&format!("backend/vif/1/0/{k}"), *v)]).unwrap();
        crate::xenstore::XenStore::write(
            &xs,
            &[(&format!("/local/domain/0/backend/vif/1/0/{k}"), *v)],
        )
        .unwrap();
    }
    crate::vif::front_end(
        &inv("vif-bridge", words, env),
        crate::scripts::find("vif-bridge").unwrap().settings,
        &xs,
    )
}

#[test]
fn vc01_an_invalid_command_is_refused_before_anything_naming_the_valid_ones() {
    let Err(stop) = front(&["start"], VIF_ENV, &keys()) else {
        panic!("accepted")
    };
    assert_eq!(stop.xp.as_deref(), Some("backend/vif/1/0"));
    assert_eq!(
        stop.error.to_string(),
        "Invalid command: start (valid commands are online, offline, add and remove)"
    );
}

#[test]
fn vc03_online_of_a_tap_and_add_of_a_vif_do_nothing() {
    for words in [
        &["online", "type_if=tap"][..],
        &["add", "type_if=vif"][..],
        &["remove"][..],
    ] {
        match front(words, TAP_ENV, &keys()) {
            Ok(crate::vif::Front::Nothing(m)) => assert!(m.ends_with("nothing to do"), "{m}"),
            other => panic!("{words:?}: {other:?}"),
        }
    }
}

#[test]
fn vc06_a_taps_backend_path_is_made_from_its_name() {
    let Ok(crate::vif::Front::Plan(ctx)) = front(&["add", "type_if=tap"], TAP_ENV, &keys()) else {
        panic!()
    };
    assert_eq!(ctx.xp, "/local/domain/0/backend/vif/1/0");
    assert_eq!((ctx.domid.as_str(), ctx.devid.as_str()), ("1", "0"));
    assert_eq!(ctx.key("bridge"), Some("xenbr0"));
}

#[test]
fn kp16_a_vifname_too_long_for_its_emu_twin_is_refused_for_the_tap() {
    let mut keys = keys();
    keys.push(("vifname", "webserver01x"));
    let Err(stop) = front(&["add", "type_if=tap"], TAP_ENV, &keys) else {
        panic!("accepted")
    };
    assert!(
        stop.error.to_string().starts_with(
            "vifname=\"webserver01x\" is too long for its tap twin \"webserver01x-emu\" (16 bytes"
        ),
        "{}",
        stop.error
    );
    // The PV vif itself may carry it.
    assert!(matches!(
        front(&["online"], VIF_ENV, &keys),
        Ok(crate::vif::Front::Plan(_))
    ));
}

#[test]
fn vb01_a_malformed_bridge_argument_is_refused_naming_where_it_came_from() {
    let e = online(&[], &["bridge=br 0"], &fresh_vif_host()).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    let m = sentence(e);
    assert!(
        m.starts_with("bridge=\"br 0\" contains ' '") && m.ends_with("(from argument bridge=)"),
        "{m}"
    );
}

#[test]
fn kp16_offline_after_a_refused_rename_leaves_the_other_guests_link_alone() {
    // Guest 2's web0, renamed by Xen's original script before xen-netscripts was installed
    // (no alias); guest 1 asked for the same vifname, so its online was refused and vif1.0
    // kept its kernel name. libxl then runs offline for guest 1.
    let host = dom0()
        .link(bridge("xenbr0"))
        .link(port_of("web0", "xenbr0"))
        .link(fresh("vif1.0"));
    let mut keys = keys();
    keys.push(("vifname", "web0"));
    assert!(online(&keys, &[], &host).is_err());
    let p = offline(&keys, &["firewall=none"], &host);
    assert!(!lines(&p).contains("web0"), "{}", lines(&p));
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
        l.contains("ip neigh del 192.0.2.51 dev xenbr0 || true"),
        "{l}"
    );
    assert!(
        l.contains("ip neigh del 2001:db8::51 dev xenbr0 || true"),
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
            "ip neigh del 192.0.2.51 dev xenbr0",
            "ip neigh del 2001:db8::51 dev xenbr0",
            "ip link set dev vif1.0 nomaster"
        ]
    );
}
