//! Checks of values that come from the outside world, made before anything is touched. Each error
//! names the value, what is wrong with it and what to do.

use std::net::IpAddr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct Invalid(pub String);

fn bad(msg: String) -> Invalid {
    Invalid(msg)
}

/// Linux interface names: 1 to 15 bytes (IFNAMSIZ-1), no `/`, whitespace or `:`, not `.`/`..`.
pub fn ifname(what: &str, name: &str) -> Result<(), Invalid> {
    if name.is_empty() {
        return Err(bad(format!("{what} is empty: give an interface name")));
    }
    if name.len() > 15 {
        return Err(bad(format!(
            "{what}={name:?} is {} bytes long; Linux interface names have at most 15: choose a shorter name",
            name.len()
        )));
    }
    if name == "." || name == ".." {
        return Err(bad(format!(
            "{what}={name:?} is not a valid interface name"
        )));
    }
    if name == "all" || name == "default" {
        // /proc/sys/net/ipv4/conf/{all,default} would set every interface's value.
        return Err(bad(format!(
            "{what}={name:?} names the kernel's settings for every interface, not an interface: give a device name"
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(bad(format!(
            "{what}={name:?} contains {c:?}, which Linux interface names cannot hold: use letters, digits, '.', '-' or '_'"
        )));
    }
    if !name.is_ascii()
        || name.contains(['\'', '"', ';', '$', '`', '\\', '|', '&', '<', '>', '*', '?'])
    {
        return Err(bad(format!(
            "{what}={name:?} is not a usable interface name: use letters, digits, '.', '-' or '_'"
        )));
    }
    Ok(())
}

/// One address as `ip=` holds it: IPv4 or IPv6, optionally with `/prefix`.
pub fn ip_entry(what: &str, entry: &str) -> Result<(IpAddr, Option<u8>), Invalid> {
    let (addr, prefix) = match entry.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (entry, None),
    };
    let parsed: IpAddr = addr.parse().map_err(|_| {
        bad(format!(
            "{what} holds {entry:?}, which is not an IP address: write addresses like 192.0.2.51 or 192.0.2.51/24, separated by spaces"
        ))
    })?;
    let max = if parsed.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => None,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max => Some(n),
            _ => {
                return Err(bad(format!(
                "{what} holds {entry:?}, whose prefix length {p:?} is not a number from 0 to {max}"
            )))
            }
        },
    };
    Ok((parsed, prefix))
}

/// The whitespace-separated `ip` list (VC-10); every entry is checked.
pub fn ip_list(what: &str, list: &str) -> Result<Vec<String>, Invalid> {
    list.split_whitespace()
        .map(|e| ip_entry(what, e).map(|_| e.to_string()))
        .collect()
}

/// A guest MAC: six hex octets separated by `:`, unicast (MAC-01/02).
pub fn mac(what: &str, mac: &str) -> Result<(), Invalid> {
    let octets: Vec<&str> = mac.split(':').collect();
    let well_formed = octets.len() == 6
        && octets
            .iter()
            .all(|o| o.len() == 2 && o.chars().all(|c| c.is_ascii_hexdigit()));
    if !well_formed {
        return Err(bad(format!(
            "{what}={mac:?} is not a MAC address: write six hex octets separated by ':', like 00:16:3e:12:34:56 (Xen's OUI 00:16:3e)"
        )));
    }
    let first = u8::from_str_radix(octets[0], 16).unwrap_or(1);
    if first & 1 == 1 {
        return Err(bad(format!(
            "{what}={mac:?} is a multicast address (its first octet is odd); a NIC needs a unicast MAC: use Xen's 00:16:3e:xx:xx:xx, or a locally administered one whose second hex digit is 2, 6, a or e"
        )));
    }
    Ok(())
}

/// An MTU a link can take.
pub fn mtu(what: &str, v: &str) -> Result<u32, Invalid> {
    match v.trim().parse::<u32>() {
        Ok(n) if (68..=65535).contains(&n) => Ok(n),
        _ => Err(bad(format!(
            "{what}={v:?} is not an MTU: give a whole number from 68 to 65535 (1500 for Ethernet)"
        ))),
    }
}

/// A non-negative decimal number (`vifnum`, domids, device ids).
pub fn number(what: &str, v: &str) -> Result<u32, Invalid> {
    v.parse::<u32>().map_err(|_| {
        bad(format!(
            "{what}={v:?} is not a number: give a whole number like 0"
        ))
    })
}

/// `yes` or `no`.
pub fn yes_no(what: &str, v: &str) -> Result<bool, Invalid> {
    match v {
        "yes" => Ok(true),
        "no" | "" => Ok(false),
        _ => Err(bad(format!("{what}={v:?} must be yes or no"))),
    }
}

/// A check of one given value: the setting's name and the value (never empty: an empty value
/// means "not given" in every script).
pub type Check = fn(&str, &str) -> Result<(), Invalid>;

pub fn check_ip_list(what: &str, v: &str) -> Result<(), Invalid> {
    ip_list(what, v).map(|_| ())
}

pub fn check_mtu(what: &str, v: &str) -> Result<(), Invalid> {
    mtu(what, v).map(|_| ())
}

pub fn check_number(what: &str, v: &str) -> Result<(), Invalid> {
    number(what, v).map(|_| ())
}

