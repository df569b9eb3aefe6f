//! `xennet install` / `xennet uninstall`: each script in `/etc/xen/scripts` replaced by a small
//! `sh` script that runs our binary of that name, each original kept aside as `<name>.xen-orig`
//! so that `uninstall` puts it back as it was (the same file: content, mode, owner and times).
//!
//! Why a script and not a symbolic link: `vif-bridge`, `vif-nat`, `vif-route` and
//! `vif-openvswitch` are conffiles of Debian's `xen-utils-common`, and dpkg follows a conffile
//! that is a symbolic link to its target when it configures a new version: it never replaces
//! the link, leaves the new script as `<name>.dpkg-new`, and keeps the old checksum in its
//! records (measured with dpkg 1.21 and 1.22). A regular file is an ordinary changed conffile:
//! `--force-confold` keeps ours (the new script goes to `<name>.dpkg-dist`), `--force-confnew`
//! puts Xen's back (ours goes to `<name>.dpkg-old`), and without either dpkg asks.
//!
//! Nothing is ever overwritten that is not ours: a `.xen-orig` already there is kept unless the
//! script in place is the very version the package now ships (dpkg put it back: that one is then
//! the original to keep), and a script that is neither ours nor backed up is a conflict that
//! stops the run before anything is changed. Each script is written under a temporary name and
//! renamed over the old one, so the path is never missing for a toolstack that runs it meanwhile.

use crate::dpkg::{self, Conffiles};
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use xennet::scripts::SCRIPTS;

/// The suffix of a kept original.
pub const ORIG_SUFFIX: &str = ".xen-orig";

/// The second line of every script `xennet install` writes: how one is recognised as ours.
pub const MARK: &str = "# xen-netscripts: written by `xennet install`";

/// How a script of ours runs the binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// A small sh script that `exec`s the binary (what install writes).
    Script,
    /// A symbolic link to the binary (what earlier versions of install made).
    Link,
}

/// What is at `<dir>/<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    Missing,
    /// One of ours: a script written by install, or a symlink to one of our binaries, running
    /// `target` (`dangling`: which does not exist).
    Ours {
        target: PathBuf,
        dangling: bool,
        how: How,
    },
    /// Anything else: Xen's original script, or a file someone put there.
    Other,
}

/// The directory the binaries are taken from by default: the running `xennet`'s own (for the
/// package, `/usr/libexec/xen-netscripts`, where every script name links to the executable).
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

fn q(p: &Path) -> String {
    shell_words::quote(&p.to_string_lossy()).into_owned()
}

/// The script install writes for `name`: it runs `bin` with the arguments and environment
/// the toolstack gave it.
pub fn script_text(name: &str, bin: &Path) -> String {
    format!(
        "#!/bin/sh\n{MARK}: it runs xen-netscripts' {name}.\n\
         # The script that was here, if any, is kept as {name}{ORIG_SUFFIX}; `xennet uninstall`\n\
         # puts it back. A file rather than a link, so that dpkg handles it as a changed conffile.\n\
         exec {} \"$@\"\n",
        q(bin)
    )
}

/// The binary a script written by install runs, if `path` is such a script for `name`.
pub fn script_target(path: &Path, name: &str) -> Option<PathBuf> {
    let mut head = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(4096)
        .read_to_end(&mut head)
        .ok()?;
    let text = String::from_utf8(head).ok()?;
    let mut lines = text.lines();
    if lines.next()? != "#!/bin/sh" || !lines.next()?.starts_with(MARK) {
        return None;
    }
    let exec = lines.find(|l| l.starts_with("exec "))?;
    match shell_words::split(exec).ok()?.as_slice() {
        [exec, bin, args] if exec == "exec" && args == "$@" => {
            let bin = PathBuf::from(bin);
            (bin.is_absolute() && bin.file_name().and_then(|n| n.to_str()) == Some(name))
                .then_some(bin)
        }
        _ => None,
    }
}

