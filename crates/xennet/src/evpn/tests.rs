//! Unit tests of the EVPN control-plane functions, on outputs captured from FRR 8.4.4 in
//! namespaces (`tests/fixtures/frr/`, see its README).

use super::*;

macro_rules! fixture {
    ($f:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/frr/",
            $f
        ))
    };
}

const EMPTY: &str = fixture!("host-empty.running-config");
const OURS: &str = fixture!("host-ours.running-config");
const ADMIN: &str = fixture!("admin.running-config");
const ADMIN_OURS: &str = fixture!("admin-with-ours.running-config");
const REFLECTOR: &str = fixture!("reflector.running-config");

const RR: &str = "198.51.100.254";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn want(vni: u32, local: &str) -> Want {
    Want {
        vni,
        asn: None,
        local: local.parse().unwrap(),
        reflectors: vec![ip(RR)],
    }
}

fn cfg(text: &str) -> FrrConfig {
    parse_running_config(text).unwrap()
}

fn lines(v: &Vtysh) -> Vec<&str> {
    v.lines.iter().map(String::as_str).collect()
}

/// The record `plan_add` writes on the fixture host D (198.51.100.4) for VNI 42.
fn ours_record(vnis: &[u32]) -> Record {
    let p = plan_add(
        &want(vnis[0], "198.51.100.4"),
        &cfg(EMPTY),
        &Record::default(),
    )
    .unwrap();
    let mut r = p.record;
    for e in &mut r.entries {
        e.vnis = vnis.iter().copied().collect();
    }
    r
}

// ---------------------------------------------------------------------------------------------
// Parsing the running configuration

#[test]
fn evpn_parses_a_host_without_bgp() {
    let c = cfg(EMPTY);
    assert_eq!(c.version.as_deref(), Some("8.4.4"));
    assert_eq!(c.bgp, None);
    assert!(c.other_instances.is_empty());
}

#[test]
fn evpn_parses_our_router_block() {
    let c = cfg(OURS);
    let b = c.bgp.unwrap();
    assert_eq!(b.asn, 65000);
    assert_eq!(
        b.lines,
        [
            "bgp router-id 198.51.100.4",
            "no bgp default ipv4-unicast",
            "neighbor 198.51.100.254 remote-as internal",
            "neighbor 198.51.100.254 update-source 198.51.100.4",
        ]
    );
    assert_eq!(
        b.family("l2vpn evpn"),
        ["neighbor 198.51.100.254 activate", "advertise-all-vni"]
    );
    assert_eq!(b.router_id(), Some("198.51.100.4".parse().unwrap()));
    assert!(!b.default_ipv4_unicast());
    assert!(b.has_neighbor(&ip(RR)));
    assert!(b.evpn_active(&ip(RR)));
    assert!(b.advertise_all_vni());
    assert!(b.family("ipv4 unicast").is_empty());
}

#[test]
fn evpn_parses_the_administrators_config_and_the_reflectors() {
    let b = cfg(ADMIN).bgp.unwrap();
    assert_eq!(b.asn, 65000);
    assert!(b.default_ipv4_unicast());
    assert!(b.has_neighbor(&ip("198.51.100.200")));
    assert!(!b.has_neighbor(&ip(RR)));
    assert!(!b.advertise_all_vni());
    assert_eq!(b.family("ipv4 unicast"), ["network 203.0.113.0/24"]);
    // The route-map after the block is not part of it.
    assert!(!b.lines.iter().any(|l| l.contains("route-map")));

    let r = cfg(REFLECTOR).bgp.unwrap();
    assert!(r
        .lines
        .contains(&"bgp listen range 198.51.100.0/24 peer-group fabric".to_string()));
    assert_eq!(
        r.family("l2vpn evpn"),
        [
            "neighbor fabric activate",
            "neighbor fabric route-reflector-client"
        ]
    );
}

