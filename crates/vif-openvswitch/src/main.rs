//! `vif-openvswitch`: see the xennet crate; this binary only names the script.
fn main() -> std::process::ExitCode {
    xennet::cli::main("vif-openvswitch")
}
