//! What a plan step does to the host, as data ([`Action`]), and doing it ([`perform`]). Below
//! both [`crate::apply`], which runs plans, and [`crate::journal`], which replays the undo
//! actions of a run that was killed: neither needs the other.

use crate::exec::{Cmd, ExecError, Runner};
use crate::fileedit;
use serde::{Deserialize, Serialize};

/// One change to the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Run(Cmd),
    /// Write a value into a file, e.g. a sysctl under /proc/sys.
    WriteFile {
        path: String,
        value: String,
    },
    /// Wait until a link reports carrier, printing progress as network-bridge does (NB-12).
    WaitRunning {
        dev: String,
        secs: u32,
    },
    /// Remove a file (a record that is no longer true); a missing file is fine.
    RemoveFile {
        path: String,
    },
    /// Make `line` the only line of a file starting with `key` (none, when None).
    SetLine {
        path: String,
        key: String,
        line: Option<String>,
    },
    /// Add or remove `word` in the space-separated lists that the `name=value` lines of a
    /// file give to any of `vars` (an init script's interface lists).
    ListWord {
        path: String,
        vars: Vec<String>,
        word: String,
        present: bool,
    },
    /// Run `cmd` unless `check` succeeds: an undo that is harmless when the step it undoes never
    /// happened (a journal's in-flight step), e.g. re-inserting a rule only if it is absent.
    RunUnless {
        check: Cmd,
        cmd: Cmd,
    },
    /// Run `cmd` only if `check` succeeds: a removal that is harmless when the thing is gone.
    RunIf {
        check: Cmd,
        cmd: Cmd,
    },
    /// `then` when the directory `members` has no entries: what removes a shared thing (our
    /// nftables table) once its last user is gone.
    IfUnused {
        members: String,
        then: Box<Action>,
    },
    /// The first action; when it fails, the second (the slow path, for when the fast one
    /// cannot work, e.g. our table is missing).
    Either(Box<Action>, Box<Action>),
    /// When the directory `dir` holds at least `at_least` files: `cmd` fed their contents,
    /// then the files removed, also when `cmd` failed (what they describe is then left for the
    /// removal of the whole table). Work queued by many runs, done by one.
    Drain {
        dir: String,
        at_least: usize,
        cmd: Option<Cmd>,
    },
    /// Several actions in order; the first failure stops the rest.
    Seq(Vec<Action>),
    /// Write xenstore keys (path, value) in one round, through the runner: one transaction
    /// over xenstored's connection, or one `xenstore-write`.
    XenstoreWrite(Vec<(String, String)>),
    /// Add elements to our nftables table of `family` in one transaction, through the runner:
    /// an nfnetlink batch of its own where it can, else `nft -f -` (issue 17).
    NftAdd {
        family: String,
        elements: Vec<crate::nft_elements::Element>,
    },
}

impl Action {
    /// The action as a shell line, for `--dry-run` and logs.
    pub fn line(&self) -> String {
        match self {
            Action::Run(c) => c.line(),
            Action::WriteFile { path, value } => {
                format!("echo {} > {}", shell_words::quote(value), shell_words::quote(path))
            }
            Action::WaitRunning { dev, secs } => format!(
                "for i in $(seq {secs}); do grep -q 1 /sys/class/net/{dev}/carrier && break; sleep 1; done"
            ),
            Action::RemoveFile { path } => format!("rm -f {}", shell_words::quote(path)),
            Action::SetLine { path, key, line } => {
                let p = shell_words::quote(path);
                let del = format!("sed -i {} {p}", shell_words::quote(&format!("/^[[:space:]]*{}/d", sed_escape(key))));
                match line {
                    Some(l) => format!("{del} && echo {} >> {p}", shell_words::quote(l)),
                    None => del,
                }
            }
            Action::RunUnless { check, cmd } => format!("{} || {}", check.line(), cmd.line()),
            Action::RunIf { check, cmd } => format!("{} && {}", check.line(), cmd.line()),
            Action::IfUnused { members, then } => format!(
                "[ -n \"$(ls -A {})\" ] || {{ {}; }}",
                shell_words::quote(members),
                then.line()
            ),
            Action::Either(first, second) => format!("{} || {}", first.line(), second.line()),
            Action::Drain {
                dir,
                at_least,
                cmd,
            } => {
                let d = shell_words::quote(dir);
                let feed = cmd
                    .as_ref()
                    .map(|c| format!("cat {d}/* | {} ; ", c.line()))
                    .unwrap_or_default();
                format!("[ $(ls {d} | wc -l) -ge {at_least} ] && {{ {feed}rm -f {d}/*; }}")
            }
            Action::Seq(all) => all.iter().map(Action::line).collect::<Vec<_>>().join(" && "),
            Action::XenstoreWrite(pairs) => {
                crate::exec::xenstore_write(pairs.iter().map(|(p, v)| (p.as_str(), v.as_str())))
                    .line()
            }
            Action::NftAdd { family, elements } => crate::exec::nft_add(family, elements).line(),
            Action::ListWord {
                path,
                vars,
                word,
                present,
            } => format!(
                "# {} {word} {} the lists {} of {path}",
                if *present { "add" } else { "remove" },
                if *present { "to" } else { "from" },
                vars.join(", ")
            ),
        }
    }
}

fn sed_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '/' | '.' | '[' | ']' | '*' | '^' | '$' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

