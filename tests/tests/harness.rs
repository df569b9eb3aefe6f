//! Tests of the test bed itself: the fake xenstore clients, the namespace topology, snapshots
//! and clean-up. If these fail, no other result can be trusted.

use std::process::Command;
use xennet_tests::*;

/// Runs a fake client by name (through a symlink, as the binaries will) against `dir`.
fn xs(dir: &std::path::Path, client: &str, args: &[&str]) -> (i32, String, String) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join(client);
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_xenstore-fake"), &link).unwrap();
    }
    let store = dir.join("store");
    std::fs::create_dir_all(&store).unwrap();
    let o = Command::new(&link)
        .args(args)
        .env("XENSTORE_FAKE_DIR", &store)
        .env_remove("XENSTORE_FAKE_DOMID")
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn xenstore_fake_read_write_semantics() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    // write pairs, parents created; relative paths live under /local/domain/0 (XS-09)
    assert_eq!(
        xs(
            p,
            "xenstore-write",
            &[
                "backend/vif/1/0/bridge",
                "xenbr0",
                "/local/domain/1/device/vif/0/mtu",
                "1500"
            ]
        )
        .0,
        0
    );
    let (c, out, _) = xs(
        p,
        "xenstore-read",
        &[
            "/local/domain/0/backend/vif/1/0/bridge",
            "/local/domain/1/device/vif/0/mtu",
        ],
    );
    assert_eq!((c, out.as_str()), (0, "xenbr0\n1500\n"));
    // empty value: present, prints an empty line
    xs(p, "xenstore-write", &["backend/vif/1/0/hotplug-status", ""]);
    let (c, out, _) = xs(p, "xenstore-read", &["backend/vif/1/0/hotplug-status"]);
    assert_eq!((c, out.as_str()), (0, "\n"));
    // missing key: message, exit 1, stop at the first failure
    let (c, out, err) = xs(
        p,
        "xenstore-read",
        &[
            "backend/vif/1/0/bridge",
            "backend/vif/1/0/nope",
            "backend/vif/1/0/bridge",
        ],
    );
    assert_eq!(c, 1);
    assert_eq!(out, "xenbr0\n");
    assert_eq!(
        err.trim(),
        "xenstore-read: couldn't read path backend/vif/1/0/nope"
    );
    // odd argument count is a usage error
    assert_eq!(xs(p, "xenstore-write", &["a/b"]).0, 1);
    // exists / list
    assert_eq!(xs(p, "xenstore-exists", &["backend/vif/1/0"]).0, 0);
    assert_eq!(xs(p, "xenstore-exists", &["backend/vif/1/9"]).0, 1);
    let (c, out, _) = xs(p, "xenstore-list", &["backend/vif/1/0"]);
    assert_eq!((c, out.as_str()), (0, "bridge\nhotplug-status\n"));
    // ls
    let (c, out, _) = xs(p, "xenstore-ls", &["/local/domain/1"]);
    assert_eq!(c, 0);
    assert!(out.contains("mtu = \"1500\""), "{out}");
    // rm: subtree; missing is an error
    assert_eq!(xs(p, "xenstore-rm", &["backend/vif/1/0"]).0, 0);
    assert_eq!(xs(p, "xenstore-exists", &["backend/vif/1/0/bridge"]).0, 1);
    let (c, _, err) = xs(p, "xenstore-rm", &["backend/vif/1/0"]);
    assert_eq!(c, 1);
    assert!(err.contains("could not remove path"), "{err}");
    // invalid paths are refused like xenstored does
    assert_eq!(xs(p, "xenstore-write", &["backend/../x", "1"]).0, 1);
    // every call was logged
    let calls = std::fs::read_to_string(p.join("store/.calls")).unwrap();
    assert!(calls.lines().count() >= 12, "{calls}");
    assert!(
        calls.starts_with("xenstore-write backend/vif/1/0/bridge xenbr0 "),
        "{calls}"
    );
}

