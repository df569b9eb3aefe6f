//! What stops a script, as types. Every variant carries the sentence the user sees (the same
//! sentences as before they were typed), and which kind of trouble it is decides what the
//! dispatcher does: an [`Error::Unread`] is not trouble at all but the planner asking for a fact
//! of the host, which is read before planning again.

use crate::facts::Fact;
pub use crate::validate::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value given (argument, environment, xenstore key, the config file) is malformed; the
    /// sentence names the value, where it came from and the fix.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The host is not in a state the script can work from: what was found and what to do.
    #[error("{0}")]
    Refused(String),
    /// Part of the host could not be read (a failing `ip`, `iptables-save` …).
    #[error("{0}")]
    Unreadable(String),
    /// A tool the plan needs is not installed; the sentence names its Debian package.
    #[error("{0}")]
    MissingTool(String),
    /// Planning needs this fact of the host, which the snapshot does not hold yet.
    #[error("internal error: planning asked for {0:?}, which was not read")]
    Unread(Fact),
    /// FRR's side of `overlay=evpn` (issue 18).
    #[error(transparent)]
    Evpn(#[from] crate::evpn::EvpnError),
    /// An error with what planning wanted said before it (a warning that explains it).
    #[error("{1}")]
    Noted(Vec<Note>, Box<Error>),
}

impl Error {
    pub fn refused(msg: impl Into<String>) -> Error {
        Error::Refused(msg.into())
    }

    /// `error`, said after `notes`.
    pub fn noted(notes: Vec<Note>, error: Error) -> Error {
        Error::Noted(notes, Box::new(error))
    }

    /// The notes said before the error, and the error itself.
    pub fn split(self) -> (Vec<Note>, Error) {
        match self {
            Error::Noted(notes, e) => (notes, *e),
            e => (Vec::new(), e),
        }
    }

    /// The same kind of error with `context` before its sentence (e.g. where a value came from).
    pub fn context(self, context: impl FnOnce(&str) -> String) -> Error {
        match self {
            Error::Invalid(Invalid(m)) => Error::Invalid(Invalid(context(&m))),
            Error::Refused(m) => Error::Refused(context(&m)),
            Error::Unreadable(m) => Error::Unreadable(context(&m)),
            Error::MissingTool(m) => Error::MissingTool(context(&m)),
            Error::Evpn(e) => Error::Refused(context(&e.to_string())),
            unread @ Error::Unread(_) => unread,
            Error::Noted(notes, e) => Error::Noted(notes, Box::new(e.context(context))),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Something planning wants said, said once by the dispatcher after the last round of planning
/// (planning may run more than once, so it never logs itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    Debug(String),
    Info(String),
    Warn(String),
    Error(String),
}

/// What a script planned: the steps, and what to say about them.
#[derive(Debug, Default)]
pub struct Planned {
    /// The line a host script prints first: what was chosen and why (NB-02).
    pub intro: Option<String>,
    pub plan: crate::plan::Plan,
    pub notes: Vec<Note>,
    /// The debug line logged on success (VB-08).
    pub done: String,
    /// An error to report after the plan ran (VB-10: clean up first, then tell).
    pub report_after: Option<String>,
    /// Keys written with `hotplug-status` in the same xenstore call (the frontend's `mtu`,
    /// MTU-01): written only once the plan succeeded.
    pub frontend_keys: Vec<(String, String)>,
}

/// What every script's front end and planner come to: there is nothing to do (and why), or
/// something to go on with: a plan (the default), or for a vif script's front end the vif to
/// plan for.
#[derive(Debug)]
pub enum Outcome<T = Planned> {
    Nothing(String),
    Plan(T),
}

impl Planned {
    pub fn new(plan: crate::plan::Plan) -> Planned {
        Planned {
            plan,
            ..Planned::default()
        }
    }

    pub fn intro(mut self, intro: impl Into<String>) -> Planned {
        self.intro = Some(intro.into());
        self
    }

    pub fn notes(mut self, notes: Vec<Note>) -> Planned {
        self.notes = notes;
        self
    }
}