/// Whether `<dir>/<name>` is ours, someone else's, or missing.
pub fn classify(dir: &Path, name: &str) -> std::io::Result<Found> {
    let path = dir.join(name);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Missing),
        Err(e) => return Err(e),
    };
    if meta.is_file() {
        return Ok(match script_target(&path, name) {
            Some(target) => Found::Ours {
                dangling: !target.exists(),
                target,
                how: How::Script,
            },
            None => Found::Other,
        });
    }
    if !meta.file_type().is_symlink() {
        return Ok(Found::Other);
    }
    let target = link_target(&path)?;
    if target.file_name().and_then(|n| n.to_str()) != Some(name) {
        return Ok(Found::Other);
    }
    let dangling = !target.exists();
    if dangling || is_xennet_binary(&target) {
        Ok(Found::Ours {
            target,
            dangling,
            how: How::Link,
        })
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

/// dpkg's copies next to a conffile: `<name>.dpkg-dist` (the package's version, ours kept) and
/// `<name>.dpkg-old` (ours, the package's version taken).
fn dpkg_path(dir: &Path, name: &str, ext: &str) -> PathBuf {
    dir.join(format!("{name}.{ext}"))
}

/// Our script as dpkg kept it (`<name>.dpkg-old` after `--force-confnew`): ours to remove.
fn our_dpkg_old(dir: &Path, name: &str) -> Option<PathBuf> {
    let p = dpkg_path(dir, name, "dpkg-old");
    script_target(&p, name).map(|_| p)
}

fn same_content(a: &Path, b: &Path) -> bool {
    match (std::fs::read(a), std::fs::read(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// What is at a script's path before it is replaced, to put back on undo.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Previous {
    Link(PathBuf),
    Script(PathBuf),
}

/// One script's change.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Action {
    /// Already our script running this binary.
    Nothing,
    /// Keep the original as `.xen-orig`, then write ours.
    KeepAndLink,
    /// No script there, or the original is kept already (or is the same file): write ours.
    Link,
    /// Ours running another binary (another build), or a link of an earlier install: rewrite.
    Relink { old: Previous },
    /// The script in place is what the package ships now (dpkg put it back) and the kept
    /// `.xen-orig` is an older one: keep this one instead, then write ours.
    RenewKept,
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

fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.xennet-tmp"))
}

/// Puts `make(tmp)`'s result at `path` in one rename, so the path is never missing.
fn replace_with(
    path: &Path,
    make: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = tmp_path(path);
    if exists(&tmp) {
        std::fs::remove_file(&tmp)?;
    }
    make(&tmp)
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
}

/// Makes `path` our script running `bin`, mode 0755.
fn write_script(bin: &Path, path: &Path, name: &str) -> std::io::Result<()> {
    replace_with(path, |tmp| {
        std::fs::write(tmp, script_text(name, bin))?;
        std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o755))
    })
}

fn put_back(previous: &Previous, path: &Path, name: &str) -> std::io::Result<()> {
    match previous {
        Previous::Link(target) => replace_with(path, |tmp| std::os::unix::fs::symlink(target, tmp)),
        Previous::Script(bin) => write_script(bin, path, name),
    }
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

/// Where an older `.xen-orig` waits while RenewKept runs; removed once every script is done.
fn aside_path(orig: &Path) -> PathBuf {
    let mut s = orig.as_os_str().to_owned();
    s.push(".xennet-old");
    PathBuf::from(s)
}

pub struct Options<'a> {
    pub dir: &'a Path,
    pub bin_dir: &'a Path,
    pub dry_run: bool,
}

struct Step {
    name: &'static str,
    path: PathBuf,
    orig: PathBuf,
    bin: PathBuf,
    action: Action,
    /// Our script kept by dpkg as `<name>.dpkg-old`, removed once every script is done.
    dpkg_old: Option<PathBuf>,
}

