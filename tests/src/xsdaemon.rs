//! A stand-in xenstored speaking the wire protocol on a Unix socket (issue 17, item 2), over the
//! same file-backed [`Store`] as the `xenstore-*` stand-ins (`xsfake`), so a test can mix the two
//! and inspect the store directly. Each request is logged to the store's `.calls` as
//! `xenstored <TYPE> [tx=<id>] <args>`, so a test can count round trips.
//!
//! Behaviour follows Xen's `docs/misc/xenstore.txt` (quoted as "doc:" below) and
//! `xen/include/public/io/xs_wire.h`; where the doc is silent or out of date, the C xenstored
//! (`tools/xenstored`) decides, and the comment says so.
//!
//! Supported: READ, WRITE, MKDIR, RM, DIRECTORY, TRANSACTION_START, TRANSACTION_END. Anything
//! else is answered ENOSYS (doc: "Any not supported type sent to Xenstore will result in an error
//! response with the "ENOSYS" error.").
//!
//! Transactions keep their writes in memory until committed; what they read is remembered as it
//! was at first access (the value file's inode and ctime, which every write changes since values
//! are replaced by rename, plus the value, and for a DIRECTORY the list of children). A commit is
//! refused with EAGAIN when any of that changed meanwhile, by this daemon or by a `xenstore-*`
//! stand-in writing the files. That is the doc's "only intervening `conflicting' writes cause
//! EAGAIN, meaning only writes or other commits which changed paths which were read or written in
//! the transaction at hand", which the C xenstored implements (transaction.c) rather than the
//! older "any other intervening writes".
//!
//! std only, like `xsfake`.

use crate::xsfake::Store;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub const XS_DIRECTORY: u32 = 1;
pub const XS_READ: u32 = 2;
pub const XS_TRANSACTION_START: u32 = 6;
pub const XS_TRANSACTION_END: u32 = 7;
pub const XS_WRITE: u32 = 11;
pub const XS_MKDIR: u32 = 12;
pub const XS_RM: u32 = 13;
pub const XS_ERROR: u32 = 16;
/// xs_wire.h: XENSTORE_PAYLOAD_MAX.
pub const PAYLOAD_MAX: usize = 4096;
/// xs_wire.h: "Violating these just gets you an error back".
pub const ABS_PATH_MAX: usize = 3072;
pub const REL_PATH_MAX: usize = 2048;

fn type_name(ty: u32) -> String {
    match ty {
        XS_DIRECTORY => "DIRECTORY".into(),
        XS_READ => "READ".into(),
        XS_TRANSACTION_START => "TRANSACTION_START".into(),
        XS_TRANSACTION_END => "TRANSACTION_END".into(),
        XS_WRITE => "WRITE".into(),
        XS_MKDIR => "MKDIR".into(),
        XS_RM => "RM".into(),
        other => format!("TYPE{other}"),
    }
}

/// The stand-in: one store, requests of all connections serialised by one lock (as the C
/// xenstored handles one request at a time).
pub struct Daemon {
    store: Store,
    lock: Mutex<()>,
    /// Requests of this type are read and logged but never answered (a stuck xenstored).
    hang: Option<u32>,
    /// Another writer, once: after a READ of this path inside a transaction is answered, the
    /// path is written this value outside it, so that the transaction's commit conflicts.
    interfere: Mutex<Option<(String, Vec<u8>)>>,
}

/// What a node looked like when a transaction first touched it. Values are replaced by rename
/// (xsfake), so every write gives the value file a new inode and ctime, also one that writes the
/// same value again.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stamp {
    Missing,
    Node {
        ino: u64,
        ctime: (i64, i64),
        value: Vec<u8>,
    },
}

impl Stamp {
    fn value(&self) -> Option<&[u8]> {
        match self {
            Stamp::Missing => None,
            Stamp::Node { value, .. } => Some(value),
        }
    }
}

/// A write made in a transaction, replayed onto the store at commit.
enum TxOp {
    Write(String, Vec<u8>),
    Mkdir(String),
    Rm(String),
}

