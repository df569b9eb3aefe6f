//! ISC dhcpd's files as NAT mode uses them (spec §2.12, §5.3, §9): finding the configuration,
//! init script and arguments file (DH-01), and editing them line by line in place (the inode and
//! mode are kept: VN-14). Host entries are matched by their whole name (VN-15 FIX) and interface
//! words are kept separate (VN-16 FIX).

use std::io::Write;
use std::path::{Path, PathBuf};

/// The files dhcpd integration needs; each None when not found.
#[derive(Clone, Debug, Default)]
pub struct Files {
    pub conf: Option<PathBuf>,
    pub init: Option<PathBuf>,
    pub args: Option<PathBuf>,
}

fn first(var: &str, candidates: &[&str], executable: bool) -> Option<PathBuf> {
    if let Ok(v) = std::env::var(var) {
        if !v.is_empty() {
            return Some(PathBuf::from(v)).filter(|p| p.exists());
        }
    }
    candidates.iter().map(PathBuf::from).find(|p| {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(p) {
            Ok(m) if executable => m.is_file() && m.permissions().mode() & 0o111 != 0,
            Ok(m) => m.is_file(),
            Err(_) => false,
        }
    })
}

/// DH-01: the first existing file of each list (environment variables override, for tests and
/// unusual layouts: `XENNET_DHCPD_CONF`, `XENNET_DHCPD_INIT`, `XENNET_DHCPD_ARGS`).
pub fn find() -> Files {
    Files {
        conf: first(
            "XENNET_DHCPD_CONF",
            &[
                "/etc/dhcp/dhcpd.conf",
                "/etc/dhcp3/dhcpd.conf",
                "/etc/dhcpd.conf",
            ],
            false,
        ),
        init: first(
            "XENNET_DHCPD_INIT",
            &[
                "/etc/init.d/isc-dhcp-server",
                "/etc/init.d/dhcp-server",
                "/etc/init.d/dhcp3-server",
                "/etc/init.d/dhcp",
                "/etc/init.d/dhcpd",
            ],
            true,
        ),
        args: first(
            "XENNET_DHCPD_ARGS",
            &[
                "/etc/sysconfig/dhcpd",
                "/etc/defaults/dhcp",
                "/etc/default/dhcp-server",
                "/etc/default/dhcp3-server",
                "/etc/default/isc-dhcp-server",
            ],
            false,
        ),
    }
}

/// VN-01, NN-02: DHCP is on by default iff the old path `/etc/dhcpd.conf` exists.
pub fn default_on() -> bool {
    Path::new("/etc/dhcpd.conf").exists()
}

/// VN-13: the host entry of one guest NIC.
pub fn host_line(hostname: &str, mac: &str, ip: &str, router: &str) -> String {
    format!(
        "host {hostname} {{ hardware ethernet {mac}; fixed-address {ip}; option routers {router}; option host-name \"{hostname}\"; }}"
    )
}

/// The key that identifies a guest's host entry: the whole name, then the brace.
pub fn host_key(hostname: &str) -> String {
    format!("host {hostname} {{")
}

/// NN-05: the subnet line network-nat adds.
pub fn subnet_line(domain: &str, nameserver: &str) -> String {
    format!(
        "subnet 10.0.0.0 netmask 255.255.0.0 {{ option domain-name \"{domain}\"; option domain-name-servers {nameserver}; }}"
    )
}

pub const SUBNET_KEY: &str = "subnet 10.0.0.0 netmask 255.255.0.0 {";

/// NN-04: the domain of the last `search`/`domain` line and the first nameserver of
/// resolv.conf, skipping lines holding `#`.
pub fn resolver() -> (String, String) {
    let path = std::env::var("XENNET_RESOLV_CONF").unwrap_or_else(|_| "/etc/resolv.conf".into());
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.contains('#')).collect();
    let second = |l: &str| l.split_whitespace().nth(1).unwrap_or("").to_string();
    let domain = lines
        .iter()
        .rfind(|l| {
            let w = l
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            w == "search" || w == "domain"
        })
        .map(|l| second(l))
        .unwrap_or_default();
    let ns = lines
        .iter()
        .find(|l| l.split_whitespace().next() == Some("nameserver"))
        .map(|l| second(l))
        .unwrap_or_default();
    (domain, ns)
}

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

/// The first line of the file starting with `key`.
pub fn get_line(path: &Path, key: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find(|l| l.trim_start().starts_with(key))
        .map(str::to_string)
}

const ARG_VARS: &[&str] = &["DHCPDARGS", "DHCPD_INTERFACE", "INTERFACES", "INTERFACESv4"];

/// VN-14/16: adds or removes `word` in the interface lists of the args file, as a separate word.
pub fn set_args_word(path: &Path, word: &str, present: bool) -> std::io::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let mut out = String::new();
    for l in text.lines() {
        let edited = l.split_once('=').and_then(|(name, value)| {
            if !ARG_VARS.contains(&name.trim()) {
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

/// Does the args file list `word` already?
pub fn args_has_word(path: &Path, word: &str) -> bool {
    std::fs::read_to_string(path)
        .map(|t| {
            t.lines().any(|l| {
                l.split_once('=').is_some_and(|(n, v)| {
                    ARG_VARS.contains(&n.trim())
                        && v.trim()
                            .trim_matches(['"', '\''])
                            .split_whitespace()
                            .any(|w| w == word)
                })
            })
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_entries_match_whole_names() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("dhcpd.conf");
        std::fs::write(&conf, "# keep\n").unwrap();
        let l1 = host_line("dom1", "00:16:3e:00:00:01", "10.0.0.1", "10.0.0.128");
        let l10 = host_line("dom10", "00:16:3e:00:00:0a", "10.0.0.10", "10.0.0.137");
        assert_eq!(set_line(&conf, &host_key("dom1"), Some(&l1)).unwrap(), None);
        set_line(&conf, &host_key("dom10"), Some(&l10)).unwrap();
        // Removing dom1 must not remove dom10 (VN-15).
        assert_eq!(set_line(&conf, &host_key("dom1"), None).unwrap(), Some(l1));
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
        set_args_word(&args, "vif5.0", true).unwrap();
        assert!(args_has_word(&args, "vif5.0"));
        assert_eq!(
            std::fs::read_to_string(&args).unwrap(),
            "INTERFACESv4=\"eth0 vif5.0\"\nINTERFACESv6=\"\"\nOTHER=1\n"
        );
        set_args_word(&args, "vif5.0", false).unwrap();
        assert!(std::fs::read_to_string(&args)
            .unwrap()
            .starts_with("INTERFACESv4=\"eth0\"\n"));
    }

    #[test]
    fn resolver_values() {
        let dir = tempfile::tempdir().unwrap();
        let rc = dir.path().join("resolv.conf");
        std::fs::write(&rc, "domain a.example\nsearch b.example # c\nsearch d.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n").unwrap();
        std::env::set_var("XENNET_RESOLV_CONF", &rc);
        assert_eq!(resolver(), ("d.example".into(), "192.0.2.53".into()));
    }
}
