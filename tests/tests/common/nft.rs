//! nftables in the test bed: rulesets, counters on the LAN host, and guests that send from
//! forged addresses, for the tests of what the firewall lets through.

use xennet_tests::*;

pub fn nft_file(h: &Host, ns: &str, name: &str, text: &str) {
    let path = h.scratch.join(name);
    std::fs::write(&path, text).unwrap();
    let r = cmd::ns_exec(ns, &["nft", "-f", &path.display().to_string()]);
    assert!(r.success(), "nft -f {name} in {ns}: {r}");
}

pub fn ruleset(ns: &str) -> String {
    cmd::ns_exec(ns, &["nft", "list", "ruleset"])
        .ok()
        .to_string()
}

pub fn admin_table(h: &Host) -> String {
    cmd::ns_exec(&h.dom0, &["nft", "list", "table", "inet", "admin_fw"])
        .ok()
        .to_string()
}

/// Counters on the LAN host: ICMP echo requests arriving from each named source.
pub fn lan_counters(h: &Host, sources: &[(&str, &str)]) {
    let mut t = String::from("table inet xt_count {\n");
    for (name, _) in sources {
        t.push_str(&format!("counter {name} {{ }}\n"));
    }
    t.push_str("chain in {\ntype filter hook input priority 0; policy accept;\n");
    for (name, src) in sources {
        t.push_str(&format!(
            "ip saddr {src} icmp type echo-request counter name {name}\n"
        ));
    }
    t.push_str("}\n}\n");
    nft_file(h, &h.lan, "lan-count.nft", &t);
}

pub fn lan_count(h: &Host, name: &str) -> u64 {
    let out = cmd::ns_exec(
        &h.lan,
        &["nft", "list", "counter", "inet", "xt_count", name],
    );
    let text = out.ok();
    text.split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no packet count in {text:?}"))
}

/// Three echo requests from `src` (an address of the guest's) to `dst`; replies not needed.
pub fn ping_from(ns: &str, src: &str, dst: &str) {
    cmd::ns_exec(
        ns,
        &["ping", "-n", "-q", "-c3", "-i0.2", "-W1", "-I", src, dst],
    );
}

/// Sends from `src` and returns how many requests the LAN counted under `counter`.
pub fn arrived(h: &Host, g: &Guest, src: &str, dst: &str, counter: &str) -> u64 {
    let before = lan_count(h, counter);
    ping_from(&g.ns, src, dst);
    lan_count(h, counter) - before
}

pub fn guest_mac(g: &Guest) -> String {
    snapshot::link(&g.ns, &g.guest_if).unwrap()["address"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The guest also holds the forged address, so the kernel lets it send from it.
pub fn add_forged_address(g: &Guest, forged: &str) {
    cmd::ip_must(
        &g.ns,
        &["addr", "add", &format!("{forged}/32"), "dev", &g.guest_if],
    );
}
