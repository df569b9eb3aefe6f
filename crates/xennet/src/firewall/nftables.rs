//! The nftables backend (issue 9). One table of ours per family — `bridge xen_netscripts` for
//! bridged vifs, `inet xen_netscripts` for routed and NAT vifs and network-nat's chains — holds
//! a verdict map from the vif's name to a chain of its own. A vif event is one `nft -f -`
//! transaction that is correct whatever is there already, so the ruleset is never read: `add`
//! of an existing table, map or chain is a no-op, the base chains are flushed and refilled with
//! their one lookup rule in the same transaction (no gap), and removal adds the vif's chain and
//! map element before deleting them, so it succeeds whether or not they existed. Nothing outside
//! our table is touched.
//!
//! Our tables go when their last rule goes (issue 15): each user of a table (a vif, a NAT
//! uplink) has a member file under `/run/xen/xennet/nftables/<family>/`, and the last user's
//! removal deletes the table, under the `nftables` lock, once no member file is left and the
//! map holds no vif (a vif set up by an earlier version has no member file).

use super::driver::{guard_record, Driver, Family, Vif};
use crate::error::{Error, Note, Result};
use crate::exec::Cmd;
use crate::plan::{Action, OnError, Step};
use crate::snapshot::Snapshot;
use std::net::IpAddr;

pub const TABLE: &str = "xen_netscripts";

impl Family {
    pub fn word(self) -> &'static str {
        match self {
            Family::Bridge => "bridge",
            Family::Inet => "inet",
        }
    }

    /// The base chains, each looking the incoming interface up in the map.
    fn hooks(self) -> &'static [&'static str] {
        match self {
            Family::Bridge => &["prerouting"],
            Family::Inet => &["forward", "input"],
        }
    }
}

/// What the vif's chain is made from.
pub struct Guest<'a> {
    pub dev: &'a str,
    /// `ip=` entries (addresses or networks, IPv4 or IPv6).
    pub ips: &'a [String],
    /// The guest's MAC (bridge mode checks it), empty when unknown.
    pub mac: &'a str,
    pub antispoof: bool,
    /// The bridge drops IPv4 its guests' rules do not accept (network-bridge `antispoof=yes`).
    pub guarded: bool,
}

/// The vif's chain name: `dev_` and the device name, any byte outside `[A-Za-z0-9.-]` written
/// as `_xx`, so that every interface name gives a distinct identifier nft accepts unquoted.
pub fn chain_name(dev: &str) -> String {
    ident("dev_", dev)
}

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

/// nft has no escape inside a quoted string: a name with `"` or `\` cannot be a map key.
pub fn usable_name(dev: &str) -> Result<()> {
    if dev.contains('"') || dev.contains('\\') {
        return Err(Error::refused(format!(
            "{dev:?} cannot be named in an nftables rule (it contains a quote or backslash): \
             rename the vif with vifname= or use firewall=iptables"
        )));
    }
    Ok(())
}

/// Our table, map and base chains: created when missing, the base chains' lookup rule made
/// exactly one again.
fn setup(f: Family) -> String {
    let (fam, mut s) = (f.word(), String::new());
    s.push_str(&format!("add table {fam} {TABLE}\n"));
    s.push_str(&format!(
        "add map {fam} {TABLE} vifs {{ type ifname : verdict; }}\n"
    ));
    for hook in f.hooks() {
        s.push_str(&format!(
            "add chain {fam} {TABLE} {hook} {{ type filter hook {hook} priority filter; policy accept; }}\n\
             flush chain {fam} {TABLE} {hook}\n\
             add rule {fam} {TABLE} {hook} iifname vmap @vifs\n"
        ));
    }
    s
}

/// The guest's addresses split by family, as nft set elements; None for an entry nft cannot
/// parse (warned about by the caller's validation already).
fn split_ips(ips: &[String]) -> (Vec<String>, Vec<String>) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for entry in ips {
        let addr = entry.split_once('/').map_or(entry.as_str(), |(a, _)| a);
        match addr.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => v4.push(entry.clone()),
            Ok(IpAddr::V6(_)) => v6.push(entry.clone()),
            Err(_) => log::warn!("{entry} is not an IP address: nftables rules cannot name it"),
        }
    }
    (v4, v6)
}

fn set(items: &[String]) -> String {
    format!("{{ {} }}", items.join(", "))
}

