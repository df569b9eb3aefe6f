//! Running external commands from the harness: every command goes through `timeout`, stdin is
//! `/dev/null`, and the result carries everything needed for a readable assertion message.

use std::fmt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Limit for one harness command (`ip`, `iptables-save`, `ping` …).
pub const TIMEOUT_SECS: u64 = 30;
/// Limit for one run of a binary under test: libxl allows a hotplug script 40 s (TS-05).
pub const SCRIPT_TIMEOUT_SECS: u64 = 45;

/// The outcome of one command.
#[derive(Debug, Clone)]
pub struct Output {
    /// What was run (after the `timeout` wrapper), for messages.
    pub argv: Vec<String>,
    /// The exit code; 128+N when killed by signal N; 124 when `timeout` stopped it.
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// `timeout` had to stop the command.
    pub fn timed_out(&self) -> bool {
        self.status == 124 || self.status == 137
    }

    /// Panics with the whole story unless the command succeeded; returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert!(self.success(), "command failed:\n{self}");
        &self.stdout
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  $ {}", shell_line(&self.argv))?;
        writeln!(
            f,
            "  exit status {}{} after {:.2?}",
            self.status,
            if self.timed_out() { " (timed out)" } else { "" },
            self.elapsed
        )?;
        for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if text.trim().is_empty() {
                writeln!(f, "  {name}: (empty)")?;
            } else {
                writeln!(f, "  {name}:")?;
                for l in text.lines() {
                    writeln!(f, "    | {l}")?;
                }
            }
        }
        Ok(())
    }
}

/// Quotes words for display as one shell line.
pub fn shell_line<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|a| shell_quote(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@+%".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Runs `argv` under `timeout -k 5 <secs>` with stdin from /dev/null.
pub fn run_with_timeout<S: AsRef<str>>(secs: u64, argv: &[S]) -> Output {
    let argv: Vec<String> = argv.iter().map(|a| a.as_ref().to_string()).collect();
    assert!(!argv.is_empty(), "empty command");
    let start = Instant::now();
    let res = Command::new("timeout")
        .arg("-k")
        .arg("5")
        .arg(secs.to_string())
        .args(&argv)
        .stdin(Stdio::null())
        .output();
    let elapsed = start.elapsed();
    match res {
        Ok(o) => {
            use std::os::unix::process::ExitStatusExt;
            let status = o
                .status
                .code()
                .unwrap_or_else(|| 128 + o.status.signal().unwrap_or(0));
            Output {
                argv,
                status,
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
                elapsed,
            }
        }
        Err(e) => Output {
            argv,
            status: 127,
            stdout: String::new(),
            stderr: format!("could not start `timeout`: {e}"),
            elapsed,
        },
    }
}

/// Runs a harness command with the default timeout.
pub fn run<S: AsRef<str>>(argv: &[S]) -> Output {
    run_with_timeout(TIMEOUT_SECS, argv)
}

/// Runs a harness command that must succeed; returns its stdout.
#[track_caller]
pub fn must<S: AsRef<str>>(argv: &[S]) -> String {
    let o = run(argv);
    o.ok();
    o.stdout
}

/// `ip -n <ns> <args…>` (no `exec`: iproute2 switches namespace itself).
pub fn ip<S: AsRef<str>>(ns: &str, args: &[S]) -> Output {
    let mut v = vec!["ip".to_string(), "-n".to_string(), ns.to_string()];
    v.extend(args.iter().map(|a| a.as_ref().to_string()));
    run(&v)
}

/// `ip -n <ns> <args…>` that must succeed.
#[track_caller]
pub fn ip_must<S: AsRef<str>>(ns: &str, args: &[S]) -> String {
    let o = ip(ns, args);
    o.ok();
    o.stdout
}

/// `ip netns exec <ns> <argv…>`: the command sees the namespace's links, sysctls, firewall and
/// (because `ip netns exec` remounts it) its own `/sys`.
pub fn ns_exec<S: AsRef<str>>(ns: &str, argv: &[S]) -> Output {
    let mut v = vec![
        "ip".to_string(),
        "netns".to_string(),
        "exec".to_string(),
        ns.to_string(),
    ];
    v.extend(argv.iter().map(|a| a.as_ref().to_string()));
    run(&v)
}