/// One open transaction: its own view of the store (doc: "reads and writes happen on the copy").
#[derive(Default)]
struct Tx {
    /// Nodes this transaction wrote (Some) or removed (None).
    overlay: BTreeMap<String, Option<Vec<u8>>>,
    /// Subtrees this transaction removed: nodes below them on disk are not seen any more.
    cleared: BTreeSet<String>,
    /// First-access state of every node read or written, checked at commit.
    seen: BTreeMap<String, Stamp>,
    /// First-access children of every node listed, checked at commit.
    listed: BTreeMap<String, Vec<String>>,
    ops: Vec<TxOp>,
}

/// An error reply's errno name.
type Errno = &'static str;

/// The parent of an absolute path ("/" for "/x").
fn parent(abs: &str) -> Option<&str> {
    if abs == "/" {
        return None;
    }
    match abs.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&abs[..i]),
        None => None,
    }
}

/// The proper ancestors of an absolute path, nearest first, "/" last.
fn ancestors(abs: &str) -> Vec<&str> {
    let mut v = Vec::new();
    let mut cur = parent(abs);
    while let Some(p) = cur {
        v.push(p);
        cur = parent(p);
    }
    v
}

fn child_of(abs: &str, candidate: &str) -> Option<String> {
    let rest = if abs == "/" {
        candidate.strip_prefix('/')?
    } else {
        candidate.strip_prefix(abs)?.strip_prefix('/')?
    };
    (!rest.is_empty() && !rest.contains('/')).then(|| rest.to_string())
}

fn is_below(abs: &str, top: &str) -> bool {
    top == "/" || abs == top || abs.starts_with(&format!("{top}/"))
}

impl Daemon {
    pub fn new(store: Store, hang: Option<u32>) -> Daemon {
        Daemon {
            store,
            lock: Mutex::new(()),
            hang,
            interfere: Mutex::new(None),
        }
    }

    /// Plays another writer once: right after the first READ of `path` inside a transaction,
    /// `path` is written `value` outside it (as a second client would), so that transaction
    /// ends in EAGAIN and its client has to run it again.
    pub fn interfere(self, path: &str, value: &[u8]) -> Daemon {
        *self.interfere.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((path.to_string(), value.to_vec()));
        self
    }

    /// The interference, if this answered READ is the one it waits for.
    fn maybe_interfere(&self, ty: u32, tx_id: u32, payload: &[u8]) {
        if ty != XS_READ || tx_id == 0 {
            return;
        }
        let mut slot = self.interfere.lock().unwrap_or_else(|p| p.into_inner());
        let Some((path, value)) = slot.as_ref() else {
            return;
        };
        let asked = one_arg(payload).ok().and_then(|p| self.resolve(p).ok());
        let wanted = self.resolve(path.as_bytes()).ok();
        if asked.is_some() && asked == wanted {
            let _serial = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            let _ = self.store.write(path, value);
            self.store.log_call(
                "xenstored-interfere",
                &[
                    path.into(),
                    String::from_utf8_lossy(value).into_owned().into(),
                ],
            );
            *slot = None;
        }
    }

    /// A request's path, made absolute and checked as xenstored does: doc: "The permitted
    /// character for paths set is ASCII alphanumerics and plus the four punctuation characters
    /// -/_@", "Doubled slashes and trailing slashes (except to specify the root) are forbidden.
    /// The empty path is also forbidden." and the length limits of xs_wire.h. A relative path is
    /// taken against the caller's home: the doc says only domains may send one ("the caller must
    /// be a domain (rather than connected via a socket)"), but the C xenstored resolves it for a
    /// socket connection too, against dom0's home (`get_implicit_path`), which libxl's hotplug
    /// scripts rely on (XS-09); here the home is `/local/domain/$XENSTORE_FAKE_DOMID`.
    fn resolve(&self, path: &[u8]) -> Result<String, Errno> {
        let path = std::str::from_utf8(path).map_err(|_| "EINVAL")?;
        // '@' paths name special watches only (C xenstored: canonicalize without allow_special).
        if path.starts_with('@') {
            return Err("EINVAL");
        }
        if !path.starts_with('/') && path.len() > REL_PATH_MAX {
            return Err("EINVAL");
        }
        let abs = self.store.resolve(path).map_err(|_| "EINVAL")?;
        if abs.len() > ABS_PATH_MAX {
            return Err("EINVAL");
        }
        Ok(abs)
    }

