//! xenstore access through the `xenstore-*` command-line clients (spec §2.4), so it works
//! wherever the host's own tools work. Paths are passed as given: a relative `XENBUS_PATH` is
//! resolved by xenstored against the caller's home (XS-09).

use crate::exec::{Cmd, ExecError, Runner};
use std::collections::BTreeMap;

pub trait XenStore {
    /// The value of a key, or None when it is missing (or unreadable).
    fn read(&self, path: &str) -> Result<Option<String>, ExecError>;
    /// Writes all pairs in one call.
    fn write(&self, pairs: &[(&str, &str)]) -> Result<(), ExecError>;
    /// The values of those of `keys` that are children of `dir` (a vif's backend keys), read in
    /// one round so that a vif event costs one process, not one per key. None when the
    /// directory is missing or cannot be listed.
    fn read_dir(
        &self,
        dir: &str,
        keys: &[&str],
    ) -> Result<Option<BTreeMap<String, String>>, ExecError>;
}

/// Joins a key onto a directory path.
pub fn join(dir: &str, key: &str) -> String {
    format!("{}/{key}", dir.trim_end_matches('/'))
}

/// The production implementation: `xenstore-read`, `xenstore-write`.
pub struct Cli<'a> {
    pub runner: &'a dyn Runner,
}

impl XenStore for Cli<'_> {
    fn read(&self, path: &str) -> Result<Option<String>, ExecError> {
        match self.runner.run(&Cmd::new("xenstore-read").arg(path)) {
            Ok(out) => Ok(Some(out.strip_suffix('\n').unwrap_or(&out).to_string())),
            Err(ExecError::Failed { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn write(&self, pairs: &[(&str, &str)]) -> Result<(), ExecError> {
        self.runner
            .run(&crate::exec::xenstore_write(pairs.iter().copied()))
            .map(|_| ())
    }

    /// `xenstore-ls DIR`. The client prints `name = "value"` with values escaped and cut to fit
    /// 80 columns (`\...` at the cut); a cut value of one of `keys` is read again whole with
    /// `xenstore-read` (others, such as a long `hotplug-error`, are not needed). A directory
    /// that cannot be listed is an error: the toolstack made it before running the script.
    fn read_dir(
        &self,
        dir: &str,
        keys: &[&str],
    ) -> Result<Option<BTreeMap<String, String>>, ExecError> {
        let out = self.runner.run(&Cmd::new("xenstore-ls").arg(dir))?;
        let mut found = BTreeMap::new();
        for (name, value) in parse_ls(&out) {
            if !keys.contains(&name.as_str()) {
                continue;
            }
            let value = match value {
                Some(v) => v,
                None => match self.read(&join(dir, &name))? {
                    Some(v) => v,
                    None => continue,
                },
            };
            found.insert(name, value);
        }
        Ok(Some(found))
    }
}

/// The direct children in `xenstore-ls` output: (name, value), the value None when the client cut
/// it short. Deeper lines (indented) are skipped.
pub fn parse_ls(out: &str) -> Vec<(String, Option<String>)> {
    let mut v = Vec::new();
    for line in out.lines().filter(|l| !l.starts_with(' ')) {
        let Some((name, rest)) = line.split_once(" = \"") else {
            continue;
        };
        let Some(body) = rest.strip_suffix('"') else {
            continue;
        };
        let cut = body.ends_with("\\...") && !body.ends_with("\\\\...");
        v.push((name.to_string(), (!cut).then(|| unescape(body))));
    }
    v
}

/// Undoes the client's escaping of a value: `\\` and `\ooo` (octal), plus the C escapes.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = b[i + 1];
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|x| (b'0'..=b'7').contains(x)));
        if let Some(d) = octal {
            out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
            i += 4;
            continue;
        }
        out.push(match c {
            b'n' => b'\n',
            b't' => b'\t',
            b'r' => b'\r',
            b'a' => 7,
            b'b' => 8,
            b'f' => 12,
            b'v' => 11,
            other => other,
        });
        i += 2;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An in-memory store for unit tests.
#[derive(Default)]
pub struct Memory {
    pub keys: std::cell::RefCell<std::collections::BTreeMap<String, String>>,
}

impl XenStore for Memory {
    fn read(&self, path: &str) -> Result<Option<String>, ExecError> {
        Ok(self.keys.borrow().get(path).cloned())
    }

    fn write(&self, pairs: &[(&str, &str)]) -> Result<(), ExecError> {
        let mut k = self.keys.borrow_mut();
        for (p, v) in pairs {
            k.insert(p.to_string(), v.to_string());
        }
        Ok(())
    }

    fn read_dir(
        &self,
        dir: &str,
        keys: &[&str],
    ) -> Result<Option<BTreeMap<String, String>>, ExecError> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        let keys: BTreeMap<String, String> = self
            .keys
            .borrow()
            .iter()
            .filter_map(|(k, v)| {
                let name = k.strip_prefix(&prefix)?;
                keys.contains(&name).then(|| (name.to_string(), v.clone()))
            })
            .collect();
        Ok((!keys.is_empty()).then_some(keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_output_is_parsed_unescaped_and_cut_values_flagged() {
        let out = "bridge = \"xenbr0\"\nip = \"10.0.0.1 10.0.0.2\"\n\
                   odd = \"a\\\\b\\012c\"\nlong = \"192.0.2.1 192.0.2\\...\"\n\
                   empty = \"\"\nsub = \"\"\n child = \"x\"\n";
        let v = parse_ls(out);
        assert_eq!(
            v,
            vec![
                ("bridge".into(), Some("xenbr0".into())),
                ("ip".into(), Some("10.0.0.1 10.0.0.2".into())),
                ("odd".into(), Some("a\\b\nc".into())),
                ("long".into(), None),
                ("empty".into(), Some(String::new())),
                ("sub".into(), Some(String::new())),
            ]
        );
    }

    #[test]
    fn cut_values_are_read_again() {
        let r = crate::exec::Recorder {
            answers: vec![
                (
                    "xenstore-ls".into(),
                    "ip = \"192.0.2.1 19\\...\"\nmac = \"00:16:3e:00:00:01\"\n".into(),
                ),
                ("xenstore-read".into(), "192.0.2.1 192.0.2.2\n".into()),
            ],
            ..Default::default()
        };
        let keys = Cli { runner: &r }
            .read_dir("backend/vif/1/0", &["ip", "mac"])
            .unwrap()
            .unwrap();
        assert_eq!(keys["ip"], "192.0.2.1 192.0.2.2");
        assert_eq!(keys["mac"], "00:16:3e:00:00:01");
        assert_eq!(
            *r.lines.borrow(),
            [
                "xenstore-ls backend/vif/1/0",
                "xenstore-read backend/vif/1/0/ip"
            ]
        );
    }
}
