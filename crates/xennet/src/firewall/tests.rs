//! The firewall driver over fixtures (spec §2.10, IPT-01…IPT-09; issues 8, 9 and 15): the
//! choice of backend (`firewall=auto` per the tools installed, the argument, the environment and
//! the config file), the iptables rules exactly as the originals' `iptables-save` shows them, a
//! new vif's online that reads no ruleset, a second online that reconciles, offline from both
//! backends, nftables' rule sets and table membership, network-nat's rules and
//! network-bridge's guard in each backend.

use super::iptables::{self as ipt, Iptables};
use super::nftables::{self as nft, Nftables};
use super::*;
use crate::fixture::testing::{dom0, inv};
use crate::fixture::Fixture;
use crate::plan::{Action, OnError};
use crate::snapshot::{self, Answer, Fact};
use crate::state::Link;

/// Plans `f` over `host`, reading what it asks for.
fn on<T>(host: &Fixture, f: impl FnMut(&Snapshot) -> Result<T>) -> Result<T> {
    snapshot::plan(host, &mut Snapshot::new(), f)
}

fn ips(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn bridged<'a>(dev: &'a str, ips: &'a [String], mac: &'a str) -> Vif<'a> {
    Vif {
        dev,
        ifindex: Some(7),
        ips,
        mac,
        family: Some(Family::Bridge),
        antispoof: false,
        guarded: false,
    }
}

/// A link as netback leaves a new vif: down, unbridged, netback's MAC.
fn fresh(name: &str) -> Link {
    Link {
        address: "fe:ff:ff:ff:ff:ff".into(),
        ifindex: 7,
        ..Link::named(name)
    }
}

fn up_port(name: &str) -> Link {
    Link {
        up: true,
        master: Some("xenbr0".into()),
        address: crate::bridge::PORT_MAC.into(),
        ..Link::named(name)
    }
}

fn stdin(step: &Step) -> &str {
    match &step.action {
        Action::Run(c) => c.stdin.as_deref().expect("a batch"),
        a => panic!("not a command: {a:?}"),
    }
}

fn undo_stdin(step: &Step) -> &str {
    match &step.undo {
        Some(Action::Run(c)) => c.stdin.as_deref().expect("a batch"),
        a => panic!("not a command: {a:?}"),
    }
}

fn whats(steps: &[Step]) -> Vec<&str> {
    steps.iter().map(|s| s.what.as_str()).collect()
}

/// The iptables-save lines of `dev`'s rules as a clean online leaves them (the last inserted
/// first).
fn chain_of(dev: &str, ips: &[String]) -> String {
    ipt::vif_rules(dev, ips)
        .iter()
        .rev()
        .map(|r| format!("{}\n", r.save))
        .collect()
}

