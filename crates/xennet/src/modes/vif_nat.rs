//! `vif-nat` (spec §5): the guest's interface as a routed link behind dom0's NAT. The dom0 side
//! gets the "router address" (the guest's last octet + 127) as a /32, the guest a host route,
//! proxy ARP lets guests reach each other, and with `dhcp=yes` a host entry in dhcpd's
//! configuration hands the guest its address. Addresses whose router address would be invalid,
//! and lists of several addresses, are refused up front (VN-06, VN-07 FIX).

use crate::dhcpd;
use crate::error::{Error, Note, Planned, Result};
use crate::exec::{ip, Cmd};
use crate::firewall::{self, Family, Vif};
use crate::invocation::Invocation;
use crate::plan::{Action, OnError, Plan, Step};
use crate::snapshot::Snapshot;
use crate::validate::{self, Invalid};
use crate::vif::{Found, TypeIf, VifContext};
use crate::xenstore::join;
use std::net::Ipv4Addr;

/// The guest's address and the router address derived from it.
#[derive(Debug, PartialEq, Eq)]
pub struct Addressing {
    /// As configured, with its prefix if any (`10.0.5.1/16`).
    pub ip: String,
    /// The guest address proper (`10.0.5.1`).
    pub vif_ip: String,
    /// dom0's address on the vif (`10.0.5.128`), added as a /32.
    pub router_ip: String,
}

/// VN-04: `10.<domid/256>.<domid%256>.<handle+1>/16`.
pub fn default_ip(domid: u32, vifid: u32) -> String {
    format!("10.{}.{}.{vifid}/16", domid / 256, domid % 256)
}

/// VN-05…VN-07: one IPv4 address whose last octet is at most 127.
pub fn addressing(ips: &[String], what: &str) -> Result<Addressing, Invalid> {
    let ip = match ips {
        [one] => one.clone(),
        [] => return Err(Invalid(format!("{what} is empty"))),
        many => {
            return Err(Invalid(format!(
                "{what} holds {} addresses ({}); vif-nat routes one address per vif: give one, or use vif-route",
                many.len(),
                many.join(" ")
            )))
        }
    };
    let vif_ip = ip.split('/').next().unwrap_or_default().to_string();
    let addr: Ipv4Addr = vif_ip.parse().map_err(|_| {
        Invalid(format!(
            "{what}={ip:?} is not an IPv4 address: vif-nat needs one like 10.0.0.1"
        ))
    })?;
    let o = addr.octets();
    if o[3] > 127 {
        return Err(Invalid(format!(
            "{what}={ip:?}: vif-nat gives dom0 the router address {}.{}.{}.{} (the guest's last octet + 127), which is not an address: choose a guest address whose last octet is at most 127",
            o[0],
            o[1],
            o[2],
            u32::from(o[3]) + 127
        )));
    }
    let router_ip = Ipv4Addr::new(o[0], o[1], o[2], o[3] + 127).to_string();
    Ok(Addressing {
        ip,
        vif_ip,
        router_ip,
    })
}

/// VN-08: `dom<domid>`, or `dom<domid>-<vifid>` for the second and later NICs.
pub fn hostname(domid: u32, vifid: u32) -> String {
    if vifid == 1 {
        format!("dom{domid}")
    } else {
        format!("dom{domid}-{vifid}")
    }
}

/// XS-01: a key that must be present and non-empty.
fn read_required(ctx: &VifContext, key: &str) -> Result<String> {
    let path = join(&ctx.xp, key);
    match ctx.key(key) {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => Err(Error::refused(format!("xenstore-read {path} failed."))),
    }
}

