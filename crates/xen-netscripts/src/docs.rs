//! Man pages (clap_mangen, with sections of our own: SETTINGS, ENVIRONMENT, FILES, EXIT STATUS,
//! SEE ALSO) and shell completions (clap_complete) for `xennet` and every script binary.

use anyhow::{Context, Result};
use clap::builder::PossibleValue;
use clap::{Arg, ArgAction, Command};
use clap_complete::Shell;
use roff::{bold, italic, roman, Roff};
use std::path::{Path, PathBuf};
use xennet::scripts::{self, Kind, Script, SCRIPTS};

const MANUAL: &str = "xen-netscripts";

/// System administration commands: the scripts and xennet run as root (/usr/share/man/man8).
const SECTION: &str = "8";

fn source() -> String {
    format!("xen-netscripts {}", env!("CARGO_PKG_VERSION"))
}

/// A section of `.TP` items: a bold term, then its text.
fn items(roff: &mut Roff, title: &str, items: &[(String, String)]) {
    roff.control("SH", [title]);
    for (term, text) in items {
        roff.control("TP", []);
        roff.text([bold(term.as_str())]);
        roff.text([roman(text.as_str())]);
    }
}

fn paragraph(roff: &mut Roff, title: &str, text: &str) {
    roff.control("SH", [title]);
    roff.text([roman(text)]);
}

fn see_also(roff: &mut Roff, except: &str) {
    roff.control("SH", ["SEE ALSO"]);
    let mut names: Vec<&str> = std::iter::once("xennet")
        .chain(SCRIPTS.iter().map(|s| s.name))
        .filter(|n| *n != except)
        .collect();
    names.push("xl-network-configuration");
    let mut inline = Vec::new();
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            inline.push(roman(", "));
        }
        inline.push(bold(*n));
        let section = if *n == "xl-network-configuration" {
            "(5)"
        } else {
            "(8)"
        };
        inline.push(roman(section));
    }
    roff.text(inline);
}

/// A page: clap's sections, then ours, then VERSION.
fn page(cmd: Command, extra: impl FnOnce(&mut Roff)) -> Result<(String, Vec<u8>)> {
    let has_args = cmd
        .get_arguments()
        .any(|a| !a.is_hide_set() && a.get_id() != "help");
    let has_subcommands = cmd.get_subcommands().any(|s| !s.is_hide_set());
    let has_version = cmd.get_version().is_some();
    let man = clap_mangen::Man::new(cmd)
        .section(SECTION)
        .source(source())
        .manual(MANUAL);
    let mut buf = Vec::new();
    man.render_title(&mut buf)?;
    man.render_name_section(&mut buf)?;
    man.render_synopsis_section(&mut buf)?;
    man.render_description_section(&mut buf)?;
    if has_args {
        man.render_options_section(&mut buf)?;
    }
    if has_subcommands {
        man.render_subcommands_section(&mut buf)?;
    }
    let mut roff = Roff::new();
    extra(&mut roff);
    roff.to_writer(&mut buf)?;
    if has_version {
        man.render_version_section(&mut buf)?;
    }
    Ok((man.get_filename(), buf))
}

