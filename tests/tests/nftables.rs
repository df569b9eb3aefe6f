//! The nftables backend and antispoofing (issue 9), in each mode: a guest sending from its own
//! address gets through, the same guest sending from a forged address (or MAC) is dropped —
//! counted on the receiving side, the LAN host, by a counter in its own nft table — and the
//! same forged traffic does arrive without `antispoof=yes` (so the test can see a difference).
//! After `offline` nothing of the vif is left in dom0's ruleset, an administrator's table is
//! untouched, and a switch between iptables and nftables leaves no stale rules.

mod common;

use common::nft::*;
use common::*;
use xennet_tests::*;

const FORGED: &str = "192.0.2.99";
const NFT_ON: &[&str] = &["online", "type_if=vif", "firewall=nftables"];
const NFT_SPOOF_ON: &[&str] = &[
    "online",
    "type_if=vif",
    "firewall=nftables",
    "antispoof=yes",
];
const NFT_OFF: &[&str] = &["offline", "type_if=vif", "firewall=nftables"];

/// An administrator's own table in dom0, which the scripts must never touch.
const ADMIN_TABLE: &str = "table inet admin_fw {\n\tchain admin_forward {\n\t\ttype filter hook forward priority 10; policy accept;\n\t\tip saddr 203.0.113.7 drop\n\t}\n}\n";

/// After the offline of the last vif: no table of ours in dom0's ruleset (its queued elements
/// went with it), the administrator's table as it was, no iptables rules.
#[track_caller]
fn assert_no_trace(h: &Host, dev: &str, admin: &str) {
    let rs = ruleset(&h.dom0);
    assert!(
        !rs.contains("xen_netscripts"),
        "nft ruleset still has our table after the last vif's offline ({dev}):\n{rs}"
    );
    assert_eq!(
        admin_table(h),
        admin,
        "the administrator's table was touched"
    );
    assert_eq!(
        snapshot::forward_rules_for(&h.dom0, dev),
        Vec::<String>::new(),
        "iptables rules of {dev} left"
    );
}

/// The vif's interface index, the key of its elements.
fn ifindex(h: &Host, dev: &str) -> u64 {
    snapshot::link(&h.dom0, dev).unwrap()["ifindex"]
        .as_u64()
        .unwrap()
}

/// Each base chain holds exactly one lookup rule and the map one element for the vif, however
/// often online ran (idempotent without reading the ruleset).
#[track_caller]
fn assert_one_lookup(h: &Host, family: &str, dev: &str, hooks: usize) {
    let t = cmd::ns_exec(&h.dom0, &["nft", "list", "table", family, "xen_netscripts"])
        .ok()
        .to_string();
    assert_eq!(t.matches("iif vmap @vif_verdicts").count(), hooks, "{t}");
    let verdicts = t
        .split("map vif_verdicts")
        .nth(1)
        .and_then(|m| m.split('}').next())
        .unwrap_or_default();
    assert_eq!(elements_in(verdicts, h, dev), 1, "{t}");
}

/// How many elements in `text` (part of a ruleset) are keyed by `dev`'s interface index: nft
/// shows the index as the device's name while it exists.
fn elements_in(text: &str, h: &Host, dev: &str) -> usize {
    let idx = ifindex(h, dev);
    let keys = [
        format!("{idx} : "),
        format!("{idx} . "),
        format!("\"{dev}\" : "),
        format!("\"{dev}\" . "),
    ];
    text.split([',', '{', '}', '\n'])
        .map(str::trim)
        .filter(|e| {
            keys.iter().any(|k| e.starts_with(k.as_str()))
                || *e == idx.to_string()
                || *e == format!("\"{dev}\"")
        })
        .count()
}

/// The guest knows the LAN host's MAC for good, so that only the IP check decides whether its
/// packets pass (antispoof filters ARP too).
fn pin_lan_neighbour(h: &Host, g: &Guest) {
    let lan_mac = snapshot::link(&h.lan, "lan0").unwrap()["address"]
        .as_str()
        .unwrap()
        .to_string();
    cmd::ip_must(
        &g.ns,
        &[
            "neigh",
            "replace",
            LAN_ADDR,
            "lladdr",
            &lan_mac,
            "dev",
            &g.guest_if,
            "nud",
            "permanent",
        ],
    );
}

