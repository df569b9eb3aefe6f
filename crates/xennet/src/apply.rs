//! Runs a plan. A failing step undoes the steps already done, in reverse, and the error names
//! the step; teardown steps collect their errors and go on. Locks named by steps are held while
//! those steps run.

use crate::action::{perform, Action};
use crate::exec::{Cmd, ExecError, Runner};
use crate::journal::Journal;
use crate::lock::{self, Lock};
use crate::plan::{OnError, Plan};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{what} failed: {cause}{}", undone_note(*.undone, .undo_failures))]
    Step {
        what: String,
        /// The command that failed, as a shell line.
        line: String,
        cause: String,
        undone: usize,
        undo_failures: Vec<String>,
    },
    #[error("{}", .0.join("; "))]
    Collected(Vec<String>),
}

fn undone_note(undone: usize, failures: &[String]) -> String {
    let mut s = match undone {
        0 => String::new(),
        1 => "; the 1 step already done was undone".to_string(),
        n => format!("; the {n} steps already done were undone"),
    };
    if !failures.is_empty() {
        s.push_str(&format!(
            " (but undoing failed for: {}: check the host)",
            failures.join("; ")
        ));
    }
    s
}

/// Set by SIGINT/SIGTERM while a plan runs: the step in flight finishes, then the plan is
/// rolled back instead of leaving the host between states.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: nix::libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Has SIGINT or SIGTERM arrived?
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Ignores SIGHUP (a dropped SSH session must not stop a run half-way) and turns SIGINT and
/// SIGTERM into a clean rollback at the next step boundary.
pub fn guard_signals() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    let catch = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        let _ = sigaction(Signal::SIGHUP, &ignore);
        let _ = sigaction(Signal::SIGINT, &catch);
        let _ = sigaction(Signal::SIGTERM, &catch);
    }
}

/// A done step's undo, with the lock the step held (the undo runs under it too).
struct Done {
    undo: Action,
    lock: Option<&'static str>,
}

