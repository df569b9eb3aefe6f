//! A stand-in for xenstored and its command-line clients (`xenstore-read`, `-write`, `-rm`,
//! `-exists`, `-list`, `-ls`), kept as files so that a test and the binaries it runs share one
//! store.
//!
//! Layout: the store root `/` is the directory `$XENSTORE_FAKE_DIR`; every node is a directory
//! below it (`/local/domain/0` is `$XENSTORE_FAKE_DIR/local/domain/0/`), and a node's value is
//! the file `.value` inside its directory (missing file = empty value, which is what xenstored
//! gives a node created implicitly as a parent). Values are replaced atomically (write to a
//! temporary file, then rename). Each client call may be appended to `$XENSTORE_FAKE_DIR/.calls`
//! (one line per call), so a test can count what a binary asked for.
//!
//! Paths follow xenstored's rules: a relative path resolves against
//! `/local/domain/$XENSTORE_FAKE_DOMID` (default 0, spec XS-09), and only the characters
//! `A-Z a-z 0-9 - / _ @` are allowed, no `//` and no trailing `/`. That rule also keeps node names
//! from ever meaning something to the file system (`.`, `..`, `.value`).
//!
//! std only: this module is compiled into the `xenstore-fake` binary, which costs one fork+exec
//! per call.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Environment variable naming the store directory (required by the clients).
pub const DIR_VAR: &str = "XENSTORE_FAKE_DIR";
/// Environment variable giving the caller's own domid (home `/local/domain/<domid>`), default 0.
pub const DOMID_VAR: &str = "XENSTORE_FAKE_DOMID";
/// The file holding a node's value, inside the node's directory.
pub const VALUE_FILE: &str = ".value";
/// The call log, in the store root.
pub const CALLS_FILE: &str = ".calls";

/// The client programs the multi-call binary answers to.
pub const CLIENTS: &[&str] = &[
    "xenstore-read",
    "xenstore-write",
    "xenstore-rm",
    "xenstore-exists",
    "xenstore-list",
    "xenstore-ls",
];

/// One store on disk.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    domid: String,
}

/// A path xenstored would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPath(pub String);

impl Store {
    pub fn new(root: impl Into<PathBuf>, domid: u32) -> Store {
        Store {
            root: root.into(),
            domid: domid.to_string(),
        }
    }

    /// The store the environment names; `Err` carries the message for stderr.
    pub fn from_env() -> Result<Store, String> {
        let root = match std::env::var_os(DIR_VAR) {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => {
                return Err(format!(
                    "{DIR_VAR} is not set: this fake xenstore keeps its nodes in that directory"
                ))
            }
        };
        let domid = match std::env::var(DOMID_VAR) {
            Ok(v) if !v.is_empty() => match v.parse::<u32>() {
                Ok(d) => d,
                Err(_) => return Err(format!("{DOMID_VAR}={v} is not a domain id")),
            },
            _ => 0,
        };
        Ok(Store::new(root, domid))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The absolute xenstore path for `path` (relative paths resolve against the caller's home,
    /// XS-09), validated like xenstored does.
    pub fn resolve(&self, path: &str) -> Result<String, InvalidPath> {
        let abs = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/local/domain/{}/{}", self.domid, path)
        };
        let ok_chars = abs
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-/_@".contains(&b));
        let ok_shape =
            !abs.contains("//") && (abs == "/" || !abs.ends_with('/')) && !path.is_empty();
        if ok_chars && ok_shape {
            Ok(abs)
        } else {
            Err(InvalidPath(path.to_string()))
        }
    }

    fn dir_of(&self, abs: &str) -> PathBuf {
        let rel = abs.trim_start_matches('/');
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    /// The value of a node, or None if it does not exist (or the path is invalid).
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        let dir = self.dir_of(&self.resolve(path).ok()?);
        if !dir.is_dir() {
            return None;
        }
        match fs::read(dir.join(VALUE_FILE)) {
            Ok(v) => Some(v),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // A node created as a parent, or one being rewritten right now (rename is atomic,
                // so a missing file really means "never written").
                if dir.is_dir() {
                    Some(Vec::new())
                } else {
                    None
                }
            }
            Err(_) => None,
        }
    }

