//! `xennet mac` and `xennet mac check`, run as the built binary.

use std::collections::HashSet;
use std::os::unix::process::CommandExt;
use std::process::Command;

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

fn octets(mac: &str) -> Vec<u8> {
    let parts: Vec<&str> = mac.split(':').collect();
    assert_eq!(parts.len(), 6, "{mac:?}");
    parts
        .iter()
        .map(|p| {
            assert!(
                p.len() == 2
                    && p.chars()
                        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
                "{mac:?} is not two lower-case hex digits per octet"
            );
            u8::from_str_radix(p, 16).unwrap()
        })
        .collect()
}

#[test]
fn xen_macs_are_in_the_toolstack_range() {
    // MAC-01: 00:16:3e:[00-7f]:xx:xx
    let (code, out, err) = xennet(&["mac", "-n", "1000"]);
    assert_eq!(code, 0, "{err}");
    let macs: Vec<&str> = out.lines().collect();
    assert_eq!(macs.len(), 1000);
    let mut fourth = HashSet::new();
    for m in &macs {
        let o = octets(m);
        assert_eq!(&o[..3], &[0x00, 0x16, 0x3e], "{m}");
        assert!(o[3] <= 0x7f, "{m}: fourth octet above 7f");
        fourth.insert(o[3]);
    }
    let distinct: HashSet<&&str> = macs.iter().collect();
    // 1000 draws from 2^23 values: a repeat is rare, a handful would mean a broken generator.
    assert!(distinct.len() >= 995, "only {} distinct", distinct.len());
    assert!(
        fourth.len() >= 64,
        "fourth octet takes only {} values",
        fourth.len()
    );
    assert!(fourth.iter().any(|&b| b >= 0x40) && fourth.iter().any(|&b| b < 0x40));
}

#[test]
fn local_macs_are_unicast_and_locally_administered() {
    // MAC-02: first octet xxxxxx10, second hex digit 2, 6, a or e.
    let (code, out, err) = xennet(&["mac", "--local", "--count", "1000"]);
    assert_eq!(code, 0, "{err}");
    let macs: Vec<&str> = out.lines().collect();
    assert_eq!(macs.len(), 1000);
    let mut digits = HashSet::new();
    for m in &macs {
        let o = octets(m);
        assert_eq!(o[0] & 0x03, 0x02, "{m}");
        let d = m.chars().nth(1).unwrap();
        assert!(matches!(d, '2' | '6' | 'a' | 'e'), "{m}");
        digits.insert(d);
        assert_ne!(*m, "fe:ff:ff:ff:ff:ff");
    }
    assert_eq!(digits.len(), 4, "second digits seen: {digits:?}");
    let distinct: HashSet<&&str> = macs.iter().collect();
    assert!(distinct.len() >= 999, "only {} distinct", distinct.len());
}

#[test]
fn separate_runs_give_different_macs_and_every_one_passes_the_check() {
    let mut seen = HashSet::new();
    for _ in 0..20 {
        let (code, out, _) = xennet(&["mac"]);
        assert_eq!(code, 0);
        assert_eq!(out.lines().count(), 1);
        seen.insert(out.trim().to_string());
    }
    assert!(seen.len() >= 19, "{seen:?}");
    let (_, local, _) = xennet(&["mac", "--local", "-n", "50"]);
    let mut args = vec!["mac", "check"];
    args.extend(seen.iter().map(String::as_str));
    args.extend(local.lines());
    let (code, out, err) = xennet(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches(": accepted").count(), seen.len() + 50);
}

