//! The shape DESIGN.md asks for, checked on the sources (issue 15):
//!
//! - imports go one way: no module uses one that uses it back, directly or round a cycle
//!   (a parent's `pub mod` declarations are not uses; test code is left out);
//! - planners read nothing themselves: the modes and the firewall driver start no process,
//!   read no file and never touch the live reader; they see the host through the snapshot.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every source file and its module path (`crate::modes::network_bridge::netdev`).
fn modules() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                if name != "fixtures" {
                    walk(&p, &format!("{prefix}::{name}"), out);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                let m = match name.as_str() {
                    "lib" => "crate".to_string(),
                    "mod" => prefix.to_string(),
                    _ => format!("{prefix}::{name}"),
                };
                out.insert(m, p);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&src(), "crate", &mut out);
    out
}

/// The file without its test modules (`#[cfg(test)]` and what follows it at top level) and
/// without comments.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with("#[cfg(test)]") {
            skipping = true;
            continue;
        }
        if skipping {
            // A `#[cfg(test)] mod x;` declaration, or a block that ends at a closing brace in
            // the first column.
            if line.starts_with('}') || (line.starts_with("mod ") && line.ends_with(';')) {
                skipping = false;
            }
            continue;
        }
        let l = line.split("//").next().unwrap_or("");
        out.push_str(l);
        out.push('\n');
    }
    out
}

fn parent(m: &str) -> String {
    m.rsplit_once("::")
        .map_or("crate".into(), |(p, _)| p.into())
}

/// The modules `m` uses: `crate::…` paths, `super::…` paths (brace groups expanded) and paths
/// that start with a child module's name, each resolved to the longest known module.
fn uses(m: &str, text: &str, all: &BTreeMap<String, PathBuf>) -> BTreeSet<String> {
    let longest = |path: &str| -> Option<String> {
        let parts: Vec<&str> = path.split("::").collect();
        (1..=parts.len())
            .rev()
            .map(|n| parts[..n].join("::"))
            .find(|p| all.contains_key(p))
    };
    let mut found = BTreeSet::new();
    let bytes: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let start_ok = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_');
        if !start_ok || !(bytes[i].is_alphabetic() || bytes[i] == '_') {
            i += 1;
            continue;
        }
        // A path: idents joined by `::`, possibly ending in a `{…}` group.
        let mut j = i;
        while j < bytes.len() && (bytes[j].is_alphanumeric() || bytes[j] == '_' || bytes[j] == ':')
        {
            j += 1;
        }
        let path: String = bytes[i..j].iter().collect();
        let path = path.trim_end_matches(':').to_string();
        let mut paths = vec![path.clone()];
        if j < bytes.len() && bytes[j] == '{' {
            let close = bytes[j..].iter().position(|c| *c == '}').map(|k| j + k);
            if let Some(close) = close {
                let inner: String = bytes[j + 1..close].iter().collect();
                for item in inner.split(',') {
                    let item = item.split_whitespace().next().unwrap_or("");
                    if !item.is_empty() && item != "self" {
                        paths.push(format!("{path}::{item}"));
                    }
                }
            }
        }
        for p in paths {
            let abs = if let Some(rest) = p.strip_prefix("crate::") {
                Some(format!("crate::{rest}"))
            } else if p.starts_with("super::") {
                let mut base = parent(m);
                let mut rest = p.as_str();
                while let Some(r) = rest.strip_prefix("super::") {
                    rest = r;
                    if r.starts_with("super::") {
                        base = parent(&base);
                    }
                }
                Some(format!("{base}::{rest}"))
            } else {
                let first = p.split("::").next().unwrap_or("");
                let child = format!("{m}::{first}");
                (p.contains("::") && all.contains_key(&child)).then(|| format!("{m}::{p}"))
            };
            if let Some(target) = abs.and_then(|a| longest(&a)) {
                if target != m {
                    found.insert(target);
                }
            }
        }
        i = j.max(i + 1);
    }
    found
}

#[test]
fn no_module_uses_one_that_uses_it_back() {
    let all = modules();
    let graph: BTreeMap<String, BTreeSet<String>> = all
        .iter()
        .map(|(m, p)| (m.clone(), uses(m, &code(p), &all)))
        .collect();
    // Every cycle shows as a module that reaches itself.
    let mut cycles = Vec::new();
    for start in graph.keys() {
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((m, path)) = stack.pop() {
            for next in graph.get(&m).into_iter().flatten() {
                if next == start {
                    let mut c = path.clone();
                    c.push(start.clone());
                    cycles.push(c.join(" -> "));
                } else if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    cycles.sort();
    cycles.dedup();
    assert!(
        cycles.is_empty(),
        "import cycles ({}):\n{}",
        cycles.len(),
        cycles.join("\n")
    );
}

#[test]
fn planners_read_nothing_themselves() {
    let all = modules();
    // The planners' unit tests may replay captured output through the live parsers; they must
    // still leave the process environment alone (it is shared by every test).
    let is_test = |m: &str| m.contains("::tests");
    let planning = |m: &str| {
        (m.starts_with("crate::modes") || m.starts_with("crate::firewall")) && !is_test(m)
    };
    for (m, p) in all.iter().filter(|(m, _)| is_test(m)) {
        assert!(
            !code(p).contains("std::env::set_var"),
            "{m} ({}) changes the process environment",
            p.display()
        );
    }
    let forbidden = [
        "std::fs::",
        "std::process",
        "which::",
        ".run(&",
        "crate::live",
        "std::env::set_var",
        "read_dir(",
    ];
    let mut found = Vec::new();
    for (m, p) in all.iter().filter(|(m, _)| planning(m)) {
        let text = code(p);
        for f in forbidden {
            if text.contains(f) {
                found.push(format!("{m} ({}): {f}", p.display()));
            }
        }
    }
    // Status reports (network-* status) show the host with its own tools: they are not
    // planning. They live in the mode files, behind `fn status`; allow exactly those uses.
    found.retain(|f| !f.contains(".run(&") && !f.contains("which::") || !status_only(f, &all));
    assert!(
        found.is_empty(),
        "planning code that reads the host:\n{}",
        found.join("\n")
    );
}

/// Is every `.run(&`/`which::` of the file named in `finding` inside a `status` function?
fn status_only(finding: &str, all: &BTreeMap<String, PathBuf>) -> bool {
    let m = finding.split_whitespace().next().unwrap_or("");
    let Some(p) = all.get(m) else { return false };
    let text = code(p);
    let Some(at) = text.find("pub fn status(") else {
        return false;
    };
    let before = &text[..at];
    !before.contains(".run(&") && !before.contains("which::")
}
