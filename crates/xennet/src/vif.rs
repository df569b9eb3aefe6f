//! The front end every vif script shares (spec §3, `vif-common.sh`): the command and `type_if`
//! checks, the required variables, the backend path, `vifname` renames and the `ip` list, all
//! validated before anything on the host is touched.

use crate::error::{Error, Result};
use crate::invocation::Invocation;
use crate::setting::{Setting, Source};
use crate::snapshot::Snapshot;
use crate::state::Link;
use crate::validate::{self, Invalid};
use crate::xenstore::XenStore;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Online,
    Offline,
    Add,
    Remove,
}

impl Command {
    pub fn word(self) -> &'static str {
        match self {
            Command::Online => "online",
            Command::Offline => "offline",
            Command::Add => "add",
            Command::Remove => "remove",
        }
    }

    /// online and add set a device up; offline and remove take it down.
    pub fn is_up(self) -> bool {
        matches!(self, Command::Online | Command::Add)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeIf {
    Vif,
    Tap,
}

impl TypeIf {
    pub fn word(self) -> &'static str {
        match self {
            TypeIf::Vif => "vif",
            TypeIf::Tap => "tap",
        }
    }
}

/// Everything the front end learned; the mode scripts plan from it.
#[derive(Clone, Debug)]
pub struct VifContext {
    pub command: Command,
    pub type_if: TypeIf,
    /// `XENBUS_PATH` as the script uses it (VC-06 for taps).
    pub xp: String,
    /// The kernel's name for the device: `vifD.N` or `vifD.N-emu`.
    pub kernel_name: String,
    /// The device the script works on, after any `vifname` (VC-08).
    pub dev: String,
    pub vifname: String,
    /// The guest's addresses (VC-10), validated.
    pub ips: Vec<String>,
    pub domid: String,
    pub devid: String,
    /// The backend directory's keys, read in one round (XS-02: a missing key is absent here).
    pub keys: BTreeMap<String, String>,
}

/// What the front end found: a vif to plan for, or nothing to do (VC-03: this pairing of
/// command and type is not this script's; exit 0).
pub type Front = crate::error::Outcome<VifContext>;

/// Why the front end stopped. `xp` is set when the backend path is known, so hotplug-error can
/// be written there.
#[derive(Debug)]
pub struct Stop {
    pub xp: Option<String>,
    pub error: Error,
}

fn err(xp: Option<&str>, msg: impl Into<String>) -> Stop {
    Stop {
        xp: xp.map(str::to_string),
        error: Error::Invalid(Invalid(msg.into())),
    }
}

/// `domid` and `devid` from a backend path `…/backend/vif/<domid>/<devid>`.
fn ids_from_xp(xp: &str) -> Option<(String, String)> {
    let mut parts = xp.trim_end_matches('/').rsplit('/');
    let devid = parts.next()?;
    let domid = parts.next()?;
    (devid.parse::<u32>().is_ok() && domid.parse::<u32>().is_ok())
        .then(|| (domid.to_string(), devid.to_string()))
}

/// Is the path `backend/vif/<d>/<n>`, relative or under `/local/domain/<id>/`?
fn in_backend_tree(xp: &str) -> bool {
    let parts: Vec<&str> = xp.trim_end_matches('/').split('/').collect();
    let tail_ok = |t: &[&str]| t.len() == 4 && t[0] == "backend" && t[1] == "vif";
    match parts.as_slice() {
        t if tail_ok(t) => true,
        ["", "local", "domain", id, rest @ ..] => id.parse::<u32>().is_ok() && tail_ok(rest),
        _ => false,
    }
}

/// `domid` and `devid` from `vif<domid>.<devid>[-emu]` (VC-06).
fn ids_from_name(name: &str) -> Option<(String, String)> {
    let core = name.strip_prefix("vif")?;
    let core = core.strip_suffix("-emu").unwrap_or(core);
    let (d, n) = core.split_once('.')?;
    (d.parse::<u32>().is_ok() && n.parse::<u32>().is_ok()).then(|| (d.to_string(), n.to_string()))
}

/// The backend keys the vif scripts read (VC-*, VB-*, VN-*, VO-*, MTU-01): read in one round.
pub const BACKEND_KEYS: &[&str] = &[
    "vifname",
    "ip",
    "bridge",
    "mtu",
    "mac",
    "frontend-id",
    "handle",
    "vlan",
];

