//! The VXLAN overlay with a BGP EVPN control plane (issue 18), below its planner: FRR (zebra +
//! bgpd, `tests/src/frr.rs`) in each host's dom0 and in a route reflector, configured with the
//! `vtysh` lines `xennet::evpn` computes; the data plane made by the test the way
//! `overlay=evpn` will make it:
//!
//! ```text
//!  [A dom0] eth1 198.51.100.1 ─┐   vxbr42 ── vxlan42 (id 42, local, nolearning; port learning
//!  [B dom0] eth1 198.51.100.2 ─┤             off, neigh_suppress on) + guests' vifs
//!  [C dom0] eth1 198.51.100.3 ─┼─ [underlay] bridge ul (MTU 1550), nftables counters of the
//!  [D dom0] eth1 198.51.100.4 ─┤              VXLAN frames crossing it (all, ARP, broadcast)
//!  [RR]     eth1 198.51.100.254┘   bgpd: listen range 198.51.100.0/24, route-reflector-client
//! ```
//!
//! Measured numbers are printed as `EVPN-MEASURE` lines (`cargo test -p xennet-tests --test evpn
//! -- --nocapture`).

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use xennet::evpn::{self, Record, Want};
use xennet_tests::cmd;
use xennet_tests::faults;
use xennet_tests::frr::{self, Frr};
use xennet_tests::netns::{self, Netns};
use xennet_tests::*;

const UNDERLAY_MTU: &str = "1550";
const RR_ADDR: &str = "198.51.100.254";
const ASN: u32 = 65000;

fn underlay_addr(i: usize) -> String {
    format!("198.51.100.{}", i + 1)
}

fn measure(what: &str, d: Duration) {
    eprintln!("EVPN-MEASURE {what}: {:.3} s", d.as_secs_f64());
}

fn count(what: &str, n: u64) {
    eprintln!("EVPN-MEASURE {what}: {n}");
}

/// Hosts, a route reflector and their underlay. Fields drop in order: the FRR daemons first,
/// then the hosts' namespaces, the reflector's and the underlay.
struct Site {
    frr: Vec<Option<Frr>>,
    rr: Option<Frr>,
    hosts: Vec<Host>,
    rr_ns: Netns,
    ul: Netns,
}

/// nftables counters of VXLAN frames crossing the underlay bridge, by their inner frame:
/// `@th,128,48` is the inner destination MAC (after UDP 8 + VXLAN 8 bytes), `@th,224,16` the
/// inner Ethernet type; chain `about` holds the rules of one measurement (see
/// [`Site::count_arp_about`]).
const COUNTERS: &str = "table bridge evpncount {
  counter carp {}
  counter cbcast {}
  counter cvxlan {}
  chain about {
  }
  chain forwardc {
    type filter hook forward priority 0; policy accept;
    udp dport 4789 jump about
    udp dport 4789 @th,128,48 0xffffffffffff @th,224,16 0x0800 counter name cbcast
    udp dport 4789 counter name cvxlan
  }
}
";

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Frames {
    /// ARP requests for, and replies from, the address given to [`Site::count_arp_about`].
    arp: u64,
    /// IPv4 broadcasts (a guest's `ping -b`).
    bcast: u64,
    /// Every VXLAN frame.
    vxlan: u64,
}

impl Site {
    /// `n` hosts (a, b, c, d …) with eth1 on the underlay, and the reflector's namespace. FRR is
    /// started by the tests, where they need it.
    fn build(test: &str, n: usize) -> Option<Site> {
        if !frr::have_frr() {
            return None;
        }
        let mut hosts = Vec::new();
        for name in ["a", "b", "c", "d"].into_iter().take(n) {
            hosts.push(host!(&format!("{test}{name}")).build()?);
        }
        let p = netns::unique_prefix(test);
        let ul = Netns::create(&format!("{p}-ul"));
        let rr_ns = Netns::create(&format!("{p}-rr"));
        cmd::ip_must(&ul.name, &["link", "add", "name", "ul", "type", "bridge"]);
        let mut ports: Vec<&str> = hosts.iter().map(|h| h.dom0.as_str()).collect();
        ports.push(rr_ns.name.as_str());
        for (i, ns) in ports.iter().enumerate() {
            let port = format!("h{i}");
            cmd::ip_must(
                &ul.name,
                &[
                    "link",
                    "add",
                    "name",
                    &port,
                    "mtu",
                    UNDERLAY_MTU,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth1",
                    "mtu",
                    UNDERLAY_MTU,
                    "netns",
                    ns,
                ],
            );
            cmd::ip_must(
                &ul.name,
                &["link", "set", "dev", &port, "master", "ul", "up"],
            );
            let a = if i == hosts.len() {
                RR_ADDR.to_string()
            } else {
                underlay_addr(i)
            };
            cmd::ip_must(ns, &["addr", "add", &format!("{a}/24"), "dev", "eth1"]);
            cmd::ip_must(ns, &["link", "set", "dev", "eth1", "up"]);
        }
        cmd::ip_must(
            &ul.name,
            &["link", "set", "dev", "ul", "mtu", UNDERLAY_MTU, "up"],
        );
        let f = std::env::temp_dir().join(format!("{p}.count.nft"));
        std::fs::write(&f, COUNTERS).unwrap();
        let o = cmd::ns_exec(&ul.name, &["nft", "-f", &f.display().to_string()]);
        let _ = std::fs::remove_file(&f);
        o.ok();
        Some(Site {
            frr: hosts.iter().map(|_| None).collect(),
            rr: None,
            hosts,
            rr_ns,
            ul,
        })
    }

    fn start_reflector(&mut self) {
        let name = format!("{}-f", self.rr_ns.name);
        self.rr = Some(Frr::start(
            &self.rr_ns.name,
            &name,
            &frr::reflector_config("rr", RR_ADDR, ASN, "198.51.100.0/24"),
        ));
    }

    fn start_frr(&mut self, i: usize) -> &Frr {
        let h = &self.hosts[i];
        let name = format!("{}-f", h.prefix);
        let host = ["a", "b", "c", "d"][i];
        self.frr[i] = Some(Frr::start(&h.dom0, &name, &frr::host_config(host)));
        self.frr(i)
    }

    fn frr(&self, i: usize) -> &Frr {
        self.frr[i].as_ref().expect("FRR started on this host")
    }

    fn rr(&self) -> &Frr {
        self.rr.as_ref().expect("reflector started")
    }

    /// l2vpn evpn sessions Established on the reflector.
    fn established_at_rr(&self) -> usize {
        evpn::parse_bgp_summary(&self.rr().show("show bgp l2vpn evpn summary json"))
            .unwrap()
            .iter()
            .filter(|s| s.established())
            .count()
    }

    /// From now on `carp` counts the ARP frames about `addr`: requests whose target is `addr`
    /// (`@th,432,32`: the inner ARP's target address) and replies it sends (`@th,352,32`, the
    /// sender address). Guests' other chatter (IPv6 neighbor discovery …) stays out.
    fn count_arp_about(&self, addr: &str) {
        let a: std::net::Ipv4Addr = addr.parse().unwrap();
        let hex = format!("0x{:08x}", u32::from(a));
        let ns = &self.ul.name;
        cmd::ns_exec(
            ns,
            &["nft", "flush", "chain", "bridge", "evpncount", "about"],
        )
        .ok();
        for off in ["432", "352"] {
            let m = format!("@th,{off},32");
            cmd::ns_exec(
                ns,
                &[
                    "nft",
                    "add",
                    "rule",
                    "bridge",
                    "evpncount",
                    "about",
                    "@th,224,16",
                    "0x0806",
                    &m,
                    &hex,
                    "counter",
                    "name",
                    "carp",
                ],
            )
            .ok();
        }
    }

