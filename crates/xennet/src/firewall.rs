//! The per-vif firewall rules (spec §2.10). The iptables backend adds the originals' rules, the
//! same as `iptables-save` shows them (IPT-03, IPT-04), but idempotently (IPT-08): the live chain
//! is read once, missing rules are inserted, duplicates and stale copies removed; `offline`
//! removes every rule of ours for the device and nothing else. All under the `iptables` lock.
//! The nftables backend lives in [`crate::nft`]; [`for_vif`] chooses between them.

use crate::exec::{Cmd, ExecError, Runner};
use crate::nft;
use crate::plan::{OnError, Step};
use std::net::Ipv4Addr;

/// Which firewall the vif scripts drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Iptables,
    Nftables,
    None,
}

impl Backend {
    /// `firewall=iptables|nftables|none` (argument, environment or the host's config file);
    /// iptables, upstream's choice, by default. (Debian's packaging adds no rules: IPT-05 —
    /// that is `firewall=none`.)
    pub fn from_setting(v: Option<&str>) -> Result<Backend, crate::validate::Invalid> {
        match v.unwrap_or("") {
            "" | "iptables" => Ok(Backend::Iptables),
            "nftables" => Ok(Backend::Nftables),
            "none" => Ok(Backend::None),
            other => Err(crate::validate::Invalid(format!(
                "firewall={other:?} is not a firewall backend: use iptables, nftables or none"
            ))),
        }
    }
}

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

/// Why the live rules could not be read.
pub enum Unreadable {
    /// iptables is not installed (IPT-04: nothing is done, with a warning).
    Missing(String),
    /// iptables is there but failed: a broken firewall, reported (issue 6 over IPT-04/IPT-09).
    Failed(String),
}

/// The FORWARD rules now, as `iptables-save` lines.
pub fn forward_rules(runner: &dyn Runner) -> Result<Vec<String>, Unreadable> {
    match runner.run(&Cmd::new("iptables-save").args(["-t", "filter"])) {
        Ok(out) => Ok(out
            .lines()
            .filter(|l| l.starts_with("-A FORWARD "))
            .map(str::to_string)
            .collect()),
        Err(e @ ExecError::Missing { .. }) => Err(Unreadable::Missing(format!(
            "{e}: no firewall rules were changed"
        ))),
        Err(e) => Err(Unreadable::Failed(format!(
            "the iptables rules cannot be read ({e}): repair iptables, or set firewall=none \
             (or firewall=nftables) for this host"
        ))),
    }
}

/// Where `online` notes that it added `dev`'s iptables rules (written before they are added,
/// removed by `offline`). A vif without this note is new: its online inserts the rules without
/// reading the ruleset first, which grows with every guest (issue 8). With the note (a second
/// online, or one after a crash) the live rules are read and reconciled as before.
fn record_path(dev: &str) -> std::path::PathBuf {
    crate::paths::state_dir().join("firewall").join(dev)
}

/// Is `dev` as netback makes it (down, no bridge, its own MAC), or not there yet (a rename is
/// due)? A link some earlier run set up in part may carry rules nobody noted: those are read.
fn untouched(dev: &str) -> bool {
    crate::state::link(dev).is_none_or(|l| {
        !l.up && l.master.is_none() && !l.address.eq_ignore_ascii_case(crate::bridge::PORT_MAC)
    })
}

/// The rules `online` noted for `dev` (their `iptables-save` lines), if it noted any.
fn recorded_rules(dev: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(record_path(dev)).ok()?;
    Some(text.lines().map(str::to_string).collect())
}

/// A vif script's firewall: the chosen backend and what it needs to know of the host.
pub struct VifFirewall {
    pub backend: Backend,
    pub antispoof: bool,
    /// Which nftables table the mode's vifs belong in; None where nftables cannot see the
    /// guest's traffic (Open vSwitch ports bypass the bridge hooks).
    family: Option<nft::Family>,
    /// The live FORWARD rules, when iptables rules are to be set or removed and iptables works.
    iptables: Option<Vec<String>>,
    /// nftables has been the backend on this host since boot, so `offline` under another
    /// backend still removes a chain of ours (switching backends leaves nothing stale).
    nft_used: bool,
}

/// Written when nftables rules are first set; in /run, so gone with the rules at reboot.
fn nft_marker() -> std::path::PathBuf {
    crate::paths::state_dir().join("nftables-used")
}

