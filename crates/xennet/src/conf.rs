//! The host-wide settings file, `/etc/xen/xen-netscripts.conf` (moved by `XENNET_CONF`):
//! `name=value` lines, `#` comments. It is the lowest source: an argument beats the
//! environment, which beats this file (issue 9: `firewall=`, `antispoof=`).

use crate::error::{Error, Result};
use crate::invocation::Invocation;
use crate::snapshot::Snapshot;
use std::path::PathBuf;

/// Where the file is.
pub fn path() -> PathBuf {
    match std::env::var_os("XENNET_CONF") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from("/etc/xen/xen-netscripts.conf"),
    }
}

/// The value of `name` in the file's text; the last line naming it wins, quotes are removed.
pub fn lookup(text: &str, name: &str) -> Option<String> {
    text.lines()
        .rev()
        .find_map(|l| {
            let l = l.trim();
            let (k, v) = l.split_once('=')?;
            (!l.starts_with('#') && k.trim() == name).then(|| v.trim())
        })
        .map(|v| v.trim_matches(|c| c == '"' || c == '\'').to_string())
}

/// A setting from the invocation, else from the file, with where it came from (for messages).
/// The file's value is checked with `check` even when the invocation overrides it: a broken
/// host setting is reported, not left to bite the next guest.
pub fn setting(
    inv: &Invocation,
    snap: &Snapshot,
    name: &str,
    check: crate::validate::Check,
) -> Result<(Option<String>, String)> {
    let p = path();
    let in_file = snap.file(&p)?.and_then(|text| lookup(text, name));
    if let Some(v) = in_file.as_deref().filter(|v| !v.is_empty()) {
        check(name, v).map_err(|e| {
            Error::Invalid(crate::validate::Invalid(format!(
                "{} ({name}= in {})",
                e.0,
                p.display()
            )))
        })?;
    }
    if let Some(v) = inv.get(name).filter(|v| !v.is_empty()) {
        return Ok((Some(v.to_string()), inv.origin(name)));
    }
    Ok(match in_file {
        Some(v) => (Some(v), format!("{name}= in {}", p.display())),
        None => (None, "default".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_comments_quotes_and_last_wins() {
        let text = "# firewall=none\n firewall = iptables\nantispoof=\"yes\"\nfirewall=nftables\n";
        assert_eq!(lookup(text, "firewall").as_deref(), Some("nftables"));
        assert_eq!(lookup(text, "antispoof").as_deref(), Some("yes"));
        assert_eq!(lookup(text, "bridge"), None);
    }
}