    fn reset_counters(&self) {
        cmd::ns_exec(&self.ul.name, &["nft", "reset", "counters"]).ok();
    }

    fn frames(&self) -> Frames {
        let o = cmd::ns_exec(&self.ul.name, &["nft", "-j", "list", "counters"]);
        let v: serde_json::Value = serde_json::from_str(o.ok()).unwrap();
        let mut f = Frames::default();
        for c in v["nftables"].as_array().unwrap() {
            let c = &c["counter"];
            let n = c["packets"].as_u64().unwrap_or(0);
            match c["name"].as_str() {
                Some("carp") => f.arp = n,
                Some("cbcast") => f.bcast = n,
                Some("cvxlan") => f.vxlan = n,
                _ => {}
            }
        }
        f
    }
}

/// The data plane of `overlay=evpn` for one VNI on host `i`: bridge `vxbr<vni>`, then the
/// commands `evpn::DataPlane` gives (VXLAN device with `nolearning`, its bridge port with
/// `learning off neigh_suppress on`).
fn data_plane(h: &Host, i: usize, vni: u32) {
    let dp = evpn::DataPlane::new(vni, underlay_addr(i).parse().unwrap(), "eth1", None);
    let d = &h.dom0;
    cmd::ip_must(
        d,
        &[
            "link",
            "add",
            "name",
            &dp.bridge,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ],
    );
    cmd::ip_must(d, &dp.vxlan_add());
    cmd::ip_must(d, &["link", "set", "dev", &dp.vxlan, "master", &dp.bridge]);
    let mut argv = vec!["bridge".to_string()];
    argv.extend(dp.port_flags());
    cmd::ns_exec(d, &argv).ok();
    cmd::ip_must(d, &["link", "set", "dev", &dp.vxlan, "up"]);
    cmd::ip_must(d, &["link", "set", "dev", &dp.bridge, "up"]);
}

fn remove_data_plane(h: &Host, vni: u32) {
    cmd::ip_must(&h.dom0, &["link", "del", &format!("vxlan{vni}")]);
    cmd::ip_must(&h.dom0, &["link", "del", &format!("vxbr{vni}")]);
}

