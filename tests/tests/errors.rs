//! Failure paths: every failure is reported through `hotplug-error`/`hotplug-status=error`
//! (GEN-10, GEN-11, XS-03), names the bad value, and leaves the host as it was (validate first,
//! then apply).

mod common;

use common::*;
use xennet_tests::*;

/// Runs `online` and checks the common failure protocol; returns the hotplug-error text.
#[track_caller]
fn online_fails_cleanly(h: &Host, what: &str) -> String {
    let before = h.snapshot();
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    let err = assert_reported(h, &r, what, "");
    assert_same(&before, &h.snapshot(), what);
    err
}

#[test]
fn vb05_missing_bridge_names_it_and_where_it_came_from() {
    let Some((h, _g)) = admin_bridge_host("err_nobr", &[("bridge", "nosuchbr")]) else {
        return;
    };
    let err = online_fails_cleanly(&h, "online with bridge=nosuchbr");
    let prefix = "Could not find bridge device nosuchbr";
    assert!(err.starts_with(prefix), "VB-05 message: {err:?}");
    let rest = &err[prefix.len()..];
    assert!(
        rest.contains("xenstore") || rest.contains("/bridge"),
        "the message should say the name came from the backend key: {err:?}"
    );
    assert!(h.master_of("vif1.0").is_none());
}

#[test]
fn vb05_a_link_that_is_not_a_bridge_is_refused_cleanly() {
    let Some((h, _g)) = admin_bridge_host("err_notbr", &[("bridge", "eth0")]) else {
        return;
    };
    let err = online_fails_cleanly(&h, "online with bridge=eth0 (a bridge port, not a bridge)");
    assert!(
        err.contains("eth0"),
        "the message should name eth0: {err:?}"
    );
}

#[test]
fn vc05_missing_xenbus_path_is_named_on_stderr() {
    let Some((h, _g)) = admin_bridge_host("err_noxp", &[]) else {
        return;
    };
    let before = h.snapshot();
    let r = h.libxl("vif-bridge", 1, 0).unset("XENBUS_PATH").run(ONLINE);
    assert_failed(&h, &r, "online without XENBUS_PATH");
    assert!(
        r.stderr.contains("XENBUS_PATH"),
        "stderr should name XENBUS_PATH:\n{}",
        h.explain(&r)
    );
    assert_eq!(
        h.hotplug_status(1, 0).as_deref(),
        Some(""),
        "nowhere to report, nothing written"
    );
    assert_same(&before, &h.snapshot(), "online without XENBUS_PATH");
    // empty counts as missing (VC-05)
    let r = h
        .libxl("vif-bridge", 1, 0)
        .env("XENBUS_PATH", "")
        .run(ONLINE);
    assert_failed(&h, &r, "online with an empty XENBUS_PATH");
    assert!(r.stderr.contains("XENBUS_PATH"), "{}", h.explain(&r));
}

#[test]
fn vc05_missing_vif_is_reported_through_xenstore() {
    let Some((h, _g)) = admin_bridge_host("err_novif", &[]) else {
        return;
    };
    let before = h.snapshot();
    let r = h.libxl("vif-bridge", 1, 0).unset("vif").run(ONLINE);
    assert_reported(&h, &r, "online without vif", "vif");
    assert_same(&before, &h.snapshot(), "online without vif");
}

#[test]
fn vc01_invalid_command_word() {
    let Some((h, _g)) = admin_bridge_host("err_cmd", &[]) else {
        return;
    };
    let before = h.snapshot();
    let r = h
        .libxl("vif-bridge", 1, 0)
        .run(&["frobnicate", "type_if=vif"]);
    assert_reported(&h, &r, "frobnicate (VC-01)", "Invalid command: frobnicate");
    assert_same(&before, &h.snapshot(), "invalid command");
}

#[test]
fn vc02_unknown_interface_type() {
    let Some((h, _g)) = admin_bridge_host("err_type", &[]) else {
        return;
    };
    let before = h.snapshot();
    let r = h
        .libxl("vif-bridge", 1, 0)
        .run(&["online", "type_if=bogus"]);
    assert_failed(&h, &r, "type_if=bogus");
    assert_ne!(h.hotplug_status(1, 0).as_deref(), Some("connected"));
    assert_same(&before, &h.snapshot(), "unknown type_if");
}

#[test]
fn vifname_too_long_is_refused_before_anything_changes() {
    let long = "averyverylongname"; // 17 bytes > IFNAMSIZ-1
    let Some((h, _g)) = admin_bridge_host("err_vnlong", &[("vifname", long)]) else {
        return;
    };
    let err = online_fails_cleanly(&h, "online with a 17-byte vifname");
    assert!(
        err.contains(long),
        "hotplug-error should name the value: {err:?}"
    );
    assert!(h.link("vif1.0").is_some(), "vif1.0 must not be renamed");
}

#[test]
fn vifname_of_exactly_16_bytes_is_refused() {
    let name = "abcdefghijklmnop"; // 16 bytes
    let Some((h, _g)) = admin_bridge_host("err_vn16", &[("vifname", name)]) else {
        return;
    };
    let err = online_fails_cleanly(&h, "online with a 16-byte vifname");
    assert!(
        err.contains(name),
        "hotplug-error should name the value: {err:?}"
    );
}

#[test]
fn vifname_with_a_slash_is_refused() {
    let Some((h, _g)) = admin_bridge_host("err_vnslash", &[("vifname", "web/0")]) else {
        return;
    };
    let err = online_fails_cleanly(&h, "online with vifname=web/0");
    assert!(
        err.contains("web/0"),
        "hotplug-error should name the value: {err:?}"
    );
    assert!(h.link("vif1.0").is_some(), "vif1.0 must not be renamed");
}