    fn node_dir(&self, abs: &str) -> PathBuf {
        let rel = abs.trim_start_matches('/');
        if rel.is_empty() {
            self.store.root().to_path_buf()
        } else {
            self.store.root().join(rel)
        }
    }

    /// The node's state on disk now. The value and its inode come from one open file, so a
    /// rename in between cannot pair an old inode with a new value.
    fn stamp(&self, abs: &str) -> Stamp {
        let dir = self.node_dir(abs);
        if !dir.is_dir() {
            return Stamp::Missing;
        }
        match fs::File::open(dir.join(crate::xsfake::VALUE_FILE)) {
            Ok(mut f) => {
                let mut value = Vec::new();
                match (f.metadata(), f.read_to_end(&mut value)) {
                    (Ok(m), Ok(_)) => Stamp::Node {
                        ino: m.ino(),
                        ctime: (m.ctime(), m.ctime_nsec()),
                        value,
                    },
                    _ => Stamp::Missing,
                }
            }
            // A node made as a parent has no value file: doc "WRITE creates any missing parent
            // paths, with empty values".
            Err(_) if dir.is_dir() => Stamp::Node {
                ino: 0,
                ctime: (0, 0),
                value: Vec::new(),
            },
            Err(_) => Stamp::Missing,
        }
    }

    // ---- outside a transaction: straight on the store ----

    fn read(&self, abs: &str) -> Result<Vec<u8>, Errno> {
        // doc: "READ <path>| <value|>"; a missing node is ENOENT (C xenstored: get_node).
        self.store.read(abs).ok_or("ENOENT")
    }

    fn write(&self, abs: &str, value: &[u8]) -> Result<(), Errno> {
        // doc: "WRITE creates any missing parent paths, with empty values." (Store::write
        // makes the parents' directories without value files: empty values.)
        self.store.write(abs, value).map_err(|_| "EIO")
    }

    fn mkdir(&self, abs: &str) -> Result<(), Errno> {
        // doc: "If <path> or any parent already exists, its value is left unchanged."
        if self.store.exists(abs) {
            return Ok(());
        }
        self.store.write(abs, b"").map_err(|_| "EIO")
    }

