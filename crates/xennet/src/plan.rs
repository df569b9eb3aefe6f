//! A plan: the ordered steps a script will take, each an [`Action`] with the action that undoes
//! it. Planning is pure (a function of the invocation and the host's state); [`crate::apply`]
//! runs plans.

pub use crate::action::Action;
use crate::exec::Cmd;

/// A step that writes a record file, undone by putting back `old`, what the file held (None:
/// there was no file).
pub fn write_record(what: &str, path: &std::path::Path, value: String, old: Option<&str>) -> Step {
    let path_s = path.display().to_string();
    let undo = match old {
        Some(old) => Action::WriteFile {
            path: path_s.clone(),
            value: old.trim_end().to_string(),
        },
        None => Action::RemoveFile {
            path: path_s.clone(),
        },
    };
    Step::new(
        what.to_string(),
        Action::WriteFile {
            path: path_s,
            value,
        },
    )
    .undo_action(undo)
}

/// A step that removes a record file; last in a plan, so nothing can fail after it.
pub fn remove_record(what: &str, path: &std::path::Path) -> Step {
    Step::new(
        what.to_string(),
        Action::RemoveFile {
            path: path.display().to_string(),
        },
    )
}

/// What a failed step means for the whole plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// Stop, undo every step done so far, report.
    Fail,
    /// Log at debug and go on (the originals' tolerated steps).
    Ignore,
    /// Log at err with this text and go on (IPT-09).
    Warn(&'static str),
    /// Teardown: remember the error, go on with the rest, report at the end.
    Collect,
}

#[derive(Clone, Debug)]
pub struct Step {
    /// What the step does, in words: the error names it.
    pub what: String,
    pub action: Action,
    pub undo: Option<Action>,
    pub on_error: OnError,
    /// A lock held while this step runs (LK-02), e.g. `iptables`.
    pub lock: Option<&'static str>,
}

impl Step {
    pub fn new(what: impl Into<String>, action: Action) -> Self {
        Step {
            what: what.into(),
            action,
            undo: None,
            on_error: OnError::Fail,
            lock: None,
        }
    }

    pub fn run(what: impl Into<String>, cmd: Cmd) -> Self {
        Step::new(what, Action::Run(cmd))
    }

    pub fn undo(mut self, cmd: Cmd) -> Self {
        self.undo = Some(Action::Run(cmd));
        self
    }

    pub fn undo_action(mut self, action: Action) -> Self {
        self.undo = Some(action);
        self
    }

    pub fn on_error(mut self, on_error: OnError) -> Self {
        self.on_error = on_error;
        self
    }

    pub fn locked(mut self, lock: &'static str) -> Self {
        self.lock = Some(lock);
        self
    }
}

#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    pub fn extend(&mut self, steps: impl IntoIterator<Item = Step>) {
        self.steps.extend(steps);
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// A teardown goes on past failures and undoes nothing: a vif that is going away is better
    /// cleaned as far as possible than put back (craft: teardown keeps going).
    pub fn teardown(mut self) -> Plan {
        for step in &mut self.steps {
            step.undo = None;
            if step.on_error == OnError::Fail {
                step.on_error = OnError::Collect;
            }
        }
        self
    }

    /// The plan as a shell script: a comment with each step's purpose, then its command.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for step in &self.steps {
            out.push_str(&format!("# {}\n", step.what));
            let mut line = step.action.line();
            match step.on_error {
                OnError::Fail => {}
                // Goes on, but the run still fails at the end (a teardown's steps).
                OnError::Collect => line.push_str(" || failed=1"),
                _ => line.push_str(" || true"),
            }
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::ip;

    #[test]
    fn render_shows_purpose_and_tolerance() {
        let mut p = Plan::default();
        p.push(Step::run(
            "enslave",
            ip(["link", "set", "dev", "vif1.0", "master", "br0"]),
        ));
        p.push(
            Step::run("down", ip(["link", "set", "dev", "vif1.0", "down"]))
                .on_error(OnError::Ignore),
        );
        let r = p.render();
        assert_eq!(
            r,
            "# enslave\nip link set dev vif1.0 master br0\n# down\nip link set dev vif1.0 down || true\n"
        );
    }
}
