//! The vif scripts on a host with xenstored (issue 17, item 2): `XENSTORED_PATH` names the
//! stand-in xenstored's socket, and the scripts reach xenstore over the wire protocol, one
//! connection per run, the backend keys read in one transaction and the report written in
//! another, with no `xenstore-*` process. Without a socket they use the clients (every other
//! test file, and `the_clients_are_used_where_there_is_no_socket` here).

mod common;

use common::*;
use xennet_tests::*;

/// A host with the stand-in xenstored (given `options`), `xenbr0` the administrator's bridge,
/// guest 1 with `vif1.0` and libxl's keys plus `extra`.
fn wire_host(name: &str, options: &[&str], extra: &[(&str, &str)]) -> Option<(Host, Guest)> {
    let mut h = host!(name).xenstored_with(options).build()?;
    h.make_admin_bridge("xenbr0");
    let g = h.add_guest(1, 0);
    h.xs_write_backend(1, 0, extra);
    Some((h, g))
}

/// The stand-in's request log (`xenstored TYPE [tx=N] args`) and the client processes run.
fn traffic(h: &Host, from: usize) -> (Vec<String>, Vec<String>) {
    let calls = h.xs_calls()[from..].to_vec();
    let (wire, clients): (Vec<String>, Vec<String>) = calls
        .into_iter()
        .filter(|c| !c.starts_with("xenstored-interfere"))
        .partition(|c| c.starts_with("xenstored "));
    (wire, clients)
}

fn kinds(wire: &[String]) -> Vec<&str> {
    wire.iter()
        .map(|c| c.split_whitespace().nth(1).unwrap_or(""))
        .collect()
}

#[test]
fn online_and_offline_over_the_wire() {
    let Some((h, g)) = wire_host("xsd_online", &[], &[("ip", "192.0.2.51")]) else {
        return;
    };
    assert!(h.has_xenstored());
    let rules = h.forward_rules();
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "vif-bridge online over xenstored's socket");
    assert_port(&h, "vif1.0", "xenbr0", 1500);
    assert_eq!(h.hotplug_status(1, 0).as_deref(), Some("connected"));
    assert_eq!(
        h.xs_read("/local/domain/1/device/vif/0/mtu").as_deref(),
        Some("1500"),
        "MTU-01, written with hotplug-status"
    );
    assert!(
        ping_retry(&g.ns, LAN_ADDR, 5),
        "guest cannot reach the LAN through vif1.0"
    );

    let (wire, clients) = traffic(&h, 0);
    assert!(
        clients.is_empty(),
        "no xenstore-* process where xenstored answers: {clients:?}"
    );
    let k = kinds(&wire);
    // The backend keys: one transaction, DIRECTORY then a READ of each key the scripts use.
    assert_eq!(k.first(), Some(&"TRANSACTION_START"), "{wire:#?}");
    let end1 = k.iter().position(|t| *t == "TRANSACTION_END").unwrap();
    assert_eq!(k[1], "DIRECTORY", "{wire:#?}");
    assert!(
        k[2..end1].iter().all(|t| *t == "READ"),
        "reads only, in the first transaction: {wire:#?}"
    );
    assert!(
        wire[..end1]
            .iter()
            .any(|c| c.ends_with("backend/vif/1/0/ip")),
        "{wire:#?}"
    );
    // The report: the frontend's mtu and hotplug-status in the second, nothing else after.
    let rest: Vec<&String> = wire[end1 + 1..].iter().collect();
    assert_eq!(
        kinds(&wire[end1 + 1..]),
        ["TRANSACTION_START", "WRITE", "WRITE", "TRANSACTION_END"],
        "{rest:#?}"
    );
    assert!(
        rest[1].ends_with("/local/domain/1/device/vif/0/mtu 1500"),
        "{rest:#?}"
    );
    assert!(
        rest[2].ends_with("backend/vif/1/0/hotplug-status connected"),
        "{rest:#?}"
    );
    assert!(rest[3].ends_with(" T"), "committed: {rest:#?}");

    let before = h.xs_calls().len();
    let r = h.libxl("vif-bridge", 1, 0).run(OFFLINE);
    assert_ok(&h, &r, "vif-bridge offline over xenstored's socket");
    assert_eq!(h.forward_rules(), rules, "offline removes the vif's rules");
    assert!(h.master_of("vif1.0").is_none(), "vif1.0 left the bridge");
    let (wire, clients) = traffic(&h, before);
    assert!(clients.is_empty(), "{clients:?}");
    assert_eq!(
        kinds(&wire)
            .iter()
            .filter(|t| **t == "TRANSACTION_START")
            .count(),
        1,
        "offline reads its keys in one transaction and writes nothing: {wire:#?}"
    );
    assert!(!kinds(&wire).contains(&"WRITE"), "{wire:#?}");
}

