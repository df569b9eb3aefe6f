//! Several Xen hosts, one L2 network per tenant (issue 10): three simulated hosts (hostA, hostB,
//! hostC, each a full test-bed [`Host`] with its own xenstore, lock and state directories) joined
//! by an underlay namespace whose bridge stands for the switch between them:
//!
//! ```text
//!  [A dom0] eth1 198.51.100.1 ─┐
//!  [B dom0] eth1 198.51.100.2 ─┼─ [underlay] bridge ul (MTU 1550)
//!  [C dom0] eth1 198.51.100.3 ─┘
//! ```
//!
//! Kernel engine: `network-bridge start overlay=vxlan` on each host, guests by `vif-bridge`.
//! Open vSwitch engine: an `ovsdb-server` and `ovs-vswitchd` per host, started by the test in that
//! host's dom0 with a private database and run directory, the userspace datapath, VXLAN tunnel
//! ports, and guests by `vif-openvswitch` with access tags.

mod common;

use common::ovs::{have_ovs, Ovs};
use common::*;
use xennet_tests::cmd;
use xennet_tests::netns::{self, Netns};
use xennet_tests::*;

const UNDERLAY_MTU: &str = "1550";

/// Three hosts and their underlay. Fields drop in order: hosts (and their daemons' guards, kept
/// by the tests) before the underlay.
struct Site {
    hosts: Vec<Host>,
    /// The underlay runs over IPv6 (2001:db8:ff::/64) instead of 198.51.100.0/24.
    v6: bool,
    _underlay: Netns,
}

fn underlay_addr(i: usize) -> String {
    format!("198.51.100.{}", i + 1)
}

impl Site {
    /// hostA, hostB, hostC with eth1 on the underlay at `mtu`.
    fn build(test: &str, mtu: &str) -> Option<Site> {
        Site::build_with(test, mtu, 3, false)
    }

    /// `n` hosts, IPv4 or IPv6 underlay.
    fn build_with(test: &str, mtu: &str, n: usize, v6: bool) -> Option<Site> {
        let mut hosts = Vec::new();
        for name in ["a", "b", "c"].into_iter().take(n) {
            hosts.push(host!(&format!("{test}{name}")).build()?);
        }
        let ul = Netns::create(&format!("{}-ul", netns::unique_prefix(test)));
        cmd::ip_must(&ul.name, &["link", "add", "name", "ul", "type", "bridge"]);
        for (i, h) in hosts.iter().enumerate() {
            let port = format!("h{i}");
            cmd::ip_must(
                &ul.name,
                &[
                    "link", "add", "name", &port, "mtu", mtu, "type", "veth", "peer", "name",
                    "eth1", "mtu", mtu, "netns", &h.dom0,
                ],
            );
            cmd::ip_must(
                &ul.name,
                &["link", "set", "dev", &port, "master", "ul", "up"],
            );
            let a = if v6 {
                format!("2001:db8:ff::{}/64", i + 1)
            } else {
                format!("{}/24", underlay_addr(i))
            };
            cmd::ip_must(&h.dom0, &["addr", "add", &a, "dev", "eth1", "nodad"]);
            cmd::ip_must(&h.dom0, &["link", "set", "dev", "eth1", "up"]);
        }
        cmd::ip_must(&ul.name, &["link", "set", "dev", "ul", "mtu", mtu, "up"]);
        Some(Site {
            hosts,
            v6,
            _underlay: ul,
        })
    }

