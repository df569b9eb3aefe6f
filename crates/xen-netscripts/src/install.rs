//! `xennet install` / `xennet uninstall`: the script binaries linked into `/etc/xen/scripts`
//! under the scripts' names, each original kept aside as `<name>.xen-orig` so that `uninstall`
//! puts it back as it was (the same file: content, mode, owner and times).
//!
//! Nothing is ever overwritten that is not ours: a `.xen-orig` already there is kept, and a
//! script that is neither ours nor backed up is a conflict that stops the run before anything is
//! changed. Each link is made under a temporary name and renamed over the script, so the path is
//! never missing for a toolstack that runs it meanwhile.

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use xennet::scripts::SCRIPTS;

/// The suffix of a kept original.
pub const ORIG_SUFFIX: &str = ".xen-orig";

/// What is at `<dir>/<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    Missing,
    /// A symlink to one of our binaries (or a dangling one named like the script).
    Ours {
        target: PathBuf,
        dangling: bool,
    },
    /// Anything else: Xen's original script, or a file someone put there.
    Other,
}

/// The directory the binaries are taken from by default: the running `xennet`'s own.
pub fn default_bin_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot tell where the xennet executable is")?;
    exe.parent()
        .map(Path::to_path_buf)
        .context("the xennet executable has no directory")
}

/// The path a symlink points at, made absolute against the link's directory.
fn link_target(link: &Path) -> std::io::Result<PathBuf> {
    let t = std::fs::read_link(link)?;
    Ok(match link.parent() {
        Some(dir) if t.is_relative() => dir.join(t),
        _ => t,
    })
}

/// An ELF file that mentions xennet (the core crate's name is in every binary built from it).
fn is_xennet_binary(path: &Path) -> bool {
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut data = Vec::new();
    if f.read_to_end(&mut data).is_err() || !data.starts_with(b"\x7fELF") {
        return false;
    }
    data.windows(6).any(|w| w == b"xennet")
}

/// Whether `<dir>/<name>` is ours, someone else's, or missing.
pub fn classify(dir: &Path, name: &str) -> std::io::Result<Found> {
    let path = dir.join(name);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Missing),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_symlink() {
        return Ok(Found::Other);
    }
    let target = link_target(&path)?;
    if target.file_name().and_then(|n| n.to_str()) != Some(name) {
        return Ok(Found::Other);
    }
    let dangling = !target.exists();
    if dangling || is_xennet_binary(&target) {
        Ok(Found::Ours { target, dangling })
    } else {
        Ok(Found::Other)
    }
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

fn orig_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{ORIG_SUFFIX}"))
}

fn q(p: &Path) -> String {
    shell_words::quote(&p.to_string_lossy()).into_owned()
}

/// One script's change.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Action {
    /// Already linked to this binary.
    Nothing,
    /// Keep the original as `.xen-orig`, then link.
    KeepAndLink,
    /// No script there (or its original already kept): link.
    Link,
    /// Our link to another binary (another build): point it at this one.
    Relink { old: PathBuf },
}

fn check_dir(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => bail!("{} is not a directory", dir.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{} does not exist: are Xen's tools installed? (--dir names another scripts \
             directory)",
            dir.display()
        ),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", dir.display())),
    }
}

/// What is wrong with a binary to link to.
#[derive(Debug, thiserror::Error)]
enum NotABinary {
    #[error("{0} is not executable")]
    NotExecutable(String),
    #[error("{0} is not a file")]
    NotAFile(String),
    #[error("{0} does not exist")]
    Missing(String),
}

/// The binary `<bin_dir>/<name>`, if it is an executable file.
fn check_binary(bin_dir: &Path, name: &str) -> std::result::Result<PathBuf, NotABinary> {
    let bin = bin_dir.join(name);
    let shown = bin.display().to_string();
    match std::fs::metadata(&bin) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(bin),
        Ok(m) if m.is_file() => Err(NotABinary::NotExecutable(shown)),
        Ok(_) => Err(NotABinary::NotAFile(shown)),
        Err(_) => Err(NotABinary::Missing(shown)),
    }
}