#[test]
fn evpn_config_parser_handles_vrfs_asdot_peer_groups_and_refuses_garbage() {
    let text = "frr version 10.3.1\n!\nrouter bgp 1.10\n neighbor 192.0.2.9 peer-group fab\n \
                neighbor fab remote-as internal\n !\n address-family l2vpn evpn\n  neighbor fab \
                activate\n exit-address-family\nexit\n!\nrouter bgp 1.10 vrf red\n bgp router-id \
                192.0.2.1\nexit\n!\nend\n";
    let c = cfg(text);
    assert_eq!(c.version.as_deref(), Some("10.3.1"));
    let b = c.bgp.unwrap();
    assert_eq!(b.asn, 65546);
    assert!(b.has_neighbor(&ip("192.0.2.9")));
    assert_eq!(b.peer_group_of(&ip("192.0.2.9")), Some("fab"));
    assert!(b.evpn_active(&ip("192.0.2.9")), "active through its group");
    assert_eq!(c.other_instances, ["router bgp 1.10 vrf red"]);
    // An older FRR without `exit` lines: the block ends at the next top-level line.
    let old = "router bgp 65001\n neighbor 192.0.2.2 remote-as internal\n!\nline vty\n!\n";
    let b = cfg(old).bgp.unwrap();
    assert_eq!(b.lines, ["neighbor 192.0.2.2 remote-as internal"]);
    // A member deactivated on its own stays inactive.
    let off = "router bgp 65001\n neighbor 192.0.2.9 peer-group fab\n address-family l2vpn evpn\n  \
               neighbor fab activate\n  no neighbor 192.0.2.9 activate\n exit-address-family\nexit\n";
    assert!(!cfg(off).bgp.unwrap().evpn_active(&ip("192.0.2.9")));
    assert!(parse_running_config("router bgp banana\nexit\n")
        .unwrap_err()
        .to_string()
        .contains("router bgp banana"));
    assert!(parse_running_config("router bgp 1\nexit\nrouter bgp 1\nexit\n").is_err());
    assert_eq!(parse_asn("4294967295"), Some(u32::MAX));
    assert_eq!(parse_asn("0"), None);
    assert_eq!(parse_asn("65536.1"), None);
    // `router bgpd` is not a BGP instance header.
    assert_eq!(cfg("router bgpd\n").bgp, None);
}

// ---------------------------------------------------------------------------------------------
// start

#[test]
fn evpn_plan_add_on_a_host_without_bgp_creates_everything_in_order() {
    let p = plan_add(&want(42, "198.51.100.4"), &cfg(EMPTY), &Record::default()).unwrap();
    assert_eq!(p.asn, 65000);
    assert!(p.notes.is_empty(), "{:?}", p.notes);
    let got: Vec<Vec<&str>> = p.changes.iter().map(|c| lines(&c.apply)).collect();
    assert_eq!(
        got,
        [
            vec![
                "configure terminal",
                "router bgp 65000",
                "bgp router-id 198.51.100.4",
                "no bgp default ipv4-unicast"
            ],
            vec![
                "configure terminal",
                "router bgp 65000",
                "neighbor 198.51.100.254 remote-as internal",
                "neighbor 198.51.100.254 update-source 198.51.100.4"
            ],
            vec![
                "configure terminal",
                "router bgp 65000",
                "address-family l2vpn evpn",
                "neighbor 198.51.100.254 activate"
            ],
            vec![
                "configure terminal",
                "router bgp 65000",
                "address-family l2vpn evpn",
                "advertise-all-vni"
            ],
        ]
    );
    let undo: Vec<Vec<&str>> = p.changes.iter().map(|c| lines(&c.undo)).collect();
    assert_eq!(
        undo,
        [
            vec!["configure terminal", "no router bgp 65000"],
            vec![
                "configure terminal",
                "router bgp 65000",
                "no neighbor 198.51.100.254"
            ],
            vec![
                "configure terminal",
                "router bgp 65000",
                "address-family l2vpn evpn",
                "no neighbor 198.51.100.254 activate"
            ],
            vec![
                "configure terminal",
                "router bgp 65000",
                "address-family l2vpn evpn",
                "no advertise-all-vni"
            ],
        ]
    );
    assert_eq!(
        p.record.to_text(),
        format!(
            "{RECORD_HEAD}\nasn 65000\nrouter router-id=198.51.100.4 vnis=42\nneighbor \
             198.51.100.254 source=198.51.100.4 ipv4-off=no vnis=42\nactivate 198.51.100.254 \
             vnis=42\nadvertise-all-vni vnis=42\n"
        )
    );
    assert_eq!(
        p.changes[0].what,
        "FRR: create BGP instance AS 65000 (router-id 198.51.100.4)"
    );
}

