//! A guest's elements in our nftables table (issue 17), written two ways: as `nft` commands (for
//! `nft -f -`, dry runs and logs) and as one nfnetlink batch that this process sends itself.
//!
//! Why the batch: `nft` parses an `iface_index` value by looking it up as an interface name
//! first, which makes it dump every link of the namespace on each run (one `add element` took
//! 3.1 ms with no links and 7.9 ms with 2000, measured); the batch is one socket, one send and
//! the kernel's acknowledgements. It only adds (a deletion would wait for an RCU grace period
//! at the socket's close like `nft`'s does). Our interval sets are concatenations (interface
//! index . network), which the kernel keeps as ranges: an element is its first and last key.

use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Our table in both families.
pub const TABLE: &str = "xen_netscripts";

/// One element of ours: its set or map, its key and, in the map, its verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Element {
    pub set: String,
    pub key: String,
    pub verdict: Option<String>,
}

impl Element {
    /// The element as nft writes it inside `{ }`.
    pub fn body(&self) -> String {
        match &self.verdict {
            Some(v) => format!("{} : {v}", self.key),
            None => self.key.clone(),
        }
    }
}

/// The `nft -f -` script that adds the elements to `family`'s table.
pub fn add_script(family: &str, els: &[Element]) -> String {
    els.iter()
        .map(|e| {
            format!(
                "add element {family} {TABLE} {} {{ {} }}\n",
                e.set,
                e.body()
            )
        })
        .collect()
}

// The kernel's numbers (linux/netlink.h, linux/netfilter/nfnetlink.h, nf_tables.h).
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_CREATE: u16 = 0x400;
const NLA_F_NESTED: u16 = 0x8000;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_SET_ELEM_KEY_END: u16 = 10;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;
const NFT_JUMP: i32 = -3;
const NFT_GOTO: i32 = -4;

fn family_number(family: &str) -> Option<u8> {
    match family {
        "inet" => Some(1),   // NFPROTO_INET
        "bridge" => Some(7), // NFPROTO_BRIDGE
        _ => None,
    }
}

/// The key's bytes as the kernel stores it: each field of a concatenation in 4-byte registers,
/// the interface index in host order (network order in an interval set), addresses in network
/// order; for an interval set's network, its first and last key. None for what the batch does not write (sets not ours).
fn key_bytes(set: &str, key: &str) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let mut parts = key.split(" . ");
    let index: u32 = parts.next()?.trim().parse().ok()?;
    let mut out = index.to_ne_bytes().to_vec();
    let second = parts.next().map(str::trim);
    if parts.next().is_some() {
        return None;
    }
    match (set, second) {
        ("vif_nets4" | "vif_nets6", Some(net)) => {
            // Ranges compare byte by byte: nft keeps every field of an interval set's key in
            // network order, the interface index too (and its rules convert before looking up).
            let mut out = index.to_be_bytes().to_vec();
            let (first, last) = network_range(set == "vif_nets6", net)?;
            let mut end = out.clone();
            out.extend(first);
            end.extend(last);
            return Some((out, Some(end)));
        }
        ("vif_verdicts" | "vif_listed", None) => {}
        ("vif_ips4", Some(a)) => out.extend(a.parse::<Ipv4Addr>().ok()?.octets()),
        ("vif_ips6", Some(a)) => out.extend(a.parse::<Ipv6Addr>().ok()?.octets()),
        ("vif_macs", Some(m)) => {
            let octets: Vec<u8> = m
                .split(':')
                .map(|o| u8::from_str_radix(o, 16).ok().filter(|_| o.len() == 2))
                .collect::<Option<_>>()?;
            if octets.len() != 6 {
                return None;
            }
            out.extend(octets);
            out.extend([0, 0]);
        }
        _ => return None,
    }
    Some((out, None))
}

/// `ADDR/LEN`'s first and last address, in network order (host bits cleared, then set).
fn network_range(v6: bool, net: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let (addr, len) = net.split_once('/')?;
    let len: u32 = len.parse().ok()?;
    if v6 {
        let a = u128::from(addr.parse::<Ipv6Addr>().ok()?);
        let host = u128::MAX.checked_shr(len).unwrap_or(0);
        (len <= 128).then(|| {
            (
                (a & !host).to_be_bytes().to_vec(),
                (a | host).to_be_bytes().to_vec(),
            )
        })
    } else {
        let a = u32::from(addr.parse::<Ipv4Addr>().ok()?);
        let host = u32::MAX.checked_shr(len).unwrap_or(0);
        (len <= 32).then(|| {
            (
                (a & !host).to_be_bytes().to_vec(),
                (a | host).to_be_bytes().to_vec(),
            )
        })
    }
}