/// (MAC, accepted, words the range line must have, words the why line must have)
const TABLE: &[(&str, bool, &str, &str)] = &[
    (
        "00:16:3e:00:00:00",
        true,
        "Xen 00:16:3e, inside the toolstack's range",
        "",
    ),
    ("00:16:3E:7F:FF:FF", true, "Xen 00:16:3e, inside", ""),
    (
        "00:16:3e:80:00:01",
        true,
        "Xen 00:16:3e, above the toolstack's range",
        "",
    ),
    ("00-16-3e-01-02-03", true, "Xen 00:16:3e", ""),
    (
        "00:0c:29:12:34:56",
        false,
        "VMware 00:0c:29",
        "another vendor's OUI (VMware's)",
    ),
    (
        "00:50:56:00:00:01",
        false,
        "VMware 00:50:56, its static range",
        "another vendor's OUI",
    ),
    (
        "00:50:56:3f:ff:ff",
        false,
        "VMware 00:50:56, its static range",
        "another vendor's OUI",
    ),
    (
        "00:50:56:40:00:00",
        false,
        "VMware 00:50:56, outside its static range",
        "another vendor's OUI",
    ),
    ("02:00:00:00:00:01", true, "locally administered", ""),
    ("06:11:22:33:44:55", true, "locally administered", ""),
    ("aa:bb:cc:dd:ee:ff", true, "locally administered", ""),
    ("0e:00:00:00:00:01", true, "locally administered", ""),
    (
        "01:00:5e:00:00:fb",
        false,
        "another vendor's OUI 00:00:5e",
        "multicast",
    ),
    (
        "33:33:00:00:00:01",
        false,
        "locally administered",
        "multicast",
    ),
    ("01:16:3e:00:00:01", false, "Xen 00:16:3e", "multicast"),
    (
        "ff:ff:ff:ff:ff:ff",
        false,
        "the broadcast address",
        "broadcast",
    ),
    (
        "00:1b:21:0a:0b:0c",
        false,
        "another vendor's OUI 00:1b:21",
        "another vendor's OUI",
    ),
    (
        "00:00:00:00:00:00",
        false,
        "the all-zero address",
        "all-zero",
    ),
    ("fe:ff:ff:ff:ff:ff", false, "locally administered", "MAC-03"),
];

#[test]
fn check_names_the_range_and_the_reason() {
    for (mac, accepted, range, why) in TABLE {
        let (code, out, err) = xennet(&["mac", "check", mac]);
        let lines: Vec<&str> = out.lines().collect();
        let shown = mac.replace('-', ":").to_lowercase();
        let verdict = if *accepted { "accepted" } else { "rejected" };
        assert_eq!(
            lines[0],
            format!("{shown}: {verdict}"),
            "{mac}:\n{out}{err}"
        );
        assert_eq!(code, if *accepted { 0 } else { 1 }, "{mac}: {out}");
        let range_line = lines.iter().find(|l| l.starts_with("  range: ")).unwrap();
        assert!(
            range_line.contains(range),
            "{mac}: {range_line:?} lacks {range:?}"
        );
        let why_line = lines.iter().find(|l| l.starts_with("  why:   "));
        if *accepted {
            assert_eq!(why_line, None, "{mac}: {out}");
        } else {
            let why_line = why_line.unwrap_or_else(|| panic!("{mac}: no reason in {out}"));
            assert!(why_line.contains(why), "{mac}: {why_line:?} lacks {why:?}");
            assert!(
                why_line.contains("xennet mac"),
                "{mac}: no advice in {why_line:?}"
            );
        }
    }
}

#[test]
fn check_takes_several_macs_and_the_worst_verdict_wins() {
    let (code, out, _) = xennet(&["mac", "check", "00:16:3e:00:00:01", "02:00:00:00:00:02"]);
    assert_eq!((code, out.matches(": accepted").count()), (0, 2));
    let (code, out, _) = xennet(&["mac", "check", "00:16:3e:00:00:01", "00:50:56:00:00:01"]);
    assert_eq!((code, out.matches(": rejected").count()), (1, 1));
    let (code, out, err) = xennet(&["mac", "check", "00:50:56:00:00:01", "nonsense"]);
    assert_eq!(code, 2);
    assert!(out.contains("00:50:56:00:00:01: rejected"));
    assert!(err.contains("\"nonsense\" is not a MAC address"), "{err}");
}

#[test]
fn malformed_macs_are_named_with_the_expected_form() {
    for bad in [
        "00:16:3e:00:00",
        "00:16:3e:zz:00:01",
        "0016.3e00.0001",
        "00:16:3e:00:00:00:00",
        "0:16:3e:0:0:1",
        "",
    ] {
        let (code, out, err) = xennet(&["mac", "check", bad]);
        assert_eq!(code, 2, "{bad:?}: {out}{err}");
        assert!(out.is_empty(), "{bad:?}: {out}");
        assert!(
            err.contains(&format!("{bad:?} is not a MAC address")),
            "{err}"
        );
        assert!(err.contains("six two-digit hex octets"), "{err}");
        assert!(err.contains("00:16:3e:12:34:56"), "{err}");
    }
}

#[test]
fn generation_and_check_do_not_mix() {
    let (code, _, err) = xennet(&["mac", "--local", "check", "02:00:00:00:00:01"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = xennet(&["mac", "check"]);
    assert_eq!(code, 2);
}
