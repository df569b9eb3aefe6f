//! `network-nat`: see the xennet crate; this binary only names the script.
fn main() -> std::process::ExitCode {
    xennet::cli::main("network-nat")
}