fn guest_mac(g: &Guest) -> String {
    snapshot::link(&g.ns, &g.guest_if).expect("guest link")["address"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Puts guest `domid` of host `h` on `vxbr<vni>`. With `known_ip`, dom0 also tells the bridge
/// the guest's address (`ip neigh … nud permanent`, as a vif script knows it from xenstore's
/// `ip`): zebra advertises MAC+IP, and the other hosts answer ARP for it themselves.
fn attach(h: &mut Host, domid: u32, vni: u32, known_ip: bool) -> Guest {
    let g = h.add_guest(domid, 0);
    let br = format!("vxbr{vni}");
    cmd::ip_must(
        &h.dom0,
        &["link", "set", "dev", &g.vif, "master", &br, "up"],
    );
    if known_ip {
        tell_bridge(h, &g, vni);
    }
    g
}

fn tell_bridge(h: &Host, g: &Guest, vni: u32) {
    let dp = evpn::DataPlane::new(vni, Ipv4Addr::UNSPECIFIED, "eth1", None);
    let (add, _undo) = xennet::modes::network_bridge::overlay::guest_neigh(
        &dp.bridge,
        g.addr.as_deref().unwrap(),
        &guest_mac(g),
    );
    cmd::ip_must(&h.dom0, &add.args);
}

fn fdb(h: &Host, dev: &str) -> String {
    cmd::ns_exec(&h.dom0, &["bridge", "fdb", "show", "dev", dev])
        .ok()
        .to_string()
}

/// `mac` is in `h`'s forwarding table of `vxlan<vni>` as a remote MAC behind `vtep`, installed
/// by zebra (`extern_learn`).
fn has_remote_mac(h: &Host, vni: u32, mac: &str, vtep: &str) -> bool {
    fdb(h, &format!("vxlan{vni}")).lines().any(|l| {
        l.starts_with(mac) && l.contains(&format!("dst {vtep} ")) && l.contains("extern_learn")
    })
}

fn knows_mac(h: &Host, vni: u32, mac: &str) -> bool {
    fdb(h, &format!("vxlan{vni}"))
        .lines()
        .any(|l| l.starts_with(mac))
}

/// Pings until the first answer (a request every 0.1 s, up to `secs`); how long that took.
#[track_caller]
fn first_ping(from: &Guest, to: &str, secs: u32) -> Duration {
    // One ping after another: ping itself gives up early while ARP goes unanswered.
    let start = Instant::now();
    loop {
        let o = cmd::ns_exec(&from.ns, &["ping", "-n", "-q", "-c1", "-W1", to]);
        if o.success() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs.into()),
            "no answer from {to} within {secs} s:\n{o}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
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

fn record_path(h: &Host) -> PathBuf {
    h.scratch.join("frr-evpn.record")
}

fn read_record(p: &Path) -> Record {
    Record::parse(&std::fs::read_to_string(p).unwrap_or_default()).unwrap()
}

/// Runs one change's `vtysh` lines against `frr`.
#[track_caller]
fn run_vtysh(frr: &Frr, v: &evpn::Vtysh) -> cmd::Output {
    let mut argv = frr.vtysh_prefix();
    argv.extend(v.argv(None).into_iter().skip(1));
    cmd::run(&argv)
}

fn want(i: usize, vni: u32) -> Want {
    Want {
        vni,
        asn: None,
        local: underlay_addr(i).parse().unwrap(),
        reflectors: vec![RR_ADDR.parse().unwrap()],
    }
}

/// What `start` will do to FRR: read the running configuration and our record, add what is
/// missing, write the record. Returns the plan it carried out.
#[track_caller]
fn evpn_start(frr: &Frr, rec: &Path, w: &Want) -> evpn::AddPlan {
    let cfg = evpn::parse_running_config(&frr.running_config()).unwrap();
    let plan = evpn::plan_add(w, &cfg, &read_record(rec)).unwrap();
    for c in &plan.changes {
        let o = run_vtysh(frr, &c.apply);
        assert!(o.success(), "{}:\n{o}", c.what);
    }
    if plan.record.is_empty() {
        let _ = std::fs::remove_file(rec);
    } else {
        std::fs::write(rec, plan.record.to_text()).unwrap();
    }
    plan
}

/// What `stop` will do to FRR for `vni`.
#[track_caller]
fn evpn_stop(frr: &Frr, rec: &Path, vni: u32) -> evpn::RemovePlan {
    let cfg = evpn::parse_running_config(&frr.running_config()).unwrap();
    let plan = evpn::plan_remove(vni, &cfg, &read_record(rec));
    for c in &plan.changes {
        let o = run_vtysh(frr, &c.apply);
        assert!(o.success(), "{}:\n{o}", c.what);
    }
    if plan.record.is_empty() {
        let _ = std::fs::remove_file(rec);
    } else {
        std::fs::write(rec, plan.record.to_text()).unwrap();
    }
    plan
}

fn vni_state(frr: &Frr, vni: u32) -> Option<evpn::VniState> {
    evpn::parse_evpn_vni(&frr.show(&format!("show evpn vni {vni} json"))).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The running configuration without the lines that are not configuration.
fn config_body(text: &str) -> String {
    text.lines()
        .skip_while(|l| !l.starts_with("frr version"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn evpn_three_hosts_converge_a_fourth_joins_a_failed_host_is_withdrawn_and_stop_restores_frr() {
    let Some(mut site) = Site::build("evpn", 4) else {
        return;
    };
    site.start_reflector();
    for i in 0..3 {
        site.start_frr(i);
    }
    let before: Vec<String> = (0..3).map(|i| site.frr(i).running_config()).collect();

    // Data plane: VNI 42 on A, B, C; VNI 43 on A and C. The commands as FRR wants them.
    for (i, vnis) in [(0, &[42, 43][..]), (1, &[42][..]), (2, &[42, 43][..])] {
        for vni in vnis {
            data_plane(&site.hosts[i], i, *vni);
        }
    }
    let a = &site.hosts[0];
    let l = cmd::ip_must(&a.dom0, &["-d", "-j", "link", "show", "dev", "vxlan42"]);
    let v: serde_json::Value = serde_json::from_str(&l).unwrap();
    let info = &v[0]["linkinfo"]["info_data"];
    assert_eq!(info["id"], 42, "{info}");
    assert_eq!(info["learning"], false, "nolearning: {info}");
    assert_eq!(info["local"], "198.51.100.1", "{info}");
    let port = &v[0]["linkinfo"]["info_slave_data"];
    assert_eq!(port["learning"], false, "{port}");
    assert_eq!(port["neigh_suppress"], true, "{port}");

    let a1 = attach(&mut site.hosts[0], 1, 42, true);
    let a3 = attach(&mut site.hosts[0], 3, 43, true);
    let b2 = attach(&mut site.hosts[1], 2, 42, true);
    let c4 = attach(&mut site.hosts[2], 4, 42, true);
    let c5 = attach(&mut site.hosts[2], 5, 43, true);
    let addr = |g: &Guest| g.addr.clone().unwrap();

    // Control plane: what start adds, on the three hosts at once.
    let t0 = Instant::now();
    for i in 0..3 {
        let rec = record_path(&site.hosts[i]);
        let p = evpn_start(site.frr(i), &rec, &want(i, 42));
        assert_eq!(
            p.changes.len(),
            4,
            "router, neighbor, activate, advertise-all-vni"
        );
        if i != 1 {
            let p = evpn_start(site.frr(i), &rec, &want(i, 43));
            assert!(
                p.changes.is_empty(),
                "a second VNI adds nothing: {:?}",
                p.changes
            );
        }
    }
    site.rr().wait(Duration::from_secs(30), "3 sessions", |_| {
        site.established_at_rr() == 3
    });
    measure(
        "3 sessions Established at the reflector after config",
        t0.elapsed(),
    );
    first_ping(&a1, &addr(&b2), 20);
    measure(
        "first ping A/1 -> B/2 after config (sessions + routes)",
        t0.elapsed(),
    );
    site.frr(0)
        .wait(Duration::from_secs(20), "remote MACs on A", |_| {
            has_remote_mac(&site.hosts[0], 42, &guest_mac(&b2), "198.51.100.2")
                && has_remote_mac(&site.hosts[0], 42, &guest_mac(&c4), "198.51.100.3")
        });
    measure(
        "B's and C's guest MACs extern_learn on A after config",
        t0.elapsed(),
    );

    // Full-size frames, every pair of VNI 42.
    for (x, y) in [(&a1, &b2), (&a1, &c4), (&b2, &c4), (&c4, &a1)] {
        assert!(ping_retry(&x.ns, &addr(y), 5), "{} -> {}", x.ns, addr(y));
        let df = ping_full_size(x, &addr(y));
        assert!(df.success(), "1472-byte DF ping:\n{df}");
    }
    // Remote MACs came from BGP, not from learning: extern_learn, with their VTEP; the flood
    // list is the VTEPs of VNI 42 (type-3 routes), installed by zebra.
    let a = &site.hosts[0];
    let f = fdb(a, "vxlan42");
    for (g, vtep) in [(&b2, "198.51.100.2"), (&c4, "198.51.100.3")] {
        assert!(
            has_remote_mac(a, 42, &guest_mac(g), vtep),
            "{}:\n{f}",
            guest_mac(g)
        );
        assert!(
            f.contains(&format!("00:00:00:00:00:00 dst {vtep} self permanent")),
            "flood to {vtep}:\n{f}"
        );
    }
    assert!(
        !f.contains("198.51.100.4"),
        "D is not in the fabric yet:\n{f}"
    );

    // VNI 43 stays apart: A/3 reaches C/5, not the guests of VNI 42.
    assert!(ping_retry(&a3.ns, &addr(&c5), 10), "A/3 -> C/5 in VNI 43");
    assert!(!ping(&a3.ns, &addr(&a1)), "VNI 43 reached A/1 (VNI 42)");
    assert!(!ping(&a3.ns, &addr(&b2)), "VNI 43 reached B/2 (VNI 42)");
    let f43 = fdb(a, "vxlan43");
    assert!(
        !f43.contains(&guest_mac(&b2)) && !f43.contains("198.51.100.2"),
        "{f43}"
    );

    // Status from FRR's JSON, through the parsers.
    let st = evpn::Status {
        vni: 42,
        sessions: evpn::parse_bgp_summary(&site.frr(0).show("show bgp l2vpn evpn summary json"))
            .unwrap(),
        state: vni_state(site.frr(0), 42),
        macs: evpn::parse_evpn_macs(&site.frr(0).show("show evpn mac vni 42 json")).unwrap(),
    };
    let s = st.state.as_ref().expect("zebra knows VNI 42");
    assert_eq!(s.remote_vteps, [ip("198.51.100.2"), ip("198.51.100.3")]);
    assert_eq!(s.local_vtep, Some(ip("198.51.100.1")));
    assert_eq!(
        evpn::macs_per_vtep(&st.macs)
            .into_iter()
            .collect::<Vec<_>>(),
        [(ip("198.51.100.2"), 1), (ip("198.51.100.3"), 1)]
    );
    let out = st.render();
    assert!(
        out.starts_with("BGP session 198.51.100.254 (rr): Established"),
        "{out}"
    );
    eprintln!("status overlay=evpn vni=42 on A:\n{out}");
    assert_eq!(
        vni_state(site.frr(0), 43).unwrap().remote_vteps,
        [ip("198.51.100.3")]
    );
    // A second start on A plans nothing.
    let cfg = evpn::parse_running_config(&site.frr(0).running_config()).unwrap();
    let again = evpn::plan_add(
        &want(0, 42),
        &cfg,
        &read_record(&record_path(&site.hosts[0])),
    )
    .unwrap();
    assert!(again.changes.is_empty(), "{:?}", again.changes);

    // A guest comes online on A: its first ping, and its MAC on B.
    let a6 = attach(&mut site.hosts[0], 6, 42, false);
    let t1 = Instant::now();
    let d = first_ping(&a6, &addr(&b2), 10);
    measure("new guest A/6: first ping to B/2", d);
    let mac6 = guest_mac(&a6);
    site.frr(1)
        .wait(Duration::from_secs(10), "A/6's MAC on B", |_| {
            has_remote_mac(&site.hosts[1], 42, &mac6, "198.51.100.1")
        });
    measure("new guest A/6: its MAC extern_learn on B", t1.elapsed());

    // ARP over the underlay. A/6's address is not known to dom0: B/2's ARP request for it is
    // flooded to every VTEP of VNI 42. Once A tells its bridge (as a vif script can, from
    // xenstore's `ip`), zebra advertises MAC+IP and B's bridge answers itself (neigh_suppress).
    let b = &site.hosts[1];
    site.count_arp_about(&addr(&a6));
    cmd::ns_exec(&b2.ns, &["ip", "neigh", "flush", "dev", &b2.guest_if]).ok();
    site.reset_counters();
    assert!(ping(&b2.ns, &addr(&a6)));
    let unknown = site.frames();
    count(
        "ARP frames over the underlay, B/2 -> A/6, A/6's IP unknown",
        unknown.arp,
    );
    assert_eq!(
        unknown.arp, 3,
        "the request to A and C, the reply: {unknown:?}"
    );
    tell_bridge(&site.hosts[0], &a6, 42);
    site.frr(1)
        .wait(Duration::from_secs(10), "A/6's IP on B's bridge", |_| {
            cmd::ns_exec(&b.dom0, &["ip", "neigh", "show", "dev", "vxbr42"])
                .stdout
                .contains(&addr(&a6))
        });
    cmd::ns_exec(&b2.ns, &["ip", "neigh", "flush", "dev", &b2.guest_if]).ok();
    site.reset_counters();
    assert!(ping(&b2.ns, &addr(&a6)));
    let known = site.frames();
    count(
        "ARP frames over the underlay, B/2 -> A/6, A/6's IP known (neigh_suppress)",
        known.arp,
    );
    assert_eq!(
        known.arp, 0,
        "ARP crossed the underlay for a known guest: {known:?}"
    );
    site.count_arp_about(&addr(&c4));
    cmd::ns_exec(&a1.ns, &["ip", "neigh", "flush", "dev", &a1.guest_if]).ok();
    site.reset_counters();
    assert!(ping(&a1.ns, &addr(&c4)));
    assert_eq!(site.frames().arp, 0, "A/1 -> C/4");

    // A broadcast costs one underlay frame per other VTEP of the VNI, and only of that VNI.
    site.reset_counters();
    cmd::ns_exec(
        &a1.ns,
        &["ping", "-n", "-q", "-b", "-c1", "-W1", "192.0.2.255"],
    );
    let b42 = site.frames();
    count(
        "underlay frames for one broadcast in VNI 42 (3 hosts)",
        b42.bcast,
    );
    assert_eq!(b42.bcast, 2, "{b42:?}");
    site.reset_counters();
    cmd::ns_exec(
        &a3.ns,
        &["ping", "-n", "-q", "-b", "-c1", "-W1", "192.0.2.255"],
    );
    let b43 = site.frames();
    count(
        "underlay frames for one broadcast in VNI 43 (2 hosts)",
        b43.bcast,
    );
    assert_eq!(b43.bcast, 1, "{b43:?}");

    // A fourth host joins, naming only the reflector; nothing changes on the others.
    let others: Vec<String> = (0..3).map(|i| site.frr(i).running_config()).collect();
    site.start_frr(3);
    let before_d = site.frr(3).running_config();
    data_plane(&site.hosts[3], 3, 42);
    let d7 = attach(&mut site.hosts[3], 7, 42, true);
    let t2 = Instant::now();
    evpn_start(site.frr(3), &record_path(&site.hosts[3]), &want(3, 42));
    site.rr().wait(Duration::from_secs(30), "D's session", |_| {
        site.established_at_rr() == 4
    });
    measure("fourth host: session Established", t2.elapsed());
    first_ping(&d7, &addr(&a1), 20);
    measure(
        "fourth host: first ping D/7 -> A/1 after its config",
        t2.elapsed(),
    );
    site.frr(0)
        .wait(Duration::from_secs(20), "D/7's MAC on A", |_| {
            has_remote_mac(&site.hosts[0], 42, &guest_mac(&d7), "198.51.100.4")
        });
    measure("fourth host: D/7's MAC extern_learn on A", t2.elapsed());
    assert!(
        ping_full_size(&d7, &addr(&c4)).success(),
        "D/7 -> C/4, 1472 DF"
    );
    for (i, was) in others.iter().enumerate() {
        assert_eq!(&site.frr(i).running_config(), was, "host {i} changed");
    }

    // C's bgpd crashes (zebra stays): the kernel closes its TCP session, the reflector
    // withdraws C's routes, and C's guest's MAC and C's VTEP go from A and B.
    let mac4 = guest_mac(&c4);
    assert!(has_remote_mac(&site.hosts[0], 42, &mac4, "198.51.100.3"));
    let t3 = Instant::now();
    site.frr[2].as_mut().unwrap().kill_daemon("bgpd");
    site.frr(0).wait(
        Duration::from_secs(30),
        "C/4's MAC gone from A and B",
        |_| !knows_mac(&site.hosts[0], 42, &mac4) && !knows_mac(&site.hosts[1], 42, &mac4),
    );
    measure(
        "C's bgpd killed: its guest's MAC withdrawn on A and B",
        t3.elapsed(),
    );
    site.frr(0)
        .wait(Duration::from_secs(30), "C's VTEP gone from A", |f| {
            !vni_state(f, 42)
                .unwrap()
                .remote_vteps
                .contains(&ip("198.51.100.3"))
        });
    measure(
        "C's bgpd killed: C's VTEP gone from A's flood list",
        t3.elapsed(),
    );
    assert!(!fdb(&site.hosts[0], "vxlan42").contains("198.51.100.3"));
    assert!(ping(&a1.ns, &addr(&b2)), "A/1 -> B/2 after C failed");
    assert!(ping(&d7.ns, &addr(&b2)), "D/7 -> B/2 after C failed");
    site.frr[2].as_mut().unwrap().stop();

    // B drops off the underlay without a word (a power cut: no TCP reset): the reflector
    // notices when the hold time (9 s with `frr defaults datacenter`) runs out.
    let mac2 = guest_mac(&b2);
    let t4 = Instant::now();
    cmd::ip_must(&site.ul.name, &["link", "set", "dev", "h1", "down"]);
    site.frr(0)
        .wait(Duration::from_secs(30), "B/2's MAC gone from A", |_| {
            !knows_mac(&site.hosts[0], 42, &mac2)
        });
    measure(
        "B cut off the underlay: its guest's MAC withdrawn on A",
        t4.elapsed(),
    );
    assert!(ping(&a1.ns, &addr(&d7)), "A/1 -> D/7 while B is cut off");
    let t5 = Instant::now();
    cmd::ip_must(&site.ul.name, &["link", "set", "dev", "h1", "up"]);
    site.frr(0)
        .wait(Duration::from_secs(30), "B/2's MAC back on A", |_| {
            has_remote_mac(&site.hosts[0], 42, &mac2, "198.51.100.2")
        });
    measure(
        "B back on the underlay: its guest's MAC on A again",
        t5.elapsed(),
    );
    assert!(
        ping_retry(&a1.ns, &addr(&b2), 5),
        "A/1 -> B/2 after B came back"
    );

    // stop: VNI 43 on A first (FRR keeps everything VNI 42 uses), then VNI 42 everywhere; the
    // data plane goes first, then our FRR configuration, which leaves FRR as it was.
    remove_data_plane(&site.hosts[0], 43);
    let p = evpn_stop(site.frr(0), &record_path(&site.hosts[0]), 43);
    assert!(p.changes.is_empty(), "{:?}", p.changes);
    for (i, was) in [(0, &before[0]), (1, &before[1]), (3, &before_d)] {
        let h = &site.hosts[i];
        remove_data_plane(h, 42);
        let p = evpn_stop(site.frr(i), &record_path(h), 42);
        assert_eq!(
            p.changes.len(),
            1,
            "host {i}: no router bgp: {:?}",
            p.changes
        );
        assert!(p.notes.is_empty(), "{:?}", p.notes);
        assert_eq!(
            config_body(&site.frr(i).running_config()),
            config_body(was),
            "host {i}: FRR's configuration after stop"
        );
        assert!(!record_path(h).exists());
    }
    site.rr()
        .wait(Duration::from_secs(15), "no session left", |_| {
            site.established_at_rr() == 0
        });
}

/// An administrator's own FRR configuration: we add only the session and EVPN, keep their
/// instance, and stop gives them back exactly what they had. Also: an AS that does not match,
/// and their own EVPN set-up, which we use and never remove.
#[test]
fn evpn_keeps_the_administrators_frr_configuration_and_restores_it_exactly() {
    let Some(mut site) = Site::build("evpnadm", 2) else {
        return;
    };
    site.start_reflector();
    let admin = "frr defaults datacenter\nhostname a\nlog timestamp precision 3\n!\n\
                 interface eth1\n description underlay to the fabric\nexit\n!\n\
                 router bgp 65000\n bgp router-id 198.51.100.1\n neighbor 198.51.100.200 remote-as \
                 65001\n neighbor 198.51.100.200 description admin eBGP peer\n !\n address-family \
                 ipv4 unicast\n  network 203.0.113.0/24\n exit-address-family\nexit\n!\n\
                 route-map ADMIN-IN permit 10\nexit\n!\n";
    let h = &site.hosts[0];
    let f = Frr::start(&h.dom0, &format!("{}-f", h.prefix), admin);
    let rec = record_path(h);
    let before = f.running_config();

    // asn= that is not FRR's: refused, nothing changed.
    let cfg = evpn::parse_running_config(&before).unwrap();
    let mut w = want(0, 42);
    w.asn = Some(65001);
    let e = evpn::plan_add(&w, &cfg, &Record::default()).unwrap_err();
    assert!(e.to_string().contains("asn=65000"), "{e}");
    // What vtysh itself says to that (and why the plan refuses first).
    let o = f.vtysh(&["configure terminal", "router bgp 65001"]);
    assert_eq!(o.status, 1, "{o}");
    assert!(
        o.stdout.contains("BGP is already running; AS is 65000"),
        "{o}"
    );
    assert_eq!(f.running_config(), before);

    data_plane(h, 0, 42);
    let p = evpn_start(&f, &rec, &want(0, 42));
    assert_eq!(p.changes.len(), 3, "neighbor, activate, advertise-all-vni");
    let with = f.running_config();
    for line in [
        " neighbor 198.51.100.200 remote-as 65001",
        " neighbor 198.51.100.254 remote-as internal",
        " neighbor 198.51.100.254 update-source 198.51.100.1",
        "  network 203.0.113.0/24",
        "  no neighbor 198.51.100.254 activate",
        "  neighbor 198.51.100.254 activate",
        "  advertise-all-vni",
        "route-map ADMIN-IN permit 10",
        " description underlay to the fabric",
    ] {
        assert!(with.lines().any(|l| l == line), "{line:?} in\n{with}");
    }
    site.rr().wait(Duration::from_secs(30), "A's session", |_| {
        site.established_at_rr() == 1
    });
    // Only EVPN on our session: IPv4 unicast stays between the administrator and their peer.
    let s = evpn::parse_bgp_summary(&f.show("show bgp summary json")).unwrap();
    assert!(
        s.iter()
            .all(|s| s.peer != RR_ADDR || s.family.as_deref() == Some("l2VpnEvpn")),
        "{s:?}"
    );
    assert!(
        evpn_start(&f, &rec, &want(0, 42)).changes.is_empty(),
        "second start"
    );
    // A stop rolled back item by item gives the same configuration again.
    let cfg_with = evpn::parse_running_config(&with).unwrap();
    let rm = evpn::plan_remove(42, &cfg_with, &read_record(&rec));
    for c in &rm.changes {
        run_vtysh(&f, &c.apply).ok();
    }
    for c in rm.changes.iter().rev() {
        run_vtysh(&f, &c.undo).ok();
    }
    assert_eq!(f.running_config(), with, "stop rolled back");
    let p = evpn_stop(&f, &rec, 42);
    assert_eq!(p.changes.len(), 3);
    assert_eq!(
        f.running_config(),
        before,
        "stop restores the administrator's config"
    );
    assert!(!rec.exists());

    // The administrator's own EVPN set-up: used, never removed.
    for c in evpn::plan_add(&want(0, 42), &cfg, &Record::default())
        .unwrap()
        .changes
    {
        run_vtysh(&f, &c.apply).ok();
    }
    let theirs = f.running_config();
    let p = evpn_start(&f, &rec, &want(0, 42));
    assert!(p.changes.is_empty() && p.record.is_empty(), "{p:?}");
    assert!(!rec.exists());
    evpn_stop(&f, &rec, 42);
    assert_eq!(f.running_config(), theirs);

    // A router we made, into which the administrator put their own neighbor: stop keeps it
    // (with that neighbor), takes the rest of ours.
    let h2 = &site.hosts[1];
    let g = Frr::start(
        &h2.dom0,
        &format!("{}-f", h2.prefix),
        &frr::host_config("b"),
    );
    let rec2 = record_path(h2);
    // A start that fails half-way is rolled back with the undo lines, in reverse.
    let empty = g.running_config();
    let cfg = evpn::parse_running_config(&empty).unwrap();
    let add = evpn::plan_add(&want(1, 42), &cfg, &Record::default()).unwrap();
    for c in &add.changes[..3] {
        run_vtysh(&g, &c.apply).ok();
    }
    for c in add.changes[..3].iter().rev() {
        run_vtysh(&g, &c.undo).ok();
    }
    assert_eq!(g.running_config(), empty, "start rolled back");
    evpn_start(&g, &rec2, &want(1, 42));
    // So is a stop (here: one `no router bgp`, undone by one call that adds everything back).
    let with_ours = g.running_config();
    let cfg = evpn::parse_running_config(&with_ours).unwrap();
    let rm = evpn::plan_remove(42, &cfg, &read_record(&rec2));
    for c in &rm.changes {
        run_vtysh(&g, &c.apply).ok();
    }
    assert_eq!(g.running_config(), empty);
    for c in rm.changes.iter().rev() {
        run_vtysh(&g, &c.undo).ok();
    }
    assert_eq!(g.running_config(), with_ours, "stop rolled back");
    g.vtysh(&[
        "configure terminal",
        "router bgp 65000",
        "neighbor 198.51.100.99 remote-as 65009",
    ])
    .ok();
    let p = evpn_stop(&g, &rec2, 42);
    assert!(
        p.notes[0].contains("keeping router bgp 65000"),
        "{:?}",
        p.notes
    );
    let b = evpn::parse_running_config(&g.running_config())
        .unwrap()
        .bgp
        .unwrap();
    assert_eq!(
        b.lines,
        [
            "bgp router-id 198.51.100.2",
            "no bgp default ipv4-unicast",
            "neighbor 198.51.100.99 remote-as 65009"
        ]
    );
    assert!(b.families.is_empty(), "{:?}", b.families);
}

/// How vtysh reports FRR down, and that the checks tell the cases apart.
#[test]
fn evpn_frr_not_running_or_without_bgpd_is_a_clear_error() {
    let Some(site) = Site::build("evpndown", 1) else {
        return;
    };
    let h = &site.hosts[0];
    // Nothing running in this pathspace.
    let name = format!("{}-none", h.prefix);
    let o = cmd::run(&["vtysh", "-N", &name, "-c", "show daemons"]);
    assert_eq!(o.status, 1, "{o}");
    assert!(
        o.stderr
            .contains("Exiting: failed to connect to any daemons."),
        "{o}"
    );
    assert_eq!(
        evpn::check_running(o.status, &o.stdout, &o.stderr),
        Err(evpn::FrrDown::NotRunning)
    );
    // zebra only: BGP commands fail with "bgpd is not running", nothing is configured.
    let z = Frr::start_daemons(
        &h.dom0,
        &format!("{}-f", h.prefix),
        &frr::host_config("a"),
        &["zebra"],
    );
    let o = z.vtysh(&["show daemons"]);
    assert_eq!(
        evpn::check_running(o.status, &o.stdout, &o.stderr),
        Err(evpn::FrrDown::BgpdNotRunning),
        "{o}"
    );
    let before = z.running_config();
    let o = z.vtysh(&["configure terminal", "router bgp 65000"]);
    assert_eq!(o.status, 1, "{o}");
    assert!(o.stderr.contains("bgpd is not running"), "{o}");
    let o = z.vtysh(&["show bgp summary json"]);
    assert_eq!(o.status, 1, "{o}");
    assert_eq!(z.running_config(), before);
    // zebra answers EVPN questions without bgpd (no VNI: no output at all).
    assert_eq!(z.show("show evpn vni json").trim(), "");
    let m = evpn::down_message(
        &evpn::FrrDown::BgpdNotRunning,
        std::fs::read_to_string("/etc/frr/daemons").ok().as_deref(),
        "Nothing was changed.",
    );
    assert!(
        m.contains("only zebra") && m.ends_with("Nothing was changed."),
        "{m}"
    );
    // Both: fine.
    drop(z);
    let f = Frr::start(&h.dom0, &format!("{}-g", h.prefix), &frr::host_config("a"));
    let o = f.vtysh(&["show daemons"]);
    assert_eq!(
        evpn::check_running(o.status, &o.stdout, &o.stderr),
        Ok(()),
        "{o}"
    );
}

/// The fixture itself: daemons only in the test's namespace, stopped by PID on drop and when the
/// test panics, their socket directory removed.
#[test]
fn evpn_frr_fixture_runs_only_in_its_namespace_and_cleans_up_on_panic() {
    let Some(site) = Site::build("evpnfix", 1) else {
        return;
    };
    let ns = site.hosts[0].dom0.clone();
    let name = format!("{}-f", site.hosts[0].prefix);
    let f = Frr::start(&ns, &name, &frr::host_config("a"));
    let pids = f.pids();
    assert_eq!(pids.len(), 2);
    let root = std::fs::metadata("/proc/1/ns/net").map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.ino()
    });
    for (d, p) in &pids {
        let m = std::fs::metadata(format!("/proc/{p}/ns/net")).map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.ino()
        });
        assert!(
            m.is_ok() && m.ok() != root.as_ref().ok().copied(),
            "{d} {p}"
        );
        assert!(
            cmd::run(&["ip", "netns", "pids", &ns])
                .stdout
                .split_whitespace()
                .any(|x| x == p.to_string()),
            "{d} ({p}) not in {ns}"
        );
    }
    let run_dir = f.run_dir.clone();
    assert!(run_dir.join("bgpd.vty").exists());
    drop(f);
    for (d, p) in &pids {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z"),
            "{d} ({p}) still runs: {stat}"
        );
    }
    assert!(!run_dir.exists());
    // A test that panics with FRR running: the guard still stops it.
    let name2 = format!("{}-p", site.hosts[0].prefix);
    let (ns2, n2) = (ns.clone(), name2.clone());
    let r = std::thread::spawn(move || {
        let f = Frr::start(&ns2, &n2, &frr::host_config("a"));
        std::fs::write(
            std::env::temp_dir().join(format!("{n2}.pids")),
            format!("{:?}", f.pids()),
        )
        .unwrap();
        panic!("deliberate panic: the FRR guard must stop the daemons anyway");
    })
    .join();
    assert!(r.is_err());
    let pf = std::env::temp_dir().join(format!("{name2}.pids"));
    let s = std::fs::read_to_string(&pf).unwrap();
    let _ = std::fs::remove_file(&pf);
    for p in s
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|x| x.parse::<i32>().ok())
        .filter(|p| *p > 1)
    {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z"),
            "{p} survived the panic: {stat}"
        );
    }
    assert!(!Path::new(frr::RUN_ROOT).join(&name2).exists());
    // Never outside a namespace of ours.
    let r = std::panic::catch_unwind(|| Frr::start("default", "xt-nope", "")).map(|_| ());
    assert!(r.is_err());
}

