//! No connection outlives its guest (issue 19): when a guest's interface comes online and when
//! it goes offline, the connection tracking entries of its addresses are deleted in dom0's
//! namespace, so that a guest that later takes one of these addresses inherits no state of the
//! one before (Qubes OS purges on both events for the same reason). One `conntrack -R -` process
//! deletes them all: every filter of every address is one line of its batch, which, unlike
//! `conntrack -D`, exits 0 when nothing matched. Nothing runs when dom0 tracks no connection at
//! all (`nf_conntrack_count` is 0 or absent), so a host without stateful rules pays nothing.

use crate::error::{Note, Result};
use crate::exec::Cmd;
use crate::plan::{OnError, Step};
use crate::snapshot::Snapshot;
use std::net::IpAddr;

/// How many connections this namespace tracks now (absent: no connection tracking at all).
pub fn count_path() -> std::path::PathBuf {
    crate::paths::proc_sys_net()
        .join("netfilter")
        .join("nf_conntrack_count")
}

/// The batch lines that delete every entry of `entry` (an address, or an address/prefix): by the
/// original direction's source and destination and, for a single address, by the reply's source
/// (a connection DNATed to the guest, a port forward, has the guest's address only there;
/// conntrack takes no prefix for it). Each line costs conntrack one pass over the whole table
/// (about 1.5 µs an entry, measured), so no filter is added that only a SNAT to the guest's own
/// address would need (the reply's destination).
fn lines_for(entry: &str) -> Option<String> {
    let (addr, prefix) = match entry.split_once('/') {
        Some((a, p)) => (a, p.parse::<u8>().ok()),
        None => (entry, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let full = if ip.is_ipv4() { 32 } else { 128 };
    let single = prefix.is_none_or(|p| p == full);
    let target = if single {
        ip.to_string()
    } else {
        entry.to_string()
    };
    let mut filters = vec!["-s", "-d"];
    if single {
        filters.push("-r");
    }
    Some(
        filters
            .iter()
            .map(|f| format!("-D {f} {target}\n"))
            .collect(),
    )
}

/// The step that deletes the connection tracking entries of `addrs` (the guest's addresses:
/// single addresses, or the networks routed to it), or None when there is nothing to delete:
/// no address, no tracked connection, or (with a warning) no `conntrack` program. A failure
/// does what `on_error` says (online: fail and roll back; offline: collected and reported).
pub fn purge(
    dev: &str,
    addrs: &[String],
    on_error: OnError,
    snap: &Snapshot,
    notes: &mut Vec<Note>,
) -> Result<Option<Step>> {
    let mut batch = String::new();
    let mut shown = Vec::new();
    for a in addrs {
        if let Some(lines) = lines_for(a) {
            batch.push_str(&lines);
            shown.push(a.as_str());
        }
    }
    if shown.is_empty() {
        return Ok(None);
    }
    let count = snap
        .file(count_path())?
        .and_then(|c| c.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if count == 0 {
        notes.push(Note::Debug(format!(
            "no tracked connection in this namespace: nothing of {} to purge",
            shown.join(" ")
        )));
        return Ok(None);
    }
    if !snap.tool("conntrack")? {
        notes.push(Note::Warn(format!(
            "{count} connections are tracked, but the conntrack program is not installed: \
             those of {} ({dev}) are not purged, and a guest that later takes one of these \
             addresses inherits them; install the Debian package conntrack",
            shown.join(" ")
        )));
        return Ok(None);
    }
    Ok(Some(
        Step::run(
            format!(
                "purge the connection tracking entries of {} ({dev})",
                shown.join(" ")
            ),
            Cmd::new("conntrack").args(["-R", "-"]).stdin(batch),
        )
        .on_error(on_error),
    ))
}

/// online: the purge, unless the interface was up already (a second online of a running
/// guest: its tracked connections are its own, and kept).
pub fn purge_at_online(
    dev: &str,
    addrs: &[String],
    was_up: bool,
    snap: &Snapshot,
    notes: &mut Vec<Note>,
) -> Result<Option<Step>> {
    if was_up {
        notes.push(Note::Debug(format!(
            "{dev} was up already: its tracked connections are the running guest's, kept"
        )));
        return Ok(None);
    }
    purge(dev, addrs, OnError::Fail, snap, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::Fixture;
    use crate::snapshot::plan;

    fn purge_over(host: &Fixture, addrs: &[&str]) -> (Option<Step>, Vec<Note>) {
        let addrs: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
        let mut snap = Snapshot::new();
        plan(host, &mut snap, |s| {
            let mut notes = Vec::new();
            let step = purge("vif1.0", &addrs, OnError::Fail, s, &mut notes)?;
            Ok((step, notes))
        })
        .unwrap()
    }

    fn tracking(n: &str) -> Fixture {
        Fixture::new().file(count_path(), n).tools(&["conntrack"])
    }

    #[test]
    fn one_batch_deletes_both_directions_of_every_address() {
        let (step, _) = purge_over(
            &tracking("12\n"),
            &[
                "192.0.2.51",
                "10.1.0.0/24",
                "2001:db8::5/128",
                "10.0.0.1/16",
            ],
        );
        let step = step.unwrap();
        assert_eq!(
            step.action.line(),
            "conntrack -R - <<'EOF'\n\
             -D -s 192.0.2.51\n-D -d 192.0.2.51\n-D -r 192.0.2.51\n\
             -D -s 10.1.0.0/24\n-D -d 10.1.0.0/24\n\
             -D -s 2001:db8::5\n-D -d 2001:db8::5\n-D -r 2001:db8::5\n\
             -D -s 10.0.0.1/16\n-D -d 10.0.0.1/16\nEOF"
        );
        assert!(step.undo.is_none());
        assert_eq!(step.on_error, OnError::Fail);
        assert!(step
            .what
            .starts_with("purge the connection tracking entries of 192.0.2.51"));
    }

    #[test]
    fn nothing_runs_without_addresses_or_tracked_connections() {
        assert!(purge_over(&tracking("12"), &[]).0.is_none());
        let (step, notes) = purge_over(&tracking("0\n"), &["192.0.2.51"]);
        assert!(step.is_none());
        assert!(matches!(&notes[0], Note::Debug(t) if t.contains("no tracked connection")));
        // No connection tracking in the kernel or namespace at all.
        let host = Fixture::new().tools(&["conntrack"]);
        assert!(purge_over(&host, &["192.0.2.51"]).0.is_none());
    }

    #[test]
    fn without_the_program_it_warns_and_goes_on() {
        let host = Fixture::new().file(count_path(), "3\n");
        let (step, notes) = purge_over(&host, &["192.0.2.51"]);
        assert!(step.is_none());
        assert!(
            matches!(&notes[0], Note::Warn(t) if t.contains("install the Debian package conntrack")
                && t.contains("192.0.2.51 (vif1.0)")),
            "{notes:?}"
        );
    }
}
