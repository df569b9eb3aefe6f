//! Boot-time integration (issue 16): with `xl` nothing runs `network-bridge start` at boot (xend
//! did), so a systemd unit runs `xennet boot start` before the guests start and `xennet boot stop`
//! at shutdown. What it runs comes from `/etc/xen/xen-netscripts.conf`: `mode=bridge|nat|route|none`
//! names the script, and the file's other `name=value` lines that the script takes are its
//! settings (`netdev=`, `bridge=`, `layout=`, `firewall=` …). Lines for the vif scripts only are
//! left to them.

use crate::scripts::{self, Script};
use crate::validate::Invalid;

/// What `xennet boot` runs: the script and its arguments after the command word.
pub struct Boot {
    pub script: &'static Script,
    pub settings: Vec<String>,
}

/// The modes of the config file and the scripts they run.
pub const MODES: &[(&str, Option<&str>)] = &[
    ("bridge", Some("network-bridge")),
    ("nat", Some("network-nat")),
    ("route", Some("network-route")),
    ("none", None),
];

/// Settings a boot never passes on: `confirm=` would wait for someone at a console.
const NOT_AT_BOOT: &[&str] = &["confirm"];

/// What to run for the config file's text (`mode=` absent or `none`: nothing), or why the file
/// is wrong.
pub fn plan(conf_text: &str, conf_name: &str) -> Result<Option<Boot>, Invalid> {
    let mode = crate::conf::lookup(conf_text, "mode").unwrap_or_default();
    let script = match MODES.iter().find(|(m, _)| *m == mode) {
        Some((_, Some(name))) => scripts::find(name).expect("the modes name registry scripts"),
        Some((_, None)) => return Ok(None),
        None if mode.is_empty() => return Ok(None),
        None => {
            return Err(Invalid(format!(
                "mode={mode:?} in {conf_name} is not a mode: use bridge, nat, route or none"
            )))
        }
    };
    let mut settings = Vec::new();
    for s in script.settings {
        if NOT_AT_BOOT.contains(&s.name) {
            continue;
        }
        if let Some(v) = crate::conf::lookup(conf_text, s.name).filter(|v| !v.is_empty()) {
            if let Some(check) = s.check {
                check(s.name, &v).map_err(|e| Invalid(format!("{} ({conf_name})", e.0)))?;
            }
            settings.push(format!("{}={v}", s.name));
        }
    }
    Ok(Some(Boot { script, settings }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_names_the_script_and_its_settings_come_along() {
        let text = "# the host's network\nmode=bridge\nnetdev=enp0s3\nlayout=xenbr\n\
                    antispoof=no\nconfirm=60\nip=192.0.2.5\nfirewall=nftables\n";
        let b = plan(text, "xen-netscripts.conf").unwrap().unwrap();
        assert_eq!(b.script.name, "network-bridge");
        // confirm= is never passed at boot; ip= is a vif script's, not network-bridge's.
        assert_eq!(
            b.settings,
            [
                "netdev=enp0s3",
                "layout=xenbr",
                "antispoof=no",
                "firewall=nftables"
            ]
        );
        let nat = plan("mode=nat\ndhcp=no\n", "c").unwrap().unwrap();
        assert_eq!(
            (nat.script.name, nat.settings),
            ("network-nat", vec!["dhcp=no".to_string()])
        );
        assert_eq!(
            plan("mode=route\n", "c").unwrap().unwrap().script.name,
            "network-route"
        );
    }

    #[test]
    fn no_mode_or_none_does_nothing_and_a_bad_one_is_refused() {
        assert!(plan("netdev=eth0\n", "c").unwrap().is_none());
        assert!(plan("mode=none\n", "c").unwrap().is_none());
        let e = plan("mode=bridged\n", "/etc/xen/xen-netscripts.conf")
            .err()
            .unwrap()
            .0;
        assert!(
            e.contains("\"bridged\"") && e.contains("/etc/xen/xen-netscripts.conf"),
            "{e}"
        );
        let e = plan("mode=bridge\nvifnum=x\n", "c").err().unwrap().0;
        assert!(e.contains("vifnum=\"x\"") && e.contains("(c)"), "{e}");
    }
}