fn admin_setup(h: &Host) -> String {
    nft_file(h, &h.dom0, "admin.nft", ADMIN_TABLE);
    admin_table(h)
}

#[test]
fn bridge_antispoof_drops_forged_addresses_and_macs_at_the_bridge() {
    let Some((h, g)) = admin_bridge_host("nft_bridge", &[]) else {
        return;
    };
    let legit = g.addr.clone().unwrap();
    let mac = guest_mac(&g);
    h.xs_write_backend(1, 0, &[("ip", legit.as_str()), ("mac", mac.as_str())]);
    let admin = admin_setup(&h);
    lan_counters(&h, &[("legit", &legit), ("forged", FORGED)]);
    add_forged_address(&g, FORGED);
    pin_lan_neighbour(&h, &g);

    // Without antispoof the nftables rules block nothing: forged traffic reaches the LAN.
    let r = h.libxl("vif-bridge", 1, 0).run(NFT_ON);
    assert_ok(&h, &r, "vif-bridge online firewall=nftables");
    assert_port(&h, "vif1.0", "xenbr0", 1500);
    assert!(ping_retry(&g.ns, LAN_ADDR, 5), "guest cannot reach the LAN");
    assert!(
        arrived(&h, &g, FORGED, LAN_ADDR, "forged") > 0,
        "control: forged packets should pass without antispoof"
    );
    assert_eq!(h.forward_rules(), Vec::<String>::new(), "no iptables rules");

    let r = h.libxl("vif-bridge", 1, 0).run(NFT_SPOOF_ON);
    assert_ok(&h, &r, "vif-bridge online firewall=nftables antispoof=yes");
    assert_one_lookup(&h, "bridge", "vif1.0", 1);
    assert!(
        arrived(&h, &g, &legit, LAN_ADDR, "legit") > 0,
        "the guest's own address must pass"
    );
    assert_eq!(
        arrived(&h, &g, FORGED, LAN_ADDR, "forged"),
        0,
        "a forged source address must be dropped:\n{}",
        ruleset(&h.dom0)
    );
    // A forged MAC with the right address is dropped too; the real one passes again.
    cmd::ip_must(
        &g.ns,
        &[
            "link",
            "set",
            "dev",
            &g.guest_if,
            "address",
            "00:16:3e:99:99:99",
        ],
    );
    assert_eq!(
        arrived(&h, &g, &legit, LAN_ADDR, "legit"),
        0,
        "a forged MAC must be dropped"
    );
    cmd::ip_must(&g.ns, &["link", "set", "dev", &g.guest_if, "address", &mac]);
    assert!(arrived(&h, &g, &legit, LAN_ADDR, "legit") > 0);

    let r = h.libxl("vif-bridge", 1, 0).run(NFT_OFF);
    assert_ok(&h, &r, "vif-bridge offline firewall=nftables");
    assert_no_trace(&h, "vif1.0", &admin);
}

