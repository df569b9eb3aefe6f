//! `vif-bridge` run the way libxl runs it (spec §3, §4, §11; VB-xx, VC-xx, IPT-xx, MTU-xx,
//! HK-xx).

mod common;

use common::*;
use xennet_tests::*;

#[test]
fn vb04_online_on_a_network_bridge_host_translates_xenbr0_to_eth0() {
    let Some((h, g)) = network_bridge_host("vb_nbhost", &[("bridge", "xenbr0")]) else {
        return;
    };
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "vif-bridge online (XENBUS_PATH relative)");
    assert_port(&h, "vif1.0", "eth0", mtu_of(&h, "eth0"));
    assert_eq!(
        h.hotplug_status(1, 0).as_deref(),
        Some("connected"),
        "XS-04\n{}",
        h.explain(&r)
    );
    assert_eq!(
        h.xs_read("/local/domain/1/device/vif/0/mtu").as_deref(),
        Some(mtu_of(&h, "eth0").to_string().as_str()),
        "frontend MTU (MTU-01)"
    );
    assert!(
        r.stdout.trim().is_empty(),
        "stdout should stay quiet (TS-04):\n{r}"
    );
    assert!(
        ping_retry(&g.ns, LAN_ADDR, 5),
        "guest cannot reach the LAN through vif1.0"
    );
    assert!(
        ping_retry(&h.dom0, "192.0.2.51", 5),
        "dom0 cannot reach the guest"
    );
}

#[test]
fn vb06_online_with_absolute_xenbus_path_on_an_admin_bridge() {
    let Some((h, g)) = admin_bridge_host("vb_abs", &[]) else {
        return;
    };
    let r = h
        .libxl("vif-bridge", 1, 0)
        .env("XENBUS_PATH", "/local/domain/0/backend/vif/1/0")
        .run(ONLINE);
    assert_ok(&h, &r, "vif-bridge online (XENBUS_PATH absolute)");
    assert_port(&h, "vif1.0", "xenbr0", 1500);
    assert_eq!(h.hotplug_status(1, 0).as_deref(), Some("connected"));
    assert_eq!(
        h.xs_read("/local/domain/1/device/vif/0/mtu").as_deref(),
        Some("1500")
    );
    assert!(
        ping_retry(&g.ns, LAN_ADDR, 5),
        "guest cannot reach the LAN through vif1.0"
    );
}

#[test]
fn mtu01_backend_mtu_key_sets_the_vif_and_frontend() {
    let Some((h, _g)) = admin_bridge_host("vb_mtu", &[("mtu", "1400")]) else {
        return;
    };
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "vif-bridge online with mtu=1400");
    assert_port(&h, "vif1.0", "xenbr0", 1400);
    assert_eq!(
        h.xs_read("/local/domain/1/device/vif/0/mtu").as_deref(),
        Some("1400")
    );
    assert_eq!(h.hotplug_status(1, 0).as_deref(), Some("connected"));
}

#[test]
fn mtu01_without_backend_mtu_the_vif_copies_a_jumbo_bridge() {
    let Some(mut h) = host!("vb_jumbo").build() else {
        return;
    };
    cmd::ip_must(&h.lan, &["link", "set", "dev", "lan0", "mtu", "9000"]);
    cmd::ip_must(&h.dom0, &["link", "set", "dev", "eth0", "mtu", "9000"]);
    h.make_admin_bridge("xenbr0");
    assert_eq!(mtu_of(&h, "xenbr0"), 9000);
    h.add_guest(1, 0);
    h.xs_write_backend(1, 0, &[]); // frontend mtu=1500 as libxl writes it
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "vif-bridge online on a jumbo bridge");
    assert_port(&h, "vif1.0", "xenbr0", 9000);
    assert_eq!(
        h.xs_read("/local/domain/1/device/vif/0/mtu").as_deref(),
        Some("9000"),
        "the script overwrites the frontend MTU with the bridge's (MTU-01)"
    );
}

#[test]
fn ipt03_rules_with_ip_are_exact_and_in_order() {
    let Some((h, g)) = network_bridge_host("vb_iptip", &[("ip", "192.0.2.51")]) else {
        return;
    };
    let before = h.forward_rules();
    assert!(
        before.is_empty(),
        "test bed FORWARD chain should start empty: {before:?}"
    );
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "vif-bridge online with ip=");
    assert_eq!(
        h.forward_rules(),
        vec![
            out_rule("vif1.0"),
            dhcp_rule("vif1.0"),
            in_rule_from("vif1.0", "192.0.2.51")
        ],
        "IPT-03/IPT-04 rules (one out-rule, IPT-08)\n{}",
        h.explain(&r)
    );
    assert!(ping_retry(&g.ns, LAN_ADDR, 5));
}

