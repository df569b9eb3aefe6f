//! A script's setting as the registry ([`crate::scripts`]) declares it: its name, where the
//! script reads it from, its help, and the check every value given for it passes.

use crate::validate::Check;

/// Where a script reads a setting from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A `name=value` argument or the environment (the argument wins).
    Args,
    /// The backend's xenstore key of that name, else a `name=value` argument or the environment.
    XenstoreFirst,
    /// Only the backend's xenstore key; an argument or variable of that name is accepted and
    /// ignored.
    Xenstore,
    /// Set by the toolstack; accepted and not used.
    Unused,
}

pub struct Setting {
    pub name: &'static str,
    pub from: Source,
    pub help: &'static str,
    /// The check every given value of it passes (from any source, also one another source
    /// overrides), before anything is read or touched.
    pub check: Option<Check>,
}

impl Setting {
    /// Where the setting comes from, in words.
    pub fn source_words(&self) -> &'static str {
        match self.from {
            Source::Args => "argument or environment",
            Source::XenstoreFirst => "the backend's xenstore key, else argument or environment",
            Source::Xenstore => "the backend's xenstore key only",
            Source::Unused => "set by the toolstack, accepted and not used",
        }
    }
}