fn record_of(dev: &str, ips: &[String]) -> String {
    ipt::vif_rules(dev, ips)
        .iter()
        .map(|r| r.save.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

fn failed(missing_tool: bool) -> Answer {
    Answer::Failed {
        msg: "iptables-save failed".into(),
        missing_tool,
    }
}

// ---------------------------------------------------------------------------------------------
// choose(): firewall=auto, the argument, the environment, the config file.

fn choice(args: &[&str], env: &[(&str, &str)], host: &Fixture) -> Result<(Choice, Vec<Note>)> {
    let mut words = vec!["online"];
    words.extend_from_slice(args);
    let i = inv("vif-bridge", &words, env);
    on(host, |s| choose(&i, s))
}

#[test]
fn auto_takes_iptables_when_installed_else_nft_else_none_with_a_warning() {
    let (c, notes) = choice(&[], &[], &Fixture::new().tools(&["iptables", "nft"])).unwrap();
    assert_eq!(c.backend, Backend::Iptables);
    assert_eq!(
        c.why,
        "iptables (firewall=auto, default: iptables is installed)"
    );
    assert_eq!(
        notes,
        [Note::Debug(
            "firewall backend iptables (firewall=auto, default: iptables is installed)".into()
        )]
    );
    let host = Fixture::new().tools(&["nft"]);
    let (c, _) = choice(&[], &[], &host).unwrap();
    assert_eq!(c.backend, Backend::Nftables);
    assert_eq!(
        c.why,
        "nftables (firewall=auto, default: nft is installed and iptables is not)"
    );
    assert_eq!(
        host.asked()
            .iter()
            .filter(|f| matches!(f, Fact::Tool(_)))
            .collect::<Vec<_>>(),
        [&Fact::Tool("iptables".into()), &Fact::Tool("nft".into())]
    );
    let (c, notes) = choice(&[], &[], &Fixture::new()).unwrap();
    assert_eq!(c.backend, Backend::None);
    assert!(
        matches!(&notes[0], Note::Warn(t) if t.starts_with("neither iptables nor nft is installed: no firewall rules are set"))
    );
}

#[test]
fn auto_given_explicitly_looks_at_the_tools_too() {
    let (c, _) = choice(&["firewall=auto"], &[], &Fixture::new().tools(&["nft"])).unwrap();
    assert_eq!(c.backend, Backend::Nftables);
    assert!(c.why.contains("argument firewall="), "{}", c.why);
}

#[test]
fn an_explicit_backend_is_taken_as_given_without_looking_at_the_tools() {
    let host = Fixture::new();
    for (arg, backend) in [
        ("firewall=iptables", Backend::Iptables),
        ("firewall=nftables", Backend::Nftables),
        ("firewall=none", Backend::None),
    ] {
        let (c, notes) = choice(&[arg], &[], &host).unwrap();
        assert_eq!(c.backend, backend);
        assert_eq!(c.why, format!("{} (argument firewall=)", backend.name()));
        assert!(notes.is_empty(), "{notes:?}");
    }
    assert!(!host.asked().iter().any(|f| matches!(f, Fact::Tool(_))));
}

#[test]
fn the_environment_beats_the_config_file_and_the_argument_beats_both() {
    let conf = crate::conf::path();
    let host = Fixture::new().file(&conf, "firewall=nftables\n");
    let (c, _) = choice(&[], &[], &host).unwrap();
    assert_eq!(c.why, format!("nftables (firewall= in {})", conf.display()));
    let (c, _) = choice(&[], &[("firewall", "none")], &host).unwrap();
    assert_eq!(c.why, "none (environment variable firewall)");
    let (c, _) = choice(&["firewall=iptables"], &[("firewall", "none")], &host).unwrap();
    assert_eq!(c.why, "iptables (argument firewall=)");
}

#[test]
fn an_invalid_firewall_in_the_config_file_is_refused_even_when_the_argument_overrides_it() {
    let conf = crate::conf::path();
    let host = Fixture::new().file(&conf, "# ours\nfirewall = pf\n");
    for (args, env) in [
        (&["firewall=iptables"][..], &[][..]),
        (&[][..], &[("firewall", "none")][..]),
        (&[][..], &[][..]),
    ] {
        let e = choice(args, env, &host).unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!(
                "firewall=\"pf\" is not a firewall backend: use auto (the default), iptables, nftables or none (firewall= in {})",
                conf.display()
            )
        );
    }
    // The last line naming it wins, as in the shell.
    let host = Fixture::new().file(&conf, "firewall=pf\nfirewall=none\n");
    assert_eq!(choice(&[], &[], &host).unwrap().0.backend, Backend::None);
}

#[test]
fn check_setting_names_the_values_there_are() {
    assert!(check_setting("firewall", "auto").is_ok());
    assert_eq!(
        check_setting("firewall", "ufw").unwrap_err().0,
        "firewall=\"ufw\" is not a firewall backend: use auto (the default), iptables, nftables or none"
    );
    for b in [Backend::Iptables, Backend::Nftables, Backend::None] {
        assert_eq!(Backend::from_name(b.name()), Some(b));
    }
    assert_eq!(Backend::from_name("auto"), None);
}

// ---------------------------------------------------------------------------------------------
// for_vif(): the backend and antispoof= for one vif event.

fn vif_fw(args: &[&str], host: &Fixture) -> Result<(VifFirewall, Vec<Note>)> {
    let mut words = vec!["online"];
    words.extend_from_slice(args);
    let i = inv("vif-bridge", &words, &[]);
    on(host, |s| {
        let mut notes = Vec::new();
        let fw = for_vif(&i, s, &mut notes)?;
        Ok((fw, notes))
    })
}

#[test]
fn for_vif_logs_one_line_with_the_backend_and_antispoof() {
    let (fw, notes) = vif_fw(&[], &Fixture::new().tools(&["iptables"])).unwrap();
    assert!(!fw.antispoof);
    assert_eq!(
        notes,
        [Note::Debug(
            "firewall backend iptables (firewall=auto, default: iptables is installed), antispoof no (default)"
                .into()
        )]
    );
}

#[test]
fn antispoof_with_iptables_is_said_to_block_nothing_by_itself() {
    let (fw, notes) = vif_fw(&["antispoof=yes", "firewall=iptables"], &Fixture::new()).unwrap();
    assert!(fw.antispoof);
    assert!(notes.iter().any(|n| matches!(n, Note::Debug(t)
        if t.starts_with("antispoof=yes blocks only with firewall=nftables"))));
    let (_, notes) = vif_fw(&["antispoof=yes", "firewall=nftables"], &Fixture::new()).unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
}

#[test]
fn antispoof_comes_from_the_config_file_and_an_invalid_one_is_refused() {
    let conf = crate::conf::path();
    let host = Fixture::new().file(&conf, "antispoof=yes\nfirewall=nftables\n");
    let (fw, notes) = vif_fw(&[], &host).unwrap();
    assert!(fw.antispoof);
    assert_eq!(fw.choice.backend, Backend::Nftables);
    assert!(notes.iter().any(|n| matches!(n, Note::Debug(t)
        if t.ends_with(&format!("antispoof yes (antispoof= in {})", conf.display())))));
    let bad = Fixture::new().file(&conf, "antispoof=maybe\n");
    let e = vif_fw(&["antispoof=no", "firewall=none"], &bad).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    assert!(e.to_string().contains("\"maybe\" must be yes or no"), "{e}");
}

#[test]
fn auto_warns_once_when_there_is_no_firewall_at_all() {
    let (fw, notes) = vif_fw(&[], &Fixture::new()).unwrap();
    assert_eq!(fw.choice.backend, Backend::None);
    assert_eq!(
        notes.iter().filter(|n| matches!(n, Note::Warn(_))).count(),
        1,
        "{notes:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// iptables: the originals' rules.

#[test]
fn ipt03_ipt04_rules_with_addresses_are_the_originals_save_form() {
    let list = ips(&["10.0.0.5", "192.168.1.10/24"]);
    let saves: Vec<String> = ipt::vif_rules("vif5.0", &list)
        .into_iter()
        .map(|r| r.save)
        .collect();
    assert_eq!(
        saves,
        [
            "-A FORWARD -s 10.0.0.5/32 -m physdev --physdev-in vif5.0 --physdev-is-bridged -j ACCEPT",
            "-A FORWARD -s 192.168.1.0/24 -m physdev --physdev-in vif5.0 --physdev-is-bridged -j ACCEPT",
            "-A FORWARD -p udp -m physdev --physdev-in vif5.0 --physdev-is-bridged -m udp --sport 68 --dport 67 -j ACCEPT",
            "-A FORWARD -m physdev --physdev-out vif5.0 --physdev-is-bridged -j ACCEPT",
        ]
    );
    let inserts: Vec<String> = ipt::vif_rules("vif5.0", &list)
        .into_iter()
        .map(|r| r.insert.join(" "))
        .collect();
    assert_eq!(
        inserts,
        [
            "-m physdev --physdev-is-bridged --physdev-in vif5.0 -s 10.0.0.5 -j ACCEPT",
            "-m physdev --physdev-is-bridged --physdev-in vif5.0 -s 192.168.1.10/24 -j ACCEPT",
            "-m physdev --physdev-is-bridged --physdev-in vif5.0 -p udp --sport 68 --dport 67 -j ACCEPT",
            "-m physdev --physdev-is-bridged --physdev-out vif5.0 -j ACCEPT",
        ]
    );
}

#[test]
fn ipt04_without_addresses_one_unrestricted_in_rule_and_the_out_rule() {
    let saves: Vec<String> = ipt::vif_rules("vif5.0", &[])
        .into_iter()
        .map(|r| r.save)
        .collect();
    assert_eq!(
        saves,
        [
            "-A FORWARD -m physdev --physdev-in vif5.0 --physdev-is-bridged -j ACCEPT",
            "-A FORWARD -m physdev --physdev-out vif5.0 --physdev-is-bridged -j ACCEPT",
        ]
    );
}

#[test]
fn ipt04_an_ipv6_address_gets_no_iptables_rule_but_dhcp_and_out_stay() {
    let saves: Vec<String> = ipt::vif_rules("vif5.0", &ips(&["2001:db8::5"]))
        .into_iter()
        .map(|r| r.save)
        .collect();
    assert_eq!(saves.len(), 2, "{saves:?}");
    assert!(saves[0].contains("--sport 68 --dport 67") && saves[1].contains("--physdev-out"));
}

#[test]
fn only_our_shapes_for_exactly_this_device_count_as_ours() {
    let dev = "vif1.0";
    for line in ipt::vif_rules(dev, &ips(&["10.0.0.1"])) {
        assert!(ipt::is_ours(&line.save, dev), "{}", line.save);
        assert!(!ipt::is_ours(&line.save, "vif1.0-emu"), "{}", line.save);
        assert!(!ipt::is_ours(&line.save, "vif1.01"), "{}", line.save);
    }
    for admin in [
        "-A FORWARD -m physdev --physdev-in vif1.0 --physdev-is-bridged -j DROP",
        "-A FORWARD -i vif1.0 -j ACCEPT",
        "-A INPUT -m physdev --physdev-in vif1.0 --physdev-is-bridged -j ACCEPT",
        "-A FORWARD -m physdev --physdev-in vif1.0 -j ACCEPT",
    ] {
        assert!(!ipt::is_ours(admin, dev), "{admin}");
    }
}

#[test]
fn issue8_a_new_vif_reads_no_ruleset_and_inserts_its_rules_in_one_locked_batch() {
    let host = Fixture::new().link(fresh("vif1.0")).tools(&[
        "iptables",
        "iptables-save",
        "iptables-restore",
    ]);
    let list = ips(&["192.0.2.51"]);
    let steps = on(&host, |s| {
        Iptables.vif_online(&bridged("vif1.0", &list, ""), s, &mut Vec::new())
    })
    .unwrap();
    assert_eq!(
        whats(&steps),
        [
            "note that vif1.0 has iptables rules of ours",
            "set the iptables rules of vif1.0"
        ]
    );
    assert_eq!(
        steps[0].action,
        Action::WriteFile {
            path: ipt::record_path("vif1.0").display().to_string(),
            value: record_of("vif1.0", &list),
        }
    );
    assert_eq!(
        steps[0].undo,
        Some(Action::RemoveFile {
            path: ipt::record_path("vif1.0").display().to_string()
        })
    );
    assert_eq!(
        stdin(&steps[1]),
        "*filter\n\
         -I FORWARD -m physdev --physdev-is-bridged --physdev-in vif1.0 -s 192.0.2.51 -j ACCEPT\n\
         -I FORWARD -m physdev --physdev-is-bridged --physdev-in vif1.0 -p udp --sport 68 --dport 67 -j ACCEPT\n\
         -I FORWARD -m physdev --physdev-is-bridged --physdev-out vif1.0 -j ACCEPT\n\
         COMMIT\n"
    );
    assert_eq!(
        undo_stdin(&steps[1]),
        "*filter\n\
         -D FORWARD -m physdev --physdev-is-bridged --physdev-out vif1.0 -j ACCEPT\n\
         -D FORWARD -m physdev --physdev-is-bridged --physdev-in vif1.0 -p udp --sport 68 --dport 67 -j ACCEPT\n\
         -D FORWARD -m physdev --physdev-is-bridged --physdev-in vif1.0 -s 192.0.2.51 -j ACCEPT\n\
         COMMIT\n"
    );
    assert_eq!(steps[1].lock, Some("iptables"));
    // IPT-01: the wait is bounded (TS-05).
    let Action::Run(c) = &steps[1].action else {
        panic!()
    };
    assert_eq!(
        c.line().lines().next().unwrap(),
        "iptables-restore '--wait=10' --noflush <<'EOF'"
    );
    assert!(!host.asked().contains(&Fact::Iptables("filter".into())));
}

#[test]
fn issue8_netbacks_new_vif_with_its_fe_ff_mac_reads_no_ruleset() {
    // The captured dom0: vif1.0 down, unbridged, MAC fe:ff:ff:ff:ff:ff, as netback leaves it.
    let host = dom0();
    let steps = on(&host, |s| {
        Iptables.vif_online(&bridged("vif1.0", &[], ""), s, &mut Vec::new())
    })
    .unwrap();
    assert_eq!(steps.len(), 2);
    assert!(
        !host.asked().contains(&Fact::Iptables("filter".into())),
        "{:?}",
        host.asked()
    );
}

#[test]
fn issue8_a_vif_still_to_be_renamed_reads_no_ruleset_but_a_bridged_one_does() {
    let host = Fixture::new().tools(&["iptables-restore"]);
    on(&host, |s| {
        Iptables.vif_online(&bridged("web0", &[], ""), s, &mut Vec::new())
    })
    .unwrap();
    assert!(!host.asked().contains(&Fact::Iptables("filter".into())));
    // A port already up on a bridge may carry rules nobody noted: they are read.
    let host = Fixture::new()
        .link(up_port("vif1.0"))
        .tools(&["iptables-restore"]);
    on(&host, |s| {
        Iptables.vif_online(&bridged("vif1.0", &[], ""), s, &mut Vec::new())
    })
    .unwrap();
    assert!(host.asked().contains(&Fact::Iptables("filter".into())));
}

#[test]
fn ipt08_a_second_online_with_the_rules_in_place_only_renews_its_note() {
    let list = ips(&["192.0.2.51"]);
    let host = Fixture::new()
        .link(up_port("vif1.0"))
        .iptables(
            "filter",
            &format!(
                "-A FORWARD -i eth9 -j ACCEPT\n{}",
                chain_of("vif1.0", &list)
            ),
        )
        .file(ipt::record_path("vif1.0"), &record_of("vif1.0", &list));
    let steps = on(&host, |s| {
        Iptables.vif_online(&bridged("vif1.0", &list, ""), s, &mut Vec::new())
    })
    .unwrap();
    assert_eq!(
        whats(&steps),
        ["note that vif1.0 has iptables rules of ours"]
    );
}

#[test]
fn ipt08_a_second_online_over_the_originals_duplicates_leaves_exactly_a_clean_onlines_rules() {
    // The original's chain for ip=10.0.0.5, top to bottom: out, DHCP, out, -s (spec §2.10).
    let current = "-A FORWARD -m physdev --physdev-out vif5.0 --physdev-is-bridged -j ACCEPT\n\
        -A FORWARD -p udp -m physdev --physdev-in vif5.0 --physdev-is-bridged -m udp --sport 68 --dport 67 -j ACCEPT\n\
        -A FORWARD -m physdev --physdev-out vif5.0 --physdev-is-bridged -j ACCEPT\n\
        -A FORWARD -s 10.0.0.5/32 -m physdev --physdev-in vif5.0 --physdev-is-bridged -j ACCEPT\n\
        -A FORWARD -i eth9 -j ACCEPT\n";
    let host = Fixture::new()
        .link(up_port("vif5.0"))
        .iptables("filter", current);
    let list = ips(&["10.0.0.5"]);
    let steps = on(&host, |s| {
        Iptables.vif_online(&bridged("vif5.0", &list, ""), s, &mut Vec::new())
    })
    .unwrap();
    let batch = stdin(&steps[1]);
    assert_eq!(batch.matches("-D FORWARD").count(), 4, "{batch}");
    assert_eq!(batch.matches("-I FORWARD").count(), 3, "{batch}");
    assert!(!batch.contains("eth9"), "{batch}");
    // Deleted in the save form, so each matches the rule as the kernel holds it.
    assert!(batch.starts_with(
        "*filter\n-D FORWARD -m physdev --physdev-out vif5.0 --physdev-is-bridged -j ACCEPT\n"
    ));
    // The undo deletes what was inserted and puts the originals' rules back.
    let undo = undo_stdin(&steps[1]);
    assert_eq!(undo.matches("-A FORWARD").count(), 4, "{undo}");
    assert_eq!(undo.matches("-D FORWARD").count(), 3, "{undo}");
}

#[test]
fn ipt08_a_stale_address_is_replaced() {
    let host = Fixture::new()
        .link(up_port("vif1.0"))
        .iptables("filter", &chain_of("vif1.0", &ips(&["10.0.0.9"])))
        .file(
            ipt::record_path("vif1.0"),
            &record_of("vif1.0", &ips(&["10.0.0.9"])),
        );
    let list = ips(&["10.0.0.5"]);
    let steps = on(&host, |s| {
        Iptables.vif_online(&bridged("vif1.0", &list, ""), s, &mut Vec::new())
    })
    .unwrap();
    let batch = stdin(&steps[1]);
    assert!(batch.contains("-D FORWARD -s 10.0.0.9/32"), "{batch}");
    assert!(
        batch.contains(
            "-I FORWARD -m physdev --physdev-is-bridged --physdev-in vif1.0 -s 10.0.0.5 -j ACCEPT"
        ),
        "{batch}"
    );
    // The note's undo puts back what it said before.
    assert_eq!(
        steps[0].undo,
        Some(Action::WriteFile {
            path: ipt::record_path("vif1.0").display().to_string(),
            value: record_of("vif1.0", &ips(&["10.0.0.9"])),
        })
    );
}

#[test]
fn ipt04_a_missing_iptables_tool_is_a_warning_and_no_rule() {
    let host = Fixture::new().link(fresh("vif1.0"));
    let mut notes = Vec::new();
    let steps = on(&host, |s| {
        notes.clear();
        Iptables.vif_online(&bridged("vif1.0", &[], ""), s, &mut notes)
    })
    .unwrap();
    assert!(steps.is_empty());
    assert_eq!(
        notes,
        [Note::Warn(
            "`iptables-restore` was not found on PATH; install the Debian package iptables: no firewall rules were changed".into()
        )]
    );
    // Where the rules must be read and iptables-save is not installed: the same.
    let host = Fixture::new()
        .link(up_port("vif1.0"))
        .answer(Fact::Iptables("filter".into()), failed(true));
    let steps = on(&host, |s| {
        notes.clear();
        Iptables.vif_online(&bridged("vif1.0", &[], ""), s, &mut notes)
    })
    .unwrap();
    assert!(steps.is_empty());
    assert!(matches!(&notes[0], Note::Warn(t) if t.ends_with(": no firewall rules were changed")));
}

#[test]
fn ipt09_an_iptables_that_cannot_list_its_rules_fails_online() {
    let host = Fixture::new()
        .link(up_port("vif1.0"))
        .answer(Fact::Iptables("filter".into()), failed(false));
    let e = on(&host, |s| {
        Iptables.vif_online(&bridged("vif1.0", &[], ""), s, &mut Vec::new())
    })
    .unwrap_err();
    assert!(matches!(e, Error::Unreadable(_)));
    assert_eq!(
        e.to_string(),
        "the iptables rules cannot be read (iptables-save failed): repair iptables, or set firewall=none (or firewall=nftables) for this host"
    );
}

#[test]
fn offline_removes_every_copy_of_ours_in_one_batch_then_forgets_the_note() {
    let current = "-A FORWARD -m physdev --physdev-out vif1.0 --physdev-is-bridged -j ACCEPT\n\
        -A FORWARD -m physdev --physdev-in vif1.0-emu --physdev-is-bridged -j ACCEPT\n\
        -A FORWARD -m physdev --physdev-out vif1.0 --physdev-is-bridged -j ACCEPT\n\
        -A FORWARD -m physdev --physdev-in vif1.0 --physdev-is-bridged -j ACCEPT\n";
    let host = Fixture::new().iptables("filter", current);
    let steps = on(&host, |s| {
        Iptables.vif_offline(&bridged("vif1.0", &[], ""), s, true, &mut Vec::new())
    })
    .unwrap();
    assert_eq!(
        whats(&steps),
        [
            "remove the iptables rules of vif1.0",
            "forget the iptables rules of vif1.0"
        ]
    );
    assert_eq!(
        stdin(&steps[0]),
        "*filter\n\
         -D FORWARD -m physdev --physdev-out vif1.0 --physdev-is-bridged -j ACCEPT\n\
         -D FORWARD -m physdev --physdev-out vif1.0 --physdev-is-bridged -j ACCEPT\n\
         -D FORWARD -m physdev --physdev-in vif1.0 --physdev-is-bridged -j ACCEPT\n\
         COMMIT\n"
    );
    assert!(steps.iter().all(|s| s.on_error == OnError::Collect));
    assert_eq!(steps[0].lock, Some("iptables"));
    // Nothing of ours: only the note goes.
    let host = Fixture::new().iptables("filter", "-A FORWARD -i eth9 -j ACCEPT\n");
    let steps = on(&host, |s| {
        Iptables.vif_offline(&bridged("vif1.0", &[], ""), s, true, &mut Vec::new())
    })
    .unwrap();
    assert_eq!(whats(&steps), ["forget the iptables rules of vif1.0"]);
}

#[test]
fn offline_with_onlines_record_removes_those_rules_without_reading_the_ruleset() {
    let list = ips(&["10.0.0.5"]);
    // Even with a broken iptables-save: the record is enough, nothing is read.
    let host = Fixture::new()
        .answer(Fact::Iptables("filter".into()), failed(false))
        .file(ipt::record_path("vif1.0"), &record_of("vif1.0", &list));
    for chosen in [true, false] {
        let mut notes = Vec::new();
        let steps = on(&host, |s| {
            notes.clear();
            Iptables.vif_offline(&bridged("vif1.0", &list, ""), s, chosen, &mut notes)
        })
        .unwrap();
        let Action::Either(batch, each) = &steps[0].action else {
            panic!("{:?}", steps[0].action)
        };
        let Action::Run(batch) = &**batch else {
            panic!("{batch:?}")
        };
        assert_eq!(
            batch
                .stdin
                .as_deref()
                .unwrap()
                .matches("-D FORWARD")
                .count(),
            3
        );
        // Rule by rule when the batch fails: each deleted only if it is there.
        let Action::Seq(each) = &**each else {
            panic!("{each:?}")
        };
        assert!(each.iter().all(|a| matches!(a, Action::RunIf { .. })));
        assert!(notes.is_empty(), "{notes:?}");
        assert!(!host.asked().contains(&Fact::Iptables("filter".into())));
    }
    // Without a record, a broken iptables is reported when it is the chosen backend.
    let host = Fixture::new().answer(Fact::Iptables("filter".into()), failed(false));
    let mut notes = Vec::new();
    let steps = on(&host, |s| {
        notes.clear();
        Iptables.vif_offline(&bridged("vif1.0", &list, ""), s, true, &mut notes)
    })
    .unwrap();
    assert!(steps.is_empty());
    assert!(matches!(&notes[0], Note::Error(t) if t.contains("cannot be read")));
}

#[test]
fn offline_without_iptables_save_warns_only_when_iptables_is_the_chosen_backend() {
    let host = Fixture::new().answer(Fact::Iptables("filter".into()), failed(true));
    for (chosen, warned) in [(true, 1), (false, 0)] {
        let mut notes = Vec::new();
        let steps = on(&host, |s| {
            notes.clear();
            Iptables.vif_offline(&bridged("vif1.0", &[], ""), s, chosen, &mut notes)
        })
        .unwrap();
        assert!(steps.is_empty());
        assert_eq!(notes.len(), warned, "{notes:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// VifFirewall: offline from both backends.

fn offline_under(backend: Backend, vif: &Vif, host: &Fixture) -> Vec<Step> {
    let fw = VifFirewall {
        choice: Choice {
            backend,
            why: "test".into(),
        },
        antispoof: false,
    };
    on(host, |s| fw.offline_steps(vif, s, &mut Vec::new())).unwrap()
}

fn bridge_member(dev: &str) -> std::path::PathBuf {
    nft::members_dir(Family::Bridge).join(format!("vif.{dev}"))
}

#[test]
fn offline_under_nftables_also_removes_the_iptables_rules_an_earlier_setting_recorded() {
    let host = Fixture::new()
        .tools(&["iptables-save", "nft"])
        .file(ipt::record_path("vif1.0"), &record_of("vif1.0", &[]))
        .file(
            bridge_member("vif1.0"),
            "# vif1.0 ifindex 7\nadd element x\n",
        );
    let steps = offline_under(Backend::Nftables, &bridged("vif1.0", &[], ""), &host);
    assert_eq!(
        whats(&steps),
        [
            "remove the iptables rules of vif1.0",
            "forget the iptables rules of vif1.0",
            "queue the removal of vif1.0's nftables elements",
            "remove the queued nftables elements of gone vifs once there are 32",
            "delete table bridge xen_netscripts if nothing of ours is left in it",
        ]
    );
    // Without a record there is nothing to clean in iptables, and nothing is read.
    let host = Fixture::new().tools(&["iptables-save", "nft"]);
    let steps = offline_under(Backend::Nftables, &bridged("vif1.0", &[], ""), &host);
    assert!(steps.is_empty(), "{:?}", whats(&steps));
    assert!(!host.asked().contains(&Fact::Iptables("filter".into())));
}

#[test]
fn offline_under_iptables_removes_nftables_elements_only_where_a_record_says_so() {
    let host = Fixture::new().file(bridge_member("vif1.0"), "# vif1.0 ifindex 7\n");
    let steps = offline_under(Backend::Iptables, &bridged("vif1.0", &[], ""), &host);
    let queue = steps
        .iter()
        .find(|s| s.what == "queue the removal of vif1.0's nftables elements")
        .expect("the nftables clean-up");
    // Not the chosen backend: a clean-up whose failure does not fail the event.
    assert_eq!(queue.on_error, OnError::Ignore);
    let steps = offline_under(
        Backend::Iptables,
        &bridged("vif1.0", &[], ""),
        &Fixture::new(),
    );
    assert!(
        !whats(&steps).iter().any(|w| w.contains("nftables")),
        "{:?}",
        whats(&steps)
    );
}

#[test]
fn offline_under_nftables_queues_the_record_drains_a_full_queue_and_drops_an_unused_table() {
    let record =
        "# vif1.0 ifindex 7\nadd element bridge xen_netscripts vif_verdicts { 7 : jump vif_open }";
    let host = Fixture::new().file(bridge_member("vif1.0"), &format!("{record}\n"));
    let steps = offline_under(Backend::Nftables, &bridged("vif1.0", &[], ""), &host);
    let queued = nft::queue_dir(Family::Bridge)
        .join("7")
        .display()
        .to_string();
    assert_eq!(
        steps[0].action,
        Action::Seq(vec![
            Action::WriteFile {
                path: queued.clone(),
                value: record.into()
            },
            Action::RemoveFile {
                path: bridge_member("vif1.0").display().to_string()
            },
        ])
    );
    assert_eq!(steps[0].on_error, OnError::Collect);
    let Action::Drain { dir, at_least, cmd } = &steps[1].action else {
        panic!("{:?}", steps[1].action)
    };
    assert_eq!(dir, &nft::queue_dir(Family::Bridge).display().to_string());
    assert_eq!(*at_least, nft::GC_BATCH);
    assert_eq!(cmd.as_ref().unwrap().line(), "nft -f -");
    let Action::IfUnused { members, then } = &steps[2].action else {
        panic!("{:?}", steps[2].action)
    };
    assert_eq!(
        members,
        &nft::members_dir(Family::Bridge).display().to_string()
    );
    assert!(then.line().contains("delete table bridge xen_netscripts"));
    assert!(steps.iter().all(|s| s.lock == Some("nftables")));
}

#[test]
fn offline_under_none_removes_the_iptables_rules_an_earlier_setting_recorded() {
    let host = Fixture::new()
        .tools(&["iptables", "iptables-save"])
        .iptables("filter", &chain_of("vif1.0", &[]))
        .file(ipt::record_path("vif1.0"), &record_of("vif1.0", &[]));
    let steps = offline_under(Backend::None, &bridged("vif1.0", &[], ""), &host);
    assert!(
        whats(&steps).contains(&"remove the iptables rules of vif1.0"),
        "{:?}",
        whats(&steps)
    );
}

#[test]
fn offline_of_an_ovs_port_touches_no_nftables() {
    let vif = Vif {
        family: None,
        ..bridged("vif1.0", &[], "")
    };
    let host = Fixture::new().file(bridge_member("vif1.0"), "# vif1.0 ifindex 7\n");
    let steps = offline_under(Backend::Nftables, &vif, &host);
    assert!(steps.is_empty(), "{:?}", whats(&steps));
}

// ---------------------------------------------------------------------------------------------
// nftables: a guest's elements, in fixed chains' map and sets.

fn nft_online(vif: &Vif, host: &Fixture, notes: &mut Vec<Note>) -> Vec<Step> {
    on(host, |s| {
        notes.clear();
        Nftables.vif_online(vif, s, notes)
    })
    .unwrap()
}

/// The fast transaction of an online's nft step (the one tried first), as nft's script: an
/// `NftAdd` (additions only, sent as an nfnetlink batch by the system's runner) or an
/// `nft -f -` that also removes.
fn fast(step: &Step) -> String {
    let Action::Seq(seq) = &step.action else {
        panic!("{:?}", step.action)
    };
    let Action::Either(first, _) = &seq[1] else {
        panic!("{:?}", seq[1])
    };
    match &**first {
        Action::NftAdd { family, elements } => crate::nft_elements::add_script(family, elements),
        Action::Run(c) => c.stdin.clone().unwrap(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn nftables_online_records_the_elements_then_adds_them_in_one_transaction() {
    let list = ips(&["10.0.0.5"]);
    let steps = nft_online(
        &bridged("vif1.0", &list, ""),
        &Fixture::new(),
        &mut Vec::new(),
    );
    assert_eq!(
        whats(&steps),
        [
            "record vif1.0's nftables elements",
            "set the nftables rules of vif1.0"
        ]
    );
    assert_eq!(
        fast(&steps[1]),
        "add element bridge xen_netscripts vif_verdicts { 7 : jump vif_open }\n\
         add element bridge xen_netscripts vif_ips4 { 7 . 10.0.0.5 }\n\
         add element bridge xen_netscripts vif_listed { 7 }\n"
    );
    // The slow way makes the table first; the undo removes exactly these elements.
    let Action::Seq(seq) = &steps[1].action else {
        panic!()
    };
    let Action::Either(_, slow) = &seq[1] else {
        panic!()
    };
    assert!(slow.line().contains("add table bridge xen_netscripts"));
    assert_eq!(undo_stdin(&steps[1]).matches("delete element").count(), 3);
    let Some(Action::Seq(undo)) = &steps[0].undo else {
        panic!("{:?}", steps[0].undo)
    };
    assert!(matches!(undo[1], Action::IfUnused { .. }));
    assert!(steps.iter().all(|s| s.lock == Some("nftables")));
}

/// A first online only adds: an `NftAdd`, which the system's runner sends as one nfnetlink
/// batch (no nft process, issue 17). Elements of the same interface still queued for removal
/// must go first: then one `nft -f -` removes and adds.
#[test]
fn nftables_online_adds_by_batch_unless_something_must_be_removed_first() {
    let list = ips(&["10.0.0.5"]);
    let vif = bridged("vif1.0", &list, "");
    let first = |steps: &[Step]| -> Action {
        let Action::Seq(seq) = &steps[1].action else {
            panic!("{:?}", steps[1].action)
        };
        let Action::Either(first, _) = &seq[1] else {
            panic!("{:?}", seq[1])
        };
        (**first).clone()
    };
    let steps = nft_online(&vif, &Fixture::new(), &mut Vec::new());
    let Action::NftAdd { family, elements } = first(&steps) else {
        panic!("{:?}", first(&steps))
    };
    assert_eq!(family, "bridge");
    assert_eq!(elements.len(), 3);
    let queued = nft::queue_dir(Family::Bridge).join("7");
    let old = "# vif1.0 ifindex 7\nadd element bridge xen_netscripts vif_listed { 7 }\n\
               delete element bridge xen_netscripts vif_listed { 7 }\n";
    let host = Fixture::new().file(&queued, old);
    let steps = nft_online(&vif, &host, &mut Vec::new());
    let Action::Run(cmd) = first(&steps) else {
        panic!("{:?}", first(&steps))
    };
    let script = cmd.stdin.unwrap();
    assert!(script.starts_with(old), "{script}");
    assert!(script.ends_with("add element bridge xen_netscripts vif_listed { 7 }\n"));
}

#[test]
fn nftables_a_second_online_with_the_record_in_place_does_nothing() {
    let list = ips(&["10.0.0.5"]);
    let vif = bridged("vif1.0", &list, "");
    let steps = nft_online(&vif, &Fixture::new(), &mut Vec::new());
    let Action::WriteFile { value, .. } = &steps[0].action else {
        panic!()
    };
    let host = Fixture::new().file(bridge_member("vif1.0"), &format!("{value}\n"));
    assert!(nft_online(&vif, &host, &mut Vec::new()).is_empty());
    // Other settings: the old elements go in the same transaction as the new come.
    let other = ips(&["10.0.0.6"]);
    let steps = nft_online(&bridged("vif1.0", &other, ""), &host, &mut Vec::new());
    let script = fast(&steps[1]);
    assert!(
        script.contains("delete element bridge xen_netscripts vif_ips4 { 7 . 10.0.0.5 }")
            && script.ends_with("add element bridge xen_netscripts vif_listed { 7 }\n"),
        "{script}"
    );
}

#[test]
fn nftables_antispoof_without_ip_checks_only_the_mac_and_warns() {
    let mut notes = Vec::new();
    let vif = Vif {
        antispoof: true,
        ..bridged("vif1.0", &[], "00:16:3e:00:00:01")
    };
    let steps = nft_online(&vif, &Fixture::new(), &mut notes);
    assert_eq!(
        notes,
        [Note::Warn(
            "antispoof=yes but no ip= for vif1.0: its source addresses are not checked".into()
        )]
    );
    assert_eq!(
        fast(&steps[1]),
        "add element bridge xen_netscripts vif_verdicts { 7 : jump vif_checked_mac }\n\
         add element bridge xen_netscripts vif_macs { 7 . 00:16:3e:00:00:01 }\n"
    );
    let list = ips(&["10.0.0.5"]);
    let vif = Vif {
        antispoof: true,
        ..bridged("vif1.0", &list, "")
    };
    nft_online(&vif, &Fixture::new(), &mut notes);
    assert_eq!(
        notes,
        [Note::Warn(
            "antispoof=yes but no mac for vif1.0: its source MAC is not checked".into()
        )]
    );
}

#[test]
fn nftables_a_routed_vif_is_in_the_inet_table_whose_setup_hooks_forward_and_input() {
    let list = ips(&["10.0.0.5"]);
    let vif = Vif {
        family: Some(Family::Inet),
        ..bridged("vif1.0", &list, "")
    };
    let steps = nft_online(&vif, &Fixture::new(), &mut Vec::new());
    assert!(fast(&steps[1]).starts_with("add element inet xen_netscripts vif_verdicts"));
    let setup = nft::setup(Family::Inet);
    for (chain, hook) in [("vifs_forward", "forward"), ("vifs_input", "input")] {
        assert!(
            setup.contains(&format!(
                "add chain inet xen_netscripts {chain} {{ type filter hook {hook} priority filter; policy accept; }}\n\
                 flush chain inet xen_netscripts {chain}\n\
                 add rule inet xen_netscripts {chain} iif vmap @vif_verdicts\n"
            )),
            "{setup}"
        );
    }
    assert!(!setup.contains("prerouting"), "{setup}");
}

#[test]
fn nftables_a_vif_without_an_interface_index_is_refused_online() {
    let vif = Vif {
        ifindex: None,
        ..bridged("vif1.0", &[], "")
    };
    let e = on(&Fixture::new(), |s| {
        Nftables.vif_online(&vif, s, &mut Vec::new())
    })
    .unwrap_err();
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// network-nat's rules and network-bridge's guard, per backend.

#[test]
fn nat_iptables_finds_each_rule_only_in_its_own_chain_and_table() {
    let host = Fixture::new()
        .iptables("nat", "-A PREROUTING -o eth0 -j MASQUERADE\n")
        .iptables(
            "filter",
            "-A FORWARD -i eth0 -m conntrack --ctstate NEW -j DROP\n",
        );
    assert_eq!(
        on(&host, |s| Iptables.nat_present("eth0", s)).unwrap(),
        (false, true)
    );
    assert_eq!(
        on(&host, |s| Iptables.nat_present("eth1", s)).unwrap(),
        (false, false)
    );
}

#[test]
fn nat_iptables_adds_only_what_is_asked_and_removes_only_what_is_there() {
    let lines =
        |steps: Vec<Step>| -> Vec<String> { steps.iter().map(|s| s.action.line()).collect() };
    assert_eq!(
        lines(Iptables.nat_add("eth0", false, true)),
        ["iptables -w -A FORWARD -i eth0 -m conntrack --ctstate NEW -j DROP"]
    );
    assert!(Iptables.nat_add("eth0", false, false).is_empty());
    let host = Fixture::new().iptables(
        "nat",
        "-A POSTROUTING -o eth1 -j MASQUERADE\n-A POSTROUTING -o eth2 -j MASQUERADE\n-A POSTROUTING -o eth0 -j MASQUERADE\n",
    );
    let steps = on(&host, |s| Iptables.nat_remove("eth0", true, true, s)).unwrap();
    assert_eq!(
        lines(steps.clone()),
        ["iptables -w -t nat -D POSTROUTING -o eth0 -j MASQUERADE"]
    );
    assert_eq!(
        steps[0].undo.as_ref().unwrap().line(),
        "iptables -w -t nat -C POSTROUTING -o eth0 -j MASQUERADE || iptables -w -t nat -I POSTROUTING 3 -o eth0 -j MASQUERADE"
    );
}

#[test]
fn nat_nftables_is_there_when_its_member_note_is_and_removes_nothing_otherwise() {
    let member = nft::members_dir(Family::Inet).join("nat.eth0");
    let host = Fixture::new().file(&member, "1\n");
    assert_eq!(
        on(&host, |s| Nftables.nat_present("eth0", s)).unwrap(),
        (true, true)
    );
    assert!(Nftables.nat_add("eth0", false, false).is_empty());
    let steps = on(&Fixture::new(), |s| {
        Nftables.nat_remove("eth0", true, true, s)
    })
    .unwrap();
    assert!(steps.is_empty());
    let steps = on(&host, |s| Nftables.nat_remove("eth0", false, false, s)).unwrap();
    assert!(steps.is_empty());
}

#[test]
fn none_adds_and_removes_nothing_and_counts_every_rule_as_there() {
    let host = Fixture::new();
    let none = host_driver(Backend::None);
    assert_eq!(
        on(&host, |s| none.nat_present("eth0", s)).unwrap(),
        (true, true)
    );
    assert!(none.nat_add("eth0", true, true).is_empty());
    assert!(on(&host, |s| none.guard_add("eth0", &["peth0"], s))
        .unwrap()
        .is_empty());
    let vif = bridged("vif1.0", &[], "");
    assert!(on(&host, |s| none.vif_online(&vif, s, &mut Vec::new()))
        .unwrap()
        .is_empty());
    assert!(host.asked().is_empty(), "{:?}", host.asked());
}

#[test]
fn nb15_iptables_guard_accepts_the_uplink_records_the_policy_then_sets_drop() {
    let host = Fixture::new().iptables(
        "filter",
        ":FORWARD ACCEPT [0:0]\n-A FORWARD -i eth9 -j ACCEPT\n",
    );
    let steps = on(&host, |s| Iptables.guard_add("eth0", &["peth0"], s)).unwrap();
    assert_eq!(
        whats(&steps),
        [
            "accept traffic from peth0",
            "remember the FORWARD policy for stop",
            "set the FORWARD policy to DROP"
        ]
    );
    assert_eq!(
        steps[0].action.line(),
        "iptables -w -A FORWARD -m physdev --physdev-in peth0 -j ACCEPT"
    );
    assert_eq!(
        steps[1].action,
        Action::WriteFile {
            path: guard_record("eth0").display().to_string(),
            value: "ACCEPT".into()
        }
    );
    assert_eq!(
        steps[2].undo.as_ref().unwrap().line(),
        "iptables -w -P FORWARD ACCEPT"
    );
    // KP-07 FIX: the administrator's rules are not flushed.
    assert!(!steps.iter().any(|s| s.action.line().contains(" -F")));
    // A DROP policy and the rule already there: nothing to do.
    let host = Fixture::new().iptables(
        "filter",
        ":FORWARD DROP [0:0]\n-A FORWARD -m physdev --physdev-in peth0 -j ACCEPT\n",
    );
    assert!(on(&host, |s| Iptables.guard_add("eth0", &["peth0"], s))
        .unwrap()
        .is_empty());
}

#[test]
fn nb15_the_iptables_guard_needs_iptables() {
    let host = Fixture::new().answer(Fact::Iptables("filter".into()), failed(true));
    let e = on(&host, |s| Iptables.guard_add("eth0", &["peth0"], s)).unwrap_err();
    assert!(matches!(e, Error::Unreadable(_)));
    assert!(
        e.to_string().starts_with("antispoof=yes needs iptables: "),
        "{e}"
    );
}

#[test]
fn nb19_iptables_guard_removal_puts_rules_back_where_they_were_and_restores_the_policy() {
    let host = Fixture::new()
        .iptables(
            "filter",
            ":FORWARD DROP [0:0]\n-A FORWARD -m physdev --physdev-in peth0 -j ACCEPT\n\
             -A FORWARD -i eth9 -j ACCEPT\n-A FORWARD -m physdev --physdev-in vif0.0 -j ACCEPT\n",
        )
        .file(guard_record("eth0"), "ACCEPT\n");
    let steps = on(&host, |s| {
        Iptables.guard_remove("eth0", &["peth0", "vif0.0"], s)
    })
    .unwrap();
    assert_eq!(
        whats(&steps),
        [
            "remove the antispoof rule for vif0.0",
            "remove the antispoof rule for peth0",
            "restore the FORWARD policy ACCEPT"
        ]
    );
    assert_eq!(
        steps[0].undo.as_ref().unwrap().line(),
        "iptables -w -I FORWARD 3 -m physdev --physdev-in vif0.0 -j ACCEPT"
    );
    assert_eq!(
        steps[1].undo.as_ref().unwrap().line(),
        "iptables -w -I FORWARD 1 -m physdev --physdev-in peth0 -j ACCEPT"
    );
    // A bridge nftables guarded has no iptables policy to restore.
    let host = Fixture::new().file(guard_record("eth0"), "nftables\n");
    assert!(on(&host, |s| Iptables.guard_remove("eth0", &["peth0"], s))
        .unwrap()
        .is_empty());
}

#[test]
fn nftables_guard_is_a_record_the_vif_scripts_read() {
    let steps = on(&Fixture::new(), |s| {
        Nftables.guard_add("eth0", &["peth0"], s)
    })
    .unwrap();
    assert_eq!(whats(&steps), ["note that nftables guards eth0's guests"]);
    assert_eq!(
        steps[0].action,
        Action::WriteFile {
            path: guard_record("eth0").display().to_string(),
            value: "nftables".into()
        }
    );
    assert!(on(&Fixture::new(), |s| Nftables.guard_remove(
        "eth0",
        &["peth0"],
        s
    ))
    .unwrap()
    .is_empty());
}

// ---------------------------------------------------------------------------------------------
// VifFirewall online: which backend's steps.

#[test]
fn vif_online_goes_to_the_chosen_backend_only() {
    let list = ips(&["10.0.0.5"]);
    let vif = bridged("vif1.0", &list, "");
    let host = Fixture::new()
        .link(fresh("vif1.0"))
        .tools(&["iptables-restore", "nft"]);
    for (backend, want, not) in [
        (Backend::Iptables, "iptables", "nftables"),
        (Backend::Nftables, "nftables", "iptables"),
    ] {
        let fw = VifFirewall {
            choice: Choice {
                backend,
                why: "test".into(),
            },
            antispoof: false,
        };
        let steps = on(&host, |s| fw.online_steps(&vif, s, &mut Vec::new())).unwrap();
        assert!(
            whats(&steps)
                .iter()
                .all(|w| w.contains(want) && !w.contains(not)),
            "{:?}",
            whats(&steps)
        );
        assert!(!steps.is_empty());
    }
    let fw = VifFirewall {
        choice: Choice {
            backend: Backend::None,
            why: "test".into(),
        },
        antispoof: true,
    };
    assert!(on(&host, |s| fw.online_steps(&vif, s, &mut Vec::new()))
        .unwrap()
        .is_empty());
}
