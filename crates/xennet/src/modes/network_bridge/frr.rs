//! The control plane of `overlay=evpn` (issue 18): FRR's BGP EVPN, configured through FRR's own
//! interface (`vtysh`). [`crate::evpn`] says what to add and what to take back; this module reads
//! what it needs through the snapshot (is FRR running, its running configuration, our record)
//! and turns it into plan steps, each `vtysh` call with the call that undoes it, so a failure
//! half-way leaves FRR as it was and `stop` removes exactly what `start` added.

use crate::error::{Error, Note, Result};
use crate::evpn::{self, Change, FrrConfig, Record, Want};
use crate::exec::Cmd;
use crate::plan::Step;
use crate::snapshot::Snapshot;
use std::net::IpAddr;
use std::path::PathBuf;

/// How to reach FRR: `vtysh`, or what `XENNET_VTYSH` says (tests run one FRR per network
/// namespace: `vtysh -N <name> --config_dir <dir>`).
pub fn vtysh() -> Vec<String> {
    std::env::var("XENNET_VTYSH")
        .ok()
        .and_then(|v| shell_words::split(&v).ok())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| vec!["vtysh".to_string()])
}

fn show(command: &str) -> Vec<String> {
    let mut argv = vtysh();
    argv.extend(["-c".to_string(), command.to_string()]);
    argv
}

/// FRR's own switch for its daemons.
pub const DAEMONS_FILE: &str = "/etc/frr/daemons";

/// What `start` and `stop` added to FRR on this host (one record for every VNI: they share the
/// sessions and `advertise-all-vni`).
pub fn record_path() -> PathBuf {
    crate::paths::state_dir().join("network-bridge.frr-evpn")
}

fn cmd(v: &evpn::Vtysh) -> Cmd {
    let mut argv = vtysh();
    for l in &v.lines {
        argv.extend(["-c".to_string(), l.clone()]);
    }
    Cmd::new(&argv[0]).args(argv[1..].iter().cloned())
}

fn step(c: &Change) -> Step {
    Step::run(c.what.clone(), cmd(&c.apply)).undo(cmd(&c.undo))
}

/// Why zebra and bgpd cannot serve the overlay, with the fix; None when they run.
pub fn down(snap: &Snapshot) -> Result<Option<String>> {
    if !snap.tool(&vtysh()[0])? {
        return Ok(Some(
            "overlay=evpn needs FRR, and vtysh is not installed: apt-get install frr, set \
             bgpd=yes in /etc/frr/daemons and systemctl restart frr. Nothing was changed."
                .into(),
        ));
    }
    let (code, stdout, stderr) = snap.command(&show("show daemons"))?;
    match evpn::check_running(code.unwrap_or(-1), stdout, stderr) {
        Ok(()) => Ok(None),
        Err(why) => Ok(Some(evpn::down_message(
            &why,
            snap.file(DAEMONS_FILE)?,
            "Nothing was changed.",
        ))),
    }
}

/// FRR's running configuration, parsed.
fn config(snap: &Snapshot) -> Result<FrrConfig> {
    let (code, stdout, stderr) = snap.command(&show("show running-config"))?;
    if code != Some(0) {
        return Err(Error::Unreadable(format!(
            "FRR's running configuration cannot be read (vtysh -c 'show running-config': {}): \
             repair FRR, then try again",
            stderr.trim()
        )));
    }
    Ok(evpn::parse_running_config(stdout)?)
}

fn record(snap: &Snapshot) -> Result<(Record, Option<&str>)> {
    let text = snap.file(record_path())?;
    let rec = match text {
        Some(t) => Record::parse(t).map_err(|e| {
            Error::Unreadable(format!(
                "{} is unreadable ({e}): check FRR by hand, then delete it",
                record_path().display()
            ))
        })?,
        None => Record::default(),
    };
    Ok((rec, text))
}

