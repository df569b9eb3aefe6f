//! Guest VLANs (issue 19): xl's `vlan=` key, as libxl writes it verbatim into the backend's
//! xenstore directory (Xen 4.19 and later), parsed and checked here; the `bridge vlan` steps that
//! give a port its VLANs; and what `bridge -j vlan show` says a port has.
//!
//! The grammar (xl-network-configuration(5), "vlan"; neither xl nor libxl checks it, so the
//! hotplug script is the first to read it): one or more terms separated by `/`, each
//!
//! - `N`, a VLAN id from 1 to 4094, tagged; `Np` the PVID (untagged frames from the guest belong
//!   to it, and it leaves untagged: `p` implies `u`); `Nu` untagged;
//! - `N-M[u]`, every id from N to M (N ≤ M);
//! - `N+STEPxCOUNT[u]`, N and COUNT more ids, STEP apart: `100+10x4` is 100, 110, 120, 130, 140
//!   (the manual's words, "COUNT additional entries"; its example lists 150 as well, one too many).
//!
//! Exactly one VLAN is the PVID; a value that names a single VLAN (`vlan=10`) makes it the PVID.
//! An id given twice, two PVIDs, or several VLANs without a PVID are errors, as in the shell
//! implementation proposed with the key (xen-devel, May 2024), which was never merged.

use crate::error::Error;
use crate::exec::Cmd;
use crate::plan::Step;
use crate::snapshot::Snapshot;
use crate::validate::Invalid;
use std::collections::BTreeMap;
use std::fmt;

/// The lowest and highest VLAN ids a port can carry (0 and 4095 are reserved by 802.1Q).
pub const MIN: u16 = 1;
pub const MAX: u16 = 4094;

/// How a port carries one VLAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Flags {
    /// Untagged frames arriving from the port belong to this VLAN.
    pub pvid: bool,
    /// Frames of this VLAN leave the port untagged.
    pub untagged: bool,
}

impl Flags {
    pub const TAGGED: Flags = Flags {
        pvid: false,
        untagged: false,
    };
    pub const UNTAGGED: Flags = Flags {
        pvid: false,
        untagged: true,
    };
    pub const PVID: Flags = Flags {
        pvid: true,
        untagged: true,
    };

    /// The words `bridge vlan add` takes for these flags.
    fn words(self) -> Vec<&'static str> {
        let mut w = Vec::new();
        if self.pvid {
            w.push("pvid");
        }
        if self.untagged {
            w.push("untagged");
        }
        w
    }
}

/// The VLANs of a port: each id with its flags, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vlans(BTreeMap<u16, Flags>);

impl Vlans {
    pub fn new() -> Vlans {
        Vlans::default()
    }

    /// One VLAN as a port's PVID, untagged (what a bridge gives a new port: its default_pvid).
    pub fn only_pvid(vid: u16) -> Vlans {
        let mut v = Vlans::new();
        v.0.insert(vid, Flags::PVID);
        v
    }

    pub fn insert(&mut self, vid: u16, flags: Flags) {
        self.0.insert(vid, flags);
    }

    pub fn get(&self, vid: u16) -> Option<Flags> {
        self.0.get(&vid).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u16, Flags)> + '_ {
        self.0.iter().map(|(v, f)| (*v, *f))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, vid: u16) -> bool {
        self.0.contains_key(&vid)
    }

    /// The PVID, if one VLAN is it.
    pub fn pvid(&self) -> Option<u16> {
        self.iter().find(|(_, f)| f.pvid).map(|(v, _)| v)
    }

    /// The ids that leave untagged other than the PVID.
    pub fn untagged_others(&self) -> Vec<u16> {
        self.iter()
            .filter(|(_, f)| f.untagged && !f.pvid)
            .map(|(v, _)| v)
            .collect()
    }

    /// The ids that leave tagged.
    pub fn tagged(&self) -> Vec<u16> {
        self.iter()
            .filter(|(_, f)| !f.untagged)
            .map(|(v, _)| v)
            .collect()
    }

    /// Runs of consecutive ids with the same flags: `(first, last, flags)`. A PVID is always a
    /// run of its own (the kernel takes no PVID range).
    fn runs(&self) -> Vec<(u16, u16, Flags)> {
        let mut runs: Vec<(u16, u16, Flags)> = Vec::new();
        for (vid, f) in self.iter() {
            match runs.last_mut() {
                Some((_, last, lf)) if *last + 1 == vid && *lf == f && !f.pvid => *last = vid,
                _ => runs.push((vid, vid, f)),
            }
        }
        runs
    }
}

