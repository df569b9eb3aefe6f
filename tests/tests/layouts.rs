//! `network-bridge layout=netdev|netloop|xenbr` (issue 7; spec §8 and §8.5, NL-*): each layout's
//! topology (links, masters, MACs, flags, addresses, routes), a ping from dom0 and from a guest
//! whose vif names `bridge=xenbr0`, `status`, `xennet map`, exact restore on `stop`, and a failure
//! at every host change of start and stop rolled back.

mod common;

use common::*;
use serde_json::Value;
use xennet_tests::*;

/// What a real dom0 NIC carries: a labelled second address, one in another subnet, a global
/// IPv6 address, a static route through the LAN's router, and the default route (test bed).
fn add_extra(h: &Host) {
    let nic = h.nic.as_str();
    let label = format!("{nic}:1");
    for args in [
        &["addr", "add", "192.0.2.11/24", "dev", nic, "label", &label][..],
        &["addr", "add", "198.51.100.10/24", "dev", nic],
        &["addr", "add", "2001:db8::10/64", "dev", nic, "nodad"],
        &[
            "route",
            "add",
            "203.0.113.0/24",
            "via",
            "192.0.2.1",
            "dev",
            nic,
            "proto",
            "static",
        ],
    ] {
        cmd::ip_must(&h.dom0, args);
    }
    snapshot::settle(&h.dom0);
}

fn mac_of(h: &Host, dev: &str) -> String {
    h.link(dev)
        .and_then(|l| l["address"].as_str().map(str::to_string))
        .unwrap_or_default()
}

