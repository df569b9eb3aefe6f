//! `network-nat start|stop|status` (spec §9): forwarding on and masquerading out of the uplink,
//! with an optional dhcpd subnet for the guests. `start` records what it changed, so `stop`
//! removes exactly that and nothing else (an administrator's own identical rule survives), and a
//! second `start` adds nothing (NN-06 FIX); `start` exits 0 when it succeeded (NN-07 FIX).

use super::HostPlanned;
use crate::dhcpd;
use crate::exec::{Cmd, Runner};
use crate::invocation::Invocation;
use crate::plan::{Action, OnError, Plan, Step};
use crate::state;
use crate::sysctl;
use crate::validate;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

struct Settings {
    netdev: String,
    origin: String,
    dhcp: Option<(PathBuf, PathBuf)>,
}

/// What start changed, kept for stop.
#[derive(Serialize, Deserialize, Default)]
struct Record {
    ip_forward_before: String,
    masquerade_added: bool,
    #[serde(default)]
    inbound_drop_added: bool,
    subnet_added: bool,
}

fn settings(inv: &Invocation, runner: &dyn Runner) -> Result<Settings, String> {
    // The issue asks for the default route's device when netdev is not given (the original: eth0).
    let (netdev, origin) = state::uplink_by_default_route(inv, runner)?;
    if validate::yes_no("antispoof", inv.value("antispoof")).map_err(|e| e.0)? {
        log::warn!("antispoof=yes is not implemented by network-nat (nor by the original)");
    }
    let dhcp_on = match inv.get("dhcp") {
        Some(v) => v != "no",
        None => dhcpd::default_on(),
    };
    // NN-03
    let dhcp = if dhcp_on {
        let f = dhcpd::find();
        match (f.conf, f.init) {
            (Some(c), Some(i)) => Some((c, i)),
            _ => {
                return Err("Failed to find dhcpd configuration or init file. (install \
                            isc-dhcp-server, or set dhcp=no)"
                    .into())
            }
        }
    } else {
        None
    };
    Ok(Settings {
        netdev,
        origin,
        dhcp,
    })
}

fn record_path(netdev: &str) -> PathBuf {
    crate::paths::state_dir().join(format!("network-nat.{netdev}.json"))
}

