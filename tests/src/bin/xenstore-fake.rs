//! Multi-call stand-in for Xen's xenstore clients: link it as `xenstore-read`, `xenstore-write`,
//! `xenstore-rm`, `xenstore-exists`, `xenstore-list` or `xenstore-ls`. Nodes live under
//! `$XENSTORE_FAKE_DIR` (see `xennet_tests::xsfake`).

fn main() {
    let code = xennet_tests::xsfake::multicall(std::env::args_os().collect());
    std::process::exit(code);
}