fn flags_of(h: &Host, dev: &str) -> Vec<String> {
    h.link(dev)
        .and_then(|l| l["flags"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect()
}

/// dom0's addresses and routes, all on `dev`.
#[track_caller]
fn assert_dom0_config_on(h: &Host, dev: &str) {
    assert_eq!(
        snapshot::addrs(&h.dom0, dev, "inet"),
        vec!["192.0.2.10/24", "192.0.2.11/24", "198.51.100.10/24"],
        "dom0's IPv4 addresses belong on {dev}"
    );
    assert_eq!(
        snapshot::addrs(&h.dom0, dev, "inet6"),
        vec!["2001:db8::10/64"],
        "dom0's IPv6 address belongs on {dev}"
    );
    assert_eq!(
        snapshot::default_routes4(&h.dom0),
        vec![(LAN_ADDR.to_string(), dev.to_string())],
        "the default route leaves through {dev}"
    );
    assert!(
        cmd::ip_must(&h.dom0, &["route", "show", "dev", dev])
            .contains("203.0.113.0/24 via 192.0.2.1 proto static"),
        "the static route moves to {dev}"
    );
}

#[track_caller]
fn assert_no_addresses(h: &Host, dev: &str) {
    assert!(
        snapshot::addrs(&h.dom0, dev, "inet").is_empty()
            && snapshot::addrs(&h.dom0, dev, "inet6").is_empty(),
        "{dev} must carry no address: {:?}",
        snapshot::addr_info(&h.dom0, dev)
    );
}

#[track_caller]
fn assert_bridge(h: &Host, name: &str, ports: &[&str], mac: &str) -> Value {
    let b = h
        .link(name)
        .unwrap_or_else(|| panic!("no bridge {name}: {:?}", snapshot::links(&h.dom0)));
    assert_eq!(snapshot::kind_of(&b), Some("bridge"), "{name}: {b}");
    assert!(snapshot::is_up(&b), "{name} should be up: {b}");
    let info = &b["linkinfo"]["info_data"];
    assert_eq!(info["stp_state"].as_u64(), Some(0), "STP off: {b}");
    assert_eq!(info["forward_delay"].as_u64(), Some(0), "delay 0: {b}");
    assert_eq!(b["address"].as_str(), Some(mac), "{name}'s MAC: {b}");
    assert_eq!(snapshot::ports_of(&h.dom0, name), ports, "ports of {name}");
    b
}

/// Does the bridge's forwarding table have `mac` behind `port` (the path dom0's traffic took)?
fn fdb_has(h: &Host, bridge: &str, mac: &str, port: &str) -> bool {
    let out = cmd::ns_exec(&h.dom0, &["bridge", "-j", "fdb", "show", "br", bridge]);
    let fdb: Vec<Value> = serde_json::from_str(out.stdout.trim()).unwrap_or_default();
    fdb.iter()
        .any(|e| e["mac"].as_str() == Some(mac) && e["ifname"].as_str() == Some(port))
}

/// A host with a NIC named `nic` carrying `add_extra`, and guest 1 whose vif has netback's MAC
/// and whose backend names `bridge=xenbr0` (libxl's default).
fn layout_host(name: &str, nic: &str) -> Option<(Host, Guest)> {
    let mut h = host!(name).nic(nic).build()?;
    add_extra(&h);
    let g = h.add_guest(1, 0);
    cmd::ip_must(
        &h.dom0,
        &["link", "set", "dev", &g.vif, "address", BACKEND_MAC],
    );
    h.xs_write_backend(1, 0, &[]);
    h.xs_write("/local/domain/1/name", "web1");
    Some((h, g))
}

/// The part every layout shares: dom0 and the guest reach the LAN and each other, `status`
/// names the layout and changes nothing, the guest leaves, and `stop` (with no `layout=`: it is
/// found on the host) restores the host exactly.
fn exercise(h: &Host, g: &Guest, before: &Snapshot, layout: &str, bridge: &str, map: &[&str]) {
    // A second start, with the layout named or found, changes nothing (NB-07).
    let built = h.snapshot();
    for args in [
        vec!["start".to_string(), format!("layout={layout}")],
        vec!["start".into()],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = h.script("network-bridge").run(&args);
        assert_ok(h, &r, &format!("a second {args:?}"));
        assert_same(&built, &h.snapshot(), &format!("a second {args:?}"));
    }
    assert!(
        ping_retry(&h.dom0, LAN_ADDR, 5),
        "dom0 cannot reach the LAN"
    );
    assert!(
        ping_retry(&h.lan, DOM0_ADDR, 5),
        "the LAN cannot reach dom0"
    );
    assert!(
        ping_retry(&h.dom0, LAN_ADDR6, 15),
        "dom0 cannot reach the LAN over IPv6"
    );

    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(h, &r, "vif-bridge online with bridge=xenbr0");
    assert_port(h, &g.vif, bridge, 1500);
    let guest_addr = g.addr.as_deref().unwrap();
    assert!(
        ping_retry(&g.ns, LAN_ADDR, 5),
        "the guest cannot reach the LAN"
    );
    assert!(
        ping_retry(&g.ns, DOM0_ADDR, 5),
        "the guest cannot reach dom0"
    );
    assert!(
        ping_retry(&h.lan, guest_addr, 5),
        "the LAN cannot reach the guest"
    );
    check_map(h, map, bridge);

    let still = h.snapshot();
    let r = h.script("network-bridge").run(&["status"]);
    assert_ok(h, &r, "status");
    assert!(
        r.stdout
            .contains(&format!("layout={layout} (found on this host)"))
            || layout == "netdev" && r.stdout.contains("layout=netdev"),
        "status names the layout:\n{r}"
    );
    assert!(r.stdout.contains(bridge), "status shows {bridge}:\n{r}");
    assert_same(&still, &h.snapshot(), "status");

    let r = h.libxl("vif-bridge", 1, 0).run(OFFLINE);
    assert_ok(h, &r, "vif-bridge offline");
    let r = h.script("network-bridge").run(&["stop"]);
    assert_ok(h, &r, "network-bridge stop (layout found on the host)");
    assert_same(
        before,
        &h.snapshot(),
        &format!("layout={layout}: start, stop"),
    );
    let f = flags_of(h, &h.nic);
    assert!(
        f.iter().any(|x| x == "MULTICAST") && !f.iter().any(|x| x == "NOARP"),
        "{}: ARP and multicast back on after stop: {f:?}",
        h.nic
    );
    assert!(
        ping_retry(&h.dom0, LAN_ADDR, 5),
        "dom0 lost the LAN after stop"
    );
}

#[test]
fn nl04_netloop_builds_eth0_vif0_0_xenbr0_peth0_and_stop_restores_the_nic() {
    let Some((h, g)) = layout_host("lay_netloop", "eth0") else {
        return;
    };
    let nic_mac = mac_of(&h, "eth0");
    let before = h.snapshot();
    let r = h.script("network-bridge").run(&["start", "layout=netloop"]);
    assert_ok(&h, &r, "network-bridge start layout=netloop");
    assert!(
        r.stdout.contains("layout=netloop") && r.stdout.contains("veth0/vif0.0"),
        "start says which layout it builds (NL-12):\n{r}"
    );

    // NL-04: xenbr0 with peth0 and vif0.0; the bridge's own MAC is the NIC's made local.
    let first = u8::from_str_radix(&nic_mac[..2], 16).unwrap();
    let local_first = if first & 2 == 0 { first | 2 } else { first ^ 4 };
    let local = format!("{local_first:02x}{}", &nic_mac[2..]);
    let b = assert_bridge(&h, "xenbr0", &["peth0", "vif0.0"], &local);
    assert_eq!(b["ifalias"], "xennet network-bridge layout=netloop");
    for port in ["peth0", "vif0.0"] {
        let l = h.link(port).unwrap();
        assert_eq!(l["address"].as_str(), Some(BACKEND_MAC), "{port}: {l}");
        assert!(snapshot::is_up(&l), "{port} up: {l}");
        let f = flags_of(&h, port);
        assert!(f.iter().any(|x| x == "NOARP"), "{port}: ARP off: {f:?}");
        assert!(!f.iter().any(|x| x == "MULTICAST"), "{port}: mc off: {f:?}");
        assert_no_addresses(&h, port);
    }
    // dom0's eth0 is now the veth behind vif0.0, with the NIC's MAC, addresses and routes.
    let eth0 = h.link("eth0").unwrap();
    assert_eq!(snapshot::kind_of(&eth0), Some("veth"), "{eth0}");
    assert_eq!(eth0["link"].as_str(), Some("vif0.0"), "eth0's peer: {eth0}");
    assert_eq!(eth0["address"].as_str(), Some(nic_mac.as_str()));
    assert!(eth0["master"].is_null(), "eth0 is no port: {eth0}");
    assert_eq!(
        snapshot::kind_of(&h.link("peth0").unwrap()),
        Some("veth"),
        "peth0 is the test bed's NIC, renamed"
    );
    assert!(h.link("veth0").is_none(), "veth0 was renamed eth0");
    assert_dom0_config_on(&h, "eth0");
    // dom0's own traffic crosses eth0 -> vif0.0 -> xenbr0 -> peth0.
    assert!(ping_retry(&h.dom0, LAN_ADDR, 5));
    assert!(
        fdb_has(&h, "xenbr0", &nic_mac, "vif0.0"),
        "xenbr0 learned dom0's MAC behind vif0.0"
    );
    let lan_mac = snapshot::link(&h.lan, "lan0").unwrap()["address"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        fdb_has(&h, "xenbr0", &lan_mac, "peth0"),
        "xenbr0 learned the LAN's MAC behind peth0"
    );
    exercise(
        &h,
        &g,
        &before,
        "netloop",
        "xenbr0",
        &[
            "eth0 -> vif0.0 -> xenbr0 -> peth0",
            "eth0 -> vif1.0 -> xenbr0 -> peth0",
        ],
    );
}

#[test]
fn xenbr_layout_keeps_the_nic_name_and_stop_restores_it() {
    let Some((h, g)) = layout_host("lay_xenbr", "enp0s3") else {
        return;
    };
    let nic_mac = mac_of(&h, "enp0s3");
    let before = h.snapshot();
    let r = h.script("network-bridge").run(&["start", "layout=xenbr"]);
    assert_ok(&h, &r, "network-bridge start layout=xenbr");
    let b = assert_bridge(&h, "xenbr0", &["enp0s3"], &nic_mac);
    assert_eq!(b["ifalias"], "xennet network-bridge layout=xenbr");
    let nic = h.link("enp0s3").unwrap();
    assert_eq!(nic["address"].as_str(), Some(nic_mac.as_str()), "{nic}");
    assert!(snapshot::is_up(&nic));
    assert!(h.link("penp0s3").is_none(), "no renaming in this layout");
    assert_no_addresses(&h, "enp0s3");
    assert_dom0_config_on(&h, "xenbr0");
    exercise(
        &h,
        &g,
        &before,
        "xenbr",
        "xenbr0",
        &["xenbr0 -> enp0s3", "eth0 -> vif1.0 -> xenbr0 -> enp0s3"],
    );
}

#[test]
fn netdev_layout_answers_to_xenbr0_too() {
    // The default layout on a NIC with a modern name: bridge enp0s3, port penp0s3, and the
    // alternative name xenbr0, which libxl's default bridge=xenbr0 finds.
    let Some((h, g)) = layout_host("lay_netdev", "enp0s3") else {
        return;
    };
    let nic_mac = mac_of(&h, "enp0s3");
    let before = h.snapshot();
    let r = h.script("network-bridge").run(&["start"]);
    assert_ok(&h, &r, "network-bridge start");
    assert!(
        r.stdout.contains("layout=netdev (the default)")
            && r.stdout.contains("bridge also named xenbr0"),
        "{r}"
    );
    let b = assert_bridge(&h, "enp0s3", &["penp0s3"], &nic_mac);
    assert_eq!(b["altnames"], serde_json::json!(["xenbr0"]), "{b}");
    assert_dom0_config_on(&h, "enp0s3");
    exercise(
        &h,
        &g,
        &before,
        "netdev",
        "enp0s3",
        &["enp0s3 -> penp0s3", "eth0 -> vif1.0 -> enp0s3 -> penp0s3"],
    );
}

#[test]
fn a_layout_that_is_not_one_is_refused_before_anything_changes() {
    let Some(h) = host!("lay_bad").build() else {
        return;
    };
    let before = h.snapshot();
    let r = h.script("network-bridge").run(&["start", "layout=G1"]);
    assert_failed(&h, &r, "layout=G1");
    assert!(
        r.stderr.contains("layout=\"G1\"") && r.stderr.contains("netloop"),
        "{r}"
    );
    assert_same(&before, &h.snapshot(), "a refused layout");
}

#[test]
fn stop_leaves_an_administrators_xenbr0_alone() {
    let Some(h) = host!("lay_admin").build() else {
        return;
    };
    h.make_admin_bridge("xenbr0");
    let before = h.snapshot();
    for args in [
        &["stop"][..],
        &["stop", "layout=xenbr"],
        &["start", "layout=xenbr"],
    ] {
        let r = h.script("network-bridge").run(args);
        assert_ok(&h, &r, &format!("{args:?} on an administrator's bridge"));
        assert_same(&before, &h.snapshot(), &format!("{args:?}"));
    }
}

// ---------------------------------------------------------------------------------------------
// `xennet map`

/// `xennet map` in dom0: the text has the `expect` chains (dom0's first, then the guest's), the
/// JSON has guest 1 as `web1` on `bridge` with its uplink and MACs, and the DOT renders.
fn check_map(h: &Host, expect: &[&str], bridge: &str) -> Value {
    let r = h.script("xennet").run(&["map"]);
    assert_ok(h, &r, "xennet map");
    let text = &r.stdout;
    assert!(text.starts_with("Domain-0 (domid 0)\n"), "{text}");
    let mut at = 0;
    for line in expect {
        let found = text[at..].find(&format!("  {line}\n"));
        assert!(
            found.is_some(),
            "xennet map lacks {line:?} (in order):\n{text}"
        );
        at += found.unwrap_or(0);
    }
    assert!(text.contains("web1 (domid 1)\n"), "{text}");
    let row = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("      {name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{text}"))
            .to_string()
    };
    assert!(
        row("vif1.0").ends_with(BACKEND_MAC),
        "the vif's MAC:\n{text}"
    );
    let dom0_row = row(expect[0].split(' ').next().unwrap());
    for a in [
        "192.0.2.10/24",
        "192.0.2.11/24",
        "198.51.100.10/24",
        "2001:db8::10/64",
    ] {
        assert!(dom0_row.contains(a), "dom0's {a}:\n{text}");
    }
    let r = h.script("xennet").run(&["map", "--format", "json"]);
    assert_ok(h, &r, "xennet map --format json");
    let m: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r}"));
    assert_eq!(m["xenstore"], true);
    let web1 = m["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domid"] == 1)
        .unwrap_or_else(|| panic!("no domain 1: {m:#}"));
    assert_eq!(web1["name"], "web1");
    let i = &web1["interfaces"][0];
    assert_eq!(i["name"], "eth0");
    assert_eq!(i["devid"], 0);
    assert_eq!(
        i["mac"], "00:16:3e:00:01:00",
        "the guest's MAC from xenstore"
    );
    assert_eq!(i["vif"]["name"], "vif1.0");
    assert_eq!(i["vif"]["mac"], BACKEND_MAC);
    assert_eq!(i["path"]["kind"], "bridge");
    assert_eq!(i["path"]["bridge"]["name"], bridge);
    let uplink = snapshot::ports_of(&h.dom0, bridge)
        .into_iter()
        .find(|p| !p.starts_with("vif"))
        .unwrap();
    assert_eq!(i["path"]["uplink"]["name"], uplink.as_str(), "{m:#}");
    let mac = h.link(&uplink).unwrap()["address"].clone();
    assert_eq!(i["path"]["uplink"]["mac"], mac, "{m:#}");
    let b = m["bridges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == bridge)
        .unwrap_or_else(|| panic!("no bridge {bridge}: {m:#}"));
    assert_eq!(b["uplink"], uplink.as_str());

    let r = h.script("xennet").run(&["map", "--format", "dot"]);
    assert_ok(h, &r, "xennet map --format dot");
    assert!(
        r.stdout.contains("\"l:vif1.0\" -> ") && r.stdout.contains("label=\"web1 (domid 1)\""),
        "{r}"
    );
    render_dot(&r.stdout);
    m
}

