//! `network-route start|stop|status` (spec §10): IPv4 forwarding and proxy ARP on the uplink.
//! `start` keeps the values it found, `stop` puts them back, `status` only reports (NR-05 FIX:
//! the original turned both on for every command word).

use super::HostPlanned;
use crate::exec::Runner;
use crate::invocation::Invocation;
use crate::plan::Plan;
use crate::state;
use crate::sysctl;
use crate::validate;
use std::path::PathBuf;

struct Settings {
    netdev: String,
    origin: String,
}

fn settings(inv: &Invocation, runner: &dyn Runner) -> Result<Settings, String> {
    let (netdev, origin) = state::choose_uplink(runner, inv.get("netdev"), &inv.origin("netdev"));
    validate::ifname("netdev", &netdev).map_err(|e| e.0)?;
    // NN-02's twin: accepted and checked, but route mode has nothing to spoof-protect here.
    validate::yes_no("antispoof", inv.value("antispoof")).map_err(|e| e.0)?;
    Ok(Settings { netdev, origin })
}

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

pub fn plan(start: bool, inv: &Invocation, runner: &dyn Runner) -> Result<HostPlanned, String> {
    let s = settings(inv, runner)?;
    let fwd = sysctl::ip_forward();
    let parp = sysctl::proxy_arp(&s.netdev);
    let intro = format!("network-route: netdev={} ({})", s.netdev, s.origin);
    let rec = record(&s.netdev);
    let mut p = Plan::default();
    if start {
        // NR-04
        let Some(old_parp) = sysctl::read(&parp) else {
            return Err(format!(
                "netdev {} does not exist ({}; {parp} is missing): name the uplink with netdev=<if>",
                s.netdev, s.origin
            ));
        };
        let old_fwd = sysctl::read(&fwd).unwrap_or_else(|| "0".into());
        if !rec.exists() {
            p.push(crate::plan::write_record(
                "remember forwarding and proxy ARP for stop",
                &rec,
                format!("ip_forward={old_fwd}\nproxy_arp={old_parp}"),
            ));
        }
        p.extend(sysctl::set(
            "turn IPv4 forwarding on",
            &fwd,
            "1",
            Some(&old_fwd),
        ));
        p.extend(sysctl::set(
            &format!("turn proxy ARP on on {}", s.netdev),
            &parp,
            "1",
            Some(&old_parp),
        ));
        if p.is_empty() {
            return Ok(HostPlanned::Nothing(format!("{intro}: already started")));
        }
        return Ok(HostPlanned::Plan { intro, plan: p });
    }
    let Ok(text) = std::fs::read_to_string(&rec) else {
        return Ok(HostPlanned::Nothing(format!(
            "{intro}: not started by network-route (no {}), nothing to undo",
            rec.display()
        )));
    };
    let (old_fwd, old_parp) = parse_record(&text);
    if let Some(v) = old_parp {
        p.extend(sysctl::set(
            &format!("restore proxy ARP on {}", s.netdev),
            &parp,
            &v,
            sysctl::read(&parp).as_deref(),
        ));
    }
    if let Some(v) = old_fwd {
        p.extend(sysctl::set(
            "restore IPv4 forwarding",
            &fwd,
            &v,
            sysctl::read(&fwd).as_deref(),
        ));
    }
    p.push(crate::plan::remove_record("forget what start found", &rec));
    Ok(HostPlanned::Plan { intro, plan: p })
}

/// NR-05 FIX: reports, changes nothing.
pub fn status(inv: &Invocation, runner: &dyn Runner) -> Result<bool, String> {
    let s = settings(inv, runner)?;
    let rule = "=".repeat(60);
    let show = |v: Option<String>| v.unwrap_or_else(|| "(missing)".into());
    println!("{rule}");
    println!("netdev: {} ({})", s.netdev, s.origin);
    println!(
        "net.ipv4.ip_forward = {}",
        show(sysctl::read(&sysctl::ip_forward()))
    );
    println!(
        "net.ipv4.conf.{}.proxy_arp = {}",
        s.netdev,
        show(sysctl::read(&sysctl::proxy_arp(&s.netdev)))
    );
    let rec = record(&s.netdev);
    println!(
        "started by network-route: {}",
        if rec.exists() { "yes" } else { "no" }
    );
    println!(" ");
    match runner.run(&crate::exec::ip(["route", "list"])) {
        Ok(out) => print!("{out}"),
        Err(e) => println!("({e})"),
    }
    println!("{rule}");
    Ok(true)
}
