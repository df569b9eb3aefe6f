//! The entry point of every script: sets up the process as the originals do, parses the
//! invocation, and runs the script's mode (from [`crate::scripts`]) through plan → apply → report.

use crate::apply::apply;
use crate::error::{Error, Note, Outcome};
use crate::exec::System;
use crate::exec::{Cmd, ExecError, Runner};
use crate::invocation::Invocation;
use crate::journal::Journal;
use crate::live::LiveReader;
use crate::modes::{HostPlanner, HostStatus, VifPlanner};
use crate::report::{self, Reporter};
use crate::scripts::{Run, Script};
use crate::snapshot::{self, Snapshot};
use crate::vif::{self, Command, Front, Stop, TypeIf};
use crate::xenstore::XenStore;
use crate::xenstore_wire;
use std::io::Write;
use std::process::ExitCode;

/// GEN-06: children run with `LANG=POSIX`, no `LC_*`, and the system directories on PATH (kept
/// after the caller's own entries, so a test's stand-in tools still come first).
fn set_process_environment() {
    let lc: Vec<std::ffi::OsString> = std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| k.to_string_lossy().starts_with("LC_"))
        .collect();
    for k in lc {
        std::env::remove_var(k);
    }
    std::env::set_var("LANG", "POSIX");
    let path = std::env::var("PATH").unwrap_or_default();
    let mut dirs: Vec<&str> = path.split(':').filter(|d| !d.is_empty()).collect();
    for d in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    std::env::set_var("PATH", dirs.join(":"));
}

fn init_logging(script: &str, verbose: bool) {
    let default = if verbose { "debug" } else { "warn" };
    let env = env_logger::Env::new().filter_or("XENNET_LOG", default);
    let name = script.to_string();
    let _ = env_logger::Builder::from_env(env)
        .format(move |buf, rec| match rec.level() {
            log::Level::Error => writeln!(buf, "{name}: error: {}", rec.args()),
            log::Level::Warn => writeln!(buf, "{name}: warning: {}", rec.args()),
            _ => writeln!(buf, "{name}: {}", rec.args()),
        })
        .try_init();
}

/// Runs `script` with `argv` (`argv[0]` the name it was started by, as `$0` in the originals).
pub fn run(script: &'static Script, argv: Vec<std::ffi::OsString>) -> ExitCode {
    set_process_environment();
    let known = script.known_names();
    let name = script.name;
    // Lossily: a stray non-UTF-8 variable must not stop a hotplug script.
    let env = std::env::vars_os().map(|(k, v)| {
        (
            k.to_string_lossy().into_owned(),
            v.to_string_lossy().into_owned(),
        )
    });
    let inv = match Invocation::parse(argv, env, &known) {
        Ok(inv) => inv,
        Err(crate::invocation::GrammarError::Help) => {
            print!("{}", crate::scripts::help_text(script));
            return ExitCode::SUCCESS;
        }
        Err(crate::invocation::GrammarError::Clap(text)) => {
            // Usage errors: clap's own text.
            eprint!("{text}");
            return ExitCode::from(1);
        }
        Err(e) => {
            init_logging(name, false);
            return grammar_failure(name, &e.to_string());
        }
    };
    init_logging(name, inv.verbose);
    if inv.version {
        println!("{name} (xen-netscripts) {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    for name in &inv.unknown {
        log::warn!("unknown setting {name}= ignored");
    }
    match script.run {
        Run::Vif(planner) => vif_main(script, &inv, planner),
        Run::Host { plan, status } => host_main(script, &inv, plan, status),
    }
}

/// A bad `name=value` word: reported before anything is read or touched. vif scripts still
/// write hotplug-error when the backend path is known.
fn grammar_failure(script: &str, msg: &str) -> ExitCode {
    log::error!("{msg}");
    if script.starts_with("vif-") {
        if let Ok(xp) = std::env::var("XENBUS_PATH") {
            if !xp.is_empty() {
                let runner = System::default();
                let _ = report::write_error(&*xenstore_wire::connect(&runner), &xp, msg);
            }
        }
    }
    ExitCode::from(1)
}

/// Every value given for a setting, from the environment or an argument, also one a later
/// source overrides, passes the setting's check (issue 15); an empty value means "not given".
fn check_given(script: &Script, inv: &Invocation) -> Result<(), Error> {
    for (name, given) in &inv.given {
        let Some(check) = script
            .settings
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.check)
        else {
            continue;
        };
        if given.value.is_empty() {
            continue;
        }
        check(name, &given.value).map_err(|e| {
            Error::Invalid(crate::validate::Invalid(format!(
                "{} ({})",
                e.0,
                given.source.words(name)
            )))
        })?;
    }
    Ok(())
}

