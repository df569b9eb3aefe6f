//! What a namespace looks like, reduced to what the scripts are responsible for, for exact
//! before/after comparisons; plus small queries (`link`, `master_of`, rules …) tests use directly.
//!
//! Left out on purpose, because the kernel produces it on its own schedule and it says nothing
//! about the scripts: IPv6 link-local addresses and routes (`fe80::/10`) and the per-device
//! multicast routes (`ff00::/8`), address lifetimes (only "finite" vs "forever" is kept) and the
//! transient DAD flags (`tentative`, `optimistic`), route `expires`/`cache`, the `linkdown` route
//! flag and carrier/operstate (admin `UP` is kept), counters, and the tables iptables-nft manages
//! in `nft list ruleset` (they are compared through `iptables-save`).

use crate::cmd;
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// A reduced view of one namespace. Each section is a list of canonical lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub ns: String,
    pub sections: Vec<(&'static str, Vec<String>)>,
}

/// Sections whose line order means something (rule order); the others are sorted.
const ORDERED: &[&str] = &["iptables"];

impl Snapshot {
    /// Takes a snapshot after waiting (at most 5 s) for IPv6 duplicate address detection to end.
    pub fn take(ns: &str) -> Snapshot {
        settle(ns);
        let mut sections = vec![
            ("links", link_lines(ns)),
            ("addresses", addr_lines(ns)),
            ("routes4", route_lines(ns, "-4")),
            ("routes6", route_lines(ns, "-6")),
            ("iptables", iptables_lines(ns)),
            (
                "nftables (other than iptables-nft tables)",
                nft_other_lines(ns),
            ),
            ("sysctls", sysctl_lines(ns)),
        ];
        for (name, lines) in sections.iter_mut() {
            if !ORDERED.contains(name) {
                lines.sort();
            }
        }
        Snapshot {
            ns: ns.to_string(),
            sections,
        }
    }

    /// The lines of one section.
    pub fn section(&self, name: &str) -> &[String] {
        self.sections
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, l)| l.as_slice())
            .unwrap_or(&[])
    }

    /// A readable account of the differences (`-` only before, `+` only after), or None.
    pub fn diff(&self, after: &Snapshot) -> Option<String> {
        let mut out = String::new();
        for (name, before) in &self.sections {
            let after_lines = after.section(name);
            if before.as_slice() == after_lines {
                continue;
            }
            let _ = writeln!(out, "  [{name}]");
            for d in line_diff(before, after_lines) {
                let _ = writeln!(out, "    {d}");
            }
        }
        if out.is_empty() {
            None
        } else {
            Some(out)
        }
    }

    /// The whole snapshot as text (for failure messages).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, lines) in &self.sections {
            let _ = writeln!(out, "  [{name}]");
            for l in lines {
                let _ = writeln!(out, "    {l}");
            }
        }
        out
    }
}

/// Panics with the differences when two snapshots differ.
#[track_caller]
pub fn assert_same(before: &Snapshot, after: &Snapshot, what: &str) {
    if let Some(d) = before.diff(after) {
        panic!(
            "{what}: namespace {} changed (- before, + after):\n{d}",
            before.ns
        );
    }
}

/// Minimal line diff (longest common subsequence), good enough for a few hundred lines.
pub fn line_diff(a: &[String], b: &[String]) -> Vec<String> {
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(format!("+ {}", b[j]));
            j += 1;
        } else {
            out.push(format!("- {}", a[i]));
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Queries

fn json(o: &cmd::Output) -> Vec<Value> {
    if !o.success() {
        return Vec::new();
    }
    match serde_json::from_str::<Value>(&o.stdout) {
        Ok(Value::Array(v)) => v,
        _ => Vec::new(),
    }
}

/// `ip -j -d link show` of every link.
pub fn links(ns: &str) -> Vec<Value> {
    json(&cmd::ip(ns, &["-j", "-d", "link", "show"]))
}

/// `ip -j -d link show dev <name>`, or None when there is no such link.
pub fn link(ns: &str, name: &str) -> Option<Value> {
    json(&cmd::ip(ns, &["-j", "-d", "link", "show", "dev", name]))
        .into_iter()
        .next()
}

/// The bridge (or bond …) a link is enslaved to.
pub fn master_of(ns: &str, name: &str) -> Option<String> {
    link(ns, name).and_then(|l| l["master"].as_str().map(str::to_string))
}

/// The link's kind (`bridge`, `veth` …) from `linkinfo.info_kind`.
pub fn kind_of(l: &Value) -> Option<&str> {
    l["linkinfo"]["info_kind"].as_str()
}

/// Administratively up (`UP` among the flags).
pub fn is_up(l: &Value) -> bool {
    l["flags"]
        .as_array()
        .map(|f| f.iter().any(|x| x == "UP"))
        .unwrap_or(false)
}

/// The names of the ports of a bridge.
pub fn ports_of(ns: &str, bridge: &str) -> Vec<String> {
    let mut v: Vec<String> = links(ns)
        .into_iter()
        .filter(|l| l["master"].as_str() == Some(bridge))
        .filter_map(|l| l["ifname"].as_str().map(str::to_string))
        .collect();
    v.sort();
    v
}

/// The `addr_info` entries of one link (empty if the link is missing).
pub fn addr_info(ns: &str, dev: &str) -> Vec<Value> {
    json(&cmd::ip(ns, &["-j", "addr", "show", "dev", dev]))
        .into_iter()
        .next()
        .and_then(|l| l["addr_info"].as_array().cloned())
        .unwrap_or_default()
}

/// `local/prefixlen` of the addresses of one family (`inet`/`inet6`) on a link; link-local
/// IPv6 addresses are left out.
pub fn addrs(ns: &str, dev: &str, family: &str) -> Vec<String> {
    let mut v: Vec<String> = addr_info(ns, dev)
        .iter()
        .filter(|a| a["family"] == family)
        .filter(|a| !is_link_local(a["local"].as_str().unwrap_or("")))
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap_or(""), a["prefixlen"]))
        .collect();
    v.sort();
    v
}

