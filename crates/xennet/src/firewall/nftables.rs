//! The nftables backend (issues 9 and 17). One table of ours per family — `bridge
//! xen_netscripts` for bridged vifs, `inet xen_netscripts` for routed and NAT vifs and
//! network-nat's chains. Its chains are fixed; a guest is data: elements keyed by its vif's
//! interface index, in a verdict map (which fixed chain checks the guest) and in sets (its MAC,
//! its addresses). A vif event is then one transaction of element additions, whose cost does
//! not grow with the number of guests, and the ruleset is never read; the system's runner sends
//! it as an nfnetlink batch of its own ([`crate::nft_elements`]), no `nft` process.
//!
//! Deleting anything from nf_tables makes the kernel wait for an RCU grace period (12–16 ms
//! here, measured) when the `nft` process closes its socket, serialized per network namespace:
//! 1000 offline events that each delete take at least 12 s. Keyed by interface index, a
//! guest's elements match nothing once its vif is gone (Linux hands out an index once until
//! 2^31 more links were made), so `offline` queues the vif's record instead, and every
//! [`GC_BATCH`]th offline deletes the queued elements in one transaction. The last user of a
//! table (a vif or a NAT uplink, each with a record under `/run/xen/xennet/nftables/`) deletes
//! the whole table, queued elements included (issue 15).

use super::driver::{guard_record, Driver, Family, Vif};
use crate::error::{Error, Note, Result};
use crate::exec::Cmd;
use crate::plan::{Action, OnError, Step};
use crate::snapshot::Snapshot;
use std::net::IpAddr;

pub use crate::nft_elements::{Element, TABLE};

/// How many gone vifs' elements one offline deletes at once (one grace period for all).
pub const GC_BATCH: usize = 32;

/// The map from a vif's interface index to the chain that checks its guest.
const VERDICTS: &str = "vif_verdicts";

impl Family {
    pub fn word(self) -> &'static str {
        match self {
            Family::Bridge => "bridge",
            Family::Inet => "inet",
        }
    }

    /// The base chains and their hooks, each looking the incoming interface up in the map.
    fn hooks(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Family::Bridge => &[("vifs_prerouting", "prerouting")],
            Family::Inet => &[("vifs_forward", "forward"), ("vifs_input", "input")],
        }
    }

    /// The sets: name and type. Addresses in hash sets, networks in interval sets (whose
    /// changes cost more), each element counting what it matched.
    fn sets(self) -> Vec<(&'static str, &'static str)> {
        let mut sets = vec![
            ("vif_listed", "type iface_index;"),
            ("vif_ips4", "type iface_index . ipv4_addr; counter;"),
            (
                "vif_nets4",
                "type iface_index . ipv4_addr; flags interval; counter;",
            ),
            ("vif_ips6", "type iface_index . ipv6_addr; counter;"),
            (
                "vif_nets6",
                "type iface_index . ipv6_addr; flags interval; counter;",
            ),
        ];
        if self == Family::Bridge {
            sets.push(("vif_macs", "type iface_index . ether_addr;"));
        }
        sets
    }

    /// The fixed chains a guest's verdict jumps to, with their rules in order.
    fn chains(self) -> Vec<(&'static str, Vec<&'static str>)> {
        // The guest's own addresses: the originals' ACCEPT rules, and antispoof's allow list.
        let own = [
            "iif . ip saddr @vif_ips4 accept",
            "iif . ip saddr @vif_nets4 accept",
            "iif . ip6 saddr @vif_ips6 accept",
            "iif . ip6 saddr @vif_nets6 accept",
        ];
        let mut open = own.to_vec();
        open.push("udp sport 68 udp dport 67 counter accept");
        match self {
            Family::Bridge => {
                let mut checked = vec![
                    // No ip=: the addresses are unknown, only the MAC is checked.
                    "iif != @vif_listed accept",
                    "ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept",
                    "iif . arp saddr ip @vif_ips4 accept",
                    "iif . arp saddr ip @vif_nets4 accept",
                    "ether type arp counter drop",
                ];
                checked.extend(own);
                checked.push("counter drop");
                vec![
                    ("vif_open", open),
                    // As iptables' FORWARD policy DROP under network-bridge antispoof=yes: IPv4
                    // that the guest's rules did not accept goes no further.
                    (
                        "vif_open_guarded",
                        vec!["jump vif_open", "meta protocol ip counter drop"],
                    ),
                    ("vif_checked", checked),
                    (
                        "vif_checked_mac",
                        vec![
                            "iif . ether saddr != @vif_macs counter drop",
                            "iif . arp saddr ether != @vif_macs counter drop",
                            "goto vif_checked",
                        ],
                    ),
                ]
            }
            Family::Inet => {
                // Routed guests ask dom0 for DHCP from any address.
                let mut checked = vec![
                    "iif != @vif_listed accept",
                    "udp sport 68 udp dport 67 accept",
                ];
                checked.extend(own);
                checked.push("counter drop");
                vec![("vif_open", open), ("vif_checked", checked)]
            }
        }
    }
}

