//! Fault injection for the binaries under test (issue 6), two kinds:
//! - [`Faults`]: wrappers named like every tool the scripts run (`ip`, `brctl`,
//!   `iptables-restore`, `xenstore-write` …) first on the binaries' PATH. Each counts every call
//!   (reads too) and logs it; call `FAIL_AT` fails with a message naming the call, call `HANG_AT`
//!   hangs until killed, call `PAUSE_AT` waits until the test releases it (to deliver a signal
//!   while a step is in flight). Also the "full" snapshot the fault tests compare: the namespace
//!   plus the xenstore tree.
//! - [`install_host_change`]: `ip`/`brctl`/`bridge` wrappers that pass reads through and count
//!   every call that changes the host, each line of an `ip -batch` as one change (a fault there
//!   behaves as ip does: the lines before it done, `Command failed -:N` on stderr), failing
//!   (`FAIL_AT=k`) or hanging (`HANG_AT=k`) the k-th. Calls are logged to `$FAULT_DIR/log`.

use crate::host::{Call, Host};
use crate::snapshot::{self, Snapshot};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

/// Every program a script may start (exec.rs `package_of` and the modes).
pub const TOOLS: &[&str] = &[
    "ip",
    "brctl",
    "bridge",
    "iptables",
    "iptables-save",
    "iptables-restore",
    "ip6tables",
    "ip6tables-save",
    "ip6tables-restore",
    "xenstore-read",
    "xenstore-write",
    "xenstore-rm",
    "xenstore-exists",
    "xenstore-list",
    "xenstore-ls",
    "ifconfig",
    "route",
];

