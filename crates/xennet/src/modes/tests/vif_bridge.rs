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