/// `dot -Tsvg` must take the graph without an error or a warning.
fn render_dot(graph: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("Graphviz `dot` is needed (apt-get install graphviz; .ci/install-deps does)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(graph.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "dot -Tsvg: {stderr}\n{graph}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
}

#[test]
fn map_shows_unattached_vifs_bridges_without_uplink_and_works_without_xenstore() {
    let Some(mut h) = host!("lay_map").build() else {
        return;
    };
    let g2 = h.add_guest(2, 0); // not online: no port, no routes
    let g3 = h.add_guest(3, 0);
    cmd::ip_must(
        &h.dom0,
        &["link", "add", "name", "br-iso", "type", "bridge"],
    );
    cmd::ip_must(
        &h.dom0,
        &["link", "set", "dev", &g3.vif, "master", "br-iso"],
    );
    h.xs_write_backend(2, 0, &[]);
    let r = h.script("xennet").run(&["map"]);
    assert_ok(&h, &r, "xennet map");
    for line in [
        "Domain-0 (domid 0)\n  eth0 -> (not bridged)\n",
        "Domain-2 (domid 2)\n  eth0 -> vif2.0 -> (not attached)\n",
        "Domain-3 (domid 3)\n  eth0 -> vif3.0 -> br-iso -> (no uplink)\n",
        "  br-iso: no uplink; ports: vif3.0\n",
    ] {
        assert!(r.stdout.contains(line), "{line:?} missing:\n{r}");
    }
    let r = h.script("xennet").run(&["map", "--format", "json"]);
    let m: Value = serde_json::from_str(&r.stdout).unwrap();
    let d2 = &m["domains"][1];
    assert_eq!(d2["domid"], 2);
    assert_eq!(d2["interfaces"][0]["path"]["kind"], "unattached");
    assert_eq!(d2["interfaces"][0]["mac"], "00:16:3e:00:02:00");
    assert!(m["bridges"][0]["uplink"].is_null(), "{m:#}");
    let r = h.script("xennet").run(&["map", "--format", "dot"]);
    render_dot(&r.stdout);
    // Without xenstore tools: names from the vif names.
    let r = h
        .script("xennet")
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .run(&["map"]);
    assert_ok(&h, &r, "xennet map without xenstore");
    assert!(r.stdout.contains("Domain-2 (domid 2)\n"), "{r}");
    assert!(r.stdout.contains("xenstore did not answer"), "{r}");
    let _ = (g2, g3);
}

#[test]
fn map_shows_the_routed_path_of_a_route_mode_vif() {
    let Some(mut h) = host!("lay_map_route").build() else {
        return;
    };
    let _g = h.add_guest(1, 0);
    h.xs_write_backend(1, 0, &[("ip", "192.0.2.51"), ("script", "vif-route")]);
    let r = h.libxl("vif-route", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "vif-route online");
    let r = h.script("xennet").run(&["map"]);
    assert_ok(&h, &r, "xennet map");
    assert!(
        r.stdout
            .contains("  eth0 -> vif1.0 -> (routed: 192.0.2.51) -> eth0\n"),
        "{r}"
    );
    let r = h.script("xennet").run(&["map", "--format", "json"]);
    let m: Value = serde_json::from_str(&r.stdout).unwrap();
    let i = &m["domains"][1]["interfaces"][0];
    assert_eq!(i["path"]["kind"], "routed", "{m:#}");
    assert_eq!(i["path"]["uplink"]["name"], "eth0");
    assert_eq!(i["addresses"], serde_json::json!(["192.0.2.51"]));
    let r = h.script("xennet").run(&["map", "--format", "dot"]);
    render_dot(&r.stdout);
}

// ---------------------------------------------------------------------------------------------
// Faults: the k-th host change fails, for every k, in start and in stop (as recovery.rs does
// for the default layout).

fn with_injector(h: &Host) {
    faults::install_host_change(&h.fake_bin, &["ip", "brctl"]);
}

fn failing_at(h: &Host, k: usize, args: &[&str]) -> Output {
    let dir = h.scratch.join("faults");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    h.script("network-bridge")
        .env("FAULT_DIR", &dir.display().to_string())
        .env("FAIL_AT", &k.to_string())
        .run(args)
}

fn no_journal(h: &Host) -> bool {
    std::fs::read_dir(&h.state_dir)
        .map(|d| {
            !d.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().ends_with(".journal"))
        })
        .unwrap_or(true)
}

