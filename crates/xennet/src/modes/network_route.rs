//! `network-route start|stop|status` (spec §10): IPv4 forwarding and proxy ARP on the uplink.
//! `start` keeps the values it found, `stop` puts them back, `status` only reports (NR-05 FIX:
//! the original turned both on for every command word).

use crate::error::{Error, Outcome, Planned, Result};
use crate::exec::Runner;
use crate::invocation::Invocation;
use crate::plan::Plan;
use crate::snapshot::{Reader, Snapshot};
use crate::sysctl;
use std::path::PathBuf;

/// What `start` found, so that `stop` can put it back.
fn record(netdev: &str) -> PathBuf {
    crate::paths::state_dir().join(format!("network-route.{netdev}.before"))
}

fn parse_record(text: &str) -> (Option<String>, Option<String>) {
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim().to_string())
    };
    (get("ip_forward"), get("proxy_arp"))
}

pub fn plan(start: bool, inv: &Invocation, snap: &Snapshot) -> Result<Outcome> {
    let (netdev, origin) = super::routed_uplink(inv, snap)?;
    let fwd = sysctl::ip_forward();
    let parp = sysctl::proxy_arp(&netdev);
    let intro = format!("network-route: netdev={netdev} ({origin})");
    let rec = record(&netdev);
    let mut p = Plan::default();
    if start {
        // NR-04
        let Some(old_parp) = snap.sysctl(&parp)? else {
            return Err(Error::refused(format!(
                "netdev {netdev} does not exist ({origin}; {parp} is missing): name the uplink with netdev=<if>"
            )));
        };
        let old_fwd = snap.sysctl(&fwd)?.unwrap_or("0");
        let old_rec = snap.file(&rec)?;
        if old_rec.is_none() {
            p.push(crate::plan::write_record(
                "remember forwarding and proxy ARP for stop",
                &rec,
                format!("ip_forward={old_fwd}\nproxy_arp={old_parp}"),
                None,
            ));
        }
        p.extend(sysctl::set(
            "turn IPv4 forwarding on",
            &fwd,
            "1",
            Some(old_fwd),
        ));
        p.extend(sysctl::set(
            &format!("turn proxy ARP on on {netdev}"),
            &parp,
            "1",
            Some(old_parp),
        ));
        if p.is_empty() {
            return Ok(Outcome::Nothing(format!("{intro}: already started")));
        }
        return Ok(Outcome::Plan(Planned::new(p).intro(intro)));
    }
    let Some(text) = snap.file(&rec)? else {
        return Ok(Outcome::Nothing(format!(
            "{intro}: not started by network-route (no {}), nothing to undo",
            rec.display()
        )));
    };
    let (old_fwd, old_parp) = parse_record(text);
    if let Some(v) = old_parp {
        p.extend(sysctl::set(
            &format!("restore proxy ARP on {netdev}"),
            &parp,
            &v,
            snap.sysctl(&parp)?,
        ));
    }
    if let Some(v) = old_fwd {
        p.extend(sysctl::set(
            "restore IPv4 forwarding",
            &fwd,
            &v,
            snap.sysctl(&fwd)?,
        ));
    }
    p.push(crate::plan::remove_record("forget what start found", &rec));
    Ok(Outcome::Plan(Planned::new(p).intro(intro)))
}

/// NR-05 FIX: reports, changes nothing.
pub fn status(inv: &Invocation, reader: &dyn Reader, runner: &dyn Runner) -> Result<bool> {
    let mut snap = Snapshot::new();
    let (netdev, origin, fwd, parp, started) = crate::snapshot::plan(reader, &mut snap, |s| {
        let (netdev, origin) = super::routed_uplink(inv, s)?;
        let fwd = s.sysctl(&sysctl::ip_forward())?.map(str::to_string);
        let parp = s.sysctl(&sysctl::proxy_arp(&netdev))?.map(str::to_string);
        let started = s.file(record(&netdev))?.is_some();
        Ok((netdev, origin, fwd, parp, started))
    })?;
    let rule = "=".repeat(60);
    let show = |v: Option<String>| v.unwrap_or_else(|| "(missing)".into());
    println!("{rule}");
    println!("netdev: {netdev} ({origin})");
    println!("net.ipv4.ip_forward = {}", show(fwd));
    println!("net.ipv4.conf.{netdev}.proxy_arp = {}", show(parp));
    println!(
        "started by network-route: {}",
        if started { "yes" } else { "no" }
    );
    println!(" ");
    match runner.run(&crate::exec::ip(["route", "list"])) {
        Ok(out) => print!("{out}"),
        Err(e) => println!("({e})"),
    }
    println!("{rule}");
    Ok(true)
}
