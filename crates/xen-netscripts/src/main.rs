//! xen-netscripts: one executable that is every script and `xennet`, chosen by the name it is
//! run by (`/etc/xen/scripts/vif-bridge`, a symlink to it, runs vif-bridge), as multi-call tools
//! such as coreutils' and busybox's are. Run by its own name, the first argument names the
//! script: `xen-netscripts vif-bridge online …`, `xen-netscripts xennet doctor`.

mod cli;
mod docs;
mod doctor;
mod dpkg;
mod install;
mod mac;
mod map;
mod xennet;

use std::ffi::OsString;
use std::process::ExitCode;

/// The name of this executable, and the administrator's tool it also is.
const NAME: &str = "xen-netscripts";
const ADMIN: &str = "xennet";

fn basename(arg: &OsString) -> String {
    let s = arg.to_string_lossy();
    s.rsplit('/').next().unwrap_or(&s).to_string()
}

/// Runs what `argv` names; `None` when it names nothing of ours.
fn dispatch(argv: Vec<OsString>) -> Option<ExitCode> {
    let name = argv.first().map(basename).unwrap_or_default();
    if name == ADMIN {
        return Some(xennet::main(argv));
    }
    if let Some(script) = ::xennet::scripts::find(&name) {
        return Some(::xennet::dispatch::run(script, argv));
    }
    None
}

fn usage() -> String {
    let mut names: Vec<&str> = ::xennet::scripts::SCRIPTS.iter().map(|s| s.name).collect();
    names.push(ADMIN);
    format!(
        "{NAME} {}: Xen's network scripts in one executable.\n\n\
         Usage: {NAME} <NAME> [ARGS...]   (or run it by one of these names, e.g. through a symlink)\n\
         \x20      {NAME} --list            (the names, one a line)\n\n\
         Names: {}\n\nSee `{NAME} <NAME> --help` and man xen-netscripts.\n",
        env!("CARGO_PKG_VERSION"),
        names.join(", ")
    )
}

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    if let Some(code) = dispatch(argv.clone()) {
        return code;
    }
    // Run by its own name (or an unknown one): the first argument names what to run.
    match argv
        .get(1)
        .map(|a| a.to_string_lossy().into_owned())
        .as_deref()
    {
        Some("--list") => {
            for s in &::xennet::scripts::SCRIPTS {
                println!("{}", s.name);
            }
            println!("{ADMIN}");
            ExitCode::SUCCESS
        }
        Some("--version" | "-V") => {
            println!("{NAME} {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        None | Some("--help" | "-h" | "help") => {
            print!("{}", usage());
            ExitCode::SUCCESS
        }
        // The boot unit's command: `xen-netscripts boot start` is `xennet boot start`.
        Some("boot") => {
            let mut admin = vec![OsString::from(ADMIN)];
            admin.extend(argv[1..].iter().cloned());
            xennet::main(admin)
        }
        Some(other) => match dispatch(argv[1..].to_vec()) {
            Some(code) => code,
            None => {
                eprint!("{NAME}: {other:?} is not one of its names\n\n{}", usage());
                ExitCode::from(2)
            }
        },
    }
}
