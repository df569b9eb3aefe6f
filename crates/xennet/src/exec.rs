//! The one place that starts processes. Every command is resolved on `PATH` first (a missing tool
//! names its Debian package), logged at debug level as a shell-quoted line, bounded by a timeout,
//! and its failure carries argv, exit status or signal, and trimmed stderr.

use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::sync::mpsc;
use std::time::Duration;

/// A command line, as data: what a plan holds and what the journal stores.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<String>,
    /// Extra environment for this command only (hooks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<(String, String)>,
    /// Text fed to the command's standard input (e.g. an `iptables-restore` batch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
}

impl Cmd {
    pub fn new(program: &str) -> Self {
        Cmd {
            program: program.to_string(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
        }
    }

    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    pub fn stdin(mut self, text: impl Into<String>) -> Self {
        self.stdin = Some(text.into());
        self
    }

    /// The command as one shell line, quoted so it can be pasted into a shell (with its standard
    /// input as a here-document).
    pub fn line(&self) -> String {
        let mut words: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_words::quote(v)))
            .collect();
        words.push(shell_words::quote(&self.program).into_owned());
        words.extend(self.args.iter().map(|a| shell_words::quote(a).into_owned()));
        let line = words.join(" ");
        match &self.stdin {
            Some(text) => format!("{line} <<'EOF'\n{}EOF", text),
            None => line,
        }
    }
}

/// `ovs-vsctl --timeout`: the original's 30 s does not fit inside one command's 20 s bound
/// ([`System`]), which keeps the whole script inside libxl's 40 s (TS-05).
pub fn ovs_vsctl() -> Cmd {
    Cmd::new("ovs-vsctl").arg("--timeout=15")
}

/// `xenstore-write PATH VALUE …`: the command-line form of writing xenstore keys.
pub fn xenstore_write<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Cmd {
    let mut c = Cmd::new("xenstore-write");
    for (p, v) in pairs {
        c = c.arg(p).arg(v);
    }
    c
}

/// `nft -f -` adding elements to our table of `family`: the command-line form of
/// [`Runner::nft_add`].
pub fn nft_add(family: &str, els: &[crate::nft_elements::Element]) -> Cmd {
    Cmd::new("nft")
        .args(["-f", "-"])
        .stdin(crate::nft_elements::add_script(family, els))
}

/// Shorthand for `ip …`.
pub fn ip<I, S>(args: I) -> Cmd
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    Cmd::new("ip").args(args)
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("`{program}` was not found on PATH; install the Debian package {package}")]
    Missing { program: String, package: String },
    #[error("`{line}` {how}{}", stderr_suffix(.stderr))]
    Failed {
        line: String,
        /// Exit status, or None when killed by a signal.
        code: Option<i32>,
        how: String,
        stderr: String,
    },
    #[error("`{line}` did not finish within {secs} s and was killed")]
    Timeout { line: String, secs: u64 },
    #[error("could not start `{line}`: {source}")]
    Spawn {
        line: String,
        source: std::io::Error,
    },
}

fn stderr_suffix(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(": {s}")
    }
}

impl ExecError {
    pub fn is_missing_tool(&self) -> bool {
        matches!(self, ExecError::Missing { .. })
    }
}

/// The Debian package that provides a program, for the "not installed" message.
pub fn package_of(program: &str) -> &'static str {
    match program {
        "ip" | "bridge" => "iproute2",
        "brctl" => "bridge-utils",
        "ovs-vsctl" => "openvswitch-switch",
        "iptables" | "iptables-save" | "iptables-restore" => "iptables",
        "nft" => "nftables",
        p if p.starts_with("xenstore-") => "xenstore-utils",
        "ifup" | "ifdown" | "ifquery" => "ifupdown",
        "ifenslave" => "ifenslave",
        "conntrack" => "conntrack",
        "ifconfig" | "route" => "net-tools",
        "bash" => "bash",
        "logger" => "bsdutils",
        _ => "that provides it",
    }
}

/// How commands are run: the system, or a recorder in unit tests.
pub trait Runner {
    /// Runs the command and returns its stdout.
    fn run(&self, cmd: &Cmd) -> Result<String, ExecError>;

