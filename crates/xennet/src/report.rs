//! Telling the truth: syslog lines like the originals' (`daemon.<level>`, message `<$0>: text`,
//! GEN-08), the hotplug log (GEN-07), stderr, and the hotplug protocol in xenstore:
//! `hotplug-status=connected` on success, `hotplug-error` + `hotplug-status=error` on failure
//! (XS-03, XS-04). Logging never makes a script fail.

use crate::exec::ExecError;
use crate::xenstore::{join, XenStore};
use std::io::Write;
use std::os::unix::net::UnixDatagram;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Debug,
    Err,
}

pub struct Reporter {
    argv0: String,
    syslog: Option<UnixDatagram>,
    tag: String,
    /// vif scripts append their errors to `xen-hotplug.log` (GEN-07).
    hotplug_log: bool,
}

impl Reporter {
    pub fn new(argv0: &str, hotplug_log: bool) -> Reporter {
        let syslog = UnixDatagram::unbound()
            .ok()
            .filter(|s| s.connect("/dev/log").is_ok());
        // logger's default tag is the invoking user's name.
        let tag = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_else(|| "root".to_string());
        Reporter {
            argv0: argv0.to_string(),
            syslog,
            tag,
            hotplug_log,
        }
    }

    pub fn argv0(&self) -> &str {
        &self.argv0
    }

    fn syslog(&self, level: Level, text: &str) {
        // facility daemon (3); severity err (3) or debug (7).
        let pri = 3 * 8 + if level == Level::Err { 3 } else { 7 };
        let line = format!("<{pri}>{}: {}: {text}", self.tag, self.argv0);
        let sent = self
            .syslog
            .as_ref()
            .map(|s| s.send(line.as_bytes()).is_ok())
            .unwrap_or(false);
        if !sent && level == Level::Err {
            self.append_hotplug_log(text);
        }
    }

    fn append_hotplug_log(&self, text: &str) {
        if !self.hotplug_log {
            return;
        }
        let path = crate::paths::log_dir().join("xen-hotplug.log");
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
        {
            let _ = writeln!(f, "{} {text}", self.argv0);
        }
    }

    pub fn debug(&self, text: &str) {
        log::debug!("{text}");
        self.syslog(Level::Debug, text);
    }

    pub fn info(&self, text: &str) {
        log::info!("{text}");
        self.syslog(Level::Debug, text);
    }

    pub fn warn(&self, text: &str) {
        log::warn!("{text}");
        self.syslog(Level::Err, text);
    }

    pub fn error(&self, text: &str) {
        log::error!("{text}");
        self.syslog(Level::Err, text);
        if self.syslog.is_some() {
            self.append_hotplug_log(text);
        }
    }
}

/// XS-03: one write of `hotplug-error` and `hotplug-status=error`.
pub fn write_error(xs: &dyn XenStore, xp: &str, msg: &str) -> Result<(), ExecError> {
    xs.write(&[
        (&join(xp, "hotplug-error"), msg),
        (&join(xp, "hotplug-status"), "error"),
    ])
}

/// The pairs of the success report (XS-04), the last step of a vif's online: `frontend_keys`
/// first, then `hotplug-status = connected`, so the toolstack sees `connected` only when
/// everything else is in place.
pub fn connected_pairs(xp: &str, frontend_keys: &[(String, String)]) -> Vec<(String, String)> {
    let mut pairs = frontend_keys.to_vec();
    pairs.push((join(xp, "hotplug-status"), "connected".to_string()));
    pairs
}