/// The rules of the vif's chain, in order.
pub fn chain_rules(f: Family, g: &Guest) -> Vec<String> {
    let (v4, v6) = split_ips(g.ips);
    let mut r = Vec::new();
    if !g.antispoof {
        // The originals' ACCEPT rules, as counters: they block nothing.
        if v4.is_empty() && v6.is_empty() {
            r.push("counter accept".to_string());
            return r;
        }
        if !v4.is_empty() {
            r.push(format!("ip saddr {} counter accept", set(&v4)));
        }
        if !v6.is_empty() {
            r.push(format!("ip6 saddr {} counter accept", set(&v6)));
        }
        r.push("udp sport 68 udp dport 67 counter accept".to_string());
        if g.guarded && f == Family::Bridge {
            // As iptables' FORWARD policy DROP under network-bridge antispoof=yes: IPv4 that no
            // rule above accepted goes no further.
            r.push("meta protocol ip counter drop".to_string());
        }
        return r;
    }
    let mac = g.mac.to_ascii_lowercase();
    if f == Family::Bridge && !mac.is_empty() {
        r.push(format!("ether saddr != {mac} counter drop"));
        r.push(format!("arp saddr ether != {mac} counter drop"));
    }
    if v4.is_empty() && v6.is_empty() {
        // No ip=: the addresses are unknown, so only the MAC is checked (the caller warns).
        r.push("counter accept".to_string());
        return r;
    }
    // DHCP: a request from 0.0.0.0 in bridge mode; routed guests ask dom0 from any address.
    match f {
        Family::Bridge => r.push("ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept".into()),
        Family::Inet => r.push("udp sport 68 udp dport 67 accept".into()),
    }
    if !v4.is_empty() {
        if f == Family::Bridge {
            r.push(format!("arp saddr ip != {} counter drop", set(&v4)));
            r.push("ether type arp accept".into());
        }
        r.push(format!("ip saddr {} accept", set(&v4)));
    }
    if !v6.is_empty() {
        // Link-local and the unspecified address are what neighbour discovery and DAD use.
        let mut allowed = v6.clone();
        allowed.extend(["fe80::/10".to_string(), "::".to_string()]);
        r.push(format!("ip6 saddr {} accept", set(&allowed)));
    }
    r.push("counter drop".to_string());
    r
}

/// One transaction: the table (once), the vif's chain refilled, its map element.
pub fn online_script(f: Family, g: &Guest) -> String {
    let (fam, chain) = (f.word(), chain_name(g.dev));
    let mut s = setup(f);
    s.push_str(&format!("add chain {fam} {TABLE} {chain}\n"));
    s.push_str(&format!("flush chain {fam} {TABLE} {chain}\n"));
    for rule in chain_rules(f, g) {
        s.push_str(&format!("add rule {fam} {TABLE} {chain} {rule}\n"));
    }
    s.push_str(&format!(
        "add element {fam} {TABLE} vifs {{ \"{}\" : jump {chain} }}\n",
        g.dev
    ));
    s
}

/// One transaction removing the vif's map element and chain, whether or not they exist. With
/// `create_table`, our table is made first so that it always succeeds; without, it fails (and
/// changes nothing) when our table does not exist — for hosts that may never have used nft.
pub fn removal_script(f: Family, dev: &str, create_table: bool) -> String {
    let (fam, chain) = (f.word(), chain_name(dev));
    let mut s = if create_table {
        setup(f)
    } else {
        String::new()
    };
    s.push_str(&format!("add chain {fam} {TABLE} {chain}\n"));
    s.push_str(&format!("flush chain {fam} {TABLE} {chain}\n"));
    s.push_str(&format!(
        "add element {fam} {TABLE} vifs {{ \"{dev}\" : jump {chain} }}\n"
    ));
    s.push_str(&format!(
        "delete element {fam} {TABLE} vifs {{ \"{dev}\" }}\n"
    ));
    s.push_str(&format!("delete chain {fam} {TABLE} {chain}\n"));
    s
}

fn nft(script: String) -> Cmd {
    Cmd::new("nft").args(["-f", "-"]).stdin(script)
}

fn nft_delete_table(f: Family) -> Cmd {
    Cmd::new("nft").args(["delete", "table", f.word(), TABLE])
}

/// Where the users of a family's table are noted.
pub fn members_dir(f: Family) -> std::path::PathBuf {
    crate::paths::state_dir().join("nftables").join(f.word())
}

fn member(f: Family, kind: &str, name: &str) -> std::path::PathBuf {
    members_dir(f).join(format!("{kind}.{name}"))
}