/// What a guest's elements are made from.
pub struct Guest<'a> {
    /// The vif's interface index: the key of every element.
    pub ifindex: u32,
    /// `ip=` entries (addresses or networks, IPv4 or IPv6).
    pub ips: &'a [String],
    /// The guest's MAC (bridge mode checks it), empty when unknown.
    pub mac: &'a str,
    pub antispoof: bool,
    /// The bridge drops IPv4 its guests' rules do not accept (network-bridge `antispoof=yes`).
    pub guarded: bool,
}

/// A guest's elements: its verdict, then its MAC and addresses.
pub fn elements(f: Family, g: &Guest) -> Vec<Element> {
    let idx = g.ifindex;
    let mac = g.mac.to_ascii_lowercase();
    let check_mac = f == Family::Bridge && g.antispoof && !mac.is_empty();
    let chain = match (g.antispoof, check_mac, g.guarded && f == Family::Bridge) {
        (true, true, _) => "vif_checked_mac",
        (true, false, _) => "vif_checked",
        (false, _, true) => "vif_open_guarded",
        (false, _, false) => "vif_open",
    };
    let el = |set: &str, key: String| Element {
        set: set.into(),
        key,
        verdict: None,
    };
    let mut out = vec![Element {
        set: VERDICTS.into(),
        key: idx.to_string(),
        verdict: Some(format!("jump {chain}")),
    }];
    if check_mac {
        out.push(el("vif_macs", format!("{idx} . {mac}")));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut v6 = false;
    for entry in g.ips {
        let (addr, prefix) = match entry.split_once('/') {
            Some((a, p)) => (a, p.parse::<u8>().ok()),
            None => (entry.as_str(), None),
        };
        let Ok(ip) = addr.parse::<IpAddr>() else {
            log::warn!("{entry} is not an IP address: nftables rules cannot name it");
            continue;
        };
        let full = if ip.is_ipv4() { 32 } else { 128 };
        let set = match (ip.is_ipv4(), prefix.is_none_or(|p| p == full)) {
            (true, true) => "vif_ips4",
            (true, false) => "vif_nets4",
            (false, true) => "vif_ips6",
            (false, false) => "vif_nets6",
        };
        v6 |= !ip.is_ipv4();
        let key = match prefix.filter(|p| *p != full) {
            Some(p) => format!("{idx} . {ip}/{p}"),
            None => format!("{idx} . {ip}"),
        };
        if seen.insert(key.clone()) {
            out.push(el(set, key));
        }
    }
    if !seen.is_empty() {
        out.push(el("vif_listed", idx.to_string()));
    }
    if g.antispoof && v6 {
        // Link-local and the unspecified address are what neighbour discovery and DAD use.
        out.push(el("vif_nets6", format!("{idx} . fe80::/10")));
        out.push(el("vif_ips6", format!("{idx} . ::")));
    }
    out
}

/// Our table, its sets, map and chains: created when missing, each fixed chain's rules made
/// exactly what they should be (run only when the fast path found something missing).
pub fn setup(f: Family) -> String {
    let fam = f.word();
    let mut s = format!("add table {fam} {TABLE}\n");
    s.push_str(&format!(
        "add map {fam} {TABLE} {VERDICTS} {{ type iface_index : verdict; }}\n"
    ));
    for (name, spec) in f.sets() {
        s.push_str(&format!("add set {fam} {TABLE} {name} {{ {spec} }}\n"));
    }
    let chains = f.chains();
    for (name, _) in &chains {
        s.push_str(&format!("add chain {fam} {TABLE} {name}\n"));
    }
    for (name, rules) in &chains {
        s.push_str(&format!("flush chain {fam} {TABLE} {name}\n"));
        for rule in rules {
            s.push_str(&format!("add rule {fam} {TABLE} {name} {rule}\n"));
        }
    }
    for (name, hook) in f.hooks() {
        s.push_str(&format!(
            "add chain {fam} {TABLE} {name} {{ type filter hook {hook} priority filter; policy accept; }}\n\
             flush chain {fam} {TABLE} {name}\n\
             add rule {fam} {TABLE} {name} iif vmap @{VERDICTS}\n"
        ));
    }
    s
}

/// The transaction that adds the elements.
pub fn add_script(f: Family, els: &[Element]) -> String {
    crate::nft_elements::add_script(f.word(), els)
}

/// The transaction that removes the elements whether or not they are there (each is added,
/// which does nothing when it is, then deleted). It is also the vif's record: the first line
/// names the vif.
pub fn removal_script(f: Family, dev: &str, ifindex: u32, els: &[Element]) -> String {
    let fam = f.word();
    let mut s = format!("# {dev} ifindex {ifindex}\n");
    for e in els {
        s.push_str(&format!(
            "add element {fam} {TABLE} {} {{ {} }}\ndelete element {fam} {TABLE} {} {{ {} }}\n",
            e.set,
            e.body(),
            e.set,
            e.key
        ));
    }
    s
}

fn nft(script: String) -> Cmd {
    Cmd::new("nft").args(["-f", "-"]).stdin(script)
}

/// Where the users of a family's table are recorded: `vif.<dev>` (its removal script) and
/// `nat.<uplink>`.
pub fn members_dir(f: Family) -> std::path::PathBuf {
    crate::paths::state_dir().join("nftables").join(f.word())
}

/// Where offline queues the removal scripts of gone vifs.
pub fn queue_dir(f: Family) -> std::path::PathBuf {
    crate::paths::state_dir()
        .join("nftables")
        .join(format!("{}.gone", f.word()))
}

/// A gone vif's queued removal script.
fn queue_entry(f: Family, ifindex: u32) -> std::path::PathBuf {
    queue_dir(f).join(ifindex.to_string())
}

fn member(f: Family, kind: &str, name: &str) -> std::path::PathBuf {
    members_dir(f).join(format!("{kind}.{name}"))
}

/// Does the vif have elements of ours in nftables?
pub fn used(dev: &str, snap: &Snapshot) -> Result<bool> {
    Ok(snap.file(member(Family::Bridge, "vif", dev))?.is_some()
        || snap.file(member(Family::Inet, "vif", dev))?.is_some())
}

/// Deletes the family's table, and forgets the queued removals, when nothing of ours is left
/// in it.
fn drop_if_unused(f: Family) -> Action {
    let fam = f.word();
    Action::IfUnused {
        members: members_dir(f).display().to_string(),
        then: Box::new(Action::Seq(vec![
            // Added first so that a missing table is no failure.
            Action::Run(nft(format!(
                "add table {fam} {TABLE}\ndelete table {fam} {TABLE}\n"
            ))),
            Action::Drain {
                dir: queue_dir(f).display().to_string(),
                at_least: 0,
                cmd: None,
            },
        ])),
    }
}

fn drop_step(f: Family, on_error: OnError) -> Step {
    Step::new(
        format!(
            "delete table {} {TABLE} if nothing of ours is left in it",
            f.word()
        ),
        drop_if_unused(f),
    )
    .on_error(on_error)
    .locked("nftables")
}

/// network-nat's chains for one uplink, each (name, base chain spec, rule): masquerading out of
/// it (IPv4, as the original's MASQUERADE rule) and no new connection in from it.
fn nat_chains(netdev: &str) -> [(String, &'static str, String); 2] {
    [
        (
            ident("nat_out_", netdev),
            "{ type nat hook postrouting priority srcnat; policy accept; }",
            format!("meta nfproto ipv4 oifname \"{netdev}\" masquerade"),
        ),
        (
            ident("nat_in_", netdev),
            "{ type filter hook forward priority filter; policy accept; }",
            format!("meta nfproto ipv4 iifname \"{netdev}\" ct state new drop"),
        ),
    ]
}

/// A chain name from a prefix and an interface name: any byte outside `[A-Za-z0-9.-]` written
/// as `_xx`, so that every interface name gives a distinct identifier nft accepts unquoted.
fn ident(prefix: &str, name: &str) -> String {
    let mut s = String::from(prefix);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            s.push(b as char);
        } else {
            s.push_str(&format!("_{b:02x}"));
        }
    }
    s
}

