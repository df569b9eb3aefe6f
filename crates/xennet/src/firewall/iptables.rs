//! The iptables backend (spec §2.10): the originals' rules, the same as `iptables-save` shows
//! them. A vif's rules (IPT-03, IPT-04) are made idempotently (IPT-08): the live chain is read,
//! missing rules are inserted, duplicates and stale copies removed, in one `iptables-restore`
//! batch; `offline` removes every rule of ours for the device and nothing else. network-nat's
//! MASQUERADE and inbound DROP, and network-bridge's FORWARD policy, are single `iptables`
//! commands whose undo puts back exactly what was there. All under the `iptables` lock.

use super::driver::{guard_record, Driver, Vif};
use crate::error::{Error, Note, Result};
use crate::exec::Cmd;
use crate::plan::{Action, OnError, Step};
use crate::snapshot::{unless_unread, Snapshot};
use std::net::Ipv4Addr;

/// One rule: how `iptables-save` shows it, and the arguments after `-I FORWARD` that make it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub save: String,
    pub insert: Vec<String>,
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// `-s` as iptables-save prints it: the network address and the prefix (bare = /32).
fn source_form(entry: &str) -> Option<String> {
    let (addr, prefix) = match entry.split_once('/') {
        Some((a, p)) => (a, p.parse::<u32>().ok()?),
        None => (entry, 32),
    };
    let a: Ipv4Addr = addr.parse().ok()?;
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    Some(format!("{}/{prefix}", Ipv4Addr::from(u32::from(a) & mask)))
}

/// The rules a vif should have, in the order they are inserted (each at the head of FORWARD).
pub fn vif_rules(dev: &str, ips: &[String]) -> Vec<Rule> {
    let physdev_in = format!("-m physdev --physdev-is-bridged --physdev-in {dev}");
    let mut rules = Vec::new();
    if ips.is_empty() {
        rules.push(Rule {
            save: format!(
                "-A FORWARD -m physdev --physdev-in {dev} --physdev-is-bridged -j ACCEPT"
            ),
            insert: words(&format!("{physdev_in} -j ACCEPT")),
        });
    } else {
        for entry in ips {
            let Some(src) = source_form(entry) else {
                log::warn!(
                    "{entry} is not an IPv4 address: iptables rules for {dev} cannot name it"
                );
                continue;
            };
            rules.push(Rule {
                save: format!(
                    "-A FORWARD -s {src} -m physdev --physdev-in {dev} --physdev-is-bridged -j ACCEPT"
                ),
                insert: words(&format!("{physdev_in} -s {entry} -j ACCEPT")),
            });
        }
        // DHCP requests are always let through (IPT-04).
        rules.push(Rule {
            save: format!(
                "-A FORWARD -p udp -m physdev --physdev-in {dev} --physdev-is-bridged -m udp --sport 68 --dport 67 -j ACCEPT"
            ),
            insert: words(&format!("{physdev_in} -p udp --sport 68 --dport 67 -j ACCEPT")),
        });
    }
    rules.push(Rule {
        save: format!("-A FORWARD -m physdev --physdev-out {dev} --physdev-is-bridged -j ACCEPT"),
        insert: words(&format!(
            "-m physdev --physdev-is-bridged --physdev-out {dev} -j ACCEPT"
        )),
    });
    rules
}

/// Is this `iptables-save` line one of the shapes the vif scripts make, for `dev`?
pub fn is_ours(line: &str, dev: &str) -> bool {
    let t: Vec<&str> = line.split_whitespace().collect();
    let tail_in = [
        "-m",
        "physdev",
        "--physdev-in",
        dev,
        "--physdev-is-bridged",
        "-j",
        "ACCEPT",
    ];
    let out = [
        "-A",
        "FORWARD",
        "-m",
        "physdev",
        "--physdev-out",
        dev,
        "--physdev-is-bridged",
        "-j",
        "ACCEPT",
    ];
    let dhcp = [
        "-A",
        "FORWARD",
        "-p",
        "udp",
        "-m",
        "physdev",
        "--physdev-in",
        dev,
        "--physdev-is-bridged",
        "-m",
        "udp",
        "--sport",
        "68",
        "--dport",
        "67",
        "-j",
        "ACCEPT",
    ];
    match t.as_slice() {
        ["-A", "FORWARD", rest @ ..] if rest == tail_in => true,
        ["-A", "FORWARD", "-s", _, rest @ ..] if rest == tail_in => true,
        s if s == out || s == dhcp => true,
        _ => false,
    }
}