/// The value as xl's syntax writes it, ranges joined: `10p/20-22/30u`. A kernel state xl
/// cannot write (a PVID that leaves tagged) shows as `10p(tagged)`.
impl fmt::Display for Vlans {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let terms: Vec<String> = self
            .runs()
            .into_iter()
            .map(|(a, b, fl)| {
                let ids = if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                };
                let suffix = match (fl.pvid, fl.untagged) {
                    (true, true) => "p",
                    (true, false) => "p(tagged)",
                    (false, true) => "u",
                    (false, false) => "",
                };
                format!("{ids}{suffix}")
            })
            .collect();
        f.write_str(&terms.join("/"))
    }
}

fn bad(what: &str, value: &str, why: impl fmt::Display) -> Invalid {
    Invalid(format!("{what}={value:?}: {why}"))
}

const FORMS: &str = "write terms separated by '/', each N (a VLAN id from 1 to 4094), Np (the \
                     PVID), Nu (untagged), N-M[u] (a range) or N+STEPxCOUNT[u] (N and COUNT \
                     more ids, STEP apart), e.g. vlan=10p/20/30-32";

/// One number of a term: decimal digits, no sign, no leading zero.
fn number(what: &str, value: &str, term: &str, digits: &str) -> Result<u32, Invalid> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            what,
            value,
            format!("{term:?} is not a VLAN term: {FORMS}"),
        ));
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return Err(bad(
            what,
            value,
            format!(
                "{term:?} has a number with a leading zero ({digits}): write it without, e.g. {}",
                digits.trim_start_matches('0').parse::<u32>().unwrap_or(0)
            ),
        ));
    }
    digits.parse::<u32>().map_err(|_| {
        bad(
            what,
            value,
            format!("{term:?}: {digits} is too large for a VLAN id (1 to 4094)"),
        )
    })
}

/// A VLAN id of a term, checked to be from 1 to 4094.
fn vid(what: &str, value: &str, term: &str, digits: &str) -> Result<u16, Invalid> {
    let n = number(what, value, term, digits)?;
    match u16::try_from(n) {
        Ok(v) if (MIN..=MAX).contains(&v) => Ok(v),
        _ => Err(bad(
            what,
            value,
            format!(
                "{term:?}: {n} is not a VLAN id; ids go from 1 to 4094 (0 and 4095 are reserved)"
            ),
        )),
    }
}

