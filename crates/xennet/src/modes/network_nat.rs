//! `network-nat start|stop|status` (spec §9): forwarding on and masquerading out of the uplink,
//! with an optional dhcpd subnet for the guests. The rules come from the firewall driver
//! (iptables, the original's; or nftables on a host without iptables). `start` records what it
//! changed, so `stop` removes exactly that and nothing else (an administrator's own identical
//! rule survives), and a second `start` adds nothing (NN-06 FIX); `start` exits 0 when it
//! succeeded (NN-07 FIX).

use crate::dhcpd;
use crate::error::{Error, Note, Outcome, Planned, Result};
use crate::exec::{Cmd, Runner};
use crate::firewall::{self, Backend};
use crate::invocation::Invocation;
use crate::plan::{Action, OnError, Plan, Step};
use crate::snapshot::{Reader, Snapshot};
use crate::sysctl;
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
    /// The firewall the rules were added to (records of earlier versions: iptables).
    #[serde(default = "iptables_name")]
    firewall: String,
}

fn iptables_name() -> String {
    Backend::Iptables.name().to_string()
}

fn settings(inv: &Invocation, snap: &Snapshot, notes: &mut Vec<Note>) -> Result<Settings> {
    // The issue asks for the default route's device when netdev is not given (the original: eth0).
    let (netdev, origin) = super::default_route_uplink(inv, snap)?;
    if inv.value("antispoof") == "yes" {
        notes.push(Note::Warn(
            "antispoof=yes is not implemented by network-nat (nor by the original)".into(),
        ));
    }
    // An empty dhcp= is the default, as the original's ${dhcp:-…}.
    let dhcp_on = match inv.get("dhcp").filter(|v| !v.is_empty()) {
        Some(v) => v != "no",
        None => dhcpd::default_on(snap)?,
    };
    // NN-03
    let dhcp = if dhcp_on {
        let f = dhcpd::find(snap)?;
        match (f.conf, f.init) {
            (Some(c), Some(i)) => Some((c, i)),
            _ => {
                return Err(Error::refused(
                    "Failed to find dhcpd configuration or init file. (install \
                     isc-dhcp-server, or set dhcp=no)",
                ))
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

fn read_record(snap: &Snapshot, path: &std::path::Path) -> Result<Option<Record>> {
    Ok(snap
        .file(path)?
        .and_then(|t| serde_json::from_str::<Record>(t).ok()))
}

pub fn plan(start: bool, inv: &Invocation, snap: &Snapshot) -> Result<Outcome> {
    let mut notes = Vec::new();
    let s = settings(inv, snap, &mut notes)?;
    let intro = format!("network-nat: netdev={} ({})", s.netdev, s.origin);
    let rec_path = record_path(&s.netdev);
    let fwd = sysctl::ip_forward();
    let mut p = Plan::default();
    if start {
        if !snap.exists(&s.netdev)? {
            return Err(Error::refused(format!(
                "netdev {} does not exist ({}): name the uplink with netdev=<if>",
                s.netdev, s.origin
            )));
        }
        // IP-02's sentence: masquerading out of a device without an address cannot work.
        if snap.primary_ipv4(&s.netdev)?.is_none() {
            notes.push(Note::Warn(format!(
                "{} ({}) has no IPv4 address",
                s.netdev, s.origin
            )));
            return Err(Error::noted(
                notes,
                Error::refused(format!(
                    "{} is not up.  Bring it up or specify another interface with netdev=<if> as a parameter to {}.",
                    s.netdev, inv.argv0
                )),
            ));
        }
        let earlier = read_record(snap, &rec_path)?;
        // A second start keeps the first start's backend, so its rules are not made twice.
        let backend = match earlier
            .as_ref()
            .and_then(|r| Backend::from_name(&r.firewall))
        {
            Some(b) => b,
            None => {
                let (choice, choice_notes) = firewall::choose(inv, snap)?;
                notes.extend(choice_notes);
                choice.backend
            }
        };
        let driver = firewall::host_driver(backend);
        let old_fwd = snap.sysctl(&fwd)?.unwrap_or("0").to_string();
        let (masq, drop) = driver.nat_present(&s.netdev, snap)?;
        let subnet_missing = match &s.dhcp {
            Some((conf, _)) => dhcpd::get_line(snap, conf, "subnet 10.0.0.0")?.is_none(),
            None => false,
        };
        // A second start keeps the first start's record, so stop still restores the host as it was.
        let rec = Record {
            ip_forward_before: earlier
                .as_ref()
                .map_or(old_fwd.clone(), |r| r.ip_forward_before.clone()),
            masquerade_added: !masq || earlier.as_ref().is_some_and(|r| r.masquerade_added),
            inbound_drop_added: !drop || earlier.as_ref().is_some_and(|r| r.inbound_drop_added),
            subnet_added: subnet_missing || earlier.as_ref().is_some_and(|r| r.subnet_added),
            firewall: backend.name().to_string(),
        };
        p.extend(sysctl::set(
            "turn IPv4 forwarding on",
            &fwd,
            "1",
            Some(&old_fwd),
        ));
        p.extend(driver.nat_add(&s.netdev, !masq, !drop));
        if let (Some((conf, init)), true) = (&s.dhcp, subnet_missing) {
            let (domain, ns) = dhcpd::resolver(snap)?;
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
            return Ok(Outcome::Nothing(format!("{intro}: already started")));
        }
        let json = serde_json::to_string(&rec).map_err(|e| Error::Unreadable(e.to_string()))?;
        p.steps.insert(
            0,
            crate::plan::write_record(
                "remember what start changes, for stop",
                &rec_path,
                json,
                snap.file(&rec_path)?,
            ),
        );
        return Ok(Outcome::Plan(Planned::new(p).intro(intro).notes(notes)));
    }
    let Some(rec) = read_record(snap, &rec_path)? else {
        return Ok(Outcome::Nothing(format!(
            "{intro}: not started by network-nat (no {}), nothing to undo",
            rec_path.display()
        )));
    };
    // Stop is all-or-nothing like start: a failed step puts back what the earlier ones removed
    // and keeps the record, so the next stop can still do the whole job (issue 6).
    if let (Some((conf, init)), true) = (&s.dhcp, rec.subnet_added) {
        let conf_s = conf.display().to_string();
        let old = dhcpd::get_line(snap, conf, dhcpd::SUBNET_KEY)?;
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
    let backend = Backend::from_name(&rec.firewall).unwrap_or(Backend::Iptables);
    p.extend(firewall::host_driver(backend).nat_remove(
        &s.netdev,
        rec.masquerade_added,
        rec.inbound_drop_added,
        snap,
    )?);
    p.extend(sysctl::set(
        "restore IPv4 forwarding",
        &fwd,
        &rec.ip_forward_before,
        snap.sysctl(&fwd)?,
    ));
    p.push(crate::plan::remove_record(
        "forget what start changed",
        &rec_path,
    ));
    Ok(Outcome::Plan(Planned::new(p).intro(intro).notes(notes)))
}

/// NN-09: interfaces, routes, and what network-nat set, between lines of 60 `=`. Changes nothing.
pub fn status(inv: &Invocation, reader: &dyn Reader, runner: &dyn Runner) -> Result<bool> {
    let mut snap = Snapshot::new();
    let (netdev, origin, fwd, rules) = crate::snapshot::plan(reader, &mut snap, |snap| {
        let s = settings(inv, snap, &mut Vec::new())?;
        let fwd = snap.sysctl(&sysctl::ip_forward())?.map(str::to_string);
        let backend = match read_record(snap, &record_path(&s.netdev))? {
            Some(r) => Backend::from_name(&r.firewall).unwrap_or(Backend::Iptables),
            None => firewall::choose(inv, snap)?.0.backend,
        };
        let rules = match crate::snapshot::unless_unread(
            firewall::host_driver(backend).nat_present(&s.netdev, snap),
        )? {
            Ok((masq, _)) => Ok((backend, masq)),
            Err(e) => Err(e.to_string()),
        };
        Ok((s.netdev, s.origin, fwd, rules))
    })?;
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
    println!("netdev: {netdev} ({origin})");
    println!("net.ipv4.ip_forward = {}", fwd.unwrap_or_default());
    match rules {
        Ok((backend, m)) => println!(
            "masquerading out of {netdev}: {} ({})",
            if m { "yes" } else { "no" },
            backend.name()
        ),
        Err(e) => println!("({e})"),
    }
    println!("{rule}");
    Ok(true)
}