fn script_page(s: &Script) -> Result<(String, Vec<u8>)> {
    page(command(s), |roff| {
        let settings: Vec<(String, String)> = s
            .settings
            .iter()
            .map(|x| {
                (
                    format!("{}=VALUE", x.name),
                    format!("{} From: {}.", x.help, x.source_words()),
                )
            })
            .collect();
        items(roff, "SETTINGS", &settings);
        let env: Vec<(String, String)> = scripts::ENVIRONMENT
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        items(roff, "ENVIRONMENT", &env);
        let mut files = vec![
            (
                "/var/run/xen-hotplug/".to_string(),
                "Lock files, shared with Xen's original scripts.".to_string(),
            ),
            (
                "/run/xen/xennet/".to_string(),
                "Journals of interrupted runs (undone by the next run) and what stop needs."
                    .to_string(),
            ),
        ];
        if s.kind == Kind::Vif {
            files.push((
                "/etc/xen/scripts/vif-post.d/*.hook".to_string(),
                "Hooks run by bash, in order, after the network work and before connected."
                    .to_string(),
            ));
            files.push((
                "/var/log/xen/xen-hotplug.log".to_string(),
                "Errors, when syslog cannot be reached.".to_string(),
            ));
        }
        items(roff, "FILES", &files);
        let exit = match s.kind {
            Kind::Vif => {
                "0 on success (and for a command that does not apply to the type_if); 1 on \
                 failure, after writing hotplug-error and hotplug-status=error to the backend's \
                 xenstore directory so that the toolstack reports why."
            }
            Kind::Network => {
                "0 on success; 1 on failure (the host is left as it was). status shows what \
                 is set up and, as the originals' status does, exits 0 whether or not the mode \
                 is set up; 1 when the host cannot be read or a command it shows fails."
            }
        };
        paragraph(roff, "EXIT STATUS", exit);
        roff.control("SH", ["EXAMPLES"]);
        let example = match s.kind {
            Kind::Vif => format!(
                "vif=vif1.0 XENBUS_PATH=backend/vif/1/0 {} --dry-run online",
                s.name
            ),
            Kind::Network => format!("{} start --dry-run", s.name),
        };
        roff.text([italic(example.as_str())]);
        see_also(roff, s.name);
    })
}

fn xennet_extra(roff: &mut Roff) {
    items(
        roff,
        "ENVIRONMENT",
        &[
            (
                "XEN_SCRIPT_DIR".into(),
                "The default of --dir (otherwise /etc/xen/scripts).".into(),
            ),
            (
                "XENNET_LOCK_DIR, XENNET_STATE_DIR".into(),
                "The directories doctor checks (otherwise /var/run/xen-hotplug and \
                 /run/xen/xennet)."
                    .into(),
            ),
            (
                "XENNET_PROC_SYS_NET".into(),
                "Where doctor reads the bridge sysctls (otherwise /proc/sys/net).".into(),
            ),
            (
                "XENNET_DPKG_ADMINDIR".into(),
                "dpkg's database, whose conffile checksums install, uninstall and doctor ask \
                 dpkg-query for (otherwise dpkg's default)."
                    .into(),
            ),
            (
                "XENNET_CONF".into(),
                "The config file of boot (otherwise /etc/xen/xen-netscripts.conf).".into(),
            ),
        ],
    );
    items(
        roff,
        "FILES",
        &[
            (
                "/etc/xen/scripts/<script>".into(),
                "After install: a small sh script, marked as written by xennet install, that \
                 runs the binary of that name."
                    .into(),
            ),
            (
                "/etc/xen/scripts/<script>.xen-orig".into(),
                "The original script kept by install (replaced only by what the package ships \
                 now); uninstall moves it back."
                    .into(),
            ),
            (
                "/etc/xen/scripts/<script>.dpkg-dist, <script>.dpkg-old".into(),
                "dpkg's copies after an upgrade of xen-utils-common: the package's new script \
                 when xennet's was kept (uninstall puts it in place), xennet's when the \
                 package's was taken (install and uninstall remove it)."
                    .into(),
            ),
            (
                "/etc/xen/xen-netscripts.conf".into(),
                "mode= and the settings boot passes to network-<mode>.".into(),
            ),
        ],
    );
    paragraph(
        roff,
        "EXIT STATUS",
        "0 on success. mac check: 0 when every MAC is fine for a guest, 1 when one is not, 2 \
         when one is not a MAC. doctor: 1 when a check FAILs. uninstall: 1 when a script had to \
         be left as it was. Other errors: 1.",
    );
    see_also(roff, "xennet");
}

/// The page of `cmd` (after `build`), then of each of its visible subcommands.
fn xennet_pages(cmd: &Command, top: bool, out: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
    if top {
        out.push(page(cmd.clone(), xennet_extra)?);
    } else {
        out.push(page(cmd.clone(), |roff| see_also(roff, ""))?);
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        xennet_pages(sub, false, out)?;
    }
    Ok(())
}