/// The ids of one term and the suffix it ends in (`p`, `u` or none).
fn term_ids(what: &str, value: &str, term: &str) -> Result<(Vec<u16>, Option<char>), Invalid> {
    let (body, suffix) = match term.strip_suffix(['p', 'u']) {
        Some(b) => (b, term.chars().last()),
        None => (term, None),
    };
    if let Some((first, rest)) = body.split_once('+') {
        // N+STEPxCOUNT
        let Some((step, count)) = rest.split_once('x') else {
            return Err(bad(
                what,
                value,
                format!(
                    "{term:?} is not a VLAN term: a stepped range is N+STEPxCOUNT, e.g. 100+10x4 \
                     (100, 110, 120, 130, 140)"
                ),
            ));
        };
        if suffix == Some('p') {
            return Err(bad(
                what,
                value,
                format!(
                    "{term:?}: a stepped range cannot be the PVID (a port has one): give the \
                     PVID as a term of its own, e.g. 10p/{body}"
                ),
            ));
        }
        let start = vid(what, value, term, first)?;
        let step = number(what, value, term, step)?;
        let count = number(what, value, term, count)?;
        if step == 0 {
            return Err(bad(
                what,
                value,
                format!("{term:?}: a step of 0 repeats VLAN {start}: give a step of at least 1"),
            ));
        }
        if count == 0 {
            return Err(bad(
                what,
                value,
                format!(
                    "{term:?}: a count of 0 adds no VLAN after {start}: write {start} alone, or a \
                     count of at least 1"
                ),
            ));
        }
        let last = u64::from(start) + u64::from(step) * u64::from(count);
        if last > u64::from(MAX) {
            return Err(bad(
                what,
                value,
                format!(
                    "{term:?} reaches VLAN {last} ({start} and {count} more, {step} apart), \
                     above the highest id, 4094"
                ),
            ));
        }
        let ids = (0..=count)
            .map(|i| u16::try_from(u32::from(start) + step * i).unwrap_or(MAX))
            .collect();
        return Ok((ids, suffix));
    }
    if let Some((first, last)) = body.split_once('-') {
        if suffix == Some('p') {
            return Err(bad(
                what,
                value,
                format!(
                    "{term:?}: a range cannot be the PVID (a port has one): give the PVID as a \
                     term of its own, e.g. {first}p/{body}"
                ),
            ));
        }
        let a = vid(what, value, term, first)?;
        let b = vid(what, value, term, last)?;
        if a > b {
            return Err(bad(
                what,
                value,
                format!("{term:?} is a range that ends before it starts: write {b}-{a}"),
            ));
        }
        return Ok(((a..=b).collect(), suffix));
    }
    Ok((vec![vid(what, value, term, body)?], suffix))
}

/// The terms of a value: split at `/` (and, for a trunk list, also at `,`), each trimmed.
fn terms<'v>(
    what: &str,
    value: &'v str,
    separators: &[char],
) -> Result<Vec<(usize, &'v str)>, Invalid> {
    if value.trim().is_empty() {
        return Err(bad(what, value, format!("no VLAN is given: {FORMS}")));
    }
    value
        .split(separators)
        .enumerate()
        .map(|(i, t)| {
            let t = t.trim();
            if t.is_empty() {
                Err(bad(
                    what,
                    value,
                    format!(
                        "term {} is empty: separate the terms with a single '/' and end with a \
                         VLAN",
                        i + 1
                    ),
                ))
            } else {
                Ok((i, t))
            }
        })
        .collect()
}

/// Parses a `vlan=` value (see the module comment); `what` names it in errors (`vlan`, or the
/// xenstore key), and every error says what is wrong with which term and how to write it.
pub fn parse(what: &str, value: &str) -> Result<Vlans, Invalid> {
    let mut vlans = Vlans::new();
    let mut from: BTreeMap<u16, &str> = BTreeMap::new();
    for (_, term) in terms(what, value, &['/'])? {
        let (ids, suffix) = term_ids(what, value, term)?;
        let flags = match suffix {
            Some('p') => Flags::PVID,
            Some('u') => Flags::UNTAGGED,
            _ => Flags::TAGGED,
        };
        for id in ids {
            if let Some(earlier) = from.get(&id) {
                return Err(bad(
                    what,
                    value,
                    format!(
                        "VLAN {id} is given twice (in {earlier:?} and {term:?}): name each VLAN \
                         once"
                    ),
                ));
            }
            if flags.pvid {
                if let Some(p) = vlans.pvid() {
                    return Err(bad(
                        what,
                        value,
                        format!(
                            "two PVIDs, {p} and {id}: a port has one PVID (the VLAN of the \
                             guest's untagged frames); mark only one term with p"
                        ),
                    ));
                }
            }
            from.insert(id, term);
            vlans.insert(id, flags);
        }
    }
    if vlans.pvid().is_none() {
        if vlans.len() == 1 {
            // "vlan=10": a single VLAN is the PVID (and so untagged).
            let only = vlans.iter().map(|(v, _)| v).next().unwrap_or(MIN);
            vlans.insert(only, Flags::PVID);
        } else {
            let first = vlans.iter().map(|(v, _)| v).next().unwrap_or(MIN);
            return Err(bad(
                what,
                value,
                format!(
                    "{} VLANs and none is the PVID: mark the VLAN of the guest's untagged \
                     frames with p, e.g. vlan={first}p/… (only a single VLAN alone is the PVID \
                     without p)",
                    vlans.len()
                ),
            ));
        }
    }
    Ok(vlans)
}

