//! Safe remote change (`confirm=SECONDS`), as `netplan try` and a router's `commit confirmed` do
//! it: after applying, the run waits for `<script> confirm` from a second shell; if none comes in
//! time (the administrator lost the connection), the change is rolled back from the journal.

use std::path::PathBuf;
use std::time::{Duration, Instant};

fn pending(script: &str) -> PathBuf {
    crate::paths::state_dir().join(format!("{script}.pending"))
}

fn confirmed(script: &str) -> PathBuf {
    crate::paths::state_dir().join(format!("{script}.confirmed"))
}

/// Waits up to `secs` for a confirmation; true when it came. A signal ends the wait unconfirmed.
pub fn wait(script: &str, secs: u64) -> bool {
    let _ = std::fs::create_dir_all(crate::paths::state_dir());
    let _ = std::fs::remove_file(confirmed(script));
    let _ = std::fs::write(pending(script), format!("{}\n", std::process::id()));
    println!(
        "Applied. Run `{script} confirm` within {secs} s to keep this change; otherwise it is rolled back."
    );
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut ok = false;
    while Instant::now() < deadline && !crate::apply::interrupted() {
        if confirmed(script).exists() {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(confirmed(script));
    let _ = std::fs::remove_file(pending(script));
    ok
}

/// Why a confirmation did not get through.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    #[error("nothing to confirm: no {0} change is waiting for confirmation")]
    NothingPending(String),
    #[error("cannot confirm: {0}")]
    Write(#[from] std::io::Error),
    #[error("the waiting {0} run did not answer; if it was killed, its change is undone by the next {0} start or stop")]
    NoAnswer(String),
}

/// `<script> confirm`: tells the waiting run to keep its change.
pub fn confirm(script: &str) -> Result<String, ConfirmError> {
    if !pending(script).exists() {
        return Err(ConfirmError::NothingPending(script.to_string()));
    }
    std::fs::write(confirmed(script), "")?;
    for _ in 0..50 {
        if !pending(script).exists() {
            return Ok(format!("Confirmed: {script} keeps the change."));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(ConfirmError::NoAnswer(script.to_string()))
}