    /// The value as a (lossy) string, without any trailing newline added.
    pub fn read_string(&self, path: &str) -> Option<String> {
        self.read(path)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    /// Creates the node (and its parents) and replaces its value atomically.
    pub fn write(&self, path: &str, value: &[u8]) -> io::Result<()> {
        let abs = self
            .resolve(path)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.0))?;
        let dir = self.dir_of(&abs);
        fs::create_dir_all(&dir)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmp = dir.join(format!(".value.tmp.{}.{}", std::process::id(), nanos));
        {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(value)?;
        }
        fs::rename(&tmp, dir.join(VALUE_FILE)).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }

    pub fn exists(&self, path: &str) -> bool {
        match self.resolve(path) {
            Ok(abs) => self.dir_of(&abs).is_dir(),
            Err(_) => false,
        }
    }

    /// Removes a node and everything below it. With `tidy` (`xenstore-rm -t`), parents left
    /// without children and without a value are removed too. Removing `/` is refused.
    pub fn rm(&self, path: &str, tidy: bool) -> io::Result<()> {
        let abs = self
            .resolve(path)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.0))?;
        if abs == "/" {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "refusing to remove /",
            ));
        }
        let dir = self.dir_of(&abs);
        if !dir.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotFound, abs));
        }
        // Move the subtree aside first so that readers never see half of it.
        let trash = self.root.join(format!(
            ".trash.{}.{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        fs::rename(&dir, &trash)?;
        fs::remove_dir_all(&trash)?;
        if tidy {
            let mut cur = Path::new(&abs).parent().map(Path::to_path_buf);
            while let Some(p) = cur {
                let ps = p.to_string_lossy().into_owned();
                if ps == "/" {
                    break;
                }
                let d = self.dir_of(&ps);
                let value_empty = fs::metadata(d.join(VALUE_FILE))
                    .map(|m| m.len() == 0)
                    .unwrap_or(true);
                if !value_empty || !self.children(&ps).unwrap_or_default().is_empty() {
                    break;
                }
                let _ = fs::remove_file(d.join(VALUE_FILE));
                if fs::remove_dir(&d).is_err() {
                    break;
                }
                cur = p.parent().map(Path::to_path_buf);
            }
        }
        Ok(())
    }

    /// The names of a node's children, sorted; None if the node does not exist.
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        let dir = self.dir_of(&self.resolve(path).ok()?);
        let mut names: Vec<String> = fs::read_dir(&dir)
            .ok()?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        Some(names)
    }

    /// Every node below `path` (inclusive) as `(absolute path, value)`, depth first, sorted.
    pub fn dump(&self, path: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Ok(abs) = self.resolve(path) {
            self.dump_into(&abs, &mut out);
        }
        out
    }

    fn dump_into(&self, abs: &str, out: &mut Vec<(String, String)>) {
        let Some(v) = self.read_string(abs) else {
            return;
        };
        out.push((abs.to_string(), v));
        for c in self.children(abs).unwrap_or_default() {
            let child = if abs == "/" {
                format!("/{c}")
            } else {
                format!("{abs}/{c}")
            };
            self.dump_into(&child, out);
        }
    }

    /// Appends one line describing a client call to `.calls` (best effort).
    pub fn log_call(&self, prog: &str, args: &[OsString]) {
        let mut line = prog.as_bytes().to_vec();
        for a in args {
            line.push(b' ');
            for &b in a.as_bytes() {
                match b {
                    b'\n' => line.extend_from_slice(b"\\n"),
                    b'\\' => line.extend_from_slice(b"\\\\"),
                    _ => line.push(b),
                }
            }
        }
        line.push(b'\n');
        if let Ok(mut f) = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join(CALLS_FILE))
        {
            let _ = f.write_all(&line);
        }
    }

    /// The logged calls, one string per call (`xenstore-read backend/vif/1/0/bridge`).
    pub fn calls(&self) -> Vec<String> {
        fs::read_to_string(self.root.join(CALLS_FILE))
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }
}

fn usage(prog: &str) -> i32 {
    let text = match prog {
        "xenstore-read" => "xenstore-read [-s] [-R] PATH...",
        "xenstore-write" => "xenstore-write [-s] [-R] PATH VALUE [PATH VALUE ...]",
        "xenstore-rm" => "xenstore-rm [-s] [-t] PATH...",
        "xenstore-exists" => "xenstore-exists [-s] PATH...",
        "xenstore-list" => "xenstore-list [-s] PATH...",
        _ => "xenstore-ls [-s] [-f] [PATH]",
    };
    eprintln!("Usage: {text}");
    1
}