/// The registry's check of a given `vlan` value.
pub fn check(what: &str, v: &str) -> Result<(), Invalid> {
    parse(what, v).map(|_| ())
}

/// A list of tagged VLANs, as network-bridge's `trunk=` takes it: the same terms, separated by
/// `/` or `,`, without `p` or `u` (an uplink's trunked VLANs leave tagged).
pub fn parse_trunk(what: &str, value: &str) -> Result<Vec<u16>, Invalid> {
    let mut ids = std::collections::BTreeSet::new();
    for (_, term) in terms(what, value, &['/', ','])? {
        let (list, suffix) = term_ids(what, value, term)?;
        if let Some(s) = suffix {
            return Err(bad(
                what,
                value,
                format!(
                    "{term:?} ends in {s:?}, but the uplink carries the trunked VLANs tagged \
                     (its untagged VLAN stays dom0's): drop the {s:?}"
                ),
            ));
        }
        ids.extend(list);
    }
    Ok(ids.into_iter().collect())
}

pub fn check_trunk(what: &str, v: &str) -> Result<(), Invalid> {
    parse_trunk(what, v).map(|_| ())
}

/// `bridge vlan add|del dev DEV vid A[-B] [pvid] [untagged]`.
fn bridge_vlan(verb: &str, dev: &str, first: u16, last: u16, flags: Flags) -> Cmd {
    let vid = if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    };
    let mut c = Cmd::new("bridge").args(["vlan", verb, "dev", dev, "vid", &vid]);
    if verb == "add" {
        c = c.args(flags.words());
    }
    c
}

fn ids(first: u16, last: u16) -> String {
    if first == last {
        format!("VLAN {first}")
    } else {
        format!("VLANs {first}-{last}")
    }
}

fn describe(flags: Flags) -> &'static str {
    match (flags.pvid, flags.untagged) {
        (true, _) => "as its PVID, untagged",
        (false, true) => "untagged",
        (false, false) => "tagged",
    }
}

/// The steps that turn the VLANs `have` of port `dev` into `want`, each with the step that
/// undoes it: first every VLAN added or changed (a new PVID before the old one goes), then
/// every VLAN `want` does not hold removed (the bridge's default VLAN 1 among them, unless
/// asked for). Consecutive ids with the same change share one command.
pub fn port_steps(dev: &str, have: &Vlans, want: &Vlans) -> Vec<Step> {
    let mut adds: Vlans = Vlans::new();
    let mut changed_from: BTreeMap<u16, Option<Flags>> = BTreeMap::new();
    for (vid, f) in want.iter() {
        let old = have.get(vid);
        if old != Some(f) {
            adds.insert(vid, f);
            changed_from.insert(vid, old);
        }
    }
    let mut steps = Vec::new();
    // Runs of additions whose old state is the same too (all new, or the same old flags).
    let mut runs: Vec<(u16, u16, Flags, Option<Flags>)> = Vec::new();
    for (vid, f) in adds.iter() {
        let old = changed_from.get(&vid).copied().flatten();
        match runs.last_mut() {
            Some((_, last, lf, lo)) if *last + 1 == vid && *lf == f && *lo == old && !f.pvid => {
                *last = vid
            }
            _ => runs.push((vid, vid, f, old)),
        }
    }
    // The PVID first: the port's untagged frames move to it before anything else changes.
    runs.sort_by_key(|(a, _, f, _)| (!f.pvid, *a));
    for (a, b, f, old) in runs {
        let undo = match old {
            None => bridge_vlan("del", dev, a, b, f),
            Some(o) => bridge_vlan("add", dev, a, b, o),
        };
        let what = match old {
            None => format!("give {dev} {} {}", ids(a, b), describe(f)),
            Some(o) => format!(
                "carry {} on {dev} {} (was {})",
                ids(a, b),
                describe(f),
                describe(o)
            ),
        };
        steps.push(Step::run(what, bridge_vlan("add", dev, a, b, f)).undo(undo));
    }
    let mut gone = Vlans::new();
    for (vid, f) in have.iter().filter(|(v, _)| !want.contains(*v)) {
        gone.insert(vid, f);
    }
    for (a, b, f) in gone.runs() {
        steps.push(
            Step::run(
                format!("take {} off {dev}", ids(a, b)),
                bridge_vlan("del", dev, a, b, f),
            )
            .undo(bridge_vlan("add", dev, a, b, f)),
        );
    }
    steps
}

