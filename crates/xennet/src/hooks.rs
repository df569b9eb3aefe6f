//! `vif-post.d` hooks (HK-01, HK-02): every executable `*.hook` in sorted order, each run by bash
//! with the script's variables exported, after the network work and before `connected`.

use crate::error::Result;
use crate::exec::Cmd;
use crate::plan::{OnError, Step};
use crate::snapshot::Snapshot;

/// The plan steps that run the hooks; `vars` are the variables the hooks may read.
pub fn steps(vars: &[(&str, &str)], on_error: OnError, snap: &Snapshot) -> Result<Vec<Step>> {
    let dir = crate::paths::script_dir().join("vif-post.d");
    Ok(snap
        .executables(&dir, "hook")?
        .iter()
        .map(|path| {
            let shown = path.display().to_string();
            let mut cmd = Cmd::new("bash").args(["-c", ". \"$1\"", "vif-post-hook", &shown]);
            for (k, v) in vars {
                cmd = cmd.env(k, v);
            }
            Step::run(format!("hook {shown}"), cmd).on_error(on_error)
        })
        .collect())
}