/// `jump CHAIN` or `goto CHAIN`: the verdict's code and chain.
fn verdict_parts(v: &str) -> Option<(i32, &str)> {
    match v.split_once(' ')? {
        ("jump", chain) => Some((NFT_JUMP, chain)),
        ("goto", chain) => Some((NFT_GOTO, chain)),
        _ => None,
    }
}

fn pad(buf: &mut Vec<u8>) {
    while buf.len() % 4 != 0 {
        buf.push(0);
    }
}

fn attr(buf: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    buf.extend(((4 + payload.len()) as u16).to_ne_bytes());
    buf.extend(kind.to_ne_bytes());
    buf.extend(payload);
    pad(buf);
}

fn string_attr(buf: &mut Vec<u8>, kind: u16, s: &str) {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    attr(buf, kind, &v);
}

fn nested(buf: &mut Vec<u8>, kind: u16, body: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend([0; 4]);
    body(buf);
    let len = (buf.len() - start) as u16;
    buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    buf[start + 2..start + 4].copy_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
}

/// One netlink message with its nfgenmsg header.
fn message(
    buf: &mut Vec<u8>,
    kind: u16,
    flags: u16,
    seq: u32,
    family: u8,
    body: impl FnOnce(&mut Vec<u8>),
) {
    let start = buf.len();
    buf.extend([0; 16]);
    buf.push(family);
    buf.push(0); // NFNETLINK_V0
    buf.extend(NFNL_SUBSYS_NFTABLES.to_be_bytes()); // res_id: the batch's subsystem
    body(buf);
    pad(buf);
    let len = (buf.len() - start) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    buf[start + 4..start + 6].copy_from_slice(&kind.to_ne_bytes());
    buf[start + 6..start + 8].copy_from_slice(&flags.to_ne_bytes());
    buf[start + 8..start + 12].copy_from_slice(&seq.to_ne_bytes());
}

/// An element's key bytes, its last key (a range's), and, in the verdict map, its verdict's
/// code and chain.
type Encoded<'a> = (Vec<u8>, Option<Vec<u8>>, Option<(i32, &'a str)>);