/// The VLANs a guest's interface asks for, and where the value came from (for messages).
#[derive(Clone, Debug)]
pub struct Asked {
    pub vlans: Vlans,
    /// The value as given (`10p/20`).
    pub value: String,
    /// `from xenstore key backend/vif/1/0/vlan`, or the argument or variable.
    pub origin: String,
}

/// The `vlan` a vif asks for: the backend's key (what xl's `vlan=` writes), else the argument or
/// environment; None when neither is set or the value is empty.
pub fn asked(
    ctx: &crate::vif::VifContext,
    inv: &crate::invocation::Invocation,
) -> Result<Option<Asked>, Error> {
    let key = crate::xenstore::join(&ctx.xp, "vlan");
    let (value, origin, what) = match ctx.key("vlan").filter(|v| !v.trim().is_empty()) {
        Some(v) => (v.to_string(), format!("from xenstore key {key}"), key),
        None => match inv.get("vlan").filter(|v| !v.trim().is_empty()) {
            Some(v) => (
                v.to_string(),
                format!("from {}", inv.origin("vlan")),
                "vlan".to_string(),
            ),
            None => return Ok(None),
        },
    };
    let vlans = parse(&what, &value).map_err(|e| Invalid(format!("{} ({origin})", e.0)))?;
    Ok(Some(Asked {
        vlans,
        value,
        origin,
    }))
}

/// vif-route and vif-nat: a guest that asks for VLANs is refused (its traffic is routed, so no
/// VLAN could keep it apart; silently routing it would give it what it asked not to have).
pub fn refuse_routed(
    ctx: &crate::vif::VifContext,
    inv: &crate::invocation::Invocation,
    script: &str,
) -> Result<(), Error> {
    match asked(ctx, inv)? {
        None => Ok(()),
        Some(a) => Err(Error::refused(format!(
            "{} asks for VLANs vlan={} ({}), but {script} routes the guest's traffic, where a \
             VLAN means nothing: put the guest on a VLAN-aware bridge (script=vif-bridge, \
             network-bridge start vlan_filtering=yes) or remove vlan= from its vif spec",
            ctx.dev, a.value, a.origin
        ))),
    }
}

/// Whether a bridge filters by VLAN, as its sysfs directory says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filtering {
    /// `vlan_filtering` is 1: ports carry the VLANs `bridge vlan` gives them.
    On,
    /// `vlan_filtering` is 0: every frame crosses whatever its tag.
    Off,
    /// No `vlan_filtering` file: this kernel was built without CONFIG_BRIDGE_VLAN_FILTERING.
    Unsupported,
}

/// `/sys/class/net/<bridge>/bridge/<file>`.
pub fn sysfs(bridge: &str, file: &str) -> std::path::PathBuf {
    crate::paths::sys_class_net()
        .join(bridge)
        .join("bridge")
        .join(file)
}

/// Does `bridge` filter by VLAN (or can this kernel not)?
pub fn filtering(bridge: &str, snap: &Snapshot) -> Result<Filtering, Error> {
    Ok(
        match snap.file(sysfs(bridge, "vlan_filtering"))?.map(str::trim) {
            None => Filtering::Unsupported,
            Some("1") => Filtering::On,
            Some(_) => Filtering::Off,
        },
    )
}