/// The firewall for one vif event: `firewall=` and `antispoof=` from the argument, the
/// environment or the host's config file (in that order), and the live iptables rules where
/// they are needed: to set them (iptables) or to remove them on the way down (nftables, so
/// that a host moved from iptables keeps no stale rules). A missing iptables is warned about
/// only when it is the backend (IPT-04).
pub fn for_vif(
    inv: &crate::invocation::Invocation,
    family: Option<nft::Family>,
    dev: &str,
    up: bool,
    runner: &dyn Runner,
    rep: &crate::report::Reporter,
) -> Result<VifFirewall, crate::validate::Invalid> {
    let (fw, origin) = crate::conf::setting(inv, "firewall");
    let backend = Backend::from_setting(fw.as_deref())
        .map_err(|e| crate::validate::Invalid(format!("{} ({origin})", e.0)))?;
    let (spoof, spoof_origin) = crate::conf::setting(inv, "antispoof");
    let antispoof = crate::validate::yes_no("antispoof", spoof.as_deref().unwrap_or(""))
        .map_err(|e| crate::validate::Invalid(format!("{} ({spoof_origin})", e.0)))?;
    rep.debug(&format!(
        "firewall backend {} ({origin}), antispoof {} ({spoof_origin})",
        format!("{backend:?}").to_lowercase(),
        if antispoof { "yes" } else { "no" }
    ));
    if antispoof && backend != Backend::Nftables {
        rep.debug(
            "antispoof=yes blocks only with firewall=nftables; the iptables rules accept and \
             block nothing by themselves",
        );
    }
    if antispoof && backend == Backend::Nftables && family.is_none() {
        rep.warn(
            "antispoof=yes cannot be enforced by nftables on an Open vSwitch port: \
             the guest's traffic is not filtered",
        );
    }
    let iptables = match backend {
        // A new vif has none of our rules: nothing to read.
        Backend::Iptables if up && !record_path(dev).exists() && untouched(dev) => {
            if which::which("iptables-restore").is_ok() {
                Some(Vec::new())
            } else {
                rep.warn(&format!(
                    "{}: no firewall rules were changed",
                    ExecError::Missing {
                        program: "iptables-restore".into(),
                        package: crate::exec::package_of("iptables-restore").into(),
                    }
                ));
                None
            }
        }
        Backend::Iptables => match forward_rules(runner) {
            Ok(rules) => Some(rules),
            Err(Unreadable::Missing(e)) => {
                rep.warn(&e);
                None
            }
            // online must not bring a guest up without the rules it was promised; offline goes
            // on with the rest of its teardown and says what it could not do.
            Err(Unreadable::Failed(e)) if up => return Err(crate::validate::Invalid(e)),
            Err(Unreadable::Failed(e)) => {
                rep.error(&format!(
                    "{e}; removing the rules online recorded for {dev}"
                ));
                recorded_rules(dev)
            }
        },
        Backend::Nftables if !up => forward_rules(runner).ok(),
        _ => None,
    };
    Ok(VifFirewall {
        backend,
        antispoof,
        family,
        iptables,
        nft_used: nft_marker().exists(),
    })
}

impl VifFirewall {
    /// The steps that give `dev` its rules with the chosen backend.
    pub fn online_steps(
        &self,
        dev: &str,
        ips: &[String],
        mac: &str,
        rep: &crate::report::Reporter,
    ) -> Result<Vec<Step>, String> {
        match (self.backend, self.family) {
            (Backend::Iptables, _) => Ok(self
                .iptables
                .as_ref()
                .map(|rules| online_steps(dev, ips, rules))
                .unwrap_or_default()),
            (Backend::Nftables, Some(family)) => {
                nft::usable_name(dev)?;
                if self.antispoof && ips.is_empty() {
                    rep.warn(&format!(
                        "antispoof=yes but no ip= for {dev}: its source addresses are not checked"
                    ));
                }
                if self.antispoof && family == nft::Family::Bridge && mac.is_empty() {
                    rep.warn(&format!(
                        "antispoof=yes but no mac for {dev}: its source MAC is not checked"
                    ));
                }
                let mut steps = Vec::new();
                if !self.nft_used {
                    steps.push(Step::new(
                        "note that nftables holds vif rules",
                        crate::plan::Action::WriteFile {
                            path: nft_marker().display().to_string(),
                            value: "1".into(),
                        },
                    ));
                }
                let guest = nft::Guest {
                    dev,
                    ips,
                    mac,
                    antispoof: self.antispoof,
                };
                steps.extend(nft::online_steps(family, &guest));
                Ok(steps)
            }
            _ => Ok(Vec::new()),
        }
    }

    /// The steps that remove every rule of `dev`, from whichever backend holds them.
    pub fn offline_steps(&self, dev: &str) -> Vec<Step> {
        let mut steps = self
            .iptables
            .as_ref()
            .map(|rules| offline_steps(dev, rules))
            .unwrap_or_default();
        if let Some(family) = self.family {
            if nft::usable_name(dev).is_ok() {
                if self.backend == Backend::Nftables {
                    steps.extend(nft::offline_steps(family, dev, true));
                } else if self.nft_used {
                    steps.extend(nft::offline_steps(family, dev, false));
                }
            }
        }
        steps
    }
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
pub fn online_steps(dev: &str, ips: &[String], current: &[String]) -> Vec<Step> {
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
    fn backends_by_name() {
        assert_eq!(Backend::from_setting(None).unwrap(), Backend::Iptables);
        assert_eq!(
            Backend::from_setting(Some("nftables")).unwrap(),
            Backend::Nftables
        );
        let e = Backend::from_setting(Some("pf")).unwrap_err().0;
        assert!(e.contains("iptables, nftables or none"), "{e}");
    }

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
        let steps = online_steps("vif1.0", &[], &current);
        assert_eq!(steps.len(), 1);
        assert!(matches!(
            steps[0].action,
            crate::plan::Action::WriteFile { .. }
        ));
        let mut dup = current.clone();
        dup.push(current[1].clone());
        dup.push("-A FORWARD -i eth9 -j ACCEPT".into());
        let steps = online_steps("vif1.0", &[], &dup);
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
