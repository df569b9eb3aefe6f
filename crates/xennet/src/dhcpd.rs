//! ISC dhcpd's files as NAT mode uses them (spec §2.12, §5.3, §9): finding the configuration,
//! init script and arguments file (DH-01), and editing them line by line in place (the inode and
//! mode are kept: VN-14). Host entries are matched by their whole name (VN-15 FIX) and interface
//! words are kept separate (VN-16 FIX).

use crate::error::Result;
use crate::snapshot::Snapshot;
use std::path::{Path, PathBuf};

/// The files dhcpd integration needs; each None when not found.
#[derive(Clone, Debug, Default)]
pub struct Files {
    pub conf: Option<PathBuf>,
    pub init: Option<PathBuf>,
    pub args: Option<PathBuf>,
}

/// The first of the candidates that is there (a file, or an executable one), or the file an
/// environment variable names.
fn first(
    snap: &Snapshot,
    var: &str,
    candidates: &[&str],
    executable: bool,
) -> Result<Option<PathBuf>> {
    let there = |p: &Path| -> Result<bool> {
        if executable {
            snap.executable(p)
        } else {
            Ok(snap.file(p)?.is_some())
        }
    };
    if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(v);
        return Ok(there(&p)?.then_some(p));
    }
    for c in candidates {
        if there(Path::new(c))? {
            return Ok(Some(PathBuf::from(c)));
        }
    }
    Ok(None)
}

/// DH-01: the first existing file of each list (environment variables override, for tests and
/// unusual layouts: `XENNET_DHCPD_CONF`, `XENNET_DHCPD_INIT`, `XENNET_DHCPD_ARGS`).
pub fn find(snap: &Snapshot) -> Result<Files> {
    Ok(Files {
        conf: first(
            snap,
            "XENNET_DHCPD_CONF",
            &[
                "/etc/dhcp/dhcpd.conf",
                "/etc/dhcp3/dhcpd.conf",
                "/etc/dhcpd.conf",
            ],
            false,
        )?,
        init: first(
            snap,
            "XENNET_DHCPD_INIT",
            &[
                "/etc/init.d/isc-dhcp-server",
                "/etc/init.d/dhcp-server",
                "/etc/init.d/dhcp3-server",
                "/etc/init.d/dhcp",
                "/etc/init.d/dhcpd",
            ],
            true,
        )?,
        args: first(
            snap,
            "XENNET_DHCPD_ARGS",
            &[
                "/etc/sysconfig/dhcpd",
                "/etc/defaults/dhcp",
                "/etc/default/dhcp-server",
                "/etc/default/dhcp3-server",
                "/etc/default/isc-dhcp-server",
            ],
            false,
        )?,
    })
}

/// The first line of the file at `path` starting with `key`.
pub fn get_line(snap: &Snapshot, path: &Path, key: &str) -> Result<Option<String>> {
    Ok(snap
        .file(path)?
        .and_then(|t| crate::fileedit::line_of(t, key)))
}

/// Does dhcpd's args file list `word` among its interfaces?
pub fn args_has_word(snap: &Snapshot, path: &Path, word: &str) -> Result<bool> {
    Ok(snap
        .file(path)?
        .is_some_and(|t| crate::fileedit::lists_word(t, ARG_VARS, word)))
}

/// The variables of dhcpd's args file that list the interfaces it serves (VN-14).
pub const ARG_VARS: &[&str] = &["DHCPDARGS", "DHCPD_INTERFACE", "INTERFACES", "INTERFACESv4"];

/// VN-01, NN-02: DHCP is on by default iff the old path `/etc/dhcpd.conf` exists.
pub fn default_on(snap: &Snapshot) -> Result<bool> {
    Ok(snap.file("/etc/dhcpd.conf")?.is_some())
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
pub fn resolver(snap: &Snapshot) -> Result<(String, String)> {
    let text = snap.file(crate::paths::resolv_conf())?.unwrap_or_default();
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
    Ok((domain, ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolver_values() {
        // The fixture answers for the resolver file wherever it is; the environment is shared.
        let fx = crate::fixture::Fixture::new().file(
            crate::paths::resolv_conf(),
            "domain a.example\nsearch b.example # c\nsearch d.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n",
        );
        let mut snap = Snapshot::new();
        let r = crate::snapshot::plan(&fx, &mut snap, resolver).unwrap();
        assert_eq!(r, ("d.example".into(), "192.0.2.53".into()));
    }
}
