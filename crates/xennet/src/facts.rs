//! The facts of a host a planner may ask for, their answers, and the [`Reader`] that answers
//! them: what [`crate::snapshot`] holds, [`crate::live`] reads and [`crate::fixture`] makes up.

use crate::state::{Addr, Link, Route};
use std::path::PathBuf;

/// One thing a planner may want to know about the host.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fact {
    /// A link by its name (sysfs): None when there is none.
    Link(String),
    /// Every bridge, sorted by name.
    Bridges,
    /// The ports of a bridge, sorted.
    Ports(String),
    /// The link that carries this name, as its name or an alternative name.
    Resolve(String),
    /// `ip -j addr show dev D`.
    Addrs(String),
    /// `ip -j route show table all dev D`, IPv4 then IPv6.
    Routes(String),
    /// The device of the first IPv4 default route.
    DefaultRouteDev,
    /// `ip -j route get ADDR`.
    RouteGet(String),
    /// A file's content (a record, the config file, dhcpd's files, `/proc/mounts`, a sysctl
    /// under `/proc/sys`); None when it does not exist.
    File(PathBuf),
    /// Is this path an executable file?
    Executable(PathBuf),
    /// The executable files of a directory whose names end in `.<ext>`, sorted (hooks).
    Executables(PathBuf, String),
    /// Is this program on PATH?
    Tool(String),
    /// The `-A`/`-P` lines of `iptables-save -t TABLE` (IPv4).
    Iptables(String),
    /// Every VXLAN device with its details and flood peers.
    Vxlans,
    /// Does Open vSwitch have this bridge?
    OvsBridge(String),
    /// Open vSwitch's bridges.
    OvsBridges,
    /// A port of an Open vSwitch bridge: its VLAN tag and trunks, if it is there.
    OvsPort { bridge: String, port: String },
    /// A xenstore key beyond the backend directory (a guest's VM name).
    Xenstore(String),
    /// What a read-only command prints (FRR's `vtysh -c 'show …'`).
    Command(Vec<String>),
    /// Several facts a planner wants at once, so that the reader can read them together
    /// ([`crate::snapshot::Snapshot::prefetch`]); answered by reading each.
    Several(Vec<Fact>),
}

/// A VXLAN device as the host has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vxlan {
    pub name: String,
    pub vni: u32,
    pub bridge: Option<String>,
    pub local: String,
    pub underlay: String,
    pub port: u16,
    pub mtu: u32,
    pub address: String,
    pub up: bool,
    /// Learns remote MACs from the frames it receives (`nolearning` unset).
    pub learning: bool,
    /// The destinations of its all-zeros flood entries.
    pub peers: Vec<String>,
}

/// An Open vSwitch port's VLAN settings, as `ovs-vsctl get port P tag trunks vlan_mode` prints
/// them (`[]` for an empty column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OvsPort {
    pub tag: String,
    pub trunks: String,
    pub vlan_mode: String,
}

/// The answer to a fact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Link(Option<Link>),
    Names(Vec<String>),
    Name(Option<String>),
    Addrs(Vec<Addr>),
    Routes(Vec<Route>),
    Route(Option<Route>),
    Text(Option<String>),
    Yes(bool),
    Paths(Vec<PathBuf>),
    Lines(Vec<String>),
    Vxlans(Vec<Vxlan>),
    OvsPort(Option<OvsPort>),
    /// A command's exit status (None: killed) and output.
    Output {
        code: Option<i32>,
        stdout: String,
        stderr: String,
    },
    /// The fact could not be read; `missing_tool` when the program to read it is not installed.
    Failed {
        msg: String,
        missing_tool: bool,
    },
}

/// Reads facts of a host.
pub trait Reader {
    fn read(&self, fact: &Fact) -> Answer;

    /// The answers to several facts, where the reader can get them together (one process for
    /// many `ip` reads); each fact it leaves out is read on its own when asked for.
    fn read_several(&self, facts: &[Fact]) -> Vec<(Fact, Answer)> {
        facts.iter().map(|f| (f.clone(), self.read(f))).collect()
    }
}
