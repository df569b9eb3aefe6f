//! `xennet boot start|stop` (issue 16, what the systemd unit runs): the config file's `mode=`
//! names the network script and its other lines the settings; the host ends up as the script
//! alone would leave it, and `stop` gives everything back.

mod common;

use common::*;
use xennet_tests::*;

fn conf(h: &Host, text: &str) -> String {
    let p = h.scratch.join("xen-netscripts.conf");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn boot<'h>(h: &'h Host, conf: &str) -> Call<'h> {
    h.script("xennet").env("XENNET_CONF", conf)
}

#[test]
fn mode_bridge_builds_the_bridge_at_boot_and_stop_gives_the_network_back() {
    let Some(h) = host!("boot_bridge").build() else {
        return;
    };
    let before = h.snapshot();
    let c = conf(
        &h,
        "# example\nmode=bridge\nnetdev=eth0\nconfirm=30\nip=192.0.2.99\n",
    );
    let r = boot(&h, &c).run(&["boot", "start"]);
    assert_ok(&h, &r, "xennet boot start");
    assert!(
        r.stdout.contains("network-bridge start netdev=eth0") && !r.stdout.contains("confirm"),
        "{}",
        r.stdout
    );
    assert_eq!(
        h.master_of("peth0").as_deref(),
        Some("eth0"),
        "{}",
        h.explain(&r)
    );
    assert_eq!(
        snapshot::addrs(&h.dom0, "eth0", "inet"),
        vec![format!("{DOM0_ADDR}/24")]
    );
    assert!(ping(&h.dom0, LAN_ADDR), "dom0 lost the LAN");
    assert!(boot(&h, &c).run(&["boot", "status"]).success());
    assert_ok(&h, &boot(&h, &c).run(&["boot", "stop"]), "xennet boot stop");
    assert_same(&before, &h.snapshot(), "after boot stop");
}

#[test]
fn mode_nat_and_the_other_settings_reach_network_nat() {
    let Some(h) = host!("boot_nat").build() else {
        return;
    };
    cmd::ns_exec(
        &h.dom0,
        &["iptables", "-w", "-t", "nat", "-P", "POSTROUTING", "ACCEPT"],
    )
    .ok();
    let before = h.snapshot();
    let c = conf(&h, "mode=nat\ndhcp=no\n");
    assert_ok(&h, &boot(&h, &c).run(&["boot", "start"]), "boot start");
    let nat = cmd::ns_exec(&h.dom0, &["iptables-save", "-t", "nat"])
        .ok()
        .to_string();
    assert!(
        nat.contains("-A POSTROUTING -o eth0 -j MASQUERADE"),
        "{nat}"
    );
    assert_ok(&h, &boot(&h, &c).run(&["boot", "stop"]), "boot stop");
    assert_same(&before, &h.snapshot(), "after boot stop");
}

#[test]
fn no_mode_does_nothing_and_a_bad_mode_or_value_is_refused() {
    let Some(h) = host!("boot_none").build() else {
        return;
    };
    let before = h.snapshot();
    for text in ["mode=none\nnetdev=eth0\n", "# nothing\n"] {
        let r = boot(&h, &conf(&h, text)).run(&["boot", "start"]);
        assert_ok(&h, &r, "boot start without a mode");
        assert!(
            r.stdout.contains("no network mode to start"),
            "{}",
            r.stdout
        );
    }
    for (text, names) in [
        ("mode=bridged\n", "mode=\"bridged\""),
        ("mode=bridge\nnetdev=eth0;id\n", "eth0;id"),
    ] {
        let r = boot(&h, &conf(&h, text)).run(&["boot", "start"]);
        assert_failed(&h, &r, text);
        assert!(r.stderr.contains(names), "{text}: {}", r.stderr);
    }
    assert_same(&before, &h.snapshot(), "refused boots");
}