/// What a new port of `bridge` carries once enslaved: its `default_pvid` as PVID, untagged
/// (none when the bridge's default_pvid is 0).
pub fn new_port(bridge: &str, snap: &Snapshot) -> Result<Vlans, Error> {
    let pvid = snap
        .file(sysfs(bridge, "default_pvid"))?
        .and_then(|v| v.trim().parse::<u16>().ok())
        .unwrap_or(1);
    Ok(if pvid == 0 {
        Vlans::new()
    } else {
        Vlans::only_pvid(pvid)
    })
}

/// The VLANs port `dev` carries now (`bridge -j vlan show dev DEV`).
pub fn of_port(dev: &str, snap: &Snapshot) -> Result<Vlans, Error> {
    let argv: Vec<String> = ["bridge", "-j", "vlan", "show", "dev", dev]
        .map(String::from)
        .to_vec();
    let (code, out, err) = snap.command(&argv)?;
    if code != Some(0) {
        return Err(Error::Unreadable(format!(
            "cannot read the VLANs of {dev} (`bridge -j vlan show dev {dev}`: {})",
            if err.is_empty() { "failed" } else { err }
        )));
    }
    let mut all = parse_show(out).map_err(Error::Unreadable)?;
    Ok(all.remove(dev).unwrap_or_default())
}