/// A backend key, or `default` only when the key is missing (XS-02).
fn key_or(keys: &BTreeMap<String, String>, key: &str, default: &str) -> String {
    keys.get(key)
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

/// Runs the checks of §3 in their order and reads the backend keys every vif script needs; each
/// key the script reads is checked like the same setting given as an argument (issue 15: a
/// malformed value is refused wherever it comes from).
pub fn front_end(
    inv: &Invocation,
    settings: &[Setting],
    xs: &dyn XenStore,
) -> std::result::Result<Front, Stop> {
    let xp_env = inv.get("XENBUS_PATH").filter(|x| !x.is_empty());
    // VC-01 (the issue asks for hotplug-error here too, when the backend path is known).
    let command = match inv.command.as_deref() {
        Some("online") => Command::Online,
        Some("offline") => Command::Offline,
        Some("add") => Command::Add,
        Some("remove") => Command::Remove,
        other => {
            return Err(err(
                xp_env,
                format!(
                    "Invalid command: {} (valid commands are online, offline, add and remove)",
                    other.unwrap_or("")
                ),
            ))
        }
    };
    // VC-02
    let type_if = match inv.get("type_if").unwrap_or("vif") {
        "vif" | "" => TypeIf::Vif,
        "tap" => TypeIf::Tap,
        other => {
            return Err(err(
                xp_env,
                format!("unknown interface type {other} (type_if must be vif or tap)"),
            ))
        }
    };
    // VC-03
    let pairs_with = match command {
        Command::Online | Command::Offline => TypeIf::Vif,
        Command::Add | Command::Remove => TypeIf::Tap,
    };
    if type_if != pairs_with {
        return Ok(Front::Nothing(format!(
            "{} with type_if={}: nothing to do",
            command.word(),
            type_if.word()
        )));
    }

    // VC-05, VC-06
    let (xp, kernel_name) = match type_if {
        TypeIf::Vif => {
            let Some(xp) = xp_env else {
                return Err(err(
                    None,
                    "XENBUS_PATH is not set: the toolstack sets it to the backend path, e.g. \
                     XENBUS_PATH=backend/vif/1/0; set it when running the script by hand",
                ));
            };
            let vif = inv.value("vif");
            if vif.is_empty() {
                return Err(err(
                    Some(xp),
                    "vif is not set: the toolstack sets it to the backend interface, e.g. vif=vif1.0",
                ));
            }
            (xp.to_string(), vif.to_string())
        }
        TypeIf::Tap => {
            let iface = inv.value("INTERFACE");
            if iface.is_empty() {
                return Err(err(
                    xp_env,
                    "INTERFACE is not set: for type_if=tap it names the tap device, e.g. INTERFACE=vif1.0-emu",
                ));
            }
            let Some((d, n)) = ids_from_name(iface) else {
                return Err(err(
                    xp_env,
                    format!(
                        "INTERFACE={iface:?} is not a tap name of the form vif<domid>.<devid>-emu"
                    ),
                ));
            };
            (
                format!("/local/domain/0/backend/vif/{d}/{n}"),
                iface.to_string(),
            )
        }
    };
    let what = if type_if == TypeIf::Vif {
        "vif"
    } else {
        "INTERFACE"
    };
    // The backend path must be a vif backend directory: hotplug-error goes there, and a path
    // elsewhere (a guest's own tree, `..`) would write where no backend looks.
    let Some((domid, devid)) = ids_from_xp(&xp).filter(|_| in_backend_tree(&xp)) else {
        return Err(err(
            None,
            format!(
                "XENBUS_PATH={xp:?} is not a vif backend path: it must be backend/vif/<domid>/<devid> \
                 (or /local/domain/<backend>/backend/vif/<domid>/<devid>)"
            ),
        ));
    };
    validate::ifname(what, &kernel_name).map_err(|e| err(Some(&xp), e.0))?;
    // netback names a backend vif<domid>.<devid> (and QEMU its tap …-emu): a `vif` naming any other
    // link (dom0's own NIC, say) must not be enslaved or taken down.
    let expected = match type_if {
        TypeIf::Vif => format!("vif{domid}.{devid}"),
        TypeIf::Tap => format!("vif{domid}.{devid}-emu"),
    };
    if kernel_name != expected {
        return Err(err(
            Some(&xp),
            format!(
                "{what}={kernel_name:?} is not the backend interface of {xp} (expected {expected}): \
                 the toolstack names it vif<domid>.<devid>"
            ),
        ));
    }

    // Every backend key this run needs, in one xenstore round.
    let keys = xs
        .read_dir(&xp, BACKEND_KEYS)
        .map_err(|e| err(Some(&xp), e.to_string()))?
        .unwrap_or_default();
    for setting in settings {
        let from_xenstore = matches!(setting.from, Source::Xenstore | Source::XenstoreFirst);
        let (Some(check), true) = (setting.check, from_xenstore) else {
            continue;
        };
        if let Some(v) = keys.get(setting.name).filter(|v| !v.is_empty()) {
            let key = crate::xenstore::join(&xp, setting.name);
            check(setting.name, v)
                .map_err(|e| err(Some(&xp), format!("{} (from xenstore key {key})", e.0)))?;
        }
    }

    // VC-07, VC-08
    let vifname = key_or(&keys, "vifname", "");
    let dev = if vifname.is_empty() {
        kernel_name.clone()
    } else {
        validate::ifname("vifname", &vifname).map_err(|e| err(Some(&xp), e.0))?;
        match type_if {
            TypeIf::Vif => vifname.clone(),
            TypeIf::Tap => {
                let tap = format!("{vifname}-emu");
                if tap.len() > 15 {
                    return Err(err(
                        Some(&xp),
                        format!(
                            "vifname={vifname:?} is too long for its tap twin {tap:?} ({} bytes; Linux allows 15): use a vifname of at most 11 characters",
                            tap.len()
                        ),
                    ));
                }
                tap
            }
        }
    };
    // VC-10
    let ip_default = inv.value("ip");
    let ip_value = key_or(&keys, "ip", ip_default);
    let ips = validate::ip_list("ip", &ip_value).map_err(|e| err(Some(&xp), e.0))?;

    Ok(Front::Plan(VifContext {
        command,
        type_if,
        xp,
        kernel_name,
        dev,
        vifname,
        ips,
        domid,
        devid,
        keys,
    }))
}

/// What `offline`/`remove` find of the device.
pub enum Found<'a> {
    Ours(&'a Link),
    Gone,
    /// A link of that name that belongs to another vif: nothing of it may be touched.
    NotOurs(&'a Link),
}

/// online/add: the link to configure, and whether it is renamed first (VC-07).
pub struct Configure<'a> {
    /// Still under its kernel name when a rename is due.
    pub link: &'a Link,
    pub rename: bool,
}

impl VifContext {
    /// The vif's interface index: the kernel's device before a rename, else the renamed one.
    pub fn ifindex(&self, snap: &Snapshot) -> Result<Option<u32>> {
        Ok(match snap.link(&self.kernel_name)? {
            Some(l) => Some(l.ifindex),
            None => snap.link(&self.dev)?.map(|l| l.ifindex),
        })
    }

    /// A rename is due (VC-07) when a `vifname` differs from the kernel's name and the link still
    /// has the kernel's name; the new name must be free.
    fn rename_due(&self, snap: &Snapshot) -> Result<bool> {
        let rename = self.dev != self.kernel_name
            && self.command.is_up()
            && snap.exists(&self.kernel_name)?;
        if rename && snap.exists(&self.dev)? {
            return Err(Error::refused(format!(
                "Cannot rename interface {}. An interface with name {} already exists.",
                self.kernel_name, self.dev
            )));
        }
        Ok(rename)
    }

    /// online/add: the link to configure, checked to exist and to be this vif's.
    pub fn configure<'s>(&self, snap: &'s Snapshot) -> Result<Configure<'s>> {
        let rename = self.rename_due(snap)?;
        let name = if rename { &self.kernel_name } else { &self.dev };
        let Some(link) = snap.link(name)? else {
            return Err(Error::refused(format!(
                "{name} does not exist: the backend has not created it yet (is xen-netback \
                 loaded, and has the backend reached InitWait?), or the guest is gone"
            )));
        };
        if !self.owns(link) {
            return Err(Error::refused(format!(
                "{} belongs to {}, not to {}: choose another vifname",
                self.dev, link.alias, self.kernel_name
            )));
        }
        Ok(Configure { link, rename })
    }

    /// offline/remove: the device, if it is still there and this vif's.
    pub fn link_to_release<'s>(&self, snap: &'s Snapshot) -> Result<Found<'s>> {
        let Some(l) = snap.link(&self.dev)? else {
            return Ok(Found::Gone);
        };
        // Our vif never got its vifname (the rename was refused, KP-16): a link of that name
        // without an alias is another guest's, renamed by the original scripts.
        if self.dev != self.kernel_name && l.alias.is_empty() && snap.exists(&self.kernel_name)? {
            return Ok(Found::NotOurs(l));
        }
        Ok(if self.owns(l) {
            Found::Ours(l)
        } else {
            Found::NotOurs(l)
        })
    }

    /// The warning for a link of our vifname that is another guest's: left alone.
    pub fn not_ours(&self, link: &Link) -> String {
        let owner = if link.alias.is_empty() {
            "another guest".to_string()
        } else {
            link.alias.clone()
        };
        format!(
            "{} belongs to {owner}, not to {}: left alone",
            link.name, self.kernel_name
        )
    }

    /// Is `dev` the link this vif owns? A renamed link carries its kernel name as its alias; a
    /// link that claims another vif (e.g. another guest's duplicate `vifname`) is not ours.
    pub fn owns(&self, link: &Link) -> bool {
        link.name == self.kernel_name || link.alias.is_empty() || link.alias == self.kernel_name
    }

    /// The rename step (VC-07): the link must be down, and it keeps its kernel name as alias.
    pub fn rename_steps(&self, link: &Link) -> Vec<crate::plan::Step> {
        use crate::exec::ip;
        use crate::plan::Step;
        let mut steps = Vec::new();
        if link.up {
            steps.push(crate::bridge::link_down(&self.kernel_name));
        }
        steps.push(
            Step::run(
                format!("ip link set {} name {}", self.kernel_name, self.dev),
                ip([
                    "link",
                    "set",
                    "dev",
                    &self.kernel_name,
                    "name",
                    &self.dev,
                    "alias",
                    &self.kernel_name,
                ]),
            )
            .undo(ip([
                "link",
                "set",
                "dev",
                &self.dev,
                "name",
                &self.kernel_name,
            ])),
        );
        steps
    }

    /// A backend key, or `default` only when the key is missing (XS-02).
    pub fn key_or(&self, key: &str, default: &str) -> String {
        key_or(&self.keys, key, default)
    }

    /// A backend key as xenstore holds it; None when missing.
    pub fn key(&self, key: &str) -> Option<&str> {
        self.keys.get(key).map(String::as_str)
    }

    /// The variables hooks see (HK-02).
    pub fn hook_vars<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut v = vec![
            ("command", self.command.word()),
            ("dev", self.dev.as_str()),
            ("vif", self.kernel_name.as_str()),
            ("vifname", self.vifname.as_str()),
            ("type_if", self.type_if.word()),
            ("XENBUS_PATH", self.xp.as_str()),
        ];
        v.extend_from_slice(extra);
        v
    }

    /// The frontend's MTU key (MTU-01), from the backend path's ids (MTU-03 FIX).
    pub fn frontend_mtu_path(&self) -> Option<String> {
        (!self.domid.is_empty())
            .then(|| format!("/local/domain/{}/device/vif/{}/mtu", self.domid, self.devid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn inv(args: &[&str], env: &[(&str, &str)]) -> Invocation {
        let argv = std::iter::once("vif-bridge")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let known = crate::scripts::find("vif-bridge").unwrap().known_names();
        Invocation::parse(argv, env, &known).unwrap()
    }

    fn front(inv: &Invocation, xs: &dyn XenStore) -> std::result::Result<Front, Stop> {
        front_end(
            inv,
            crate::scripts::find("vif-bridge").unwrap().settings,
            xs,
        )
    }

    fn run(r: std::result::Result<Front, Stop>) -> VifContext {
        match r {
            Ok(Front::Plan(ctx)) => ctx,
            other => panic!("expected a context, got {other:?}"),
        }
    }

    fn msg(r: std::result::Result<Front, Stop>) -> (Option<String>, String) {
        match r {
            Err(Stop { xp, error }) => (xp, error.to_string()),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn backend_paths() {
        assert!(in_backend_tree("backend/vif/1/0"));
        assert!(in_backend_tree("/local/domain/0/backend/vif/12/3"));
        assert!(!in_backend_tree("/local/domain/1/device/vif/0"));
        assert!(!in_backend_tree("backend/vif/../../x/1/0"));
        assert!(!in_backend_tree("/local/domain/0/backend/vbd/1/0"));
    }

    #[test]
    fn ids() {
        assert_eq!(
            ids_from_xp("backend/vif/5/0"),
            Some(("5".into(), "0".into()))
        );
        assert_eq!(ids_from_name("vif7.1-emu"), Some(("7".into(), "1".into())));
        assert_eq!(ids_from_name("web0"), None);
    }

    #[test]
    fn command_and_type_checks() {
        let xs = crate::xenstore::Memory::default();
        let env = [("XENBUS_PATH", "backend/vif/1/0"), ("vif", "vif1.0")];
        let (xp, m) = msg(front(&inv(&["frob"], &env), &xs));
        assert_eq!(xp.as_deref(), Some("backend/vif/1/0"));
        assert!(m.starts_with("Invalid command: frob"));
        let (_, m) = msg(front(&inv(&["online", "type_if=xyz"], &env), &xs));
        assert!(m.starts_with("unknown interface type xyz"));
        // VC-03: udev-style add for a PV vif, online for a tap: nothing to do.
        assert!(matches!(
            front(&inv(&["add"], &env), &xs),
            Ok(Front::Nothing(_))
        ));
        assert!(matches!(
            front(&inv(&["online", "type_if=tap"], &env), &xs),
            Ok(Front::Nothing(_))
        ));
    }

    #[test]
    fn required_variables() {
        let xs = crate::xenstore::Memory::default();
        let (xp, m) = msg(front(&inv(&["online"], &[("vif", "vif1.0")]), &xs));
        assert!(xp.is_none() && m.contains("XENBUS_PATH"));
        let (xp, m) = msg(front(
            &inv(&["online"], &[("XENBUS_PATH", "backend/vif/1/0")]),
            &xs,
        ));
        assert!(xp.is_some() && m.contains("vif is not set"));
    }

    #[test]
    fn tap_backend_path_comes_from_the_name() {
        // VC-06: the environment's XENBUS_PATH is ignored for taps.
        let xs = crate::xenstore::Memory::default();
        let ctx = run(front(
            &inv(
                &["add", "type_if=tap"],
                &[
                    ("INTERFACE", "vif3.1-emu"),
                    ("XENBUS_PATH", "backend/vif/9/9"),
                ],
            ),
            &xs,
        ));
        assert_eq!(ctx.xp, "/local/domain/0/backend/vif/3/1");
        assert_eq!(ctx.dev, "vif3.1-emu");
    }

    #[test]
    fn xenstore_overrides_arguments_and_values_are_checked() {
        let xs = crate::xenstore::Memory::default();
        xs.write(&[("backend/vif/1/0/ip", "192.0.2.51")]).unwrap();
        let env = [("XENBUS_PATH", "backend/vif/1/0"), ("vif", "vif1.0")];
        let ctx = run(front(&inv(&["online", "ip=10.0.0.1"], &env), &xs));
        assert_eq!(ctx.ips, vec!["192.0.2.51"]);
        assert_eq!(
            ctx.frontend_mtu_path().unwrap(),
            "/local/domain/1/device/vif/0/mtu"
        );
        xs.write(&[("backend/vif/1/0/ip", "192.0.2.999")]).unwrap();
        let (_, m) = msg(front(&inv(&["online"], &env), &xs));
        assert!(m.contains("192.0.2.999"), "{m}");
        xs.write(&[
            ("backend/vif/1/0/ip", ""),
            ("backend/vif/1/0/vifname", "averyveryverylongname"),
        ])
        .unwrap();
        let (_, m) = msg(front(&inv(&["online"], &env), &xs));
        assert!(m.contains("averyveryverylongname"), "{m}");
    }
}
