//! xenstore over xenstored's own wire protocol (issue 17, item 2), so that a vif event costs no
//! process for its xenstore traffic: one connection per run, the backend keys read in one
//! transaction, the report written in another.
//!
//! The protocol (Xen's `docs/misc/xenstore.txt`, `xen/include/public/io/xs_wire.h`): each message
//! is a 16-byte header of four native-endian u32 (type, req_id, tx_id, len) and `len` bytes of
//! payload, at most 4096 in either direction; strings in a payload are each followed by a NUL; a
//! refused request is answered with type ERROR and the errno's *name* as the payload.
//!
//! Where to connect follows libxenstore's `xs_open`: the socket (`$XENSTORED_PATH`, else
//! `$XENSTORED_RUNDIR/socket`, default `/var/run/xenstored/socket`), then the xenbus device
//! (`$XENSTORED_PATH`, else `/dev/xen/xenbus`, else `/proc/xen/xenbus`), which carries the same
//! framing over read/write when xenstored runs in a stub domain. [`connect`] falls back to the
//! `xenstore-*` clients ([`crate::xenstore::Cli`]) when neither is there.
//!
//! Paths are sent as given: xenstored resolves a relative one against the connection's home,
//! `/local/domain/<domid>` (XS-09).

use crate::exec::{ExecError, Runner};
use crate::xenstore::{self, XenStore};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Size of `struct xsd_sockmsg`.
pub const HEADER_LEN: usize = 16;
/// `XENSTORE_PAYLOAD_MAX`: xenstored kills a connection that sends more, so we never do.
pub const PAYLOAD_MAX: usize = 4096;
/// How long one reply may take. libxl kills a hotplug script after 40 s (TS-05); a stuck
/// xenstored must cost a few seconds and a message, not the whole budget.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a transaction that xenstored refused with EAGAIN is tried in all.
pub const COMMIT_ATTEMPTS: u32 = 8;
/// Environment variable: `cli` makes [`connect`] use the `xenstore-*` clients even where the
/// socket or device exists (an escape hatch for administrators and for tests of the fallback).
pub const CHOICE_VAR: &str = "XENNET_XENSTORE";

/// The message types this client sends or expects (`enum xsd_sockmsg_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Directory = 1,
    Read = 2,
    TransactionStart = 6,
    TransactionEnd = 7,
    Write = 11,
    Mkdir = 12,
    Rm = 13,
    WatchEvent = 15,
    Error = 16,
}

impl Op {
    pub fn code(self) -> u32 {
        self as u32
    }

    pub fn from_code(code: u32) -> Option<Op> {
        Some(match code {
            1 => Op::Directory,
            2 => Op::Read,
            6 => Op::TransactionStart,
            7 => Op::TransactionEnd,
            11 => Op::Write,
            12 => Op::Mkdir,
            13 => Op::Rm,
            15 => Op::WatchEvent,
            16 => Op::Error,
            _ => return None,
        })
    }

    /// The name without `XS_`, as in messages.
    pub fn name(self) -> &'static str {
        match self {
            Op::Directory => "DIRECTORY",
            Op::Read => "READ",
            Op::TransactionStart => "TRANSACTION_START",
            Op::TransactionEnd => "TRANSACTION_END",
            Op::Write => "WRITE",
            Op::Mkdir => "MKDIR",
            Op::Rm => "RM",
            Op::WatchEvent => "WATCH_EVENT",
            Op::Error => "ERROR",
        }
    }
}

/// `struct xsd_sockmsg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub ty: u32,
    pub req_id: u32,
    pub tx_id: u32,
    pub len: u32,
}

impl Header {
    /// The C struct's bytes: four u32 in the host's byte order, no padding.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        for (i, v) in [self.ty, self.req_id, self.tx_id, self.len]
            .into_iter()
            .enumerate()
        {
            b[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
        }
        b
    }

    pub fn decode(b: &[u8; HEADER_LEN]) -> Header {
        let word = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Header {
            ty: word(0),
            req_id: word(4),
            tx_id: word(8),
            len: word(12),
        }
    }
}

/// An errno name as xenstored sends it in an ERROR reply (the list of `xsd_errors`). The
/// variants are spelled like the wire strings so that a log line matches what xenstored said.
#[allow(clippy::upper_case_acronyms)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Errno {
    EINVAL,
    EACCES,
    EEXIST,
    EISDIR,
    ENOENT,
    ENOMEM,
    ENOSPC,
    EIO,
    ENOTEMPTY,
    ENOSYS,
    EROFS,
    EBUSY,
    EAGAIN,
    EISCONN,
    E2BIG,
    EPERM,
    /// A name not in the list (a newer xenstored); kept as sent.
    Other(String),
}