/// The fixture `host-ours` is FRR's running configuration after exactly these commands: every
/// line we add is there, and a second start plans nothing.
#[test]
fn evpn_plan_add_again_is_a_no_op_and_a_second_vni_only_joins_the_record() {
    let rec = ours_record(&[42]);
    let again = plan_add(&want(42, "198.51.100.4"), &cfg(OURS), &rec).unwrap();
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert_eq!(again.record, rec);
    assert!(again.notes.is_empty(), "{:?}", again.notes);
    let b = cfg(OURS).bgp.unwrap();
    for c in plan_add(&want(42, "198.51.100.4"), &cfg(EMPTY), &Record::default())
        .unwrap()
        .changes
    {
        for l in c.apply.lines.iter().skip(2) {
            if l.starts_with("address-family") {
                continue;
            }
            assert!(
                b.lines.contains(l) || b.family("l2vpn evpn").contains(l),
                "{l} not in the captured configuration"
            );
        }
    }
    let second = plan_add(&want(43, "198.51.100.4"), &cfg(OURS), &rec).unwrap();
    assert!(second.changes.is_empty());
    assert_eq!(second.record, ours_record(&[42, 43]));
}

#[test]
fn evpn_plan_add_in_the_administrators_instance_adds_only_the_session_and_evpn() {
    let p = plan_add(&want(42, "198.51.100.3"), &cfg(ADMIN), &Record::default()).unwrap();
    let got: Vec<Vec<&str>> = p.changes.iter().map(|c| lines(&c.apply)).collect();
    assert_eq!(
        got,
        [
            vec![
                "configure terminal",
                "router bgp 65000",
                "neighbor 198.51.100.254 remote-as internal",
                "neighbor 198.51.100.254 update-source 198.51.100.3",
                "address-family ipv4 unicast",
                "no neighbor 198.51.100.254 activate"
            ],
            vec![
                "configure terminal",
                "router bgp 65000",
                "address-family l2vpn evpn",
                "neighbor 198.51.100.254 activate"
            ],
            vec![
                "configure terminal",
                "router bgp 65000",
                "address-family l2vpn evpn",
                "advertise-all-vni"
            ],
        ]
    );
    assert!(
        !p.record
            .entries
            .iter()
            .any(|e| matches!(e.item, Item::Router { .. })),
        "the administrator's router recorded as ours"
    );
    assert_eq!(
        p.notes,
        ["FRR already has router bgp 65000 (not ours, kept as it is)"]
    );
    // Captured after exactly these commands: a second start plans nothing.
    let again = plan_add(&want(42, "198.51.100.3"), &cfg(ADMIN_OURS), &p.record).unwrap();
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert_eq!(again.record, p.record);
}

#[test]
fn evpn_plan_add_relies_on_what_the_administrator_already_configured() {
    // The administrator's own EVPN set-up (the reflector's neighbor and advertise-all-vni).
    let p = plan_add(
        &want(42, "198.51.100.3"),
        &cfg(ADMIN_OURS),
        &Record::default(),
    )
    .unwrap();
    assert!(p.changes.is_empty());
    assert!(p.record.is_empty());
    assert_eq!(p.notes.len(), 4, "{:?}", p.notes);
    // … so stop removes nothing.
    let r = plan_remove(42, &cfg(ADMIN_OURS), &p.record);
    assert!(r.changes.is_empty());
}

#[test]
fn evpn_plan_add_takes_frrs_as_number_and_refuses_another() {
    let mut w = want(42, "198.51.100.3");
    w.asn = Some(65001);
    let e = plan_add(&w, &cfg(ADMIN), &Record::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("already runs BGP as AS 65000") && e.contains("asn=65000"),
        "{e}"
    );
    w.asn = Some(65000);
    assert_eq!(
        plan_add(&w, &cfg(ADMIN), &Record::default()).unwrap().asn,
        65000
    );
    w.asn = Some(4_200_000_000);
    let p = plan_add(&w, &cfg(EMPTY), &Record::default()).unwrap();
    assert_eq!(p.asn, 4_200_000_000);
    assert_eq!(p.changes[0].apply.lines[1], "router bgp 4200000000");
    // Found in FRR when not given.
    let asdot = "router bgp 1.10\nexit\n";
    assert_eq!(
        plan_add(&want(42, "198.51.100.3"), &cfg(asdot), &Record::default())
            .unwrap()
            .asn,
        65546
    );
}