/// The step that writes the record as `rec`, or removes it when empty; undone by putting back
/// what was there.
fn record_step(rec: &Record, old: Option<&str>) -> Step {
    if rec.is_empty() {
        let mut s =
            crate::plan::remove_record("forget what overlay=evpn added to FRR", &record_path());
        if let Some(old) = old {
            s = s.undo_action(crate::plan::Action::WriteFile {
                path: record_path().display().to_string(),
                value: old.trim_end().to_string(),
            });
        }
        s
    } else {
        crate::plan::write_record(
            "remember what overlay=evpn added to FRR, for stop",
            &record_path(),
            // One newline at the end, as a rollback writes it back.
            rec.to_text().trim_end().to_string(),
            old,
        )
    }
}

/// start: FRR told to speak EVPN to the reflectors for `vni`, only what is missing; the steps
/// and what to say. Refused, with nothing changed, when FRR or its bgpd is not running.
pub fn start(
    vni: u32,
    asn: Option<u32>,
    local: IpAddr,
    reflectors: &[IpAddr],
    snap: &Snapshot,
) -> Result<(Vec<Step>, Vec<Note>)> {
    if let Some(why) = down(snap)? {
        return Err(Error::refused(why));
    }
    let IpAddr::V4(local) = local else {
        return Err(Error::refused(format!(
            "this host's underlay address {local} is IPv6, but FRR's EVPN tunnel endpoints are \
             IPv4: give an IPv4 local="
        )));
    };
    let want = Want {
        vni,
        asn,
        local,
        reflectors: reflectors.to_vec(),
    };
    let cfg = config(snap)?;
    let (rec, old) = record(snap)?;
    let add = evpn::plan_add(&want, &cfg, &rec)?;
    let mut steps: Vec<Step> = add.changes.iter().map(step).collect();
    if add.record != rec {
        steps.push(record_step(&add.record, old));
    }
    let notes = add.notes.into_iter().map(Note::Info).collect();
    Ok((steps, notes))
}

/// stop: what `start` added for `vni` and no other VNI uses, taken back. With FRR down the
/// record is kept (the next stop, once FRR runs, finishes) and a warning says so.
pub fn stop(vni: u32, snap: &Snapshot) -> Result<(Vec<Step>, Vec<Note>)> {
    let (rec, old) = record(snap)?;
    if !rec.vnis().contains(&vni) {
        return Ok((Vec::new(), Vec::new()));
    }
    if let Some(why) = down(snap)? {
        return Ok((
            Vec::new(),
            vec![Note::Warn(format!(
                "FRR's configuration for VNI {vni} stays (and its record {}): {why} Run stop \
                 again once FRR runs.",
                record_path().display()
            ))],
        ));
    }
    let cfg = config(snap)?;
    let remove = evpn::plan_remove(vni, &cfg, &rec);
    let mut steps: Vec<Step> = remove.changes.iter().map(step).collect();
    steps.push(record_step(&remove.record, old));
    Ok((steps, remove.notes.into_iter().map(Note::Info).collect()))
}

/// `status`: the sessions, the VNI's remote VTEPs and the MACs learned from each, as FRR tells.
pub fn status(vni: u32, runner: &dyn crate::exec::Runner) -> String {
    let run = |c: &str| {
        let argv = show(c);
        runner
            .run(&Cmd::new(&argv[0]).args(argv[1..].iter().cloned()))
            .unwrap_or_default()
    };
    let sessions = evpn::parse_bgp_summary(&run("show bgp l2vpn evpn summary json"));
    let state = evpn::parse_evpn_vni(&run(&format!("show evpn vni {vni} json")));
    let macs = evpn::parse_evpn_macs(&run(&format!("show evpn mac vni {vni} json")));
    match (sessions, state, macs) {
        (Ok(sessions), Ok(state), Ok(macs)) => evpn::Status {
            vni,
            sessions,
            state,
            macs,
        }
        .render(),
        (s, v, m) => format!(
            "FRR's state cannot be read: {}\n",
            [s.err(), v.err(), m.err()]
                .into_iter()
                .flatten()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}
