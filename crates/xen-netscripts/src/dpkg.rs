//! What dpkg knows about the scripts it installed: each conffile's MD5 as the installed package
//! ships it (`dpkg-query`'s `Conffiles`). `xennet install`, `uninstall` and `doctor` use it to
//! tell Xen's script as the package ships it now from an older copy or an administrator's edit,
//! so that they act right after dpkg put a script back (`--force-confnew`) or kept ours and saved
//! the new one as `<name>.dpkg-dist` (`--force-confold`). Only read; on a host without dpkg every
//! answer is "unknown".

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The query: one line per package (name, tab, status abbreviation), then its conffiles, one a
/// line, each `␠<path>␠<md5>[␠obsolete|remove-on-upgrade]`.
const FORMAT: &str = "${Package}\t${db:Status-Abbrev}\n${Conffiles}\n";

/// A conffile as an installed package ships it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conffile {
    pub package: String,
    pub md5: String,
}

/// The conffiles of the installed packages, by absolute path.
#[derive(Default, Debug)]
pub struct Conffiles(HashMap<PathBuf, Conffile>);

impl Conffiles {
    /// Asks `dpkg-query` (its database moved by `XENNET_DPKG_ADMINDIR`, for tests); no dpkg, or
    /// an error, knows nothing.
    pub fn load() -> Conffiles {
        let mut cmd = std::process::Command::new("dpkg-query");
        if let Some(dir) = std::env::var_os("XENNET_DPKG_ADMINDIR").filter(|v| !v.is_empty()) {
            let mut arg = std::ffi::OsString::from("--admindir=");
            arg.push(dir);
            cmd.arg(arg);
        }
        cmd.args(["-W", "-f", FORMAT])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        match cmd.output() {
            Ok(out) if out.status.success() => {
                Conffiles::parse(&String::from_utf8_lossy(&out.stdout))
            }
            _ => Conffiles::default(),
        }
    }

    /// The query's output. Entries marked `obsolete` or `remove-on-upgrade`, and those of
    /// packages not installed (status other than `ii`/`hi`), are left out.
    pub fn parse(text: &str) -> Conffiles {
        let mut map = HashMap::new();
        let mut package: Option<String> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix(' ') {
                let Some(package) = &package else { continue };
                let f: Vec<&str> = rest.split_whitespace().collect();
                if f.len() == 2 && f[1].len() == 32 {
                    map.insert(
                        PathBuf::from(f[0]),
                        Conffile {
                            package: package.clone(),
                            md5: f[1].to_string(),
                        },
                    );
                }
                continue;
            }
            package = match line.split_once('\t') {
                Some((name, status)) if status.get(1..2) == Some("i") => Some(name.to_string()),
                _ => None,
            };
        }
        Conffiles(map)
    }

    /// The record of the conffile at `path` (absolute, as dpkg names it).
    pub fn get(&self, path: &Path) -> Option<&Conffile> {
        self.0.get(path)
    }

    /// Whether `file` holds what the package now ships for the conffile at `path`: `None` when
    /// dpkg has no record of `path` or `file` cannot be read.
    pub fn is_shipped(&self, path: &Path, file: &Path) -> Option<bool> {
        let record = self.get(path)?;
        let md5 = file_md5(file)?;
        Some(md5 == record.md5)
    }
}

/// The MD5 of a file's content (as dpkg computes it for a conffile), by `md5sum`, which every
/// Debian host has; `None` when the file cannot be read. A symbolic link is followed, as dpkg
/// does.
pub fn file_md5(file: &Path) -> Option<String> {
    let out = std::process::Command::new("md5sum")
        .arg("--")
        .arg(file)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let md5 = text.split_whitespace().next()?.trim_start_matches('\\');
    (md5.len() == 32).then(|| md5.to_string())
}

/// `dir` made absolute, as dpkg records the paths of the files in it.
pub fn absolute_dir(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `dpkg-query -W -f FORMAT` prints: a package line, then its conffiles.
    const QUERY: &str = concat!(
        "xen-utils-common\tii \n",
        " /etc/xen/scripts/vif-bridge 0123456789abcdef0123456789abcdef\n",
        " /etc/xen/scripts/vif-old fedcba9876543210fedcba9876543210 obsolete\n",
        " /etc/xen/xl.conf 00000000000000000000000000000000\n",
        "gone\trc \n",
        " /etc/gone.conf 11111111111111111111111111111111\n",
        "adduser\tii \n",
        "\n",
        "xen-netscripts\thi \n",
        " /etc/xen/xen-netscripts.conf 22222222222222222222222222222222\n",
    );

    #[test]
    fn installed_conffiles_only() {
        let c = Conffiles::parse(QUERY);
        let vb = c.get(Path::new("/etc/xen/scripts/vif-bridge")).unwrap();
        assert_eq!(vb.package, "xen-utils-common");
        assert_eq!(vb.md5, "0123456789abcdef0123456789abcdef");
        assert!(c.get(Path::new("/etc/xen/scripts/vif-old")).is_none());
        assert!(c.get(Path::new("/etc/gone.conf")).is_none());
        assert_eq!(
            c.get(Path::new("/etc/xen/xen-netscripts.conf"))
                .unwrap()
                .package,
            "xen-netscripts"
        );
    }

    #[test]
    fn md5_of_a_file() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, "#!/bin/sh\necho one\n").unwrap();
        // printf '#!/bin/sh\necho one\n' | md5sum
        assert_eq!(
            file_md5(&f).as_deref(),
            Some("afbb462a4eef64293b8f2b186c3a86b6")
        );
        assert_eq!(file_md5(&d.path().join("missing")), None);
        let c = Conffiles::parse(&format!(
            "p\tii \n {} afbb462a4eef64293b8f2b186c3a86b6\n",
            f.display()
        ));
        assert_eq!(c.is_shipped(&f, &f), Some(true));
        std::fs::write(&f, "changed\n").unwrap();
        assert_eq!(c.is_shipped(&f, &f), Some(false));
        assert_eq!(c.is_shipped(Path::new("/not/recorded"), &f), None);
    }
}