#[test]
fn evpn_plan_add_with_two_reflectors_and_a_stale_record() {
    let mut w = want(42, "198.51.100.4");
    w.reflectors = vec![ip("198.51.100.253"), ip(RR)];
    let p = plan_add(&w, &cfg(OURS), &ours_record(&[42])).unwrap();
    // Only the second reflector is new.
    assert_eq!(p.changes.len(), 2);
    assert_eq!(
        p.changes[0].apply.lines[2],
        "neighbor 198.51.100.253 remote-as internal"
    );
    assert_eq!(
        p.changes[1].apply.lines[3],
        "neighbor 198.51.100.253 activate"
    );
    assert_eq!(p.record.entries.len(), 6);
    // A record of another AS is forgotten: FRR now runs 65001, none of that is there.
    let mut stale = ours_record(&[42]);
    stale.asn = Some(64999);
    let p = plan_add(&want(42, "198.51.100.4"), &cfg(ADMIN), &stale).unwrap();
    assert!(p.notes[0].contains("forgetting the EVPN record of AS 64999"));
    assert_eq!(p.record.asn, Some(65000));
    // A recorded item someone removed is added again, and stays ours.
    let p = plan_add(&want(43, "198.51.100.4"), &cfg(EMPTY), &ours_record(&[42])).unwrap();
    assert_eq!(p.changes.len(), 4);
    assert_eq!(p.record, ours_record(&[42, 43]));
}

#[test]
fn evpn_want_check_names_the_bad_value() {
    let ok = want(42, "198.51.100.4");
    assert_eq!(ok.check(), Ok(()));
    let cases: Vec<(Want, &str)> = vec![
        (
            Want {
                vni: 0,
                ..ok.clone()
            },
            "vni=0",
        ),
        (
            Want {
                vni: MAX_VNI + 1,
                ..ok.clone()
            },
            "16777216",
        ),
        (
            Want {
                asn: Some(0),
                ..ok.clone()
            },
            "asn=0",
        ),
        (
            Want {
                local: Ipv4Addr::UNSPECIFIED,
                ..ok.clone()
            },
            "local=0.0.0.0",
        ),
        (
            Want {
                reflectors: vec![],
                ..ok.clone()
            },
            "needs rr=",
        ),
        (
            Want {
                reflectors: vec![ip("198.51.100.4")],
                ..ok.clone()
            },
            "own local=",
        ),
        (
            Want {
                reflectors: vec![ip(RR), ip(RR)],
                ..ok.clone()
            },
            "twice",
        ),
        (
            Want {
                reflectors: vec![ip("224.0.0.5")],
                ..ok.clone()
            },
            "rr=224.0.0.5",
        ),
    ];
    for (w, needle) in cases {
        let e = w.check().unwrap_err();
        assert!(e.to_string().contains(needle), "{needle}: {e}");
        assert_eq!(plan_add(&w, &cfg(EMPTY), &Record::default()), Err(e));
    }
}

// ---------------------------------------------------------------------------------------------
// stop

#[test]
fn evpn_plan_remove_keeps_shared_items_until_the_last_vni() {
    let rec = ours_record(&[42, 43]);
    let r = plan_remove(43, &cfg(OURS), &rec);
    assert!(r.changes.is_empty(), "{:?}", r.changes);
    assert_eq!(r.record, ours_record(&[42]));
    // The last VNI: our router holds nothing else, one command takes it.
    let r = plan_remove(42, &cfg(OURS), &r.record);
    assert_eq!(r.changes.len(), 1);
    assert_eq!(
        lines(&r.changes[0].apply),
        ["configure terminal", "no router bgp 65000"]
    );
    assert_eq!(
        lines(&r.changes[0].undo),
        [
            "configure terminal",
            "router bgp 65000",
            "bgp router-id 198.51.100.4",
            "no bgp default ipv4-unicast",
            "router bgp 65000",
            "neighbor 198.51.100.254 remote-as internal",
            "neighbor 198.51.100.254 update-source 198.51.100.4",
            "router bgp 65000",
            "address-family l2vpn evpn",
            "neighbor 198.51.100.254 activate",
            "router bgp 65000",
            "address-family l2vpn evpn",
            "advertise-all-vni"
        ]
    );
    assert!(r.record.is_empty());
    assert_eq!(r.record.to_text(), format!("{RECORD_HEAD}\n"));
    // A record whose router lost its VNIs while other items kept theirs keeps the router.
    let mut odd = ours_record(&[42, 43]);
    odd.entries[0].vnis = BTreeSet::from([43]);
    let r = plan_remove(43, &cfg(OURS), &odd);
    assert!(r.changes.is_empty(), "{:?}", r.changes);
    assert_eq!(r.record, ours_record(&[42]));
    // A VNI we never started changes nothing.
    let r = plan_remove(7, &cfg(OURS), &ours_record(&[42]));
    assert!(r.changes.is_empty());
    assert_eq!(r.record, ours_record(&[42]));
}