/// The page of the executable itself, `xen-netscripts.8`: what its names are and where the
/// package puts it.
fn multicall_page() -> Result<(String, Vec<u8>)> {
    let names: Vec<PossibleValue> = SCRIPTS
        .iter()
        .map(|s| PossibleValue::new(s.name).help(s.about))
        .chain(std::iter::once(
            PossibleValue::new("xennet").help("The administrator's tool (see xennet(8))"),
        ))
        .collect();
    let cmd = Command::new("xen-netscripts")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Xen's network scripts and xennet in one executable")
        .long_about(
            "One executable that is every script of xen-netscripts (the Rust replacements of \
             Xen's network hotplug scripts) and xennet: it runs the one named by the name it \
             is started by, so that /etc/xen/scripts/vif-bridge may run it, through a link or a \
             script that execs /usr/libexec/xen-netscripts/vif-bridge. Run by its own name, its \
             first argument names what to run: xen-netscripts vif-bridge online. The Debian \
             package installs it as /usr/libexec/xen-netscripts/xen-netscripts with a link per \
             name beside it, and /usr/sbin/xennet; installing the package changes nothing in \
             /etc/xen/scripts until `xennet install`.",
        )
        .override_usage(
            "xen-netscripts <NAME> [ARGS]...\n       xen-netscripts --list | --version | --help",
        )
        .disable_version_flag(true)
        .arg(
            Arg::new("list")
                .long("list")
                .action(ArgAction::SetTrue)
                .help("Print the names, one a line"),
        )
        .arg(
            Arg::new("version")
                .long("version")
                .short('V')
                .action(ArgAction::SetTrue)
                .help("Print the version"),
        )
        .arg(
            Arg::new("name")
                .value_name("NAME")
                .value_parser(names)
                .help("What to run"),
        );
    page(cmd, |roff| {
        items(
            roff,
            "FILES",
            &[
                (
                    "/usr/libexec/xen-netscripts/".into(),
                    "The executable and a symbolic link to it per name (the Debian package)."
                        .into(),
                ),
                (
                    "/etc/xen/scripts/<name>".into(),
                    "What the toolstack runs: after xennet install, a script that runs the \
                     binary of that name."
                        .into(),
                ),
                (
                    "/etc/xen/xen-netscripts.conf".into(),
                    "Host-wide settings (firewall=, antispoof=) and the network mode that \
                     xen-netscripts.service starts at boot (mode=)."
                        .into(),
                ),
            ],
        );
        see_also(roff, "");
    })
}

/// Every page: `xen-netscripts.8`, `xennet.8`, `xennet-<sub>.8`, and `<script>.8`.
pub fn man_pages(xennet: Command) -> Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = xennet.disable_help_subcommand(true);
    cmd.build();
    let mut out = vec![multicall_page()?];
    xennet_pages(&cmd, true, &mut out)?;
    for s in &SCRIPTS {
        out.push(script_page(s)?);
    }
    Ok(out)
}

