//! vif-nat's planner (spec §5): the router address, the host route, proxy ARP, dhcpd's host
//! entry; and the addresses it refuses.

use super::*;
use crate::error::Error;
use crate::fixture::testing::*;
use crate::fixture::Fixture;

const KEYS: &[(&str, &str)] = &[
    ("ip", "10.0.0.1"),
    ("mac", "00:16:3e:00:00:01"),
    ("frontend-id", "1"),
    ("handle", "0"),
];

fn plan(
    command: &str,
    keys: &[(&str, &str)],
    args: &[&str],
    host: &Fixture,
) -> crate::error::Result<crate::error::Planned> {
    let mut words = vec![command, "type_if=vif"];
    words.extend_from_slice(args);
    let ctx = vif_ctx_with("vif-nat", &words, VIF_ENV, keys);
    plan_vif("vif-nat", &ctx, &inv("vif-nat", &words, VIF_ENV), host)
}

#[test]
fn vn05_vn09_online_gives_the_router_address_a_host_route_and_proxy_arp() {
    let host = dom0().link(fresh("vif1.0"));
    let p = plan("online", KEYS, &["dhcp=no", "firewall=none"], &host).unwrap();
    let l = lines(&p);
    assert!(l.contains("ip addr add 10.0.0.128/32 dev vif1.0"), "{l}");
    assert!(
        l.contains("ip route add 10.0.0.1 dev vif1.0 src 10.0.0.128"),
        "{l}"
    );
    assert!(
        l.contains(&format!("echo 1 > {}", crate::sysctl::proxy_arp("vif1.0"))),
        "{l}"
    );
}

#[test]
fn vn04_without_ip_the_address_comes_from_the_domain_and_device() {
    let host = dom0().link(fresh("vif1.0"));
    let keys = [("frontend-id", "5"), ("handle", "0")];
    let p = plan("online", &keys, &["dhcp=no", "firewall=none"], &host).unwrap();
    // 10.<5/256>.<5%256>.<handle+1>: 10.0.5.1, router 10.0.5.128.
    assert!(
        lines(&p).contains("ip addr add 10.0.5.128/32"),
        "{}",
        lines(&p)
    );
}

#[test]
fn vn06_vn07_addresses_without_a_router_address_are_refused() {
    let host = dom0().link(fresh("vif1.0"));
    for (ip, names) in [
        ("10.0.0.200", "10.0.0.327"),
        ("10.0.0.1 10.0.0.2", "2 addresses"),
        ("2001:db8::1", "not an IPv4 address"),
    ] {
        let mut keys = KEYS.to_vec();
        keys[0] = ("ip", ip);
        let e = plan("online", &keys, &["dhcp=no"], &host).unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{ip}: {e:?}");
        assert!(sentence(e).contains(names), "{ip}");
    }
}

#[test]
fn xs01_a_missing_handle_is_refused_naming_the_key() {
    let host = dom0().link(fresh("vif1.0"));
    let e = plan(
        "online",
        &[("ip", "10.0.0.1"), ("frontend-id", "1")],
        &["dhcp=no"],
        &host,
    )
    .unwrap_err();
    assert_eq!(sentence(e), "xenstore-read backend/vif/1/0/handle failed.");
}