/// nft has no escape inside a quoted string: an uplink with `"` or `\\` cannot be named.
fn usable_name(dev: &str) -> Result<()> {
    if dev.contains('"') || dev.contains('\\') {
        return Err(Error::refused(format!(
            "{dev:?} cannot be named in an nftables rule (it contains a quote or backslash): \
             rename it or use firewall=iptables"
        )));
    }
    Ok(())
}

fn nat_script(netdev: &str) -> String {
    let fam = Family::Inet.word();
    let mut s = format!("add table {fam} {TABLE}\n");
    for (chain, hook, rule) in nat_chains(netdev) {
        s.push_str(&format!(
            "add chain {fam} {TABLE} {chain} {hook}\nflush chain {fam} {TABLE} {chain}\nadd rule {fam} {TABLE} {chain} {rule}\n"
        ));
    }
    s
}

fn nat_removal_script(netdev: &str) -> String {
    let fam = Family::Inet.word();
    let mut s = format!("add table {fam} {TABLE}\n");
    for (chain, ..) in nat_chains(netdev) {
        s.push_str(&format!(
            "add chain {fam} {TABLE} {chain}\nflush chain {fam} {TABLE} {chain}\ndelete chain {fam} {TABLE} {chain}\n"
        ));
    }
    s
}

pub struct Nftables;