/// Makes `link` a symlink to `target` in one rename, so it is never missing.
fn replace_with_link(target: &Path, link: &Path) -> std::io::Result<()> {
    let name = link
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = link.with_file_name(format!(".{name}.xennet-tmp"));
    if exists(&tmp) {
        std::fs::remove_file(&tmp)?;
    }
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Keeps `path` as `orig`: a second name for the same file (so the script is never missing), or
/// a rename where the file system has no hard links.
fn keep_original(path: &Path, orig: &Path) -> std::io::Result<()> {
    match std::fs::hard_link(path, orig) {
        Ok(()) => Ok(()),
        Err(_) if !exists(orig) => std::fs::rename(path, orig),
        Err(e) => Err(e),
    }
}

pub struct Options<'a> {
    pub dir: &'a Path,
    pub bin_dir: &'a Path,
    pub dry_run: bool,
}

/// `xennet install`. Everything is checked before anything is changed; a failure half-way undoes
/// the scripts already done.
pub fn install(o: &Options, out: &mut dyn std::io::Write) -> Result<()> {
    check_dir(o.dir)?;
    let bin_dir = std::fs::canonicalize(o.bin_dir)
        .with_context(|| format!("the binaries' directory {}", o.bin_dir.display()))?;
    let missing: Vec<String> = SCRIPTS
        .iter()
        .filter_map(|s| check_binary(&bin_dir, s.name).err().map(|e| e.to_string()))
        .collect();
    if !missing.is_empty() {
        bail!(
            "refusing to install, nothing was changed: {}; build them with `cargo build --release \
             --workspace`, or give --bin-dir the directory that holds them",
            missing.join(", ")
        );
    }
    let mut plan = Vec::new();
    let mut conflicts = Vec::new();
    for s in &SCRIPTS {
        let path = o.dir.join(s.name);
        let orig = orig_path(o.dir, s.name);
        let bin = bin_dir.join(s.name);
        let action = match classify(o.dir, s.name)
            .with_context(|| format!("cannot read {}", path.display()))?
        {
            Found::Ours { target, .. } if target == bin => Action::Nothing,
            Found::Ours { target, .. } => Action::Relink { old: target },
            Found::Missing => Action::Link,
            Found::Other if exists(&orig) => {
                conflicts.push(format!(
                    "{} is not xennet's link and {} already holds an original (a package \
                     upgrade may have put the script back): compare the two, remove the one \
                     you do not want, and run install again",
                    path.display(),
                    orig.display()
                ));
                continue;
            }
            Found::Other => Action::KeepAndLink,
        };
        plan.push((s.name, path, orig, bin, action));
    }
    if !conflicts.is_empty() {
        bail!(
            "refusing to install, nothing was changed: {}",
            conflicts.join("; ")
        );
    }

    if o.dry_run {
        let mut any = false;
        for (name, path, orig, bin, action) in &plan {
            match action {
                Action::Nothing => {
                    writeln!(out, "# {name}: already linked to {}", bin.display())?;
                    continue;
                }
                Action::KeepAndLink => writeln!(out, "ln {} {}", q(path), q(orig))?,
                Action::Link | Action::Relink { .. } => {}
            }
            writeln!(out, "ln -sfn {} {}", q(bin), q(path))?;
            any = true;
        }
        if !any {
            writeln!(out, "# nothing to do: every script is linked already")?;
        }
        return Ok(());
    }

    let mut done: Vec<(&str, &PathBuf, &PathBuf, &Action)> = Vec::new();
    for (name, path, orig, bin, action) in &plan {
        let result = match action {
            Action::Nothing => Ok(()),
            Action::KeepAndLink => {
                keep_original(path, orig).and_then(|()| replace_with_link(bin, path))
            }
            Action::Link | Action::Relink { .. } => replace_with_link(bin, path),
        };
        if let Err(e) = result {
            let undo = undo_install(&done);
            if *action == Action::KeepAndLink {
                undo_keep(path, orig);
            }
            bail!(
                "installing {name} into {} failed: {e}; {}",
                o.dir.display(),
                match undo {
                    Ok(()) => "the scripts already done were put back as they were".to_string(),
                    Err(u) => format!("putting back the scripts already done failed too: {u}"),
                }
            );
        }
        done.push((name, path, orig, action));
        let line = match action {
            Action::Nothing => format!("{name}: already linked to {}", bin.display()),
            Action::KeepAndLink => format!(
                "{name}: linked to {}; the original is kept as {}",
                bin.display(),
                orig.display()
            ),
            Action::Link if exists(orig) => format!(
                "{name}: linked to {} (the original was kept already as {})",
                bin.display(),
                orig.display()
            ),
            Action::Link => format!(
                "{name}: linked to {} (there was no original)",
                bin.display()
            ),
            Action::Relink { old } => format!(
                "{name}: linked to {} instead of {}",
                bin.display(),
                old.display()
            ),
        };
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Undoes a `keep_original` whose link then failed: the `.xen-orig` name was made by this run
/// (there was none before), so it goes; a renamed original goes back.
fn undo_keep(path: &Path, orig: &Path) {
    use std::os::unix::fs::MetadataExt;
    match (
        std::fs::symlink_metadata(path),
        std::fs::symlink_metadata(orig),
    ) {
        (Err(_), Ok(_)) => {
            let _ = std::fs::rename(orig, path);
        }
        (Ok(p), Ok(o)) if p.ino() == o.ino() && p.dev() == o.dev() => {
            let _ = std::fs::remove_file(orig);
        }
        _ => {}
    }
}

fn undo_install(done: &[(&str, &PathBuf, &PathBuf, &Action)]) -> std::io::Result<()> {
    for (_, path, orig, action) in done.iter().rev() {
        match action {
            Action::Nothing => {}
            Action::KeepAndLink => std::fs::rename(orig, path)?,
            Action::Link => std::fs::remove_file(path)?,
            Action::Relink { old } => replace_with_link(old, path)?,
        }
    }
    Ok(())
}

/// `xennet uninstall`: every kept original back under its name, our links without an original
/// removed. Returns false when some script had to be left as it was.
pub fn uninstall(dir: &Path, dry_run: bool, out: &mut dyn std::io::Write) -> Result<bool> {
    check_dir(dir)?;
    let mut changed = false;
    let mut clean = true;
    for s in &SCRIPTS {
        let name = s.name;
        let path = dir.join(name);
        let orig = orig_path(dir, name);
        let found =
            classify(dir, name).with_context(|| format!("cannot read {}", path.display()))?;
        let have_orig = exists(&orig);
        match (found, have_orig) {
            (Found::Ours { .. } | Found::Missing, true) => {
                changed = true;
                if dry_run {
                    writeln!(out, "mv -f {} {}", q(&orig), q(&path))?;
                    continue;
                }
                std::fs::rename(&orig, &path).with_context(|| {
                    format!("putting {} back as {}", orig.display(), path.display())
                })?;
                writeln!(out, "{name}: the original is back in place")?;
            }
            (Found::Ours { .. }, false) => {
                changed = true;
                if dry_run {
                    writeln!(out, "rm {}", q(&path))?;
                    continue;
                }
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
                writeln!(
                    out,
                    "{name}: link removed (there was no original to put back)"
                )?;
            }
            (Found::Other, true) => {
                clean = false;
                writeln!(
                    out,
                    "{name}: left as it is: {} is not xennet's link (a package upgrade may have \
                     replaced it), so {} was not put back over it; compare the two and keep one",
                    path.display(),
                    orig.display()
                )?;
            }
            (Found::Other | Found::Missing, false) => {}
        }
    }
    if !changed && clean {
        writeln!(
            out,
            "nothing to undo: no script in {} is linked to xennet and no original is kept there",
            dir.display()
        )?;
    }
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// Stand-in binaries: symlinks named like the scripts to this test executable (an ELF file
    /// built from xennet-cli, so it mentions xennet).
    fn bins() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let exe = std::env::current_exe().unwrap();
        for s in &SCRIPTS {
            std::os::unix::fs::symlink(&exe, d.path().join(s.name)).unwrap();
        }
        d
    }

    fn run_install(dir: &Path, bin_dir: &Path, dry_run: bool) -> Result<String> {
        let mut out = Vec::new();
        install(
            &Options {
                dir,
                bin_dir,
                dry_run,
            },
            &mut out,
        )?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn install_keeps_originals_and_uninstall_restores_them() {
        let bin = bins();
        let dir = tempfile::tempdir().unwrap();
        let orig = dir.path().join("vif-bridge");
        std::fs::write(&orig, "#!/bin/bash\necho original\n").unwrap();
        std::fs::set_permissions(&orig, std::fs::Permissions::from_mode(0o750)).unwrap();
        let ino = std::fs::metadata(&orig).unwrap().ino();

        let dry = run_install(dir.path(), bin.path(), true).unwrap();
        assert!(dry.contains("vif-bridge.xen-orig"), "{dry}");
        assert_eq!(classify(dir.path(), "vif-bridge").unwrap(), Found::Other);

        let out = run_install(dir.path(), bin.path(), false).unwrap();
        assert!(out.contains("vif-bridge: linked to"), "{out}");
        assert!(out.contains("vif-nat: linked to") && out.contains("no original"));
        for s in &SCRIPTS {
            assert!(matches!(
                classify(dir.path(), s.name).unwrap(),
                Found::Ours {
                    dangling: false,
                    ..
                }
            ));
        }
        let again = run_install(dir.path(), bin.path(), false).unwrap();
        assert_eq!(again.matches("already linked").count(), SCRIPTS.len());

        let mut out = Vec::new();
        assert!(uninstall(dir.path(), false, &mut out).unwrap());
        let meta = std::fs::symlink_metadata(&orig).unwrap();
        assert_eq!(meta.ino(), ino);
        assert_eq!(meta.mode() & 0o7777, 0o750);
        assert!(!dir.path().join("vif-nat").exists());
        let mut out = Vec::new();
        uninstall(dir.path(), false, &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("nothing to undo"));
    }

    #[test]
    fn conflicts_and_missing_binaries_change_nothing() {
        let bin = bins();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("vif-route"), "new").unwrap();
        std::fs::write(dir.path().join("vif-route.xen-orig"), "old").unwrap();
        let e = run_install(dir.path(), bin.path(), false).unwrap_err();
        assert!(e.to_string().contains("already holds an original"), "{e}");
        assert!(!dir.path().join("vif-bridge").exists());

        std::fs::remove_file(dir.path().join("vif-route")).unwrap();
        std::fs::remove_file(bin.path().join("network-nat")).unwrap();
        let e = run_install(dir.path(), bin.path(), false).unwrap_err();
        assert!(e.to_string().contains("network-nat does not exist"), "{e}");
        assert!(!dir.path().join("vif-bridge").exists());
    }

    #[test]
    fn relinks_another_build_and_removes_dangling_links() {
        let old = bins();
        let new = bins();
        let dir = tempfile::tempdir().unwrap();
        run_install(dir.path(), old.path(), false).unwrap();
        let out = run_install(dir.path(), new.path(), false).unwrap();
        assert_eq!(out.matches("instead of").count(), SCRIPTS.len(), "{out}");
        drop(new);
        assert!(matches!(
            classify(dir.path(), "vif-bridge").unwrap(),
            Found::Ours { dangling: true, .. }
        ));
        let mut out = Vec::new();
        assert!(uninstall(dir.path(), false, &mut out).unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_foreign_link_is_not_ours() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("real-vif-bridge");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink(&script, dir.path().join("vif-bridge")).unwrap();
        assert_eq!(classify(dir.path(), "vif-bridge").unwrap(), Found::Other);
        let elsewhere = dir.path().join("sub");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("vif-nat"), "#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink(elsewhere.join("vif-nat"), dir.path().join("vif-nat")).unwrap();
        assert_eq!(classify(dir.path(), "vif-nat").unwrap(), Found::Other);
    }
}