/// Written by earlier versions when nftables first held vif rules; still honoured.
fn old_marker() -> std::path::PathBuf {
    crate::paths::state_dir().join("nftables-used")
}

/// Does the vif (or, by the old marker, any vif since boot) have rules of ours in nftables?
pub fn used(dev: &str, snap: &Snapshot) -> Result<bool> {
    Ok(snap.file(member(Family::Bridge, "vif", dev))?.is_some()
        || snap.file(member(Family::Inet, "vif", dev))?.is_some()
        || snap.file(old_marker())?.is_some())
}

/// Deletes the family's table when nothing of ours is left in it: no member noted, no vif in
/// its map (the probe fails, and nothing happens, when the table is gone already).
fn drop_if_unused(f: Family) -> Action {
    Action::RunIfUnused {
        members: members_dir(f).display().to_string(),
        probe: Cmd::new("nft").args(["list", "map", f.word(), TABLE, "vifs"]),
        marker: ": jump ".into(),
        cmd: nft_delete_table(f),
    }
}

/// Notes a user of the table, undone by forgetting it and dropping the table if it was the
/// last; none when the note is there already (a second online).
fn join_steps(f: Family, kind: &str, name: &str, snap: &Snapshot) -> Result<Vec<Step>> {
    let path = member(f, kind, name);
    if snap.file(&path)?.is_some() {
        return Ok(Vec::new());
    }
    let path = path.display().to_string();
    Ok(vec![Step::new(
        format!(
            "note that {name} has nftables rules in {} {TABLE}",
            f.word()
        ),
        Action::WriteFile {
            path: path.clone(),
            value: "1".into(),
        },
    )
    .undo_action(Action::Seq(vec![
        Action::RemoveFile { path },
        drop_if_unused(f),
    ]))
    .locked("nftables")])
}