impl Errno {
    const KNOWN: [(Errno, &'static str, &'static str); 16] = [
        (Errno::EINVAL, "EINVAL", "invalid path or request"),
        (Errno::EACCES, "EACCES", "permission denied"),
        (Errno::EEXIST, "EEXIST", "already exists"),
        (Errno::EISDIR, "EISDIR", "is a directory"),
        (Errno::ENOENT, "ENOENT", "no such node"),
        (Errno::ENOMEM, "ENOMEM", "out of memory"),
        (Errno::ENOSPC, "ENOSPC", "quota exceeded"),
        (Errno::EIO, "EIO", "I/O error"),
        (Errno::ENOTEMPTY, "ENOTEMPTY", "not empty"),
        (Errno::ENOSYS, "ENOSYS", "request not supported"),
        (Errno::EROFS, "EROFS", "read-only"),
        (Errno::EBUSY, "EBUSY", "busy"),
        (Errno::EAGAIN, "EAGAIN", "transaction conflict, try again"),
        (Errno::EISCONN, "EISCONN", "already connected"),
        (Errno::E2BIG, "E2BIG", "too big"),
        (Errno::EPERM, "EPERM", "operation not permitted"),
    ];

    /// The errno named by an ERROR reply's payload (its first string).
    pub fn parse(name: &str) -> Errno {
        Errno::KNOWN
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(e, _, _)| e.clone())
            .unwrap_or_else(|| Errno::Other(name.to_string()))
    }

    pub fn name(&self) -> &str {
        match self {
            Errno::Other(n) => n,
            known => Errno::KNOWN
                .iter()
                .find(|(e, _, _)| e == known)
                .map_or("", |(_, n, _)| n),
        }
    }

    fn meaning(&self) -> &'static str {
        Errno::KNOWN
            .iter()
            .find(|(e, _, _)| e == self)
            .map_or("unknown error", |(_, _, m)| m)
    }
}

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.meaning())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("no xenstored to talk to: none of {0} exists")]
    NoEndpoint(String),
    #[error("could not connect to xenstored at {path}: {source}")]
    Connect { path: String, source: io::Error },
    #[error("talking to xenstored at {path} failed: {source}")]
    Io { path: String, source: io::Error },
    #[error("xenstored at {path} did not answer {op} within {} s", fmt_secs(*.after))]
    Timeout {
        path: String,
        op: &'static str,
        after: Duration,
    },
    #[error("xenstored at {path} closed the connection")]
    Closed { path: String },
    #[error("xenstored at {path} broke the protocol: {what}")]
    Protocol { path: String, what: String },
    #[error("xenstored refused {op} {arg}: {errno}")]
    Refused {
        op: &'static str,
        arg: String,
        errno: Errno,
    },
    /// TRANSACTION_END was answered EAGAIN: something the transaction read changed meanwhile.
    /// Nothing was written; run the transaction again.
    #[error("the xenstore transaction conflicted with another writer (EAGAIN); try again")]
    Again,
    #[error("not sent to xenstored: {0}")]
    BadRequest(String),
    #[error("the connection to xenstored at {path} is unusable after an earlier failure")]
    Broken { path: String },
}

fn fmt_secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

impl WireError {
    /// The errno of a refused request.
    pub fn errno(&self) -> Option<&Errno> {
        match self {
            WireError::Refused { errno, .. } => Some(errno),
            WireError::Again => Some(&Errno::EAGAIN),
            _ => None,
        }
    }
}

/// One request's bytes: header then payload. A payload over [`PAYLOAD_MAX`] is refused here,
/// since xenstored would drop the whole connection for it.
pub fn encode(op: Op, req_id: u32, tx_id: u32, payload: &[u8]) -> Result<Vec<u8>, WireError> {
    if payload.len() > PAYLOAD_MAX {
        return Err(WireError::BadRequest(format!(
            "{} payload of {} bytes is over xenstore's limit of {PAYLOAD_MAX}",
            op.name(),
            payload.len()
        )));
    }
    let h = Header {
        ty: op.code(),
        req_id,
        tx_id,
        len: payload.len() as u32,
    };
    let mut v = Vec::with_capacity(HEADER_LEN + payload.len());
    v.extend_from_slice(&h.encode());
    v.extend_from_slice(payload);
    Ok(v)
}

/// The strings of a payload, each of which must end with a NUL (`<foo>|*` in xenstore.txt).
/// Bytes after the last NUL mean the peer broke the framing.
pub fn strings(payload: &[u8]) -> Result<Vec<&[u8]>, String> {
    if payload.is_empty() {
        return Ok(Vec::new());
    }
    let Some(body) = payload.strip_suffix(&[0]) else {
        return Err(format!(
            "a list of strings that does not end with a NUL ({} bytes)",
            payload.len()
        ));
    };
    Ok(body.split(|&b| b == 0).collect())
}

/// `<path>|`: a path followed by its NUL. A path must be non-empty and hold no NUL (it would end
/// the string early and turn the rest into another argument).
fn path_arg(path: &str) -> Result<Vec<u8>, WireError> {
    if path.is_empty() || path.contains('\0') {
        return Err(WireError::BadRequest(format!(
            "{path:?} is not a xenstore path"
        )));
    }
    let mut v = Vec::with_capacity(path.len() + 1);
    v.extend_from_slice(path.as_bytes());
    v.push(0);
    Ok(v)
}

