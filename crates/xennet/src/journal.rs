//! A write-ahead record of a long plan's progress (DESIGN: apply). Before each step, the undo
//! actions of every step begun so far are written down; a run killed half-way leaves the file
//! behind, and the next run undoes those steps in reverse before doing anything else, so dom0
//! is never left between states.

use crate::action::{self, Action};
use crate::exec::Runner;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Serialize, Deserialize)]
struct Record {
    script: String,
    pid: u32,
    /// Undo actions of the steps begun, in the order they were begun.
    undo: Vec<Action>,
}

pub struct Journal {
    path: PathBuf,
    script: String,
}

impl Journal {
    /// The journal of one host-wide operation, e.g. `network-bridge` on bridge `eth0`.
    pub fn new(name: &str) -> Journal {
        Journal {
            path: crate::paths::state_dir().join(format!("{name}.journal")),
            script: name.to_string(),
        }
    }

    /// A journal at an explicit place (tests: the process environment is shared by them all).
    pub fn at(path: PathBuf, name: &str) -> Journal {
        Journal {
            path,
            script: name.to_string(),
        }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// Records the undo actions of the steps begun so far (atomically: write, then rename).
    pub fn record(&self, undo: &[Action]) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let rec = Record {
            script: self.script.clone(),
            pid: std::process::id(),
            undo: undo.to_vec(),
        };
        let tmp = self.path.with_extension("journal.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec(&rec).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(&tmp, &self.path)
    }

    pub fn clear(&self) {
        let _ = std::fs::remove_file(&self.path);
    }

    /// If an earlier run died half-way, undoes what it did and returns how many steps it undid.
    /// Undo actions are written so that undoing a step that never happened is harmless, so every
    /// one is run and failures are only logged.
    pub fn recover(&self, runner: &dyn Runner) -> anyhow::Result<Option<usize>> {
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(anyhow::anyhow!(
                    "reading journal {}: {e}",
                    self.path.display()
                ))
            }
        };
        let rec: Record = serde_json::from_slice(&text).map_err(|e| {
            anyhow::anyhow!(
                "journal {} is unreadable ({e}); inspect it, repair the host by hand, then delete it",
                self.path.display()
            )
        })?;
        log::warn!(
            "a {} run (pid {}) was interrupted; undoing its {} steps from {}",
            rec.script,
            rec.pid,
            rec.undo.len(),
            self.path.display()
        );
        for action in rec.undo.iter().rev() {
            if let Err(e) = action::perform(action, runner) {
                log::debug!("recovery step `{}` failed (ignored): {e}", action.line());
            }
        }
        self.clear();
        Ok(Some(rec.undo.len()))
    }
}