/// Where `online` notes that it added `dev`'s iptables rules (written before they are added,
/// removed by `offline`). A vif without this note is new: its online inserts the rules without
/// reading the ruleset first, which grows with every guest (issue 8). With the note (a second
/// online, or one after a crash) the live rules are read and reconciled as before.
pub fn record_path(dev: &str) -> std::path::PathBuf {
    crate::paths::state_dir().join("firewall").join(dev)
}

/// Is `dev` as netback makes it (down, no bridge), or not there yet (a rename is due)? A link
/// the original scripts set up is up and may carry rules nobody noted: those are read. (The
/// MAC tells nothing: netback gives every vif fe:ff:ff:ff:ff:ff, as a bridge port gets.)
fn untouched(dev: &str, snap: &Snapshot) -> Result<bool> {
    Ok(snap.link(dev)?.is_none_or(|l| !l.up && l.master.is_none()))
}

/// Does the vif have iptables rules online recorded?
pub fn used(dev: &str, snap: &Snapshot) -> Result<bool> {
    Ok(snap.file(record_path(dev))?.is_some())
}

/// The FORWARD rules now, as `iptables-save` lines.
fn forward_rules(snap: &Snapshot) -> Result<Vec<String>> {
    Ok(snap
        .iptables("filter")?
        .iter()
        .filter(|l| l.starts_with("-A FORWARD "))
        .cloned()
        .collect())
}

/// The sentence for a broken iptables (issue 6 over IPT-04/IPT-09: reported, not skipped).
fn broken(e: &Error) -> String {
    format!(
        "the iptables rules cannot be read ({e}): repair iptables, or set firewall=none \
         (or firewall=nftables) for this host"
    )
}

pub struct Iptables;

impl Driver for Iptables {
    fn vif_online(&self, vif: &Vif, snap: &Snapshot, notes: &mut Vec<Note>) -> Result<Vec<Step>> {
        let dev = vif.dev;
        let record = snap.file(record_path(dev))?;
        // A new vif has none of our rules: nothing to read.
        let current = if record.is_none() && untouched(dev, snap)? {
            if !snap.tool("iptables-restore")? {
                notes.push(Note::Warn(
                    "`iptables-restore` was not found on PATH; install the Debian package \
                     iptables: no firewall rules were changed"
                        .into(),
                ));
                return Ok(Vec::new());
            }
            Vec::new()
        } else {
            match unless_unread(forward_rules(snap))? {
                Ok(rules) => rules,
                Err(e @ Error::MissingTool(_)) => {
                    notes.push(Note::Warn(format!("{e}: no firewall rules were changed")));
                    return Ok(Vec::new());
                }
                // online must not bring a guest up without the rules it was promised.
                Err(e) => return Err(Error::Unreadable(broken(&e))),
            }
        };
        Ok(online_steps(dev, vif.ips, &current, record))
    }