/// Something replies are read from before a deadline: the connection, or a test's byte script.
trait Source {
    /// Like `read`, but waits no later than `deadline` (`TimedOut` then).
    fn read_before(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<usize>;
}

/// Why a message could not be read (the connection adds which connection and which request).
#[derive(Debug)]
enum ReadFailure {
    Timeout,
    Closed,
    Io(io::Error),
    TooLong(u32),
}

fn fill<S: Source>(src: &mut S, buf: &mut [u8], deadline: Instant) -> Result<(), ReadFailure> {
    let mut got = 0;
    while got < buf.len() {
        match src.read_before(&mut buf[got..], deadline) {
            Ok(0) => return Err(ReadFailure::Closed),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                return Err(ReadFailure::Timeout)
            }
            Err(e) => return Err(ReadFailure::Io(e)),
        }
    }
    Ok(())
}

/// One whole message, however the bytes arrive (a stream socket may hand them over in pieces).
fn read_message<S: Source>(
    src: &mut S,
    deadline: Instant,
) -> Result<(Header, Vec<u8>), ReadFailure> {
    let mut hb = [0u8; HEADER_LEN];
    fill(src, &mut hb, deadline)?;
    let h = Header::decode(&hb);
    // A length over the limit is a peer we do not understand, not a buffer to allocate.
    if h.len as usize > PAYLOAD_MAX {
        return Err(ReadFailure::TooLong(h.len));
    }
    let mut body = vec![0u8; h.len as usize];
    fill(src, &mut body, deadline)?;
    Ok((h, body))
}

enum Transport {
    Socket(UnixStream),
    Device(File),
}

impl Transport {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Transport::Socket(s) => s.as_fd(),
            Transport::Device(f) => f.as_fd(),
        }
    }

    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        // One write per message: the xenbus device takes a message per write.
        match self {
            Transport::Socket(s) => s.write_all(b),
            Transport::Device(f) => f.write_all(b),
        }
    }
}

impl Source for Transport {
    fn read_before(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        // poll, not SO_RCVTIMEO, because the xenbus device has no socket options.
        let ms = PollTimeout::try_from(left.as_millis().max(1)).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(self.fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(0) => return Err(io::ErrorKind::TimedOut.into()),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Err(io::ErrorKind::Interrupted.into()),
            Err(e) => return Err(io::Error::from(e)),
        }
        match self {
            Transport::Socket(s) => s.read(buf),
            Transport::Device(f) => f.read(buf),
        }
    }
}

/// What a connection goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Socket,
    Device,
}

/// The places libxenstore would connect to, in its order (`xs_open`: the daemon's socket, then
/// the xenbus device). `XENSTORED_PATH`, where set, is the only one, as in libxenstore, which
/// uses it for both. `/run/xenstored/socket` is there for distributions whose xenstored was
/// built with that run directory.
pub fn endpoints() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("XENSTORED_PATH").filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    let rundir = std::env::var_os("XENSTORED_RUNDIR")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/run/xenstored"));
    let mut v = vec![rundir.join("socket")];
    let run = PathBuf::from("/run/xenstored/socket");
    if !v.contains(&run) {
        v.push(run);
    }
    v.push(PathBuf::from("/dev/xen/xenbus"));
    v.push(PathBuf::from("/proc/xen/xenbus"));
    v
}

/// One connection to xenstored.
pub struct Connection {
    io: Transport,
    path: PathBuf,
    next_req: u32,
    timeout: Duration,
    broken: bool,
}

