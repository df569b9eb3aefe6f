//! `xennet mac`: guest MACs as the toolstack makes them (MAC-01: `00:16:3e:[00-7f]:xx:xx`), locally
//! administered ones as the xl documentation advises (MAC-02), and a check that names the range a
//! MAC falls in and says why a guest should not have it.

use std::fmt;
use std::str::FromStr;

/// Xen's OUI (MAC-01).
pub const XEN_OUI: [u8; 3] = [0x00, 0x16, 0x3e];
/// VMware's OUI for the addresses its products generate.
pub const VMWARE_AUTO_OUI: [u8; 3] = [0x00, 0x0c, 0x29];
/// VMware's OUI whose `00:50:56:00`–`3f` part is left for addresses set by hand.
pub const VMWARE_STATIC_OUI: [u8; 3] = [0x00, 0x50, 0x56];
/// The MAC the scripts give every port they add to a bridge (MAC-03).
pub const PORT_MAC: Mac = Mac([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff]);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            o[0], o[1], o[2], o[3], o[4], o[5]
        )
    }
}

/// A value that is not a MAC; the message names it and the expected form.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed(pub String);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a MAC address: expected six two-digit hex octets separated by ':' \
             (or '-'), like 00:16:3e:12:34:56",
            self.0
        )
    }
}

impl std::error::Error for Malformed {}

impl FromStr for Mac {
    type Err = Malformed;

    /// Six two-digit hex octets separated by `:` (the form xl and the scripts write) or `-`
    /// (the form some other tools print), in either case.
    fn from_str(s: &str) -> Result<Mac, Malformed> {
        let bad = || Malformed(s.to_string());
        let sep = if s.contains('-') { '-' } else { ':' };
        let parts: Vec<&str> = s.split(sep).collect();
        if parts.len() != 6 {
            return Err(bad());
        }
        let mut octets = [0u8; 6];
        for (o, p) in octets.iter_mut().zip(&parts) {
            if p.len() != 2 || !p.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        Ok(Mac(octets))
    }
}

/// Which kind of MAC to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `00:16:3e:XX:YY:ZZ`, XX from 00 to 7f, as libxl draws it (MAC-01).
    Xen,
    /// Unicast, locally administered: first octet `xxxxxx10` (MAC-02).
    Local,
}

/// A MAC of the kind from six random bytes.
pub fn from_random(kind: Kind, r: [u8; 6]) -> Mac {
    match kind {
        Kind::Xen => Mac([XEN_OUI[0], XEN_OUI[1], XEN_OUI[2], r[3] & 0x7f, r[4], r[5]]),
        Kind::Local => Mac([(r[0] & 0xfc) | 0x02, r[1], r[2], r[3], r[4], r[5]]),
    }
}

/// A random MAC of the kind; `fe:ff:ff:ff:ff:ff` (MAC-03) is never handed out.
pub fn generate(kind: Kind) -> anyhow::Result<Mac> {
    loop {
        let mut r = [0u8; 6];
        getrandom::fill(&mut r)
            .map_err(|e| anyhow::anyhow!("the system gave no random bytes: {e}"))?;
        let mac = from_random(kind, r);
        if mac != PORT_MAC {
            return Ok(mac);
        }
    }
}

/// The range a MAC falls in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    /// Xen's OUI; `toolstack` when the fourth octet is one libxl draws (00–7f).
    Xen { toolstack: bool },
    /// VMware's `00:0c:29`.
    VmwareGenerated,
    /// VMware's `00:50:56`; `static_part` for `00:50:56:00`–`3f`.
    VmwareStatic { static_part: bool },
    /// The locally administered bit is set.
    Local,
    /// Any other OUI.
    Vendor([u8; 3]),
    /// `ff:ff:ff:ff:ff:ff`.
    Broadcast,
    /// `00:00:00:00:00:00`.
    Zero,
}