pub fn check_yes_no(what: &str, v: &str) -> Result<(), Invalid> {
    yes_no(what, v).map(|_| ())
}

/// VC-02's values.
pub fn type_if(what: &str, v: &str) -> Result<(), Invalid> {
    match v {
        "vif" | "tap" => Ok(()),
        _ => Err(bad(format!(
            "unknown interface type {v} ({what} must be vif or tap)"
        ))),
    }
}

/// network-bridge's `bridge=`: an interface name, or `null` (do nothing).
pub fn bridge_or_null(what: &str, v: &str) -> Result<(), Invalid> {
    if v == "null" {
        return Ok(());
    }
    ifname(what, v)
}

/// `confirm=`: seconds to wait for a confirmation.
pub fn confirm_secs(what: &str, v: &str) -> Result<u64, Invalid> {
    match number(what, v) {
        Ok(n) if (1..=3600).contains(&n) => Ok(u64::from(n)),
        _ => Err(bad(format!(
            "{what}={v:?} is not a number of seconds from 1 to 3600"
        ))),
    }
}

pub fn check_confirm(what: &str, v: &str) -> Result<(), Invalid> {
    confirm_secs(what, v).map(|_| ())
}

/// A VXLAN network identifier.
pub fn vni(what: &str, v: &str) -> Result<u32, Invalid> {
    match v.parse::<u32>() {
        Ok(n) if (1..=16_777_215).contains(&n) => Ok(n),
        _ => Err(bad(format!(
            "{what}={v:?} is not a VXLAN id: give a number from 1 to 16777215"
        ))),
    }
}

pub fn check_vni(what: &str, v: &str) -> Result<(), Invalid> {
    vni(what, v).map(|_| ())
}

/// A UDP port other than 0.
pub fn port(what: &str, v: &str, default: u16) -> Result<u16, Invalid> {
    match v.parse::<u16>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(bad(format!(
            "{what}={v:?} is not a UDP port: give a number from 1 to 65535 (default {default})"
        ))),
    }
}

pub fn check_port(what: &str, v: &str) -> Result<(), Invalid> {
    port(what, v, 4789).map(|_| ())
}

/// The unicast address of another host (an overlay peer, this host's underlay address).
pub fn host_addr(what: &str, v: &str) -> Result<IpAddr, Invalid> {
    let a: IpAddr = v.trim().parse().map_err(|_| {
        bad(format!(
            "{what}={v:?} is not an IPv4 or IPv6 address (e.g. 198.51.100.2 or 2001:db8::2)"
        ))
    })?;
    if a.is_unspecified() || a.is_multicast() || a.is_loopback() {
        return Err(bad(format!(
            "{what}={v:?} is not a unicast address of another host: give the peer's underlay address"
        )));
    }
    Ok(a)
}

pub fn check_host_addr(what: &str, v: &str) -> Result<(), Invalid> {
    host_addr(what, v).map(|_| ())
}

/// A comma-separated list of host addresses.
pub fn check_host_addrs(what: &str, v: &str) -> Result<(), Invalid> {
    v.split(',')
        .filter(|p| !p.trim().is_empty())
        .try_for_each(|p| host_addr(what, p).map(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names() {
        assert!(ifname("vif", "vif1.0").is_ok());
        assert!(ifname("vif", "vif1.0-emu").is_ok());
        assert!(ifname("vifname", "a-very-long-name")
            .unwrap_err()
            .0
            .contains("16 bytes"));
        assert!(ifname("vifname", "a/b").unwrap_err().0.contains("'/'"));
        assert!(ifname("bridge", "x;touch /tmp/p").is_err());
        assert!(ifname("bridge", "br 0").is_err());
        assert!(ifname("bridge", "eth0:1").is_err());
        assert!(ifname("bridge", "").is_err());
        assert!(ifname("netdev", "all").is_err());
    }

    #[test]
    fn ip_lists() {
        assert_eq!(
            ip_list("ip", "192.0.2.51  10.0.0.0/24 2001:db8::5").unwrap(),
            vec!["192.0.2.51", "10.0.0.0/24", "2001:db8::5"]
        );
        let e = ip_list("ip", "192.0.2.999").unwrap_err().0;
        assert!(e.contains("192.0.2.999"), "{e}");
        assert!(ip_list("ip", "10.0.0.1/33").is_err());
        assert!(ip_list("ip", "").unwrap().is_empty());
    }

    #[test]
    fn macs() {
        assert!(mac("mac", "00:16:3e:01:02:03").is_ok());
        assert!(mac("mac", "0a:16:3E:01:02:03").is_ok());
        assert!(mac("mac", "00:16:3e:zz:00:01")
            .unwrap_err()
            .0
            .contains("zz"));
        assert!(mac("mac", "01:16:3e:00:00:01")
            .unwrap_err()
            .0
            .contains("multicast"));
        assert!(mac("mac", "00:16:3e:00:01").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(mtu("mtu", "1400"), Ok(1400));
        assert!(mtu("mtu", "0").is_err());
        assert!(mtu("mtu", "abc").is_err());
        assert!(number("vifnum", "x1").is_err());
        assert_eq!(yes_no("antispoof", "yes"), Ok(true));
        assert!(yes_no("antispoof", "maybe").is_err());
    }
}