/// Writes the pages into `dir` (made if missing) and returns their paths.
pub fn write_man(xennet: Command, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, text) in man_pages(xennet)? {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// `xennet` and every script, as clap commands named by their binaries.
fn all_commands(xennet: Command) -> Vec<(String, Command)> {
    std::iter::once(("xennet".to_string(), xennet))
        .chain(SCRIPTS.iter().map(|s| (s.name.to_string(), command(s))))
        .collect()
}

/// clap_complete offers no values for positional arguments in fish: the scripts' command words
/// and settings, as fish lines of our own.
fn fish_words(script: &Script) -> String {
    let quote = |t: &str| format!("'{}'", t.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut out = String::from("# Command words and name=value settings (xennet).\n");
    for w in script.words {
        out.push_str(&format!(
            "complete -c {} -f -a {} -d {}\n",
            script.name,
            quote(w.word),
            quote(w.help)
        ));
    }
    for s in script.settings {
        out.push_str(&format!(
            "complete -c {} -f -a {} -d {}\n",
            script.name,
            quote(&format!("{}=", s.name)),
            quote(s.help)
        ));
    }
    out
}

/// Writes the completions for `shell` into `dir` (made if missing) and returns their paths.
pub fn write_completions(xennet: Command, shell: Shell, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
    all_commands(xennet)
        .into_iter()
        .map(|(name, mut cmd)| {
            let what = || {
                format!(
                    "cannot write the {shell} completion of {name} into {}",
                    dir.display()
                )
            };
            let path =
                clap_complete::generate_to(shell, &mut cmd, &name, dir).with_context(what)?;
            if let (Shell::Fish, Some(script)) = (shell, SCRIPTS.iter().find(|s| s.name == name)) {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .with_context(what)?;
                std::io::Write::write_all(&mut f, fish_words(script).as_bytes())
                    .with_context(what)?;
            }
            Ok(path)
        })
        .collect()
}

/// Prints `xennet`'s own completion for `shell`.
pub fn print_completion(xennet: Command, shell: Shell, w: &mut dyn std::io::Write) {
    let mut cmd = xennet;
    clap_complete::generate(shell, &mut cmd, "xennet", w);
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn script_pages_document_grammar_and_settings() {
        let pages = man_pages(crate::cli::Cli::command()).unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        for n in [
            "xen-netscripts.8",
            "xennet.8",
            "xennet-mac.8",
            "xennet-mac-check.8",
            "xennet-doctor.8",
            "xennet-map.8",
            "network-route.8",
        ] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        let (name, text) = pages.iter().find(|(n, _)| n == "vif-bridge.8").unwrap();
        assert_eq!(name, "vif-bridge.8");
        let text = String::from_utf8_lossy(text);
        for needle in [
            "SETTINGS",
            "bridge=VALUE",
            "online",
            "dry\\-run",
            "ENVIRONMENT",
            "EXIT STATUS",
            "SEE ALSO",
        ] {
            assert!(text.contains(needle), "{needle} missing in\n{text}");
        }
        let text =
            String::from_utf8_lossy(&pages.iter().find(|(n, _)| n == "network-nat.8").unwrap().1)
                .into_owned();
        assert!(text.contains("start|stop|status"), "{text}");
        assert!(text.contains("confirm=VALUE"));
    }
}

/// The clap description of a script's grammar, for its man page and completions.
pub fn command(script: &Script) -> Command {
    let words: Vec<PossibleValue> = script
        .words
        .iter()
        .map(|w| PossibleValue::new(w.word).help(w.help))
        .collect();
    let settings: Vec<PossibleValue> = script
        .settings
        .iter()
        .map(|s| PossibleValue::new(format!("{}=", s.name)).help(s.help))
        .collect();
    Command::new(script.name)
        .version(env!("CARGO_PKG_VERSION"))
        .override_usage(scripts::usage(script))
        .about(script.about)
        .long_about(scripts::long_about(script))
        .disable_version_flag(true)
        .arg(
            Arg::new("dry-run")
                .long("dry-run")
                .action(ArgAction::SetTrue)
                .help("Print the plan as shell lines and change nothing (also XENNET_DRY_RUN=1)"),
        )
        .arg(
            Arg::new("verbose")
                .short('v')
                .long("verbose")
                .action(ArgAction::SetTrue)
                .help("Log every command run to stderr"),
        )
        .arg(
            Arg::new("version")
                .long("version")
                .action(ArgAction::SetTrue)
                .help("Print the version"),
        )
        .arg(
            Arg::new("command")
                .value_name("COMMAND")
                .required(true)
                .value_parser(words)
                .help("What to do"),
        )
        .arg(
            Arg::new("settings")
                .value_name("NAME=VALUE")
                .num_args(0..)
                .action(ArgAction::Append)
                .value_parser(settings)
                .hide_possible_values(true)
                .help("Settings (see SETTINGS)"),
        )
}

#[cfg(test)]
mod command_tests {
    use super::*;

    #[test]
    fn commands_are_valid() {
        for s in &SCRIPTS {
            let mut c = command(s);
            c.build();
            c.clone()
                .try_get_matches_from([
                    s.name,
                    s.words[0].word,
                    &format!("{}=", s.settings[0].name),
                ])
                .unwrap();
        }
    }
}