impl Range {
    pub fn of(mac: Mac) -> Range {
        let o = mac.0;
        if o == [0xff; 6] {
            return Range::Broadcast;
        }
        if o == [0; 6] {
            return Range::Zero;
        }
        if o[0] & 0x02 != 0 {
            return Range::Local;
        }
        // The OUI is the first three octets without the group bit.
        let oui = [o[0] & 0xfe, o[1], o[2]];
        match oui {
            XEN_OUI => Range::Xen {
                toolstack: o[3] <= 0x7f,
            },
            VMWARE_AUTO_OUI => Range::VmwareGenerated,
            VMWARE_STATIC_OUI => Range::VmwareStatic {
                static_part: o[3] <= 0x3f,
            },
            _ => Range::Vendor(oui),
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Range::Xen { toolstack: true } => write!(
                f,
                "Xen 00:16:3e, inside the toolstack's range 00:16:3e:00:00:00-00:16:3e:7f:ff:ff (MAC-01)"
            ),
            Range::Xen { toolstack: false } => write!(
                f,
                "Xen 00:16:3e, above the toolstack's range (it draws the fourth octet from 00-7f, \
                 so it never makes this one)"
            ),
            Range::VmwareGenerated => {
                write!(f, "VMware 00:0c:29, the addresses VMware generates for its guests")
            }
            Range::VmwareStatic { static_part: true } => write!(
                f,
                "VMware 00:50:56, its static range 00:50:56:00:00:00-00:50:56:3f:ff:ff \
                 (set by hand on VMware guests)"
            ),
            Range::VmwareStatic { static_part: false } => write!(
                f,
                "VMware 00:50:56, outside its static range 00:50:56:00:00:00-00:50:56:3f:ff:ff \
                 (VMware's own generated addresses)"
            ),
            Range::Local => write!(
                f,
                "locally administered (second hex digit 2, 6, a or e: no vendor owns it, MAC-02)"
            ),
            Range::Vendor(o) => write!(
                f,
                "another vendor's OUI {:02x}:{:02x}:{:02x} (not Xen's 00:16:3e)",
                o[0], o[1], o[2]
            ),
            Range::Broadcast => write!(f, "the broadcast address"),
            Range::Zero => write!(f, "the all-zero address"),
        }
    }
}

/// What `mac check` says about one MAC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub mac: Mac,
    pub range: Range,
    /// None when the MAC is fine for a guest; else why not and what to do.
    pub rejected: Option<String>,
}

const ADVICE: &str = "make one with `xennet mac` (Xen's 00:16:3e) or `xennet mac --local`";

/// A guest may have a unicast MAC in Xen's OUI or a locally administered one (MAC-01, MAC-02);
/// not `fe:ff:ff:ff:ff:ff`, which every backend port of the bridge has (MAC-03).
pub fn check(mac: Mac) -> Verdict {
    let range = Range::of(mac);
    let rejected = if range == Range::Broadcast {
        Some(format!(
            "the broadcast address is no station's address; {ADVICE}"
        ))
    } else if mac.0[0] & 0x01 != 0 {
        Some(format!(
            "multicast: the group bit (the low bit of the first octet, {:02x}) is set, and a NIC \
             needs a unicast MAC; {ADVICE}",
            mac.0[0]
        ))
    } else if range == Range::Zero {
        Some(format!(
            "the all-zero address is no station's address; {ADVICE}"
        ))
    } else if mac == PORT_MAC {
        Some(format!(
            "fe:ff:ff:ff:ff:ff is the MAC the scripts give every backend port of a bridge \
             (MAC-03): the bridge keeps it as its own, so a guest with it would get no frames; \
             {ADVICE}"
        ))
    } else {
        match range {
            Range::Xen { .. } | Range::Local => None,
            Range::VmwareGenerated | Range::VmwareStatic { .. } => Some(format!(
                "another vendor's OUI (VMware's): a Xen guest should have a MAC in Xen's \
                 00:16:3e or a locally administered one, so it cannot clash with VMware's \
                 machines on the same LAN; {ADVICE}"
            )),
            _ => Some(format!(
                "another vendor's OUI: that vendor's hardware may have this address; a Xen guest \
                 should have a MAC in Xen's 00:16:3e or a locally administered one; {ADVICE}"
            )),
        }
    };
    Verdict {
        mac,
        range,
        rejected,
    }
}

