//! Namespace test bed for xen-netscripts: simulated Xen hosts built from network namespaces,
//! a file-backed stand-in for xenstore, before/after snapshots, and helpers to run the binaries
//! under test the way libxl runs hotplug scripts.
//!
//! ```ignore
//! use xennet_tests::*;
//! let Some(mut h) = host!("example").build() else { return };
//! let g = h.add_guest(1, 0);
//! h.xs_write_backend(1, 0, &[("bridge", "xenbr0")]);
//! let before = h.snapshot();
//! let r = h.libxl("vif-bridge", 1, 0).run(&["online", "type_if=vif"]);
//! assert!(r.success(), "{}", h.explain(&r));
//! # let _ = (g, before);
//! ```
//!
//! Everything runs inside namespaces named `xt-<test>-<pid>-<n>-…`, removed when the [`Host`]
//! is dropped (also on panic). `XENNET_TEST_KEEP=1` keeps them for a post-mortem.

pub mod cmd;
pub mod faults;
pub mod frr;
pub mod host;
pub mod netns;
pub mod snapshot;
pub mod xsdaemon;
pub mod xsfake;

pub use cmd::Output;
pub use host::{bin_dir, binary, ping, ping_retry, Call, Guest, Host, HostBuilder, BACKEND_MAC};
pub use host::{DOM0_ADDR, LAN_ADDR, LAN_ADDR6};
pub use netns::require_root;
pub use snapshot::{assert_same, iptables_forward_rules, link, master_of, Snapshot};

/// `host!("test_name")` = a [`HostBuilder`] wired to this package's compiled `xenstore-fake`.
/// Only usable from this package's integration tests (where cargo sets
/// `CARGO_BIN_EXE_xenstore-fake`). Finish with `.build()`, which is None when the test must
/// skip (not root, outside CI).
#[macro_export]
macro_rules! host {
    ($name:expr) => {
        $crate::HostBuilder::new($name, env!("CARGO_BIN_EXE_xenstore-fake"))
    };
}