/// Runs one client call; `argv[0]`'s basename picks the client. Returns the exit status.
pub fn multicall(argv: Vec<OsString>) -> i32 {
    let prog = argv
        .first()
        .map(|a| {
            Path::new(a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let args: Vec<OsString> = argv.into_iter().skip(1).collect();
    if !CLIENTS.contains(&prog.as_str()) {
        eprintln!(
            "xenstore-fake: called as {prog:?}; link or copy it as one of: {}",
            CLIENTS.join(", ")
        );
        return 2;
    }
    let store = match Store::from_env() {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("{prog}: {msg}");
            return 2;
        }
    };
    store.log_call(&prog, &args);

    // Options the real clients accept; `-s` (talk to the socket) and `-R` (raw) change nothing
    // here, `-t` (rm: tidy) and `-f` (ls: full paths) do.
    let mut tidy = false;
    let mut full = false;
    let mut rest: Vec<OsString> = Vec::new();
    let mut opts_done = false;
    for a in args {
        let s = a.to_string_lossy().into_owned();
        if !opts_done && s == "--" {
            opts_done = true;
        } else if !opts_done && s.starts_with('-') && s.len() > 1 {
            for c in s[1..].chars() {
                match (prog.as_str(), c) {
                    (_, 's') | ("xenstore-read", 'R') | ("xenstore-write", 'R') => {}
                    ("xenstore-rm", 't') => tidy = true,
                    ("xenstore-ls", 'f') => full = true,
                    _ => return usage(&prog),
                }
            }
        } else {
            opts_done = true;
            rest.push(a);
        }
    }
    let paths: Vec<String> = rest
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();

    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let code = match prog.as_str() {
        "xenstore-read" => {
            if paths.is_empty() {
                return usage(&prog);
            }
            let mut code = 0;
            for p in &paths {
                match store.read(p) {
                    Some(v) => {
                        let _ = out.write_all(&v);
                        let _ = out.write_all(b"\n");
                    }
                    None => {
                        let _ = out.flush();
                        eprintln!("xenstore-read: couldn't read path {p}");
                        code = 1;
                        break;
                    }
                }
            }
            code
        }
        "xenstore-write" => {
            if rest.is_empty() || rest.len() % 2 != 0 {
                return usage(&prog);
            }
            let mut code = 0;
            for pair in rest.chunks(2) {
                let p = pair[0].to_string_lossy();
                if store.write(&p, pair[1].as_bytes()).is_err() {
                    eprintln!("xenstore-write: could not write path {p}");
                    code = 1;
                    break;
                }
            }
            code
        }
        "xenstore-rm" => {
            if paths.is_empty() {
                return usage(&prog);
            }
            let mut code = 0;
            for p in &paths {
                if store.rm(p, tidy).is_err() {
                    eprintln!("xenstore-rm: could not remove path {p}");
                    code = 1;
                    break;
                }
            }
            code
        }
        "xenstore-exists" => {
            if paths.is_empty() {
                return usage(&prog);
            }
            if paths.iter().all(|p| store.exists(p)) {
                0
            } else {
                1
            }
        }
        "xenstore-list" => {
            if paths.is_empty() {
                return usage(&prog);
            }
            let mut code = 0;
            for p in &paths {
                match store.children(p) {
                    Some(names) => {
                        for n in names {
                            let _ = writeln!(out, "{n}");
                        }
                    }
                    None => {
                        let _ = out.flush();
                        eprintln!("xenstore-list: couldn't list path {p}");
                        code = 1;
                        break;
                    }
                }
            }
            code
        }
        _ => {
            // xenstore-ls: the tree below PATH (default /), `name = "value"` indented by depth,
            // or `/full/path = "value"` with -f.
            let start = paths.first().cloned().unwrap_or_else(|| "/".to_string());
            match store.resolve(&start) {
                Ok(abs) if store.exists(&abs) => {
                    let depth0 = abs.matches('/').count();
                    for (p, v) in store.dump(&abs).into_iter().skip(1) {
                        if full {
                            let _ = writeln!(out, "{p} = \"{v}\"");
                        } else {
                            // children of PATH at column 0, one space per level below
                            let depth = p.matches('/').count() - depth0 - usize::from(abs != "/");
                            let name = p.rsplit('/').next().unwrap_or("");
                            let _ = writeln!(out, "{}", ls_line(depth, name, &v));
                        }
                    }
                    0
                }
                _ => {
                    eprintln!("xenstore-ls: couldn't list path {start}");
                    1
                }
            }
        }
    };
    let _ = out.flush();
    code
}

/// One line of `xenstore-ls` as the C client prints it: the value escaped (`\\` for a
/// backslash, `\ooo` for a byte outside printable ASCII) and, like the client's default 80
/// columns, cut short with `\...` when the line would be longer.
fn ls_line(depth: usize, name: &str, value: &str) -> String {
    const MAX_WIDTH: usize = 80;
    const TAG_LEN: usize = " = \"...\"".len();
    let mut esc = String::new();
    for b in value.bytes() {
        match b {
            b'\\' => esc.push_str("\\\\"),
            b' '..=b'~' => esc.push(b as char),
            other => esc.push_str(&format!("\\{other:03o}")),
        }
    }
    let head = format!("{:depth$}{name}", "");
    if MAX_WIDTH < head.len() + esc.len() + TAG_LEN {
        let keep = MAX_WIDTH
            .saturating_sub(TAG_LEN + head.len())
            .min(esc.len());
        format!("{head} = \"{}\\...\"", &esc[..keep])
    } else {
        format!("{head} = \"{esc}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path(), 0);
        (d, s)
    }

    #[test]
    fn relative_paths_resolve_against_home() {
        let (_d, s) = store();
        assert_eq!(
            s.resolve("backend/vif/1/0/bridge").unwrap(),
            "/local/domain/0/backend/vif/1/0/bridge"
        );
        let s7 = Store::new("/nonexistent", 7);
        assert_eq!(
            s7.resolve("device/vif/0").unwrap(),
            "/local/domain/7/device/vif/0"
        );
    }

    #[test]
    fn invalid_paths_are_refused() {
        let (_d, s) = store();
        for p in [
            "",
            "/a//b",
            "/a/",
            "a/../b",
            "/a/.value",
            "/a b",
            "/a/vif1.0",
        ] {
            assert!(s.resolve(p).is_err(), "{p:?} should be invalid");
            assert!(s.write(p, b"x").is_err(), "{p:?} should not be writable");
        }
        assert!(s.resolve("/").is_ok());
    }

    #[test]
    fn write_read_parents_and_empty_values() {
        let (_d, s) = store();
        s.write("backend/vif/1/0/hotplug-status", b"").unwrap();
        s.write("/local/domain/1/device/vif/0/mtu", b"1500")
            .unwrap();
        assert_eq!(
            s.read_string("/local/domain/0/backend/vif/1/0/hotplug-status")
                .as_deref(),
            Some("")
        );
        assert_eq!(
            s.read_string("backend/vif/1").as_deref(),
            Some(""),
            "implicit parent"
        );
        assert_eq!(
            s.read_string("/local/domain/1/device/vif/0/mtu").as_deref(),
            Some("1500")
        );
        assert_eq!(s.read("backend/vif/1/0/nope"), None);
        s.write("/local/domain/1/device/vif/0/mtu", b"1400")
            .unwrap();
        assert_eq!(
            s.read_string("/local/domain/1/device/vif/0/mtu").as_deref(),
            Some("1400")
        );
    }

    #[test]
    fn rm_and_tidy() {
        let (_d, s) = store();
        s.write("/a/b/c/d", b"1").unwrap();
        s.write("/a/x", b"keep").unwrap();
        s.rm("/a/b/c", false).unwrap();
        assert!(!s.exists("/a/b/c/d"));
        assert!(s.exists("/a/b"));
        s.write("/a/b/c/d", b"1").unwrap();
        s.rm("/a/b/c/d", true).unwrap();
        assert!(!s.exists("/a/b"), "empty parents tidied");
        assert!(s.exists("/a"), "parent with a child kept");
        assert!(s.rm("/a/nope", false).is_err());
        assert!(s.rm("/", false).is_err());
    }

    #[test]
    fn children_and_dump() {
        let (_d, s) = store();
        s.write("/t/b", b"2").unwrap();
        s.write("/t/a", b"1").unwrap();
        assert_eq!(s.children("/t").unwrap(), vec!["a", "b"]);
        assert_eq!(s.children("/nope"), None);
        let d = s.dump("/t");
        assert_eq!(
            d,
            vec![
                ("/t".to_string(), String::new()),
                ("/t/a".to_string(), "1".to_string()),
                ("/t/b".to_string(), "2".to_string())
            ]
        );
    }
}
