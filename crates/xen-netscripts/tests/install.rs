//! `xennet install` / `uninstall` on a temporary scripts directory with stand-in originals. The
//! stand-in binaries are symbolic links named like the scripts to the built `xennet` (an ELF file
//! of ours, as the real script binaries are). Nothing outside the temporary directories is
//! touched: every run names --dir (and --bin-dir).

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const SCRIPTS: [&str; 7] = [
    "vif-bridge",
    "vif-openvswitch",
    "vif-nat",
    "vif-route",
    "network-bridge",
    "network-nat",
    "network-route",
];

fn xennet(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xen-netscripts"))
        .arg0("xennet")
        .args(args)
        .env_remove("XEN_SCRIPT_DIR")
        .output()
        .expect("run xennet");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The binary a script written by install runs (it is a regular file, mode 0755, marked as
/// ours), or None.
fn runs(script: &Path) -> Option<PathBuf> {
    let meta = std::fs::symlink_metadata(script).ok()?;
    if !meta.is_file() || meta.mode() & 0o7777 != 0o755 {
        return None;
    }
    let text = std::fs::read_to_string(script).ok()?;
    if !text.starts_with("#!/bin/sh\n# xen-netscripts: written by `xennet install`") {
        return None;
    }
    let exec = text.lines().find(|l| l.starts_with("exec "))?;
    let bin = exec.strip_prefix("exec ")?.strip_suffix(" \"$@\"")?;
    Some(PathBuf::from(bin))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stand_in_bins() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for name in SCRIPTS {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_xen-netscripts"), d.path().join(name))
            .unwrap();
    }
    d
}

/// Every entry of a directory: its kind, mode, inode, and content or link target.
#[derive(Debug, PartialEq, Eq)]
enum Entry {
    File { mode: u32, ino: u64, bytes: Vec<u8> },
    Link(PathBuf),
}

fn snapshot(dir: &Path) -> BTreeMap<String, Entry> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            let entry = if meta.file_type().is_symlink() {
                Entry::Link(std::fs::read_link(e.path()).unwrap())
            } else {
                Entry::File {
                    mode: meta.mode(),
                    ino: meta.ino(),
                    bytes: std::fs::read(e.path()).unwrap(),
                }
            };
            (e.file_name().to_string_lossy().into_owned(), entry)
        })
        .collect()
}

/// Xen-like originals: shell scripts of different modes, one with bytes that are not UTF-8, and
/// one a symbolic link (as some distributions ship them); vif-nat and network-route absent.
fn originals(dir: &Path, elsewhere: &Path) {
    let write = |name: &str, bytes: &[u8], mode: u32| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write("vif-bridge", b"#!/bin/bash\n# vif-bridge original\n", 0o755);
    write("network-bridge", b"#!/bin/bash\necho \xff\xfe\n", 0o750);
    write("network-nat", b"#!/bin/sh\n", 0o700);
    write("vif-common.sh", b"# not ours to touch\n", 0o644);
    let real = elsewhere.join("vif-route");
    std::fs::write(&real, "#!/bin/bash\n# shipped elsewhere\n").unwrap();
    std::os::unix::fs::symlink(&real, dir.join("vif-route")).unwrap();
}