/// Forgets a user of the table and drops the table if it was the last.
fn leave_steps(f: Family, kind: &str, name: &str, on_error: OnError) -> Vec<Step> {
    let path = member(f, kind, name).display().to_string();
    vec![
        Step::new(
            format!("forget that {name} has nftables rules"),
            Action::RemoveFile { path: path.clone() },
        )
        .undo_action(Action::WriteFile {
            path,
            value: "1".into(),
        })
        .on_error(on_error)
        .locked("nftables"),
        Step::new(
            format!(
                "delete table {} {TABLE} if nothing of ours is left in it",
                f.word()
            ),
            drop_if_unused(f),
        )
        .on_error(on_error)
        .locked("nftables"),
    ]
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

fn nat_script(netdev: &str) -> String {
    let fam = Family::Inet.word();
    let mut s = format!(
        "add table {fam} {TABLE}\nadd map {fam} {TABLE} vifs {{ type ifname : verdict; }}\n"
    );
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
    /// The vif's rules in one transaction, undone by the removal transaction. A failure fails
    /// the event and rolls it back: a guest never runs without the rules it was given (issue 6,
    /// over IPT-09's carry-on).
    fn vif_online(&self, vif: &Vif, snap: &Snapshot, notes: &mut Vec<Note>) -> Result<Vec<Step>> {
        let Some(family) = vif.family else {
            return Ok(Vec::new());
        };
        let dev = vif.dev;
        usable_name(dev)?;
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
            dev,
            ips: vif.ips,
            mac: vif.mac,
            antispoof: vif.antispoof,
            guarded: vif.guarded,
        };
        let mut steps = join_steps(family, "vif", dev, snap)?;
        steps.push(
            Step::run(
                format!("set the nftables rules of {dev}"),
                nft(online_script(family, &guest)),
            )
            .undo(nft(removal_script(family, dev, true)))
            .locked("nftables"),
        );
        Ok(steps)
    }

    /// Removal of the vif's rules; when nftables is the chosen backend the table is created if
    /// missing and a failure is collected, else it is a tolerant clean-up of what an earlier
    /// nftables setting left (a failure, e.g. no table of ours, ignored).
    fn vif_offline(
        &self,
        vif: &Vif,
        _: &Snapshot,
        chosen: bool,
        _: &mut Vec<Note>,
    ) -> Result<Vec<Step>> {
        let Some(family) = vif.family else {
            return Ok(Vec::new());
        };
        if usable_name(vif.dev).is_err() {
            return Ok(Vec::new());
        }
        let on_error = if chosen {
            OnError::Collect
        } else {
            OnError::Ignore
        };
        let mut steps = vec![Step::run(
            format!("remove the nftables rules of {}", vif.dev),
            nft(removal_script(family, vif.dev, chosen)),
        )
        .on_error(on_error)
        .locked("nftables")];
        steps.extend(leave_steps(family, "vif", vif.dev, on_error));
        Ok(steps)
    }

    /// Our chains for the uplink are ours alone: their member note says whether they are there.
    fn nat_present(&self, netdev: &str, snap: &Snapshot) -> Result<(bool, bool)> {
        let there = snap.file(member(Family::Inet, "nat", netdev))?.is_some();
        Ok((there, there))
    }

    fn nat_add(&self, netdev: &str, masquerade: bool, drop: bool) -> Vec<Step> {
        if !masquerade && !drop {
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
        let mut steps = vec![Step::run(
            format!("stop masquerading out of {netdev} and let new connections through again"),
            nft(nat_removal_script(netdev)),
        )
        .undo(nft(nat_script(netdev)))
        .locked("nftables")];
        steps.extend(leave_steps(Family::Inet, "nat", netdev, OnError::Fail));
        Ok(steps)
    }

    /// nftables guards a bridge through its guests' chains: vif-bridge reads this record and
    /// ends the chain of every guest on the bridge with a drop of IPv4 its rules did not accept.
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

    #[test]
    fn chain_names_are_distinct_identifiers() {
        assert_eq!(chain_name("vif1.0"), "dev_vif1.0");
        assert_eq!(chain_name("vif1.0-emu"), "dev_vif1.0-emu");
        assert_eq!(chain_name("a_b"), "dev_a_5fb");
        assert_ne!(chain_name("a_5fb"), chain_name("a_b"));
        assert!(usable_name("x\"y").is_err());
    }

    #[test]
    fn bridge_antispoof_checks_mac_arp_and_addresses() {
        let ips = vec!["10.0.0.5".to_string()];
        let g = Guest {
            dev: "vif5.0",
            ips: &ips,
            mac: "00:16:3E:00:00:05",
            antispoof: true,
            guarded: false,
        };
        assert_eq!(
            chain_rules(Family::Bridge, &g),
            [
                "ether saddr != 00:16:3e:00:00:05 counter drop",
                "arp saddr ether != 00:16:3e:00:00:05 counter drop",
                "ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept",
                "arp saddr ip != { 10.0.0.5 } counter drop",
                "ether type arp accept",
                "ip saddr { 10.0.0.5 } accept",
                "counter drop",
            ]
        );
        let s = online_script(Family::Bridge, &g);
        assert!(s.starts_with("add table bridge xen_netscripts\n"));
        assert!(s.ends_with(
            "add element bridge xen_netscripts vifs { \"vif5.0\" : jump dev_vif5.0 }\n"
        ));
        // Read nothing, list nothing, delete nothing but our own.
        assert!(!s.contains("list") && !s.contains("delete"));
    }

    #[test]
    fn routed_antispoof_checks_addresses_of_both_families_and_no_mac() {
        let ips = vec!["10.0.0.1".to_string(), "2001:db8::5".to_string()];
        let g = Guest {
            dev: "vif1.0",
            ips: &ips,
            mac: "00:16:3e:00:00:01",
            antispoof: true,
            guarded: false,
        };
        assert_eq!(
            chain_rules(Family::Inet, &g),
            [
                "udp sport 68 udp dport 67 accept",
                "ip saddr { 10.0.0.1 } accept",
                "ip6 saddr { 2001:db8::5, fe80::/10, :: } accept",
                "counter drop",
            ]
        );
        let open = Guest {
            antispoof: false,
            ..g
        };
        assert!(chain_rules(Family::Inet, &open)
            .iter()
            .all(|r| r.ends_with("accept")));
        assert_eq!(Family::Inet.hooks(), ["forward", "input"]);
    }

    #[test]
    fn removal_deletes_only_the_vif_and_may_skip_the_table() {
        let r = removal_script(Family::Inet, "vif2.0", false);
        assert!(r.starts_with("add chain inet xen_netscripts dev_vif2.0\n"));
        assert!(r.ends_with(
            "delete element inet xen_netscripts vifs { \"vif2.0\" }\ndelete chain inet xen_netscripts dev_vif2.0\n"
        ));
        assert!(removal_script(Family::Inet, "vif2.0", true).starts_with("add table inet"));
    }
}