pub fn plan(ctx: &VifContext, inv: &Invocation, snap: &Snapshot) -> Result<Planned> {
    let mut notes = Vec::new();
    // VN-01, VN-02, VN-03 (FIX: reported through hotplug-error).
    // An empty dhcp= is the default, as the original's ${dhcp:-…}.
    let dhcp = match inv.get("dhcp").filter(|v| !v.is_empty()) {
        Some(v) => v != "no",
        None => dhcpd::default_on(snap)?,
    };
    let files = if dhcp {
        dhcpd::find(snap)?
    } else {
        dhcpd::Files::default()
    };
    let dhcp_files = match (dhcp, files.conf, files.init, files.args) {
        (false, ..) => None,
        (true, Some(c), Some(i), Some(a)) => Some((c, a, i)),
        (true, ..) => {
            return Err(Error::refused(
                "Failed to find dhcpd configuration or init or args file. (looked for \
                 /etc/dhcp/dhcpd.conf, /etc/init.d/isc-dhcp-server and /etc/default/isc-dhcp-server \
                 among others; install isc-dhcp-server, or set dhcp=no)",
            ))
        }
    };
    let domid_s = read_required(ctx, "frontend-id")?;
    let handle_s = read_required(ctx, "handle")?;
    let domid = validate::number(&join(&ctx.xp, "frontend-id"), &domid_s)?;
    let handle = validate::number(&join(&ctx.xp, "handle"), &handle_s)?;
    let vifid = handle.checked_add(1).ok_or_else(|| {
        Error::refused(format!(
            "{} = {handle} is not a device number",
            join(&ctx.xp, "handle")
        ))
    })?;
    let ips = if ctx.ips.is_empty() {
        vec![default_ip(domid, vifid)]
    } else {
        ctx.ips.clone()
    };
    let a = addressing(&ips, "ip")?;
    let host = hostname(domid, vifid);
    let fw = firewall::for_vif(inv, snap, &mut notes)?;
    let dev = ctx.dev.as_str();
    let done = format!("Successful vif-nat {} for {dev}.", ctx.command.word());
    let vars = ctx.hook_vars(&[
        ("ip", a.ip.as_str()),
        ("router_ip", a.router_ip.as_str()),
        ("hostname", host.as_str()),
    ]);
    let routed = ctx.type_if == TypeIf::Vif; // VN-12: taps get no address or route.
    let mut plan = Plan::default();

    let fw_vif = |mac: &'static str| Vif {
        dev,
        ifindex: None,
        ips: &ips,
        mac,
        family: Some(Family::Inet),
        antispoof: fw.antispoof,
        guarded: false,
    };
    if !ctx.command.is_up() {
        let link = match ctx.link_to_release(snap)? {
            Found::NotOurs(link) => {
                // KP-16: another guest's interface of that name keeps everything of its own.
                notes.push(Note::Warn(ctx.not_ours(link)));
                return Ok(Planned {
                    notes,
                    done,
                    ..Planned::default()
                });
            }
            Found::Gone => None,
            Found::Ours(link) => Some(link),
        };
        if let (Some((conf, args, init)), true) = (&dhcp_files, routed) {
            if dhcpd::get_line(snap, conf, &dhcpd::host_key(&host))?.is_some()
                || dhcpd::args_has_word(snap, args, dev)?
            {
                plan.extend(dhcp_steps(conf, args, init, &host, dev, None, snap)?);
            }
        }
        plan.extend(fw.offline_steps(&fw_vif(""), snap, &mut notes)?);
        if let (Some(link), true) = (link, routed) {
            // VN-11: the device goes away with the guest; leave it as online found it.
            let dsts = [a.vif_ip.clone()];
            plan.extend(super::routed::release(
                dev,
                link,
                &dsts,
                Some(&a.router_ip),
                snap,
                &mut notes,
            )?);
        }
        if routed {
            // Issue 19: no connection of this guest outlives it (its masqueraded ones too: they
            // carry its address as their original source).
            plan.extend(crate::conntrack::purge(
                dev,
                std::slice::from_ref(&a.vif_ip),
                OnError::Collect,
                snap,
                &mut notes,
            )?);
        }
        plan.extend(crate::hooks::steps(&vars, OnError::Collect, snap)?);
        return Ok(Planned {
            plan,
            notes,
            done,
            ..Planned::default()
        });
    }

    crate::vlan::refuse_routed(ctx, inv, "vif-nat")?;
    let mac = if dhcp_files.is_some() && routed {
        read_required(ctx, "mac")?
    } else {
        ctx.key_or("mac", "")
    };
    if !mac.is_empty() {
        validate::mac(&join(&ctx.xp, "mac"), &mac)?;
    }
    let cfg = ctx.configure(snap)?;
    // VC-07: taps are renamed too.
    let fresh = cfg.rename;
    let mut up = cfg.link.up;
    if cfg.rename {
        plan.extend(ctx.rename_steps(cfg.link));
        up = false;
    }
    if routed {
        // VN-09, VN-10 FIX: only what is missing, so an "already up" vif is checked, not skipped.
        plan.extend(super::routed::attach(
            dev,
            up,
            &a.router_ip,
            None,
            fresh,
            snap,
        )?);
        let routes = super::routed::current_routes(dev, fresh, snap)?;
        if !routes.iter().any(|r| r.dst == a.vif_ip) {
            plan.push(
                Step::run(
                    format!("ip route add {} dev {dev} src {}", a.vif_ip, a.router_ip),
                    ip(["route", "add", &a.vif_ip, "dev", dev, "src", &a.router_ip]),
                )
                .undo(ip(["route", "del", &a.vif_ip, "dev", dev])),
            );
        }
        if let Some((conf, args, init)) = &dhcp_files {
            let line = dhcpd::host_line(&host, &mac, &a.vif_ip, &a.router_ip);
            let current = dhcpd::get_line(snap, conf, &dhcpd::host_key(&host))?;
            if current.as_deref() != Some(line.as_str()) || !dhcpd::args_has_word(snap, args, dev)?
            {
                plan.extend(dhcp_steps(
                    conf,
                    args,
                    init,
                    &host,
                    dev,
                    Some((line, current)),
                    snap,
                )?);
            }
        }
    } else if cfg.rename && cfg.link.up {
        // VN-12: a tap gets no address or route, but a rename must not leave it down.
        plan.push(crate::bridge::link_up(dev));
    }
    let online_vif = Vif {
        mac: &mac,
        ifindex: ctx.ifindex(snap)?,
        ..fw_vif("")
    };
    plan.extend(fw.online_steps(&online_vif, snap, &mut notes)?);
    plan.extend(crate::hooks::steps(&vars, OnError::Fail, snap)?);
    if routed {
        // Issue 19: the guest starts with no connection of an earlier holder of its address.
        plan.extend(crate::conntrack::purge_at_online(
            dev,
            std::slice::from_ref(&a.vif_ip),
            up,
            snap,
            &mut notes,
        )?);
    }
    Ok(Planned {
        plan,
        notes,
        done,
        ..Planned::default()
    })
}