#[test]
fn install_and_uninstall_round_trip() {
    let bins = stand_in_bins();
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    originals(dir.path(), elsewhere.path());
    let before = snapshot(dir.path());
    let d = s(dir.path());
    let b = s(bins.path());

    // --dry-run prints shell lines and changes nothing.
    let (code, out, err) = xennet(&["install", "--dir", d, "--bin-dir", b, "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("ln {d}/vif-bridge {d}/vif-bridge.xen-orig")),
        "{out}"
    );
    assert_eq!(out.matches("<<'EOF'").count(), SCRIPTS.len(), "{out}");
    assert_eq!(snapshot(dir.path()), before);

    let (code, out, err) = xennet(&["install", "--dir", d, "--bin-dir", b]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.lines().count(), SCRIPTS.len(), "{out}");
    let bin_dir = std::fs::canonicalize(bins.path()).unwrap();
    for name in SCRIPTS {
        assert_eq!(
            runs(&dir.path().join(name)),
            Some(bin_dir.join(name)),
            "{name}"
        );
    }
    for kept in ["vif-bridge", "network-bridge", "network-nat", "vif-route"] {
        let orig = format!("{kept}.xen-orig");
        assert_eq!(snapshot(dir.path())[&orig], before[kept], "{orig}");
    }
    assert!(!dir.path().join("vif-nat.xen-orig").exists());
    assert_eq!(
        snapshot(dir.path())["vif-common.sh"],
        before["vif-common.sh"]
    );

    // Twice is once.
    let installed = snapshot(dir.path());
    let (code, out, err) = xennet(&["install", "--dir", d, "--bin-dir", b]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.matches("already runs").count(), SCRIPTS.len(), "{out}");
    assert_eq!(snapshot(dir.path()), installed);
    let (code, out, _) = xennet(&["install", "--dir", d, "--bin-dir", b, "--dry-run"]);
    assert_eq!(code, 0);
    assert!(out.contains("nothing to do"), "{out}");

    // uninstall --dry-run changes nothing; uninstall puts back the very same files.
    let (code, out, _) = xennet(&["uninstall", "--dir", d, "--dry-run"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("mv -f {d}/vif-bridge.xen-orig {d}/vif-bridge")),
        "{out}"
    );
    assert!(out.contains(&format!("rm {d}/vif-nat")), "{out}");
    assert_eq!(snapshot(dir.path()), installed);
    let (code, out, err) = xennet(&["uninstall", "--dir", d]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(snapshot(dir.path()), before, "{out}");

    // Twice is once, with a message.
    let (code, out, _) = xennet(&["uninstall", "--dir", d]);
    assert_eq!(code, 0);
    assert!(out.contains("nothing to undo"), "{out}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn uninstall_without_install_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    originals(dir.path(), elsewhere.path());
    let before = snapshot(dir.path());
    let (code, out, err) = xennet(&["uninstall", "--dir", s(dir.path())]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("nothing to undo"), "{out}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_missing_binary_is_refused_before_anything_changes() {
    let bins = stand_in_bins();
    std::fs::remove_file(bins.path().join("vif-route")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    originals(dir.path(), elsewhere.path());
    let before = snapshot(dir.path());
    let (code, out, err) = xennet(&[
        "install",
        "--dir",
        s(dir.path()),
        "--bin-dir",
        s(bins.path()),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains("refusing to install, nothing was changed"),
        "{err}"
    );
    assert!(err.contains("vif-route does not exist"), "{err}");
    assert!(err.contains("--bin-dir"), "{err}");
    assert_eq!(snapshot(dir.path()), before);

    // Not executable is refused too.
    let bins = tempfile::tempdir().unwrap();
    for name in SCRIPTS {
        let p = bins.path().join(name);
        std::fs::write(&p, "").unwrap();
        let mode = if name == "network-nat" { 0o644 } else { 0o755 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let (code, _, err) = xennet(&[
        "install",
        "--dir",
        s(dir.path()),
        "--bin-dir",
        s(bins.path()),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("network-nat is not executable"), "{err}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_kept_original_is_never_overwritten() {
    let bins = stand_in_bins();
    let dir = tempfile::tempdir().unwrap();
    let d = s(dir.path());
    // A package upgrade put a new vif-bridge over our link after an install.
    std::fs::write(dir.path().join("vif-bridge"), "#!/bin/bash\n# newer\n").unwrap();
    std::fs::write(
        dir.path().join("vif-bridge.xen-orig"),
        "#!/bin/bash\n# older\n",
    )
    .unwrap();
    let before = snapshot(dir.path());
    let (code, _, err) = xennet(&["install", "--dir", d, "--bin-dir", s(bins.path())]);
    assert_eq!(code, 1);
    assert!(err.contains("already holds an original"), "{err}");
    assert_eq!(snapshot(dir.path()), before);
    let (code, out, _) = xennet(&["uninstall", "--dir", d]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("vif-bridge: left as it is"), "{out}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_missing_scripts_directory_is_refused() {
    let bins = stand_in_bins();
    let (code, _, err) = xennet(&[
        "install",
        "--dir",
        "/nonexistent/xen/scripts",
        "--bin-dir",
        s(bins.path()),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("/nonexistent/xen/scripts does not exist"),
        "{err}"
    );
    assert!(!Path::new("/nonexistent").exists());
}

#[test]
fn another_build_is_relinked_and_its_originals_kept() {
    let old = stand_in_bins();
    let new = stand_in_bins();
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    originals(dir.path(), elsewhere.path());
    let before = snapshot(dir.path());
    let d = s(dir.path());
    assert_eq!(
        xennet(&["install", "--dir", d, "--bin-dir", s(old.path())]).0,
        0
    );
    let (code, out, _) = xennet(&["install", "--dir", d, "--bin-dir", s(new.path())]);
    assert_eq!(code, 0);
    assert_eq!(out.matches("instead of").count(), SCRIPTS.len(), "{out}");
    assert_eq!(xennet(&["uninstall", "--dir", d]).0, 0);
    assert_eq!(snapshot(dir.path()), before);
}

/// xennet with dpkg's database in `admindir`.
fn xennet_dpkg(admindir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xen-netscripts"))
        .arg0("xennet")
        .args(args)
        .env_remove("XEN_SCRIPT_DIR")
        .env("XENNET_DPKG_ADMINDIR", admindir)
        .output()
        .expect("run xennet");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn md5(p: &Path) -> String {
    let out = Command::new("md5sum").arg(p).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// A dpkg database (`admindir`, its status file alone) in which xen-utils-common ships
/// `<dir>/vif-bridge` as `shipped` is.
fn status_file(admindir: &Path, dir: &Path, shipped: &Path) {
    let dir = std::fs::canonicalize(dir).unwrap();
    std::fs::create_dir_all(admindir.join("info")).unwrap();
    std::fs::create_dir_all(admindir.join("updates")).unwrap();
    std::fs::write(
        admindir.join("status"),
        format!(
            "Package: xen-utils-common\nStatus: install ok installed\nVersion: 4.17.7\n\
             Architecture: all\nMaintainer: x <x@example.org>\nDescription: d\n\
             Conffiles:\n {} {}\n {} 0123456789abcdef0123456789abcdef\n",
            dir.join("vif-bridge").display(),
            md5(shipped),
            dir.join("vif-nat").display()
        ),
    )
    .unwrap();
}

#[test]
fn after_dpkg_force_confnew_install_and_uninstall_take_the_package_script() {
    let bins = stand_in_bins();
    let dir = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let d = s(dir.path());
    let b = s(bins.path());
    let vb = dir.path().join("vif-bridge");
    std::fs::write(&vb, "#!/bin/bash\n# vif-bridge 4.17.7\n").unwrap();
    std::fs::set_permissions(&vb, std::fs::Permissions::from_mode(0o755)).unwrap();
    let status = scratch.path().join("dpkg");
    status_file(&status, dir.path(), &vb);
    assert_eq!(
        xennet_dpkg(&status, &["install", "--dir", d, "--bin-dir", b]).0,
        0
    );

    // An upgrade with --force-confnew: dpkg keeps ours as .dpkg-old and installs its new script,
    // whose checksum it records.
    std::fs::copy(&vb, dir.path().join("vif-bridge.dpkg-old")).unwrap();
    let new = scratch.path().join("new");
    std::fs::write(&new, "#!/bin/bash\n# vif-bridge 4.17.8\n").unwrap();
    std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::copy(&new, &vb).unwrap();
    status_file(&status, dir.path(), &new);
    let upgraded = snapshot(dir.path());

    // doctor says which scripts are ours, which are not, and what to run.
    let (_, out, _) = xennet_dpkg(&status, &["doctor", "--dir", d]);
    let line = |name: &str| {
        out.lines()
            .find(|l| l[5..].starts_with(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in {out}"))
            .to_string()
    };
    let l = line("script vif-bridge");
    assert!(l.starts_with("WARN"), "{l}");
    assert!(
        l.contains("as xen-utils-common ships it now")
            && l.contains("dpkg put it back")
            && l.contains("vif-bridge.dpkg-old")
            && l.contains("`xennet install`"),
        "{l}"
    );
    let l = line("script vif-nat");
    assert!(l.starts_with("OK") && l.ends_with("(xennet)"), "{l}");
    let l = line("scripts");
    assert!(l.starts_with("WARN"), "{l}");
    assert!(
        l.contains("not xennet's: vif-bridge.") && l.contains("xennet's: vif-openvswitch"),
        "{l}"
    );

    // uninstall now: the package's script stays, the older copy and ours saved by dpkg go.
    let (code, out, err) = xennet_dpkg(&status, &["uninstall", "--dir", d, "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("rm {d}/vif-bridge.xen-orig")),
        "{out}"
    );
    assert!(
        out.contains(&format!("rm {d}/vif-bridge.dpkg-old")),
        "{out}"
    );
    assert_eq!(snapshot(dir.path()), upgraded);

    // install again: the package's current script becomes the kept original.
    let (code, out, err) = xennet_dpkg(&status, &["install", "--dir", d, "--bin-dir", b]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("vif-bridge: now runs") && out.contains("instead of the older one"),
        "{out}"
    );
    assert!(out.contains("(ours, saved by dpkg) removed"), "{out}");
    assert!(runs(&vb).is_some());
    assert_eq!(
        std::fs::read(dir.path().join("vif-bridge.xen-orig")).unwrap(),
        std::fs::read(&new).unwrap()
    );
    assert!(!dir.path().join("vif-bridge.dpkg-old").exists());
    assert_eq!(out.lines().count(), SCRIPTS.len(), "{out}");

    // uninstall: exactly what the package ships, nothing else left.
    let (code, out, err) = xennet_dpkg(&status, &["uninstall", "--dir", d]);
    assert_eq!(code, 0, "{out}{err}");
    let names: Vec<String> = snapshot(dir.path()).into_keys().collect();
    assert_eq!(names, ["vif-bridge"]);
    assert_eq!(md5(&vb), md5(&new));
}

#[test]
fn after_dpkg_force_confold_uninstall_puts_back_the_package_current_script() {
    let bins = stand_in_bins();
    let dir = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let d = s(dir.path());
    let vb = dir.path().join("vif-bridge");
    std::fs::write(&vb, "#!/bin/bash\n# vif-bridge 4.17.7\n").unwrap();
    let status = scratch.path().join("dpkg");
    status_file(&status, dir.path(), &vb);
    assert_eq!(
        xennet_dpkg(
            &status,
            &["install", "--dir", d, "--bin-dir", s(bins.path())]
        )
        .0,
        0
    );
    // An upgrade with --force-confold: ours stays, the new script is saved as .dpkg-dist and its
    // checksum recorded.
    let dist = dir.path().join("vif-bridge.dpkg-dist");
    std::fs::write(&dist, "#!/bin/bash\n# vif-bridge 4.17.8\n").unwrap();
    status_file(&status, dir.path(), &dist);
    let new = std::fs::read(&dist).unwrap();

    let (_, out, _) = xennet_dpkg(&status, &["doctor", "--dir", d]);
    let l = out
        .lines()
        .find(|l| l.contains("script vif-bridge:"))
        .unwrap();
    assert!(
        l.starts_with("OK") && l.contains("vif-bridge.dpkg-dist"),
        "{l}"
    );
    // Running install again changes nothing.
    let (_, out, _) = xennet_dpkg(
        &status,
        &["install", "--dir", d, "--bin-dir", s(bins.path())],
    );
    assert_eq!(out.matches("already runs").count(), SCRIPTS.len(), "{out}");

    let (code, out, err) = xennet_dpkg(&status, &["uninstall", "--dir", d]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("the package's current script is back in place"),
        "{out}"
    );
    assert_eq!(std::fs::read(&vb).unwrap(), new);
    let names: Vec<String> = snapshot(dir.path()).into_keys().collect();
    assert_eq!(names, ["vif-bridge"]);
}

#[test]
fn links_of_an_earlier_install_become_scripts_and_uninstall_still_works() {
    let bins = stand_in_bins();
    let bin_dir = std::fs::canonicalize(bins.path()).unwrap();
    // What install did before: each original hard-linked aside, a symbolic link in its place.
    let linked = |dir: &Path| {
        for name in SCRIPTS {
            let p = dir.join(name);
            if std::fs::symlink_metadata(&p).is_ok() {
                std::fs::hard_link(&p, dir.join(format!("{name}.xen-orig"))).unwrap();
                std::fs::remove_file(&p).unwrap();
            }
            std::os::unix::fs::symlink(bin_dir.join(name), &p).unwrap();
        }
    };
    let elsewhere = tempfile::tempdir().unwrap();

    // uninstall of such links works as before.
    let dir = tempfile::tempdir().unwrap();
    let d = s(dir.path());
    originals(dir.path(), elsewhere.path());
    let before = snapshot(dir.path());
    linked(dir.path());
    let (_, out, _) = xennet(&["doctor", "--dir", d]);
    let l = out
        .lines()
        .find(|l| l.contains("script vif-bridge:"))
        .unwrap();
    assert!(l.starts_with("WARN") && l.contains("symbolic link"), "{l}");
    assert_eq!(xennet(&["uninstall", "--dir", d]).0, 0);
    assert_eq!(snapshot(dir.path()), before);

    // install turns them into scripts, keeping the originals; uninstall then restores them.
    linked(dir.path());
    let (code, out, err) = xennet(&["install", "--dir", d, "--bin-dir", s(bins.path())]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.matches("(a symbolic link)").count(),
        SCRIPTS.len(),
        "{out}"
    );
    for name in SCRIPTS {
        assert_eq!(
            runs(&dir.path().join(name)),
            Some(bin_dir.join(name)),
            "{name}"
        );
    }
    assert_eq!(xennet(&["uninstall", "--dir", d]).0, 0);
    assert_eq!(snapshot(dir.path()), before);
}

/// `xennet install --dry-run | head -1`: the reader leaves early; xennet stops quietly, exit 0,
/// no "Broken pipe" error, and changes nothing.
#[test]
fn a_dry_run_whose_reader_leaves_early_ends_quietly() {
    let bins = stand_in_bins();
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    originals(dir.path(), elsewhere.path());
    let before = snapshot(dir.path());
    let (d, b) = (s(dir.path()), s(bins.path()));
    // A pipe whose read end is closed before xennet starts: its first write meets EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_xen-netscripts"))
        .arg0("xennet")
        .args(["install", "--dir", d, "--bin-dir", b, "--dry-run"])
        .env_remove("XEN_SCRIPT_DIR")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run xennet");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("Broken pipe"), "{err}");
    assert_eq!(before, snapshot(dir.path()));
}
