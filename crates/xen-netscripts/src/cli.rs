//! xennet's command line (clap): only its shape, so that the build script can include it to
//! write the man pages and completions (`--features docs`, what `cargo deb` builds) without the
//! rest of the executable. What each command does is in xennet.rs.

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "xennet",
    version,
    about = "Administer xen-netscripts, the Rust replacements of Xen's network hotplug scripts",
    long_about = "Administer xen-netscripts, the Rust replacements of Xen's network hotplug \
                  scripts (vif-bridge, vif-nat, vif-route, network-bridge, network-nat, \
                  network-route): make and check guest MACs, put xennet's scripts into \
                  /etc/xen/scripts and the originals back, check what the scripts need from \
                  this host, start the network mode at boot, and write man pages and shell \
                  completions."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Show the host's network: each domain's interfaces, vifs, bridges and physical NICs
    #[command(
        long_about = "Show the host's network as administrators draw it: for every domain (named \
                      from xenstore when its tools answer, Domain-<id> otherwise), each \
                      interface, its backend vif, the bridge it is a port of (or, in NAT and \
                      route mode, the vif's routes) and the physical NIC behind the bridge, with \
                      MACs and addresses, e.g. `eth0 -> vif0.0 -> xenbr0 -> peth0`. Unattached \
                      vifs and bridges without an uplink are shown as such. It reads the network \
                      namespace it runs in and changes nothing."
    )]
    Map {
        /// text (the picture and each link's MAC and addresses), json, or dot (Graphviz:
        /// `xennet map --format dot | dot -Tsvg > host.svg`)
        #[arg(long, value_enum, default_value_t = MapFormat::Text)]
        format: MapFormat,
    },
    /// Make a random guest MAC (Xen's 00:16:3e, or --local), or check MACs
    Mac(MacArgs),
    /// Put xennet's scripts into the scripts directory, keeping each original aside
    #[command(
        long_about = "Replace vif-bridge, vif-openvswitch, vif-nat, vif-route, network-bridge, \
                      network-nat and network-route in the scripts directory with small sh \
                      scripts that run the binaries of those names (a file, not a symbolic link: \
                      dpkg treats it as a changed conffile of xen-utils-common). Each original is \
                      kept as <name>.xen-orig, so that uninstall puts it back as it was; an \
                      existing <name>.xen-orig is only replaced by the script in place when dpkg \
                      records that one as what the package ships now (it put it back, e.g. with \
                      --force-confnew). Every binary must be there and every script installable, \
                      or nothing is changed. Running it twice changes nothing; run from another \
                      build, it points the scripts there."
    )]
    Install(InstallArgs),
    /// Put back the originals kept by install and remove xennet's scripts
    #[command(
        long_about = "Put back every original kept by install as <name>.xen-orig, or, when dpkg \
                      kept xennet's script on an upgrade and saved the package's newer one as \
                      <name>.dpkg-dist, that one (dpkg's records say which is current); remove \
                      xennet's scripts that had no original and xennet's scripts saved by dpkg as \
                      <name>.dpkg-old. A script that is no longer xennet's is left as it is, with \
                      its .xen-orig, unless it is what the package ships now. Exits 1 when a \
                      script had to be left as it was."
    )]
    Uninstall(UninstallArgs),
    /// Check what the scripts need from this host, one line per check (reads only)
    #[command(
        long_about = "Check what the scripts need from this host and say what to do about each \
                      problem, one line per check: OK, WARN or FAIL, the check's name, and the \
                      detail. Tools and their versions, kernel bridge support, br_netfilter, \
                      the lock and state directories, and whether each script in the scripts \
                      directory is xennet's. It only reads; it changes nothing. Exits 1 when a \
                      check FAILs."
    )]
    Doctor(DoctorArgs),
    /// Start (or stop) the network mode of /etc/xen/xen-netscripts.conf: what the boot unit runs
    #[command(
        long_about = "Run network-<mode> start, stop or status with the settings of the config \
                      file (/etc/xen/xen-netscripts.conf, or XENNET_CONF): mode=bridge, nat or \
                      route names the script, and the file's other name=value lines that the \
                      script takes (netdev=, bridge=, layout=, firewall=, dhcp= …) are passed on; \
                      confirm= never is. mode=none, or no mode, does nothing. The systemd unit \
                      xen-netscripts.service runs `xennet boot start` before the guests start and \
                      `xennet boot stop` at shutdown."
    )]
    Boot {
        /// start, stop or status
        #[arg(value_enum)]
        action: BootAction,
        /// The config file [default: $XENNET_CONF, else /etc/xen/xen-netscripts.conf]
        #[arg(long, value_name = "FILE")]
        conf: Option<PathBuf>,
    },
    /// Write the man pages of xennet and of every script binary
    Man {
        /// The directory to write <name>.8 into (made if missing), e.g. /usr/local/share/man/man8
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Write shell completions for xennet and every script binary
    Completions {
        /// The shell
        shell: Shell,
        /// The directory to write them into (made if missing); without it, xennet's own
        /// completion goes to standard output
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum BootAction {
    Start,
    Stop,
    Status,
}

impl BootAction {
    pub fn word(self) -> &'static str {
        match self {
            BootAction::Start => "start",
            BootAction::Stop => "stop",
            BootAction::Status => "status",
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum MapFormat {
    Text,
    Json,
    Dot,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MacArgs {
    /// A locally administered unicast MAC (second hex digit 2, 6, a or e) instead of one in
    /// Xen's OUI 00:16:3e
    #[arg(long)]
    pub local: bool,
    /// How many to make, one a line
    #[arg(
        short = 'n',
        long,
        value_name = "N",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    pub count: u32,
    #[command(subcommand)]
    pub action: Option<MacAction>,
}

#[derive(Subcommand, Debug)]
pub enum MacAction {
    /// Say whether MACs are fine for a Xen guest, and which range each falls in
    #[command(
        long_about = "Say whether each MAC is fine for a Xen guest: unicast, and either in Xen's \
                      OUI 00:16:3e or locally administered (MAC-01, MAC-02); and name the range \
                      it falls in: Xen 00:16:3e, VMware 00:0c:29 or 00:50:56 (static part \
                      00:50:56:00-3f), locally administered, or another vendor's OUI. Exits 0 \
                      when every MAC is fine, 1 when one is not, 2 when one is not a MAC."
    )]
    Check {
        /// Six hex octets separated by ':' (or '-')
        #[arg(required = true, value_name = "MAC")]
        macs: Vec<String>,
    },
}

#[derive(Args, Debug)]
pub struct InstallArgs {
    /// The scripts directory [default: $XEN_SCRIPT_DIR, else /etc/xen/scripts]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Where the binaries are [default: the directory of this xennet executable]
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Print what would be done, as shell lines, and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct UninstallArgs {
    /// The scripts directory [default: $XEN_SCRIPT_DIR, else /etc/xen/scripts]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print what would be done, as shell lines, and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// The scripts directory [default: $XEN_SCRIPT_DIR, else /etc/xen/scripts]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}