impl Driver for Nftables {
    /// The guest's elements in one transaction (the table made first only when it is missing),
    /// undone by their removal. A failure fails the event and rolls it back: a guest never runs
    /// without the rules it was given (issue 6, over IPT-09's carry-on).
    fn vif_online(&self, vif: &Vif, snap: &Snapshot, notes: &mut Vec<Note>) -> Result<Vec<Step>> {
        let Some(family) = vif.family else {
            return Ok(Vec::new());
        };
        let dev = vif.dev;
        let Some(ifindex) = vif.ifindex.filter(|i| *i > 0) else {
            return Err(Error::refused(format!(
                "{dev} does not exist, so nftables has no interface to give rules to"
            )));
        };
        if vif.antispoof && vif.ips.is_empty() {
            notes.push(Note::Warn(format!(
                "antispoof=yes but no ip= for {dev}: its source addresses are not checked"
            )));
        }
        if vif.antispoof && family == Family::Bridge && vif.mac.is_empty() {
            notes.push(Note::Warn(format!(
                "antispoof=yes but no mac for {dev}: its source MAC is not checked"
            )));
        }
        let guest = Guest {
            ifindex,
            ips: vif.ips,
            mac: vif.mac,
            antispoof: vif.antispoof,
            guarded: vif.guarded,
        };
        let els = elements(family, &guest);
        let record = removal_script(family, dev, ifindex, &els);
        let path = member(family, "vif", dev);
        let old = snap.file(&path)?;
        if old.map(str::trim_end) == Some(record.trim_end()) {
            return Ok(Vec::new()); // a second online: all there
        }
        // The same interface offlined before (by hand, or a test) has its elements queued for
        // deletion: they are taken out of the queue, and like a differing record (new
        // settings, or another vif of that name before) removed in the same transaction.
        let queued = queue_entry(family, ifindex);
        let earlier: String = [old, snap.file(&queued)?]
            .iter()
            .flatten()
            .copied()
            .collect();
        let script = format!("{earlier}{}", add_script(family, &els));
        // Only additions: one nfnetlink batch sent by the system's runner, no nft process
        // (issue 17); with removals to make first, one `nft -f -`.
        let fast = if earlier.is_empty() {
            Action::NftAdd {
                family: family.word().into(),
                elements: els.clone(),
            }
        } else {
            Action::Run(nft(script.clone()))
        };
        let path_s = path.display().to_string();
        let note = match old {
            Some(old) => crate::plan::write_record(
                &format!("record {dev}'s nftables elements"),
                &path,
                record.trim_end().to_string(),
                Some(old),
            ),
            None => Step::new(
                format!("record {dev}'s nftables elements"),
                Action::WriteFile {
                    path: path_s.clone(),
                    value: record.trim_end().to_string(),
                },
            )
            .undo_action(Action::Seq(vec![
                Action::RemoveFile { path: path_s },
                drop_if_unused(family),
            ])),
        };
        let with_setup = format!("{}{script}", setup(family));
        Ok(vec![
            note.locked("nftables"),
            Step::new(
                format!("set the nftables rules of {dev}"),
                Action::Seq(vec![
                    Action::RemoveFile {
                        path: queued.display().to_string(),
                    },
                    Action::Either(Box::new(fast), Box::new(Action::Run(nft(with_setup)))),
                ]),
            )
            .undo(nft(record))
            .locked("nftables"),
        ])
    }