    /// With online's record, exactly the recorded rules go, and the ruleset is not read
    /// (issue 17: the cost stays flat); without one (a vif the originals set up), every rule of
    /// ours for the device found in the ruleset, duplicates included.
    fn vif_offline(
        &self,
        vif: &Vif,
        snap: &Snapshot,
        chosen: bool,
        notes: &mut Vec<Note>,
    ) -> Result<Vec<Step>> {
        let dev = vif.dev;
        if let Some(record) = snap.file(record_path(dev))? {
            return Ok(recorded_offline_steps(dev, record));
        }
        if !chosen {
            return Ok(Vec::new());
        }
        match unless_unread(forward_rules(snap))? {
            Ok(rules) => Ok(offline_steps(dev, &rules)),
            Err(e @ Error::MissingTool(_)) => {
                notes.push(Note::Warn(format!("{e}: no firewall rules were changed")));
                Ok(Vec::new())
            }
            // offline goes on with the rest of its teardown and says what it could not do.
            Err(e) => {
                notes.push(Note::Error(broken(&e)));
                Ok(Vec::new())
            }
        }
    }

    fn nat_present(&self, netdev: &str, snap: &Snapshot) -> Result<(bool, bool)> {
        Ok((
            position(snap.iptables("nat")?, &masquerade_rule(netdev)).is_some(),
            position(snap.iptables("filter")?, &inbound_drop_rule(netdev)).is_some(),
        ))
    }

    fn nat_add(&self, netdev: &str, masquerade: bool, drop: bool) -> Vec<Step> {
        let mut steps = Vec::new();
        if masquerade {
            steps.push(
                Step::run(
                    format!("masquerade traffic leaving {netdev}"),
                    masquerade_cmd("-A", netdev),
                )
                .undo(masquerade_cmd("-D", netdev)),
            );
        }
        if drop {
            steps.push(
                Step::run(
                    format!("refuse new connections from {netdev} to the guests"),
                    inbound_drop_cmd("-A", netdev),
                )
                .undo(inbound_drop_cmd("-D", netdev)),
            );
        }
        steps
    }

    /// A rule goes back only if absent: a journal also undoes the step a killed run had not
    /// finished.
    fn nat_remove(
        &self,
        netdev: &str,
        masquerade: bool,
        drop: bool,
        snap: &Snapshot,
    ) -> Result<Vec<Step>> {
        let mut steps = Vec::new();
        if masquerade {
            if let Some(pos) = position(snap.iptables("nat")?, &masquerade_rule(netdev)) {
                steps.push(
                    Step::run(
                        format!("stop masquerading out of {netdev}"),
                        masquerade_cmd("-D", netdev),
                    )
                    .undo_action(Action::RunUnless {
                        check: masquerade_cmd("-C", netdev),
                        cmd: insert_at(masquerade_cmd("-A", netdev), "POSTROUTING", pos),
                    }),
                );
            }
        }
        if drop {
            if let Some(pos) = position(snap.iptables("filter")?, &inbound_drop_rule(netdev)) {
                steps.push(
                    Step::run(
                        format!("let new connections from {netdev} through again"),
                        inbound_drop_cmd("-D", netdev),
                    )
                    .undo_action(Action::RunUnless {
                        check: inbound_drop_cmd("-C", netdev),
                        cmd: insert_at(inbound_drop_cmd("-A", netdev), "FORWARD", pos),
                    }),
                );
            }
        }
        Ok(steps)
    }

    /// NB-15 without KP-07: the admin's FORWARD rules are kept, not flushed; traffic coming in
    /// from `ports` (the NIC, and in the netloop layout dom0's own port too, NL-06) is accepted.
    fn guard_add(&self, bridge: &str, ports: &[&str], snap: &Snapshot) -> Result<Vec<Step>> {
        let rules = snap.iptables("filter").map_err(needs_iptables)?;
        let policy = forward_policy(rules);
        let mut steps = Vec::new();
        for port in ports {
            if !rules.contains(&guard_rule(port)) {
                steps.push(
                    Step::run(format!("accept traffic from {port}"), guard_cmd("-A", port))
                        .undo(guard_cmd("-D", port)),
                );
            }
        }
        if policy != "DROP" {
            let record = guard_record(bridge);
            steps.push(crate::plan::write_record(
                "remember the FORWARD policy for stop",
                &record,
                policy.clone(),
                snap.file(&record)?,
            ));
            steps.push(
                Step::run(
                    "set the FORWARD policy to DROP",
                    Cmd::new("iptables").args(["-w", "-P", "FORWARD", "DROP"]),
                )
                .undo(Cmd::new("iptables").args(["-w", "-P", "FORWARD", &policy])),
            );
        }
        Ok(steps)
    }