    /// May consecutive `ip` steps run as one `ip -batch -` process? (Unit tests see each step.)
    fn batches_ip(&self) -> bool {
        false
    }

    /// Writes xenstore keys in one round (a plan's `XenstoreWrite` step): by default with the
    /// `xenstore-write` client; a vif event's runner uses the run's xenstore instead, which is
    /// one transaction over xenstored's connection where there is one, and no process.
    fn xenstore_write(&self, pairs: &[(String, String)]) -> Result<(), ExecError> {
        self.run(&xenstore_write(
            pairs.iter().map(|(p, v)| (p.as_str(), v.as_str())),
        ))
        .map(|_| ())
    }

    /// Adds elements to our nftables table (an `NftAdd` step): by default with `nft -f -`; the
    /// system's runner sends them as one nfnetlink batch of its own where it can.
    fn nft_add(&self, family: &str, els: &[crate::nft_elements::Element]) -> Result<(), ExecError> {
        self.run(&nft_add(family, els)).map(|_| ())
    }
}

/// Runs real processes.
pub struct System {
    pub timeout: Duration,
}

impl Default for System {
    fn default() -> Self {
        // libxl kills a hotplug script after 40 s (TS-05); one command must never take that long.
        System {
            timeout: Duration::from_secs(20),
        }
    }
}

impl Runner for System {
    fn batches_ip(&self) -> bool {
        true
    }

    fn nft_add(&self, family: &str, els: &[crate::nft_elements::Element]) -> Result<(), ExecError> {
        use crate::nft_elements::{add, BatchError};
        let started = std::time::Instant::now();
        let sent = add(family, els);
        if !matches!(sent, Err(BatchError::NotWritable)) {
            // As a command's line: the benchmark's breakdown reads it.
            log::debug!(
                "exec: nfnetlink took {:.2} ms",
                started.elapsed().as_secs_f64() * 1000.0
            );
        }
        match sent {
            Ok(()) => Ok(()),
            Err(BatchError::NotWritable) => self.run(&nft_add(family, els)).map(|_| ()),
            Err(e) => Err(ExecError::Failed {
                line: format!(
                    "nfnetlink: add {} elements to {family} xen_netscripts",
                    els.len()
                ),
                code: None,
                how: "failed".into(),
                stderr: e.to_string(),
            }),
        }
    }

    fn run(&self, cmd: &Cmd) -> Result<String, ExecError> {
        let line = cmd.line();
        log::debug!("exec: {line}");
        let path = which::which(&cmd.program).map_err(|_| ExecError::Missing {
            program: cmd.program.clone(),
            package: package_of(&cmd.program).to_string(),
        })?;
        // Output goes to unnamed files, not pipes: a command that leaves a process behind (an
        // init script starting a daemon, a hook) must not hold us until that process ends.
        let spawn_err = |source| ExecError::Spawn {
            line: line.clone(),
            source,
        };
        let out_file = tempfile::tempfile().map_err(spawn_err)?;
        let err_file = tempfile::tempfile().map_err(spawn_err)?;
        let mut expr = match &cmd.stdin {
            Some(text) => duct::cmd(path, &cmd.args).stdin_bytes(text.as_bytes().to_vec()),
            None => duct::cmd(path, &cmd.args).stdin_null(),
        }
        .stdout_file(out_file.try_clone().map_err(spawn_err)?)
        .stderr_file(err_file.try_clone().map_err(spawn_err)?)
        .unchecked();
        for (k, v) in &cmd.env {
            expr = expr.env(k, v);
        }
        let started = std::time::Instant::now();
        let handle = expr.start().map_err(spawn_err)?;
        let timeout = crate::budget::bound(self.timeout);
        let waited = wait_bounded(&handle, timeout);
        // Where an event's time goes (the benchmark's breakdown reads these lines).
        log::debug!(
            "exec: {} took {:.2} ms",
            cmd.program,
            started.elapsed().as_secs_f64() * 1000.0
        );
        let output = waited.map_err(|e| match e {
            Waited::TimedOut => ExecError::Timeout {
                line: line.clone(),
                secs: timeout.as_secs(),
            },
            Waited::Io(source) => spawn_err(source),
        })?;
        let stdout = read_back(out_file);
        if output.status.success() {
            return Ok(stdout);
        }
        let stderr = read_back(err_file).trim().to_string();
        let code = output.status.code();
        let how = match code {
            Some(c) => format!("exited with status {c}"),
            None => "was killed by a signal".to_string(),
        };
        Err(ExecError::Failed {
            line,
            code,
            how,
            stderr,
        })
    }
}

