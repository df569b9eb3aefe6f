//! NAT mode (issue 3, spec §5 and §9): network-nat and vif-nat on a namespace host, with a real
//! ISC dhcpd in dom0 and a real DHCP client (busybox udhcpc) in the guest.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use xennet_tests::*;

/// Guests `1..=n` with static addresses `10.0.0.<domid>/16` behind router `10.0.0.<127+domid>`
/// (what vif-nat derives, VN-05), `ip=` in their backend and `script=vif-nat`.
fn nat_host(name: &str, guests: u32) -> Option<(Host, Vec<Guest>)> {
    let mut h = host!(name).build()?;
    // A host with iptables has its nat table too, so that reading it changes no snapshot.
    cmd::ns_exec(
        &h.dom0,
        &["iptables", "-w", "-t", "nat", "-P", "POSTROUTING", "ACCEPT"],
    )
    .ok();
    let mut gs = Vec::new();
    for domid in 1..=guests {
        let g = add_nat_guest_at(&mut h, domid);
        gs.push(g);
    }
    Some((h, gs))
}

/// `[packets:bytes]` of the LAN's counting rule with this comment.
fn lan_count(h: &Host, comment: &str) -> u64 {
    let out = cmd::ns_exec(&h.lan, &["iptables-save", "-c", "-t", "filter"]);
    out.ok()
        .lines()
        .find(|l| l.contains(&format!("--comment {comment}")))
        .and_then(|l| l.strip_prefix('['))
        .and_then(|l| l.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn nn05_vn09_two_guests_are_masqueraded_reach_each_other_and_cannot_be_reached() {
    let Some((h, gs)) = nat_host("nat_masquerade", 2) else {
        return;
    };
    let before = h.snapshot();
    let r = h.script("network-nat").env("dhcp", "no").run(&["start"]);
    assert_ok(&h, &r, "network-nat start (NN-07: exit 0)");
    assert!(
        r.stdout.contains("netdev=eth0"),
        "the chosen uplink is reported: {}",
        r.stdout
    );
    let masq = |h: &Host| {
        cmd::ns_exec(&h.dom0, &["iptables-save", "-t", "nat"])
            .ok()
            .lines()
            .filter(|l| *l == "-A POSTROUTING -o eth0 -j MASQUERADE")
            .count()
    };
    assert_eq!(masq(&h), 1);
    // NN-06 FIX: a second start adds no second rule.
    assert_ok(
        &h,
        &h.script("network-nat").env("dhcp", "no").run(&["start"]),
        "second start",
    );
    assert_eq!(masq(&h), 1, "NN-06: no duplicate MASQUERADE rule");

    for g in &gs {
        let r = h.libxl("vif-nat", g.domid, 0).env("dhcp", "no").run(ONLINE);
        assert_ok(&h, &r, "vif-nat online");
        assert_eq!(h.hotplug_status(g.domid, 0).as_deref(), Some("connected"));
        let router = format!("10.0.0.{}/32", 127 + g.domid);
        assert_eq!(
            snapshot::addrs(&h.dom0, &g.vif, "inet"),
            vec![router],
            "VN-05 router address"
        );
    }
    let routes = cmd::ip_must(&h.dom0, &["route", "show"]);
    assert!(
        routes.contains("10.0.0.1 dev vif1.0 scope link src 10.0.0.128"),
        "{routes}"
    );
    assert!(
        routes.contains("10.0.0.2 dev vif2.0 scope link src 10.0.0.129"),
        "{routes}"
    );

    // Counting rules on the LAN host: which source address do the guests' packets carry?
    for (src, name) in [("192.0.2.10", "from-dom0"), ("10.0.0.0/16", "from-guests")] {
        cmd::ns_exec(
            &h.lan,
            &[
                "iptables",
                "-w",
                "-A",
                "INPUT",
                "-s",
                src,
                "-p",
                "icmp",
                "-m",
                "comment",
                "--comment",
                name,
            ],
        )
        .ok();
    }
    for g in &gs {
        assert!(
            ping_retry(&g.ns, LAN_ADDR, 5),
            "guest {} cannot reach the LAN host",
            g.domid
        );
    }
    assert!(
        lan_count(&h, "from-dom0") >= 2,
        "the guests' pings must arrive from dom0's address"
    );
    assert_eq!(
        lan_count(&h, "from-guests"),
        0,
        "a guest address leaked to the LAN unmasqueraded"
    );

    // The guests reach each other through dom0 (proxy ARP on the vifs).
    assert!(
        ping_retry(&gs[0].ns, "10.0.0.2", 5),
        "guest 1 cannot reach guest 2"
    );
    assert!(
        ping_retry(&gs[1].ns, "10.0.0.1", 5),
        "guest 2 cannot reach guest 1"
    );

    // The LAN host cannot open a connection to a guest, even with a route to the guests.
    cmd::ip_must(
        &h.lan,
        &["route", "add", "10.0.0.0/16", "via", "192.0.2.10"],
    );
    assert!(
        !ping_retry(&h.lan, "10.0.0.1", 2),
        "the LAN host reached a guest behind NAT"
    );
    cmd::ip_must(
        &h.lan,
        &["route", "del", "10.0.0.0/16", "via", "192.0.2.10"],
    );

    // VN-10 FIX: online on a vif that is already up is checked, changes nothing, says connected.
    h.xs_write(&format!("{}/hotplug-status", h.backend_path(1, 0)), "");
    let mid = h.snapshot();
    assert_ok(
        &h,
        &h.libxl("vif-nat", 1, 0).env("dhcp", "no").run(ONLINE),
        "second online",
    );
    assert_same(&mid, &h.snapshot(), "a second online");
    assert_eq!(h.hotplug_status(1, 0).as_deref(), Some("connected"));

    for g in &gs {
        assert_ok(
            &h,
            &h.libxl("vif-nat", g.domid, 0)
                .env("dhcp", "no")
                .run(OFFLINE),
            "vif-nat offline",
        );
    }
    assert_ok(
        &h,
        &h.script("network-nat").env("dhcp", "no").run(&["stop"]),
        "network-nat stop",
    );
    assert_same(
        &before,
        &h.snapshot(),
        "network-nat start, vif-nat online … offline, stop",
    );
}

#[test]
fn nn08_stop_removes_only_what_start_added() {
    let Some((h, _)) = nat_host("nat_admin_rule", 0) else {
        return;
    };
    // An administrator's own MASQUERADE rule and forwarding were there first.
    cmd::ns_exec(
        &h.dom0,
        &[
            "iptables",
            "-w",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            "eth0",
            "-j",
            "MASQUERADE",
        ],
    )
    .ok();
    cmd::ns_exec(
        &h.dom0,
        &["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"],
    )
    .ok();
    let before = h.snapshot();
    assert_ok(
        &h,
        &h.script("network-nat").env("dhcp", "no").run(&["start"]),
        "start",
    );
    assert_ok(
        &h,
        &h.script("network-nat").env("dhcp", "no").run(&["stop"]),
        "stop",
    );
    assert_same(
        &before,
        &h.snapshot(),
        "the administrator's rule survives stop",
    );
    let r = h.script("network-nat").env("dhcp", "no").run(&["stop"]);
    assert_ok(&h, &r, "stop without start");
}

#[test]
fn vn06_bad_addresses_and_a_bare_netdev_fail_cleanly() {
    let Some((h, _)) = nat_host("nat_bad_values", 1) else {
        return;
    };
    let be = h.backend_path(1, 0);
    let before = h.snapshot();
    for (ip, expect) in [
        ("10.0.0.200", "10.0.0.327"),
        ("10.0.0.x", "10.0.0.x"),
        ("10.0.0.1 10.0.0.2", "one address"),
    ] {
        h.xs_write(&format!("{be}/ip"), ip);
        h.xs_write(&format!("{be}/hotplug-status"), "");
        let r = h.libxl("vif-nat", 1, 0).env("dhcp", "no").run(ONLINE);
        assert_failed(&h, &r, &format!("vif-nat online with ip={ip}"));
        let err = h.hotplug_error(1, 0).unwrap_or_default();
        assert!(
            err.contains(expect),
            "hotplug-error for ip={ip} should name {expect:?}: {err:?}"
        );
        assert_eq!(h.hotplug_status(1, 0).as_deref(), Some("error"));
        assert_same(&before, &h.snapshot(), &format!("a refused ip={ip}"));
    }
    // A netdev without an address: IP-02's sentence, nothing changed.
    // A link without an address (no dummy driver here: a veth pair stands in).
    cmd::ip_must(
        &h.dom0,
        &[
            "link", "add", "name", "dummy0", "type", "veth", "peer", "name", "dummy0p",
        ],
    );
    let before = h.snapshot();
    let r = h
        .script("network-nat")
        .env("dhcp", "no")
        .run(&["start", "netdev=dummy0"]);
    assert_failed(&h, &r, "network-nat start netdev=dummy0");
    assert!(
        r.stderr.contains(
            "dummy0 is not up.  Bring it up or specify another interface with netdev=<if>"
        ),
        "{}",
        r.stderr
    );
    assert_same(&before, &h.snapshot(), "a refused start");
    // --dry-run shows the NAT plan and changes nothing.
    let r = h
        .script("network-nat")
        .env("dhcp", "no")
        .run(&["start", "--dry-run"]);
    assert_ok(&h, &r, "network-nat --dry-run");
    assert!(
        r.stdout
            .contains("iptables -w -t nat -A POSTROUTING -o eth0 -j MASQUERADE"),
        "{}",
        r.stdout
    );
    h.xs_write(&format!("{be}/ip"), "10.0.0.1");
    let r = h
        .libxl("vif-nat", 1, 0)
        .env("dhcp", "no")
        .run(&["online", "type_if=vif", "--dry-run"]);
    assert_ok(&h, &r, "vif-nat --dry-run");
    assert!(
        r.stdout
            .contains("ip route add 10.0.0.1 dev vif1.0 src 10.0.0.128"),
        "{}",
        r.stdout
    );
    assert_same(&before, &h.snapshot(), "--dry-run");
}

/// dhcpd's files for one host, and a stand-in for its init script that runs dhcpd inside the
/// namespace it is called from (dom0). Dropping it stops that dhcpd.
struct Dhcpd {
    dir: PathBuf,
}

impl Dhcpd {
    fn new(h: &Host) -> Dhcpd {
        let dir = h.scratch.join("dhcpd");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("dhcpd.conf"),
            "ddns-update-style none;\ndefault-lease-time 600;\nmax-lease-time 7200;\nauthoritative;\n",
        )
        .unwrap();
        std::fs::write(dir.join("args"), "INTERFACESv4=\"\"\nINTERFACESv6=\"\"\n").unwrap();
        std::fs::write(dir.join("dhcpd.leases"), "").unwrap();
        let init = dir.join("init");
        std::fs::write(
            &init,
            r#"#!/bin/bash
# Test stand-in for /etc/init.d/isc-dhcp-server: (re)starts dhcpd in the caller's namespace.
d=$(dirname "$0")
case "$1" in restart|stop) ;; *) exit 1 ;; esac
if [ -f "$d/dhcpd.pid" ]; then
  p=$(cat "$d/dhcpd.pid")
  if [ "$(cat /proc/$p/comm 2>/dev/null)" = dhcpd ]; then
    kill -TERM "$p"
    for i in $(seq 50); do
      [ -d /proc/$p ] && ! grep -q '^State:.*Z' /proc/$p/status 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$d/dhcpd.pid"
fi
[ "$1" = stop ] && exit 0
. "$d/args"
[ -n "$INTERFACESv4" ] || exit 1   # like the real one: nothing to serve
# In the foreground under a time limit, so a test that dies cannot leave it running for long.
timeout -s TERM 300 dhcpd -f -4 -q -cf "$d/dhcpd.conf" -lf "$d/dhcpd.leases" -pf "$d/dhcpd.pid" \
  $INTERFACESv4 >"$d/dhcpd.log" 2>&1 </dev/null &
for i in $(seq 50); do [ -s "$d/dhcpd.pid" ] && exit 0; sleep 0.1; done
exit 1
"#,
        )
        .unwrap();
        std::fs::set_permissions(&init, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        Dhcpd { dir }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let p = |n: &str| self.dir.join(n).display().to_string();
        vec![
            ("dhcp", "yes".into()),
            ("XENNET_DHCPD_CONF", p("dhcpd.conf")),
            ("XENNET_DHCPD_INIT", p("init")),
            ("XENNET_DHCPD_ARGS", p("args")),
        ]
    }

    fn conf(&self) -> String {
        std::fs::read_to_string(self.dir.join("dhcpd.conf")).unwrap()
    }

    fn args(&self) -> String {
        std::fs::read_to_string(self.dir.join("args")).unwrap()
    }

    fn path(&self, n: &str) -> PathBuf {
        self.dir.join(n)
    }
}