#[test]
fn malformed_ip_is_refused_and_adds_no_rules() {
    let Some((h, _g)) = admin_bridge_host("err_ip", &[("ip", "192.0.2.999")]) else {
        return;
    };
    let rules = h.forward_rules();
    let err = online_fails_cleanly(&h, "online with ip=192.0.2.999");
    assert!(
        err.contains("192.0.2.999"),
        "hotplug-error should name the value: {err:?}"
    );
    assert_eq!(h.forward_rules(), rules);
}

#[test]
fn malformed_mac_is_refused() {
    for (i, mac) in ["00:16:3e:zz:00:01", "01:16:3e:00:00:01"]
        .into_iter()
        .enumerate()
    {
        let Some((h, _g)) = admin_bridge_host(&format!("err_mac{i}"), &[("mac", mac)]) else {
            return;
        };
        let err = online_fails_cleanly(&h, &format!("online with mac={mac}"));
        assert!(
            err.contains(mac),
            "hotplug-error should name {mac}: {err:?}"
        );
    }
}

#[test]
fn gen03_shell_syntax_in_an_argument_is_never_executed() {
    let Some((h, _g)) = admin_bridge_host("err_gen03", &[]) else {
        return;
    };
    // Without the backend key, the argument is where the bridge name comes from (GEN-05).
    h.xs_rm(&format!("{}/bridge", h.backend_path(1, 0)));
    let pwned = h.scratch.join("pwned");
    let arg = format!("bridge=x;touch {}", pwned.display());
    let before = h.snapshot();
    let r = h
        .libxl("vif-bridge", 1, 0)
        .run(&["online", "type_if=vif", &arg]);
    assert!(
        !pwned.exists(),
        "GEN-03: the argument was executed by a shell"
    );
    assert_failed(&h, &r, "online with bridge=x;touch …");
    assert_eq!(
        h.hotplug_status(1, 0).as_deref(),
        Some("error"),
        "{}",
        h.explain(&r)
    );
    assert_same(&before, &h.snapshot(), "online with bridge=x;touch …");

    let arg = format!("bridge=$(touch {})", pwned.display());
    let r = h
        .libxl("vif-bridge", 1, 0)
        .run(&["online", "type_if=vif", &arg]);
    assert!(!pwned.exists(), "GEN-03: $(…) in an argument was executed");
    assert_failed(&h, &r, "online with bridge=$(touch …)");
    assert_same(&before, &h.snapshot(), "online with bridge=$(touch …)");
}

#[test]
fn gen03_network_bridge_never_executes_arguments() {
    let Some(h) = host!("err_nbgen03").build() else {
        return;
    };
    let pwned = h.scratch.join("pwned");
    let before = h.snapshot();
    for arg in [
        format!("netdev=x;touch {}", pwned.display()),
        format!("bridge=$(touch {})", pwned.display()),
    ] {
        let r = h.script("network-bridge").run(&["start", &arg]);
        assert!(!pwned.exists(), "GEN-03: {arg} was executed");
        assert_failed(&h, &r, &format!("network-bridge start {arg}"));
        assert_same(
            &before,
            &h.snapshot(),
            &format!("network-bridge start {arg}"),
        );
    }
}

#[test]
fn vb01_no_bridge_anywhere_is_reported() {
    let Some(mut h) = host!("err_nobridge").build() else {
        return;
    };
    h.add_guest(1, 0);
    h.xs_write_backend(1, 0, &[]);
    h.xs_rm(&format!("{}/bridge", h.backend_path(1, 0)));
    let err = online_fails_cleanly(&h, "online with no bridge key and no bridge on the host");
    assert!(
        err.contains("Could not find bridge, and none was specified"),
        "VB-01 message: {err:?}"
    );
}

#[test]
fn vc07_vifname_taken_by_another_link_is_refused() {
    let Some((h, _g)) = admin_bridge_host("err_vntaken", &[("vifname", "web0")]) else {
        return;
    };
    // another link of that name (no `dummy` in this kernel: a veth pair)
    cmd::ip_must(
        &h.dom0,
        &[
            "link", "add", "name", "web0", "type", "veth", "peer", "name", "web0p",
        ],
    );
    let err = online_fails_cleanly(&h, "online with vifname=web0 taken by another link");
    assert!(
        err.contains("Cannot rename interface vif1.0. An interface with name web0 already exists."),
        "VC-07 message: {err:?}"
    );
    assert!(h.link("vif1.0").is_some(), "vif1.0 must keep its name");
}

/// GEN-03 with payloads short enough to be valid interface names by length, so that the
/// character check (not the length check) must stop them; `>z` would create `z` in the
/// working directory if a shell ever saw the value.
#[test]
fn gen03_short_shell_payloads_are_refused_by_their_characters() {
    let Some((h, _g)) = admin_bridge_host("err_gen03s", &[]) else {
        return;
    };
    h.xs_rm(&format!("{}/bridge", h.backend_path(1, 0)));
    let z = h.scratch.join("z");
    let before = h.snapshot();
    for payload in ["a;>z", "$(>z)", "`>z`", "a|>z", "a&>z"] {
        let arg = format!("bridge={payload}");
        let r = h
            .libxl("vif-bridge", 1, 0)
            .cwd(&h.scratch)
            .run(&["online", "type_if=vif", &arg]);
        assert!(!z.exists(), "GEN-03: {arg} was executed by a shell");
        assert_failed(&h, &r, &format!("online with {arg}"));
        let err = h.hotplug_error(1, 0).unwrap_or_default();
        assert!(
            err.contains(payload),
            "hotplug-error should name {payload:?}: {err:?}"
        );
        assert_same(&before, &h.snapshot(), &format!("online with {arg}"));
    }
}