/// Routes as JSON (`ip -j <family> route show table all`).
pub fn routes(ns: &str, family: &str) -> Vec<Value> {
    json(&cmd::ip(
        ns,
        &["-j", family, "route", "show", "table", "all"],
    ))
}

/// The IPv4 default routes of the main table, as `(gateway, dev)`.
pub fn default_routes4(ns: &str) -> Vec<(String, String)> {
    routes(ns, "-4")
        .into_iter()
        .filter(|r| r["dst"] == "default" && r.get("table").is_none())
        .map(|r| {
            (
                r["gateway"].as_str().unwrap_or("").to_string(),
                r["dev"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// `iptables-save -t filter` without comments and counters.
pub fn iptables_filter(ns: &str) -> Vec<String> {
    let o = cmd::ns_exec(ns, &["iptables-save", "-t", "filter"]);
    clean_save(&o.stdout)
}

/// The `-A FORWARD …` lines of `iptables-save -t filter`, top to bottom.
pub fn iptables_forward_rules(ns: &str) -> Vec<String> {
    iptables_filter(ns)
        .into_iter()
        .filter(|l| l.starts_with("-A FORWARD "))
        .collect()
}

/// The FORWARD rules that mention a device as `--physdev-in`/`--physdev-out`.
pub fn forward_rules_for(ns: &str, dev: &str) -> Vec<String> {
    let words = [
        format!("--physdev-in {dev} "),
        format!("--physdev-out {dev} "),
    ];
    iptables_forward_rules(ns)
        .into_iter()
        .filter(|l| words.iter().any(|w| l.contains(w.as_str())))
        .collect()
}

/// A sysctl of the namespace, e.g. `net/ipv4/ip_forward`.
pub fn sysctl(ns: &str, key: &str) -> Option<String> {
    let o = cmd::ns_exec(ns, &["cat", &format!("/proc/sys/{key}")]);
    o.success().then(|| o.stdout.trim().to_string())
}

/// Waits (at most 5 s) until no address of the namespace is still tentative (IPv6 DAD).
pub fn settle(ns: &str) {
    for _ in 0..50 {
        let o = cmd::ip(ns, &["-j", "addr", "show"]);
        let busy = json(&o).iter().any(|l| {
            l["addr_info"]
                .as_array()
                .map(|a| a.iter().any(|x| x.get("tentative").is_some()))
                .unwrap_or(false)
        });
        if !busy {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn is_link_local(addr: &str) -> bool {
    let a = addr.to_ascii_lowercase();
    a.starts_with("fe8") || a.starts_with("fe9") || a.starts_with("fea") || a.starts_with("feb")
}

// ---------------------------------------------------------------------------------------------
// Section builders

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

/// `key=value` pairs of an object, keys sorted (serde_json's map is ordered), minus `skip`.
fn kv_line(obj: &Map<String, Value>, skip: &[&str]) -> String {
    obj.iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| match v {
            Value::Bool(true) => k.clone(),
            _ => format!("{k}={}", s(v)),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn link_lines(ns: &str) -> Vec<String> {
    links(ns)
        .iter()
        .map(|l| {
            let mut line = format!(
                "{} kind={} master={} {} mtu={} mac={}",
                s(&l["ifname"]),
                kind_of(l).unwrap_or("-"),
                s(&l["master"]),
                if is_up(l) { "up" } else { "down" },
                s(&l["mtu"]),
                s(&l["address"]),
            );
            if let Some(a) = l["ifalias"].as_str() {
                let _ = write!(line, " alias={a}");
            }
            if kind_of(l) == Some("bridge") {
                let d = &l["linkinfo"]["info_data"];
                let _ = write!(
                    line,
                    " stp_state={} forward_delay={}",
                    s(&d["stp_state"]),
                    s(&d["forward_delay"])
                );
            }
            line
        })
        .collect()
}

fn addr_lines(ns: &str) -> Vec<String> {
    let o = cmd::ip(ns, &["-j", "addr", "show"]);
    let mut out = Vec::new();
    for l in json(&o) {
        let dev = s(&l["ifname"]);
        for a in l["addr_info"].as_array().cloned().unwrap_or_default() {
            let Some(obj) = a.as_object() else { continue };
            if is_link_local(obj.get("local").and_then(Value::as_str).unwrap_or("")) {
                continue;
            }
            let finite = obj
                .get("valid_life_time")
                .and_then(Value::as_u64)
                .map(|t| t != 4294967295)
                .unwrap_or(false);
            let mut line = format!(
                "{dev} {}",
                kv_line(
                    obj,
                    &[
                        "valid_life_time",
                        "preferred_life_time",
                        "tentative",
                        "optimistic",
                    ]
                )
            );
            if finite {
                line.push_str(" lifetime=finite");
            }
            out.push(line);
        }
    }
    out
}

fn route_lines(ns: &str, family: &str) -> Vec<String> {
    let mut out = Vec::new();
    for r in routes(ns, family) {
        let Some(obj) = r.as_object() else { continue };
        let dst = obj.get("dst").and_then(Value::as_str).unwrap_or("");
        let ty = obj.get("type").and_then(Value::as_str).unwrap_or("unicast");
        if family == "-6" && (is_link_local(dst) || dst == "ff00::/8" || ty == "multicast") {
            continue;
        }
        let mut obj = obj.clone();
        if let Some(Value::Array(flags)) = obj.get_mut("flags") {
            flags.retain(|f| f != "linkdown");
        }
        out.push(kv_line(&obj, &["expires", "cache"]));
    }
    out
}

fn clean_save(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            if l.starts_with(':') {
                // ":FORWARD ACCEPT [12:3456]" -> ":FORWARD ACCEPT"
                match l.rfind(" [") {
                    Some(i) if l.ends_with(']') => l[..i].to_string(),
                    _ => l.to_string(),
                }
            } else {
                l.to_string()
            }
        })
        .collect()
}

fn iptables_lines(ns: &str) -> Vec<String> {
    clean_save(&cmd::ns_exec(ns, &["iptables-save"]).stdout)
}

/// `nft -s list ruleset` minus the tables iptables-nft owns (compared via iptables-save).
fn nft_other_lines(ns: &str) -> Vec<String> {
    const XT_TABLES: &[&str] = &["filter", "nat", "mangle", "raw", "security", "broute"];
    const XT_FAMILIES: &[&str] = &["ip", "ip6", "arp", "bridge"];
    let o = cmd::ns_exec(ns, &["nft", "-s", "list", "ruleset"]);
    let mut out = Vec::new();
    let mut skipping = false;
    for l in o.stdout.lines() {
        if let Some(rest) = l.strip_prefix("table ") {
            let w: Vec<&str> = rest.split_whitespace().collect();
            skipping = w.len() >= 2 && XT_FAMILIES.contains(&w[0]) && XT_TABLES.contains(&w[1]);
        }
        if !skipping && !l.trim().is_empty() && !l.trim_start().starts_with('#') {
            out.push(l.trim().to_string());
        }
        if l == "}" {
            skipping = false;
        }
    }
    out
}

fn sysctl_lines(ns: &str) -> Vec<String> {
    let o = cmd::ns_exec(
        ns,
        &[
            "sh",
            "-c",
            "grep -H . /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/*/proxy_arp \
             /proc/sys/net/ipv6/conf/all/forwarding 2>/dev/null",
        ],
    );
    o.stdout
        .lines()
        .map(|l| l.trim_start_matches("/proc/sys/").to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: &[&str]) -> Vec<String> {
        x.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn diff_marks_removed_and_added() {
        let d = line_diff(&v(&["a", "b", "c"]), &v(&["a", "c", "d"]));
        assert_eq!(d, v(&["- b", "+ d"]));
        assert!(line_diff(&v(&["x"]), &v(&["x"])).is_empty());
    }

    #[test]
    fn save_output_loses_comments_and_counters() {
        let t = "# Generated\n*filter\n:INPUT ACCEPT [1:2]\n-A FORWARD -j ACCEPT\nCOMMIT\n# Done\n";
        assert_eq!(
            clean_save(t),
            v(&["*filter", ":INPUT ACCEPT", "-A FORWARD -j ACCEPT", "COMMIT"])
        );
    }

    #[test]
    fn kv_lines_are_stable() {
        let o: Value = serde_json::json!({"local":"192.0.2.10","prefixlen":24,"secondary":true,
            "valid_life_time":4294967295u64});
        assert_eq!(
            kv_line(o.as_object().unwrap(), &["valid_life_time"]),
            "local=192.0.2.10 prefixlen=24 secondary"
        );
    }
}