/// For comparison, the static overlay (`overlay=vxlan peers=…`, its commands as its dry run
/// prints them) on four hosts, the tenant on two: a broadcast goes to every peer listed, and ARP
/// for a known guest crosses the underlay.
#[test]
fn evpn_comparison_static_peers_flood_every_peer_and_carry_arp() {
    let Some(mut site) = Site::build("evpnstat", 4) else {
        return;
    };
    for i in 0..4 {
        let h = &site.hosts[i];
        let d = &h.dom0;
        cmd::ip_must(
            d,
            &[
                "link",
                "add",
                "name",
                "vxbr44",
                "type",
                "bridge",
                "stp_state",
                "0",
                "forward_delay",
                "0",
            ],
        );
        cmd::ip_must(
            d,
            &[
                "link",
                "add",
                "name",
                "vxlan44",
                "mtu",
                "1500",
                "type",
                "vxlan",
                "id",
                "44",
                "dstport",
                "4789",
                "local",
                &underlay_addr(i),
                "dev",
                "eth1",
            ],
        );
        for j in (0..4).filter(|j| *j != i) {
            cmd::ns_exec(
                d,
                &[
                    "bridge",
                    "fdb",
                    "append",
                    "00:00:00:00:00:00",
                    "dev",
                    "vxlan44",
                    "dst",
                    &underlay_addr(j),
                ],
            )
            .ok();
        }
        cmd::ip_must(
            d,
            &["link", "set", "dev", "vxlan44", "master", "vxbr44", "up"],
        );
        cmd::ip_must(d, &["link", "set", "dev", "vxbr44", "up"]);
    }
    let a1 = attach(&mut site.hosts[0], 1, 44, true);
    let b2 = attach(&mut site.hosts[1], 2, 44, true);
    let addr = |g: &Guest| g.addr.clone().unwrap();
    assert!(ping_retry(&a1.ns, &addr(&b2), 5));
    site.count_arp_about(&addr(&b2));
    cmd::ns_exec(&a1.ns, &["ip", "neigh", "flush", "dev", &a1.guest_if]).ok();
    site.reset_counters();
    assert!(ping(&a1.ns, &addr(&b2)));
    let arp = site.frames();
    count(
        "static peers: ARP frames over the underlay for a known guest",
        arp.arp,
    );
    assert_eq!(arp.arp, 4, "request to 3 peers + reply: {arp:?}");
    site.reset_counters();
    cmd::ns_exec(
        &a1.ns,
        &["ping", "-n", "-q", "-b", "-c1", "-W1", "192.0.2.255"],
    );
    let b = site.frames();
    count(
        "static peers: underlay frames for one broadcast (3 peers, tenant on 2 hosts)",
        b.bcast,
    );
    assert_eq!(b.bcast, 3, "{b:?}");
}

