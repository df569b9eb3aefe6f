//! The one registry of the scripts: each script's name, command words, the settings it reads
//! (with where from and their help) and its planner. It drives dispatch (which planner a name
//! runs), the names the grammar takes from the environment, `--help`, the man pages and shell
//! completions, `xennet doctor` and `xennet install`.

use crate::modes::{self, HostPlanner, HostStatus, VifPlanner};
pub use crate::setting::{Setting, Source};
use crate::validate::{self as v, Check};

pub struct Word {
    pub word: &'static str,
    pub help: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `vif-*`: run by the toolstack once per guest interface.
    Vif,
    /// `network-*`: run by an administrator or a boot unit, once per host.
    Network,
}

/// What running the script means: a vif script's planner, or a host script's planner and status.
#[derive(Clone, Copy)]
pub enum Run {
    Vif(VifPlanner),
    Host {
        plan: HostPlanner,
        status: HostStatus,
    },
}

pub struct Script {
    pub name: &'static str,
    pub kind: Kind,
    pub about: &'static str,
    pub description: &'static str,
    pub words: &'static [Word],
    pub settings: &'static [Setting],
    pub run: Run,
}

const fn s(name: &'static str, from: Source, help: &'static str) -> Setting {
    Setting {
        name,
        from,
        help,
        check: None,
    }
}

/// A setting whose values are checked by `check`.
const fn c(name: &'static str, from: Source, check: Check, help: &'static str) -> Setting {
    Setting {
        name,
        from,
        help,
        check: Some(check),
    }
}

const VIF: Setting = c(
    "vif",
    Source::Args,
    v::ifname,
    "The backend interface the kernel made, vif<domid>.<devid>; the toolstack sets it for \
     online/offline.",
);
const XENBUS_PATH: Setting = s(
    "XENBUS_PATH",
    Source::Args,
    "The backend's xenstore directory, backend/vif/<domid>/<devid>; the toolstack sets it. \
     hotplug-status and hotplug-error are written there.",
);
const XENBUS_TYPE: Setting = s("XENBUS_TYPE", Source::Unused, "The device type, vif.");
const XENBUS_BASE_PATH: Setting = s(
    "XENBUS_BASE_PATH",
    Source::Unused,
    "The base of the backend path.",
);
const INTERFACE: Setting = c(
    "INTERFACE",
    Source::Args,
    v::ifname,
    "The tap device of an HVM guest's emulated NIC, vif<domid>.<devid>-emu, for add/remove.",
);
const TYPE_IF: Setting = c(
    "type_if",
    Source::Args,
    v::type_if,
    "vif (the default: online/offline act) or tap (add/remove act); any other pairing of \
     command and type does nothing and succeeds.",
);
const SCRIPT: Setting = s(
    "script",
    Source::Unused,
    "The script's name as the guest's configuration gives it.",
);
const IP: Setting = c(
    "ip",
    Source::XenstoreFirst,
    v::check_ip_list,
    "The guest's addresses, separated by spaces (address or address/prefix).",
);
const VIFNAME: Setting = c(
    "vifname",
    Source::Xenstore,
    v::ifname,
    "A name for the interface: the kernel's vifD.N is renamed to it (a tap to <vifname>-emu).",
);
const FIREWALL: Setting = c(
    "firewall",
    Source::Args,
    crate::firewall::check_setting,
    "auto (the default: iptables when installed, else nftables, else none with a warning), \
     iptables (the originals' FORWARD rules for the guest), nftables (a chain of the guest's in \
     table xen_netscripts) or none (no rules, as Debian's packaging). Also read from \
     /etc/xen/xen-netscripts.conf (XENNET_CONF), below the argument and environment.",
);
const ANTISPOOF_VIF: Setting = c(
    "antispoof",
    Source::Args,
    v::check_yes_no,
    "yes or no (default): with firewall=nftables, drop what the guest sends from an address \
     not in ip= (and, on a bridge, from a MAC not its own). Also read from \
     /etc/xen/xen-netscripts.conf.",
);
const MAC: Setting = c(
    "mac",
    Source::XenstoreFirst,
    v::mac,
    "The guest's MAC, checked to be unicast (see xennet mac check).",
);
const VLAN: Setting = c(
    "vlan",
    Source::XenstoreFirst,
    crate::vlan::check,
    "The guest's VLANs, as xl's vlan= writes them (Xen 4.19+): terms separated by /, each N, \
     Np (the PVID), Nu (untagged), N-M[u] or N+STEPxCOUNT[u]; one VLAN alone is the PVID. The \
     bridge must be VLAN-aware (network-bridge start vlan_filtering=yes): the port gets exactly \
     these VLANs (VLAN 1 only if listed); on a bridge that is not, the guest is refused, never \
     attached untagged.",
);
const VLAN_ROUTED: Setting = c(
    "vlan",
    Source::XenstoreFirst,
    crate::vlan::check,
    "xl's vlan= has no meaning for a routed guest: a vif with it is refused (use \
     script=vif-bridge on a VLAN-aware bridge).",
);
const NETDEV_HOST: Setting = c(
    "netdev",
    Source::Args,
    v::ifname,
    "The uplink; default: the device of the default route.",
);
const NETDEV_ROUTED: Setting = c(
    "netdev",
    Source::Args,
    v::ifname,
    "The uplink; default: eth0 when it exists, else the device of the default route.",
);
const VIFNUM: Setting = c(
    "vifnum",
    Source::Args,
    v::check_number,
    "Accepted for compatibility (a number); not used.",
);
const CONFIRM: Setting = c(
    "confirm",
    Source::Args,
    v::check_confirm,
    "With start: keep the change only if `<script> confirm` is run within this many seconds \
     (1-3600), else roll it back by itself.",
);
const FIREWALL_HOST: Setting = c(
    "firewall",
    Source::Args,
    crate::firewall::check_setting,
    "auto (the default: iptables when installed, else nftables), iptables, nftables or none: \
     where this script's rules go (network-nat's masquerading, network-bridge's antispoof=yes). \
     Also read from /etc/xen/xen-netscripts.conf.",
);