/// Why an action failed: the command's own words where it has some.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// A command that failed and said why on stderr.
    #[error("{how}: {stderr}")]
    Said { how: String, stderr: String },
    #[error(transparent)]
    Exec(ExecError),
    #[error("{verb} {path}: {source}")]
    File {
        verb: &'static str,
        path: String,
        source: std::io::Error,
    },
}

fn file_error(verb: &'static str, path: &str) -> impl FnOnce(std::io::Error) -> ActionError {
    let path = path.to_string();
    move |source| ActionError::File { verb, path, source }
}

/// A failed command as an action's error: what it said on stderr, when it said anything.
fn command_failed(e: ExecError) -> ActionError {
    match e {
        ExecError::Failed { stderr, how, .. } if !stderr.is_empty() => {
            ActionError::Said { how, stderr }
        }
        other => ActionError::Exec(other),
    }
}

/// Performs one action.
pub fn perform(action: &Action, runner: &dyn Runner) -> Result<(), ActionError> {
    let run = |cmd| runner.run(cmd).map(|_| ()).map_err(command_failed);
    match action {
        Action::Run(cmd) => run(cmd),
        Action::RunIf { check, cmd } => match runner.run(check) {
            Ok(_) => run(cmd),
            Err(_) => Ok(()),
        },
        Action::IfUnused { members, then } => {
            let in_use = std::fs::read_dir(members).is_ok_and(|mut d| d.next().is_some());
            if in_use {
                return Ok(());
            }
            perform(then, runner)
        }
        Action::Either(first, second) => perform(first, runner).or_else(|e| {
            log::debug!("{e}: taking the slower way");
            perform(second, runner)
        }),
        Action::Drain { dir, at_least, cmd } => drain(dir, *at_least, cmd.as_ref(), runner),
        Action::Seq(all) => all.iter().try_for_each(|a| perform(a, runner)),
        Action::XenstoreWrite(pairs) => runner.xenstore_write(pairs).map_err(command_failed),
        Action::NftAdd { family, elements } => {
            runner.nft_add(family, elements).map_err(command_failed)
        }
        Action::RunUnless { check, cmd } => match runner.run(check) {
            Ok(_) => Ok(()),
            Err(_) => run(cmd),
        },
        Action::WriteFile { path, value } => {
            log::debug!("write {value} > {path}");
            if let Some(dir) = std::path::Path::new(path).parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            std::fs::write(path, format!("{value}\n")).map_err(file_error("writing", path))
        }
        Action::WaitRunning { dev, secs } => {
            wait_running(dev, *secs);
            Ok(())
        }
        Action::RemoveFile { path } => match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(file_error("removing", path)(e))
            }
            _ => Ok(()),
        },
        Action::SetLine { path, key, line } => {
            fileedit::set_line(std::path::Path::new(path), key, line.as_deref())
                .map(|_| ())
                .map_err(file_error("editing", path))
        }
        Action::ListWord {
            path,
            vars,
            word,
            present,
        } => fileedit::set_list_word(std::path::Path::new(path), vars, word, *present)
            .map_err(file_error("editing", path)),
    }
}

fn drain(
    dir: &str,
    at_least: usize,
    cmd: Option<&Cmd>,
    runner: &dyn Runner,
) -> Result<(), ActionError> {
    let mut files: Vec<std::path::PathBuf> = match std::fs::read_dir(dir) {
        Ok(d) => d.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => return Ok(()),
    };
    if files.is_empty() || files.len() < at_least {
        return Ok(());
    }
    files.sort();
    let result = match cmd {
        Some(cmd) => {
            let mut input = String::new();
            for f in &files {
                input.push_str(&std::fs::read_to_string(f).unwrap_or_default());
            }
            runner
                .run(&cmd.clone().stdin(input))
                .map(|_| ())
                .map_err(ActionError::Exec)
        }
        None => Ok(()),
    };
    for f in &files {
        let _ = std::fs::remove_file(f);
    }
    result
}

/// NB-12: print the original's progress line and dots while waiting for carrier.
fn wait_running(dev: &str, secs: u32) {
    use std::io::Write;
    let carrier = crate::paths::sys_class_net().join(dev).join("carrier");
    let mut out = std::io::stdout();
    let _ = write!(out, "Waiting for {dev} to negotiate link.");
    let _ = out.flush();
    let mut up = false;
    for tick in 0..secs.max(1) * 10 {
        if std::fs::read_to_string(&carrier)
            .map(|s| s.trim() == "1")
            .unwrap_or(false)
        {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        if tick % 10 == 9 {
            let _ = write!(out, ".");
            let _ = out.flush();
        }
    }
    if !up {
        let _ = write!(out, "(link isnt in running state)");
    }
    let _ = writeln!(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Recorder;

    #[test]
    fn run_unless_runs_only_when_the_check_fails() {
        let undo = Action::RunUnless {
            check: Cmd::new("iptables").args(["-C", "FORWARD", "-j", "DROP"]),
            cmd: Cmd::new("iptables").args(["-I", "FORWARD", "1", "-j", "DROP"]),
        };
        let present = Recorder::default();
        perform(&undo, &present).unwrap();
        assert_eq!(*present.lines.borrow(), ["iptables -C FORWARD -j DROP"]);
        let absent = Recorder::default();
        *absent.fail_when.borrow_mut() = Some("-C".into());
        perform(&undo, &absent).unwrap();
        assert_eq!(
            *absent.lines.borrow(),
            [
                "iptables -C FORWARD -j DROP",
                "iptables -I FORWARD 1 -j DROP"
            ]
        );
    }
}