    /// The accept rules of `ports` go, the policy comes back.
    fn guard_remove(&self, bridge: &str, ports: &[&str], snap: &Snapshot) -> Result<Vec<Step>> {
        let mut steps = Vec::new();
        let Ok(rules) = unless_unread(snap.iptables("filter"))? else {
            return Ok(steps);
        };
        // Each rule at its place in the chain: removed from the last up, so that a rollback
        // inserts them back, first up, exactly where they were.
        let mut found: Vec<(usize, &str)> = ports
            .iter()
            .filter_map(|port| position(rules, &guard_rule(port)).map(|i| (i, *port)))
            .collect();
        found.sort_by_key(|f| std::cmp::Reverse(f.0));
        for (pos, port) in found {
            let mut back = guard_cmd("-I", port);
            back.args.insert(3, pos.to_string());
            steps.push(
                Step::run(
                    format!("remove the antispoof rule for {port}"),
                    guard_cmd("-D", port),
                )
                .undo(back),
            );
        }
        if let Some(old) = snap
            .file(guard_record(bridge))?
            .map(str::trim)
            .filter(|o| !o.is_empty() && *o != "nftables")
        {
            steps.push(
                Step::run(
                    format!("restore the FORWARD policy {old}"),
                    Cmd::new("iptables").args(["-w", "-P", "FORWARD", old]),
                )
                .undo(Cmd::new("iptables").args(["-w", "-P", "FORWARD", "DROP"])),
            );
        }
        Ok(steps)
    }
}

fn needs_iptables(e: Error) -> Error {
    match e {
        Error::Unread(_) => e,
        other => Error::Unreadable(format!("antispoof=yes needs iptables: {other}")),
    }
}