/// A writer changes a key between our read and our commit: xenstored answers the commit with
/// EAGAIN and the script reads again, and goes by the value it read the second time.
#[test]
fn a_conflicting_write_makes_the_script_read_again() {
    // The backend first names a bridge that does not exist; the other writer fixes it right
    // after our first transaction read it.
    let Some((h, _g)) = wire_host(
        "xsd_conflict",
        &["--interfere", "backend/vif/1/0/bridge", "xenbr0"],
        &[("bridge", "nosuchbr")],
    ) else {
        return;
    };
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "vif-bridge online after a transaction conflict");
    assert_port(&h, "vif1.0", "xenbr0", 1500);
    assert_eq!(h.hotplug_status(1, 0).as_deref(), Some("connected"));
    let calls = h.xs_calls();
    assert!(
        calls
            .iter()
            .any(|c| c == "xenstored-interfere backend/vif/1/0/bridge xenbr0"),
        "the other writer did not write: {calls:#?}"
    );
    let (wire, clients) = traffic(&h, 0);
    assert!(clients.is_empty(), "{clients:?}");
    let starts = kinds(&wire)
        .iter()
        .filter(|t| **t == "TRANSACTION_START")
        .count();
    assert_eq!(
        starts, 3,
        "the read transaction twice (EAGAIN, then again), the report once: {wire:#?}"
    );
}

/// A failure is reported over the wire too: hotplug-error and hotplug-status=error in one
/// transaction, exit 1.
#[test]
fn a_failure_writes_hotplug_error_over_the_wire() {
    let Some((h, _g)) = wire_host("xsd_error", &[], &[("bridge", "nosuchbr")]) else {
        return;
    };
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert!(!r.success(), "online onto a missing bridge must fail:\n{r}");
    assert_eq!(h.hotplug_status(1, 0).as_deref(), Some("error"));
    let err = h.hotplug_error(1, 0).unwrap_or_default();
    assert!(err.contains("nosuchbr"), "hotplug-error: {err:?}");
    let (wire, clients) = traffic(&h, 0);
    assert!(clients.is_empty(), "{clients:?}");
    let k = kinds(&wire);
    let last_start = k.iter().rposition(|t| *t == "TRANSACTION_START").unwrap();
    assert_eq!(
        k[last_start..],
        ["TRANSACTION_START", "WRITE", "WRITE", "TRANSACTION_END"],
        "{wire:#?}"
    );
}

/// No socket at `XENSTORED_PATH` (and no xenbus device): the `xenstore-*` clients, as before.
#[test]
fn the_clients_are_used_where_there_is_no_socket() {
    let Some((h, _g)) = admin_bridge_host("xsd_clients", &[]) else {
        return;
    };
    assert!(!h.has_xenstored() && !h.xenstored_path.exists());
    let r = h.libxl("vif-bridge", 1, 0).run(ONLINE);
    assert_ok(&h, &r, "vif-bridge online through the clients");
    assert_eq!(h.hotplug_status(1, 0).as_deref(), Some("connected"));
    let calls = h.xs_calls();
    let programs: Vec<&str> = calls
        .iter()
        .map(|c| c.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(
        programs,
        ["xenstore-ls", "xenstore-write"],
        "one client for the keys, one for the report: {calls:#?}"
    );
}