#[test]
fn ipt04_rules_without_ip_are_one_in_and_one_out() {
    let Some((h, _g)) = admin_bridge_host("vb_iptnoip", &[]) else {
        return;
    };
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "vif-bridge online without ip=");
    assert_eq!(
        h.forward_rules(),
        vec![out_rule("vif1.0"), in_rule("vif1.0")],
        "IPT-04 without ip\n{}",
        h.explain(&r)
    );
}

#[test]
fn ipt04_several_addresses_give_one_in_rule_each_and_one_out_rule() {
    let Some((h, _g)) = admin_bridge_host("vb_iptmany", &[("ip", "192.0.2.51 192.0.2.61")]) else {
        return;
    };
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "vif-bridge online with two addresses");
    let mut got = h.forward_rules();
    assert_eq!(
        got.first(),
        Some(&out_rule("vif1.0")),
        "out-rule on top: {got:?}"
    );
    got.sort();
    let mut want = vec![
        out_rule("vif1.0"),
        dhcp_rule("vif1.0"),
        in_rule_from("vif1.0", "192.0.2.51"),
        in_rule_from("vif1.0", "192.0.2.61"),
    ];
    want.sort();
    assert_eq!(got, want, "IPT-04 with two addresses\n{}", h.explain(&r));
}

/// The backend keys come from one `xenstore-ls`, which cuts values longer than its 80 columns
/// (XS-02): a long `ip` list is read again whole, so every address still gets its rule.
#[test]
fn a_long_ip_list_cut_by_xenstore_ls_is_read_whole() {
    let ips: Vec<String> = (51..=62).map(|n| format!("192.0.2.{n}")).collect();
    let list = ips.join(" ");
    assert!(
        list.len() > 80,
        "the list must be longer than xenstore-ls shows"
    );
    let Some((h, _g)) = admin_bridge_host("vb_longip", &[("ip", &list)]) else {
        return;
    };
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "vif-bridge online with twelve addresses");
    let got = h.forward_rules();
    for ip in &ips {
        assert!(
            got.contains(&in_rule_from("vif1.0", ip)),
            "no rule for {ip}: {got:?}\n{}",
            h.explain(&r)
        );
    }
    let calls = h.xs_calls();
    assert!(
        calls.iter().any(|c| c.starts_with("xenstore-ls"))
            && calls
                .iter()
                .any(|c| c.starts_with("xenstore-read") && c.ends_with("/ip")),
        "expected one xenstore-ls and a re-read of the cut ip key: {calls:?}"
    );
}

/// Issue 8: a new vif's online inserts its rules without listing the ruleset (which grows with
/// every guest); a later online, or one after the rules were tampered with, reads and repairs
/// them (IPT-08); offline forgets the vif, so its next online is new again.
#[test]
fn ipt08_new_vif_online_does_not_list_the_ruleset_and_a_second_online_repairs() {
    let Some((mut h, _g)) = admin_bridge_host("vb_fastfw", &[("ip", "192.0.2.51")]) else {
        return;
    };
    let listed = |r: &Output| r.stderr.contains("exec: iptables-save");
    let r = h
        .libxl("vif-bridge", 1, 0)
        .env("XENNET_LOG", "debug")
        .run(ONLINE);
    assert_ok(&h, &r, "first online");
    assert!(
        !listed(&r),
        "a new vif's online listed the ruleset:\n{}",
        h.explain(&r)
    );
    let rule = in_rule_from("vif1.0", "192.0.2.51");
    assert!(h.forward_rules().contains(&rule), "{:?}", h.forward_rules());
    // Someone deletes one of the vif's rules; the next online reads the rules and puts it back.
    let spec = rule.replacen("-A FORWARD", "-D FORWARD", 1);
    let mut argv = vec!["iptables", "-w"];
    argv.extend(spec.split_whitespace());
    assert!(cmd::ns_exec(&h.dom0, &argv).success());
    let r = h
        .libxl("vif-bridge", 1, 0)
        .env("XENNET_LOG", "debug")
        .run(ONLINE);
    assert_ok(&h, &r, "second online");
    assert!(
        listed(&r),
        "a known vif's online must read its rules:\n{}",
        h.explain(&r)
    );
    let rules = h.forward_rules();
    assert_eq!(rules.iter().filter(|l| **l == rule).count(), 1, "{rules:?}");
    assert_eq!(rules.len(), 3, "{rules:?}");
    let r = h.libxl("vif-bridge", 1, 0).run(OFFLINE);
    assert_ok(&h, &r, "offline");
    assert!(h.forward_rules().is_empty(), "{:?}", h.forward_rules());
    // netback destroys the vif after offline; the guest's next boot gets a new one.
    cmd::ip_must(&h.dom0, &["link", "del", "vif1.0"]);
    h.add_guest(1, 0);
    let r = h
        .libxl("vif-bridge", 1, 0)
        .env("XENNET_LOG", "debug")
        .run(ONLINE);
    assert_ok(&h, &r, "online after offline");
    assert!(
        !listed(&r),
        "after offline the vif is new again:\n{}",
        h.explain(&r)
    );
    assert_eq!(h.forward_rules().len(), 3, "{:?}", h.forward_rules());
}