/// The policy of FORWARD, from its `:FORWARD POLICY [counters]` line.
fn forward_policy(rules: &[String]) -> String {
    rules
        .iter()
        .find_map(|l| l.strip_prefix(":FORWARD "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("ACCEPT")
        .to_string()
}

fn guard_rule(port: &str) -> String {
    format!("-A FORWARD -m physdev --physdev-in {port} -j ACCEPT")
}

fn guard_cmd(verb: &str, port: &str) -> Cmd {
    Cmd::new("iptables").args([
        "-w",
        verb,
        "FORWARD",
        "-m",
        "physdev",
        "--physdev-in",
        port,
        "-j",
        "ACCEPT",
    ])
}

fn masquerade_rule(netdev: &str) -> String {
    format!("-A POSTROUTING -o {netdev} -j MASQUERADE")
}

fn masquerade_cmd(verb: &str, netdev: &str) -> Cmd {
    Cmd::new("iptables").args([
        "-w",
        "-t",
        "nat",
        verb,
        "POSTROUTING",
        "-o",
        netdev,
        "-j",
        "MASQUERADE",
    ])
}

fn inbound_drop_rule(netdev: &str) -> String {
    format!("-A FORWARD -i {netdev} -m conntrack --ctstate NEW -j DROP")
}

/// A NAT router lets no connection in: new flows arriving on the uplink are not forwarded to
/// the guests (replies to the guests' own connections still are).
fn inbound_drop_cmd(verb: &str, netdev: &str) -> Cmd {
    Cmd::new("iptables").args([
        "-w",
        verb,
        "FORWARD",
        "-i",
        netdev,
        "-m",
        "conntrack",
        "--ctstate",
        "NEW",
        "-j",
        "DROP",
    ])
}

/// The 1-based position of `rule` (an `-A CHAIN …` line) among its chain's rules.
fn position(lines: &[String], rule: &str) -> Option<usize> {
    let chain = rule.split_whitespace().nth(1)?;
    let prefix = format!("-A {chain} ");
    lines
        .iter()
        .filter(|l| l.starts_with(&prefix))
        .position(|l| l.trim() == rule)
        .map(|i| i + 1)
}

/// `cmd` with its verb (`-A`) replaced by `-I <chain> <pos>`: puts a deleted rule back where it
/// was.
fn insert_at(cmd: Cmd, chain: &str, pos: usize) -> Cmd {
    let mut out = Cmd::new(&cmd.program);
    let mut args = cmd.args.into_iter();
    while let Some(a) = args.next() {
        if a == "-A" {
            out = out.args(["-I".to_string(), chain.to_string(), pos.to_string()]);
            args.next(); // the chain
        } else {
            out = out.arg(a);
        }
    }
    out
}

/// One `iptables-restore --noflush` batch: a single process, and one transaction, per vif event.
fn batch(lines: &[String]) -> Cmd {
    let mut text = String::from("*filter\n");
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    text.push_str("COMMIT\n");
    // IPT-01's -w, with a bound so a stuck xtables lock cannot outlast libxl's limit (TS-05).
    Cmd::new("iptables-restore")
        .args(["--wait=10", "--noflush"])
        .stdin(text)
}

/// Steps that make the live rules for `dev` exactly `vif_rules(dev, ips)`: stale copies and
/// duplicates out, missing rules in.
pub fn online_steps(
    dev: &str,
    ips: &[String],
    current: &[String],
    record: Option<&str>,
) -> Vec<Step> {
    let wanted = vif_rules(dev, ips);
    // Each rule goes to the head of FORWARD, so the chain shows them in reverse.
    let expected: Vec<&str> = wanted.iter().rev().map(|r| r.save.as_str()).collect();
    let ours: Vec<&str> = current
        .iter()
        .filter(|l| is_ours(l, dev))
        .map(String::as_str)
        .collect();
    let (mut apply, mut undo) = (Vec::new(), Vec::new());
    if ours != expected {
        // Anything else (some missing, duplicates, stale addresses, another order): all of ours
        // out and the wanted ones in, so the result is exactly a clean online's.
        for line in &ours {
            let spec = &line["-A FORWARD ".len()..];
            apply.push(format!("-D FORWARD {spec}"));
            undo.push(format!("-A FORWARD {spec}"));
        }
        for rule in &wanted {
            let spec = rule.insert.join(" ");
            apply.push(format!("-I FORWARD {spec}"));
            undo.insert(0, format!("-D FORWARD {spec}"));
        }
    }
    let saves: Vec<&str> = wanted.iter().map(|r| r.save.as_str()).collect();
    let mut steps = vec![crate::plan::write_record(
        &format!("note that {dev} has iptables rules of ours"),
        &record_path(dev),
        saves.join("\n"),
        record,
    )];
    if !apply.is_empty() {
        steps.push(
            Step::run(format!("set the iptables rules of {dev}"), batch(&apply))
                .undo(batch(&undo))
                .locked("iptables"),
        );
    }
    steps
}

/// Steps that remove the rules online recorded: one batch, or, when that fails (some rule is
/// gone already, e.g. the administrator flushed FORWARD), each rule that is still there.
pub fn recorded_offline_steps(dev: &str, record: &str) -> Vec<Step> {
    let specs: Vec<&str> = record
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-A FORWARD "))
        .collect();
    let mut steps = Vec::new();
    if !specs.is_empty() {
        let deletes: Vec<String> = specs.iter().map(|s| format!("-D FORWARD {s}")).collect();
        let rule = |verb: &str, spec: &str| {
            Cmd::new("iptables")
                .args(["-w", verb, "FORWARD"])
                .args(spec.split_whitespace())
        };
        let each = specs
            .iter()
            .map(|s| Action::RunIf {
                check: rule("-C", s),
                cmd: rule("-D", s),
            })
            .collect();
        steps.push(
            Step::new(
                format!("remove the iptables rules of {dev}"),
                Action::Either(
                    Box::new(Action::Run(batch(&deletes))),
                    Box::new(Action::Seq(each)),
                ),
            )
            .on_error(OnError::Collect)
            .locked("iptables"),
        );
    }
    steps.push(
        crate::plan::remove_record(
            &format!("forget the iptables rules of {dev}"),
            &record_path(dev),
        )
        .on_error(OnError::Collect),
    );
    steps
}

/// Steps that remove every rule of ours for `dev` (duplicates left by the originals included).
pub fn offline_steps(dev: &str, current: &[String]) -> Vec<Step> {
    let lines: Vec<String> = current
        .iter()
        .filter(|l| is_ours(l, dev))
        .map(|l| format!("-D FORWARD {}", &l["-A FORWARD ".len()..]))
        .collect();
    let mut steps = Vec::new();
    if !lines.is_empty() {
        steps.push(
            Step::run(format!("remove the iptables rules of {dev}"), batch(&lines))
                .on_error(OnError::Collect)
                .locked("iptables"),
        );
    }
    steps.push(
        crate::plan::remove_record(
            &format!("forget the iptables rules of {dev}"),
            &record_path(dev),
        )
        .on_error(OnError::Collect),
    );
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_the_originals_save_form() {
        let r = vif_rules("vif5.0", &["10.0.0.5".into()]);
        let saves: Vec<&str> = r.iter().map(|r| r.save.as_str()).collect();
        assert_eq!(
            saves,
            [
                "-A FORWARD -s 10.0.0.5/32 -m physdev --physdev-in vif5.0 --physdev-is-bridged -j ACCEPT",
                "-A FORWARD -p udp -m physdev --physdev-in vif5.0 --physdev-is-bridged -m udp --sport 68 --dport 67 -j ACCEPT",
                "-A FORWARD -m physdev --physdev-out vif5.0 --physdev-is-bridged -j ACCEPT",
            ]
        );
        assert_eq!(
            r[0].insert.join(" "),
            "-m physdev --physdev-is-bridged --physdev-in vif5.0 -s 10.0.0.5 -j ACCEPT"
        );
        assert_eq!(source_form("10.1.2.3/24").unwrap(), "10.1.2.0/24");
        assert!(r.iter().all(|x| is_ours(&x.save, "vif5.0")));
        assert!(!r.iter().any(|x| is_ours(&x.save, "vif5.01")));
    }

    #[test]
    fn online_is_idempotent_and_removes_duplicates() {
        let want = vif_rules("vif1.0", &[]);
        // As iptables-save lists them: each was inserted at the head.
        let current: Vec<String> = want.iter().rev().map(|r| r.save.clone()).collect();
        // All there: only the note that they are ours, no iptables call.
        let steps = online_steps("vif1.0", &[], &current, None);
        assert_eq!(steps.len(), 1);
        assert!(matches!(
            steps[0].action,
            crate::plan::Action::WriteFile { .. }
        ));
        let mut dup = current.clone();
        dup.push(current[1].clone());
        dup.push("-A FORWARD -i eth9 -j ACCEPT".into());
        let steps = online_steps("vif1.0", &[], &dup, None);
        let crate::plan::Action::Run(cmd) = &steps[1].action else {
            panic!()
        };
        // A duplicate: all of ours out, the wanted ones in; the administrator's rule stays.
        let text = cmd.stdin.as_deref().unwrap();
        assert_eq!(text.matches("-D FORWARD").count(), 3, "{text}");
        assert_eq!(text.matches("-I FORWARD").count(), 2, "{text}");
        assert!(!text.contains("eth9"), "{text}");
        let crate::plan::Action::Run(cmd) = &offline_steps("vif1.0", &dup)[0].action else {
            panic!()
        };
        assert_eq!(
            cmd.stdin.as_deref().unwrap().matches("-D FORWARD").count(),
            3
        );
    }
}