    /// The other hosts' underlay addresses, as `peers=`.
    fn peers_of(&self, i: usize) -> String {
        (0..self.hosts.len())
            .filter(|j| *j != i)
            .map(|j| {
                if self.v6 {
                    format!("2001:db8:ff::{}", j + 1)
                } else {
                    underlay_addr(j)
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A guest's MAC (its own end of the veth).
fn guest_mac(g: &Guest) -> String {
    snapshot::link(&g.ns, &g.guest_if).expect("guest link")["address"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A don't-fragment ping with a 1472-byte payload: a full 1500-byte IPv4 packet.
fn ping_full_size(from: &Guest, to: &str) -> cmd::Output {
    cmd::ns_exec(
        &from.ns,
        &[
            "ping", "-n", "-q", "-c1", "-W2", "-M", "do", "-s", "1472", to,
        ],
    )
}

/// Connects guest `domid` on `h` to `bridge` with vif-bridge, checked.
fn attach_bridge(h: &mut Host, domid: u32, bridge: &str) -> Guest {
    let g = h.add_guest(domid, 0);
    h.xs_write_backend(domid, 0, &[("bridge", bridge)]);
    let r = h.libxl("vif-bridge", domid, 0).run(ONLINE);
    assert_ok(h, &r, "vif-bridge online");
    assert_eq!(h.master_of(&g.vif).as_deref(), Some(bridge));
    g
}

fn start_overlay(site: &Site, i: usize, vni: u32) -> cmd::Output {
    let h = &site.hosts[i];
    let vni_s = format!("vni={vni}");
    let peers = format!("peers={}", site.peers_of(i));
    h.script("network-bridge")
        .run(&["start", "overlay=vxlan", &vni_s, &peers])
}

#[test]
fn vxlan_overlay_joins_guests_on_three_hosts_and_keeps_tenants_apart() {
    let Some(mut site) = Site::build("mhvx", UNDERLAY_MTU) else {
        return;
    };
    // VNI 42 on every host; VNI 43 on A and C.
    for (i, vnis) in [(0, &[42, 43][..]), (1, &[42][..]), (2, &[42, 43][..])] {
        for vni in vnis {
            let r = start_overlay(&site, i, *vni);
            assert_ok(&site.hosts[i], &r, "network-bridge start overlay=vxlan");
            let h = &site.hosts[i];
            let vx = h.link(&format!("vxlan{vni}")).expect("vxlan device");
            assert_eq!(
                vx["master"].as_str(),
                Some(format!("vxbr{vni}").as_str()),
                "{vx}"
            );
            assert!(snapshot::is_up(&vx), "{vx}");
            assert_eq!(vx["mtu"].as_u64(), Some(1500), "{vx}");
            // One static flood entry per peer, and nothing else of ours.
            let fdb = cmd::ns_exec(
                &h.dom0,
                &["bridge", "fdb", "show", "dev", &format!("vxlan{vni}")],
            );
            for p in site.peers_of(i).split(',') {
                assert!(
                    fdb.stdout
                        .contains(&format!("00:00:00:00:00:00 dst {p} self permanent")),
                    "flood entry for {p}:\n{fdb}"
                );
            }
        }
    }
    // Each host's bridge has its own fixed MAC, whatever ports come and go (MAC-04).
    let macs: Vec<String> = site
        .hosts
        .iter()
        .map(|h| {
            h.link("vxbr42").unwrap()["address"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(macs.iter().all(|m| m.starts_with("02:")), "{macs:?}");
    assert!(
        macs[0] != macs[1] && macs[1] != macs[2] && macs[0] != macs[2],
        "{macs:?}"
    );
    // --dry-run on B prints the plan for VNI 43 and changes nothing.
    let b = &site.hosts[1];
    let before = b.snapshot();
    let r = b.script("network-bridge").run(&[
        "--dry-run",
        "start",
        "overlay=vxlan",
        "vni=43",
        "peers=198.51.100.1,198.51.100.3",
    ]);
    assert_ok(b, &r, "dry run");
    for line in [
        "ip link add name vxlan43 mtu 1500 type vxlan id 43 dstport 4789 local 198.51.100.2 dev eth1",
        "bridge fdb append 00:00:00:00:00:00 dev vxlan43 dst 198.51.100.1",
        "bridge fdb append 00:00:00:00:00:00 dev vxlan43 dst 198.51.100.3",
    ] {
        assert!(r.stdout.contains(line), "{line} in\n{r}");
    }
    assert_same(&before, &b.snapshot(), "dry run");
    // A second start changes nothing.
    let r = start_overlay(&site, 0, 42);
    assert_ok(&site.hosts[0], &r, "second start");
    assert!(r.stdout.contains("nothing to do"), "{r}");

    let a1 = attach_bridge(&mut site.hosts[0], 1, "vxbr42");
    let a3 = attach_bridge(&mut site.hosts[0], 3, "vxbr43");
    let b2 = attach_bridge(&mut site.hosts[1], 2, "vxbr42");
    let c4 = attach_bridge(&mut site.hosts[2], 4, "vxbr42");
    let c5 = attach_bridge(&mut site.hosts[2], 5, "vxbr43");
    let addr = |g: &Guest| g.addr.clone().unwrap();

    // VNI 42: A's and B's guests reach each other, also with full-size frames.
    assert!(ping_retry(&a1.ns, &addr(&b2), 5), "A/1 -> B/2 in VNI 42");
    assert!(ping(&b2.ns, &addr(&a1)), "B/2 -> A/1 in VNI 42");
    assert!(ping(&a1.ns, &addr(&c4)), "A/1 -> C/4 in VNI 42");
    let df = ping_full_size(&a1, &addr(&b2));
    assert!(df.success(), "1472-byte DF ping A/1 -> B/2:\n{df}");
    // One byte more does not fit a 1500-byte MTU: the guest itself refuses to send it.
    let over = cmd::ns_exec(
        &a1.ns,
        &[
            "ping",
            "-n",
            "-q",
            "-c1",
            "-W1",
            "-M",
            "do",
            "-s",
            "1473",
            &addr(&b2),
        ],
    );
    assert!(!over.success(), "{over}");

    // VNI 43 on A reaches neither guest of VNI 42, but its own tenant on C.
    assert!(ping_retry(&a3.ns, &addr(&c5), 5), "A/3 -> C/5 in VNI 43");
    assert!(
        !ping(&a3.ns, &addr(&a1)),
        "A/3 (VNI 43) reached A/1 (VNI 42)"
    );
    assert!(
        !ping(&a3.ns, &addr(&b2)),
        "A/3 (VNI 43) reached B/2 (VNI 42)"
    );

    // On A, B's guest's MAC is learned behind A's VXLAN port, with B as its tunnel end.
    let mac_b2 = guest_mac(&b2);
    let a = &site.hosts[0];
    let fdb = cmd::ns_exec(&a.dom0, &["bridge", "fdb", "show", "dev", "vxlan42"]).stdout;
    assert!(
        fdb.lines()
            .any(|l| l.starts_with(&mac_b2) && l.contains("master vxbr42")),
        "{mac_b2} not learned on vxbr42 behind vxlan42:\n{fdb}"
    );
    assert!(
        fdb.lines()
            .any(|l| l.starts_with(&mac_b2) && l.contains("dst 198.51.100.2")),
        "{mac_b2} not learned with B's underlay address:\n{fdb}"
    );
    assert!(
        !fdb.contains(&guest_mac(&c5)),
        "VNI 43's guest leaked into VNI 42:\n{fdb}"
    );

    // status shows the overlay and its peers.
    let st = a
        .script("network-bridge")
        .run(&["status", "overlay=vxlan", "vni=42"]);
    assert_ok(a, &st, "status");
    for want in [
        "overlay: vxlan VNI 42 on bridge vxbr42 via vxlan42 (up), underlay eth1 local 198.51.100.1 port 4789, MTU 1500",
        "bridge vxbr42: ports vif1.0, vxlan42",
        &format!("{mac_b2} dst 198.51.100.2"),
    ] {
        assert!(st.stdout.contains(want), "{want} in\n{st}");
    }
    assert!(
        st.stdout.contains("peers: 198.51.100.2, 198.51.100.3"),
        "{st}"
    );
    // xennet map shows the overlay as the bridge's uplink, with its peers (issue 10).
    let m = a.script("xennet").run(&["map"]);
    assert_ok(a, &m, "xennet map");
    assert!(
        m.stdout.contains(
            "vxlan42 on vxbr42: VXLAN VNI 42 from 198.51.100.1 via eth1; peers: 198.51.100.2, 198.51.100.3"
        ),
        "{m}"
    );
    let j = a.script("xennet").run(&["map", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).expect("map JSON");
    let o = v["overlays"]
        .as_array()
        .and_then(|a| a.iter().find(|o| o["vni"] == 42))
        .unwrap_or_else(|| panic!("no VNI 42 in {}", j.stdout));
    assert_eq!(o["bridge"], "vxbr42");
    assert_eq!(
        o["peers"],
        serde_json::json!(["198.51.100.2", "198.51.100.3"])
    );

    // stop on C: C's overlay goes, A and B keep working with each other.
    let c = &site.hosts[2];
    let r = c.libxl("vif-bridge", 4, 0).run(OFFLINE);
    assert_ok(c, &r, "vif-bridge offline on C");
    let r = c
        .script("network-bridge")
        .run(&["stop", "overlay=vxlan", "vni=42"]);
    assert_ok(c, &r, "network-bridge stop on C");
    assert!(
        c.link("vxlan42").is_none(),
        "vxlan42 left on C:\n{}",
        c.explain(&r)
    );
    assert!(
        c.link("vxbr42").is_none(),
        "vxbr42 left on C:\n{}",
        c.explain(&r)
    );
    assert!(c.link("vxlan43").is_some(), "stop of VNI 42 removed VNI 43");
    let st = c
        .script("network-bridge")
        .run(&["status", "overlay=vxlan", "vni=42"]);
    assert_eq!(st.status, 1, "status of a stopped overlay:\n{st}");
    assert!(ping(&a1.ns, &addr(&b2)), "A/1 -> B/2 after C stopped");
    assert!(ping(&b2.ns, &addr(&a1)), "B/2 -> A/1 after C stopped");
    assert!(ping_full_size(&a1, &addr(&b2)).success());
    assert!(
        !ping(&a1.ns, &addr(&c4)),
        "C/4 still reachable after C stopped"
    );
    assert!(ping(&a3.ns, &addr(&c5)), "VNI 43 after C stopped VNI 42");

    // stop on A for VNI 43 while its guest is still on the bridge: the uplink goes, the bridge
    // (and the guest's port) stays; once the guest is gone, a second stop deletes the bridge.
    let a = &site.hosts[0];
    let r = a
        .script("network-bridge")
        .run(&["stop", "overlay=vxlan", "vni=43"]);
    assert_ok(a, &r, "stop with a guest on the bridge");
    assert!(r.stderr.contains("still has guest ports (vif3.0)"), "{r}");
    assert!(a.link("vxlan43").is_none());
    assert_eq!(a.master_of("vif3.0").as_deref(), Some("vxbr43"));
    assert!(
        !ping(&a3.ns, &addr(&c5)),
        "VNI 43 still crosses hosts after stop"
    );
    assert_ok(a, &a.libxl("vif-bridge", 3, 0).run(OFFLINE), "offline");
    let r = a
        .script("network-bridge")
        .run(&["stop", "overlay=vxlan", "vni=43"]);
    assert_ok(a, &r, "second stop");
    assert!(a.link("vxbr43").is_none(), "{}", a.explain(&r));
    assert!(!a.state_dir.join("network-bridge.vxbr43.overlay").exists());
}

#[test]
fn vxlan_overlay_refuses_a_small_underlay_mtu_and_bad_values_untouched() {
    let Some(site) = Site::build("mhvxmtu", "1500") else {
        return;
    };
    let a = &site.hosts[0];
    let before = a.snapshot();
    let r = start_overlay(&site, 0, 42);
    assert_failed(a, &r, "start over a 1500-byte underlay");
    assert!(
        r.stderr.contains("at least 1550") && r.stderr.contains("ip link set dev eth1 mtu 1550"),
        "{r}"
    );
    assert_same(&before, &a.snapshot(), "refused start");
    for (args, names) in [
        (&["vni=0", "peers=198.51.100.2"][..], "vni=\"0\""),
        (&["vni=16777216", "peers=198.51.100.2"][..], "16777216"),
        (&["vni=5", "peers=198.51.100.2,not-an-ip"][..], "not-an-ip"),
        (
            &["vni=5", "peers=198.51.100.2", "dstport=70000"][..],
            "dstport",
        ),
        (&["vni=5"][..], "peers="),
    ] {
        let mut v = vec!["start", "overlay=vxlan"];
        v.extend_from_slice(args);
        let r = a.script("network-bridge").run(&v);
        assert_failed(a, &r, &format!("{args:?}"));
        assert!(r.stderr.contains(names), "{args:?}: {r}");
    }
    assert_same(&before, &a.snapshot(), "rejected settings");
}

/// Over an IPv6 underlay VXLAN costs 70 bytes: 1550 is refused, 1570 carries full frames.
#[test]
fn vxlan_overlay_over_ipv6_needs_1570_and_carries_full_frames() {
    let Some(site) = Site::build_with("mhvx6s", "1550", 2, true) else {
        return;
    };
    let a = &site.hosts[0];
    let r = start_overlay(&site, 0, 7);
    assert_failed(a, &r, "start over a 1550-byte IPv6 underlay");
    assert!(
        r.stderr.contains("IPv6 adds 70 bytes") && r.stderr.contains("at least 1570"),
        "{r}"
    );
    drop(site);
    let Some(mut site) = Site::build_with("mhvx6", "1570", 2, true) else {
        return;
    };
    for i in 0..2 {
        let r = start_overlay(&site, i, 7);
        assert_ok(&site.hosts[i], &r, "start over IPv6");
        assert!(r.stdout.contains("local 2001:db8:ff::"), "{r}");
    }
    let g1 = attach_bridge(&mut site.hosts[0], 1, "vxbr7");
    let g2 = attach_bridge(&mut site.hosts[1], 2, "vxbr7");
    assert!(
        ping_retry(&g1.ns, g2.addr.as_deref().unwrap(), 5),
        "A/1 -> B/2 over IPv6"
    );
    let df = ping_full_size(&g1, g2.addr.as_deref().unwrap());
    assert!(
        df.success(),
        "1472-byte DF ping over an IPv6 underlay:\n{df}"
    );
    let st = site.hosts[0]
        .script("network-bridge")
        .run(&["status", "overlay=vxlan", "vni=7"]);
    assert!(st.stdout.contains("peers: 2001:db8:ff::2"), "{st}");
}

/// `network-bridge <args>` on `h` with the k-th host change failing.
fn run_failing_at(h: &Host, k: u32, args: &[&str]) -> cmd::Output {
    let dir = h.scratch.join("faults");
    let bin = dir.join("bin");
    if !bin.join("ip").exists() {
        faults::install_host_change(&bin, &["ip", "brctl", "bridge"]);
    }
    let _ = std::fs::remove_file(dir.join("count"));
    let path = format!(
        "{}:{}:/usr/sbin:/usr/bin:/sbin:/bin",
        h.fake_bin.display(),
        bin.display()
    );
    h.script("network-bridge")
        .env("PATH", &path)
        .env("FAULT_DIR", &dir.display().to_string())
        .env("FAIL_AT", &k.to_string())
        .run(args)
}

/// Every step of `start` and of `stop` fails once: each failure leaves the host exactly as
/// before that run (and no record behind), and start + stop together leave it as it was.
#[test]
fn vxlan_overlay_failure_at_every_step_of_start_and_stop_is_rolled_back() {
    let Some(site) = Site::build("mhvxrb", UNDERLAY_MTU) else {
        return;
    };
    let a = &site.hosts[0];
    let peers = format!("peers={}", site.peers_of(0));
    let start = ["start", "overlay=vxlan", "vni=42", &peers];
    let stop = ["stop", "overlay=vxlan", "vni=42"];
    let record = a.state_dir.join("network-bridge.vxbr42.overlay");
    let before = a.snapshot();
    let mut k = 1;
    loop {
        let r = run_failing_at(a, k, &start);
        if r.success() {
            break;
        }
        assert!(
            r.stderr.contains("injected failure"),
            "start, call {k}:\n{r}"
        );
        assert_same(
            &before,
            &a.snapshot(),
            &format!("start failing at call {k}"),
        );
        assert!(!record.exists(), "record left by a failed start");
        k += 1;
        assert!(k < 30, "start never got through");
    }
    assert!(k > 8, "start made only {} host changes", k - 1);
    assert!(a.link("vxlan42").is_some() && record.exists());
    let started = a.snapshot();
    let mut k = 1;
    loop {
        let r = run_failing_at(a, k, &stop);
        if r.success() {
            break;
        }
        assert!(
            r.stderr.contains("injected failure"),
            "stop, call {k}:\n{r}"
        );
        assert_same(
            &started,
            &a.snapshot(),
            &format!("stop failing at call {k}"),
        );
        assert!(record.exists(), "record lost by a failed stop");
        k += 1;
        assert!(k < 30, "stop never got through");
    }
    assert_same(&before, &a.snapshot(), "start then stop");
    assert!(!record.exists());
}

// ---------------------------------------------------------------------------------------------
// Open vSwitch

/// The guests' VLANs in the Open vSwitch test.
const VLANS: [u16; 2] = [10, 20];

/// Host `i` on Open vSwitch: `ovsul` holds eth1 and takes its underlay address (a userspace
/// tunnel's underlay must sit on an OVS bridge), `ovsbr0` is the guests' bridge with a VXLAN
/// tunnel port to each host in `tunnels_to`.
fn ovs_host(site: &Site, i: usize, tunnels_to: &[usize]) -> Ovs {
    let h = &site.hosts[i];
    let ns = &h.dom0;
    let ovs = Ovs::start(ns, &h.scratch.join("ovs"));
    ovs.must(
        ns,
        &[
            "add-br",
            "ovsul",
            "--",
            "set",
            "bridge",
            "ovsul",
            "datapath_type=netdev",
        ],
    );
    ovs.must(ns, &["add-port", "ovsul", "eth1"]);
    ovs.must(
        ns,
        &[
            "set",
            "interface",
            "ovsul",
            &format!("mtu_request={UNDERLAY_MTU}"),
        ],
    );
    let a = format!("{}/24", underlay_addr(i));
    cmd::ip_must(ns, &["addr", "del", &a, "dev", "eth1"]);
    cmd::ip_must(ns, &["addr", "add", &a, "dev", "ovsul"]);
    cmd::ip_must(ns, &["link", "set", "dev", "ovsul", "up"]);
    ovs.must(
        ns,
        &[
            "add-br",
            "ovsbr0",
            "--",
            "set",
            "bridge",
            "ovsbr0",
            "datapath_type=netdev",
        ],
    );
    cmd::ip_must(ns, &["link", "set", "dev", "ovsbr0", "up"]);
    // One tunnel port per host and VLAN, the VLAN as its VNI: frames cross untagged, so a
    // full 1500-byte guest frame needs the same 1550-byte underlay as the kernel overlay (a
    // trunk tunnel would carry the 802.1Q tag too and need 1554).
    for j in tunnels_to {
        for vlan in VLANS {
            let port = format!("vx{j}v{vlan}");
            ovs.must(
                ns,
                &[
                    "add-port",
                    "ovsbr0",
                    &port,
                    &format!("tag={vlan}"),
                    "--",
                    "set",
                    "interface",
                    &port,
                    "type=vxlan",
                    &format!("options:remote_ip={}", underlay_addr(*j)),
                    &format!("options:key={vlan}"),
                ],
            );
        }
    }
    ovs
}

/// Connects guest `domid` on `h` with vif-openvswitch to `bridge` (e.g. `ovsbr0.10`), checked;
/// checksum offload off in the guest (the userspace datapath does not fill checksums in).
fn attach_ovs(h: &mut Host, ovs: &Ovs, domid: u32, bridge: &str) -> Guest {
    let g = h.add_guest(domid, 0);
    h.xs_write_backend(
        domid,
        0,
        &[
            ("bridge", bridge),
            ("script", "/etc/xen/scripts/vif-openvswitch"),
        ],
    );
    h.xs_write(
        &format!("/local/domain/{domid}/vm"),
        &format!("/vm/uuid-{domid}"),
    );
    h.xs_write(&format!("/vm/uuid-{domid}/name"), &format!("guest{domid}"));
    h.xs_write(&format!("/vm/uuid-{domid}/uuid"), &format!("uuid-{domid}"));
    cmd::ns_exec(&g.ns, &["ethtool", "-K", &g.guest_if, "tx", "off"]).ok();
    let mut call = h.libxl("vif-openvswitch", domid, 0);
    for (k, v) in ovs.env() {
        call = call.env(&k, &v);
    }
    let r = call.run(ONLINE);
    assert_ok(h, &r, "vif-openvswitch online");
    assert_eq!(h.hotplug_status(domid, 0).as_deref(), Some("connected"));
    let l = h.link(&g.vif).unwrap();
    assert!(snapshot::is_up(&l), "{l}");
    assert_eq!(l["address"].as_str(), Some(BACKEND_MAC), "{l}");
    g
}

#[test]
fn open_vswitch_tunnels_join_guests_and_vlans_keep_them_apart() {
    if !have_ovs() {
        return;
    }
    let Some(mut site) = Site::build("mhovs", UNDERLAY_MTU) else {
        return;
    };
    // A tree of tunnels, A - B - C: with NORMAL forwarding a full mesh would loop broadcasts
    // (OVS has no split horizon between tunnel ports; the kernel VXLAN device does).
    let ovs = [
        ovs_host(&site, 0, &[1]),
        ovs_host(&site, 1, &[0, 2]),
        ovs_host(&site, 2, &[1]),
    ];
    let a1 = attach_ovs(&mut site.hosts[0], &ovs[0], 1, "ovsbr0.10");
    let a3 = attach_ovs(&mut site.hosts[0], &ovs[0], 3, "ovsbr0.20");
    let b2 = attach_ovs(&mut site.hosts[1], &ovs[1], 2, "ovsbr0.10");
    let c5 = attach_ovs(&mut site.hosts[2], &ovs[2], 5, "ovsbr0.20:30:40");
    let a = &site.hosts[0];
    let (nsa, nsc) = (a.dom0.clone(), site.hosts[2].dom0.clone());

    // A second online leaves the working port alone (the same OVS record, VB-09's rule).
    let uuid = ovs[0].must(&nsa, &["get", "port", "vif1.0", "_uuid"]);
    let mut call = site.hosts[0].libxl("vif-openvswitch", 1, 0);
    for (k, v) in ovs[0].env() {
        call = call.env(&k, &v);
    }
    assert_ok(&site.hosts[0], &call.run(ONLINE), "second online");
    assert_eq!(ovs[0].must(&nsa, &["get", "port", "vif1.0", "_uuid"]), uuid);
    // The port as the original makes it: tag, trunks, the guest's labels.
    assert_eq!(ovs[0].must(&nsa, &["get", "port", "vif1.0", "tag"]), "10");
    let ids = ovs[0].must(&nsa, &["get", "interface", "vif1.0", "external-ids"]);
    for want in [
        "xen-vm-name=guest1",
        "xen-vm-uuid=uuid-1",
        "attached-mac=\"00:16:3e:00:01:00\"",
    ] {
        assert!(ids.contains(want), "{want} in {ids}");
    }
    assert_eq!(ovs[2].must(&nsc, &["get", "port", "vif5.0", "tag"]), "20");
    assert_eq!(
        ovs[2].must(&nsc, &["get", "port", "vif5.0", "trunks"]),
        "[30, 40]"
    );

    let addr = |g: &Guest| g.addr.clone().unwrap();
    // Let each host's OVS learn its neighbours' underlay MACs (the tunnels' ARP).
    for (i, h) in site.hosts.iter().enumerate() {
        for j in 0..3 {
            if i != j {
                ping_retry(&h.dom0, &underlay_addr(j), 3);
            }
        }
    }
    assert!(ping_retry(&a1.ns, &addr(&b2), 10), "A/1 -> B/2 on VLAN 10");
    assert!(ping(&b2.ns, &addr(&a1)), "B/2 -> A/1 on VLAN 10");
    let df = ping_full_size(&a1, &addr(&b2));
    assert!(df.success(), "1472-byte DF ping over OVS VXLAN:\n{df}");
    // VLAN 20 across two tunnels (A - B - C) reaches its own tenant only.
    assert!(ping_retry(&a3.ns, &addr(&c5), 10), "A/3 -> C/5 on VLAN 20");
    assert!(
        !ping(&a3.ns, &addr(&a1)),
        "VLAN 20 reached VLAN 10 on the same host"
    );
    assert!(!ping(&a3.ns, &addr(&b2)), "VLAN 20 reached VLAN 10 on B");

    // offline removes exactly that port.
    let a = &mut site.hosts[0];
    let mut call = a.libxl("vif-openvswitch", 3, 0);
    for (k, v) in ovs[0].env() {
        call = call.env(&k, &v);
    }
    let r = call.run(OFFLINE);
    assert_ok(a, &r, "vif-openvswitch offline");
    let ports = ovs[0].must(&nsa, &["list-ports", "ovsbr0"]);
    assert_eq!(
        ports.lines().collect::<Vec<_>>(),
        ["vif1.0", "vx1v10", "vx1v20"],
        "{ports}"
    );
    assert!(!snapshot::is_up(&a.link("vif3.0").unwrap()));
    assert!(
        ping(&a1.ns, &addr(&b2)),
        "A/1 -> B/2 after another port went"
    );
    // Again: nothing left to remove is fine.
    let mut call = a.libxl("vif-openvswitch", 3, 0);
    for (k, v) in ovs[0].env() {
        call = call.env(&k, &v);
    }
    assert_ok(a, &call.run(OFFLINE), "second offline");
}

#[test]
fn vif_openvswitch_reports_a_missing_bridge_and_a_bad_value() {
    if !have_ovs() {
        return;
    }
    let Some(mut h) = host!("ovsbad").build() else {
        return;
    };
    let ovs = Ovs::start(&h.dom0, &h.scratch.join("ovs"));
    ovs.must(
        &h.dom0,
        &[
            "add-br",
            "ovsbr0",
            "--",
            "set",
            "bridge",
            "ovsbr0",
            "datapath_type=netdev",
        ],
    );
    let _g = h.add_guest(1, 0);
    for (bridge, names) in [
        ("nosuch.5", "Open vSwitch has no bridge nosuch"),
        ("ovsbr0.5000", "No valid bridge was specified"),
        ("ovsbr0:x", "No valid bridge was specified"),
    ] {
        h.xs_write_backend(1, 0, &[("bridge", bridge)]);
        let before = h.snapshot();
        let mut call = h.libxl("vif-openvswitch", 1, 0);
        for (k, v) in ovs.env() {
            call = call.env(&k, &v);
        }
        let r = call.run(ONLINE);
        assert_reported(&h, &r, bridge, names);
        assert_same(&before, &h.snapshot(), bridge);
        assert_eq!(ovs.must(&h.dom0, &["list-ports", "ovsbr0"]), "");
    }
    // ovs-vsctl failing at add-port: the steps before it (MAC, MTU) are undone and reported.
    h.xs_write_backend(1, 0, &[("bridge", "ovsbr0.5")]);
    let shim = h.scratch.join("shim");
    std::fs::create_dir_all(&shim).unwrap();
    let fake = shim.join("ovs-vsctl");
    std::fs::write(
        &fake,
        "#!/bin/sh\ncase \"$*\" in *add-port*) echo 'injected add-port failure' >&2; exit 1;; esac\nexec /usr/bin/ovs-vsctl \"$@\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = h.snapshot();
    let mut call = h.libxl("vif-openvswitch", 1, 0).env(
        "PATH",
        &format!(
            "{}:{}:/usr/sbin:/usr/bin:/sbin:/bin",
            h.fake_bin.display(),
            shim.display()
        ),
    );
    for (k, v) in ovs.env() {
        call = call.env(&k, &v);
    }
    let r = call.run(ONLINE);
    assert_reported(&h, &r, "failing add-port", "injected add-port failure");
    assert_same(&before, &h.snapshot(), "rolled-back online");
    // An HVM guest's emulated NIC: add and remove with type_if=tap.
    let t = h.add_tap(2, 0);
    h.xs_write_backend(2, 0, &[("bridge", "ovsbr0.7")]);
    let env = ovs.env();
    let call = |args: &[&str]| {
        let mut c = h.libxl_ioemu("vif-openvswitch", 2, 0);
        for (k, v) in &env {
            c = c.env(k, v);
        }
        c.run(args)
    };
    assert_ok(&h, &call(ADD_TAP), "add type_if=tap");
    assert_eq!(ovs.must(&h.dom0, &["list-ports", "ovsbr0"]), t.vif);
    assert_eq!(ovs.must(&h.dom0, &["get", "port", &t.vif, "tag"]), "7");
    assert_ok(&h, &call(REMOVE_TAP), "remove type_if=tap");
    assert_eq!(ovs.must(&h.dom0, &["list-ports", "ovsbr0"]), "");
}
