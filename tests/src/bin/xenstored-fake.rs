//! Stand-in xenstored: serves xenstored's wire protocol on a Unix socket over the file-backed
//! store of the `xenstore-*` stand-ins (see `xennet_tests::xsdaemon`).
//!
//! `xenstored-fake [--hang TYPE] [--interfere PATH VALUE] [--until-stdin-closes] [SOCKET]`
//!
//! The store is `$XENSTORE_FAKE_DIR` (relative paths under `/local/domain/$XENSTORE_FAKE_DOMID`);
//! SOCKET defaults to `$XENSTORED_PATH`. Prints `ready SOCKET` once it accepts connections.
//! `--hang READ` never answers READ requests (a stuck xenstored); `--interfere PATH VALUE` writes
//! VALUE to PATH once, right after the first READ of PATH inside a transaction (another writer:
//! that transaction's commit gets EAGAIN); `--until-stdin-closes` exits
//! when stdin reaches end of file, so a test that dies leaves no daemon behind.

use std::io::Write;
use std::path::PathBuf;
use xennet_tests::xsdaemon::{self, Daemon};
use xennet_tests::xsfake::Store;

fn main() {
    let mut hang = None;
    let mut interfere = None;
    let mut lifeline = false;
    let mut socket = std::env::var_os("XENSTORED_PATH").map(PathBuf::from);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--hang" => match args.next().as_deref().and_then(xsdaemon::parse_type) {
                Some(t) => hang = Some(t),
                None => die("--hang needs a message type such as READ"),
            },
            "--interfere" => match (args.next(), args.next()) {
                (Some(p), Some(v)) => interfere = Some((p, v)),
                _ => die("--interfere needs a path and a value"),
            },
            "--until-stdin-closes" => lifeline = true,
            s if s.starts_with('-') => die(&format!("unknown option {s}")),
            s => socket = Some(PathBuf::from(s)),
        }
    }
    let Some(socket) = socket.filter(|s| !s.as_os_str().is_empty()) else {
        die("no socket: give its path or set XENSTORED_PATH");
    };
    let store = Store::from_env().unwrap_or_else(|e| die(&e));
    if lifeline {
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            std::process::exit(0);
        });
    }
    let shown = socket.display().to_string();
    let mut daemon = Daemon::new(store, hang);
    if let Some((p, v)) = interfere {
        daemon = daemon.interfere(&p, v.as_bytes());
    }
    let r = xsdaemon::run(daemon, &socket, || {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ready {shown}");
        let _ = out.flush();
    });
    if let Err(e) = r {
        die(&format!("{shown}: {e}"));
    }
}

fn die(msg: &str) -> ! {
    eprintln!("xenstored-fake: {msg}");
    std::process::exit(2);
}