    fn rm(&self, abs: &str) -> Result<(), Errno> {
        // The C xenstored refuses to remove the root (do_rm: EINVAL).
        if abs == "/" {
            return Err("EINVAL");
        }
        if !self.store.exists(abs) {
            // doc: "It is not an error if <path> does not exist, but it _is_ an error if
            // <path>'s immediate parent does not exist either."
            return match parent(abs) {
                Some(p) if self.store.exists(p) => Ok(()),
                _ => Err("ENOENT"),
            };
        }
        // doc: "deleting it and all of its children".
        match self.store.rm(abs, false) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(_) => Err("EIO"),
        }
    }

    fn directory(&self, abs: &str) -> Result<Vec<String>, Errno> {
        // doc: "Gives a list of the immediate children of <path>, as only the leafnames."
        self.store.children(abs).ok_or("ENOENT")
    }

    // ---- inside a transaction: on its view ----

    /// The stored state of a node as this transaction first saw it.
    fn observe(&self, tx: &mut Tx, abs: &str) -> Stamp {
        if let Some(s) = tx.seen.get(abs) {
            return s.clone();
        }
        let s = self.stamp(abs);
        tx.seen.insert(abs.to_string(), s.clone());
        s
    }

    fn tx_value(&self, tx: &mut Tx, abs: &str) -> Option<Vec<u8>> {
        if let Some(v) = tx.overlay.get(abs) {
            return v.clone();
        }
        if tx.cleared.iter().any(|top| is_below(abs, top)) {
            return None;
        }
        self.observe(tx, abs).value().map(<[u8]>::to_vec)
    }

    fn tx_make_parents(&self, tx: &mut Tx, abs: &str) {
        let missing: Vec<String> = ancestors(abs)
            .into_iter()
            .filter(|a| self.tx_value(tx, a).is_none())
            .map(str::to_string)
            .collect();
        for a in missing {
            tx.overlay.insert(a, Some(Vec::new()));
        }
    }

    fn tx_write(&self, tx: &mut Tx, abs: &str, value: &[u8]) {
        // Read-or-written paths are what a commit checks (doc: "paths which were read or
        // written in the transaction at hand").
        self.observe(tx, abs);
        self.tx_make_parents(tx, abs);
        tx.overlay.insert(abs.to_string(), Some(value.to_vec()));
        tx.ops.push(TxOp::Write(abs.to_string(), value.to_vec()));
    }

    fn tx_mkdir(&self, tx: &mut Tx, abs: &str) {
        if self.tx_value(tx, abs).is_some() {
            return;
        }
        self.tx_make_parents(tx, abs);
        tx.overlay.insert(abs.to_string(), Some(Vec::new()));
        tx.ops.push(TxOp::Mkdir(abs.to_string()));
    }

    fn tx_rm(&self, tx: &mut Tx, abs: &str) -> Result<(), Errno> {
        if abs == "/" {
            return Err("EINVAL");
        }
        if self.tx_value(tx, abs).is_none() {
            // Same rule as outside a transaction (doc on RM, above).
            return match parent(abs) {
                Some(p) if self.tx_value(tx, p).is_some() => Ok(()),
                _ => Err("ENOENT"),
            };
        }
        let below: Vec<String> = tx
            .overlay
            .keys()
            .filter(|k| is_below(k, abs))
            .cloned()
            .collect();
        for k in below {
            tx.overlay.remove(&k);
        }
        tx.overlay.insert(abs.to_string(), None);
        tx.cleared.insert(abs.to_string());
        tx.ops.push(TxOp::Rm(abs.to_string()));
        Ok(())
    }

    fn tx_directory(&self, tx: &mut Tx, abs: &str) -> Result<Vec<String>, Errno> {
        if self.tx_value(tx, abs).is_none() {
            return Err("ENOENT");
        }
        let mut names: BTreeSet<String> = if tx.cleared.iter().any(|top| is_below(abs, top)) {
            BTreeSet::new()
        } else {
            let on_disk = match tx.listed.get(abs) {
                Some(l) => l.clone(),
                None => {
                    let l = self.store.children(abs).unwrap_or_default();
                    tx.listed.insert(abs.to_string(), l.clone());
                    l
                }
            };
            on_disk.into_iter().collect()
        };
        for (k, v) in &tx.overlay {
            if let Some(name) = child_of(abs, k) {
                if v.is_some() {
                    names.insert(name);
                } else {
                    names.remove(&name);
                }
            }
        }
        Ok(names.into_iter().collect())
    }

    /// doc: "If T, it is committed: if there were any other intervening writes then our END gets
    /// EAGAIN." - narrowed, as the C xenstored does, to changes of what this transaction read or
    /// wrote (see the module comment).
    fn commit(&self, tx: Tx) -> Result<(), Errno> {
        for (abs, then) in &tx.seen {
            if self.stamp(abs) != *then {
                return Err("EAGAIN");
            }
        }
        for (abs, then) in &tx.listed {
            if self.store.children(abs).unwrap_or_default() != *then {
                return Err("EAGAIN");
            }
        }
        for op in tx.ops {
            match op {
                TxOp::Write(p, v) => self.write(&p, &v)?,
                TxOp::Mkdir(p) => self.mkdir(&p)?,
                TxOp::Rm(p) => match self.rm(&p) {
                    // Its parent went with an earlier Rm of this transaction.
                    Ok(()) | Err("ENOENT") => {}
                    Err(e) => return Err(e),
                },
            }
        }
        Ok(())
    }
}

/// One client's connection: its transactions are its own (C xenstored: transaction_lookup
/// searches the connection's list).
struct Conn {
    daemon: Arc<Daemon>,
    txs: HashMap<u32, Tx>,
    next_tx: u32,
}

