//! `xennet man` and `xennet completions`, run as the built binary into temporary directories.

use std::os::unix::process::CommandExt;
use std::process::Command;

const BINARIES: [&str; 7] = [
    "xennet",
    "vif-bridge",
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
        .output()
        .expect("run xennet");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn man_pages_for_xennet_and_every_script() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man8");
    let (code, out, err) = xennet(&["man", "--out", out_dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for name in BINARIES.iter().chain(&[
        "xennet-mac",
        "xennet-install",
        "xennet-doctor",
        "xennet-map",
    ]) {
        let page = out_dir.join(format!("{name}.8"));
        assert!(out.contains(page.to_str().unwrap()), "{out}");
        let text = std::fs::read_to_string(&page).unwrap();
        assert!(text.contains(".TH"), "{name}");
        assert!(text.contains(".SH NAME"), "{name}");
    }
    let nb = std::fs::read_to_string(out_dir.join("network-bridge.8")).unwrap();
    assert!(
        nb.contains("layout=VALUE") && nb.contains("netloop"),
        "{nb}"
    );
    let vif = std::fs::read_to_string(out_dir.join("vif-route.8")).unwrap();
    for needle in [
        "online|offline|add|remove",
        "dry\\-run",
        "verbose",
        ".SH SETTINGS",
        "netdev=VALUE",
        "XENBUS_PATH=VALUE",
        ".SH ENVIRONMENT",
        ".SH \"EXIT STATUS\"",
    ] {
        assert!(vif.contains(needle), "vif-route.8 lacks {needle:?}");
    }
    let net = std::fs::read_to_string(out_dir.join("network-bridge.8")).unwrap();
    for needle in [
        "start|stop|status",
        "bridge=VALUE",
        "antispoof=VALUE",
        "confirm=VALUE",
    ] {
        assert!(net.contains(needle), "network-bridge.8 lacks {needle:?}");
    }
    let x = std::fs::read_to_string(out_dir.join("xennet.8")).unwrap();
    assert!(x.contains("xen\\-orig") || x.contains("xen-orig"), "{x}");
}

#[test]
fn completions_for_every_binary() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for (shell, file) in [("bash", "{}.bash"), ("zsh", "_{}"), ("fish", "{}.fish")] {
        let (code, out, err) = xennet(&["completions", shell, "--out", d]);
        assert_eq!(code, 0, "{err}");
        for b in BINARIES {
            let path = dir.path().join(file.replace("{}", b));
            assert!(path.exists(), "{shell}: no {}", path.display());
            assert!(out.contains(path.to_str().unwrap()), "{out}");
        }
    }
    let bash = std::fs::read_to_string(dir.path().join("vif-bridge.bash")).unwrap();
    assert!(bash.contains("online") && bash.contains("bridge=") && bash.contains("--dry-run"));
    let fish = std::fs::read_to_string(dir.path().join("vif-route.fish")).unwrap();
    assert!(
        fish.contains("-a 'offline'") && fish.contains("-a 'netdev='"),
        "{fish}"
    );
    let zsh = std::fs::read_to_string(dir.path().join("_network-nat")).unwrap();
    assert!(zsh.contains("start") && zsh.contains("dhcp="), "{zsh}");
    // The bash files are valid bash (where bash is installed).
    for b in BINARIES {
        let file = dir.path().join(format!("{b}.bash"));
        if let Ok(st) = Command::new("bash").arg("-n").arg(&file).status() {
            assert!(st.success(), "{} is not valid bash", file.display());
        }
    }
    // Without --out: xennet's own completion on standard output.
    let (code, out, _) = xennet(&["completions", "bash"]);
    assert_eq!(code, 0);
    assert!(out.contains("_xennet()") && out.contains("doctor"), "{out}");
}
