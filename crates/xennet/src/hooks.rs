//! `vif-post.d` hooks (HK-01, HK-02): every executable `*.hook` in sorted order, each run by bash
//! with the script's variables exported, after the network work and before `connected`.

use crate::exec::Cmd;
use crate::plan::{OnError, Step};

/// The plan steps that run the hooks; `vars` are the variables the hooks may read.
pub fn steps(vars: &[(&str, &str)], on_error: OnError) -> Vec<Step> {
    let dir = crate::paths::script_dir().join("vif-post.d");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut hooks: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "hook") && is_executable(p))
        .collect();
    hooks.sort();
    hooks
        .into_iter()
        .map(|path| {
            let shown = path.display().to_string();
            let mut cmd = Cmd::new("bash").args(["-c", ". \"$1\"", "vif-post-hook", &shown]);
            for (k, v) in vars {
                cmd = cmd.env(k, v);
            }
            Step::run(format!("hook {shown}"), cmd).on_error(on_error)
        })
        .collect()
}

fn is_executable(p: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