fn masquerade(verb: &str, netdev: &str) -> Cmd {
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

/// A NAT router lets no connection in: new flows arriving on the uplink are not forwarded to the
/// guests (replies to the guests' own connections still are).
fn inbound_drop(verb: &str, netdev: &str) -> Cmd {
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

/// The 1-based position of `rule` among the `-A` lines of an `iptables -S` listing.
fn position(listing: &str, rule: &str) -> Option<usize> {
    listing
        .lines()
        .filter(|l| l.starts_with("-A "))
        .position(|l| l.trim() == rule)
        .map(|i| i + 1)
}

/// Where the inbound DROP rule is in FORWARD, if there.
fn inbound_drop_at(runner: &dyn Runner, netdev: &str) -> Result<Option<usize>, String> {
    let out = runner
        .run(&Cmd::new("iptables").args(["-w", "-S", "FORWARD"]))
        .map_err(|e| e.to_string())?;
    let rule = format!("-A FORWARD -i {netdev} -m conntrack --ctstate NEW -j DROP");
    Ok(position(&out, &rule))
}

fn inbound_drop_present(runner: &dyn Runner, netdev: &str) -> Result<bool, String> {
    inbound_drop_at(runner, netdev).map(|p| p.is_some())
}

/// Where the MASQUERADE rule is in POSTROUTING, if there.
fn masquerade_at(runner: &dyn Runner, netdev: &str) -> Result<Option<usize>, String> {
    let out = runner
        .run(&Cmd::new("iptables").args(["-w", "-t", "nat", "-S", "POSTROUTING"]))
        .map_err(|e| e.to_string())?;
    let rule = format!("-A POSTROUTING -o {netdev} -j MASQUERADE");
    Ok(position(&out, &rule))
}

fn masquerade_present(runner: &dyn Runner, netdev: &str) -> Result<bool, String> {
    masquerade_at(runner, netdev).map(|p| p.is_some())
}

/// `cmd` with its verb (`-A`) replaced by `-I <chain> <pos>`: puts a deleted rule back where it was.
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

pub fn plan(start: bool, inv: &Invocation, runner: &dyn Runner) -> Result<HostPlanned, String> {
    let s = settings(inv, runner)?;
    let intro = format!("network-nat: netdev={} ({})", s.netdev, s.origin);
    let rec_path = record_path(&s.netdev);
    let fwd = sysctl::ip_forward();
    let mut p = Plan::default();
    if start {
        if !state::exists(&s.netdev) {
            return Err(format!(
                "netdev {} does not exist ({}): name the uplink with netdev=<if>",
                s.netdev, s.origin
            ));
        }
        // IP-02's sentence: masquerading out of a device without an address cannot work.
        if state::primary_ipv4(runner, &s.netdev)
            .map_err(|e| e.to_string())?
            .is_none()
        {
            log::warn!("{} ({}) has no IPv4 address", s.netdev, s.origin);
            return Err(format!(
                "{} is not up.  Bring it up or specify another interface with netdev=<if> as a parameter to {}.",
                s.netdev, inv.argv0
            ));
        }
        let old_fwd = sysctl::read(&fwd).unwrap_or_else(|| "0".into());
        let masq = masquerade_present(runner, &s.netdev)?;
        let drop = inbound_drop_present(runner, &s.netdev)?;
        let subnet_missing = s
            .dhcp
            .as_ref()
            .is_some_and(|(conf, _)| dhcpd::get_line(conf, "subnet 10.0.0.0").is_none());
        let earlier: Option<Record> = std::fs::read(&rec_path)
            .ok()
            .and_then(|t| serde_json::from_slice(&t).ok());
        // A second start keeps the first start's record, so stop still restores the host as it was.
        let rec = Record {
            ip_forward_before: earlier
                .as_ref()
                .map_or(old_fwd.clone(), |r| r.ip_forward_before.clone()),
            masquerade_added: !masq || earlier.as_ref().is_some_and(|r| r.masquerade_added),
            inbound_drop_added: !drop || earlier.as_ref().is_some_and(|r| r.inbound_drop_added),
            subnet_added: subnet_missing || earlier.as_ref().is_some_and(|r| r.subnet_added),
        };
        p.extend(sysctl::set(
            "turn IPv4 forwarding on",
            &fwd,
            "1",
            Some(&old_fwd),
        ));
        if !masq {
            p.push(
                Step::run(
                    format!("masquerade traffic leaving {}", s.netdev),
                    masquerade("-A", &s.netdev),
                )
                .undo(masquerade("-D", &s.netdev)),
            );
        }
        if !drop {
            p.push(
                Step::run(
                    format!("refuse new connections from {} to the guests", s.netdev),
                    inbound_drop("-A", &s.netdev),
                )
                .undo(inbound_drop("-D", &s.netdev)),
            );
        }
        if let (Some((conf, init)), true) = (&s.dhcp, subnet_missing) {
            let (domain, ns) = dhcpd::resolver();
            let conf_s = conf.display().to_string();
            p.push(
                Step::new(
                    format!("add the guests' subnet to {conf_s}"),
                    Action::SetLine {
                        path: conf_s.clone(),
                        key: dhcpd::SUBNET_KEY.into(),
                        line: Some(dhcpd::subnet_line(&domain, &ns)),
                    },
                )
                .undo_action(Action::SetLine {
                    path: conf_s,
                    key: dhcpd::SUBNET_KEY.into(),
                    line: None,
                }),
            );
            // NN-05 made the restart fatal, but dhcpd refuses to start while no vif is in its
            // subnet yet; vif-nat restarts it again for every guest, so only warn here.
            p.push(
                Step::run(
                    "restart dhcpd",
                    Cmd::new(&init.display().to_string()).arg("restart"),
                )
                .on_error(OnError::Warn(
                    "dhcpd did not restart; vif-nat restarts it when a guest comes online",
                )),
            );
        }
        if p.is_empty() {
            return Ok(HostPlanned::Nothing(format!("{intro}: already started")));
        }
        let json = serde_json::to_string(&rec).map_err(|e| e.to_string())?;
        p.steps.insert(
            0,
            crate::plan::write_record("remember what start changes, for stop", &rec_path, json),
        );
        return Ok(HostPlanned::Plan { intro, plan: p });
    }
    let Some(rec) = std::fs::read(&rec_path)
        .ok()
        .and_then(|t| serde_json::from_slice::<Record>(&t).ok())
    else {
        return Ok(HostPlanned::Nothing(format!(
            "{intro}: not started by network-nat (no {}), nothing to undo",
            rec_path.display()
        )));
    };
    // Stop is all-or-nothing like start: a failed step puts back what the earlier ones removed
    // and keeps the record, so the next stop can still do the whole job (issue 6). A rule goes
    // back only if absent: a journal also undoes the step a killed run had not finished.
    if let (Some((conf, init)), true) = (&s.dhcp, rec.subnet_added) {
        let conf_s = conf.display().to_string();
        let old = dhcpd::get_line(conf, dhcpd::SUBNET_KEY);
        let mut step = Step::new(
            format!("remove the guests' subnet from {conf_s}"),
            Action::SetLine {
                path: conf_s.clone(),
                key: dhcpd::SUBNET_KEY.into(),
                line: None,
            },
        );
        if let Some(old) = old {
            step = step.undo_action(Action::SetLine {
                path: conf_s,
                key: dhcpd::SUBNET_KEY.into(),
                line: Some(old),
            });
        }
        p.push(step);
        p.push(
            Step::run(
                "restart dhcpd",
                Cmd::new(&init.display().to_string()).arg("restart"),
            )
            .on_error(OnError::Ignore),
        );
    }
    if let (true, Some(pos)) = (rec.masquerade_added, masquerade_at(runner, &s.netdev)?) {
        p.push(
            Step::run(
                format!("stop masquerading out of {}", s.netdev),
                masquerade("-D", &s.netdev),
            )
            .undo_action(Action::RunUnless {
                check: masquerade("-C", &s.netdev),
                cmd: insert_at(masquerade("-A", &s.netdev), "POSTROUTING", pos),
            }),
        );
    }
    if let (true, Some(pos)) = (rec.inbound_drop_added, inbound_drop_at(runner, &s.netdev)?) {
        p.push(
            Step::run(
                format!("let new connections from {} through again", s.netdev),
                inbound_drop("-D", &s.netdev),
            )
            .undo_action(Action::RunUnless {
                check: inbound_drop("-C", &s.netdev),
                cmd: insert_at(inbound_drop("-A", &s.netdev), "FORWARD", pos),
            }),
        );
    }
    p.extend(sysctl::set(
        "restore IPv4 forwarding",
        &fwd,
        &rec.ip_forward_before,
        sysctl::read(&fwd).as_deref(),
    ));
    p.push(crate::plan::remove_record(
        "forget what start changed",
        &rec_path,
    ));
    Ok(HostPlanned::Plan { intro, plan: p })
}

/// NN-09: interfaces, routes, and what network-nat set, between lines of 60 `=`. Changes nothing.
pub fn status(inv: &Invocation, runner: &dyn Runner) -> Result<bool, String> {
    let s = settings(inv, runner)?;
    let rule = "=".repeat(60);
    let show = |cmd: Cmd| match runner.run(&cmd) {
        Ok(out) => print!("{out}"),
        Err(e) => println!("({e})"),
    };
    println!("{rule}");
    if which::which("ifconfig").is_ok() {
        show(Cmd::new("ifconfig"));
    } else {
        show(crate::exec::ip(["addr", "show"]));
    }
    println!(" ");
    show(crate::exec::ip(["route", "list"]));
    println!(" ");
    println!("netdev: {} ({})", s.netdev, s.origin);
    println!(
        "net.ipv4.ip_forward = {}",
        sysctl::read(&sysctl::ip_forward()).unwrap_or_default()
    );
    match masquerade_present(runner, &s.netdev) {
        Ok(m) => println!(
            "masquerading out of {}: {}",
            s.netdev,
            if m { "yes" } else { "no" }
        ),
        Err(e) => println!("({e})"),
    }
    println!("{rule}");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_rule_goes_back_where_it_was() {
        let listing = "-P FORWARD ACCEPT\n-A FORWARD -j ACCEPT\n-A FORWARD -i eth0 -m conntrack --ctstate NEW -j DROP\n";
        let rule = "-A FORWARD -i eth0 -m conntrack --ctstate NEW -j DROP";
        assert_eq!(position(listing, rule), Some(2));
        assert_eq!(position(listing, "-A FORWARD -j DROP"), None);
        assert_eq!(
            insert_at(inbound_drop("-A", "eth0"), "FORWARD", 2).line(),
            "iptables -w -I FORWARD 2 -i eth0 -m conntrack --ctstate NEW -j DROP"
        );
        assert_eq!(
            insert_at(masquerade("-A", "eth0"), "POSTROUTING", 1).line(),
            "iptables -w -t nat -I POSTROUTING 1 -o eth0 -j MASQUERADE"
        );
    }
}
