//! xenstore access through the `xenstore-*` command-line clients (spec §2.4), so it works
//! wherever the host's own tools work. Paths are passed as given: a relative `XENBUS_PATH` is
//! resolved by xenstored against the caller's home (XS-09).

use crate::exec::{Cmd, ExecError, Runner};

pub trait XenStore {
    /// The value of a key, or None when it is missing (or unreadable).
    fn read(&self, path: &str) -> Result<Option<String>, ExecError>;
    /// Writes all pairs in one call.
    fn write(&self, pairs: &[(&str, &str)]) -> Result<(), ExecError>;
}

/// Joins a key onto a directory path.
pub fn join(dir: &str, key: &str) -> String {
    format!("{}/{key}", dir.trim_end_matches('/'))
}

/// The production implementation: `xenstore-read`, `xenstore-write`.
pub struct Cli<'a> {
    pub runner: &'a dyn Runner,
}

impl XenStore for Cli<'_> {
    fn read(&self, path: &str) -> Result<Option<String>, ExecError> {
        match self.runner.run(&Cmd::new("xenstore-read").arg(path)) {
            Ok(out) => Ok(Some(out.strip_suffix('\n').unwrap_or(&out).to_string())),
            Err(ExecError::Failed { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn write(&self, pairs: &[(&str, &str)]) -> Result<(), ExecError> {
        self.runner.run(&write_cmd(pairs)).map(|_| ())
    }
}

/// The `xenstore-write` command for the pairs (also used as a plan step).
pub fn write_cmd(pairs: &[(&str, &str)]) -> Cmd {
    let mut c = Cmd::new("xenstore-write");
    for (p, v) in pairs {
        c = c.arg(*p).arg(*v);
    }
    c
}

/// An in-memory store for unit tests.
#[derive(Default)]
pub struct Memory {
    pub keys: std::cell::RefCell<std::collections::BTreeMap<String, String>>,
}

impl XenStore for Memory {
    fn read(&self, path: &str) -> Result<Option<String>, ExecError> {
        Ok(self.keys.borrow().get(path).cloned())
    }

    fn write(&self, pairs: &[(&str, &str)]) -> Result<(), ExecError> {
        let mut k = self.keys.borrow_mut();
        for (p, v) in pairs {
            k.insert(p.to_string(), v.to_string());
        }
        Ok(())
    }
}