/// Fails start at every host change until it gets through, then stop the same way; each
/// failure must leave the host exactly as it was. Returns how many changes start made.
fn every_step_fails_once(h: &Host, start: &[&str]) -> usize {
    let before = h.snapshot();
    let mut k = 1;
    loop {
        let r = failing_at(h, k, start);
        if r.success() {
            break;
        }
        assert!(
            r.stderr.contains("failed"),
            "start, failure {k}:\n{}",
            h.explain(&r)
        );
        assert_same(
            &before,
            &h.snapshot(),
            &format!("start failing at change {k}"),
        );
        assert!(no_journal(h), "a rolled-back start left its journal");
        k += 1;
        assert!(k < 80, "start never got through");
    }
    let started = k;
    let bridged = h.snapshot();
    let mut k = 1;
    loop {
        let r = failing_at(h, k, &["stop"]);
        if r.success() {
            break;
        }
        assert_same(
            &bridged,
            &h.snapshot(),
            &format!("stop failing at change {k}"),
        );
        assert!(no_journal(h), "a rolled-back stop left its journal");
        k += 1;
        assert!(k < 80, "stop never got through");
    }
    assert!(k > 8, "only {k} changes in stop: is the injector on PATH?");
    assert_same(&before, &h.snapshot(), "start, then stop");
    started
}

#[test]
fn nl07_netloop_a_failure_at_every_step_of_start_and_stop_restores_the_host() {
    let Some(h) = host!("lay_fault_netloop").build() else {
        return;
    };
    add_extra(&h);
    with_injector(&h);
    let n = every_step_fails_once(&h, &["start", "layout=netloop", "antispoof=yes"]);
    assert!(n > 15, "only {n} host changes in start");
}

#[test]
fn xenbr_a_failure_at_every_step_of_start_and_stop_restores_the_host() {
    let Some(h) = host!("lay_fault_xenbr").nic("enp0s3").build() else {
        return;
    };
    add_extra(&h);
    with_injector(&h);
    let n = every_step_fails_once(&h, &["start", "layout=xenbr", "antispoof=yes"]);
    assert!(n > 10, "only {n} host changes in start");
}
