#!/usr/bin/env bash
# The benchmark of issue 8 (run as root on Debian 12): builds the release binaries, fetches Xen's
# original vif scripts (Debian's xen-utils-common, nothing installed), and runs xennet-bench on
# namespace hosts, ours and the originals side by side. Prints a table, writes bench.json.
#
#   BENCH_ARGS="--runs 30 --vifs 1000 --callers 16"   passed to xennet-bench (these are the defaults)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --workspace
originals=${XENNET_ORIGINALS:-target/originals}
[ -x "$originals/upstream/vif-bridge" ] || bash scripts-compat/fetch-originals.sh "$originals"
# shellcheck disable=SC2086
target/release/xennet-bench --originals "$originals/upstream" --json bench.json ${BENCH_ARGS:-}