const WRAPPER: &str = r#"#!/bin/bash
# Fault injector for the tests: counts every call; call FAIL_AT fails, HANG_AT hangs, PAUSE_AT
# waits for $FAULT_DIR/go. The real tool is looked up on REAL_PATH (PATH without this directory).
name=${0##*/}
real=$(PATH=$REAL_PATH command -v "$name") || { echo "fault wrapper: no $name on $REAL_PATH" >&2; exit 127; }
n=$(( $(cat "$FAULT_DIR/count" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$FAULT_DIR/count"
echo "$n $name $*" >> "$FAULT_DIR/log"
if [ "$n" = "${FAIL_AT:-0}" ]; then echo "injected failure at call $n ($name)" >&2; exit 2; fi
if [ "$n" = "${HANG_AT:-0}" ]; then echo $$ > "$FAULT_DIR/hanging"; exec sleep 60; fi
if [ "$n" = "${PAUSE_AT:-0}" ]; then
  echo $$ > "$FAULT_DIR/paused"
  for _ in $(seq 3000); do [ -e "$FAULT_DIR/go" ] && break; sleep 0.01; done
fi
exec "$real" "$@"
"#;

/// The wrappers of one host and their counters.
pub struct Faults {
    pub bin: PathBuf,
    pub dir: PathBuf,
    real_path: String,
}

impl Faults {
    /// Installs the wrappers in `<scratch>/faultbin`; they take effect only in calls passed
    /// through [`Faults::on`].
    pub fn install(h: &Host) -> Faults {
        let bin = h.scratch.join("faultbin");
        let dir = h.scratch.join("faults");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        for tool in TOOLS {
            let p = bin.join(tool);
            std::fs::write(&p, WRAPPER).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let real_path = h
            .base_env()
            .into_iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v)
            .unwrap();
        Faults {
            bin,
            dir,
            real_path,
        }
    }

    /// Clears the counter and log.
    pub fn reset(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        std::fs::create_dir_all(&self.dir).unwrap();
    }

    /// `call` with the wrappers first on PATH; `var` (`FAIL_AT`, `HANG_AT`, `PAUSE_AT`) = `k`.
    /// Resets the counter first.
    pub fn on<'h>(&self, call: Call<'h>, var: &str, k: usize) -> Call<'h> {
        self.reset();
        call.env(
            "PATH",
            &format!("{}:{}", self.bin.display(), self.real_path),
        )
        .env("REAL_PATH", &self.real_path)
        .env("FAULT_DIR", &self.dir.display().to_string())
        .env(var, &k.to_string())
    }

    /// How many calls the last run made.
    pub fn count(&self) -> usize {
        std::fs::read_to_string(self.dir.join("count"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The calls of the last run, `"<n> <tool> <args…>"`.
    pub fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Call `k` of the last run without its number (`"ip link set …"`).
    pub fn call(&self, k: usize) -> String {
        self.log()
            .get(k.wrapping_sub(1))
            .map(|l| l.split_once(' ').map(|x| x.1).unwrap_or(l).to_string())
            .unwrap_or_default()
    }

    /// Waits (at most 10 s) until the wrapper wrote `file` (`hanging`, `paused`); its pid.
    pub fn wait_for(&self, file: &str) -> Option<i32> {
        let p = self.dir.join(file);
        for _ in 0..1000 {
            if let Some(pid) = std::fs::read_to_string(&p)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                return Some(pid);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Releases a paused call.
    pub fn release(&self) {
        std::fs::write(self.dir.join("go"), "").unwrap();
    }
}

/// True for a call that only reads (changes nothing on the host or in xenstore).
pub fn is_read(call: &str) -> bool {
    let w: Vec<&str> = call.split_whitespace().collect();
    match w.first().copied() {
        Some("xenstore-read" | "xenstore-exists" | "xenstore-list" | "xenstore-ls") => true,
        Some("iptables-save" | "ip6tables-save") => true,
        Some("ip") => w.contains(&"-j") || w.get(1).is_some_and(|s| *s == "-br"),
        Some("brctl") => w.get(1) == Some(&"show"),
        Some("iptables" | "ip6tables") => w.iter().any(|a| *a == "-C" || *a == "-S" || *a == "-L"),
        _ => false,
    }
}

/// A namespace snapshot plus the xenstore tree, minus `hotplug-status` and `hotplug-error`
/// (the failure protocol writes them on purpose; tests check them separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Full {
    pub net: Snapshot,
    pub xenstore: Vec<String>,
}

impl Full {
    pub fn take(h: &Host) -> Full {
        let xenstore = h
            .store()
            .dump("/local/domain")
            .into_iter()
            .filter(|(p, _)| !p.ends_with("/hotplug-status") && !p.ends_with("/hotplug-error"))
            .map(|(p, v)| format!("{p} = {v:?}"))
            .collect();
        Full {
            net: h.snapshot(),
            xenstore,
        }
    }

    /// The same view without one link's own line (its MAC/MTU/up state) and its per-device
    /// sysctls: for "fully restored" after a vif's teardown, which leaves netback's MAC and the
    /// bridge's MTU on it, or after the link is gone.
    pub fn without_link(&self, dev: &str) -> Full {
        let mut f = self.clone();
        let conf = format!("/conf/{dev}/");
        for (name, lines) in f.net.sections.iter_mut() {
            match *name {
                "links" => lines.retain(|l| l.split_whitespace().next() != Some(dev)),
                "sysctls" => lines.retain(|l| !l.contains(&conf)),
                _ => {}
            }
        }
        f
    }

    /// Differing lines, `-` before and `+` after, each with its section.
    pub fn diff(&self, after: &Full) -> Vec<String> {
        let mut out = Vec::new();
        for (name, before) in &self.net.sections {
            for l in snapshot::line_diff(before, after.net.section(name)) {
                out.push(format!("{name}: {l}"));
            }
        }
        for l in snapshot::line_diff(&self.xenstore, &after.xenstore) {
            out.push(format!("xenstore: {l}"));
        }
        out
    }
}

/// Asserts two full snapshots are equal, showing the differing lines.
#[track_caller]
pub fn assert_full_same(before: &Full, after: &Full, what: &str) {
    let d = before.diff(after);
    assert!(
        d.is_empty(),
        "{what}: the host changed:\n  {}",
        d.join("\n  ")
    );
}

/// True if no `*.journal` is left in the host's state directory.
pub fn no_journal(h: &Host) -> bool {
    std::fs::read_dir(&h.state_dir)
        .map(|d| {
            !d.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().ends_with(".journal"))
        })
        .unwrap_or(true)
}

/// Starts `call args` in the background, the way [`Call::run`] would run it (no timeout
/// wrapper, so the child's pid is the script's: `ip netns exec` and `env` exec it).
pub fn spawn(call: &Call<'_>, args: &[&str]) -> std::process::Child {
    let argv = call.argv(args);
    std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Sends `sig` to a process the test started.
pub fn signal(pid: i32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
}

pub const HOST_CHANGE_WRAPPER: &str = r#"#!/bin/bash
# Fault injector for the tests: reads pass; the N-th call that changes the host fails or hangs.
name=$(basename "$0")
real=
for d in /usr/sbin /sbin /usr/bin /bin; do [ -x "$d/$name" ] && { real=$d/$name; break; }; done
if [[ " $* " == *" -j "* ]] || [[ " $* " == *" show "* ]] || [ "$1" = show ]; then exec "$real" "$@"; fi
count() {
  n=$(( $(cat "$FAULT_DIR/count" 2>/dev/null || echo 0) + 1 ))
  echo "$n" > "$FAULT_DIR/count"
  echo "$n $name $*" >> "$FAULT_DIR/log"
}
if [ "$name" = ip ] && [ "$1" = -batch ] && [ "$2" = - ]; then
  # One process, many host changes: each line counts, and a fault at line k behaves as ip
  # does, the lines before it done and `Command failed -:k` on stderr.
  mapfile -t lines
  for i in "${!lines[@]}"; do
    count "${lines[$i]}"
    if [ "$n" = "${FAIL_AT:-0}" ] || [ "$n" = "${HANG_AT:-0}" ]; then
      if [ "$i" -gt 0 ]; then printf '%s\n' "${lines[@]:0:$i}" | "$real" -batch - || exit 1; fi
      if [ "$n" = "${HANG_AT:-0}" ]; then echo $$ > "$FAULT_DIR/hanging"; exec sleep 60; fi
      echo "injected failure at call $n" >&2; echo "Command failed -:$((i + 1))" >&2; exit 1
    fi
  done
  printf '%s\n' "${lines[@]}" | "$real" -batch -
  exit $?
fi
count "$@"
if [ "$n" = "${FAIL_AT:-0}" ]; then echo "injected failure at call $n" >&2; exit 2; fi
if [ "$n" = "${HANG_AT:-0}" ]; then echo $$ > "$FAULT_DIR/hanging"; exec sleep 60; fi
exec "$real" "$@"
"#;

/// Writes [`HOST_CHANGE_WRAPPER`] as `dir/<tool>` for each tool.
pub fn install_host_change(dir: &std::path::Path, tools: &[&str]) {
    std::fs::create_dir_all(dir).expect("fault wrapper directory");
    for tool in tools {
        let p = dir.join(tool);
        std::fs::write(&p, HOST_CHANGE_WRAPPER).expect("write fault wrapper");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
            .expect("chmod fault wrapper");
    }
}