    /// The vif's record queued for the next batched removal (its elements match no interface
    /// once the vif is gone), the batch removed when full, the table when it was the last user.
    fn vif_offline(
        &self,
        vif: &Vif,
        snap: &Snapshot,
        chosen: bool,
        _: &mut Vec<Note>,
    ) -> Result<Vec<Step>> {
        let Some(family) = vif.family else {
            return Ok(Vec::new());
        };
        let path = member(family, "vif", vif.dev);
        let Some(record) = snap.file(&path)? else {
            return Ok(Vec::new());
        };
        let on_error = if chosen {
            OnError::Collect
        } else {
            OnError::Ignore
        };
        // The queue entry is named by the interface index (unique while the record lives).
        let ifindex = record
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().last())
            .and_then(|i| i.parse().ok())
            .unwrap_or(0);
        let queued = queue_entry(family, ifindex).display().to_string();
        let path = path.display().to_string();
        let record = record.trim_end().to_string();
        Ok(vec![
            Step::new(
                format!("queue the removal of {}'s nftables elements", vif.dev),
                Action::Seq(vec![
                    Action::WriteFile {
                        path: queued.clone(),
                        value: record.clone(),
                    },
                    Action::RemoveFile { path: path.clone() },
                ]),
            )
            .undo_action(Action::Seq(vec![
                Action::WriteFile {
                    path,
                    value: record,
                },
                Action::RemoveFile { path: queued },
            ]))
            .on_error(on_error)
            .locked("nftables"),
            Step::new(
                format!(
                    "remove the queued nftables elements of gone vifs once there are {GC_BATCH}"
                ),
                Action::Drain {
                    dir: queue_dir(family).display().to_string(),
                    at_least: GC_BATCH,
                    cmd: Some(Cmd::new("nft").args(["-f", "-"])),
                },
            )
            .on_error(OnError::Warn(
                "the queued elements stay; they match no interface and go with the table",
            ))
            .locked("nftables"),
            drop_step(family, on_error),
        ])
    }

    /// Our chains for the uplink are ours alone: their member note says whether they are there.
    fn nat_present(&self, netdev: &str, snap: &Snapshot) -> Result<(bool, bool)> {
        let there = snap.file(member(Family::Inet, "nat", netdev))?.is_some();
        Ok((there, there))
    }

    fn nat_add(&self, netdev: &str, masquerade: bool, drop: bool) -> Vec<Step> {
        if (!masquerade && !drop) || usable_name(netdev).is_err() {
            return Vec::new();
        }
        let path = member(Family::Inet, "nat", netdev).display().to_string();
        vec![
            Step::new(
                format!("note that {netdev}'s NAT rules are in inet {TABLE}"),
                Action::WriteFile {
                    path: path.clone(),
                    value: "1".into(),
                },
            )
            .undo_action(Action::Seq(vec![
                Action::RemoveFile { path },
                drop_if_unused(Family::Inet),
            ]))
            .locked("nftables"),
            Step::run(
                format!(
                    "masquerade traffic leaving {netdev} and refuse new connections from it to the guests"
                ),
                nft(nat_script(netdev)),
            )
            .undo(nft(nat_removal_script(netdev)))
            .locked("nftables"),
        ]
    }

    fn nat_remove(
        &self,
        netdev: &str,
        masquerade: bool,
        drop: bool,
        snap: &Snapshot,
    ) -> Result<Vec<Step>> {
        let (there, _) = self.nat_present(netdev, snap)?;
        if !there || (!masquerade && !drop) {
            return Ok(Vec::new());
        }
        let path = member(Family::Inet, "nat", netdev).display().to_string();
        Ok(vec![
            Step::run(
                format!("stop masquerading out of {netdev} and let new connections through again"),
                nft(nat_removal_script(netdev)),
            )
            .undo(nft(nat_script(netdev)))
            .locked("nftables"),
            Step::new(
                format!("forget that {netdev} has nftables rules"),
                Action::RemoveFile { path: path.clone() },
            )
            .undo_action(Action::WriteFile {
                path,
                value: "1".into(),
            })
            .locked("nftables"),
            drop_step(Family::Inet, OnError::Fail),
        ])
    }

    /// nftables guards a bridge through its guests' verdicts: vif-bridge reads this record and
    /// sends every guest on the bridge to the chain that ends in a drop of unaccepted IPv4.
    fn guard_add(&self, bridge: &str, _: &[&str], snap: &Snapshot) -> Result<Vec<Step>> {
        let record = guard_record(bridge);
        Ok(vec![crate::plan::write_record(
            &format!("note that nftables guards {bridge}'s guests"),
            &record,
            "nftables".into(),
            snap.file(&record)?,
        )])
    }

    fn guard_remove(&self, _: &str, _: &[&str], _: &Snapshot) -> Result<Vec<Step>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest<'a>(ips: &'a [String], antispoof: bool) -> Guest<'a> {
        Guest {
            ifindex: 7,
            ips,
            mac: "00:16:3E:00:00:05",
            antispoof,
            guarded: false,
        }
    }

    fn bodies(els: &[Element]) -> Vec<String> {
        els.iter()
            .map(|e| format!("{} {}", e.set, e.body()))
            .collect()
    }

    #[test]
    fn a_bridged_guest_with_antispoof_is_its_mac_and_addresses_keyed_by_ifindex() {
        let ips = vec![
            "10.0.0.5".to_string(),
            "10.1.0.0/16".into(),
            "10.0.0.5/32".into(),
        ];
        assert_eq!(
            bodies(&elements(Family::Bridge, &guest(&ips, true))),
            [
                "vif_verdicts 7 : jump vif_checked_mac",
                "vif_macs 7 . 00:16:3e:00:00:05",
                "vif_ips4 7 . 10.0.0.5",
                "vif_nets4 7 . 10.1.0.0/16",
                "vif_listed 7",
            ]
        );
        let s = add_script(
            Family::Bridge,
            &elements(Family::Bridge, &guest(&ips, true)),
        );
        // Elements only: nothing read, listed, flushed or deleted, no chain touched.
        assert!(s
            .lines()
            .all(|l| l.starts_with("add element bridge xen_netscripts ")));
    }

    #[test]
    fn without_antispoof_the_guest_is_open_or_guarded_and_has_no_mac() {
        let ips = vec!["10.0.0.5".to_string()];
        let open = elements(Family::Bridge, &guest(&ips, false));
        assert_eq!(open[0].verdict.as_deref(), Some("jump vif_open"));
        assert!(open.iter().all(|e| e.set != "vif_macs"));
        let guarded = Guest {
            guarded: true,
            ..guest(&ips, false)
        };
        assert_eq!(
            elements(Family::Bridge, &guarded)[0].verdict.as_deref(),
            Some("jump vif_open_guarded")
        );
        // Routed vifs are never guarded (that is a bridge's policy).
        assert_eq!(
            elements(Family::Inet, &guarded)[0].verdict.as_deref(),
            Some("jump vif_open")
        );
    }

    #[test]
    fn ipv6_with_antispoof_also_allows_link_local_and_the_unspecified_address() {
        let ips = vec!["2001:db8::5".to_string(), "10.0.0.1".into()];
        assert_eq!(
            bodies(&elements(Family::Inet, &guest(&ips, true))),
            [
                "vif_verdicts 7 : jump vif_checked",
                "vif_ips6 7 . 2001:db8::5",
                "vif_ips4 7 . 10.0.0.1",
                "vif_listed 7",
                "vif_nets6 7 . fe80::/10",
                "vif_ips6 7 . ::",
            ]
        );
        // No ip=: the verdict alone; the checked chain accepts what is not listed.
        assert_eq!(elements(Family::Inet, &guest(&[], true)).len(), 1);
    }

    #[test]
    fn removal_adds_then_deletes_each_element_and_names_the_vif() {
        let ips = vec!["10.0.0.5".to_string()];
        let els = elements(Family::Inet, &guest(&ips, false));
        let r = removal_script(Family::Inet, "vif2.0", 7, &els);
        assert!(r.starts_with("# vif2.0 ifindex 7\n"));
        assert!(r.contains(
            "add element inet xen_netscripts vif_verdicts { 7 : jump vif_open }\n\
             delete element inet xen_netscripts vif_verdicts { 7 }\n"
        ));
        assert_eq!(r.matches("delete element").count(), els.len());
    }

    #[test]
    fn setup_defines_every_set_and_chain_the_rules_name() {
        for f in [Family::Bridge, Family::Inet] {
            let s = setup(f);
            for l in s.lines().filter(|l| l.starts_with("add rule")) {
                for word in l.split_whitespace() {
                    if let Some(set) = word.strip_prefix('@') {
                        assert!(s.contains(&format!(" {set} {{")), "{set} in {s}");
                    }
                }
            }
            assert!(!s.contains("delete"));
        }
        assert_eq!(Family::Inet.hooks().len(), 2);
    }
}
