//! Where the scripts keep their files. Every path can be moved by an environment variable so
//! that parallel tests keep their own; the defaults are the production paths.

use std::path::PathBuf;

fn dir(var: &str, default: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(default),
    }
}

/// Lock files, shared with Xen's original shell scripts (LK-01).
pub fn lock_dir() -> PathBuf {
    dir("XENNET_LOCK_DIR", "/var/run/xen-hotplug")
}

/// Journals and the records `stop` needs (DESIGN: apply).
pub fn state_dir() -> PathBuf {
    dir("XENNET_STATE_DIR", "/run/xen/xennet")
}

/// `/etc/xen/scripts`; hooks live in its `vif-post.d` (HK-01).
pub fn script_dir() -> PathBuf {
    dir("XEN_SCRIPT_DIR", "/etc/xen/scripts")
}

/// `/var/log/xen`, home of `xen-hotplug.log` (GEN-07).
pub fn log_dir() -> PathBuf {
    dir("XEN_LOG_DIR", "/var/log/xen")
}

/// The kernel's view of links in this network namespace.
pub fn sys_class_net() -> PathBuf {
    dir("XENNET_SYS_CLASS_NET", "/sys/class/net")
}

/// `/proc/sys/net`, for the sysctls the scripts touch.
pub fn proc_sys_net() -> PathBuf {
    dir("XENNET_PROC_SYS_NET", "/proc/sys/net")
}

/// The resolver configuration network-nat's DHCP server hands on (NN-04).
pub fn resolv_conf() -> PathBuf {
    dir("XENNET_RESOLV_CONF", "/etc/resolv.conf")
}
