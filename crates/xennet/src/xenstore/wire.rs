//! xenstored's wire protocol, as data: the messages the scripts send and the answers they get
//! (Xen's `docs/misc/xenstore.txt` and `xen/include/public/io/xs_wire.h`). No I/O here; the
//! connection is [`super::direct`].
//!
//! Every message, in either direction, is a 16-byte header of four little-endian `u32`s — type,
//! request id, transaction id, payload length — followed by that many bytes of payload, at most
//! [`PAYLOAD_MAX`]. Strings in a payload end with a nul byte; a value written or read does not.
//! An answer repeats the request's type, or is `ERROR` with an errno name such as `ENOENT`.

use std::fmt;

/// The header's length in bytes.
pub const HEADER_LEN: usize = 16;
/// `XENSTORE_PAYLOAD_MAX`: xenstored drops a connection that sends more, and never sends more.
pub const PAYLOAD_MAX: usize = 4096;

/// The message types the scripts use, with their numbers in `xs_wire.h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Directory,
    Read,
    TransactionStart,
    TransactionEnd,
    Write,
    Rm,
    /// Only from xenstored, unasked, when a watch fires (we set none, but skip them).
    WatchEvent,
    /// Only from xenstored: the request failed.
    Error,
}

impl Op {
    pub fn number(self) -> u32 {
        match self {
            Op::Directory => 1,
            Op::Read => 2,
            Op::TransactionStart => 6,
            Op::TransactionEnd => 7,
            Op::Write => 11,
            Op::Rm => 13,
            Op::WatchEvent => 15,
            Op::Error => 16,
        }
    }

    pub fn from_number(n: u32) -> Option<Op> {
        Some(match n {
            1 => Op::Directory,
            2 => Op::Read,
            6 => Op::TransactionStart,
            7 => Op::TransactionEnd,
            11 => Op::Write,
            13 => Op::Rm,
            15 => Op::WatchEvent,
            16 => Op::Error,
            _ => return None,
        })
    }

    /// The name `xs_wire.h` gives it, without `XS_`.
    pub fn name(self) -> &'static str {
        match self {
            Op::Directory => "DIRECTORY",
            Op::Read => "READ",
            Op::TransactionStart => "TRANSACTION_START",
            Op::TransactionEnd => "TRANSACTION_END",
            Op::Write => "WRITE",
            Op::Rm => "RM",
            Op::WatchEvent => "WATCH_EVENT",
            Op::Error => "ERROR",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The 16-byte header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The message type's number (kept raw: an answer may carry a type we do not know).
    pub kind: u32,
    pub req_id: u32,
    pub tx_id: u32,
    pub len: u32,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        for (i, v) in [self.kind, self.req_id, self.tx_id, self.len]
            .into_iter()
            .enumerate()
        {
            b[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    pub fn decode(b: &[u8; HEADER_LEN]) -> Header {
        let word = |i: usize| u32::from_le_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]]);
        Header {
            kind: word(0),
            req_id: word(1),
            tx_id: word(2),
            len: word(3),
        }
    }
}