#[test]
fn vn13_dhcp_writes_the_host_entry_and_lists_the_vif_under_its_lock() {
    let conf = "/tmp/dhcpd.conf.fixture";
    let host = dom0()
        .link(fresh("vif1.0"))
        .file("/etc/dhcp/dhcpd.conf", "# conf\n")
        .executable("/etc/init.d/isc-dhcp-server")
        .file("/etc/default/isc-dhcp-server", "INTERFACESv4=\"\"\n");
    let p = plan("online", KEYS, &["dhcp=yes", "firewall=none"], &host).unwrap();
    let entry = p
        .plan
        .steps
        .iter()
        .find(|s| s.what.contains("dhcpd host entry dom1"))
        .expect("a host entry step");
    assert_eq!(entry.lock, Some("vif-nat-dhcp"));
    let crate::plan::Action::SetLine { line: Some(l), .. } = &entry.action else {
        panic!("{:?}", entry.action)
    };
    assert!(
        l.contains("hardware ethernet 00:16:3e:00:00:01; fixed-address 10.0.0.1; option routers 10.0.0.128"),
        "{l}"
    );
    assert!(
        lines(&p).contains("add vif1.0 to the lists"),
        "{}",
        lines(&p)
    );
    let _ = conf;
    // Without the init script: refused, naming what to install.
    let bare = dom0()
        .link(fresh("vif1.0"))
        .file("/etc/dhcp/dhcpd.conf", "# conf\n");
    let e = plan("online", KEYS, &["dhcp=yes"], &bare).unwrap_err();
    assert!(sentence(e).contains("install isc-dhcp-server, or set dhcp=no"));
}

#[test]
fn vn12_a_tap_gets_no_address_or_route() {
    let env = [
        ("INTERFACE", "vif1.0-emu"),
        ("XENBUS_PATH", "backend/vif/1/0"),
    ];
    let c = vif_ctx_with("vif-nat", &["add", "type_if=tap"], &env, KEYS);
    let host = dom0().link(fresh("vif1.0-emu"));
    let i = inv(
        "vif-nat",
        &["add", "type_if=tap", "dhcp=no", "firewall=none"],
        &env,
    );
    let p = plan_vif("vif-nat", &c, &i, &host).unwrap();
    assert!(!lines(&p).contains("ip addr") && !lines(&p).contains("ip route"));
}

#[test]
fn vn11_offline_takes_the_router_address_and_the_route_away() {
    let mut vif = fresh("vif1.0");
    vif.up = true;
    let host = dom0()
        .link(vif)
        .addrs(
            "vif1.0",
            vec![addr(
                r#"{"family":"inet","local":"10.0.0.128","prefixlen":32}"#,
            )],
        )
        .answer(
            crate::facts::Fact::Routes("vif1.0".into()),
            crate::facts::Answer::Routes(
                serde_json::from_str(r#"[{"dst":"10.0.0.1","dev":"vif1.0","scope":"link"}]"#)
                    .unwrap(),
            ),
        );
    let p = plan("offline", KEYS, &["dhcp=no", "firewall=none"], &host).unwrap();
    let l = lines(&p);
    assert!(l.contains("ip route del 10.0.0.1 dev vif1.0"), "{l}");
    assert!(l.contains("ip addr del 10.0.0.128/32 dev vif1.0"), "{l}");
}

#[test]
fn vlan_is_refused_in_nat_mode() {
    let host = dom0().link(fresh("vif1.0"));
    let mut keys = KEYS.to_vec();
    keys.push(("vlan", "10p/20"));
    let e = plan("online", &keys, &["dhcp=no", "firewall=none"], &host).unwrap_err();
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    assert!(sentence(e)
        .contains("vlan=10p/20 (from xenstore key backend/vif/1/0/vlan), but vif-nat routes"));
}

#[test]
fn online_and_offline_purge_the_guests_connections_masqueraded_ones_included() {
    let host = dom0()
        .link(fresh("vif1.0"))
        .file(crate::conntrack::count_path(), "7\n")
        .tools(&["conntrack"]);
    let p = plan("online", KEYS, &["dhcp=no", "firewall=none"], &host).unwrap();
    assert!(
        lines(&p).ends_with(
            "conntrack -R - <<'EOF'\n-D -s 10.0.0.1\n-D -d 10.0.0.1\n-D -r 10.0.0.1\nEOF\n"
        ),
        "{}",
        lines(&p)
    );
    let p = plan("offline", KEYS, &["dhcp=no", "firewall=none"], &host).unwrap();
    assert!(lines(&p).contains("-D -s 10.0.0.1\n"), "{}", lines(&p));
}