/// Holds exactly the lock the next step names.
fn hold(
    held: &mut Option<(&'static str, Lock)>,
    want: Option<&'static str>,
) -> Result<(), lock::LockError> {
    if held.as_ref().map(|(n, _)| *n) == want {
        return Ok(());
    }
    *held = None;
    if let Some(name) = want {
        *held = Some((name, lock::claim(name)?));
    }
    Ok(())
}

/// Runs the plan; see the module comment. With a journal, progress is recorded before each step.
pub fn apply(
    plan: &Plan,
    runner: &dyn Runner,
    journal: Option<&Journal>,
) -> Result<(), ApplyError> {
    run(plan, runner, journal, false)
}

/// Like [`apply`], but on success the journal keeps the undo of every step, so that the change
/// can still be rolled back as a whole (`confirm=`: kept only when confirmed).
pub fn apply_pending(
    plan: &Plan,
    runner: &dyn Runner,
    journal: &Journal,
) -> Result<(), ApplyError> {
    run(plan, runner, Some(journal), true)
}

fn run(
    plan: &Plan,
    runner: &dyn Runner,
    journal: Option<&Journal>,
    keep_journal: bool,
) -> Result<(), ApplyError> {
    let mut done: Vec<Done> = Vec::new();
    let mut begun: Vec<Action> = Vec::new();
    let mut collected = Vec::new();
    let mut held: Option<(&'static str, Lock)> = None;

    let steps = &plan.steps;
    let mut i = 0;
    while i < steps.len() {
        let step = &steps[i];
        if INTERRUPTED.load(Ordering::SeqCst) {
            drop(held.take());
            return Err(fail(
                "the run".into(),
                String::new(),
                "interrupted by a signal".into(),
                &done,
                runner,
                journal,
            ));
        }
        // A lock that cannot be had is a stuck host, not a tolerable command failure: it fails
        // the run (a teardown records it and goes on).
        if let Err(cause) = hold(&mut held, step.lock).map_err(|e| e.to_string()) {
            if step.on_error == OnError::Collect {
                collected.push(format!("{} failed: {cause}", step.what));
                i += 1;
                continue;
            }
            return Err(fail(
                step.what.clone(),
                String::new(),
                cause,
                &done,
                runner,
                journal,
            ));
        }
        let end = if runner.batches_ip() {
            batch_end(steps, i)
        } else {
            i + 1
        };
        let group = &steps[i..end];
        if let Some(j) = journal {
            begun.extend(group.iter().filter_map(|s| s.undo.clone()));
            if let Err(e) = j.record(&begun) {
                log::warn!("could not write journal {}: {e}", j.path().display());
            }
        }
        // `group[ran]` is the step whose outcome follows; the steps before it ran. A batch that
        // failed without naming its line (killed, timed out) may have run any line: all count
        // as done (a rollback undoes them all), and the failure is that of the first step whose
        // failure counts (it fails the run, or a teardown's).
        let (ran, outcome, all_ran) = if group.len() == 1 {
            log::debug!("step: {}", step.what);
            (
                0,
                perform(&step.action, runner).map_err(|e| e.to_string()),
                false,
            )
        } else {
            match perform_batch(group, runner) {
                Batched::Ran(n, outcome) => (n, outcome, false),
                Batched::Unknown(cause) => {
                    let k = group
                        .iter()
                        .position(|s| matches!(s.on_error, OnError::Fail | OnError::Collect))
                        .unwrap_or(0);
                    (k, Err(cause), true)
                }
            }
        };
        let undo_of =
            |s: &crate::plan::Step| s.undo.clone().map(|undo| Done { undo, lock: s.lock });
        let ran_for_sure = if all_ran { group } else { &group[..ran] };
        done.extend(ran_for_sure.iter().filter_map(undo_of));
        let step = &group[ran];
        match outcome {
            Ok(()) => done.extend(undo_of(step)),
            Err(cause) => match step.on_error {
                OnError::Ignore => log::debug!("{} failed (tolerated): {cause}", step.what),
                OnError::Warn(text) => {
                    log::error!("{text}");
                    log::debug!("{} failed: {cause}", step.what);
                }
                OnError::Collect => collected.push(format!("{} failed: {cause}", step.what)),
                OnError::Fail => {
                    drop(held.take());
                    return Err(fail(
                        step.what.clone(),
                        step.action.line(),
                        cause,
                        &done,
                        runner,
                        journal,
                    ));
                }
            },
        }
        i = if all_ran { end } else { i + ran + 1 };
    }
    drop(held);
    if let Some(j) = journal {
        if keep_journal {
            let undo: Vec<Action> = done.into_iter().map(|d| d.undo).collect();
            if let Err(e) = j.record(&undo) {
                log::warn!("could not write journal {}: {e}", j.path().display());
            }
        } else {
            j.clear();
        }
    }
    if collected.is_empty() {
        Ok(())
    } else {
        Err(ApplyError::Collected(collected))
    }
}

/// The programs whose commands share one `-batch -` process: `ip` (link changes) and `bridge`
/// (a port's VLANs, issue 19). Both stop at the first failing line and name it.
const BATCHED: &[&str] = &["ip", "bridge"];

/// The plain `ip` or `bridge` command of an action, if `<program> -batch` can run it as one of
/// its lines: no environment, no input, no global option, and no word its line parser would
/// split or quote. `ip neigh` never is: when the kernel refuses it (a neighbour already gone),
/// `ip -batch` stops without naming the line, so the lines after it would not run and its
/// failure would be taken for theirs.
fn batchable(action: &Action) -> Option<&Cmd> {
    let Action::Run(cmd) = action else {
        return None;
    };
    let plain = |w: &String| {
        !w.is_empty()
            && !w
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '#'))
    };
    (BATCHED.contains(&cmd.program.as_str())
        && cmd.env.is_empty()
        && cmd.stdin.is_none()
        && cmd.args.first().is_some_and(|a| !a.starts_with('-'))
        && !(cmd.program == "ip" && cmd.args.first().is_some_and(|a| a == "neigh"))
        && cmd.args.iter().all(plain))
    .then_some(cmd)
}