fn read_back(mut f: std::fs::File) -> String {
    use std::io::{Read, Seek};
    let mut buf = Vec::new();
    let _ = f.rewind().and_then(|_| f.read_to_end(&mut buf));
    String::from_utf8_lossy(&buf).into_owned()
}

enum Waited {
    TimedOut,
    Io(std::io::Error),
}

/// Waits for the child, killing it when the timeout passes. A watchdog thread does the killing so
/// that the common, fast case costs no polling.
fn wait_bounded(handle: &duct::Handle, timeout: Duration) -> Result<std::process::Output, Waited> {
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let timed_out = std::thread::scope(|s| {
        let watchdog = s.spawn(move || match done_rx.recv_timeout(timeout) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = handle.kill();
                true
            }
            _ => false,
        });
        let _ = handle.wait();
        drop(done_tx);
        watchdog.join().unwrap_or(false)
    });
    if timed_out {
        return Err(Waited::TimedOut);
    }
    handle.wait().cloned().map_err(Waited::Io)
}

/// Records the commands it is given and answers from a script: for unit tests of plans and of
/// apply's rollback.
#[derive(Default)]
pub struct Recorder {
    pub lines: RefCell<Vec<String>>,
    /// Fail the call whose line contains this text.
    pub fail_when: RefCell<Option<String>>,
    /// Canned stdout for lines containing the key.
    pub answers: Vec<(String, String)>,
    /// Let apply batch `ip` steps (an `ip -batch -` fails at the matching line, as ip does).
    pub batch_ip: bool,
}

impl Runner for Recorder {
    fn batches_ip(&self) -> bool {
        self.batch_ip
    }

    fn run(&self, cmd: &Cmd) -> Result<String, ExecError> {
        let line = cmd.line();
        self.lines.borrow_mut().push(line.clone());
        if let Some(pat) = self.fail_when.borrow().as_ref() {
            let batch_line = cmd
                .stdin
                .as_deref()
                .filter(|_| cmd.args.first().map(String::as_str) == Some("-batch"))
                .and_then(|t| t.lines().position(|l| l.contains(pat.as_str())));
            if let Some(n) = batch_line {
                return Err(ExecError::Failed {
                    line,
                    code: Some(1),
                    how: "exited with status 1".into(),
                    stderr: format!("injected failure\nCommand failed -:{}", n + 1),
                });
            }
            if line.contains(pat.as_str()) {
                return Err(ExecError::Failed {
                    line,
                    code: Some(2),
                    how: "exited with status 2".into(),
                    stderr: "injected failure".into(),
                });
            }
        }
        Ok(self
            .answers
            .iter()
            .find(|(k, _)| line.contains(k.as_str()))
            .map(|(_, v)| v.clone())
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_is_shell_quoted() {
        let c = Cmd::new("ip")
            .args(["link", "set", "dev", "a b"])
            .env("x", "1 2");
        assert_eq!(c.line(), "x='1 2' ip link set dev 'a b'");
    }

    #[test]
    fn system_runs_and_reports_failures() {
        let sys = System::default();
        assert_eq!(sys.run(&Cmd::new("echo").arg("hi")).unwrap(), "hi\n");
        let err = sys
            .run(&Cmd::new("sh").args(["-c", "echo oops >&2; exit 3"]))
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("exited with status 3") && msg.contains("oops"),
            "{msg}"
        );
        let missing = sys.run(&Cmd::new("no-such-tool-xyz")).unwrap_err();
        assert!(missing.is_missing_tool());
    }

    #[test]
    fn system_kills_on_timeout() {
        let sys = System {
            timeout: Duration::from_millis(200),
        };
        let err = sys.run(&Cmd::new("sleep").arg("5")).unwrap_err();
        assert!(matches!(err, ExecError::Timeout { .. }), "{err}");
    }
}