const VIF_WORDS: &[Word] = &[
    Word {
        word: "online",
        help: "A PV guest's vif appeared: set it up and report hotplug-status connected.",
    },
    Word {
        word: "offline",
        help: "The vif is going away: remove what online added.",
    },
    Word {
        word: "add",
        help: "With type_if=tap: set up an HVM guest's emulated NIC (vifD.N-emu).",
    },
    Word {
        word: "remove",
        help: "With type_if=tap: remove what add added.",
    },
];

const NETWORK_WORDS: &[Word] = &[
    Word {
        word: "start",
        help: "Set the host up for this network mode (planned, journalled, rolled back on \
               failure).",
    },
    Word {
        word: "stop",
        help: "Undo what start did.",
    },
    Word {
        word: "status",
        help: "Report the state; exit 0 when the mode is set up, 1 when not.",
    },
    Word {
        word: "confirm",
        help: "Keep the change of a `start confirm=SECONDS` that is waiting.",
    },
];

pub static SCRIPTS: [Script; 7] = [
    Script {
        name: "vif-bridge",
        kind: Kind::Vif,
        about: "Connect a Xen guest's network interface to a bridge",
        description: "Run by the toolstack (libxl) for every guest interface in bridged mode. \
            online (and add for a tap) makes the backend interface a port of the bridge, with the \
            MTU from xenstore or the bridge and the MAC fe:ff:ff:ff:ff:ff, adds the guest's \
            FORWARD rules, runs the vif-post.d hooks and writes hotplug-status connected; offline \
            (remove) undoes it. A drop-in replacement for Xen's shell script of the same name.",
        words: VIF_WORDS,
        settings: &[
            VIF,
            XENBUS_PATH,
            XENBUS_TYPE,
            XENBUS_BASE_PATH,
            INTERFACE,
            TYPE_IF,
            SCRIPT,
            c(
                "bridge",
                Source::XenstoreFirst,
                v::ifname,
                "The bridge to join; default: the first bridge on the host. An old xenbrN \
                 becomes ethN when only that exists.",
            ),
            IP,
            VIFNAME,
            c(
                "mtu",
                Source::Xenstore,
                v::check_mtu,
                "The interface's MTU; default: the bridge's. Written to the frontend too.",
            ),
            MAC,
            VLAN,
            FIREWALL,
            ANTISPOOF_VIF,
        ],
        run: Run::Vif(modes::vif_bridge::plan),
    },
    Script {
        name: "vif-openvswitch",
        kind: Kind::Vif,
        about: "Connect a Xen guest's network interface to an Open vSwitch bridge",
        description: "Run by the toolstack for every guest interface on Open vSwitch. online \
            (and add for a tap) makes the backend interface a port of the bridge in one ovs-vsctl \
            transaction, with an access VLAN and trunks from bridge=NAME[.VLAN][:TRUNK1:TRUNK2...], \
            the guest's name, uuid and MAC as external-ids, the MTU from xenstore or the bridge, \
            and writes hotplug-status connected; offline (remove) deletes exactly that port. A \
            drop-in replacement for Xen's shell script of the same name.",
        words: VIF_WORDS,
        settings: &[
            VIF,
            XENBUS_PATH,
            XENBUS_TYPE,
            XENBUS_BASE_PATH,
            INTERFACE,
            TYPE_IF,
            SCRIPT,
            c(
                "bridge",
                Source::XenstoreFirst,
                modes::vif_openvswitch::check_bridge,
                "NAME[.VLAN][:TRUNK1:TRUNK2...]: the Open vSwitch bridge, the access VLAN tag and \
                 the trunk VLANs of the port.",
            ),
            IP,
            VIFNAME,
            c(
                "mtu",
                Source::Xenstore,
                v::check_mtu,
                "The interface's MTU; default: the bridge's. Written to the frontend too.",
            ),
            MAC,
            c(
                "vlan",
                Source::XenstoreFirst,
                crate::vlan::check,
                "The guest's VLANs, as xl's vlan= writes them (see vif-bridge): the PVID becomes \
                 the port's tag=, the tagged VLANs its trunks= (vlan_mode=native-untagged). \
                 Open vSwitch leaves only the PVID untagged, so other untagged VLANs are \
                 refused, and so is a bridge=NAME.VLAN:TRUNKS that says otherwise.",
            ),
            FIREWALL,
            ANTISPOOF_VIF,
        ],
        run: Run::Vif(modes::vif_openvswitch::plan),
    },
    Script {
        name: "vif-nat",
        kind: Kind::Vif,
        about: "Route a Xen guest's network interface through dom0 with NAT",
        description: "Run by the toolstack for every guest interface in NAT mode: gives the vif \
            the router address (the guest's last octet + 127) as a /32, a host route and proxy \
            ARP, and with dhcp=yes the guest's host entry in dhcpd's configuration. offline \
            removes exactly that. Pairs with network-nat. A drop-in replacement for Xen's shell \
            script of the same name.",
        words: VIF_WORDS,
        settings: &[
            VIF,
            XENBUS_PATH,
            XENBUS_TYPE,
            XENBUS_BASE_PATH,
            INTERFACE,
            TYPE_IF,
            SCRIPT,
            IP,
            VIFNAME,
            c(
                "mac",
                Source::Xenstore,
                v::mac,
                "The guest's MAC, for its dhcpd host entry.",
            ),
            s(
                "dhcp",
                Source::Args,
                "yes or no: keep a host entry for the guest in dhcpd's configuration; default: \
                 yes when /etc/dhcpd.conf exists.",
            ),
            VLAN_ROUTED,
            FIREWALL,
            ANTISPOOF_VIF,
        ],
        run: Run::Vif(modes::vif_nat::plan),
    },
    Script {
        name: "vif-route",
        kind: Kind::Vif,
        about: "Route a Xen guest's network interface through dom0",
        description: "Run by the toolstack for every guest interface in routed mode: puts dom0's \
            uplink address on the vif as a /32, turns on proxy ARP and adds one host route per \
            guest address; offline removes the routes. Pairs with network-route. A drop-in \
            replacement for Xen's shell script of the same name.",
        words: VIF_WORDS,
        settings: &[
            VIF,
            XENBUS_PATH,
            XENBUS_TYPE,
            XENBUS_BASE_PATH,
            INTERFACE,
            TYPE_IF,
            SCRIPT,
            IP,
            VIFNAME,
            NETDEV_ROUTED,
            VLAN_ROUTED,
            FIREWALL,
            ANTISPOOF_VIF,
        ],
        run: Run::Vif(modes::vif_route::plan),
    },
    Script {
        name: "network-bridge",
        kind: Kind::Network,
        about: "Put dom0's network interface behind a bridge for Xen guests",
        description: "The bridge takes the NIC's name and the NIC becomes p<name> (layout=netdev; \
            also netloop and xenbr); every address (IPv4 and IPv6) and route moves with it, and \
            back on stop. Journalled and rolled back \
            on failure, so dom0 keeps its network. Never run it on a remote host without \
            confirm=SECONDS. A drop-in replacement for Xen's shell script of the same name.",
        words: NETWORK_WORDS,
        settings: &[
            NETDEV_HOST,
            c(
                "bridge",
                Source::Args,
                v::bridge_or_null,
                "The bridge's name; default: netdev's name (layout=netdev), else xenbr<vifnum>. \
                 null does nothing.",
            ),
            c(
                "layout",
                Source::Args,
                modes::network_bridge::settings::check_layout,
                "netdev (default): the bridge takes the NIC's name, which becomes p<netdev>, and is \
                 also named xenbr<vifnum>; netloop: eth0 -> vif0.0 -> xenbr0 -> peth0, dom0's \
                 interface a veth behind the bridge; xenbr: bridge xenbr<vifnum> holds the \
                 addresses, the NIC keeps its name. stop and status find it on the host.",
            ),
            c(
                "vifnum",
                Source::Args,
                v::check_number,
                "The number N in xenbrN, vethN and vif0.N; default: the NIC's number (eth1: 1), else 0.",
            ),
            c(
                "antispoof",
                Source::Args,
                v::check_yes_no,
                "yes or no (default): drop forwarded traffic except what the vif scripts allow.",
            ),
            FIREWALL_HOST,
            CONFIRM,
            c(
                "vlan_filtering",
                Source::Args,
                v::check_yes_no,
                "yes or no (default): with start, make the bridge VLAN-aware, so that guests \
                 with xl's vlan= get exactly their VLANs (vif-bridge refuses them on a bridge \
                 that is not); dom0 and the uplink stay untagged on VLAN 1. Needs a kernel with \
                 CONFIG_BRIDGE_VLAN_FILTERING.",
            ),
            c(
                "trunk",
                Source::Args,
                crate::vlan::check_trunk,
                "With vlan_filtering=yes: the VLANs the uplink carries tagged to the LAN, as \
                 vlan= writes them without p or u (10/20-29/100+10x4, or 10,20); default none.",
            ),
            c(
                "overlay",
                Source::Args,
                modes::network_bridge::overlay::check,
                "vxlan or evpn: instead of taking dom0's NIC, make bridge= (default \
                 vxbr<vni>) with a kernel VXLAN device vxlan<vni> as its uplink to the other \
                 hosts: vxlan floods to the peers= listed; evpn learns the other hosts and \
                 their guests from BGP EVPN through FRR and the route reflectors rr=.",
            ),
            c(
                "vni",
                Source::Args,
                v::check_vni,
                "With overlay=vxlan: the tenant network's number, 1 to 16777215, the same on \
                 every host.",
            ),
            c(
                "peers",
                Source::Args,
                v::check_host_addrs,
                "With overlay=vxlan: A[,B...], the other hosts' underlay addresses (IPv4 or IPv6).",
            ),
            c(
                "rr",
                Source::Args,
                v::check_host_addrs,
                "With overlay=evpn: IP[,IP...], the BGP route reflectors' underlay addresses \
                 (IPv4). FRR's bgpd must run (bgpd=yes in /etc/frr/daemons).",
            ),
            c(
                "asn",
                Source::Args,
                modes::network_bridge::overlay::check_asn,
                "With overlay=evpn: the BGP AS of the pool (iBGP); default: FRR's running \
                 instance's, else 65000.",
            ),
            c(
                "dstport",
                Source::Args,
                v::check_port,
                "With overlay=vxlan: the UDP port, 1 to 65535; default 4789.",
            ),
            c(
                "local",
                Source::Args,
                v::check_host_addr,
                "With overlay=vxlan: this host's underlay address; default: the source of the \
                 route to the first peer.",
            ),
            c(
                "underlay",
                Source::Args,
                v::ifname,
                "With overlay=vxlan: the device towards the other hosts (its MTU must be at least \
                 1550, 1570 over IPv6); default: the route's device to the first peer.",
            ),
        ],
        run: Run::Host {
            plan: modes::network_bridge::plan,
            status: modes::network_bridge::status,
        },
    },
    Script {
        name: "network-nat",
        kind: Kind::Network,
        about: "Set dom0 up as a NAT router for Xen guests",
        description: "Turns on forwarding, adds one MASQUERADE rule out of the uplink and refuses \
            new connections from the uplink to the guests; with dhcp=yes adds the guests' subnet \
            to dhcpd. stop removes exactly what start added. A drop-in replacement for Xen's \
            shell script of the same name.",
        words: NETWORK_WORDS,
        settings: &[
            NETDEV_HOST,
            c(
                "antispoof",
                Source::Args,
                v::check_yes_no,
                "yes or no; accepted, not implemented (nor by the original).",
            ),
            s(
                "dhcp",
                Source::Args,
                "yes or no: serve the guests with dhcpd; default: yes when /etc/dhcpd.conf \
                 exists.",
            ),
            VIFNUM,
            FIREWALL_HOST,
            CONFIRM,
        ],
        run: Run::Host {
            plan: modes::network_nat::plan,
            status: modes::network_nat::status,
        },
    },
    Script {
        name: "network-route",
        kind: Kind::Network,
        about: "Set dom0 up as a router for Xen guests",
        description: "Turns on forwarding and proxy ARP on the uplink; stop puts back what start \
            found, and status only reports. A drop-in replacement for Xen's shell script of the \
            same name.",
        words: NETWORK_WORDS,
        settings: &[
            NETDEV_ROUTED,
            c(
                "antispoof",
                Source::Args,
                v::check_yes_no,
                "yes or no; accepted, nothing to do in routed mode.",
            ),
            VIFNUM,
            CONFIRM,
        ],
        run: Run::Host {
            plan: modes::network_route::plan,
            status: modes::network_route::status,
        },
    },
];

