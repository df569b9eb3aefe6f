//! With `--features docs` (what `cargo deb` builds, see `[package.metadata.deb]`): the man
//! pages (section 8) and the bash, zsh and fish completions of `xen-netscripts`, `xennet` and
//! every script, written at build time from the same clap descriptions the executable uses
//! (`src/cli.rs`, `src/docs.rs`, the core's script registry) into
//! `target/<profile>/xen-netscripts-docs/{man8,bash,zsh,fish}` (the pages gzipped), where the
//! package's assets take
//! them. A fixed directory, not `OUT_DIR` alone: `OUT_DIR`'s name changes with every build
//! configuration, and a glob over those would pick up stale pages. Without the feature this does
//! nothing and the build needs none of it.

#[cfg(feature = "docs")]
#[allow(dead_code)]
#[path = "src/cli.rs"]
mod cli;

#[cfg(feature = "docs")]
#[allow(dead_code)]
#[path = "src/docs.rs"]
mod docs;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "docs")]
    if let Err(e) = write_docs() {
        panic!("writing the man pages and completions: {e:#}");
    }
}

#[cfg(feature = "docs")]
fn write_docs() -> anyhow::Result<()> {
    use anyhow::Context;
    use clap::CommandFactory;
    use clap_complete::Shell;
    use std::path::PathBuf;

    println!("cargo:rerun-if-changed=src/cli.rs");
    println!("cargo:rerun-if-changed=src/docs.rs");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").context("OUT_DIR is not set")?);
    // OUT_DIR is <target>/<profile>/build/xen-netscripts-<hash>/out.
    let profile_dir = out_dir
        .ancestors()
        .nth(3)
        .context("OUT_DIR is not <target>/<profile>/build/<pkg>/out")?;
    let dest = profile_dir.join("xen-netscripts-docs");
    if dest.exists() {
        std::fs::remove_dir_all(&dest).with_context(|| format!("removing {}", dest.display()))?;
    }
    // Gzipped as Debian policy wants them (cargo deb compresses only files it did not see built),
    // without name or time stamp so the same sources give the same bytes.
    for page in docs::write_man(cli::Cli::command(), &dest.join("man8"))? {
        let st = std::process::Command::new("gzip")
            .args(["-9", "-n", "-f", "--"])
            .arg(&page)
            .status()
            .context("running gzip")?;
        anyhow::ensure!(st.success(), "gzip {} failed: {st}", page.display());
    }
    for (shell, dir) in [
        (Shell::Bash, "bash"),
        (Shell::Zsh, "zsh"),
        (Shell::Fish, "fish"),
    ] {
        let written = docs::write_completions(cli::Cli::command(), shell, &dest.join(dir))?;
        if shell == Shell::Bash {
            // bash-completion finds /usr/share/bash-completion/completions/<command>.
            for p in written {
                let bare = p.with_extension("");
                std::fs::rename(&p, &bare).with_context(|| format!("renaming {}", p.display()))?;
            }
        }
    }
    Ok(())
}