#[test]
fn vb09_second_online_changes_nothing() {
    let Some((h, g)) = network_bridge_host("vb_twice", &[("ip", "192.0.2.51")]) else {
        return;
    };
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "first online");
    let rules = h.forward_rules();
    let after_first = h.snapshot();
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "second online");
    assert_eq!(h.forward_rules(), rules, "no duplicate rules (IPT-08)");
    assert_same(&after_first, &h.snapshot(), "second online (VB-09)");
    assert_eq!(h.hotplug_status(1, 0).as_deref(), Some("connected"));
    assert!(ping_retry(&g.ns, LAN_ADDR, 5));
}

#[test]
fn vb07_offline_releases_the_port_and_removes_the_rules() {
    let Some((h, g)) = admin_bridge_host("vb_offline", &[("ip", "192.0.2.51")]) else {
        return;
    };
    let rules_before = h.forward_rules();
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "online");
    assert_eq!(h.forward_rules().len(), rules_before.len() + 3);
    let r = h.libxl("vif-bridge", 1, 0).run(OFFLINE);
    assert_ok(&h, &r, "offline");
    assert_released(&h, "vif1.0");
    assert!(
        h.link("vif1.0").is_some(),
        "offline must not delete the vif"
    );
    assert_eq!(
        h.forward_rules(),
        rules_before,
        "rules back to the before-list (IPT-03)"
    );
    assert!(h.link("xenbr0").is_some(), "the bridge is kept (VB-07)");
    assert!(
        !ping(&g.ns, LAN_ADDR),
        "guest still reaches the LAN after offline"
    );
    let after = h.snapshot();
    let r = h.libxl("vif-bridge", 1, 0).run(OFFLINE);
    assert_ok(&h, &r, "second offline");
    assert_same(&after, &h.snapshot(), "second offline");
}

#[test]
fn vb10_offline_when_the_vif_is_already_gone_still_removes_the_rules() {
    let Some((h, _g)) = network_bridge_host("vb_gone", &[("ip", "192.0.2.51")]) else {
        return;
    };
    let rules_before = h.forward_rules();
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "online");
    assert_eq!(
        h.forward_rules().len(),
        rules_before.len() + 3,
        "{}",
        h.explain(&r)
    );
    cmd::ip_must(&h.dom0, &["link", "del", "dev", "vif1.0"]); // netback already removed it
    let r = h.libxl("vif-bridge", 1, 0).run(OFFLINE);
    assert_ok(&h, &r, "offline of a vif that no longer exists");
    assert_eq!(
        h.forward_rules(),
        rules_before,
        "rules must be removed even so"
    );
}

#[test]
fn vb10_offline_with_the_bridge_gone_still_removes_the_rules() {
    let Some((h, _g)) = admin_bridge_host("vb_nobr", &[("ip", "192.0.2.51")]) else {
        return;
    };
    let rules_before = h.forward_rules();
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "online");
    assert_eq!(
        h.forward_rules().len(),
        rules_before.len() + 3,
        "{}",
        h.explain(&r)
    );
    cmd::ip_must(&h.dom0, &["link", "del", "dev", "xenbr0"]);
    let r = h.libxl("vif-bridge", 1, 0).run(OFFLINE);
    // The exit status may report the missing bridge; the clean-up must happen regardless.
    assert_eq!(
        h.forward_rules(),
        rules_before,
        "VB-10: per-vif rules must go even when the bridge is gone\n{}",
        h.explain(&r)
    );
    assert!(!r.timed_out(), "{}", h.explain(&r));
}

