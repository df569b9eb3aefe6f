#!/usr/bin/env bash
# The whole check, as CI runs it (as root on Debian 12): formatting, clippy, the unit tests, and
# the integration tests, which build simulated Xen hosts in network namespaces and run the real
# binaries there. Without root the namespace tests skip loudly; under CI=true they fail instead.
#
#   XENNET_BIN_DIR=<dir>   run the integration tests against other binaries/scripts
#   TEST_THREADS=<n>       parallel tests (default 2)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings
step "cargo build --workspace (the binaries under test and xenstore-fake)"
cargo build --workspace
step "cargo test (unit and integration tests)"
cargo test --workspace -- --test-threads="${TEST_THREADS:-2}"