impl Drop for Dhcpd {
    fn drop(&mut self) {
        let _ = cmd::run(&[self.dir.join("init").display().to_string(), "stop".into()]);
    }
}

fn with_env<'h>(mut c: Call<'h>, env: &[(&'static str, String)]) -> Call<'h> {
    for (k, v) in env {
        c = c.env(k, v);
    }
    c
}

/// The guest's DHCP client: busybox udhcpc, applying what it gets with `ip`.
fn udhcpc(ns: &str, dir: &Path) -> Output {
    let script = dir.join("udhcpc.script");
    std::fs::write(
        &script,
        "#!/bin/sh\ncase \"$1\" in bound|renew)\n  ip addr flush dev \"$interface\"\n  ip addr add \"$ip/${mask:-32}\" dev \"$interface\"\n  r=${router%% *}\n  [ -n \"$r\" ] && ip route replace default via \"$r\" dev \"$interface\"\n;; esac\nexit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    cmd::ns_exec(
        ns,
        &[
            "busybox",
            "udhcpc",
            "-i",
            "eth0",
            "-n",
            "-q",
            "-t",
            "5",
            "-T",
            "1",
            "-s",
            &script.display().to_string(),
        ],
    )
}

#[test]
fn vn13_real_dhcp_hands_each_guest_its_host_entry_and_offline_removes_exactly_it() {
    let Some(mut h) = host!("nat_dhcp").build() else {
        return;
    };
    let d = Dhcpd::new(&h);
    let env = d.env();
    assert_ok(
        &h,
        &with_env(h.script("network-nat"), &env).run(&["start"]),
        "network-nat start dhcp=yes",
    );
    assert!(
        d.conf().contains("subnet 10.0.0.0 netmask 255.255.0.0 {"),
        "NN-05 subnet line:\n{}",
        d.conf()
    );

    // Guests 1 and 10 (VN-15: removing dom1 must leave dom10), no ip= (VN-04 defaults).
    let mut guests = Vec::new();
    for domid in [1u32, 10] {
        let g = h.add_guest(domid, 0);
        cmd::ip_must(&g.ns, &["addr", "flush", "dev", &g.guest_if]);
        let mac = format!("00:16:3e:00:{domid:02x}:00");
        cmd::ip_must(&g.ns, &["link", "set", "dev", &g.guest_if, "address", &mac]);
        h.xs_write_backend(
            domid,
            0,
            &[
                ("mac", mac.as_str()),
                ("script", "/etc/xen/scripts/vif-nat"),
            ],
        );
        let r = with_env(h.libxl("vif-nat", domid, 0), &env).run(ONLINE);
        assert_ok(&h, &r, "vif-nat online with dhcp");
        guests.push(g);
    }
    let conf = d.conf();
    assert!(
        conf.contains("host dom1 { hardware ethernet 00:16:3e:00:01:00; fixed-address 10.0.1.1; option routers 10.0.1.128; option host-name \"dom1\"; }"),
        "VN-13 host entry:\n{conf}"
    );
    assert!(
        conf.contains("host dom10 { hardware ethernet 00:16:3e:00:0a:00; fixed-address 10.0.10.1;"),
        "{conf}"
    );
    assert!(
        d.args().contains("INTERFACESv4=\"vif1.0 vif10.0\""),
        "VN-16 words kept apart:\n{}",
        d.args()
    );
    assert!(
        d.path("dhcpd.pid").exists(),
        "dhcpd was not (re)started by vif-nat"
    );

    // A real exchange: each guest gets exactly its host entry's address and router.
    for (g, addr, router) in [
        (&guests[0], "10.0.1.1/16", "10.0.1.128"),
        (&guests[1], "10.0.10.1/16", "10.0.10.128"),
    ] {
        let out = udhcpc(&g.ns, &h.scratch);
        assert!(out.success(), "udhcpc in guest {} failed:\n{out}", g.domid);
        assert_eq!(
            snapshot::addrs(&g.ns, "eth0", "inet"),
            vec![addr.to_string()],
            "{out}"
        );
        let routes = cmd::ip_must(&g.ns, &["route", "show", "default"]);
        assert!(
            routes.contains(&format!("default via {router}")),
            "{routes}"
        );
        assert!(
            ping_retry(&g.ns, LAN_ADDR, 5),
            "guest {} cannot reach the LAN after DHCP",
            g.domid
        );
    }

    // Offline of domain 1 removes its entry only.
    assert_ok(
        &h,
        &with_env(h.libxl("vif-nat", 1, 0), &env).run(OFFLINE),
        "vif-nat offline dom1",
    );
    let conf = d.conf();
    assert!(
        !conf.contains("host dom1 {"),
        "dom1's entry is left:\n{conf}"
    );
    assert!(
        conf.contains("host dom10 {"),
        "removing dom1 removed dom10 (VN-15):\n{conf}"
    );
    assert!(
        d.args().contains("INTERFACESv4=\"vif10.0\""),
        "{}",
        d.args()
    );
    assert_ok(
        &h,
        &with_env(h.libxl("vif-nat", 10, 0), &env).run(OFFLINE),
        "vif-nat offline dom10",
    );
    assert_ok(
        &h,
        &with_env(h.script("network-nat"), &env).run(&["stop"]),
        "network-nat stop",
    );
    let conf = d.conf();
    assert!(
        !conf.contains("host dom") && !conf.contains("subnet 10.0.0.0"),
        "stop leaves:\n{conf}"
    );
}