#[test]
fn vc09_vifname_renames_and_a_second_online_succeeds() {
    let Some((h, g)) = admin_bridge_host("vb_vifname", &[("vifname", "web0")]) else {
        return;
    };
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "online with vifname=web0");
    assert!(
        h.link("vif1.0").is_none(),
        "vif1.0 should have been renamed"
    );
    assert_port(&h, "web0", "xenbr0", 1500);
    assert_eq!(h.hotplug_status(1, 0).as_deref(), Some("connected"));
    assert_eq!(
        h.forward_rules(),
        vec![out_rule("web0"), in_rule("web0")],
        "rules name the renamed device (VC-08)"
    );
    // MTU-03: the frontend key is found from the backend, not from the device name.
    assert_eq!(
        h.xs_read("/local/domain/1/device/vif/0/mtu").as_deref(),
        Some("1500")
    );
    assert!(
        h.xs_read("/local/domain/web0").is_none(),
        "the original's wrong frontend path /local/domain/web0/… was written (MTU-03)"
    );
    assert!(ping_retry(&g.ns, LAN_ADDR, 5));

    let snap = h.snapshot();
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "second online with vifname (VC-09)");
    assert_same(&snap, &h.snapshot(), "second online with vifname");
    assert_eq!(h.hotplug_status(1, 0).as_deref(), Some("connected"));

    let r = h.libxl("vif-bridge", 1, 0).run(OFFLINE);
    assert_ok(&h, &r, "offline with vifname");
    assert_released(&h, "web0");
    assert!(
        h.forward_rules().is_empty(),
        "rules left: {:?}",
        h.forward_rules()
    );
}

#[test]
fn vc06_tap_add_and_remove() {
    let Some(mut h) = host!("vb_tap").build() else {
        return;
    };
    h.make_admin_bridge("xenbr0");
    let t = h.add_tap(1, 0);
    h.xs_write_backend(1, 0, &[("type", "vif_ioemu")]);
    let calls_before = h.xs_calls().len();
    // XENBUS_PATH from the environment is ignored for taps (VC-06): point it somewhere wrong.
    let r = h
        .libxl_ioemu("vif-bridge", 1, 0)
        .env("XENBUS_PATH", "backend/vif/9/9")
        .run(ADD_TAP);
    assert_ok(&h, &r, "add type_if=tap");
    assert_port(&h, "vif1.0-emu", "xenbr0", 1500);
    assert_eq!(
        h.hotplug_status(1, 0).as_deref(),
        Some(""),
        "taps write no hotplug-status"
    );
    assert!(
        h.xs_read("backend/vif/9/9").is_none(),
        "wrote under the ignored XENBUS_PATH"
    );
    let writes: Vec<String> = h.xs_calls()[calls_before..]
        .iter()
        .filter(|c| c.starts_with("xenstore-write") || c.starts_with("xenstore-rm"))
        .cloned()
        .collect();
    assert!(
        writes.is_empty(),
        "a successful tap add writes nothing to xenstore: {writes:?}"
    );
    assert_eq!(
        h.forward_rules(),
        vec![out_rule("vif1.0-emu"), in_rule("vif1.0-emu")],
        "taps get the rules too"
    );
    assert!(
        ping_retry(&t.ns, LAN_ADDR, 5),
        "HVM guest cannot reach the LAN through the tap"
    );

    let r = h.libxl_ioemu("vif-bridge", 1, 0).run(REMOVE_TAP);
    assert_ok(&h, &r, "remove type_if=tap");
    assert_released(&h, "vif1.0-emu");
    assert!(
        h.forward_rules().is_empty(),
        "rules left: {:?}",
        h.forward_rules()
    );
}

#[test]
fn vc03_wrong_command_and_type_pairs_do_nothing() {
    let Some((h, _g)) = admin_bridge_host("vb_pairs", &[]) else {
        return;
    };
    let before = h.snapshot();
    for args in [
        &["online", "type_if=tap"][..],
        &["offline", "type_if=tap"][..],
        &["add", "type_if=vif"][..],
        &["remove", "type_if=vif"][..],
    ] {
        let r = h.libxl_ioemu("vif-bridge", 1, 0).run(args);
        assert_ok(&h, &r, &format!("{args:?} (VC-03: a silent no-op)"));
        assert_same(&before, &h.snapshot(), &format!("{args:?}"));
        assert_eq!(h.hotplug_status(1, 0).as_deref(), Some(""));
    }
}