#[test]
fn evpn_plan_remove_in_the_administrators_instance_takes_exactly_our_lines() {
    let add = plan_add(&want(42, "198.51.100.3"), &cfg(ADMIN), &Record::default()).unwrap();
    let r = plan_remove(42, &cfg(ADMIN_OURS), &add.record);
    let got: Vec<Vec<&str>> = r.changes.iter().map(|c| lines(&c.apply)).collect();
    assert_eq!(
        got,
        [
            vec![
                "configure terminal",
                "router bgp 65000",
                "address-family l2vpn evpn",
                "no advertise-all-vni"
            ],
            vec![
                "configure terminal",
                "router bgp 65000",
                "address-family l2vpn evpn",
                "no neighbor 198.51.100.254 activate"
            ],
            vec![
                "configure terminal",
                "router bgp 65000",
                "no neighbor 198.51.100.254"
            ],
        ]
    );
    // Each undo is the add of the same item.
    for (c, a) in r.changes.iter().zip(add.changes.iter().rev()) {
        assert_eq!(c.undo, a.apply);
    }
    assert!(r.record.is_empty());
    assert!(!got.concat().iter().any(|l| l.contains("no router bgp")));
    assert_eq!(r.changes[2].what, "FRR: remove neighbor 198.51.100.254");
}

#[test]
fn evpn_plan_remove_keeps_our_router_when_the_administrator_put_something_in_it() {
    let with_admin = OURS.replace(
        " neighbor 198.51.100.254 remote-as internal\n",
        " neighbor 198.51.100.254 remote-as internal\n neighbor 198.51.100.99 remote-as 65009\n",
    );
    let r = plan_remove(42, &cfg(&with_admin), &ours_record(&[42]));
    let got: Vec<String> = r.changes.iter().map(|c| c.apply.lines.join("; ")).collect();
    assert_eq!(
        got,
        [
            "configure terminal; router bgp 65000; address-family l2vpn evpn; no advertise-all-vni",
            "configure terminal; router bgp 65000; address-family l2vpn evpn; no neighbor 198.51.100.254 activate",
            "configure terminal; router bgp 65000; no neighbor 198.51.100.254",
        ]
    );
    assert!(
        r.notes[0].contains("keeping router bgp 65000")
            && r.notes[0].contains("neighbor 198.51.100.99 remote-as 65009"),
        "{:?}",
        r.notes
    );
    assert!(r.record.is_empty());
    // A VRF instance also keeps it (FRR refuses to delete the default instance then).
    let vrf = format!("{OURS}router bgp 65000 vrf red\nexit\n");
    let r = plan_remove(42, &cfg(&vrf), &ours_record(&[42]));
    assert_eq!(r.changes.len(), 3);
    assert!(r.notes[0].contains("vrf red"), "{:?}", r.notes);
    // An address family the administrator added counts too.
    let af = OURS.replace(
        "  advertise-all-vni\n",
        "  advertise-all-vni\n  advertise-default-gw\n",
    );
    let r = plan_remove(42, &cfg(&af), &ours_record(&[42]));
    assert_eq!(r.changes.len(), 3);
    assert!(r.notes[0].contains("advertise-default-gw"), "{:?}", r.notes);
}

#[test]
fn evpn_plan_remove_of_what_is_already_gone_only_forgets_it() {
    let r = plan_remove(42, &cfg(EMPTY), &ours_record(&[42]));
    assert!(r.changes.is_empty());
    assert!(r.record.is_empty());
    assert_eq!(r.notes.len(), 4, "{:?}", r.notes);
    // Nothing recorded: nothing to do.
    let r = plan_remove(42, &cfg(OURS), &Record::default());
    assert!(r.changes.is_empty() && r.notes.is_empty() && r.record.is_empty());
    // Partly gone: only what is there is removed.
    let partly = OURS.replace("  advertise-all-vni\n", "");
    let r = plan_remove(42, &cfg(&partly), &ours_record(&[42]));
    assert_eq!(r.changes.len(), 1, "the router still goes whole");
    assert!(r.notes[0].contains("advertise-all-vni"), "{:?}", r.notes);
}