impl Connection {
    /// The first of [`endpoints`] that exists and accepts us.
    pub fn open() -> Result<Connection, WireError> {
        let all = endpoints();
        let mut last = None;
        for p in all.iter().filter(|p| p.exists()) {
            match Connection::open_path(p) {
                Ok(c) => return Ok(c),
                Err(e) => {
                    log::debug!("xenstore: {e}");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            WireError::NoEndpoint(
                all.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        }))
    }

    /// Connects to a socket, or opens a xenbus device, as libxenstore's `get_handle` decides:
    /// by what the path is.
    pub fn open_path(path: &Path) -> Result<Connection, WireError> {
        let shown = path.display().to_string();
        let err = |source| WireError::Connect {
            path: shown.clone(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(err)?;
        let io = if meta.file_type().is_socket() {
            let s = UnixStream::connect(path).map_err(err)?;
            // A write of one small message does not block unless xenstored stopped reading.
            s.set_write_timeout(Some(REPLY_TIMEOUT)).map_err(err)?;
            Transport::Socket(s)
        } else {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map_err(err)?;
            Transport::Device(f)
        };
        Ok(Connection {
            io,
            path: path.to_path_buf(),
            next_req: 1,
            timeout: REPLY_TIMEOUT,
            broken: false,
        })
    }

    pub fn endpoint(&self) -> &Path {
        &self.path
    }

    pub fn kind(&self) -> Kind {
        match self.io {
            Transport::Socket(_) => Kind::Socket,
            Transport::Device(_) => Kind::Device,
        }
    }

    /// How long each reply may take (default [`REPLY_TIMEOUT`]; the run's budget may cut it).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    fn shown(&self) -> String {
        self.path.display().to_string()
    }

    /// Sends one request and waits for its reply's payload. An ERROR reply becomes
    /// [`WireError::Refused`]; a timeout or a framing fault leaves the connection unusable (a
    /// late reply would otherwise be taken for the next request's).
    fn request(
        &mut self,
        op: Op,
        tx_id: u32,
        payload: &[u8],
        arg: &str,
    ) -> Result<Vec<u8>, WireError> {
        if self.broken {
            return Err(WireError::Broken { path: self.shown() });
        }
        let req_id = self.next_req;
        self.next_req = self.next_req.wrapping_add(1);
        let msg = encode(op, req_id, tx_id, payload)?;
        let r = self.exchange(op, req_id, &msg, arg);
        if matches!(
            r,
            Err(WireError::Io { .. }
                | WireError::Timeout { .. }
                | WireError::Closed { .. }
                | WireError::Protocol { .. })
        ) {
            self.broken = true;
        }
        r
    }

    fn exchange(
        &mut self,
        op: Op,
        req_id: u32,
        msg: &[u8],
        arg: &str,
    ) -> Result<Vec<u8>, WireError> {
        let path = self.shown();
        self.io.write_all(msg).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => WireError::Timeout {
                path: path.clone(),
                op: op.name(),
                after: REPLY_TIMEOUT,
            },
            _ => WireError::Io {
                path: path.clone(),
                source: e,
            },
        })?;
        let wait = crate::budget::bound(self.timeout);
        let deadline = Instant::now() + wait;
        loop {
            let (h, body) = read_message(&mut self.io, deadline).map_err(|f| match f {
                ReadFailure::Timeout => WireError::Timeout {
                    path: path.clone(),
                    op: op.name(),
                    after: wait,
                },
                ReadFailure::Closed => WireError::Closed { path: path.clone() },
                ReadFailure::Io(source) => WireError::Io {
                    path: path.clone(),
                    source,
                },
                ReadFailure::TooLong(n) => WireError::Protocol {
                    path: path.clone(),
                    what: format!("a reply of {n} bytes (the limit is {PAYLOAD_MAX})"),
                },
            })?;
            // Watch events come unasked with req_id 0; we set no watch, but they are harmless.
            if h.ty == Op::WatchEvent.code() {
                continue;
            }
            if h.req_id != req_id {
                return Err(WireError::Protocol {
                    path,
                    what: format!("a reply to request {} while waiting for {req_id}", h.req_id),
                });
            }
            if h.ty == Op::Error.code() {
                let name = strings(&body)
                    .ok()
                    .and_then(|s| s.first().map(|n| String::from_utf8_lossy(n).into_owned()))
                    .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
                return Err(WireError::Refused {
                    op: op.name(),
                    arg: arg.to_string(),
                    errno: Errno::parse(&name),
                });
            }
            if h.ty != op.code() {
                return Err(WireError::Protocol {
                    path,
                    what: format!("a reply of type {} to {}", h.ty, op.name()),
                });
            }
            return Ok(body);
        }
    }