/// The batch that adds `els` to `family`'s table: begin, one NEWSETELEM per set (each asking
/// for an acknowledgement), end. Also the sequence numbers to be acknowledged. None when an
/// element is one the batch does not write.
pub fn batch(family: &str, els: &[Element], first_seq: u32) -> Option<(Vec<u8>, Vec<u32>)> {
    let fam = family_number(family)?;
    // Per set, in the order the sets first appear: each element's keys and verdict.
    let mut sets: Vec<(&str, Vec<Encoded>)> = Vec::new();
    for e in els {
        let (key, end) = key_bytes(&e.set, &e.key)?;
        let verdict = match &e.verdict {
            Some(v) => Some(verdict_parts(v)?),
            None => None,
        };
        if (e.set == "vif_verdicts") != verdict.is_some() {
            return None;
        }
        match sets.iter_mut().find(|(s, _)| *s == e.set) {
            Some((_, list)) => list.push((key, end, verdict)),
            None => sets.push((&e.set, vec![(key, end, verdict)])),
        }
    }
    let mut buf = Vec::new();
    let mut seq = first_seq;
    message(
        &mut buf,
        NFNL_MSG_BATCH_BEGIN,
        NLM_F_REQUEST,
        seq,
        0,
        |_| {},
    );
    let mut acked = Vec::new();
    for (set, list) in &sets {
        seq += 1;
        acked.push(seq);
        let flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK;
        message(
            &mut buf,
            (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM,
            flags,
            seq,
            fam,
            |b| {
                string_attr(b, NFTA_SET_ELEM_LIST_TABLE, TABLE);
                string_attr(b, NFTA_SET_ELEM_LIST_SET, set);
                nested(b, NFTA_SET_ELEM_LIST_ELEMENTS, |b| {
                    for (key, end, verdict) in list {
                        nested(b, NFTA_LIST_ELEM, |b| {
                            nested(b, NFTA_SET_ELEM_KEY, |b| attr(b, NFTA_DATA_VALUE, key));
                            if let Some(end) = end {
                                nested(b, NFTA_SET_ELEM_KEY_END, |b| attr(b, NFTA_DATA_VALUE, end));
                            }
                            if let Some((code, chain)) = verdict {
                                nested(b, NFTA_SET_ELEM_DATA, |b| {
                                    nested(b, NFTA_DATA_VERDICT, |b| {
                                        attr(b, NFTA_VERDICT_CODE, &code.to_be_bytes());
                                        string_attr(b, NFTA_VERDICT_CHAIN, chain);
                                    });
                                });
                            }
                        });
                    }
                });
            },
        );
    }
    seq += 1;
    message(&mut buf, NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq, 0, |_| {});
    // Attribute lengths are 16 bits: a guest with that many addresses is left to nft.
    (buf.len() < 32 * 1024).then_some((buf, acked))
}

/// Why a batch did not go in.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("the elements cannot be sent as a batch (a set not ours, or a key it cannot read)")]
    NotWritable,
    #[error("nfnetlink: {0}")]
    Socket(#[from] nix::Error),
    #[error("nfnetlink: the kernel refused the elements of set {set}: {errno}")]
    Refused { set: String, errno: nix::Error },
    #[error("nfnetlink: the kernel's answer ended early")]
    Truncated,
}

/// Adds the elements to `family`'s table in one transaction sent from this process. An error
/// leaves the table as it was (the kernel applies a batch whole or not at all).
pub fn add(family: &str, els: &[Element]) -> Result<(), BatchError> {
    use nix::sys::socket::{
        recv, sendto, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr, SockFlag,
        SockProtocol, SockType,
    };
    use std::os::fd::AsRawFd;
    let seq0 = std::process::id().wrapping_shl(8);
    let (buf, acked) = batch(family, els, seq0).ok_or(BatchError::NotWritable)?;
    let mut pending = acked.clone();
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkNetFilter,
    )?;
    // Never wait on the kernel longer than a hung command would be waited on.
    setsockopt(
        &fd,
        sockopt::ReceiveTimeout,
        &nix::sys::time::TimeVal::new(5, 0),
    )?;
    sendto(
        fd.as_raw_fd(),
        &buf,
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    )?;
    // A refusal echoes the refused message: room for the largest batch.
    let mut answer = vec![0u8; 64 * 1024];
    while !pending.is_empty() {
        let n = recv(fd.as_raw_fd(), &mut answer, MsgFlags::empty())?;
        let mut at = 0;
        while at + 16 <= n {
            let word = |o: usize| u32::from_ne_bytes(answer[o..o + 4].try_into().unwrap_or([0; 4]));
            let len = word(at) as usize;
            let kind = u16::from_ne_bytes([answer[at + 4], answer[at + 5]]);
            let seq = word(at + 8);
            if len < 16 || at + len > n {
                return Err(BatchError::Truncated);
            }
            if kind == NLMSG_ERROR && len >= 20 {
                let code =
                    i32::from_ne_bytes(answer[at + 16..at + 20].try_into().unwrap_or([0; 4]));
                if code != 0 {
                    // The answer carries the refused message's sequence number: it names the set.
                    let set = acked
                        .iter()
                        .position(|s| *s == seq)
                        .and_then(|i| set_names(els).get(i).cloned())
                        .unwrap_or_default();
                    return Err(BatchError::Refused {
                        set,
                        errno: nix::Error::from_raw(-code),
                    });
                }
                pending.retain(|s| *s != seq);
            }
            at += (len + 3) & !3;
        }
    }
    Ok(())
}