/// A guest's first online adds its elements as one nfnetlink batch of the script's own (issue
/// 17): no `nft` process runs, and what the batch adds matches packets as nft's own elements
/// would: the guest's address and MAC pass, a forged address and a forged MAC are dropped, and
/// the element of its address counts what it let through.
#[test]
fn a_first_online_adds_its_elements_without_nft_and_they_match() {
    let Some((mut h, g1)) = admin_bridge_host("nft_batch", &[]) else {
        return;
    };
    let g2 = h.add_guest(2, 0);
    let legit = g2.addr.clone().unwrap();
    // Guest 2 also has a network (an interval set's range) and IPv6 (whose antispoof adds the
    // link-local range).
    let ips2 = format!("{legit} 10.77.0.0/16 2001:db8:77::2");
    for (d, g, ips) in [(1, &g1, g1.addr.clone().unwrap()), (2, &g2, ips2)] {
        h.xs_write_backend(
            d,
            0,
            &[("ip", ips.as_str()), ("mac", guest_mac(g).as_str())],
        );
    }
    let mac = guest_mac(&g2);
    let admin = admin_setup(&h);
    lan_counters(
        &h,
        &[
            ("legit", &legit),
            ("in_net", "10.77.1.1"),
            ("forged", FORGED),
        ],
    );
    add_forged_address(&g2, FORGED);
    add_forged_address(&g2, "10.77.1.1");
    pin_lan_neighbour(&h, &g2);

    let mut verbose = vec!["-v"];
    verbose.extend_from_slice(NFT_SPOOF_ON);
    // The first guest finds no table: the batch is refused and the slow way makes it.
    let r = h.libxl("vif-bridge", 1, 0).run(&verbose);
    assert_ok(&h, &r, "vif-bridge -v online of guest 1");
    // The second guest's first online goes by the batch alone.
    let r = h.libxl("vif-bridge", 2, 0).run(&verbose);
    assert_ok(&h, &r, "vif-bridge -v online of guest 2");
    assert!(r.stderr.contains("exec: nfnetlink took"), "{}", r.stderr);
    assert!(!r.stderr.contains("exec: nft took"), "{}", r.stderr);
    assert_one_lookup(&h, "bridge", "vif2.0", 1);
    // What the kernel took, as nft reads it back.
    let t = ruleset(&h.dom0);
    for element in [
        format!("\"vif2.0\" . {mac}"),
        "\"vif2.0\" : jump vif_checked_mac".to_string(),
        "\"vif2.0\" . 10.77.0.0/16".to_string(),
        "\"vif2.0\" . 2001:db8:77::2".to_string(),
        "\"vif2.0\" . fe80::/10".to_string(),
    ] {
        assert!(t.contains(&element), "no {element} in\n{t}");
    }

    assert!(
        arrived(&h, &g2, &legit, LAN_ADDR, "legit") > 0,
        "the guest's own address must pass:\n{}",
        ruleset(&h.dom0)
    );
    assert!(
        arrived(&h, &g2, "10.77.1.1", LAN_ADDR, "in_net") > 0,
        "an address in the guest's network must pass:\n{}",
        ruleset(&h.dom0)
    );
    assert_eq!(
        arrived(&h, &g2, FORGED, LAN_ADDR, "forged"),
        0,
        "a forged source address must be dropped:\n{}",
        ruleset(&h.dom0)
    );
    let t = ruleset(&h.dom0);
    let counted = t
        .split([',', '{', '}', '\n'])
        .map(str::trim)
        .find(|e| e.starts_with(&format!("\"vif2.0\" . {legit} counter packets")))
        .unwrap_or_default();
    assert!(
        !counted.is_empty() && !counted.contains("counter packets 0 "),
        "the address's element counts what passed: {counted:?}\n{t}"
    );
    cmd::ip_must(
        &g2.ns,
        &[
            "link",
            "set",
            "dev",
            &g2.guest_if,
            "address",
            "00:16:3e:99:99:98",
        ],
    );
    assert_eq!(
        arrived(&h, &g2, &legit, LAN_ADDR, "legit"),
        0,
        "a forged MAC must be dropped"
    );

    for d in [1, 2] {
        let r = h.libxl("vif-bridge", d, 0).run(NFT_OFF);
        assert_ok(&h, &r, "vif-bridge offline firewall=nftables");
    }
    assert_no_trace(&h, "vif2.0", &admin);
}

/// A dom0 in route mode with guest 1 at 192.0.2.60 (as tests/route.rs builds it).
fn route_host(name: &str) -> Option<(Host, Guest)> {
    let mut h = host!(name).build()?;
    let g = add_routed_guest(&mut h);
    Some((h, g))
}

/// dom0 forwards what it is given, whatever the source (so the control case can pass).
fn loose_rp_filter(h: &Host) {
    for k in ["all", "default", "eth0"] {
        cmd::ns_exec(
            &h.dom0,
            &["sysctl", "-qw", &format!("net.ipv4.conf.{k}.rp_filter=0")],
        );
    }
}