fn script_lines(out: &mut dyn std::io::Write, s: &Step) -> std::io::Result<()> {
    let tmp = tmp_path(&s.path);
    writeln!(out, "cat > {} <<'EOF'", q(&tmp))?;
    write!(out, "{}", script_text(s.name, &s.bin))?;
    writeln!(out, "EOF")?;
    writeln!(
        out,
        "chmod 755 {} && mv -f {} {}",
        q(&tmp),
        q(&tmp),
        q(&s.path)
    )
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
    let conffiles = Conffiles::load();
    let abs_dir = dpkg::absolute_dir(o.dir);
    let mut plan = Vec::new();
    let mut conflicts = Vec::new();
    for s in &SCRIPTS {
        let path = o.dir.join(s.name);
        let orig = orig_path(o.dir, s.name);
        let bin = bin_dir.join(s.name);
        let action = match classify(o.dir, s.name)
            .with_context(|| format!("cannot read {}", path.display()))?
        {
            Found::Ours {
                target,
                how: How::Script,
                ..
            } if target == bin => Action::Nothing,
            Found::Ours {
                target,
                how: How::Script,
                ..
            } => Action::Relink {
                old: Previous::Script(target),
            },
            Found::Ours { how: How::Link, .. } => Action::Relink {
                old: Previous::Link(std::fs::read_link(&path)?),
            },
            Found::Missing => Action::Link,
            Found::Other if exists(&orig) && same_content(&path, &orig) => Action::Link,
            Found::Other
                if exists(&orig)
                    && conffiles.is_shipped(&abs_dir.join(s.name), &path) == Some(true) =>
            {
                Action::RenewKept
            }
            Found::Other if exists(&orig) => {
                conflicts.push(format!(
                    "{} is not xennet's and {} already holds an original: compare the two, \
                     remove the one you do not want, and run install again",
                    path.display(),
                    orig.display()
                ));
                continue;
            }
            Found::Other => Action::KeepAndLink,
        };
        let dpkg_old = our_dpkg_old(o.dir, s.name);
        plan.push(Step {
            name: s.name,
            path,
            orig,
            bin,
            action,
            dpkg_old,
        });
    }
    if !conflicts.is_empty() {
        bail!(
            "refusing to install, nothing was changed: {}",
            conflicts.join("; ")
        );
    }

    if o.dry_run {
        let mut any = false;
        for s in &plan {
            match s.action {
                Action::Nothing => {
                    writeln!(out, "# {}: already runs {}", s.name, s.bin.display())?;
                }
                Action::KeepAndLink => writeln!(out, "ln {} {}", q(&s.path), q(&s.orig))?,
                Action::RenewKept => writeln!(out, "ln -f {} {}", q(&s.path), q(&s.orig))?,
                Action::Link | Action::Relink { .. } => {}
            }
            if s.action != Action::Nothing {
                script_lines(out, s)?;
                any = true;
            }
            if let Some(p) = &s.dpkg_old {
                writeln!(out, "rm {}", q(p))?;
                any = true;
            }
        }
        if !any {
            writeln!(
                out,
                "# nothing to do: every script runs xennet's binary already"
            )?;
        }
        return Ok(());
    }

    let mut done: Vec<&Step> = Vec::new();
    for s in &plan {
        let aside = aside_path(&s.orig);
        let result = match &s.action {
            Action::Nothing => Ok(()),
            Action::KeepAndLink => {
                keep_original(&s.path, &s.orig).and_then(|()| write_script(&s.bin, &s.path, s.name))
            }
            Action::RenewKept => std::fs::rename(&s.orig, &aside)
                .and_then(|()| keep_original(&s.path, &s.orig))
                .and_then(|()| write_script(&s.bin, &s.path, s.name)),
            Action::Link | Action::Relink { .. } => write_script(&s.bin, &s.path, s.name),
        };
        if let Err(e) = result {
            let undo = undo_install(&done);
            if matches!(s.action, Action::KeepAndLink | Action::RenewKept) {
                undo_keep(&s.path, &s.orig);
            }
            if s.action == Action::RenewKept && exists(&aside) && !exists(&s.orig) {
                let _ = std::fs::rename(&aside, &s.orig);
            }
            bail!(
                "installing {} into {} failed: {e}; {}",
                s.name,
                o.dir.display(),
                match undo {
                    Ok(()) => "the scripts already done were put back as they were".to_string(),
                    Err(u) => format!("putting back the scripts already done failed too: {u}"),
                }
            );
        }
        done.push(s);
    }
    for s in &plan {
        let bin = s.bin.display();
        let mut line = match &s.action {
            Action::Nothing => format!("{}: already runs {bin}", s.name),
            Action::KeepAndLink => format!(
                "{}: now runs {bin}; the original is kept as {}",
                s.name,
                s.orig.display()
            ),
            Action::Link if exists(&s.orig) => format!(
                "{}: now runs {bin} (the original was kept already as {})",
                s.name,
                s.orig.display()
            ),
            Action::Link => format!("{}: now runs {bin} (there was no original)", s.name),
            Action::Relink { old } => format!(
                "{}: now runs {bin} instead of {}",
                s.name,
                match old {
                    Previous::Link(t) => format!("{} (a symbolic link)", t.display()),
                    Previous::Script(t) => t.display().to_string(),
                }
            ),
            Action::RenewKept => format!(
                "{}: now runs {bin}; the script that was in place is what the package ships now \
                 (dpkg had put it back), so it is kept as {} instead of the older one",
                s.name,
                s.orig.display()
            ),
        };
        if s.action == Action::RenewKept {
            let _ = std::fs::remove_file(aside_path(&s.orig));
        }
        if let Some(p) = &s.dpkg_old {
            if std::fs::remove_file(p).is_ok() {
                line.push_str(&format!("; {} (ours, saved by dpkg) removed", p.display()));
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Undoes a `keep_original` whose script then failed: the `.xen-orig` name was made by this run
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

fn undo_install(done: &[&Step]) -> std::io::Result<()> {
    for s in done.iter().rev() {
        match &s.action {
            Action::Nothing => {}
            Action::KeepAndLink => std::fs::rename(&s.orig, &s.path)?,
            Action::RenewKept => {
                std::fs::rename(&s.orig, &s.path)?;
                std::fs::rename(aside_path(&s.orig), &s.orig)?;
            }
            Action::Link => std::fs::remove_file(&s.path)?,
            Action::Relink { old } => put_back(old, &s.path, s.name)?,
        }
    }
    Ok(())
}

/// `xennet uninstall`: every kept original back under its name (or, when dpkg kept ours and
/// saved the package's newer script as `<name>.dpkg-dist`, that one), our scripts without an
/// original removed, our copies saved by dpkg (`<name>.dpkg-old`) removed. Returns false when
/// some script had to be left as it was.
pub fn uninstall(dir: &Path, dry_run: bool, out: &mut dyn std::io::Write) -> Result<bool> {
    check_dir(dir)?;
    let conffiles = Conffiles::load();
    let abs_dir = dpkg::absolute_dir(dir);
    let mut changed = false;
    let mut clean = true;
    for s in &SCRIPTS {
        let name = s.name;
        let path = dir.join(name);
        let orig = orig_path(dir, name);
        let dist = dpkg_path(dir, name, "dpkg-dist");
        let shipped = |f: &Path| conffiles.is_shipped(&abs_dir.join(name), f) == Some(true);
        let found =
            classify(dir, name).with_context(|| format!("cannot read {}", path.display()))?;
        let have_orig = exists(&orig);
        // A script of ours, or none where an original is kept: something to put back.
        let to_restore = match found {
            Found::Ours { .. } => true,
            Found::Missing => have_orig,
            Found::Other => false,
        };
        match found {
            _ if to_restore
                && exists(&dist)
                && shipped(&dist)
                && !(have_orig && shipped(&orig)) =>
            {
                // dpkg kept ours on an upgrade and saved the package's script: that one is the
                // original now; the copy install kept is older.
                changed = true;
                if dry_run {
                    writeln!(out, "mv -f {} {}", q(&dist), q(&path))?;
                    if have_orig {
                        writeln!(out, "rm {}", q(&orig))?;
                    }
                } else {
                    std::fs::rename(&dist, &path).with_context(|| {
                        format!("putting {} back as {}", dist.display(), path.display())
                    })?;
                    if have_orig {
                        std::fs::remove_file(&orig)
                            .with_context(|| format!("removing {}", orig.display()))?;
                    }
                    writeln!(
                        out,
                        "{name}: the package's current script is back in place (from {}, \
                         saved by dpkg when it kept ours){}",
                        dist.display(),
                        if have_orig {
                            format!("; the older copy {} is removed", orig.display())
                        } else {
                            String::new()
                        }
                    )?;
                }
            }
            _ if to_restore && have_orig => {
                changed = true;
                if dry_run {
                    writeln!(out, "mv -f {} {}", q(&orig), q(&path))?;
                } else {
                    std::fs::rename(&orig, &path).with_context(|| {
                        format!("putting {} back as {}", orig.display(), path.display())
                    })?;
                    writeln!(out, "{name}: the original is back in place")?;
                }
            }
            Found::Ours { .. } => {
                changed = true;
                if dry_run {
                    writeln!(out, "rm {}", q(&path))?;
                } else {
                    std::fs::remove_file(&path)
                        .with_context(|| format!("removing {}", path.display()))?;
                    writeln!(
                        out,
                        "{name}: xennet's script removed (there was no original to put back)"
                    )?;
                }
            }
            Found::Other if have_orig && (same_content(&path, &orig) || shipped(&path)) => {
                // dpkg put the package's script back (--force-confnew), or it is the kept one.
                changed = true;
                if dry_run {
                    writeln!(out, "rm {}", q(&orig))?;
                } else {
                    std::fs::remove_file(&orig)
                        .with_context(|| format!("removing {}", orig.display()))?;
                    writeln!(
                        out,
                        "{name}: Xen's script is in place already (the package put it back); \
                         the copy install kept, {}, is removed",
                        orig.display()
                    )?;
                }
            }
            Found::Other if have_orig => {
                clean = false;
                writeln!(
                    out,
                    "{name}: left as it is: {} is not xennet's (a package upgrade may have \
                     replaced it), so {} was not put back over it; compare the two and keep one",
                    path.display(),
                    orig.display()
                )?;
            }
            Found::Other | Found::Missing => {}
        }
        if let Some(p) = our_dpkg_old(dir, name) {
            changed = true;
            if dry_run {
                writeln!(out, "rm {}", q(&p))?;
            } else {
                std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
                writeln!(
                    out,
                    "{name}: {} (xennet's script, saved by dpkg) removed",
                    p.display()
                )?;
            }
        }
    }
    if !changed && clean {
        writeln!(
            out,
            "nothing to undo: no script in {} is xennet's and no original is kept there",
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
        assert!(out.contains("vif-bridge: now runs"), "{out}");
        assert!(out.contains("vif-nat: now runs") && out.contains("no original"));
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
        assert_eq!(again.matches("already runs").count(), SCRIPTS.len());

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