/// The arguments of a request: `<path>|` and friends. doc: "<foo>|*: Zero or more strings each
/// followed by a trailing nul"; a payload that does not end in one is refused (C xenstored:
/// onearg/get_strings give EINVAL).
fn one_arg(payload: &[u8]) -> Result<&[u8], Errno> {
    match payload.iter().position(|&b| b == 0) {
        Some(i) if i + 1 == payload.len() => Ok(&payload[..i]),
        _ => Err("EINVAL"),
    }
}

impl Conn {
    /// Answers one request: Ok(payload) for a reply of the request's type, Err(errno) for an
    /// ERROR reply (doc: "if an error occurs, a reply will be returned with type ERROR").
    fn handle(&mut self, ty: u32, tx_id: u32, payload: &[u8]) -> Result<Vec<u8>, Errno> {
        let d = Arc::clone(&self.daemon);
        let _serial = d.lock.lock().unwrap_or_else(|p| p.into_inner());
        let ok = || Ok(b"OK\0".to_vec());
        // A request naming a transaction this connection does not have (C xenstored: ENOENT).
        if tx_id != 0 && !self.txs.contains_key(&tx_id) {
            return Err("ENOENT");
        }
        match ty {
            XS_TRANSACTION_START => {
                // doc: "It is not legal to send non-0 tx_id in TRANSACTION_START." (the C
                // xenstored answers EBUSY).
                if tx_id != 0 {
                    return Err("EBUSY");
                }
                one_arg(payload)?;
                // doc: "<transid> is an opaque uint32_t allocated by xenstored represented as
                // unsigned decimal"; 0 means "no transaction", so it is never handed out.
                self.next_tx = self.next_tx.wrapping_add(1).max(1);
                let id = self.next_tx;
                self.txs.insert(id, Tx::default());
                Ok(format!("{id}\0").into_bytes())
            }
            XS_TRANSACTION_END => {
                // doc: "tx_id must refer to existing transaction. After this request the tx_id
                // is no longer valid"
                let Some(tx) = self.txs.remove(&tx_id) else {
                    return Err("ENOENT");
                };
                match one_arg(payload)? {
                    b"T" => d.commit(tx).map(|()| b"OK\0".to_vec()),
                    // doc: "If F, the transaction is discarded."
                    b"F" => ok(),
                    _ => Err("EINVAL"),
                }
            }
            XS_READ | XS_DIRECTORY | XS_MKDIR | XS_RM => {
                let abs = d.resolve(one_arg(payload)?)?;
                match (ty, self.txs.get_mut(&tx_id)) {
                    (XS_READ, None) => d.read(&abs),
                    (XS_READ, Some(tx)) => d.tx_value(tx, &abs).ok_or("ENOENT"),
                    (XS_DIRECTORY, tx) => {
                        let names = match tx {
                            None => d.directory(&abs)?,
                            Some(tx) => d.tx_directory(tx, &abs)?,
                        };
                        // "<child-leaf-name>|*"
                        Ok(names
                            .into_iter()
                            .flat_map(|n| n.into_bytes().into_iter().chain([0]))
                            .collect())
                    }
                    (XS_MKDIR, None) => d.mkdir(&abs).and_then(|()| ok()),
                    (XS_MKDIR, Some(tx)) => {
                        d.tx_mkdir(tx, &abs);
                        ok()
                    }
                    (_, None) => d.rm(&abs).and_then(|()| ok()),
                    (_, Some(tx)) => d.tx_rm(tx, &abs).and_then(|()| ok()),
                }
            }
            XS_WRITE => {
                // doc: "WRITE <path>|<value|>": the value is the rest, NULs and all.
                let Some(i) = payload.iter().position(|&b| b == 0) else {
                    return Err("EINVAL");
                };
                let abs = d.resolve(&payload[..i])?;
                let value = &payload[i + 1..];
                match self.txs.get_mut(&tx_id) {
                    None => d.write(&abs, value)?,
                    Some(tx) => d.tx_write(tx, &abs, value),
                }
                ok()
            }
            _ => Err("ENOSYS"),
        }
    }
}