    fn op_read(&mut self, tx: u32, path: &str) -> Result<Option<Vec<u8>>, WireError> {
        match self.request(Op::Read, tx, &path_arg(path)?, path) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.errno() == Some(&Errno::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn op_directory(&mut self, tx: u32, path: &str) -> Result<Option<Vec<String>>, WireError> {
        let body = match self.request(Op::Directory, tx, &path_arg(path)?, path) {
            Ok(v) => v,
            Err(e) if e.errno() == Some(&Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(e),
        };
        let names = strings(&body).map_err(|what| WireError::Protocol {
            path: self.shown(),
            what,
        })?;
        Ok(Some(
            names
                .into_iter()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .collect(),
        ))
    }

    fn op_write(&mut self, tx: u32, path: &str, value: &[u8]) -> Result<(), WireError> {
        // `<path>|<value|>`: the value is the rest of the payload, without a NUL of its own.
        let mut p = path_arg(path)?;
        p.extend_from_slice(value);
        self.request(Op::Write, tx, &p, path).map(|_| ())
    }

    fn op_mkdir(&mut self, tx: u32, path: &str) -> Result<(), WireError> {
        self.request(Op::Mkdir, tx, &path_arg(path)?, path)
            .map(|_| ())
    }

    fn op_rm(&mut self, tx: u32, path: &str) -> Result<(), WireError> {
        self.request(Op::Rm, tx, &path_arg(path)?, path).map(|_| ())
    }

    /// A node's value, None when it does not exist.
    pub fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>, WireError> {
        self.op_read(0, path)
    }

    /// A node's children (leaf names), None when it does not exist.
    pub fn directory(&mut self, path: &str) -> Result<Option<Vec<String>>, WireError> {
        self.op_directory(0, path)
    }

    /// Writes a value; xenstored creates missing parents with empty values.
    pub fn write(&mut self, path: &str, value: &[u8]) -> Result<(), WireError> {
        self.op_write(0, path, value)
    }

    pub fn mkdir(&mut self, path: &str) -> Result<(), WireError> {
        self.op_mkdir(0, path)
    }

    /// Removes a node and everything below it.
    pub fn rm(&mut self, path: &str) -> Result<(), WireError> {
        self.op_rm(0, path)
    }

    /// Starts a transaction; it is aborted when dropped without [`Transaction::commit`].
    pub fn transaction(&mut self) -> Result<Transaction<'_>, WireError> {
        // TRANSACTION_START takes an empty string and must be sent with tx_id 0; the reply is
        // the new id in decimal.
        let body = self.request(Op::TransactionStart, 0, b"\0", "")?;
        let id = strings(&body)
            .ok()
            .and_then(|s| {
                s.first()
                    .and_then(|n| std::str::from_utf8(n).ok()?.parse().ok())
            })
            .filter(|&id: &u32| id != 0);
        match id {
            Some(id) => Ok(Transaction {
                conn: self,
                id,
                open: true,
            }),
            None => Err(WireError::Protocol {
                path: self.shown(),
                what: format!(
                    "TRANSACTION_START answered {:?}, not a transaction id",
                    String::from_utf8_lossy(&body)
                ),
            }),
        }
    }

    /// Runs `body` in a transaction and commits it, again (up to `attempts` times in all) while
    /// the commit is refused with EAGAIN. Any other error aborts the transaction and is returned.
    pub fn with_transaction<T>(
        &mut self,
        attempts: u32,
        mut body: impl FnMut(&mut Transaction<'_>) -> Result<T, WireError>,
    ) -> Result<T, WireError> {
        let mut attempt = 1;
        loop {
            let mut t = self.transaction()?;
            let value = body(&mut t)?;
            match t.commit() {
                Ok(()) => return Ok(value),
                Err(WireError::Again) if attempt < attempts => {
                    log::debug!("xenstore: transaction conflict, attempt {attempt}; again");
                    // A short, growing pause so that two writers retrying together drift apart.
                    std::thread::sleep(Duration::from_millis(2 * u64::from(attempt)));
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// An open transaction: its requests carry its id in the header's tx_id.
pub struct Transaction<'c> {
    conn: &'c mut Connection,
    id: u32,
    open: bool,
}

impl Transaction<'_> {
    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>, WireError> {
        self.conn.op_read(self.id, path)
    }

    pub fn directory(&mut self, path: &str) -> Result<Option<Vec<String>>, WireError> {
        self.conn.op_directory(self.id, path)
    }

    pub fn write(&mut self, path: &str, value: &[u8]) -> Result<(), WireError> {
        self.conn.op_write(self.id, path, value)
    }

    pub fn mkdir(&mut self, path: &str) -> Result<(), WireError> {
        self.conn.op_mkdir(self.id, path)
    }

    pub fn rm(&mut self, path: &str) -> Result<(), WireError> {
        self.conn.op_rm(self.id, path)
    }

    fn end(&mut self, commit: bool) -> Result<(), WireError> {
        self.open = false;
        let arg = if commit { b"T\0" } else { b"F\0" };
        let id = self.id.to_string();
        match self.conn.request(Op::TransactionEnd, self.id, arg, &id) {
            Ok(_) => Ok(()),
            Err(e) if e.errno() == Some(&Errno::EAGAIN) => Err(WireError::Again),
            Err(e) => Err(e),
        }
    }

    /// Commits: [`WireError::Again`] when xenstored refused for a conflict (nothing written).
    pub fn commit(mut self) -> Result<(), WireError> {
        self.end(true)
    }

    /// Discards every write made in the transaction.
    pub fn abort(mut self) -> Result<(), WireError> {
        self.end(false)
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.open && !self.conn.broken {
            let _ = self.end(false);
        }
    }
}

/// The [`XenStore`] of the vif scripts over one connection.
pub struct Wire {
    conn: Mutex<Connection>,
}

impl Wire {
    pub fn new(conn: Connection) -> Wire {
        Wire {
            conn: Mutex::new(conn),
        }
    }

    pub fn open() -> Result<Wire, WireError> {
        Connection::open().map(Wire::new)
    }

    /// The connection, for transactions of the caller's own.
    pub fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves nothing half-done that matters here: a request
        // either got its reply or marked the connection broken.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A wire failure as the trait's error: the request as a line, and why.
fn as_exec(line: String, e: WireError) -> ExecError {
    ExecError::Failed {
        line,
        code: None,
        how: format!("failed: {e}"),
        stderr: String::new(),
    }
}

impl XenStore for Wire {
    /// Like `xenstore-read`: a node that is missing, or that xenstored will not give us
    /// (EACCES, EINVAL), is None; a broken connection is an error.
    fn read(&self, path: &str) -> Result<Option<String>, ExecError> {
        match self.connection().read(path) {
            Ok(v) => Ok(v.map(|b| String::from_utf8_lossy(&b).into_owned())),
            Err(WireError::Refused { .. } | WireError::BadRequest(_)) => Ok(None),
            Err(e) => Err(as_exec(format!("xenstore READ {path}"), e)),
        }
    }

    /// All pairs in one transaction (XS-03, XS-04: hotplug-status with hotplug-error, or with
    /// the frontend's mtu), retried while xenstored answers EAGAIN, as `xenstore-write` does.
    fn write(&self, pairs: &[(&str, &str)]) -> Result<(), ExecError> {
        if pairs.is_empty() {
            return Ok(());
        }
        let r = self.connection().with_transaction(COMMIT_ATTEMPTS, |t| {
            for (p, v) in pairs {
                t.write(p, v.as_bytes())?;
            }
            Ok(())
        });
        r.map_err(|e| {
            let words: Vec<&str> = pairs.iter().flat_map(|(p, v)| [*p, *v]).collect();
            as_exec(format!("xenstore WRITE {}", words.join(" ")), e)
        })
    }

    /// DIRECTORY `dir`, then READ of each wanted key that is there, in one transaction, so the
    /// keys are one consistent view. As with [`xenstore::Cli`], a directory that cannot be
    /// listed (missing included) is an error: the toolstack made it before running the script.
    fn read_dir(
        &self,
        dir: &str,
        keys: &[&str],
    ) -> Result<Option<BTreeMap<String, String>>, ExecError> {
        let r = self.connection().with_transaction(COMMIT_ATTEMPTS, |t| {
            let Some(children) = t.directory(dir)? else {
                return Err(WireError::Refused {
                    op: Op::Directory.name(),
                    arg: dir.to_string(),
                    errno: Errno::ENOENT,
                });
            };
            let mut found = BTreeMap::new();
            for name in children.iter().filter(|c| keys.contains(&c.as_str())) {
                if let Some(v) = t.read(&xenstore::join(dir, name))? {
                    found.insert(name.clone(), String::from_utf8_lossy(&v).into_owned());
                }
            }
            Ok(found)
        });
        r.map(Some)
            .map_err(|e| as_exec(format!("xenstore DIRECTORY {dir}"), e))
    }
}

/// The vif scripts' xenstore for this run: the wire protocol where xenstored's socket or the
/// xenbus device is there, else the `xenstore-*` clients through `runner`. `XENNET_XENSTORE=cli`
/// forces the clients.
pub fn connect(runner: &dyn Runner) -> Box<dyn XenStore + '_> {
    if std::env::var(CHOICE_VAR).is_ok_and(|v| v == "cli") {
        log::debug!("xenstore: {CHOICE_VAR}=cli: using the xenstore-* clients");
        return Box::new(xenstore::Cli { runner });
    }
    match Connection::open() {
        Ok(c) => {
            log::debug!(
                "xenstore: wire protocol over the {} {}",
                match c.kind() {
                    Kind::Socket => "socket",
                    Kind::Device => "device",
                },
                c.endpoint().display()
            );
            Box::new(Wire::new(c))
        }
        Err(e) => {
            log::debug!("xenstore: {e}; using the xenstore-* clients");
            Box::new(xenstore::Cli { runner })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out a byte script in the given pieces, then times out (or reports EOF).
    struct Script {
        chunks: std::collections::VecDeque<Vec<u8>>,
        eof: bool,
    }

    impl Script {
        fn new(chunks: &[&[u8]], eof: bool) -> Script {
            Script {
                chunks: chunks.iter().map(|c| c.to_vec()).collect(),
                eof,
            }
        }
    }

    impl Source for Script {
        fn read_before(&mut self, buf: &mut [u8], _deadline: Instant) -> io::Result<usize> {
            let Some(mut c) = self.chunks.pop_front() else {
                return if self.eof {
                    Ok(0)
                } else {
                    Err(io::ErrorKind::TimedOut.into())
                };
            };
            if c.is_empty() {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = c.len().min(buf.len());
            buf[..n].copy_from_slice(&c[..n]);
            if n < c.len() {
                self.chunks.push_front(c.split_off(n));
            }
            Ok(n)
        }
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[test]
    fn header_is_four_native_u32() {
        let h = Header {
            ty: 2,
            req_id: 0x0102_0304,
            tx_id: 7,
            len: 12,
        };
        let b = h.encode();
        assert_eq!(&b[0..4], &2u32.to_ne_bytes());
        assert_eq!(&b[4..8], &0x0102_0304u32.to_ne_bytes());
        assert_eq!(&b[8..12], &7u32.to_ne_bytes());
        assert_eq!(&b[12..16], &12u32.to_ne_bytes());
        assert_eq!(Header::decode(&b), h);
    }

    #[test]
    fn requests_carry_op_ids_and_payload() {
        let m = encode(Op::Write, 9, 3, b"a/b\0xyz").unwrap();
        assert_eq!(m.len(), HEADER_LEN + 7);
        let h = Header::decode(m[..HEADER_LEN].try_into().unwrap());
        assert_eq!(
            h,
            Header {
                ty: 11,
                req_id: 9,
                tx_id: 3,
                len: 7
            }
        );
        assert_eq!(&m[HEADER_LEN..], b"a/b\0xyz");
        // The limit is on the payload: 4096 goes, 4097 is never sent.
        assert!(encode(Op::Write, 1, 0, &[b'x'; PAYLOAD_MAX]).is_ok());
        assert!(matches!(
            encode(Op::Write, 1, 0, &[b'x'; PAYLOAD_MAX + 1]),
            Err(WireError::BadRequest(_))
        ));
    }

    #[test]
    fn op_codes_follow_xs_wire_h() {
        for (op, code) in [
            (Op::Directory, 1),
            (Op::Read, 2),
            (Op::TransactionStart, 6),
            (Op::TransactionEnd, 7),
            (Op::Write, 11),
            (Op::Mkdir, 12),
            (Op::Rm, 13),
            (Op::WatchEvent, 15),
            (Op::Error, 16),
        ] {
            assert_eq!(op.code(), code);
            assert_eq!(Op::from_code(code), Some(op));
        }
        assert_eq!(Op::from_code(0), None);
        assert_eq!(Op::from_code(0xffff), None);
    }

    #[test]
    fn strings_need_their_nuls() {
        assert_eq!(
            strings(b"bridge\0ip\0mac\0").unwrap(),
            vec![&b"bridge"[..], b"ip", b"mac"]
        );
        assert_eq!(strings(b"").unwrap(), Vec::<&[u8]>::new());
        // One empty string is a NUL alone (TRANSACTION_START's argument).
        assert_eq!(strings(b"\0").unwrap(), vec![&b""[..]]);
        assert!(strings(b"bridge\0ip").is_err());
    }

    #[test]
    fn paths_with_nul_or_empty_are_not_sent() {
        assert_eq!(path_arg("backend/vif/1/0").unwrap(), b"backend/vif/1/0\0");
        assert!(path_arg("").is_err());
        assert!(path_arg("a\0b").is_err());
    }

    #[test]
    fn errno_names_round_trip() {
        for n in ["ENOENT", "EAGAIN", "EINVAL", "EACCES", "E2BIG", "EPERM"] {
            assert_eq!(Errno::parse(n).name(), n);
        }
        assert_eq!(Errno::parse("ENOENT"), Errno::ENOENT);
        assert_eq!(Errno::parse("EWHATEVER"), Errno::Other("EWHATEVER".into()));
        assert_eq!(Errno::parse("EWHATEVER").name(), "EWHATEVER");
        assert_eq!(Errno::ENOENT.to_string(), "ENOENT (no such node)");
    }

    #[test]
    fn message_read_whole_from_pieces() {
        let msg = encode(Op::Directory, 4, 2, b"ip\0mac\0").unwrap();
        // One byte at a time, with an interrupted read in between.
        let mut pieces: Vec<&[u8]> = msg.chunks(1).collect();
        pieces.insert(5, b"");
        let mut s = Script::new(&pieces, false);
        let (h, body) = read_message(&mut s, later()).unwrap();
        assert_eq!((h.ty, h.req_id, h.tx_id, h.len), (1, 4, 2, 7));
        assert_eq!(body, b"ip\0mac\0");
        // Two messages in one read: the second is left for the next call.
        let two = [msg.clone(), encode(Op::Read, 5, 0, b"xenbr0").unwrap()].concat();
        let mut s = Script::new(&[&two], false);
        assert_eq!(read_message(&mut s, later()).unwrap().1, b"ip\0mac\0");
        let (h, body) = read_message(&mut s, later()).unwrap();
        assert_eq!((h.ty, h.req_id, body.as_slice()), (2, 5, &b"xenbr0"[..]));
    }

    #[test]
    fn cut_off_slow_and_oversized_replies_fail() {
        let msg = encode(Op::Read, 1, 0, b"value").unwrap();
        let mut s = Script::new(&[&msg[..10]], true);
        assert!(matches!(
            read_message(&mut s, later()),
            Err(ReadFailure::Closed)
        ));
        let mut s = Script::new(&[&msg[..HEADER_LEN + 2]], false);
        assert!(matches!(
            read_message(&mut s, later()),
            Err(ReadFailure::Timeout)
        ));
        let big = Header {
            ty: 2,
            req_id: 1,
            tx_id: 0,
            len: PAYLOAD_MAX as u32 + 1,
        }
        .encode();
        let mut s = Script::new(&[&big], false);
        assert!(matches!(
            read_message(&mut s, later()),
            Err(ReadFailure::TooLong(4097))
        ));
    }

    /// A connection over one end of a socket pair, `peer` playing xenstored.
    fn pair() -> (Connection, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        let mut c = Connection {
            io: Transport::Socket(a),
            path: PathBuf::from("test-pair"),
            next_req: 1,
            timeout: Duration::from_secs(5),
            broken: false,
        };
        c.set_timeout(Duration::from_millis(300));
        (c, b)
    }

    /// Reads one request off the peer end.
    fn take(peer: &mut UnixStream) -> (Header, Vec<u8>) {
        let mut hb = [0u8; HEADER_LEN];
        peer.read_exact(&mut hb).unwrap();
        let h = Header::decode(&hb);
        let mut body = vec![0u8; h.len as usize];
        peer.read_exact(&mut body).unwrap();
        (h, body)
    }

    fn reply(peer: &mut UnixStream, ty: u32, req: &Header, body: &[u8]) {
        let h = Header {
            ty,
            req_id: req.req_id,
            tx_id: req.tx_id,
            len: body.len() as u32,
        };
        peer.write_all(&[&h.encode()[..], body].concat()).unwrap();
    }

    #[test]
    fn error_replies_become_errnos_and_enoent_none() {
        let (mut c, mut peer) = pair();
        let t = std::thread::spawn(move || {
            let (h, body) = take(&mut peer);
            assert_eq!((h.ty, h.tx_id, body.as_slice()), (2, 0, &b"a/b\0"[..]));
            reply(&mut peer, 16, &h, b"ENOENT\0");
            let (h, _) = take(&mut peer);
            reply(&mut peer, 16, &h, b"EACCES\0");
            let (h, body) = take(&mut peer);
            assert_eq!((h.ty, body.as_slice()), (11, &b"/x\0v\0w"[..]));
            // A watch event first (req_id 0), which the client must step over.
            let ev = Header {
                ty: 15,
                req_id: 0,
                tx_id: 0,
                len: 5,
            };
            peer.write_all(&[&ev.encode()[..], b"/w\0t\0"].concat())
                .unwrap();
            reply(&mut peer, 11, &h, b"OK\0");
            peer
        });
        assert_eq!(c.read("a/b").unwrap(), None);
        let e = c.read("/secret").unwrap_err();
        assert_eq!(e.errno(), Some(&Errno::EACCES));
        assert_eq!(
            e.to_string(),
            "xenstored refused READ /secret: EACCES (permission denied)"
        );
        // A value may hold NULs: it is the rest of the payload.
        c.write("/x", b"v\0w").unwrap();
        drop(t.join().unwrap());
    }

    #[test]
    fn commit_eagain_is_its_own_error() {
        let (mut c, mut peer) = pair();
        let t = std::thread::spawn(move || {
            let (h, body) = take(&mut peer);
            assert_eq!((h.ty, h.tx_id, body.as_slice()), (6, 0, &b"\0"[..]));
            reply(&mut peer, 6, &h, b"42\0");
            let (h, _) = take(&mut peer);
            assert_eq!((h.ty, h.tx_id), (11, 42), "write inside the transaction");
            reply(&mut peer, 11, &h, b"OK\0");
            let (h, body) = take(&mut peer);
            assert_eq!((h.ty, h.tx_id, body.as_slice()), (7, 42, &b"T\0"[..]));
            reply(&mut peer, 16, &h, b"EAGAIN\0");
            peer
        });
        let mut tx = c.transaction().unwrap();
        assert_eq!(tx.id(), 42);
        tx.write("/a", b"1").unwrap();
        assert!(matches!(tx.commit(), Err(WireError::Again)));
        drop(t.join().unwrap());
    }

    #[test]
    fn dropped_transaction_is_aborted() {
        let (mut c, mut peer) = pair();
        let t = std::thread::spawn(move || {
            let (h, _) = take(&mut peer);
            reply(&mut peer, 6, &h, b"7\0");
            let (h, body) = take(&mut peer);
            assert_eq!((h.ty, h.tx_id, body.as_slice()), (7, 7, &b"F\0"[..]));
            reply(&mut peer, 7, &h, b"OK\0");
            peer
        });
        drop(c.transaction().unwrap());
        drop(t.join().unwrap());
    }

    #[test]
    fn a_silent_xenstored_times_out_and_breaks_the_connection() {
        let (mut c, mut peer) = pair();
        let started = Instant::now();
        let e = c.read("/x").unwrap_err();
        assert!(matches!(e, WireError::Timeout { op: "READ", .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
        // The late reply must not be taken for the next request's.
        let (h, _) = take(&mut peer);
        reply(&mut peer, 2, &h, b"late");
        assert!(matches!(c.read("/y"), Err(WireError::Broken { .. })));
    }

    #[test]
    fn mismatched_or_wrong_typed_replies_are_protocol_errors() {
        let (mut c, mut peer) = pair();
        let t = std::thread::spawn(move || {
            let (h, _) = take(&mut peer);
            let other = Header {
                req_id: h.req_id + 100,
                ..h
            };
            reply(&mut peer, 2, &other, b"x");
            peer
        });
        assert!(matches!(c.read("/x"), Err(WireError::Protocol { .. })));
        drop(t.join().unwrap());
        let (mut c, mut peer) = pair();
        let t = std::thread::spawn(move || {
            let (h, _) = take(&mut peer);
            reply(&mut peer, 1, &h, b"x\0");
            peer
        });
        assert!(matches!(c.read("/x"), Err(WireError::Protocol { .. })));
        drop(t.join().unwrap());
    }

    #[test]
    fn a_closed_connection_is_reported() {
        let (mut c, peer) = pair();
        drop(peer);
        let e = c.read("/x").unwrap_err();
        assert!(
            matches!(e, WireError::Closed { .. } | WireError::Io { .. }),
            "{e}"
        );
    }
}