/// A request, before it has its ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    Read(&'a str),
    Write(&'a str, &'a [u8]),
    Directory(&'a str),
    Rm(&'a str),
    TransactionStart,
    /// Commit (`T`) or abort (`F`).
    TransactionEnd { commit: bool },
}

impl Request<'_> {
    pub fn op(&self) -> Op {
        match self {
            Request::Read(_) => Op::Read,
            Request::Write(..) => Op::Write,
            Request::Directory(_) => Op::Directory,
            Request::Rm(_) => Op::Rm,
            Request::TransactionStart => Op::TransactionStart,
            Request::TransactionEnd { .. } => Op::TransactionEnd,
        }
    }

    /// The path the request is about, for messages.
    pub fn path(&self) -> &str {
        match self {
            Request::Read(p) | Request::Write(p, _) | Request::Directory(p) | Request::Rm(p) => p,
            Request::TransactionStart | Request::TransactionEnd { .. } => "",
        }
    }

    /// The payload: `<path>|` for READ, DIRECTORY and RM; `<path>|<value>` (no nul after the
    /// value) for WRITE; an empty string `|` for TRANSACTION_START; `T|` or `F|` for
    /// TRANSACTION_END.
    pub fn payload(&self) -> Vec<u8> {
        let mut p = Vec::new();
        match self {
            Request::Read(path) | Request::Directory(path) | Request::Rm(path) => {
                p.extend_from_slice(path.as_bytes());
                p.push(0);
            }
            Request::Write(path, value) => {
                p.extend_from_slice(path.as_bytes());
                p.push(0);
                p.extend_from_slice(value);
            }
            Request::TransactionStart => p.push(0),
            Request::TransactionEnd { commit } => {
                p.push(if *commit { b'T' } else { b'F' });
                p.push(0);
            }
        }
        p
    }

    /// Header and payload as one buffer (one write), or [`TooBig`] when the payload is over
    /// [`PAYLOAD_MAX`]: xenstored would drop the connection.
    pub fn encode(&self, req_id: u32, tx_id: u32) -> Result<Vec<u8>, TooBig> {
        let payload = self.payload();
        if payload.len() > PAYLOAD_MAX {
            return Err(TooBig {
                op: self.op(),
                path: self.path().to_string(),
                len: payload.len(),
            });
        }
        let header = Header {
            kind: self.op().number(),
            req_id,
            tx_id,
            len: payload.len() as u32,
        };
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(&header.encode());
        out.extend_from_slice(&payload);
        Ok(out)
    }
}

/// A request over [`PAYLOAD_MAX`], refused before it is sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "xenstore {op} {path}: the request's payload would be {len} bytes, and xenstored takes at \
     most {PAYLOAD_MAX} (XENSTORE_PAYLOAD_MAX); shorten the value"
)]
pub struct TooBig {
    pub op: Op,
    pub path: String,
    pub len: usize,
}

/// An errno name from an `ERROR` answer (`xs_wire.h` lists the ones xenstored sends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Errno(pub String);

impl Errno {
    /// The name from an `ERROR` payload: the text up to the first nul.
    pub fn from_payload(payload: &[u8]) -> Errno {
        let end = payload.iter().position(|&b| b == 0).unwrap_or(payload.len());
        Errno(String::from_utf8_lossy(&payload[..end]).into_owned())
    }

    pub fn is(&self, name: &str) -> bool {
        self.0 == name
    }

    /// What the name means, in a few words (None for a name xs_wire.h does not list).
    pub fn meaning(&self) -> Option<&'static str> {
        Some(match self.0.as_str() {
            "EINVAL" => "invalid request or path",
            "EACCES" => "permission denied",
            "EEXIST" => "already exists",
            "EISDIR" => "is a directory",
            "ENOENT" => "no such node",
            "ENOMEM" => "xenstored is out of memory",
            "ENOSPC" => "quota exceeded",
            "EIO" => "input/output error",
            "ENOTEMPTY" => "not empty",
            "ENOSYS" => "not supported by this xenstored",
            "EROFS" => "read-only",
            "EBUSY" => "busy",
            "EAGAIN" => "transaction conflict, try again",
            "EISCONN" => "already connected",
            "E2BIG" => "too big",
            "EPERM" => "operation not permitted",
            _ => return None,
        })
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.meaning() {
            Some(m) => write!(f, "{} ({m})", self.0),
            None => f.write_str(&self.0),
        }
    }
}