/// The sets in the order the batch names them.
fn set_names(els: &[Element]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in els {
        if !out.contains(&e.set) {
            out.push(e.set.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(set: &str, key: &str, verdict: Option<&str>) -> Element {
        Element {
            set: set.into(),
            key: key.into(),
            verdict: verdict.map(Into::into),
        }
    }

    #[test]
    fn keys_are_laid_out_in_registers_as_the_kernel_stores_them() {
        let idx = 7u32.to_ne_bytes();
        let single = |set, key| {
            let (k, end) = key_bytes(set, key).unwrap();
            assert!(end.is_none());
            k
        };
        assert_eq!(single("vif_listed", "7"), idx);
        assert_eq!(
            single("vif_ips4", "7 . 10.0.0.1"),
            [&idx[..], &[10, 0, 0, 1]].concat()
        );
        let v6 = single("vif_ips6", "7 . 2001:db8::1");
        assert_eq!(v6.len(), 20);
        assert_eq!(&v6[4..6], &[0x20, 0x01]);
        assert_eq!(
            single("vif_macs", "7 . 00:16:3e:0a:0b:0c"),
            [&idx[..], &[0, 0x16, 0x3e, 0x0a, 0x0b, 0x0c, 0, 0]].concat()
        );
    }

    #[test]
    fn a_network_is_its_first_and_last_key() {
        let (first, last) = key_bytes("vif_nets4", "7 . 10.1.2.3/16").unwrap();
        assert_eq!(first, [&[0, 0, 0, 7][..], &[10, 1, 0, 0]].concat());
        assert_eq!(
            last.unwrap(),
            [&[0, 0, 0, 7][..], &[10, 1, 255, 255]].concat()
        );
        let (first, last) = key_bytes("vif_nets6", "7 . fe80::/10").unwrap();
        let last = last.unwrap();
        assert_eq!((first.len(), last.len()), (20, 20));
        assert_eq!(&first[4..6], &[0xfe, 0x80]);
        assert_eq!(&last[4..6], &[0xfe, 0xbf]);
        assert!(last[6..].iter().all(|b| *b == 0xff));
        let (_, last) = key_bytes("vif_nets4", "7 . 0.0.0.0/0").unwrap();
        assert_eq!(&last.unwrap()[4..], &[255; 4]);
        assert!(key_bytes("vif_nets4", "7 . 10.0.0.0/33").is_none());
        assert!(key_bytes("vif_nets4", "7 . 10.0.0.0").is_none());
    }

    #[test]
    fn what_the_batch_does_not_write_is_left_to_nft() {
        assert!(key_bytes("vif_macs", "7 . 00:16:3e:0a:0b").is_none());
        assert!(key_bytes("vif_ips4", "7 . 2001:db8::1").is_none());
        assert!(key_bytes("other", "7").is_none());
        assert!(batch("ip", &[el("vif_listed", "7", None)], 1).is_none());
        // A verdict only in the map, and the map's elements only with one.
        assert!(batch("bridge", &[el("vif_listed", "7", Some("jump x"))], 1).is_none());
        assert!(batch("bridge", &[el("vif_verdicts", "7", None)], 1).is_none());
        // So many addresses that a length would not fit in 16 bits.
        let many: Vec<Element> = (0..4000)
            .map(|i| {
                el(
                    "vif_ips4",
                    &format!("7 . 10.{}.{}.1", i / 250, i % 250),
                    None,
                )
            })
            .collect();
        assert!(batch("bridge", &many, 1).is_none());
        assert!(batch("bridge", &many[..10], 1).is_some());
    }

    #[test]
    fn a_batch_is_begin_one_message_per_set_and_end() {
        let els = [
            el("vif_verdicts", "7", Some("jump vif_checked")),
            el("vif_ips4", "7 . 10.0.0.1", None),
            el("vif_ips4", "7 . 10.0.0.2", None),
            el("vif_listed", "7", None),
        ];
        let (buf, acked) = batch("bridge", &els, 100).unwrap();
        assert_eq!(acked, [101, 102, 103]);
        // Walk the messages: their types, families and lengths.
        let mut at = 0;
        let mut seen = Vec::new();
        while at < buf.len() {
            let len = u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
            seen.push((kind, buf[at + 16]));
            assert_eq!(len % 4, 0);
            at += len;
        }
        assert_eq!(at, buf.len());
        let newsetelem = (10 << 8) | 12;
        assert_eq!(
            seen,
            [
                (0x10, 0),
                (newsetelem, 7),
                (newsetelem, 7),
                (newsetelem, 7),
                (0x11, 0)
            ]
        );
        // The verdict and its chain are in the map's message.
        let text = String::from_utf8_lossy(&buf);
        assert!(text.contains("vif_verdicts\0") && text.contains("vif_checked\0"));
        assert!(buf.windows(4).any(|w| w == NFT_JUMP.to_be_bytes()));
    }

    #[test]
    fn the_script_is_what_nft_is_given() {
        let els = [
            el("vif_verdicts", "7", Some("jump vif_open")),
            el("vif_listed", "7", None),
        ];
        assert_eq!(
            add_script("inet", &els),
            "add element inet xen_netscripts vif_verdicts { 7 : jump vif_open }\n\
             add element inet xen_netscripts vif_listed { 7 }\n"
        );
    }
}