/// The environment variables every script reads besides its settings.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "XENNET_DRY_RUN",
        "When set and not 0: as --dry-run, print the plan and change nothing.",
    ),
    ("XENNET_LOG", "The log filter for stderr (e.g. debug)."),
    (
        "XENNET_LOCK_DIR",
        "The lock files' directory (default /var/run/xen-hotplug, shared with Xen's scripts).",
    ),
    (
        "XENNET_LOCK_TIMEOUT",
        "Seconds to wait for a lock (default 30).",
    ),
    (
        "XENNET_STATE_DIR",
        "Journals and records (default /run/xen/xennet).",
    ),
    (
        "XEN_SCRIPT_DIR",
        "The scripts' directory, whose vif-post.d holds the hooks (default /etc/xen/scripts).",
    ),
    (
        "XEN_LOG_DIR",
        "Where xen-hotplug.log is (default /var/log/xen).",
    ),
];

/// The usage lines of a script.
pub fn usage(script: &Script) -> String {
    let name = script.name;
    match script.kind {
        Kind::Vif => format!(
            "{name} [--dry-run] [-v|--verbose] online|offline|add|remove [NAME=VALUE]...\n\
             {name} --version"
        ),
        Kind::Network => format!(
            "{name} [--dry-run] [-v|--verbose] start|stop|status [NAME=VALUE]...\n\
             {name} confirm\n\
             {name} --version"
        ),
    }
}