// ---------------------------------------------------------------------------------------------
// The scripts themselves: `network-bridge start|stop|status overlay=evpn` and guests attached
// by `vif-bridge online`, as an administrator and libxl run them.

/// `network-bridge <word> overlay=evpn vni=<vni> rr=RR …` in host `i`'s dom0, talking to that
/// host's FRR.
fn nb_evpn<'h>(site: &'h Site, i: usize) -> Call<'h> {
    let prefix = site.frr[i]
        .as_ref()
        .map(|f| shell_words_join(&f.vtysh_prefix()))
        .unwrap_or_else(|| format!("vtysh -N {}-nofrr", site.hosts[i].prefix));
    site.hosts[i]
        .script("network-bridge")
        .env("XENNET_VTYSH", &prefix)
}

fn shell_words_join(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

fn evpn_args(word: &str, vni: u32) -> Vec<String> {
    vec![
        word.to_string(),
        "overlay=evpn".to_string(),
        format!("vni={vni}"),
        format!("rr={RR_ADDR}"),
    ]
}

#[track_caller]
fn run_nb(site: &Site, i: usize, word: &str, vni: u32) -> cmd::Output {
    let args = evpn_args(word, vni);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    nb_evpn(site, i).run(&argv)
}

/// Guest `domid` of host `i` on `vxbr<vni>`, attached by `vif-bridge online` with its address
/// and MAC in xenstore, as libxl gives them.
#[track_caller]
fn attach_by_script(site: &mut Site, i: usize, domid: u32, vni: u32) -> Guest {
    let h = &mut site.hosts[i];
    let g = h.add_guest(domid, 0);
    let addr = g.addr.clone().expect("the guest's address");
    let mac = guest_mac(&g);
    h.xs_write_backend(
        domid,
        0,
        &[
            ("bridge", format!("vxbr{vni}").as_str()),
            ("ip", addr.as_str()),
            ("mac", mac.as_str()),
        ],
    );
    let r = h
        .libxl("vif-bridge", domid, 0)
        .run(&["online", "type_if=vif", "firewall=none"]);
    assert!(r.success(), "vif-bridge online:\n{}", h.explain(&r));
    g
}

#[test]
fn evpn_by_the_scripts_guests_meet_a_fourth_host_joins_a_failed_one_is_withdrawn_stop_restores() {
    let Some(mut site) = Site::build("evsc", 4) else {
        return;
    };
    site.start_reflector();
    let mut before_cfg = Vec::new();
    for i in 0..3 {
        site.start_frr(i);
        before_cfg.push(config_body(&site.frr(i).running_config()));
    }
    let mut before_links = Vec::new();
    for i in 0..3 {
        before_links.push(site.hosts[i].snapshot());
        let r = run_nb(&site, i, "start", 42);
        assert!(
            r.success(),
            "start on host {i}:\n{}",
            site.hosts[i].explain(&r)
        );
        assert!(r.stdout.contains("overlay evpn VNI 42"), "{}", r.stdout);
        // A second start changes nothing.
        let again = run_nb(&site, i, "start", 42);
        assert!(
            again.success() && again.stdout.contains("nothing to do"),
            "{again}"
        );
    }
    let t0 = Instant::now();
    site.rr().wait(Duration::from_secs(20), "3 sessions", |rr| {
        evpn::parse_bgp_summary(&rr.show("show bgp l2vpn evpn summary json"))
            .map(|s| s.iter().filter(|x| x.established()).count() == 3)
            .unwrap_or(false)
    });
    measure("scripts: sessions established after start", t0.elapsed());
    // The data plane as the issue asks: no learning on the VXLAN device, ARP answered here.
    let d = cmd::ns_exec(
        &site.hosts[0].dom0,
        &["ip", "-d", "-j", "link", "show", "dev", "vxlan42"],
    );
    let dj: serde_json::Value = serde_json::from_str(d.ok()).unwrap();
    assert_eq!(dj[0]["linkinfo"]["info_data"]["learning"], false, "{dj}");
    assert_eq!(dj[0]["master"], "vxbr42");
    let port = cmd::ns_exec(
        &site.hosts[0].dom0,
        &["bridge", "-d", "-j", "link", "show", "dev", "vxlan42"],
    );
    let pj: serde_json::Value = serde_json::from_str(port.ok()).unwrap();
    assert_eq!(pj[0]["learning"], false, "{pj}");
    assert_eq!(pj[0]["neigh_suppress"], true, "{pj}");

    let guests: Vec<Guest> = (0..3)
        // A domid per host: a guest's address follows its domid (192.0.2.50+domid), and guests
        // on one overlay must differ, or a ping would reach the pinging guest itself.
        .map(|i| attach_by_script(&mut site, i, i as u32 + 1, 42))
        .collect();
    let addrs: std::collections::BTreeSet<_> = guests.iter().map(|g| g.addr.clone()).collect();
    assert_eq!(
        addrs.len(),
        guests.len(),
        "the guests' addresses must differ"
    );
    let t1 = Instant::now();
    let first = first_ping(&guests[0], guests[2].addr.as_deref().unwrap(), 20);
    measure("scripts: first guest-to-guest ping after online", first);
    for a in &guests {
        for b in &guests {
            if a.ns != b.ns {
                let o = ping_full_size(a, b.addr.as_deref().unwrap());
                assert!(o.success(), "1500-byte frame {} -> {}:\n{o}", a.ns, b.ns);
            }
        }
    }
    // Remote MACs come from BGP (extern_learn), not from flooding.
    let all_learned = |site: &Site| {
        guests.iter().enumerate().all(|(i, _)| {
            guests.iter().enumerate().all(|(j, g)| {
                i == j || has_remote_mac(&site.hosts[i], 42, &guest_mac(g), &underlay_addr(j))
            })
        })
    };
    site.frr(0).wait(
        Duration::from_secs(20),
        "every remote MAC extern_learn",
        |_| all_learned(&site),
    );
    for i in 0..3 {
        assert!(
            !fdb(&site.hosts[i], "vxlan42")
                .lines()
                .any(|l| l.contains(" dst ")
                    && !l.starts_with("00:00:00:00:00:00")
                    && !l.contains("extern_learn")),
            "host {i} learned a MAC by flooding:\n{}",
            fdb(&site.hosts[i], "vxlan42")
        );
    }
    measure(
        "scripts: all MACs in place after the first online",
        t1.elapsed(),
    );
    // ARP for a known remote guest is answered on the local host: none crosses the underlay.
    let target = guests[2].addr.clone().unwrap();
    cmd::ns_exec(&guests[0].ns, &["ip", "neigh", "flush", "all"]).ok();
    site.count_arp_about(&target);
    site.reset_counters();
    assert!(ping(&guests[0].ns, &target));
    let arp = site.frames().arp;
    count(
        "scripts: ARP frames over the underlay for a known guest",
        arp,
    );
    assert_eq!(arp, 0, "ARP for a known guest crossed the underlay");

    // status tells the sessions, the remote VTEPs and the MACs from each.
    let st = nb_evpn(&site, 0).run(&["status", "overlay=evpn", "vni=42"]);
    assert!(st.success(), "{st}");
    for needle in [
        "Established",
        "remote VTEP 198.51.100.2: 1 MAC(s)",
        "remote VTEP 198.51.100.3: 1 MAC(s)",
    ] {
        assert!(
            st.stdout.contains(needle),
            "status lacks {needle:?}:\n{}",
            st.stdout
        );
    }
    // xennet map shows the VNI's remote VTEPs, and doctor checks FRR once EVPN is in use.
    let map = site.hosts[0].script("xennet").run(&["map"]);
    assert!(
        map.stdout.contains("VXLAN VNI 42 (BGP EVPN)")
            && map
                .stdout
                .contains("remote VTEPs: 198.51.100.2, 198.51.100.3"),
        "{}",
        map.stdout
    );
    let doctor = site.hosts[0]
        .script("xennet")
        .env(
            "XENNET_VTYSH",
            &shell_words_join(&site.frr(0).vtysh_prefix()),
        )
        .run(&["doctor"]);
    assert!(
        doctor
            .stdout
            .lines()
            .any(|l| l.starts_with("OK") && l.contains("frr") && l.contains("zebra and bgpd")),
        "{}",
        doctor.stdout
    );

    // A fourth host names only the reflector; nobody else changes anything.
    let others: Vec<String> = (0..3)
        .map(|i| config_body(&site.frr(i).running_config()))
        .collect();
    site.start_frr(3);
    let t2 = Instant::now();
    let r = run_nb(&site, 3, "start", 42);
    assert!(r.success(), "{}", site.hosts[3].explain(&r));
    let d4 = attach_by_script(&mut site, 3, 4, 42);
    let joined = first_ping(&d4, guests[0].addr.as_deref().unwrap(), 30);
    measure("scripts: fourth host, start to first ping", t2.elapsed());
    let _ = joined;
    for (i, o) in others.iter().enumerate() {
        assert_eq!(&config_body(&site.frr(i).running_config()), o, "host {i}");
    }

    // A host whose FRR stops has its guest withdrawn from the others.
    let c_mac = guest_mac(&guests[2]);
    let t3 = Instant::now();
    site.frr[2].as_mut().unwrap().kill();
    let gone = site
        .frr(0)
        .wait(Duration::from_secs(20), "C's MAC withdrawn", |_| {
            !knows_mac(&site.hosts[0], 42, &c_mac)
        });
    measure("scripts: MAC withdrawn after a host's FRR stopped", gone);
    let _ = t3;

    // stop on host B: the others keep their overlay, B's FRR and links are as before start.
    let guest_b = &guests[1];
    assert!(site.hosts[1]
        .libxl("vif-bridge", 2, 0)
        .run(&["offline", "type_if=vif", "firewall=none"])
        .success());
    let r = run_nb(&site, 1, "stop", 42);
    assert!(r.success(), "{}", site.hosts[1].explain(&r));
    assert_eq!(config_body(&site.frr(1).running_config()), before_cfg[1]);
    assert!(site.hosts[1].link("vxlan42").is_none() && site.hosts[1].link("vxbr42").is_none());
    let _ = guest_b;
    assert!(
        ping(&guests[0].ns, d4.addr.as_deref().unwrap()),
        "A and D lost each other when B stopped"
    );
    // And A's stop leaves A's FRR configuration exactly as it was.
    assert!(site.hosts[0]
        .libxl("vif-bridge", 1, 0)
        .run(&["offline", "type_if=vif", "firewall=none"])
        .success());
    let r = run_nb(&site, 0, "stop", 42);
    assert!(r.success(), "{}", site.hosts[0].explain(&r));
    assert_eq!(config_body(&site.frr(0).running_config()), before_cfg[0]);
}

#[test]
fn evpn_by_the_scripts_vni_43_stays_apart() {
    let Some(mut site) = Site::build("evsc43", 2) else {
        return;
    };
    site.start_reflector();
    for i in 0..2 {
        site.start_frr(i);
    }
    for (i, vni) in [(0, 42), (1, 43), (1, 42)] {
        let r = run_nb(&site, i, "start", vni);
        assert!(r.success(), "{}", site.hosts[i].explain(&r));
    }
    let a = attach_by_script(&mut site, 0, 1, 42);
    let b42 = attach_by_script(&mut site, 1, 2, 42);
    let b43 = attach_by_script(&mut site, 1, 3, 43);
    first_ping(&a, b42.addr.as_deref().unwrap(), 20);
    assert!(
        !ping(&a.ns, b43.addr.as_deref().unwrap()),
        "VNI 42 reached a guest of VNI 43"
    );
    assert!(!knows_mac(&site.hosts[0], 42, &guest_mac(&b43)));
}

#[test]
fn evpn_by_the_scripts_frr_down_refusing_or_failing_half_way_changes_nothing() {
    let Some(mut site) = Site::build("evscd", 1) else {
        return;
    };
    // No FRR at all: a clear error naming the fix, nothing changed.
    let before = site.hosts[0].snapshot();
    let r = run_nb(&site, 0, "start", 42);
    assert!(!r.success(), "start without FRR should fail: {r}");
    assert!(
        r.stderr.contains("overlay=evpn needs FRR") && r.stderr.contains("Nothing was changed"),
        "{}",
        r.stderr
    );
    assert_same(&before, &site.hosts[0].snapshot(), "start without FRR");
    // FRR running another AS than asn= asks: refused before anything is made, FRR as it was.
    site.start_frr(0);
    let o = site.frr(0).vtysh(&[
        "configure terminal",
        "router bgp 64999",
        "bgp router-id 198.51.100.1",
    ]);
    assert!(o.success(), "{o}");
    let cfg = config_body(&site.frr(0).running_config());
    let r = nb_evpn(&site, 0).run(&[
        "start",
        "overlay=evpn",
        "vni=42",
        &format!("rr={RR_ADDR}"),
        "asn=65000",
    ]);
    assert!(!r.success(), "{r}");
    assert!(r.stderr.contains("AS 64999"), "{}", r.stderr);
    assert_same(&before, &site.hosts[0].snapshot(), "start refused by FRR");
    assert_eq!(config_body(&site.frr(0).running_config()), cfg);
    // A failure at every host change of start (FRR's changes, the bridge, the VXLAN device,
    // its flags …): each leaves the links, FRR's configuration and the records as they were.
    let o = site
        .frr(0)
        .vtysh(&["configure terminal", "no router bgp 64999"]);
    assert!(o.success(), "{o}");
    let cfg = config_body(&site.frr(0).running_config());
    let h = &site.hosts[0];
    let dir = h.scratch.join("faults");
    let bin = dir.join("bin");
    faults::install_host_change(&bin, &["ip", "bridge", "vtysh"]);
    let args = evpn_args("start", 42);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut k = 1;
    loop {
        let _ = std::fs::remove_file(dir.join("count"));
        let r = nb_evpn(&site, 0)
            .env(
                "PATH",
                &format!(
                    "{}:{}:/usr/sbin:/usr/bin:/sbin:/bin",
                    h.fake_bin.display(),
                    bin.display()
                ),
            )
            .env("FAULT_DIR", &dir.display().to_string())
            .env("FAIL_AT", &k.to_string())
            .run(&argv);
        if r.success() {
            break;
        }
        assert!(
            r.stderr.contains("injected failure"),
            "start, call {k}:\n{r}"
        );
        assert_same(
            &before,
            &h.snapshot(),
            &format!("start failing at call {k}"),
        );
        assert_eq!(
            config_body(&site.frr(0).running_config()),
            cfg,
            "FRR's configuration after start failed at call {k}"
        );
        assert!(
            !h.state_dir.join("network-bridge.frr-evpn").exists(),
            "a record after start failed at call {k}"
        );
        k += 1;
        assert!(k < 40, "start never got through");
    }
    assert!(k > 6, "start made only {} changes", k - 1);
    eprintln!(
        "EVPN-MEASURE scripts: start failed and was undone at each of {} changes",
        k - 1
    );
    // And every change of stop: the overlay, FRR's configuration and the record stay whole.
    let started = h.snapshot();
    let started_cfg = config_body(&site.frr(0).running_config());
    let record = std::fs::read_to_string(h.state_dir.join("network-bridge.frr-evpn")).unwrap();
    let args = evpn_args("stop", 42);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut k = 1;
    loop {
        let _ = std::fs::remove_file(dir.join("count"));
        let r = nb_evpn(&site, 0)
            .env(
                "PATH",
                &format!(
                    "{}:{}:/usr/sbin:/usr/bin:/sbin:/bin",
                    h.fake_bin.display(),
                    bin.display()
                ),
            )
            .env("FAULT_DIR", &dir.display().to_string())
            .env("FAIL_AT", &k.to_string())
            .run(&argv);
        if r.success() {
            break;
        }
        assert!(
            r.stderr.contains("injected failure"),
            "stop, call {k}:\n{r}"
        );
        assert_same(
            &started,
            &h.snapshot(),
            &format!("stop failing at call {k}"),
        );
        assert_eq!(
            config_body(&site.frr(0).running_config()),
            started_cfg,
            "stop call {k}"
        );
        assert_eq!(
            std::fs::read_to_string(h.state_dir.join("network-bridge.frr-evpn")).ok(),
            Some(record.clone()),
            "the record after stop failed at call {k}"
        );
        k += 1;
        assert!(k < 40, "stop never got through");
    }
    assert!(k > 3, "stop made only {} changes", k - 1);
    assert_same(&before, &h.snapshot(), "start then stop");
    assert_eq!(
        config_body(&site.frr(0).running_config()),
        cfg,
        "FRR after start then stop"
    );
}
