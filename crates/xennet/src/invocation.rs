//! The scripts' grammar (spec §2.2): a command word, `name=value` pairs and the environment, with
//! the environment lowest and later arguments winning. Values are taken literally: nothing is
//! evaluated by a shell (GEN-03).

use clap::Parser;
use std::collections::BTreeMap;
use std::ffi::OsString;

/// Where a setting came from, so that error messages can say it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Environment,
    Argument,
}

impl Source {
    /// `argument NAME=` or `environment variable NAME`.
    pub fn words(&self, name: &str) -> String {
        match self {
            Source::Argument => format!("argument {name}="),
            Source::Environment => format!("environment variable {name}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Setting {
    pub value: String,
    pub source: Source,
}

#[derive(Parser, Debug)]
#[command(
    disable_version_flag = true,
    about = "A drop-in replacement for Xen's network hotplug script of the same name.",
    after_help = "Settings are given as name=value words (and from the environment). \
                  --dry-run (or XENNET_DRY_RUN=1) prints the plan as shell lines and changes nothing."
)]
struct Flags {
    /// Print the plan as shell lines and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Log every command run (debug level) to stderr.
    #[arg(short, long)]
    verbose: bool,
    /// Print the version.
    #[arg(long)]
    version: bool,
    /// The command word and name=value settings.
    #[arg(allow_hyphen_values = false)]
    words: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Invocation {
    /// The path the script was started by (`$0`), used in messages as the originals do.
    pub argv0: String,
    /// The arguments after `$0`, as given (GEN-09 logs them).
    pub args: Vec<String>,
    /// The first word without `=` (GEN-01), else an inherited `command` variable.
    pub command: Option<String>,
    pub settings: BTreeMap<String, Setting>,
    pub dry_run: bool,
    pub verbose: bool,
    pub version: bool,
    /// Argument names not among the script's known names (GEN-04: accepted, warned about).
    pub unknown: Vec<String>,
    /// Every value given, in order: the environment's, then each argument's, also those a later
    /// argument overrides, so that every one can be checked.
    pub given: Vec<(String, Setting)>,
}

#[derive(Debug, thiserror::Error)]
pub enum GrammarError {
    #[error("argument {0:?} is not a name=value setting: names are letters, digits and '_', not starting with a digit (nothing was run)")]
    BadName(String),
    /// A usage error, in clap's words.
    #[error("{0}")]
    Clap(String),
    /// `--help` or `-h`: the caller prints the script's help.
    #[error("help requested")]
    Help,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Invocation {
    /// Parses argv and the environment. `known` lists the names the script reads; only those are
    /// taken from the environment, and arguments with other names are kept but warned about.
    pub fn parse<I>(argv: Vec<OsString>, env: I, known: &[&str]) -> Result<Invocation, GrammarError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let argv0 = argv
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        let flags = Flags::try_parse_from(&argv).map_err(|e| match e.kind() {
            clap::error::ErrorKind::DisplayHelp => GrammarError::Help,
            _ => GrammarError::Clap(e.to_string()),
        })?;

        let mut settings = BTreeMap::new();
        let mut given = Vec::new();
        let mut env_command = None;
        let mut env_dry_run = false;
        for (k, v) in env {
            if k == "command" {
                env_command = Some(v.clone());
            }
            if k == "XENNET_DRY_RUN" && !v.is_empty() && v != "0" {
                env_dry_run = true;
            }
            if known.contains(&k.as_str()) {
                let s = Setting {
                    value: v,
                    source: Source::Environment,
                };
                given.push((k.clone(), s.clone()));
                settings.insert(k, s);
            }
        }

        let mut command = None;
        let mut unknown = Vec::new();
        for word in &flags.words {
            match word.find('=') {
                None => {
                    // GEN-01: the first word without '=' is the command; later ones are ignored.
                    if command.is_none() {
                        command = Some(word.clone());
                    }
                }
                Some(0) => {} // GEN-02: an argument starting with '=' is ignored.
                Some(pos) => {
                    let (name, value) = (&word[..pos], &word[pos + 1..]);
                    if !valid_name(name) {
                        return Err(GrammarError::BadName(word.clone()));
                    }
                    if !known.contains(&name) && !unknown.iter().any(|u| u == name) {
                        unknown.push(name.to_string());
                    }
                    let s = Setting {
                        value: value.to_string(),
                        source: Source::Argument,
                    };
                    given.push((name.to_string(), s.clone()));
                    settings.insert(name.to_string(), s);
                }
            }
        }
        Ok(Invocation {
            argv0,
            args: argv
                .iter()
                .skip(1)
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            command: command.or(env_command).filter(|c| !c.is_empty()),
            settings,
            dry_run: flags.dry_run || env_dry_run,
            verbose: flags.verbose,
            version: flags.version,
            unknown,
            given,
        })
    }