/// VN-13: under the `vif-nat-dhcp` lock, set (or remove) the host entry and the interface word,
/// then restart dhcpd (its failure ignored: ISC dhcpd 3 refuses to start with nothing to serve).
fn dhcp_steps(
    conf: &std::path::Path,
    args: &std::path::Path,
    init: &std::path::Path,
    host: &str,
    dev: &str,
    add: Option<(String, Option<String>)>,
    snap: &Snapshot,
) -> Result<Vec<Step>> {
    let conf_s = conf.display().to_string();
    let args_s = args.display().to_string();
    let key = dhcpd::host_key(host);
    let present = add.is_some();
    let (line, old) = match add {
        Some((line, old)) => (Some(line), old),
        None => (None, dhcpd::get_line(snap, conf, &key)?),
    };
    let on_error = if present {
        OnError::Fail
    } else {
        OnError::Collect
    };
    Ok(vec![
        Step::new(
            format!(
                "{} the dhcpd host entry {host} in {conf_s}",
                if present { "write" } else { "remove" }
            ),
            Action::SetLine {
                path: conf_s.clone(),
                key: key.clone(),
                line,
            },
        )
        .undo_action(Action::SetLine {
            path: conf_s,
            key,
            line: old,
        })
        .on_error(on_error)
        .locked("vif-nat-dhcp"),
        Step::new(
            format!(
                "{} {dev} in {args_s}",
                if present { "list" } else { "unlist" }
            ),
            Action::ListWord {
                path: args_s.clone(),
                vars: dhcpd::ARG_VARS.iter().map(|v| v.to_string()).collect(),
                word: dev.to_string(),
                present,
            },
        )
        .undo_action(Action::ListWord {
            path: args_s,
            vars: dhcpd::ARG_VARS.iter().map(|v| v.to_string()).collect(),
            word: dev.to_string(),
            present: !present,
        })
        .on_error(on_error)
        .locked("vif-nat-dhcp"),
        Step::run(
            "restart dhcpd",
            Cmd::new(&init.display().to_string()).arg("restart"),
        )
        .on_error(OnError::Ignore),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_address_and_defaults() {
        assert_eq!(default_ip(5, 1), "10.0.5.1/16");
        assert_eq!(default_ip(300, 2), "10.1.44.2/16");
        let a = addressing(&["10.0.5.1/16".into()], "ip").unwrap();
        assert_eq!(
            (a.vif_ip.as_str(), a.router_ip.as_str()),
            ("10.0.5.1", "10.0.5.128")
        );
        assert_eq!(
            addressing(&["192.168.1.10/24".into()], "ip")
                .unwrap()
                .router_ip,
            "192.168.1.137"
        );
        let e = addressing(&["10.0.0.200".into()], "ip").unwrap_err().0;
        assert!(e.contains("10.0.0.327") && e.contains("10.0.0.200"), "{e}");
        assert!(addressing(&["10.0.0.1".into(), "10.0.0.2".into()], "ip")
            .unwrap_err()
            .0
            .contains("one address"));
        assert!(addressing(&["2001:db8::1".into()], "ip").is_err());
        assert_eq!(hostname(5, 1), "dom5");
        assert_eq!(hostname(5, 2), "dom5-2");
    }
}