/// The `.calls` line of a request: type, transaction, and its strings (a WRITE's value whole).
fn log_request(store: &Store, ty: u32, tx_id: u32, payload: &[u8]) {
    let mut args: Vec<OsString> = vec![type_name(ty).into()];
    if tx_id != 0 {
        args.push(format!("tx={tx_id}").into());
    }
    let body = payload.strip_suffix(&[0]).unwrap_or(payload);
    let parts: Vec<&[u8]> = if ty == XS_WRITE {
        match body.iter().position(|&b| b == 0) {
            Some(i) => vec![&payload[..i], &payload[i + 1..]],
            None => vec![body],
        }
    } else {
        body.split(|&b| b == 0).collect()
    };
    for p in parts.into_iter().filter(|p| !p.is_empty()) {
        args.push(String::from_utf8_lossy(p).into_owned().into());
    }
    store.log_call("xenstored", &args);
}

fn header(ty: u32, req_id: u32, tx_id: u32, len: usize) -> [u8; 16] {
    let mut h = [0u8; 16];
    for (i, v) in [ty, req_id, tx_id, len as u32].into_iter().enumerate() {
        h[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
    }
    h
}

/// Serves one connection until the client goes away.
pub fn serve(daemon: Arc<Daemon>, mut s: UnixStream) {
    let mut conn = Conn {
        daemon,
        txs: HashMap::new(),
        next_tx: 0,
    };
    loop {
        let mut h = [0u8; 16];
        if s.read_exact(&mut h).is_err() {
            return;
        }
        let word = |i: usize| u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let (ty, req_id, tx_id, len) = (word(0), word(4), word(8), word(12) as usize);
        // doc: "If a client exceeds the limit, its xenstored connection will be immediately
        // killed by xenstored".
        if len > PAYLOAD_MAX {
            return;
        }
        let mut payload = vec![0u8; len];
        if s.read_exact(&mut payload).is_err() {
            return;
        }
        log_request(&conn.daemon.store, ty, tx_id, &payload);
        if conn.daemon.hang == Some(ty) {
            // Never answer; keep the connection until the client gives up.
            let _ = io::copy(&mut s, &mut io::sink());
            return;
        }
        // doc: "Generally requests each generate a reply with an identical type, req_id and
        // tx_id. However, if an error occurs, a reply will be returned with type ERROR, and
        // only req_id and tx_id copied from the request."
        let (rty, body) = match conn.handle(ty, tx_id, &payload) {
            // A reply over the limit is refused as E2BIG (C xenstored: send_reply), e.g. a
            // value the command-line stand-in wrote bigger than a WRITE could carry.
            Ok(b) if b.len() > PAYLOAD_MAX => (XS_ERROR, b"E2BIG\0".to_vec()),
            Ok(b) => (ty, b),
            // doc: "ERROR E<something>| Where E<something> is the name of an errno value"
            Err(errno) => (XS_ERROR, format!("{errno}\0").into_bytes()),
        };
        conn.daemon.maybe_interfere(ty, tx_id, &payload);
        let mut out = header(rty, req_id, tx_id, body.len()).to_vec();
        out.extend_from_slice(&body);
        if s.write_all(&out).is_err() {
            return;
        }
    }
}

/// Listens on `socket` (a stale file there is replaced) and serves each connection in a thread.
/// `ready` is called once the socket accepts connections.
pub fn run(daemon: Daemon, socket: &Path, ready: impl FnOnce()) -> io::Result<()> {
    match fs::remove_file(socket) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(socket)?;
    ready();
    let daemon = Arc::new(daemon);
    for s in listener.incoming() {
        match s {
            Ok(s) => {
                let d = Arc::clone(&daemon);
                std::thread::spawn(move || serve(d, s));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Parses a message type name (`READ`) or number for `--hang`.
pub fn parse_type(s: &str) -> Option<u32> {
    [
        XS_DIRECTORY,
        XS_READ,
        XS_TRANSACTION_START,
        XS_TRANSACTION_END,
        XS_WRITE,
        XS_MKDIR,
        XS_RM,
    ]
    .into_iter()
    .find(|&t| type_name(t) == s)
    .or_else(|| s.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemon() -> (tempfile::TempDir, Daemon) {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path(), 0);
        (d, Daemon::new(s, None))
    }

    #[test]
    fn path_helpers() {
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/"), None);
        assert_eq!(ancestors("/a/b/c"), vec!["/a/b", "/a", "/"]);
        assert_eq!(child_of("/a", "/a/b"), Some("b".into()));
        assert_eq!(child_of("/a", "/a/b/c"), None);
        assert_eq!(child_of("/a", "/ab"), None);
        assert_eq!(child_of("/", "/a"), Some("a".into()));
        assert!(is_below("/a/b", "/a") && !is_below("/ab", "/a"));
        assert_eq!(one_arg(b"x\0"), Ok(&b"x"[..]));
        assert_eq!(one_arg(b"x"), Err("EINVAL"));
        assert_eq!(one_arg(b"x\0y\0"), Err("EINVAL"));
    }

    #[test]
    fn transaction_view_sees_its_own_writes_and_removals() {
        let (_t, d) = daemon();
        d.write("/a/b/c", b"1").unwrap();
        d.write("/a/x", b"2").unwrap();
        let mut tx = Tx::default();
        d.tx_write(&mut tx, "/n/m", b"3");
        assert_eq!(d.tx_value(&mut tx, "/n").as_deref(), Some(&b""[..]));
        assert_eq!(d.tx_directory(&mut tx, "/n").unwrap(), vec!["m"]);
        d.tx_rm(&mut tx, "/a/b").unwrap();
        assert_eq!(d.tx_value(&mut tx, "/a/b/c"), None);
        assert_eq!(d.tx_directory(&mut tx, "/a").unwrap(), vec!["x"]);
        d.tx_write(&mut tx, "/a/b/d", b"4");
        assert_eq!(d.tx_directory(&mut tx, "/a/b").unwrap(), vec!["d"]);
        assert_eq!(d.tx_rm(&mut tx, "/q/r"), Err("ENOENT"));
        assert_eq!(d.tx_rm(&mut tx, "/a/nope"), Ok(()));
        // Nothing reached the store yet.
        assert!(!d.store.exists("/n") && d.store.exists("/a/b/c"));
        d.commit(tx).unwrap();
        assert_eq!(d.store.read("/n/m").unwrap(), b"3");
        assert_eq!(d.store.children("/a/b").unwrap(), vec!["d"]);
        assert_eq!(d.store.read("/a/b/d").unwrap(), b"4");
    }

    #[test]
    fn a_rewrite_of_the_same_value_still_conflicts() {
        let (_t, d) = daemon();
        d.write("/k", b"v").unwrap();
        let mut tx = Tx::default();
        assert_eq!(d.tx_value(&mut tx, "/k").as_deref(), Some(&b"v"[..]));
        d.write("/k", b"v").unwrap();
        d.tx_write(&mut tx, "/other", b"1");
        assert_eq!(d.commit(tx), Err("EAGAIN"));
        assert!(!d.store.exists("/other"), "a refused commit writes nothing");
    }

    #[test]
    fn the_interference_writes_once_after_a_read_of_its_path_in_a_transaction() {
        let (_t, d) = daemon();
        let d = d.interfere("backend/vif/1/0/bridge", b"xenbr0");
        d.write("/local/domain/0/backend/vif/1/0/bridge", b"old")
            .unwrap();
        let read = b"backend/vif/1/0/bridge\0";
        // Outside a transaction, or a READ of another path: nothing.
        d.maybe_interfere(XS_READ, 0, read);
        d.maybe_interfere(XS_READ, 5, b"/local/domain/0/name\0");
        d.maybe_interfere(XS_DIRECTORY, 5, read);
        assert_eq!(
            d.read("/local/domain/0/backend/vif/1/0/bridge").unwrap(),
            b"old"
        );
        // The absolute spelling of the same path, in a transaction: written, once.
        d.maybe_interfere(XS_READ, 5, b"/local/domain/0/backend/vif/1/0/bridge\0");
        assert_eq!(
            d.read("/local/domain/0/backend/vif/1/0/bridge").unwrap(),
            b"xenbr0"
        );
        d.write("/local/domain/0/backend/vif/1/0/bridge", b"again")
            .unwrap();
        d.maybe_interfere(XS_READ, 6, read);
        assert_eq!(
            d.read("/local/domain/0/backend/vif/1/0/bridge").unwrap(),
            b"again"
        );
    }
}