#[test]
fn route_antispoof_drops_forged_sources_in_forward() {
    let Some((h, g)) = route_host("nft_route") else {
        return;
    };
    let admin = admin_setup(&h);
    loose_rp_filter(&h);
    lan_counters(&h, &[("legit", "192.0.2.60"), ("forged", FORGED)]);
    add_forged_address(&g, FORGED);
    assert_ok(
        &h,
        &h.script("network-route").run(&["start"]),
        "network-route start",
    );

    let r = h.libxl("vif-route", 1, 0).run(NFT_ON);
    assert_ok(&h, &r, "vif-route online firewall=nftables");
    assert!(ping_retry(&g.ns, LAN_ADDR, 5), "guest cannot reach the LAN");
    assert!(
        arrived(&h, &g, FORGED, LAN_ADDR, "forged") > 0,
        "control: forged packets should be forwarded without antispoof"
    );

    let r = h.libxl("vif-route", 1, 0).run(NFT_SPOOF_ON);
    assert_ok(&h, &r, "vif-route online antispoof=yes");
    assert_one_lookup(&h, "inet", "vif1.0", 2);
    assert!(arrived(&h, &g, "192.0.2.60", LAN_ADDR, "legit") > 0);
    assert_eq!(
        arrived(&h, &g, FORGED, LAN_ADDR, "forged"),
        0,
        "a forged source must be dropped:\n{}",
        ruleset(&h.dom0)
    );

    let r = h.libxl("vif-route", 1, 0).run(NFT_OFF);
    assert_ok(&h, &r, "vif-route offline");
    assert_no_trace(&h, "vif1.0", &admin);
}

#[test]
fn nat_antispoof_drops_forged_sources_before_masquerading() {
    let Some(mut h) = host!("nft_nat").build() else {
        return;
    };
    cmd::ns_exec(
        &h.dom0,
        &["iptables", "-w", "-t", "nat", "-P", "POSTROUTING", "ACCEPT"],
    );
    let g = add_nat_guest(&mut h);
    let admin = admin_setup(&h);
    loose_rp_filter(&h);
    // Masqueraded: every request reaches the LAN from dom0's address.
    lan_counters(&h, &[("nat", "192.0.2.10")]);
    add_forged_address(&g, "10.0.0.99");
    let r = h.script("network-nat").env("dhcp", "no").run(&["start"]);
    assert_ok(&h, &r, "network-nat start");

    let r = h.libxl("vif-nat", 1, 0).env("dhcp", "no").run(NFT_ON);
    assert_ok(&h, &r, "vif-nat online firewall=nftables");
    assert!(ping_retry(&g.ns, LAN_ADDR, 5), "guest cannot reach the LAN");
    assert!(
        arrived(&h, &g, "10.0.0.99", LAN_ADDR, "nat") > 0,
        "control: forged packets should be masqueraded without antispoof"
    );

    let r = h.libxl("vif-nat", 1, 0).env("dhcp", "no").run(NFT_SPOOF_ON);
    assert_ok(&h, &r, "vif-nat online antispoof=yes");
    assert!(arrived(&h, &g, "10.0.0.1", LAN_ADDR, "nat") > 0);
    assert_eq!(
        arrived(&h, &g, "10.0.0.99", LAN_ADDR, "nat"),
        0,
        "a forged source must be dropped:\n{}",
        ruleset(&h.dom0)
    );

    let r = h.libxl("vif-nat", 1, 0).env("dhcp", "no").run(NFT_OFF);
    assert_ok(&h, &r, "vif-nat offline");
    assert_no_trace(&h, "vif1.0", &admin);
}

#[test]
fn switching_backends_leaves_no_stale_rules() {
    let Some((h, g)) = network_bridge_host("nft_switch", &[]) else {
        return;
    };
    let legit = g.addr.clone().unwrap();
    h.xs_write_backend(1, 0, &[("ip", legit.as_str())]);
    let admin = admin_setup(&h);

    // iptables (the default) → nftables: offline under nftables removes the iptables rules.
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "vif-bridge online (iptables)");
    assert_eq!(snapshot::forward_rules_for(&h.dom0, "vif1.0").len(), 3);
    let r = h.libxl("vif-bridge", 1, 0).run(NFT_OFF);
    assert_ok(&h, &r, "vif-bridge offline firewall=nftables");
    assert_no_trace(&h, "vif1.0", &admin);

    // nftables → iptables: offline under iptables removes the nftables chain.
    let r = h.libxl("vif-bridge", 1, 0).run(NFT_SPOOF_ON);
    assert_ok(&h, &r, "vif-bridge online firewall=nftables");
    assert!(ruleset(&h.dom0).contains("\"vif1.0\" : jump vif_checked"));
    let r = h.libxl("vif-bridge", 1, 0).run(OFFLINE);
    assert_ok(&h, &r, "vif-bridge offline (iptables)");
    assert_no_trace(&h, "vif1.0", &admin);
    // And a second offline, with nothing left to remove, still succeeds.
    let r = h.libxl("vif-bridge", 1, 0).run(NFT_OFF);
    assert_ok(&h, &r, "a second offline");
    assert_no_trace(&h, "vif1.0", &admin);
}