/// Says the notes planning left, once.
fn say_notes(rep: &Reporter, notes: &[Note]) {
    for n in notes {
        match n {
            Note::Debug(t) => rep.debug(t),
            Note::Info(t) => rep.info(t),
            Note::Warn(t) => rep.warn(t),
            Note::Error(t) => rep.error(t),
        }
    }
}

/// The runner of a vif event: commands go to the system; the plan's xenstore writes (XS-04) go
/// through the run's one xenstore, so over its connection to xenstored when it has one.
struct EventRunner<'a> {
    system: &'a System,
    xs: &'a dyn XenStore,
}

impl Runner for EventRunner<'_> {
    fn run(&self, cmd: &Cmd) -> Result<String, ExecError> {
        self.system.run(cmd)
    }

    fn batches_ip(&self) -> bool {
        self.system.batches_ip()
    }

    fn nft_add(&self, family: &str, els: &[crate::nft_elements::Element]) -> Result<(), ExecError> {
        self.system.nft_add(family, els)
    }

    fn xenstore_write(&self, pairs: &[(String, String)]) -> Result<(), ExecError> {
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(p, v)| (p.as_str(), v.as_str()))
            .collect();
        self.xs.write(&refs)
    }
}

fn vif_main(script: &Script, inv: &Invocation, planner: VifPlanner) -> ExitCode {
    // Finish, or fail and say why, well inside libxl's 40 s (TS-05).
    crate::budget::start(std::time::Duration::from_secs(30));
    // From the start: a signal while the host is read stops the run before anything changes
    // (apply checks before its first step), and one during apply rolls back.
    crate::apply::guard_signals();
    let system = System::default();
    // One way to xenstore for the whole run: one connection to xenstored where there is one
    // (issue 17), else the xenstore-* clients.
    let xs_box = xenstore_wire::connect(&system);
    let xs: &dyn XenStore = &*xs_box;
    let runner = EventRunner {
        system: &system,
        xs,
    };
    let rep = Reporter::new(&inv.argv0, true);
    // GEN-09
    rep.debug(&format!(
        "{} XENBUS_PATH={}",
        inv.args.join(" "),
        inv.value("XENBUS_PATH")
    ));

    let fail = |xp: Option<&str>, error: Error| -> ExitCode {
        let (notes, error) = error.split();
        say_notes(&rep, &notes);
        let msg = error.to_string();
        rep.error(&msg);
        if let (Some(xp), false) = (xp, inv.dry_run) {
            if let Err(e) = report::write_error(xs, xp, &msg) {
                rep.error(&format!(
                    "Writing {xp}/hotplug-error to xenstore failed: {e}"
                ));
            }
        }
        ExitCode::from(1)
    };

    if let Err(e) = check_given(script, inv) {
        return fail(inv.get("XENBUS_PATH").filter(|x| !x.is_empty()), e);
    }
    let ctx = match vif::front_end(inv, script.settings, xs) {
        Ok(Front::Plan(ctx)) => ctx,
        Ok(Front::Nothing(why)) => {
            rep.debug(&why);
            return ExitCode::SUCCESS;
        }
        Err(Stop { xp, error }) => return fail(xp.as_deref(), error),
    };
    let reader = LiveReader::with_xenstore(&runner, xs);
    let mut snap = Snapshot::new();
    let planned = match snapshot::plan(&reader, &mut snap, |s| planner(&ctx, inv, s)) {
        Ok(p) => p,
        Err(e) => return fail(Some(&ctx.xp), e),
    };
    say_notes(&rep, &planned.notes);
    let connects = ctx.command == Command::Online && ctx.type_if == TypeIf::Vif;
    let mut plan = if ctx.command.is_up() {
        planned.plan
    } else {
        planned.plan.teardown()
    };
    if connects && planned.report_after.is_none() {
        // XS-04 as the plan's last step: if the backend cannot be told, the port is rolled back
        // instead of being left set up behind a reported failure (issue 6).
        // The frontend's keys (its mtu, MTU-01) go in the same write, before `connected`: one
        // transaction (or one xenstore-write) for the whole report.
        plan.push(crate::plan::Step::new(
            "XS-04: report success to the backend",
            crate::action::Action::XenstoreWrite(report::connected_pairs(
                &ctx.xp,
                &planned.frontend_keys,
            )),
        ));
    }
    if inv.dry_run {
        print!("{}", plan.render());
        return ExitCode::SUCCESS;
    }
    if let Err(e) = apply(&plan, &runner, None) {
        return fail(Some(&ctx.xp), Error::Refused(e.to_string()));
    }
    if let Some(msg) = planned.report_after {
        return fail(Some(&ctx.xp), Error::Refused(msg));
    }
    rep.debug(&planned.done);
    ExitCode::SUCCESS
}