#[test]
fn hk01_hook_runs_after_the_work_and_before_connected() {
    let Some((h, _g)) = admin_bridge_host("vb_hook", &[]) else {
        return;
    };
    let out = h.scratch.join("hook.out");
    h.add_hook(
        "10-test.hook",
        &format!(
            "echo \"$command $dev $bridge\" >> {out}\n\
             echo \"status=$(XENSTORE_FAKE_DIR={xs} {bin}/xenstore-read backend/vif/1/0/hotplug-status)\" >> {out}\n\
             echo \"master=$(cat /sys/class/net/$dev/master/uevent 2>/dev/null | sed -n 's/^INTERFACE=//p')\" >> {out}\n\
             echo \"vars=$vif $type_if $XENBUS_PATH\" >> {out}",
            out = out.display(),
            xs = h.xenstore_dir.display(),
            bin = h.fake_bin.display(),
        ),
    );
    // not executable: must be skipped (HK-01)
    let skipped = h.script_dir.join("vif-post.d/20-skipped.hook");
    std::fs::write(&skipped, format!("echo skipped >> {}\n", out.display())).unwrap();
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "online with a hook");
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.get(..3).unwrap_or(&lines[..]),
        ["online vif1.0 xenbr0", "status=", "master=xenbr0"],
        "the hook ran once, saw command/dev/bridge, ran after the port was set up and before \
         hotplug-status=connected (HK-01/HK-02)\n{}",
        h.explain(&r)
    );
    let vars = lines.get(3).copied().unwrap_or("");
    assert!(
        vars.starts_with("vars=vif1.0 vif ")
            && vars.ends_with("backend/vif/1/0")
            && lines.len() == 4,
        "hooks see vif, type_if and XENBUS_PATH (HK-02): {lines:?}"
    );
    assert_eq!(h.hotplug_status(1, 0).as_deref(), Some("connected"));
}

#[test]
fn hk02_failing_hook_is_fatal_and_rolled_back() {
    let Some((h, _g)) = admin_bridge_host("vb_hookfail", &[]) else {
        return;
    };
    let rules_before = h.forward_rules();
    h.add_hook("10-fail.hook", "echo hook failing >&2\nexit 3");
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_reported(&h, &r, "online with a failing hook", "");
    assert!(
        h.master_of("vif1.0").is_none(),
        "rolled back: vif1.0 must not stay a port\n{}",
        h.explain(&r)
    );
    assert_eq!(
        h.forward_rules(),
        rules_before,
        "rolled back: no rules left"
    );
}

#[test]
fn vb01_an_empty_bridge_key_means_auto_detection() {
    // XS-02: a present but empty key reads as "", and an empty bridge is auto-detected.
    let Some((h, _g)) = admin_bridge_host("vb_autodet", &[("bridge", "")]) else {
        return;
    };
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "online with bridge=\"\"");
    assert_port(&h, "vif1.0", "xenbr0", 1500);
    assert_eq!(h.hotplug_status(1, 0).as_deref(), Some("connected"));
}

#[test]
fn ipt04_a_cidr_in_ip_is_kept_as_written() {
    let Some((h, _g)) = admin_bridge_host("vb_cidr", &[("ip", "192.0.2.48/28")]) else {
        return;
    };
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "online with ip=192.0.2.48/28");
    assert_eq!(
        h.forward_rules(),
        vec![
            out_rule("vif1.0"),
            dhcp_rule("vif1.0"),
            "-A FORWARD -s 192.0.2.48/28 -m physdev --physdev-in vif1.0 --physdev-is-bridged -j ACCEPT"
                .to_string(),
        ]
    );
}

#[test]
fn vb07_offline_of_a_vif_that_never_came_online_is_harmless() {
    let Some((h, _g)) = admin_bridge_host("vb_offnever", &[("ip", "192.0.2.51")]) else {
        return;
    };
    let before = h.snapshot();
    let r = h.libxl("vif-bridge", 1, 0).run(OFFLINE);
    assert_ok(&h, &r, "offline without a previous online");
    assert_same(&before, &h.snapshot(), "offline without online");
}

#[test]
fn vc07_tap_with_vifname_becomes_vifname_emu() {
    let Some(mut h) = host!("vb_tapname").build() else {
        return;
    };
    h.make_admin_bridge("xenbr0");
    h.add_tap(1, 0);
    h.xs_write_backend(1, 0, &[("type", "vif_ioemu"), ("vifname", "web0")]);
    let r = h.libxl_ioemu("vif-bridge", 1, 0).run(ADD_TAP);
    assert_ok(&h, &r, "add type_if=tap with vifname=web0");
    assert!(
        h.link("vif1.0-emu").is_none(),
        "the tap should have been renamed"
    );
    assert_port(&h, "web0-emu", "xenbr0", 1500);
    let r = h.libxl_ioemu("vif-bridge", 1, 0).run(REMOVE_TAP);
    assert_ok(&h, &r, "remove type_if=tap with vifname=web0");
    assert_released(&h, "web0-emu");
    assert!(
        h.forward_rules().is_empty(),
        "rules left: {:?}",
        h.forward_rules()
    );
}
