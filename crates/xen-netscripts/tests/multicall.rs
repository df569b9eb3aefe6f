//! One executable is every script (issue 15): it runs what the name it is started by says,
//! `xen-netscripts <name> …` runs the same, `--list` names them all, and a script's `--help` is
//! the registry's account of its settings. No root, no network.

use std::process::Command;
use xennet::scripts::SCRIPTS;

const EXE: &str = env!("CARGO_BIN_EXE_xen-netscripts");

fn run(argv0: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let exe = match argv0 {
        // Started through a symlink named like the script, as /etc/xen/scripts/<name> is.
        Some(name) => {
            let link = dir.path().join(name);
            std::os::unix::fs::symlink(EXE, &link).unwrap();
            link
        }
        None => EXE.into(),
    };
    let out = Command::new(exe).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn list_names_every_script_of_the_registry_and_xennet() {
    let (code, out, _) = run(None, &["--list"]);
    assert_eq!(code, 0);
    let mut want: Vec<&str> = SCRIPTS.iter().map(|s| s.name).collect();
    want.push("xennet");
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
}

#[test]
fn the_name_it_is_run_by_chooses_the_script() {
    for s in &SCRIPTS {
        let (code, out, err) = run(Some(s.name), &["--version"]);
        assert_eq!(code, 0, "{}: {err}", s.name);
        assert!(
            out.starts_with(&format!("{} (xen-netscripts) ", s.name)),
            "{}: {out}",
            s.name
        );
        // The same through the executable's own name.
        let (code, again, _) = run(None, &[s.name, "--version"]);
        assert_eq!((code, again), (0, out));
    }
    let (code, out, _) = run(Some("xennet"), &["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("xennet "), "{out}");
}

#[test]
fn a_scripts_help_is_the_registrys() {
    for s in &SCRIPTS {
        let (code, out, _) = run(Some(s.name), &["--help"]);
        assert_eq!(code, 0, "{}", s.name);
        assert!(out.starts_with(s.about), "{}: {out}", s.name);
        for setting in s.settings {
            assert!(
                out.contains(&format!("  {}=", setting.name)),
                "{} --help lacks {}=:\n{out}",
                s.name,
                setting.name
            );
        }
        for w in s.words {
            assert!(out.contains(w.word), "{} --help lacks {}", s.name, w.word);
        }
    }
}

#[test]
fn an_unknown_name_is_refused_with_the_list() {
    let (code, _, err) = run(None, &["vif-common.sh", "online"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("\"vif-common.sh\" is not one of its names") && err.contains("vif-bridge"),
        "{err}"
    );
}