/// `network-* start|stop|status`: under the script's lock (NB-22), an interrupted run's journal
/// is undone first, then the plan is made from the live host and applied with its journal.
fn host_main(
    script: &Script,
    inv: &Invocation,
    planner: HostPlanner,
    status: HostStatus,
) -> ExitCode {
    let name = script.name;
    let runner = System::default();
    let reader = LiveReader::new(&runner);
    let command = inv.command.as_deref().unwrap_or("");
    let failed = |e: &str| {
        log::error!("{e}");
        ExitCode::from(1)
    };
    let say = |notes: &[Note]| {
        for n in notes {
            match n {
                Note::Debug(t) => log::debug!("{t}"),
                Note::Info(t) => log::info!("{t}"),
                Note::Warn(t) => log::warn!("{t}"),
                Note::Error(t) => log::error!("{t}"),
            }
        }
    };
    if let Err(e) = check_given(script, inv) {
        return failed(&format!("{e}; nothing was changed"));
    }
    match command {
        "start" | "stop" => {}
        "confirm" => {
            return match crate::confirm::confirm(name) {
                Ok(msg) => {
                    println!("{msg}");
                    ExitCode::SUCCESS
                }
                Err(e) => failed(&e.to_string()),
            }
        }
        "status" => {
            return match status(inv, &reader, &runner) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => failed(&e.to_string()),
            }
        }
        _ => {
            // NB-01, NN-01
            eprintln!("Unknown command: {command}");
            eprintln!("Valid commands are: start, stop, status");
            return ExitCode::from(1);
        }
    }
    let confirm_secs = match inv.get("confirm").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => match crate::validate::confirm_secs("confirm", v) {
            Ok(n) => Some(n),
            Err(e) => return failed(&e.0),
        },
    };
    let journal = Journal::new(name);
    let _lock = if inv.dry_run {
        None
    } else {
        match crate::lock::claim(name) {
            Ok(l) => Some(l),
            Err(e) => return failed(&e.to_string()),
        }
    };
    if journal.exists() {
        if inv.dry_run {
            println!(
                "# an interrupted run left {}; it would be undone first",
                journal.path().display()
            );
        } else {
            match journal.recover(&runner) {
                Ok(Some(n)) => println!("Recovered from an interrupted run: undid its {n} steps."),
                Ok(None) => {}
                Err(e) => return failed(&e.to_string()),
            }
        }
    }
    let mut snap = Snapshot::new();
    let planned = match snapshot::plan(&reader, &mut snap, |s| planner(command == "start", inv, s))
    {
        Ok(Outcome::Nothing(why)) => {
            println!("{why}");
            return ExitCode::SUCCESS;
        }
        Ok(Outcome::Plan(p)) => p,
        Err(e) => {
            let (notes, e) = e.split();
            say(&notes);
            return failed(&format!("{e}; nothing was changed"));
        }
    };
    say(&planned.notes);
    let plan = planned.plan;
    if let Some(intro) = &planned.intro {
        println!("{intro}");
    }
    if inv.dry_run {
        print!("{}", plan.render());
        return ExitCode::SUCCESS;
    }
    crate::apply::guard_signals();
    let Some(secs) = confirm_secs else {
        return match apply(&plan, &runner, Some(&journal)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => failed(&format!("{command} failed: {e}")),
        };
    };
    if let Err(e) = crate::apply::apply_pending(&plan, &runner, &journal) {
        return failed(&format!("{command} failed: {e}"));
    }
    if crate::confirm::wait(name, secs) {
        journal.clear();
        println!("Confirmed: keeping the change.");
        return ExitCode::SUCCESS;
    }
    match journal.recover(&runner) {
        Ok(_) => failed(&format!(
            "not confirmed within {secs} s: the change was rolled back"
        )),
        Err(e) => failed(&format!(
            "not confirmed within {secs} s, and rolling back failed: {e}"
        )),
    }
}