#[test]
fn settings_come_from_the_config_file_below_environment_and_arguments() {
    let Some((h, g)) = admin_bridge_host("nft_conf", &[]) else {
        return;
    };
    let legit = g.addr.clone().unwrap();
    let mac = guest_mac(&g);
    h.xs_write_backend(1, 0, &[("ip", legit.as_str()), ("mac", mac.as_str())]);
    let conf = h.scratch.join("xen-netscripts.conf");
    std::fs::write(&conf, "# host-wide\nfirewall=nftables\nantispoof=yes\n").unwrap();

    // The environment beats the file.
    let r = h
        .libxl("vif-bridge", 1, 0)
        .env("firewall", "none")
        .run(ONLINE);
    assert_ok(
        &h,
        &r,
        "vif-bridge online, firewall=none in the environment",
    );
    assert!(!ruleset(&h.dom0).contains("xen_netscripts"));
    assert_eq!(snapshot::forward_rules_for(&h.dom0, "vif1.0").len(), 0);

    // The file alone: nftables with antispoofing, and the choice is logged.
    let mut args = vec!["-v"];
    args.extend_from_slice(ONLINE);
    let r = h.libxl("vif-bridge", 1, 0).run(&args);
    assert_ok(&h, &r, "vif-bridge online, settings from the file");
    assert!(
        r.stderr.contains("firewall backend nftables (firewall= in"),
        "the chosen backend is logged:\n{}",
        r.stderr
    );
    let rs = ruleset(&h.dom0);
    assert!(rs.contains(&format!("\"vif1.0\" . {mac}")), "{rs}");
    assert_eq!(snapshot::forward_rules_for(&h.dom0, "vif1.0").len(), 0);

    // An argument beats both.
    let r = h.libxl("vif-bridge", 1, 0).env("firewall", "none").run(&[
        "offline",
        "type_if=vif",
        "firewall=nftables",
    ]);
    assert_ok(&h, &r, "vif-bridge offline firewall=nftables");
    assert!(!ruleset(&h.dom0).contains("xen_netscripts"));

    // A bad value in the file is refused, naming the file.
    std::fs::write(&conf, "firewall=pf\n").unwrap();
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    let err = assert_reported(&h, &r, "firewall=pf in the file", "firewall=\"pf\"");
    assert!(err.contains("xen-netscripts.conf"), "{err}");
}

#[test]
fn a_failed_online_rolls_the_nftables_rules_back() {
    let Some((h, g)) = admin_bridge_host("nft_rollback", &[]) else {
        return;
    };
    let legit = g.addr.clone().unwrap();
    h.xs_write_backend(1, 0, &[("ip", legit.as_str())]);
    let admin = admin_setup(&h);
    h.add_hook("10-fail.hook", "echo hook failing >&2\nexit 3");
    let mut args = vec!["-v"];
    args.extend_from_slice(NFT_SPOOF_ON);
    let r = h.libxl("vif-bridge", 1, 0).run(&args);
    assert_reported(&h, &r, "online with a failing hook", "");
    // The elements were added, then the undo's transaction deleted them.
    let runs: Vec<&str> = r.stderr.split("exec: nft -f -").skip(1).collect();
    assert!(
        runs.len() >= 2
            && runs[0].contains("add element bridge xen_netscripts vif_verdicts")
            && runs[1..]
                .iter()
                .any(|x| x.contains("delete element bridge xen_netscripts vif_verdicts")),
        "the rules were set, then removed by the undo:\n{}",
        r.stderr
    );
    assert!(
        h.master_of("vif1.0").is_none(),
        "rolled back: vif1.0 must not stay a port\n{}",
        h.explain(&r)
    );
    // The undo is the removal transaction: nothing of the vif is left.
    assert_no_trace(&h, "vif1.0", &admin);
}

