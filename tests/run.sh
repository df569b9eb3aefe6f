#!/usr/bin/env bash
# The whole check, as CI runs it (as root on Debian 12): formatting, clippy, the unit tests, and
# the integration tests, which build simulated Xen hosts in network namespaces and run the real
# binaries there. Without root the namespace tests skip loudly; under CI=true they fail instead.
#
#   XENNET_BIN_DIR=<dir>   run the integration tests against other binaries/scripts
#   TEST_THREADS=<n>       parallel tests (default 2)
#   XENNET_SKIP_XL=1       skip tests/xl/run.sh (the real xl under QEMU-emulated Xen, ~2 min)
#   XENNET_SKIP_DEB=1      skip the Debian package: cargo deb, lintian, tests/deb/run.sh (~1.5 min)
#   FUZZ_SECS=<n>          how long the fuzz step runs (default 60)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings
step "cargo build --workspace (the binaries under test and xenstore-fake)"
cargo build --workspace
step "xennet-bench smoke run (a few calls, debug build: the benchmark still works; numbers unchecked)"
if [ "$(id -u)" = 0 ]; then
  bench_json=$(mktemp)
  target/debug/xennet-bench --runs 2 --vifs 8 --callers 4 --json "$bench_json" | tail -n 4
  rm -f "$bench_json"
elif [ "${CI:-}" = true ]; then
  echo "xennet-bench needs root (CI=true: failing instead of skipping)" >&2; exit 1
else
  echo "SKIPPED: xennet-bench needs root"
fi
# The Debian package, built as the README says, checked by lintian, then installed, activated,
# booted and upgraded on Debian 12 and 13 roots (tests/deb).
if [ "${XENNET_SKIP_DEB:-}" = 1 ]; then
  printf '\n==> SKIPPED the Debian package (XENNET_SKIP_DEB=1): cargo deb, lintian, tests/deb\n'
else
  step "cargo deb -p xen-netscripts (the Debian package)"
  cargo deb -p xen-netscripts
  deb=$(readlink -f "$(ls -t target/debian/xen-netscripts_*_amd64.deb | head -1)")
  step "lintian $deb (an error fails)"
  if command -v lintian >/dev/null; then
    lintian --fail-on error --pedantic "$deb"
  elif [ "${CI:-}" = true ]; then
    echo "lintian is not installed (CI=true: failing instead of skipping)" >&2; exit 1
  else
    echo "SKIPPED: lintian is not installed (bash .ci/install-deps)"
  fi
  step "tests/deb/run.sh (the package on booted Debian 12 and 13 roots)"
  bash tests/deb/run.sh "$deb"
fi
# The real toolstack: Debian 12's Xen 4.17 and Debian 13's Xen 4.20 under QEMU, xl creating
# guests through our package (the release binaries when the package step is skipped).
if [ "${XENNET_SKIP_XL:-}" = 1 ]; then
  printf '\n==> SKIPPED tests/xl/run.sh (XENNET_SKIP_XL=1): the scripts were not run under the real xl\n'
else
  step "tests/xl/run.sh (the real xl under QEMU-emulated Xen)"
  XENNET_XL_DEB=${deb:-} bash tests/xl/run.sh
fi
step "cargo fuzz: the invocation parser for ${FUZZ_SECS:-60} s (a crash fails)"
bash fuzz/run.sh "${FUZZ_SECS:-60}"
step "cargo test (unit and integration tests)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --all-targets -- --test-threads="${TEST_THREADS:-2}" 2>&1 | tee "$log"
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "\ntotal: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"

