//! `xennet`: the administrator's tool of xen-netscripts (DESIGN.md): the map of the host's
//! network, guest MACs, linking the scripts into /etc/xen/scripts and back, a read-only check of
//! the host, and the man pages and shell completions of every script.

use crate::{docs, doctor, install, mac, map};

use crate::cli::{BootAction, Cli, Cmd, MacAction, MacArgs, MapFormat};
use clap::{CommandFactory, Parser};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// `xennet boot`: the config file's mode, run.
fn boot(action: BootAction, conf: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let conf = conf.unwrap_or_else(xennet::conf::path);
    let text = match std::fs::read_to_string(&conf) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!(
                "{} does not exist: no network mode to {}",
                conf.display(),
                action.word()
            );
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => anyhow::bail!("cannot read {}: {e}", conf.display()),
    };
    let Some(b) = xennet::boot::plan(&text, &conf.display().to_string())? else {
        println!(
            "mode=none (or no mode=) in {}: no network mode to {}",
            conf.display(),
            action.word()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let mut argv: Vec<std::ffi::OsString> = vec![b.script.name.into(), action.word().into()];
    argv.extend(b.settings.iter().map(Into::into));
    println!(
        "{}: {} {} {}",
        conf.display(),
        b.script.name,
        action.word(),
        b.settings.join(" ")
    );
    Ok(xennet::dispatch::run(b.script, argv))
}

fn script_dir(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(xennet::paths::script_dir)
}

fn mac_main(args: MacArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        None => {
            let kind = if args.local {
                mac::Kind::Local
            } else {
                mac::Kind::Xen
            };
            let mut out = std::io::stdout().lock();
            for _ in 0..args.count {
                writeln!(out, "{}", mac::generate(kind)?)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(MacAction::Check { macs }) => {
            let mut code = 0u8;
            let mut out = std::io::stdout().lock();
            for m in macs {
                // As xenstore-read prints it, with its newline.
                match m.trim().parse::<mac::Mac>() {
                    Ok(parsed) => {
                        let v = mac::check(parsed);
                        write!(out, "{}", v.render())?;
                        if v.rejected.is_some() {
                            code = code.max(1);
                        }
                    }
                    Err(e) => {
                        out.flush()?;
                        eprintln!("xennet: error: {e}");
                        code = 2;
                    }
                }
            }
            Ok(ExitCode::from(code))
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Cmd::Map { format } => {
            let runner = xennet::exec::System::default();
            let m = map::read(&runner)?;
            match format {
                MapFormat::Text => write!(out, "{}", map::text(&m))?,
                MapFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&m)?)?,
                MapFormat::Dot => write!(out, "{}", map::dot(&m))?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Mac(args) => {
            drop(out);
            mac_main(args)
        }
        Cmd::Install(a) => {
            let bin_dir = match a.bin_dir {
                Some(d) => d,
                None => install::default_bin_dir()?,
            };
            let dir = script_dir(a.dir);
            install::install(
                &install::Options {
                    dir: &dir,
                    bin_dir: &bin_dir,
                    dry_run: a.dry_run,
                },
                &mut out,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Uninstall(a) => {
            let clean = install::uninstall(&script_dir(a.dir), a.dry_run, &mut out)?;
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Doctor(a) => {
            let checks = doctor::run(&script_dir(a.dir));
            for c in &checks {
                writeln!(out, "{c}")?;
            }
            let count = |s| checks.iter().filter(|c| c.status == s).count();
            let fails = count(doctor::Status::Fail);
            writeln!(
                out,
                "\n{} checks: {} OK, {} WARN, {fails} FAIL",
                checks.len(),
                count(doctor::Status::Ok),
                count(doctor::Status::Warn)
            )?;
            Ok(if fails > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Cmd::Boot { action, conf } => {
            drop(out);
            boot(action, conf)
        }
        Cmd::Man { out: dir } => {
            for p in docs::write_man(Cli::command(), &dir)? {
                writeln!(out, "{}", p.display())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Completions { shell, out: None } => {
            docs::print_completion(Cli::command(), shell, &mut out);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Completions {
            shell,
            out: Some(dir),
        } => {
            for p in docs::write_completions(Cli::command(), shell, &dir)? {
                writeln!(out, "{}", p.display())?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `xennet …`; `argv[0]` is the name it was run by.
pub fn main(argv: Vec<std::ffi::OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(code) => code,
        // The reader went away (`xennet install --dry-run | head`): what it wanted, it has.
        Err(e) if reader_gone(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xennet: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn reader_gone(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn mac_check_and_generation_do_not_mix() {
        assert!(
            Cli::try_parse_from(["xennet", "mac", "--local", "check", "00:16:3e:00:00:01"])
                .is_err()
        );
        assert!(Cli::try_parse_from(["xennet", "mac", "check"]).is_err());
        assert!(Cli::try_parse_from(["xennet", "mac", "-n", "0"]).is_err());
        assert!(Cli::try_parse_from(["xennet", "mac", "--local", "-n", "3"]).is_ok());
    }
}