/// The elements of `dev` in dom0's ruleset (none when the table is gone).
fn elements_of(h: &Host, dev: &str) -> usize {
    elements_in(&ruleset(&h.dom0), h, dev)
}

#[test]
fn offline_queues_a_gone_vifs_elements_and_deletes_them_in_batches() {
    // Deleting from nf_tables costs a kernel grace period per transaction, so offline queues
    // the vif's elements (keyed by its interface index, they match nothing once it is gone) and
    // every 32nd offline deletes the queue in one transaction (issue 17).
    const N: u32 = 34;
    let Some(mut h) = host!("nft_batch").build() else {
        return;
    };
    h.make_admin_bridge("xenbr0");
    let mut guests = Vec::new();
    for d in 1..=N {
        let g = h.add_guest(d, 0);
        let mac = guest_mac(&g);
        h.xs_write_backend(d, 0, &[("ip", g.addr.as_deref().unwrap()), ("mac", &mac)]);
        guests.push(g);
    }
    let vif = |d: u32| format!("vif{d}.0");
    for d in 1..=N {
        let r = h.libxl("vif-bridge", d, 0).run(NFT_SPOOF_ON);
        assert_ok(&h, &r, &format!("vif-bridge online of vif{d}.0"));
    }
    // Each guest: its verdict, its MAC, its address, its listing.
    let each = elements_of(&h, &vif(1));
    assert_eq!(each, 4, "{}", ruleset(&h.dom0));
    let queue = h.state_dir.join("nftables/bridge.gone");
    let queued = || std::fs::read_dir(&queue).map(|d| d.count()).unwrap_or(0);
    for d in 1..32 {
        let r = h.libxl("vif-bridge", d, 0).run(NFT_OFF);
        assert_ok(&h, &r, &format!("vif-bridge offline of vif{d}.0"));
    }
    assert_eq!(queued(), 31);
    assert_eq!(elements_of(&h, &vif(1)), each, "queued, not yet deleted");
    // vif1.0 comes back (the same interface) with another address: its queued elements are
    // taken out of the queue and replaced, so no old address stays and the batch spares it.
    let real = guests[0].addr.clone().unwrap();
    h.xs_write_backend(
        1,
        0,
        &[("ip", "192.0.2.200"), ("mac", &guest_mac(&guests[0]))],
    );
    assert_ok(
        &h,
        &h.libxl("vif-bridge", 1, 0).run(NFT_SPOOF_ON),
        "online of vif1.0 again",
    );
    let rs = ruleset(&h.dom0);
    assert!(
        rs.contains("\"vif1.0\" . 192.0.2.200") && !rs.contains(&format!("\"vif1.0\" . {real} ")),
        "{rs}"
    );
    assert_eq!(queued(), 30);
    // The 32nd queued offline deletes all 32 at once.
    for d in 32..=33 {
        let r = h.libxl("vif-bridge", d, 0).run(NFT_OFF);
        assert_ok(&h, &r, &format!("vif-bridge offline of vif{d}.0"));
    }
    assert_eq!(queued(), 0);
    for d in 2..=33 {
        assert_eq!(elements_of(&h, &vif(d)), 0, "vif{d}.0's elements");
    }
    assert_eq!(
        elements_of(&h, &vif(1)),
        each,
        "vif1.0 came back: spared\n{}",
        ruleset(&h.dom0)
    );
    // The others keep theirs and their traffic.
    assert_eq!(elements_of(&h, &vif(34)), each, "{}", ruleset(&h.dom0));
    assert_ok(
        &h,
        &h.libxl("vif-bridge", 34, 0).run(NFT_SPOOF_ON),
        "a second online of vif34.0 changes nothing",
    );
    assert_eq!(elements_of(&h, &vif(34)), each);
    assert!(
        ping_retry(&guests[33].ns, LAN_ADDR, 5),
        "vif34.0's guest cannot reach the LAN after the batch:\n{}",
        ruleset(&h.dom0)
    );
    // The last vif's offline takes the table, and the queue, with it.
    for d in [1, N] {
        let r = h.libxl("vif-bridge", d, 0).run(NFT_OFF);
        assert_ok(&h, &r, &format!("vif-bridge offline of vif{d}.0"));
    }
    assert!(!ruleset(&h.dom0).contains("xen_netscripts"));
    assert_eq!(queued(), 0);
}