/// The nul-terminated strings of a payload (a DIRECTORY answer's child names). A last string
/// without its nul still counts.
pub fn strings(payload: &[u8]) -> Vec<String> {
    let body = payload.strip_suffix(&[0]).unwrap_or(payload);
    if body.is_empty() {
        return Vec::new();
    }
    body.split(|&b| b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// The transaction id of a TRANSACTION_START answer (`<transid>|`, decimal).
pub fn transaction_id(payload: &[u8]) -> Option<u32> {
    let s = strings(payload);
    let id: u32 = s.first()?.parse().ok()?;
    (id != 0).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_four_little_endian_words() {
        let h = Header {
            kind: 2,
            req_id: 0x01020304,
            tx_id: 7,
            len: 5,
        };
        let b = h.encode();
        assert_eq!(
            b,
            [2, 0, 0, 0, 4, 3, 2, 1, 7, 0, 0, 0, 5, 0, 0, 0],
            "type, req_id, tx_id, len"
        );
        assert_eq!(Header::decode(&b), h);
    }

    #[test]
    fn numbers_are_those_of_xs_wire_h() {
        for (op, n) in [
            (Op::Directory, 1),
            (Op::Read, 2),
            (Op::TransactionStart, 6),
            (Op::TransactionEnd, 7),
            (Op::Write, 11),
            (Op::Rm, 13),
            (Op::WatchEvent, 15),
            (Op::Error, 16),
        ] {
            assert_eq!(op.number(), n, "{op}");
            assert_eq!(Op::from_number(n), Some(op));
        }
        assert_eq!(Op::from_number(0), None, "CONTROL is not one of ours");
        assert_eq!(Op::from_number(0xffff), None, "XS_INVALID");
    }

    #[test]
    fn payloads() {
        assert_eq!(Request::Read("backend/vif/1/0/ip").payload(), b"backend/vif/1/0/ip\0");
        assert_eq!(Request::Directory("/a").payload(), b"/a\0");
        assert_eq!(Request::Rm("/a/b").payload(), b"/a/b\0");
        assert_eq!(
            Request::Write("/a/hotplug-status", b"connected").payload(),
            b"/a/hotplug-status\0connected",
            "no nul after the value"
        );
        assert_eq!(Request::Write("/a", b"").payload(), b"/a\0");
        assert_eq!(Request::TransactionStart.payload(), b"\0");
        assert_eq!(Request::TransactionEnd { commit: true }.payload(), b"T\0");
        assert_eq!(Request::TransactionEnd { commit: false }.payload(), b"F\0");
    }

    #[test]
    fn a_request_is_header_then_payload() {
        let m = Request::Read("/x").encode(9, 3).unwrap();
        assert_eq!(m.len(), HEADER_LEN + 3);
        let h = Header::decode(m[..HEADER_LEN].try_into().unwrap());
        assert_eq!(
            h,
            Header {
                kind: 2,
                req_id: 9,
                tx_id: 3,
                len: 3
            }
        );
        assert_eq!(&m[HEADER_LEN..], b"/x\0");
    }

    #[test]
    fn oversize_requests_are_refused_before_sending() {
        let path = "/local/domain/0/backend/vif/1/0/hotplug-error";
        let fits = vec![b'x'; PAYLOAD_MAX - path.len() - 1];
        assert!(Request::Write(path, &fits).encode(1, 0).is_ok());
        let over = vec![b'x'; PAYLOAD_MAX - path.len()];
        let e = Request::Write(path, &over).encode(1, 0).unwrap_err();
        assert_eq!(e.len, PAYLOAD_MAX + 1);
        let msg = e.to_string();
        assert!(msg.contains("WRITE") && msg.contains(path) && msg.contains("4096"), "{msg}");
    }

    #[test]
    fn answers() {
        assert_eq!(strings(b"bridge\0ip\0mac\0"), ["bridge", "ip", "mac"]);
        assert!(strings(b"").is_empty(), "a node without children");
        assert_eq!(strings(b"a\0b"), ["a", "b"]);
        assert_eq!(transaction_id(b"42\0"), Some(42));
        assert_eq!(transaction_id(b"0\0"), None);
        assert_eq!(transaction_id(b"x\0"), None);
        let e = Errno::from_payload(b"ENOENT\0");
        assert!(e.is("ENOENT"));
        assert_eq!(e.to_string(), "ENOENT (no such node)");
        assert_eq!(Errno::from_payload(b"EWHAT").to_string(), "EWHAT");
    }
}
