//! Edits of text files in place (same inode, same mode, as the originals' `sed -i`-free edits
//! keep them: VN-14): one keyed line made the only one of its kind, one word added to or removed
//! from a list variable. Generic: dhcpd's files are one user, through [`crate::action`].

use std::io::Write;
use std::path::Path;

/// Rewrites a file in place (same inode, same mode).
fn rewrite(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// Makes the file hold `line` as the only line starting with `key` (or none, for None). Returns
/// the first line it replaced, so the change can be undone.
pub fn set_line(path: &Path, key: &str, line: Option<&str>) -> std::io::Result<Option<String>> {
    let text = std::fs::read_to_string(path)?;
    let mut old = None;
    let mut out = String::new();
    for l in text.lines() {
        if l.trim_start().starts_with(key) {
            old.get_or_insert_with(|| l.to_string());
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    if let Some(line) = line {
        out.push_str(line);
        out.push('\n');
    }
    if out != text {
        rewrite(path, &out)?;
    }
    Ok(old)
}

/// The first line of `text` starting with `key`.
pub fn line_of(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find(|l| l.trim_start().starts_with(key))
        .map(str::to_string)
}

/// Adds or removes `word`, as a separate word, in the values of the `name=value` lines that
/// set any of `vars` (VN-14, VN-16: dhcpd's interface lists).
pub fn set_list_word(
    path: &Path,
    vars: &[impl AsRef<str>],
    word: &str,
    present: bool,
) -> std::io::Result<()> {
    let known = |name: &str| vars.iter().any(|v| v.as_ref() == name.trim());
    let text = std::fs::read_to_string(path)?;
    let mut out = String::new();
    for l in text.lines() {
        let edited = l.split_once('=').and_then(|(name, value)| {
            if !known(name) {
                return None;
            }
            let mut words: Vec<&str> = value
                .trim()
                .trim_matches(['"', '\''])
                .split_whitespace()
                .collect();
            words.retain(|w| *w != word);
            if present {
                words.push(word);
            }
            Some(format!("{name}=\"{}\"", words.join(" ")))
        });
        out.push_str(edited.as_deref().unwrap_or(l));
        out.push('\n');
    }
    if out != text {
        rewrite(path, &out)?;
    }
    Ok(())
}

/// Does a line setting one of `vars` list `word` in the file's text?
pub fn lists_word(text: &str, vars: &[&str], word: &str) -> bool {
    text.lines().any(|l| {
        l.split_once('=').is_some_and(|(n, v)| {
            vars.contains(&n.trim())
                && v.trim()
                    .trim_matches(['"', '\''])
                    .split_whitespace()
                    .any(|w| w == word)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARS: &[&str] = &["INTERFACES", "INTERFACESv4"];

    #[test]
    fn host_entries_match_whole_names() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("dhcpd.conf");
        std::fs::write(&conf, "# keep\n").unwrap();
        let l1 = "host dom1 { fixed-address 10.0.0.1; }".to_string();
        let l10 = "host dom10 { fixed-address 10.0.0.10; }".to_string();
        assert_eq!(set_line(&conf, "host dom1 {", Some(&l1)).unwrap(), None);
        set_line(&conf, "host dom10 {", Some(&l10)).unwrap();
        // Removing dom1 must not remove dom10 (VN-15).
        assert_eq!(set_line(&conf, "host dom1 {", None).unwrap(), Some(l1));
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            format!("# keep\n{l10}\n")
        );
    }

    #[test]
    fn args_words_stay_separate() {
        let dir = tempfile::tempdir().unwrap();
        let args = dir.path().join("isc-dhcp-server");
        std::fs::write(&args, "INTERFACESv4=\"eth0\"\nINTERFACESv6=\"\"\nOTHER=1\n").unwrap();
        set_list_word(&args, VARS, "vif5.0", true).unwrap();
        assert!(lists_word(
            &std::fs::read_to_string(&args).unwrap(),
            VARS,
            "vif5.0"
        ));
        assert_eq!(
            std::fs::read_to_string(&args).unwrap(),
            "INTERFACESv4=\"eth0 vif5.0\"\nINTERFACESv6=\"\"\nOTHER=1\n"
        );
        set_list_word(&args, VARS, "vif5.0", false).unwrap();
        assert!(std::fs::read_to_string(&args)
            .unwrap()
            .starts_with("INTERFACESv4=\"eth0\"\n"));
    }
}
