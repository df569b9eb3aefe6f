//! The run's time budget. libxl kills a hotplug script after 40 s with SIGKILL, leaving no
//! message and no rollback (TS-05), so a vif script gives itself a deadline well inside that, and
//! every wait (a command, a lock) is bounded by what is left of it.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

static DEADLINE: OnceLock<Instant> = OnceLock::new();

/// Starts the budget (once per process).
pub fn start(total: Duration) {
    let _ = DEADLINE.set(Instant::now() + total);
}

/// `limit`, or less when the run's budget has less left (never below 1 s, so a failing step can
/// still say why).
pub fn bound(limit: Duration) -> Duration {
    match DEADLINE.get() {
        Some(d) => limit
            .min(d.saturating_duration_since(Instant::now()))
            .max(Duration::from_secs(1)),
        None => limit,
    }
}
