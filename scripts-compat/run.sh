#!/usr/bin/env bash
# Xen's original vif scripts and ours, side by side (issue 5). As root on Debian 12, with what
# .ci/install-deps installs; everything runs in network namespaces the test bed creates and
# removes. The originals are fetched at run time (fetch-originals.sh) and never installed.
#
#   bash scripts-compat/run.sh               fetch Debian's xen-utils-common, compare it with
#                                            ours in both modes (debian, upstream)
#   bash scripts-compat/run.sh A B [MODE]    compare two script directories A and B, one mode
#                                            (debian|upstream, default upstream)
#
# The report is printed and written to target/tmp/scripts-compat/report.txt, with every
# scenario's full normalised snapshots beside it (target/tmp/scripts-compat/<mode>/). The run
# fails on any difference scripts-compat/DEVIATIONS.md does not list, and on any entry there
# that no longer matches. CI runs the same test as part of tests/run.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ $# -ge 2 ]; then
  XENNET_COMPAT_A=$(realpath "$1")
  XENNET_COMPAT_B=$(realpath "$2")
  XENNET_COMPAT_MODE=${3:-upstream}
  export XENNET_COMPAT_A XENNET_COMPAT_B XENNET_COMPAT_MODE
elif [ $# -eq 1 ]; then
  echo "usage: $0 [A B [debian|upstream]]" >&2
  exit 2
fi

cargo build --workspace
cargo test -p xennet-tests --test compat -- --nocapture --test-threads=2