// ---------------------------------------------------------------------------------------------
// The record, vtysh lines

#[test]
fn evpn_record_round_trips_and_rejects_garbage() {
    let mut rec = plan_add(&want(42, "198.51.100.3"), &cfg(ADMIN), &Record::default())
        .unwrap()
        .record;
    rec.entries[0].vnis.insert(4242);
    let text = rec.to_text();
    assert!(text.contains("ipv4-off=yes vnis=42,4242"), "{text}");
    assert_eq!(Record::parse(&text), Ok(rec.clone()));
    assert_eq!(rec.vnis(), BTreeSet::from([42, 4242]));
    assert_eq!(Record::parse(""), Ok(Record::default()));
    for bad in [
        "asn x",
        "asn 65000\nrouter vnis=1",
        "asn 65000\nneighbor nope source=1.2.3.4 vnis=1",
        "asn 65000\nadvertise-all-vni vnis=1,x",
        "asn 65000\nsomething-else vnis=1",
        "advertise-all-vni vnis=1",
    ] {
        assert!(Record::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn evpn_vtysh_lines_become_argv_and_a_shell_line() {
    let v = Vtysh::config(vec!["router bgp 65000".into(), "neighbor x's".into()]);
    assert_eq!(
        v.argv(Some("xt-a")),
        [
            "vtysh",
            "-N",
            "xt-a",
            "-c",
            "configure terminal",
            "-c",
            "router bgp 65000",
            "-c",
            "neighbor x's"
        ]
    );
    assert_eq!(v.argv(None)[1], "-c");
    assert_eq!(
        v.to_string(),
        "vtysh -c 'configure terminal' -c 'router bgp 65000' -c 'neighbor x'\\''s'"
    );
}

// ---------------------------------------------------------------------------------------------
// Is FRR running?

#[test]
fn evpn_tells_frr_down_from_show_daemons() {
    assert_eq!(check_running(0, " zebra bgpd\n", ""), Ok(()));
    assert_eq!(
        check_running(0, " zebra\n", ""),
        Err(FrrDown::BgpdNotRunning)
    );
    assert_eq!(
        check_running(0, " bgpd\n", ""),
        Err(FrrDown::ZebraNotRunning)
    );
    assert_eq!(
        check_running(1, "", "Exiting: failed to connect to any daemons.\n"),
        Err(FrrDown::NotRunning)
    );
    assert_eq!(
        parse_daemons(" zebra bgpd staticd"),
        BTreeSet::from(["zebra".into(), "bgpd".into(), "staticd".into()])
    );
    let debian = fixture!("debian12.daemons");
    assert_eq!(bgpd_enabled(debian), Some(false));
    assert_eq!(
        bgpd_enabled(&debian.replace("bgpd=no", "bgpd=yes")),
        Some(true)
    );
    assert_eq!(bgpd_enabled("zebra=yes\n"), None);
    let m = down_message(&FrrDown::NotRunning, Some(debian), "Nothing was changed.");
    assert!(
        m.contains("reaches no FRR daemon")
            && m.contains("set bgpd=yes in /etc/frr/daemons")
            && m.ends_with("Nothing was changed."),
        "{m}"
    );
    let m = down_message(
        &FrrDown::BgpdNotRunning,
        Some(&debian.replace("bgpd=no", "bgpd=yes")),
        "Nothing was changed.",
    );
    assert!(m.contains("only zebra") && !m.contains("bgpd=yes"), "{m}");
    assert!(down_message(&FrrDown::NotRunning, None, "").contains("apt-get install frr"));
    assert!(down_message(&FrrDown::ZebraNotRunning, Some("bgpd=yes"), "").contains("zebra"));
}

// ---------------------------------------------------------------------------------------------
// status

#[test]
fn evpn_parses_bgp_summaries() {
    let host = parse_bgp_summary(fixture!("host.bgp-summary.json")).unwrap();
    assert_eq!(host.len(), 1);
    let s = &host[0];
    assert_eq!(s.peer, RR);
    assert_eq!(s.family.as_deref(), Some("l2VpnEvpn"));
    assert_eq!(s.hostname.as_deref(), Some("rr"));
    assert!(s.established());
    assert!(!s.dynamic);
    let flat = parse_bgp_summary(fixture!("host.bgp-l2vpn-evpn-summary.json")).unwrap();
    assert_eq!(flat[0].family, None);
    assert_eq!(flat[0].peer, RR);
    let rr = parse_bgp_summary(fixture!("reflector.bgp-l2vpn-evpn-summary.json")).unwrap();
    assert_eq!(rr.len(), 3);
    assert!(rr.iter().all(|s| s.dynamic && s.established()));
    assert!(rr.iter().all(|s| s.prefixes_received.is_some()));
    let admin = parse_bgp_summary(fixture!("admin.bgp-summary.json")).unwrap();
    assert_eq!(admin[0].state, "Connect");
    assert!(!admin[0].established());
    assert_eq!(admin[0].family.as_deref(), Some("ipv4Unicast"));
    assert_eq!(parse_bgp_summary("{}\n"), Ok(vec![]));
    assert_eq!(parse_bgp_summary(""), Ok(vec![]));
    assert!(parse_bgp_summary("% BGP instance not found").is_err());
}

#[test]
fn evpn_parses_vnis_of_frr_8_4_and_10_3() {
    let v84 = parse_evpn_vni(fixture!("host.evpn-vni-42.json"))
        .unwrap()
        .unwrap();
    let v103 = parse_evpn_vni(fixture!("evpn-vni-42.frr10.3-from-source.json"))
        .unwrap()
        .unwrap();
    for v in [&v84, &v103] {
        assert_eq!(v.vni, 42);
        assert_eq!(v.kind, "L2");
        assert_eq!(v.vxlan_if.as_deref(), Some("vxlan42"));
        assert_eq!(v.svi_if.as_deref(), Some("vxbr42"));
        assert_eq!(v.local_vtep, Some(ip("198.51.100.1")));
        assert_eq!(v.remote_vteps, [ip("198.51.100.2"), ip("198.51.100.4")]);
        assert_eq!(v.macs, Some(3));
        assert_eq!(v.arp_nd, Some(2));
    }
    assert_eq!(
        parse_evpn_vni(fixture!("host.evpn-vni-missing.json")),
        Ok(None)
    );
    assert_eq!(parse_evpn_vni(""), Ok(None));
    assert!(parse_evpn_vni("{\"type\":\"L2\"}").is_err());
    let all = parse_evpn_vnis(fixture!("host.evpn-vni.json")).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].remote_vteps, v84.remote_vteps);
    assert_eq!(all[0].vxlan_if.as_deref(), Some("vxlan42"));
    // No VNI at all: zebra prints nothing.
    assert_eq!(parse_evpn_vnis(""), Ok(vec![]));
    assert!(parse_evpn_vnis("[").is_err());
}

#[test]
fn evpn_parses_macs_per_vtep_neighbors_and_routes() {
    let macs = parse_evpn_macs(fixture!("host.evpn-mac-vni-42.json")).unwrap();
    assert_eq!(
        macs,
        [
            Mac {
                mac: "36:f1:d6:82:5e:f6".into(),
                at: MacAt::Remote {
                    vtep: ip("198.51.100.4")
                }
            },
            Mac {
                mac: "8a:86:44:f3:c8:b6".into(),
                at: MacAt::Local {
                    intf: Some("vif1.0".into())
                }
            },
            Mac {
                mac: "b6:18:52:2f:4b:2a".into(),
                at: MacAt::Remote {
                    vtep: ip("198.51.100.2")
                }
            },
        ]
    );
    assert_eq!(
        macs_per_vtep(&macs),
        BTreeMap::from([(ip("198.51.100.2"), 1), (ip("198.51.100.4"), 1)])
    );
    assert_eq!(
        parse_evpn_macs(fixture!("host.evpn-mac-vni-missing.json")),
        Ok(vec![])
    );
    let es = parse_evpn_macs(
        r#"{"numMacs":2,"macs":{"AA:00:00:00:00:01":{"type":"remote","remoteEs":"03:00"},"aa:00:00:00:00:02":{"type":"auto"}}}"#,
    )
    .unwrap();
    assert_eq!(es[0].mac, "aa:00:00:00:00:01");
    assert_eq!(
        es[0].at,
        MacAt::RemoteEs {
            esi: "03:00".into()
        }
    );
    assert_eq!(
        es[1].at,
        MacAt::Other {
            kind: "auto".into()
        }
    );

    let arp = parse_evpn_arp_cache(fixture!("host.evpn-arp-cache-vni-42.json")).unwrap();
    assert_eq!(arp.len(), 2);
    assert_eq!(arp[0].ip, ip("10.42.0.1"));
    assert_eq!(arp[0].remote_vtep, None);
    assert_eq!(arp[1].remote_vtep, Some(ip("198.51.100.2")));

    let routes = parse_evpn_routes(fixture!("host.bgp-l2vpn-evpn-route.json")).unwrap();
    assert_eq!(routes.len(), 8);
    let t3: BTreeSet<IpAddr> = routes
        .iter()
        .filter(|r| r.route_type == 3)
        .filter_map(|r| r.nexthop)
        .collect();
    assert_eq!(
        t3,
        BTreeSet::from([ip("198.51.100.1"), ip("198.51.100.2"), ip("198.51.100.4")])
    );
    let macip: Vec<&Route> = routes
        .iter()
        .filter(|r| r.route_type == 2 && r.ip.is_some())
        .collect();
    assert_eq!(macip.len(), 2);
    assert!(routes.iter().all(|r| r.best));
    assert!(routes.iter().all(|r| r.route_targets == ["RT:65000:42"]));
    assert_eq!(parse_evpn_routes("{}"), Ok(vec![]));
    // A path as a plain object (not FRR's list of lists) is read as well.
    let flat = r#"{"1.2.3.4:2":{"[3]:[0]:[32]:[1.2.3.4]":{"paths":[{"routeType":3,"ip":"1.2.3.4","nexthops":[{"ip":"1.2.3.4"}]}]}},"numPrefix":1}"#;
    assert_eq!(
        parse_evpn_routes(flat).unwrap()[0].nexthop,
        Some(ip("1.2.3.4"))
    );
}

#[test]
fn evpn_status_renders_sessions_vteps_and_macs() {
    let st = Status {
        vni: 42,
        sessions: parse_bgp_summary(fixture!("host.bgp-l2vpn-evpn-summary.json")).unwrap(),
        state: parse_evpn_vni(fixture!("host.evpn-vni-42.json")).unwrap(),
        macs: parse_evpn_macs(fixture!("host.evpn-mac-vni-42.json")).unwrap(),
    };
    let out = st.render();
    assert_eq!(
        out,
        "BGP session 198.51.100.254 (rr): Established, 5 EVPN routes received\n\
         VNI 42: 1 MAC(s) here, 2 remote VTEP(s)\n\
         remote VTEP 198.51.100.2: 1 MAC(s): b6:18:52:2f:4b:2a\n\
         remote VTEP 198.51.100.4: 1 MAC(s): 36:f1:d6:82:5e:f6\n"
    );
    let none = Status {
        vni: 43,
        sessions: vec![],
        state: None,
        macs: vec![],
    };
    assert_eq!(
        none.render(),
        "BGP: no EVPN session configured\nVNI 43: unknown to FRR (is vxlan43 up in its bridge, \
         and advertise-all-vni on?)\n"
    );
}

#[test]
fn evpn_data_plane_commands() {
    let d = DataPlane::new(42, "198.51.100.1".parse().unwrap(), "eth1", None);
    assert_eq!(d.bridge, "vxbr42");
    assert_eq!(
        d.vxlan_add().join(" "),
        "link add name vxlan42 mtu 1500 type vxlan id 42 dstport 4789 local 198.51.100.1 dev eth1 \
         nolearning"
    );
    assert_eq!(
        d.port_flags().join(" "),
        "link set dev vxlan42 learning off neigh_suppress on"
    );
    // A guest's address on the bridge (vif-bridge adds it; zebra advertises it as MAC+IP).
    let (add, undo) = crate::modes::network_bridge::overlay::guest_neigh(
        &d.bridge,
        "192.0.2.51",
        "00:16:3e:00:01:00",
    );
    assert_eq!(
        add.line(),
        "ip neigh replace 192.0.2.51 lladdr 00:16:3e:00:01:00 dev vxbr42 nud permanent"
    );
    assert_eq!(undo.line(), "ip neigh del 192.0.2.51 dev vxbr42");
    assert_eq!(
        DataPlane::new(7, "198.51.100.1".parse().unwrap(), "eth1", Some("tenant7")).bridge,
        "tenant7"
    );
}
