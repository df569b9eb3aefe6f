//! The invocation parser (spec §2.2, GEN-01…05) on arbitrary argv and environment: it never
//! panics, and whatever it accepts keeps the grammar's promises: values are taken literally
//! (GEN-03), later arguments win over earlier ones and over the environment, only known names
//! come from the environment, and the command is a word of argv without '=' (GEN-01).
//!
//! Input: words separated by NUL; the words after the first empty word are the environment
//! (`name=value`). The first byte picks the script (from the registry) whose known names are
//! used.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use xennet::invocation::{Invocation, Source};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let scripts = &xennet::scripts::SCRIPTS;
    let known_names = scripts[usize::from(pick) % scripts.len()].known_names();
    let known: &[&str] = &known_names;
    let mut words = rest.split(|b| *b == 0);
    let mut argv: Vec<OsString> = vec![OsString::from("vif-bridge")];
    for w in words.by_ref() {
        if w.is_empty() {
            break;
        }
        argv.push(OsString::from_vec(w.to_vec()));
    }
    let env: Vec<(String, String)> = words
        .filter_map(|w| {
            let s = String::from_utf8_lossy(w);
            let (k, v) = s.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect();

    let Ok(inv) = Invocation::parse(argv.clone(), env.clone(), known) else {
        return;
    };
    let args: Vec<String> = argv[1..]
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if let Some(c) = &inv.command {
        // An argument without '=', or else the inherited $command as it is.
        assert!(
            args.iter().any(|a| a == c && !a.contains('='))
                || env.iter().any(|(k, v)| k == "command" && v == c),
            "command {c:?} is neither an argument without '=' nor $command"
        );
    }
    for (name, setting) in &inv.settings {
        match setting.source {
            Source::Argument => {
                // The last argument with this name, its value byte for byte.
                let last = args
                    .iter()
                    .filter_map(|a| a.split_once('='))
                    .filter(|(n, _)| n == name)
                    .map(|(_, v)| v)
                    .last();
                assert_eq!(last, Some(setting.value.as_str()), "{name}");
            }
            Source::Environment => {
                assert!(known.contains(&name.as_str()), "{name} from the environment");
                assert!(
                    env.iter().any(|(k, v)| k == name && *v == setting.value),
                    "{name}={:?} is not in the environment",
                    setting.value
                );
            }
        }
    }
});