/// The end of the run of steps from `i` that can share one `-batch` process (same program,
/// same lock).
fn batch_end(steps: &[crate::plan::Step], i: usize) -> usize {
    let Some(first) = batchable(&steps[i].action) else {
        return i + 1;
    };
    let mut end = i;
    while end < steps.len()
        && steps[end].lock == steps[i].lock
        && batchable(&steps[end].action).is_some_and(|c| c.program == first.program)
    {
        end += 1;
    }
    end.max(i + 1)
}

/// Runs the group as one `ip -batch -` (or `bridge -batch -`): one process for several
/// changes. Both stop at the first failing line and name it (`Command failed -:N`), so the
/// steps before it are known to have run.
enum Batched {
    /// How many steps ran, and the outcome of the next one.
    Ran(usize, Result<(), String>),
    /// The batch failed without naming a line (killed, timed out, not started).
    Unknown(String),
}

fn perform_batch(group: &[crate::plan::Step], runner: &dyn Runner) -> Batched {
    let mut text = String::new();
    let mut program = "ip";
    for s in group {
        log::debug!("step: {} (batched)", s.what);
        let cmd = batchable(&s.action).expect("a batch holds batchable steps");
        program = cmd.program.as_str();
        text.push_str(&cmd.args.join(" "));
        text.push('\n');
    }
    match runner.run(&Cmd::new(program).args(["-batch", "-"]).stdin(text)) {
        Ok(_) => Batched::Ran(group.len() - 1, Ok(())),
        Err(ExecError::Failed { stderr, how, .. }) => {
            let line = stderr
                .lines()
                .filter_map(|l| l.strip_prefix("Command failed -:"))
                .find_map(|n| n.trim().parse::<usize>().ok())
                .filter(|n| (1..=group.len()).contains(n));
            let cause: Vec<&str> = stderr
                .lines()
                .filter(|l| !l.starts_with("Command failed -:"))
                .collect();
            let cause = if cause.is_empty() {
                how
            } else {
                format!("{how}: {}", cause.join("; "))
            };
            match line {
                Some(n) => Batched::Ran(n - 1, Err(cause)),
                None => Batched::Unknown(cause),
            }
        }
        Err(e) => Batched::Unknown(e.to_string()),
    }
}