/// The description of a script with its grammar.
pub fn long_about(script: &Script) -> String {
    let grammar = match script.kind {
        Kind::Vif => "online|offline|add|remove [name=value ...]",
        Kind::Network => "start|stop|status [name=value ...]",
    };
    format!(
        "{}\n\nGrammar: {} {grammar}. The command word is the first argument without '='; \
         settings are name=value words (in any place) or environment variables, the \
         arguments winning, and are taken literally. Every value is checked before anything \
         is touched.",
        script.description, script.name
    )
}

/// `<script> --help`: what the man page says, in short.
pub fn help_text(script: &Script) -> String {
    let mut out = format!(
        "{}\n\nUsage: {}\n\nCommands:\n",
        script.about,
        usage(script)
    );
    for w in script.words {
        out.push_str(&format!("  {:<9} {}\n", w.word, w.help));
    }
    out.push_str("\nSettings (name=value arguments or environment variables):\n");
    for s in script.settings {
        out.push_str(&format!(
            "  {}=\n      {} [{}]\n",
            s.name,
            s.help,
            s.source_words()
        ));
    }
    out.push_str(
        "\nOptions:\n  --dry-run      print the plan as shell lines and change nothing \
         (also XENNET_DRY_RUN=1)\n  -v, --verbose  log every command run to stderr\n  \
         --version      print the version\n  -h, --help     print this help\n",
    );
    out.push_str(&format!("\nSee man {} for the whole story.\n", script.name));
    out
}

