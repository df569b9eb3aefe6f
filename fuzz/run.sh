#!/usr/bin/env bash
# Runs the cargo-fuzz target for a bounded time (default 60 s); a crash fails (exit non-zero)
# and leaves its input in fuzz/artifacts/invocation/. Works on a stable toolchain:
# RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags. Needs `cargo install cargo-fuzz --locked`.
#   bash fuzz/run.sh [seconds]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
secs=${1:-60}
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp seeds/invocation/* "$corpus"/
log=$(mktemp)
# No sanitizer: the target is safe Rust; the asserts and panics are what is looked for.
set +e
RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none invocation "$corpus" -- \
  -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1
rc=$?
set -e
grep -v '^#[0-9]' "$log" | grep -m5 -A3 'panicked' || true
grep -v '^#[0-9]' "$log" | tail -n 25
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
echo "fuzz: invocation: ${execs:-0} executions in ${secs} s, exit ${rc}"
rm -f "$log"
exit "$rc"