/// Every port's VLANs from `bridge -j vlan show` (each entry `{"ifname", "vlans": [{"vlan",
/// "vlanEnd"?, "flags": ["PVID", "Egress Untagged"]?}]}`), by port name.
pub fn parse_show(json: &str) -> Result<BTreeMap<String, Vlans>, String> {
    let text = json.trim();
    if text.is_empty() {
        return Ok(BTreeMap::new());
    }
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("cannot read the output of `bridge -j vlan show`: {e}"))?;
    let mut out = BTreeMap::new();
    for entry in v.as_array().into_iter().flatten() {
        let Some(name) = entry["ifname"].as_str() else {
            continue;
        };
        let mut vlans = Vlans::new();
        for item in entry["vlans"].as_array().into_iter().flatten() {
            let Some(first) = item["vlan"].as_u64().and_then(|n| u16::try_from(n).ok()) else {
                continue;
            };
            let last = item["vlanEnd"]
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .unwrap_or(first);
            let flags: Vec<&str> = item["flags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str())
                .collect();
            let f = Flags {
                pvid: flags.contains(&"PVID"),
                untagged: flags.contains(&"Egress Untagged"),
            };
            for vid in first..=last.max(first) {
                vlans.insert(vid, f);
            }
        }
        out.insert(name.to_string(), vlans);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(v: &str) -> String {
        parse("vlan", v)
            .unwrap_or_else(|e| panic!("{v}: {e}"))
            .to_string()
    }

    fn err(v: &str) -> String {
        match parse("vlan", v) {
            Ok(x) => panic!("{v:?} parsed as {x}"),
            Err(e) => {
                assert!(e.0.starts_with(&format!("vlan={v:?}: ")), "{e}");
                e.0
            }
        }
    }

    #[test]
    fn a_single_vlan_is_the_pvid() {
        assert_eq!(ok("10"), "10p");
        assert_eq!(ok("10p"), "10p");
        assert_eq!(ok("10u"), "10p");
        assert_eq!(ok("1"), "1p");
        assert_eq!(ok("4094"), "4094p");
        // A range or a stepped range of one VLAN is one VLAN too.
        assert_eq!(ok("7-7"), "7p");
        let v = parse("vlan", "10").unwrap();
        assert_eq!(v.pvid(), Some(10));
        assert_eq!(v.get(10), Some(Flags::PVID));
    }

    #[test]
    fn the_manuals_examples() {
        assert_eq!(ok("10p/20"), "10p/20");
        // "100+10x4": 100 and four more, ten apart (the manual's example also lists 150).
        let v = parse("vlan", "10p/100+10x4").unwrap();
        let ids: Vec<u16> = v.iter().map(|(i, _)| i).collect();
        assert_eq!(ids, [10, 100, 110, 120, 130, 140]);
        assert_eq!(v.tagged(), [100, 110, 120, 130, 140]);
        // The proposed script's commit message: 1p/10-15/20-25u.
        assert_eq!(ok("1p/10-15/20-25u"), "1p/10-15/20-25u");
    }

    #[test]
    fn every_form_with_each_suffix() {
        assert_eq!(ok("5p/6/7u"), "5p/6/7u");
        assert_eq!(ok("20p/10-12"), "10-12/20p");
        assert_eq!(ok("20p/10-12u"), "10-12u/20p");
        assert_eq!(ok("1p/2+2x2"), "1p/2/4/6");
        assert_eq!(ok("1p/2+1x3u"), "1p/2-5u");
        // Order does not matter; the PVID may come last; whitespace around terms is dropped.
        assert_eq!(ok("30/ 10p "), "10p/30");
        // A VLAN next to the PVID is its own term, and so is a PVID inside a run of ids.
        assert_eq!(ok("11/10p/12"), "10p/11-12");
        let v = parse("vlan", "1-4094u/4094p").unwrap_err().0;
        assert!(v.contains("VLAN 4094 is given twice"), "{v}");
        assert_eq!(parse("vlan", "1p/2-4094").unwrap().len(), 4094);
        let v = parse("vlan", "10p/20u/30").unwrap();
        assert_eq!(v.untagged_others(), [20]);
        assert_eq!(v.tagged(), [30]);
    }

    #[test]
    fn malformed_values_name_the_term_and_the_fix() {
        assert!(err("").contains("no VLAN is given"));
        assert!(err(" ").contains("no VLAN is given"));
        assert!(err("10//20").contains("term 2 is empty"));
        assert!(err("10p/").contains("term 2 is empty"));
        assert!(err("/10").contains("term 1 is empty"));
        for bad in [
            "x", "10x", "p", "u", "10pu", "10up", "-5", "10-", "a-b", "+1x2", "10,20",
        ] {
            let e = err(bad);
            assert!(
                e.contains("is not a VLAN term") || e.contains("not a VLAN id"),
                "{bad}: {e}"
            );
        }
        assert!(err("10 20").contains("\"10 20\" is not a VLAN term"));
        assert!(err("0").contains("0 is not a VLAN id; ids go from 1 to 4094"));
        assert!(err("4095").contains("4095 is not a VLAN id"));
        assert!(err("99999999999").contains("too large"));
        assert!(err("010").contains("leading zero (010): write it without, e.g. 10"));
        assert!(err("20-10").contains("ends before it starts: write 10-20"));
        assert!(err("0-5").contains("0 is not a VLAN id"));
        assert!(err("10-20p").contains("a range cannot be the PVID"));
        assert!(err("100+10x4p").contains("a stepped range cannot be the PVID"));
        assert!(err("100+10").contains("a stepped range is N+STEPxCOUNT"));
        assert!(err("100+0x4").contains("a step of 0 repeats VLAN 100"));
        assert!(err("100+10x0").contains("a count of 0 adds no VLAN after 100"));
        assert!(err("4000+100x1").contains("reaches VLAN 4100"));
        assert!(err("10p/5-15").contains("VLAN 10 is given twice (in \"10p\" and \"5-15\")"));
        assert!(err("10p/20p").contains("two PVIDs, 10 and 20"));
        let e = err("10/20");
        assert!(
            e.contains("2 VLANs and none is the PVID") && e.contains("vlan=10p/"),
            "{e}"
        );
        assert!(err("10-12").contains("3 VLANs and none is the PVID"));
        assert!(err("10u/20u").contains("none is the PVID"));
    }

    #[test]
    fn trunk_lists() {
        assert_eq!(parse_trunk("trunk", "10").unwrap(), [10]);
        assert_eq!(
            parse_trunk("trunk", "30,10/20-22").unwrap(),
            [10, 20, 21, 22, 30]
        );
        assert_eq!(parse_trunk("trunk", "100+10x2").unwrap(), [100, 110, 120]);
        let e = parse_trunk("trunk", "10p").unwrap_err().0;
        assert!(e.contains("drop the 'p'"), "{e}");
        assert!(parse_trunk("trunk", "10u").is_err());
        assert!(parse_trunk("trunk", "5000").is_err());
        assert!(parse_trunk("trunk", "10,,20").is_err());
    }

    fn lines(steps: &[Step]) -> Vec<String> {
        steps.iter().map(|s| s.action.line()).collect()
    }

    fn undos(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| s.undo.as_ref().map(|u| u.line()).unwrap_or_default())
            .collect()
    }

    #[test]
    fn a_new_port_gets_its_vlans_and_loses_vlan_1() {
        let want = parse("vlan", "10p/20/30-32u").unwrap();
        let steps = port_steps("vif1.0", &Vlans::only_pvid(1), &want);
        assert_eq!(
            lines(&steps),
            [
                "bridge vlan add dev vif1.0 vid 10 pvid untagged",
                "bridge vlan add dev vif1.0 vid 20",
                "bridge vlan add dev vif1.0 vid 30-32 untagged",
                "bridge vlan del dev vif1.0 vid 1",
            ]
        );
        assert_eq!(
            undos(&steps),
            [
                "bridge vlan del dev vif1.0 vid 10",
                "bridge vlan del dev vif1.0 vid 20",
                "bridge vlan del dev vif1.0 vid 30-32",
                "bridge vlan add dev vif1.0 vid 1 pvid untagged",
            ]
        );
        assert_eq!(steps[0].what, "give vif1.0 VLAN 10 as its PVID, untagged");
        assert_eq!(steps[3].what, "take VLAN 1 off vif1.0");
    }

    #[test]
    fn vlan_1_asked_for_stays_and_a_state_already_right_needs_nothing() {
        let want = parse("vlan", "1p/10").unwrap();
        let steps = port_steps("vif1.0", &Vlans::only_pvid(1), &want);
        assert_eq!(lines(&steps), ["bridge vlan add dev vif1.0 vid 10"]);
        // VLAN 1 asked for as tagged: changed in place, undone to what it was.
        let want = parse("vlan", "10p/1").unwrap();
        let steps = port_steps("vif1.0", &Vlans::only_pvid(1), &want);
        assert_eq!(
            lines(&steps),
            [
                "bridge vlan add dev vif1.0 vid 10 pvid untagged",
                "bridge vlan add dev vif1.0 vid 1"
            ]
        );
        assert_eq!(
            undos(&steps)[1],
            "bridge vlan add dev vif1.0 vid 1 pvid untagged"
        );
        assert!(port_steps("vif1.0", &want, &want).is_empty());
        // A bridge without a default PVID gives a new port nothing to remove.
        let steps = port_steps("vif1.0", &Vlans::new(), &parse("vlan", "10").unwrap());
        assert_eq!(
            lines(&steps),
            ["bridge vlan add dev vif1.0 vid 10 pvid untagged"]
        );
    }

    #[test]
    fn bridge_vlan_show_is_read_with_ranges_and_flags() {
        let json = r#"[{"ifname":"xenbr0","vlans":[{"vlan":1,"flags":["PVID","Egress Untagged"]}]},
            {"ifname":"vif1.0","vlans":[{"vlan":10,"flags":["PVID","Egress Untagged"]},
            {"vlan":20,"flags":[]},{"vlan":30,"vlanEnd":32,"flags":["Egress Untagged"]},{"vlan":40}]}]"#;
        let m = parse_show(json).unwrap();
        assert_eq!(m["xenbr0"].to_string(), "1p");
        assert_eq!(m["vif1.0"].to_string(), "10p/20/30-32u/40");
        assert!(parse_show("").unwrap().is_empty());
        assert!(parse_show("[]").unwrap().is_empty());
        assert!(parse_show("{").is_err());
        let mut odd = Vlans::new();
        odd.insert(
            5,
            Flags {
                pvid: true,
                untagged: false,
            },
        );
        assert_eq!(odd.to_string(), "5p(tagged)");
        assert_eq!(Vlans::new().to_string(), "none");
    }
}