/// The script of this name, if it is one of ours.
pub fn find(name: &str) -> Option<&'static Script> {
    SCRIPTS.iter().find(|s| s.name == name)
}

impl Script {
    /// The names the grammar takes from the environment and does not warn about as arguments:
    /// a script's own settings; for a vif script those of every vif script, since libxl passes
    /// one environment to whichever script a guest's configuration names.
    pub fn known_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = match self.kind {
            Kind::Network => self.settings.iter().map(|s| s.name).collect(),
            Kind::Vif => SCRIPTS
                .iter()
                .filter(|s| s.kind == Kind::Vif)
                .flat_map(|s| s.settings.iter().map(|x| x.name))
                .collect(),
        };
        names.sort_unstable();
        names.dedup();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn names_are_unique_and_found() {
        for s in &SCRIPTS {
            let names: BTreeSet<_> = s.settings.iter().map(|x| x.name).collect();
            assert_eq!(names.len(), s.settings.len(), "{}: a name twice", s.name);
            assert!(std::ptr::eq(find(s.name).unwrap(), s));
        }
        assert!(find("vif-common.sh").is_none());
    }

    #[test]
    fn vif_scripts_know_every_vif_setting() {
        let bridge = find("vif-bridge").unwrap().known_names();
        assert!(
            bridge.contains(&"dhcp") && bridge.contains(&"netdev"),
            "{bridge:?}"
        );
        let nat = find("network-nat").unwrap().known_names();
        assert!(!nat.contains(&"vif"), "{nat:?}");
    }
}
