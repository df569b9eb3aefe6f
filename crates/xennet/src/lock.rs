//! The originals' lock protocol (spec §2.5, LK-01…LK-05), so that our scripts and Xen's shell
//! scripts serialise against each other on one host: open the file with O_CREAT, `flock(LOCK_EX)`,
//! check that the locked inode is still the one at the path, retry if not; release by unlinking.
//! Unlike the original, the wait is bounded, so a stuck holder cannot push us past libxl's 40 s.

use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A held lock; dropping it releases the lock.
pub struct Lock {
    path: PathBuf,
    _file: Flock<File>,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("could not open lock file {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("waited {secs} s for the lock {path}, which another script holds; try again, or find the stuck process with `fuser {path}`")]
    Timeout { path: String, secs: u64 },
}

/// The bound on a lock wait: well under libxl's 40 s script limit (LK-05, TS-05).
pub fn default_timeout() -> Duration {
    let secs = std::env::var("XENNET_LOCK_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

fn same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Claims `<dir>/<name>` (LK-03).
pub fn claim_in(dir: &Path, name: &str, timeout: Duration) -> Result<Lock, LockError> {
    let path = dir.join(name);
    let shown = path.display().to_string();
    std::fs::create_dir_all(dir).map_err(|source| LockError::Open {
        path: shown.clone(),
        source,
    })?;
    let began = Instant::now();
    let deadline = began + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| LockError::Open {
                path: shown.clone(),
                source,
            })?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => {
                if same_file(&locked, &path) {
                    // The wait and its bound, for the concurrency tests (issue 6) and post-mortems.
                    log::debug!(
                        "lock {shown} claimed after {} ms (bound {} ms)",
                        began.elapsed().as_millis(),
                        timeout.as_millis()
                    );
                    return Ok(Lock {
                        path,
                        _file: locked,
                    });
                }
                // The holder released (unlinked) between our open and our flock: go round again.
                continue;
            }
            Err((_file, _errno)) => {
                if Instant::now() >= deadline {
                    return Err(LockError::Timeout {
                        path: shown,
                        secs: timeout.as_secs(),
                    });
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
        }
    }
}

/// Claims a lock of the given name in the shared lock directory.
pub fn claim(name: &str) -> Result<Lock, LockError> {
    claim_in(
        &crate::paths::lock_dir(),
        name,
        crate::budget::bound(default_timeout()),
    )
}

impl Drop for Lock {
    /// LK-04: unlink the path, then close (the flock on the unlinked inode ends with the fd).
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        log::debug!("lock {} released", self.path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_claimer_waits_then_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let held = claim_in(dir.path(), "iptables", Duration::from_secs(1)).unwrap();
        let err = claim_in(dir.path(), "iptables", Duration::from_millis(100))
            .err()
            .unwrap();
        assert!(err.to_string().contains("iptables"), "{err}");
        drop(held);
        assert!(
            !dir.path().join("iptables").exists(),
            "release unlinks the file"
        );
        let again = claim_in(dir.path(), "iptables", Duration::from_millis(100));
        assert!(again.is_ok());
    }

    #[test]
    fn serialises_against_the_shell_protocol() {
        // A holder using flock(1) on the same path, as locking.sh does (LK-05).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("network-bridge");
        let mut child = std::process::Command::new("flock")
            .arg(&path)
            .args(["sleep", "0.4"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150));
        let start = Instant::now();
        let lock = claim_in(dir.path(), "network-bridge", Duration::from_secs(5)).unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(150),
            "waited for the shell holder"
        );
        drop(lock);
        child.wait().unwrap();
    }
}