/// Undoes the done steps in reverse, each under the lock its step held. Undo actions that fail
/// stay in the journal, so the next run tries them again.
fn fail(
    what: String,
    line: String,
    cause: String,
    done: &[Done],
    runner: &dyn Runner,
    journal: Option<&Journal>,
) -> ApplyError {
    let mut undo_failures = Vec::new();
    let mut left = Vec::new();
    let mut held: Option<(&'static str, Lock)> = None;
    for d in done.iter().rev() {
        let result = hold(&mut held, d.lock)
            .map_err(|e| e.to_string())
            .and_then(|()| perform(&d.undo, runner).map_err(|e| e.to_string()));
        if let Err(e) = result {
            undo_failures.push(format!("`{}`: {e}", d.undo.line()));
            left.insert(0, d.undo.clone());
        }
    }
    drop(held);
    if let Some(j) = journal {
        if left.is_empty() {
            j.clear();
        } else if let Err(e) = j.record(&left) {
            log::warn!("could not write journal {}: {e}", j.path().display());
        }
    }
    ApplyError::Step {
        what,
        line,
        cause,
        undone: done.len(),
        undo_failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::{ip, Recorder};
    use crate::plan::Step;

    fn plan() -> Plan {
        let mut p = Plan::default();
        p.push(Step::run("create br", ip(["link", "add", "br0"])).undo(ip(["link", "del", "br0"])));
        p.push(
            Step::run("tolerated", ip(["link", "set", "x", "address", "a"]))
                .on_error(OnError::Ignore),
        );
        p.push(
            Step::run(
                "enslave",
                ip(["link", "set", "dev", "eth0", "master", "br0"]),
            )
            .undo(ip(["link", "set", "dev", "eth0", "nomaster"])),
        );
        p.push(
            Step::run("up", ip(["link", "set", "dev", "br0", "up"]))
                .undo(ip(["link", "set", "dev", "br0", "down"])),
        );
        p
    }

    #[test]
    fn success_runs_every_step_in_order() {
        let r = Recorder::default();
        apply(&plan(), &r, None).unwrap();
        assert_eq!(r.lines.borrow().len(), 4);
    }

    #[test]
    fn failure_undoes_done_steps_in_reverse_and_names_the_step() {
        let r = Recorder::default();
        *r.fail_when.borrow_mut() = Some("br0 up".into());
        let err = apply(&plan(), &r, None).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("up failed: exited with status 2: injected failure"),
            "{msg}"
        );
        assert!(
            msg.contains("the 2 steps already done were undone"),
            "{msg}"
        );
        let lines = r.lines.borrow();
        assert_eq!(
            &lines[4..],
            &[
                "ip link set dev eth0 nomaster".to_string(),
                "ip link del br0".to_string()
            ]
        );
    }

    #[test]
    fn ip_steps_share_one_batch_and_a_failing_line_rolls_back_the_lines_before_it() {
        let r = Recorder {
            batch_ip: true,
            ..Default::default()
        };
        apply(&plan(), &r, None).unwrap();
        assert_eq!(r.lines.borrow().len(), 1, "{:?}", r.lines.borrow());
        assert!(r.lines.borrow()[0].starts_with("ip -batch - <<'EOF'\nlink add br0\n"));

        let r = Recorder {
            batch_ip: true,
            ..Default::default()
        };
        *r.fail_when.borrow_mut() = Some("br0 up".into());
        let msg = apply(&plan(), &r, None).unwrap_err().to_string();
        assert!(
            msg.starts_with("up failed: exited with status 1: injected failure"),
            "{msg}"
        );
        assert!(
            msg.contains("the 2 steps already done were undone"),
            "{msg}"
        );
        // The undos are a batch of their own steps' kind: run one by one, in reverse.
        assert_eq!(
            &r.lines.borrow()[1..],
            &["ip link set dev eth0 nomaster", "ip link del br0"]
        );

        // A tolerated failure in the middle: the rest runs in a second batch.
        let r = Recorder {
            batch_ip: true,
            ..Default::default()
        };
        *r.fail_when.borrow_mut() = Some("address".into());
        apply(&plan(), &r, None).unwrap();
        let lines = r.lines.borrow();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].contains("\nlink set dev eth0 master br0\nlink set dev br0 up\n"));
    }

    #[test]
    fn ip_neigh_runs_as_a_process_of_its_own_between_batches() {
        let link = |dev: &str| {
            Step::run(
                format!("up {dev}"),
                Cmd::new("ip").args(["link", "set", "dev", dev, "up"]),
            )
        };
        let mut p = plan();
        p.push(link("a"));
        p.push(Step::run(
            "neighbour",
            Cmd::new("ip").args(["neigh", "del", "192.0.2.51", "dev", "xenbr0"]),
        ));
        p.push(link("b"));
        p.push(link("c"));
        let r = Recorder {
            batch_ip: true,
            ..Default::default()
        };
        apply(&p, &r, None).unwrap();
        let lines = r.lines.borrow().clone();
        let tail = &lines[lines.len() - 3..];
        // The plan's own ip steps and "a" in one batch, which the neighbour ends.
        assert!(tail[0].ends_with("link set dev a up\nEOF"), "{lines:?}");
        assert_eq!(tail[1], "ip neigh del 192.0.2.51 dev xenbr0");
        assert_eq!(
            tail[2],
            "ip -batch - <<'EOF'\nlink set dev b up\nlink set dev c up\nEOF"
        );
    }

    #[test]
    fn bridge_steps_share_their_own_batch() {
        let mut p = plan();
        p.push(
            Step::run(
                "vlan 10",
                Cmd::new("bridge").args(["vlan", "add", "dev", "eth0", "vid", "10"]),
            )
            .undo(Cmd::new("bridge").args(["vlan", "del", "dev", "eth0", "vid", "10"])),
        );
        p.push(
            Step::run(
                "vlan 1",
                Cmd::new("bridge").args(["vlan", "del", "dev", "eth0", "vid", "1"]),
            )
            .undo(Cmd::new("bridge").args(["vlan", "add", "dev", "eth0", "vid", "1", "pvid"])),
        );
        let r = Recorder {
            batch_ip: true,
            ..Default::default()
        };
        apply(&p, &r, None).unwrap();
        let lines = r.lines.borrow().clone();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(
            lines[1],
            "bridge -batch - <<'EOF'\nvlan add dev eth0 vid 10\nvlan del dev eth0 vid 1\nEOF"
        );
        // The second bridge line fails: its first line and every ip step are undone.
        let r = Recorder {
            batch_ip: true,
            ..Default::default()
        };
        *r.fail_when.borrow_mut() = Some("del dev eth0 vid 1".into());
        let msg = apply(&p, &r, None).unwrap_err().to_string();
        assert!(msg.starts_with("vlan 1 failed"), "{msg}");
        assert!(
            msg.contains("the 4 steps already done were undone"),
            "{msg}"
        );
        assert_eq!(r.lines.borrow()[2], "bridge vlan del dev eth0 vid 10");
    }

    #[test]
    fn a_batch_killed_without_naming_its_line_undoes_all_of_it() {
        let r = Recorder {
            batch_ip: true,
            ..Default::default()
        };
        *r.fail_when.borrow_mut() = Some("ip -batch".into());
        let msg = apply(&plan(), &r, None).unwrap_err().to_string();
        // The first step that may not fail names the failure; every undo runs, in reverse.
        assert!(msg.starts_with("create br failed"), "{msg}");
        assert_eq!(
            &r.lines.borrow()[1..],
            &[
                "ip link set dev br0 down",
                "ip link set dev eth0 nomaster",
                "ip link del br0"
            ]
        );
    }

    #[test]
    fn tolerated_failure_goes_on() {
        let r = Recorder::default();
        *r.fail_when.borrow_mut() = Some("address".into());
        apply(&plan(), &r, None).unwrap();
    }

    #[test]
    fn collected_errors_do_not_stop_teardown() {
        let mut p = Plan::default();
        p.push(Step::run("a", ip(["a"])).on_error(OnError::Collect));
        p.push(Step::run("b", ip(["b"])).on_error(OnError::Collect));
        let r = Recorder::default();
        *r.fail_when.borrow_mut() = Some("ip a".into());
        let err = apply(&p, &r, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a failed: exited with status 2: injected failure"
        );
        assert_eq!(r.lines.borrow().len(), 2);
    }

    #[test]
    fn journal_lets_the_next_run_undo_a_killed_run() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::at(dir.path().join("test-journal.journal"), "test-journal");
        // Simulate a run killed after beginning two steps.
        j.record(&[
            Action::Run(ip(["link", "del", "br0"])),
            Action::Run(ip(["link", "set", "dev", "eth0", "nomaster"])),
        ])
        .unwrap();
        let r = Recorder::default();
        assert_eq!(j.recover(&r).unwrap(), Some(2));
        assert_eq!(
            *r.lines.borrow(),
            vec!["ip link set dev eth0 nomaster", "ip link del br0"]
        );
        assert!(!j.exists());
        assert_eq!(j.recover(&r).unwrap(), None);
    }
}