#[test]
fn xenstore_fake_needs_its_dir_and_honours_domid() {
    let d = tempfile::tempdir().unwrap();
    let link = d.path().join("xenstore-read");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_xenstore-fake"), &link).unwrap();
    let o = Command::new(&link)
        .arg("x")
        .env_remove("XENSTORE_FAKE_DIR")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("XENSTORE_FAKE_DIR"));

    let w = d.path().join("xenstore-write");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_xenstore-fake"), &w).unwrap();
    let st = Command::new(&w)
        .args(["device/vif/0/state", "4"])
        .env("XENSTORE_FAKE_DIR", d.path())
        .env("XENSTORE_FAKE_DOMID", "7")
        .status()
        .unwrap();
    assert!(st.success());
    let s = xsfake::Store::new(d.path(), 0);
    assert_eq!(
        s.read_string("/local/domain/7/device/vif/0/state")
            .as_deref(),
        Some("4")
    );

    // called by an unknown name
    let o = Command::new(env!("CARGO_BIN_EXE_xenstore-fake"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn topology_pings_and_cleanup() {
    let Some(mut h) = host!("harness_topo").build() else {
        return;
    };
    let names = [h.lan.clone(), h.dom0.clone()];
    // dom0 <-> lan
    assert!(
        ping_retry(&h.dom0, LAN_ADDR, 5),
        "dom0 cannot reach the LAN"
    );
    assert!(ping_retry(&h.lan, DOM0_ADDR, 5), "LAN cannot reach dom0");
    assert_eq!(
        snapshot::default_routes4(&h.dom0),
        vec![(LAN_ADDR.to_string(), "eth0".to_string())]
    );
    // a guest: vif down in dom0, no bridge yet, so no way out
    let g = h.add_guest(1, 0);
    assert_eq!(g.vif, "vif1.0");
    assert_eq!(g.addr.as_deref(), Some("192.0.2.51"));
    let l = h.link("vif1.0").expect("vif1.0 exists");
    assert!(!snapshot::is_up(&l), "the backend starts down: {l}");
    assert!(
        !ping(&g.ns, LAN_ADDR),
        "guest must not reach the LAN before the script ran"
    );
    // an admin bridge gives the guest a way out once the vif is a port
    h.make_admin_bridge("xenbr0");
    cmd::ip_must(
        &h.dom0,
        &["link", "set", "dev", "vif1.0", "master", "xenbr0", "up"],
    );
    assert!(
        ping_retry(&g.ns, LAN_ADDR, 5),
        "guest cannot reach the LAN through xenbr0"
    );
    assert!(ping_retry(&h.dom0, LAN_ADDR, 5));
    // a tap stand-in
    let t = h.add_tap(2, 0);
    assert_eq!(t.vif, "vif2.0-emu");
    assert!(h.link("vif2.0-emu").is_some());
    let guest = g.ns.clone();
    drop(h);
    let list = cmd::must(&["ip", "netns", "list"]);
    for n in names.iter().chain([&guest]) {
        assert!(
            !list.lines().any(|l| l.split_whitespace().next() == Some(n)),
            "namespace {n} left behind"
        );
    }
}

#[test]
fn snapshots_are_stable_and_see_changes() {
    let Some(h) = host!("harness_snap").build() else {
        return;
    };
    cmd::ip_must(&h.dom0, &["addr", "add", "2001:db8::10/64", "dev", "eth0"]);
    let a = h.snapshot();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let b = h.snapshot();
    assert_same(&a, &b, "two snapshots in a row");
    assert!(
        a.section("links")
            .iter()
            .any(|l| l.starts_with("eth0 kind=veth master=- up mtu=1500")),
        "{}",
        a.render()
    );
    assert!(
        a.section("addresses")
            .iter()
            .any(|l| l.contains("local=192.0.2.10 ") && l.contains("prefixlen=24")),
        "{}",
        a.render()
    );
    assert!(
        a.section("addresses")
            .iter()
            .any(|l| l.contains("local=2001:db8::10 ")),
        "{}",
        a.render()
    );
    assert!(
        a.section("routes4")
            .iter()
            .any(|l| l.contains("dst=default") && l.contains("gateway=192.0.2.1")),
        "{}",
        a.render()
    );
    assert!(
        a.section("iptables")
            .contains(&":FORWARD ACCEPT".to_string()),
        "{}",
        a.render()
    );
    assert!(
        a.section("sysctls")
            .contains(&"net/ipv4/ip_forward:0".to_string()),
        "{}",
        a.render()
    );

    // each kind of change shows up in the diff
    cmd::ip_must(&h.dom0, &["link", "set", "dev", "eth0", "mtu", "1400"]);
    cmd::ip_must(
        &h.dom0,
        &[
            "addr",
            "add",
            "198.51.100.10/24",
            "dev",
            "eth0",
            "label",
            "eth0:1",
        ],
    );
    cmd::ip_must(
        &h.dom0,
        &["route", "add", "203.0.113.0/24", "via", "192.0.2.1"],
    );
    cmd::ns_exec(
        &h.dom0,
        &["iptables", "-w", "-A", "FORWARD", "-j", "ACCEPT"],
    )
    .ok();
    cmd::ns_exec(
        &h.dom0,
        &["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"],
    )
    .ok();
    let c = h.snapshot();
    let d = a.diff(&c).expect("changes must be seen");
    for needle in [
        "+ eth0 kind=veth master=- up mtu=1400",
        "label=eth0:1",
        "dst=203.0.113.0/24",
        "+ -A FORWARD -j ACCEPT",
        "+ net/ipv4/ip_forward:1",
    ] {
        assert!(d.contains(needle), "diff lacks {needle:?}:\n{d}");
    }
    assert_eq!(h.forward_rules(), vec!["-A FORWARD -j ACCEPT".to_string()]);
}

#[test]
fn libxl_style_call_sees_the_fake_xenstore() {
    let Some(h) = host!("harness_call").build() else {
        return;
    };
    h.xs_write_backend(3, 1, &[("bridge", "br9"), ("ip", "192.0.2.53")]);
    assert_eq!(h.xs_read("backend/vif/3/1/bridge").as_deref(), Some("br9"));
    assert_eq!(
        h.xs_read("/local/domain/3/device/vif/1/mtu").as_deref(),
        Some("1500")
    );
    assert_eq!(h.hotplug_status(3, 1).as_deref(), Some(""));
    // Use `env` itself as the "script" to see exactly what a binary would get.
    let d = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/usr/bin/env", d.path().join("show-env")).unwrap();
    let mut c = h.libxl("show-env", 3, 1);
    c = c.env("PLACEHOLDER", "1");
    let argv = c.argv(&[]);
    let mut argv: Vec<String> = argv;
    // swap the binary path for our `env` symlink
    let last = argv.len() - 1;
    argv[last] = d.path().join("show-env").display().to_string();
    let o = cmd::run(&argv);
    let out = o.ok();
    for want in [
        "XENBUS_PATH=backend/vif/3/1",
        "XENBUS_TYPE=vif",
        "XENBUS_BASE_PATH=backend",
        "vif=vif3.1",
        "netdev=",
        "script=/etc/xen/scripts/show-env",
        "XENSTORE_FAKE_DIR=",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(want)),
            "missing {want}:\n{out}"
        );
    }
    // and the fake clients work from inside dom0 with that PATH
    let o = cmd::ns_exec(
        &h.dom0,
        &[
            "env",
            "-i",
            &format!("PATH={}:/usr/bin:/bin", h.fake_bin.display()),
            &format!("XENSTORE_FAKE_DIR={}", h.xenstore_dir.display()),
            "sh",
            "-c",
            "xenstore-write backend/vif/3/1/hotplug-status connected && xenstore-read backend/vif/3/1/bridge",
        ],
    );
    assert_eq!(o.ok().trim(), "br9");
    assert_eq!(h.hotplug_status(3, 1).as_deref(), Some("connected"));
}

#[test]
#[ignore = "prints a snapshot for eyeballing"]
fn print_snapshot() {
    let Some(mut h) = host!("harness_print").build() else {
        return;
    };
    h.add_guest(1, 0);
    h.make_admin_bridge("xenbr0");
    println!("{}", h.snapshot().render());
}

#[test]
#[ignore = "prints what one online run asks of xenstore and logs"]
fn print_online_calls() {
    let Some(mut h) = host!("harness_calls").build() else {
        return;
    };
    h.make_admin_bridge("xenbr0");
    h.add_guest(1, 0);
    h.xs_write_backend(1, 0, &[("ip", "192.0.2.51")]);
    let r = h.libxl("vif-bridge", 1, 0).run(&["online", "type_if=vif"]);
    println!("{}", h.explain(&r));
    for c in h.xs_calls() {
        println!("CALL {c}");
    }
    let r = h
        .libxl("vif-bridge", 1, 0)
        .env("XENBUS_PATH", "")
        .run(&["online", "type_if=vif"]);
    println!("{}", h.explain(&r));
}
