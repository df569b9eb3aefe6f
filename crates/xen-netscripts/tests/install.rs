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
    assert_eq!(out.matches("ln -sfn ").count(), SCRIPTS.len(), "{out}");
    assert_eq!(snapshot(dir.path()), before);

    let (code, out, err) = xennet(&["install", "--dir", d, "--bin-dir", b]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.lines().count(), SCRIPTS.len(), "{out}");
    let bin_dir = std::fs::canonicalize(bins.path()).unwrap();
    for name in SCRIPTS {
        let link = dir.path().join(name);
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            bin_dir.join(name),
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
    assert_eq!(
        out.matches("already linked").count(),
        SCRIPTS.len(),
        "{out}"
    );
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