    /// A setting's value; empty values count as set (as in the shell, `${x}`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.settings.get(name).map(|s| s.value.as_str())
    }

    /// A setting's value, or "" when unset.
    pub fn value(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// Where a setting came from, in words for messages.
    pub fn origin(&self, name: &str) -> String {
        match self.settings.get(name) {
            Some(s) => s.source.words(name),
            None => "default".to_string(),
        }
    }

    /// The script's base name, e.g. `vif-bridge` for `/etc/xen/scripts/vif-bridge` (TS-01).
    pub fn script_name(&self) -> &str {
        self.argv0.rsplit('/').next().unwrap_or(&self.argv0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Invocation {
        let argv = std::iter::once("/etc/xen/scripts/vif-bridge")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Invocation::parse(argv, env, &["bridge", "vif", "ip", "type_if"]).unwrap()
    }

    #[test]
    fn command_is_first_word_without_equals() {
        // GEN-01
        let inv = parse(&["type_if=vif", "online", "extra"], &[]);
        assert_eq!(inv.command.as_deref(), Some("online"));
        assert_eq!(inv.script_name(), "vif-bridge");
    }

    #[test]
    fn arguments_override_environment_and_later_wins() {
        // GEN-02, GEN-05
        let inv = parse(
            &["online", "bridge=a", "bridge=b", "=ignored"],
            &[("bridge", "env"), ("vif", "vif1.0"), ("HOME", "/root")],
        );
        assert_eq!(inv.get("bridge"), Some("b"));
        assert_eq!(inv.origin("bridge"), "argument bridge=");
        assert_eq!(inv.get("vif"), Some("vif1.0"));
        assert_eq!(inv.origin("vif"), "environment variable vif");
        assert_eq!(inv.get("HOME"), None);
    }

    #[test]
    fn values_are_literal_and_bad_names_rejected() {
        // GEN-03
        let inv = parse(&["online", "bridge=x;touch /tmp/p", "ip=$(id)"], &[]);
        assert_eq!(inv.get("bridge"), Some("x;touch /tmp/p"));
        assert_eq!(inv.get("ip"), Some("$(id)"));
        let argv = ["vif-bridge", "online", "a-b=1"]
            .map(OsString::from)
            .to_vec();
        assert!(matches!(
            Invocation::parse(argv, Vec::new(), &[]),
            Err(GrammarError::BadName(_))
        ));
    }

    #[test]
    fn unknown_names_are_kept_and_listed() {
        // GEN-04
        let inv = parse(&["online", "frob=1"], &[]);
        assert_eq!(inv.unknown, vec!["frob"]);
        assert_eq!(inv.get("frob"), Some("1"));
    }

    #[test]
    fn dry_run_from_flag_or_environment() {
        assert!(parse(&["online", "--dry-run"], &[]).dry_run);
        assert!(parse(&["online"], &[("XENNET_DRY_RUN", "1")]).dry_run);
        assert!(!parse(&["online"], &[]).dry_run);
    }
}