impl Verdict {
    /// The lines `mac check` prints: the MAC and the verdict, the range, and why not.
    pub fn render(&self) -> String {
        let mut s = format!(
            "{}: {}\n  range: {}\n",
            self.mac,
            if self.rejected.is_some() {
                "rejected"
            } else {
                "accepted"
            },
            self.range
        );
        if let Some(why) = &self.rejected {
            s.push_str(&format!("  why:   {why}\n"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(s: &str) -> Mac {
        s.parse().unwrap()
    }

    #[test]
    fn parses_both_separators_and_cases() {
        assert_eq!(mac("00:16:3E:0a:0B:0c").to_string(), "00:16:3e:0a:0b:0c");
        assert_eq!(mac("00-50-56-01-02-03").to_string(), "00:50:56:01:02:03");
        for bad in [
            "",
            "00:16:3e:00:00",
            "00:16:3e:00:00:00:00",
            "00:16:3e:zz:00:01",
            "0:16:3e:00:00:01",
            "000:16:3e:00:00:01",
            "00:16-3e:00:00:01",
            "00.16.3e.00.00.01",
            "+0:16:3e:00:00:01",
        ] {
            let e = bad.parse::<Mac>().unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
            assert!(e.contains("00:16:3e:12:34:56"), "{e}");
        }
    }

    #[test]
    fn generated_macs_have_their_form() {
        for r in [[0u8; 6], [0xff; 6], [0x13, 0x57, 0x9b, 0xdf, 0x24, 0x68]] {
            let x = from_random(Kind::Xen, r);
            assert_eq!(&x.0[..3], &XEN_OUI);
            assert!(x.0[3] <= 0x7f);
            assert_eq!(Range::of(x), Range::Xen { toolstack: true });
            assert_eq!(check(x).rejected, None);
            let l = from_random(Kind::Local, r);
            assert_eq!(l.0[0] & 0x03, 0x02);
            assert_eq!(Range::of(l), Range::Local);
            assert!(matches!(
                l.to_string().chars().nth(1),
                Some('2' | '6' | 'a' | 'e')
            ));
        }
        // All ones would be MAC-03's port MAC; generate() draws again instead.
        assert_eq!(from_random(Kind::Local, [0xff; 6]), PORT_MAC);
        for _ in 0..200 {
            assert_ne!(generate(Kind::Local).unwrap(), PORT_MAC);
        }
    }

    #[test]
    fn verdicts() {
        let ok = |s: &str| check(mac(s)).rejected.is_none();
        assert!(ok("00:16:3e:00:00:01"));
        assert!(ok("00:16:3e:ff:00:01"));
        assert!(ok("02:00:00:00:00:01"));
        assert!(ok("fe:ff:ff:ff:ff:fe"));
        assert!(!ok("fe:ff:ff:ff:ff:ff"));
        assert!(!ok("ff:ff:ff:ff:ff:ff"));
        assert!(!ok("00:00:00:00:00:00"));
        assert!(!ok("01:16:3e:00:00:01"));
        assert!(!ok("03:00:00:00:00:01"));
        assert!(!ok("00:0c:29:00:00:01"));
        assert!(!ok("00:50:56:3f:00:01"));
        assert!(!ok("00:1b:21:00:00:01"));
        assert_eq!(
            Range::of(mac("00:50:56:3f:ff:ff")),
            Range::VmwareStatic { static_part: true }
        );
        assert_eq!(
            Range::of(mac("00:50:56:40:00:00")),
            Range::VmwareStatic { static_part: false }
        );
        assert_eq!(
            Range::of(mac("00:16:3e:80:00:00")),
            Range::Xen { toolstack: false }
        );
        // A group address in Xen's block is still named by its block.
        assert_eq!(
            Range::of(mac("01:16:3e:00:00:00")),
            Range::Xen { toolstack: true }
        );
        let v = check(mac("01:00:5e:00:00:01"));
        assert!(v.rejected.as_deref().unwrap().starts_with("multicast"));
        assert!(v.render().contains("another vendor's OUI 00:00:5e"));
    }
}
