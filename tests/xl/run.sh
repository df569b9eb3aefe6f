#!/usr/bin/env bash
# Under the real toolstack: boots Debian 12's Xen 4.17 in QEMU (software emulation, no KVM, no
# network: -nic none), with a dom0 whose /init (dom0-init.sh) lets the real `xl` create PV guests
# in bridge, NAT and route mode through our release binaries in /etc/xen/scripts, and checks the
# effects. Prints every check, the time of each phase, and exits non-zero on a failed or missing
# check or a timeout.
#
#   XENNET_XL_CACHE     package and image cache (default $XDG_CACHE_HOME/xennet-xl, else
#                       /var/cache/xennet-xl as root, else ~/.cache/xennet-xl)
#   XENNET_XL_KERNEL    pinned kernel package, name=version (see build-image.sh)
#   XENNET_XL_TIMEOUT   seconds QEMU may run (default 480: a busy 2-core machine needs ~140)
#   XENNET_XL_BIN_DIR   our scripts (default: bin-aliases/, the multi-call release binary built here)
#   XENNET_XL_LOG       keep the whole console log here (default: a temporary file, shown on failure)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
here=tests/xl
if [ -n "${XENNET_XL_CACHE:-}" ]; then cache=$XENNET_XL_CACHE
elif [ -n "${XDG_CACHE_HOME:-}" ]; then cache=$XDG_CACHE_HOME/xennet-xl
elif [ "$(id -u)" -eq 0 ]; then cache=/var/cache/xennet-xl
else cache=$HOME/.cache/xennet-xl
fi
timeout_s=${XENNET_XL_TIMEOUT:-480}

for tool in qemu-system-x86_64 cpio apt-get; do
  command -v "$tool" >/dev/null || {
    echo "xl test: $tool is not installed (apt-get install qemu-system-x86 cpio)" >&2; exit 1; }
done

# The checks dom0-init.sh must report, each exactly once.
expected=(toolstack network-bridge-start)
for m in bridge nat route; do
  expected+=("$m.create" "$m.hotplug-status" "$m.ping" "$m.ping-from-dom0" "$m.backend-connected"
             "$m.rules" "$m.online-logged" "$m.destroy" "$m.offline-logged" "$m.rules-gone"
             "$m.vif-gone" "$m.backend-gone")
done
expected+=(bridge.port bridge.port-gone nat.gateway
           route.main-ip route.host-route route.proxy-arp route.route-gone
           silent.create silent.not-connected silent.no-hotplug-status silent.no-ping
           nosuchbr.create-fails nosuchbr.hotplug-error nosuchbr.no-domain
           wire.clients-reachable wire.no-clients network-bridge-stop)

dt() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

if [ -z "${XENNET_XL_BIN_DIR:-}" ]; then
  cargo build --release --workspace -q
  bins=bin-aliases
else
  bins=$XENNET_XL_BIN_DIR
fi
mkdir -p "$cache"
build_out=$(bash "$here/build-image.sh" "$cache" "$(cd "$bins" && pwd)")
echo "$build_out"

log=${XENNET_XL_LOG:-$(mktemp)}
[ -n "${XENNET_XL_LOG:-}" ] || trap 'rm -f "$log"' EXIT
img=$cache/img
# The console, kept whole in $log; the checks shown as they come; the host's clock noted when
# dom0's /init starts (the boot phase).
stamp() {
  local l
  while IFS= read -r l; do
    l=${l//$'\r'/}
    printf '%s\n' "$l"
    case $l in
      "XLTEST BOOTED"*) printf 'XLHOST BOOTED %s\n' "$EPOCHREALTIME" ;;
      "XLTEST PASS"* | "XLTEST FAIL"* | "XLTEST SAID"*) printf '%s\n' "$l" >&2 ;;
    esac
  done
}
t0=$EPOCHREALTIME
rc=0
# QEMU's multiboot modules are comma-separated; commas inside an argument would be doubled.
timeout --foreground -k 5 "$timeout_s" qemu-system-x86_64 \
  -machine q35 -cpu qemu64,+svm -m 1536 -smp 2 -nographic -no-reboot -nic none \
  -kernel "$img/xen" \
  -append 'console=com1 dom0_mem=512M,max:512M loglvl=all noreboot' \
  -initrd "$img/vmlinuz console=hvc0 earlyprintk=xen quiet,$img/dom0.cpio.gz" \
  </dev/null 2>&1 | stamp >"$log" || rc=$?
t1=$EPOCHREALTIME

echo
echo "phase times (seconds):"
awk '/^XLHOST TIME/ { printf "  %-22s %s %s\n", $3, $4, $5 }' <<<"$build_out"
booted=$(awk '/^XLHOST BOOTED/ { print $3; exit }' "$log")
[ -z "$booted" ] || printf '  %-22s %s\n' "boot (to dom0 /init)" "$(dt "$t0" "$booted")"
awk '/^XLTEST TIME/ { printf "  %-22s %s\n", $3, $4 }' "$log"
printf '  %-22s %s\n' "qemu total" "$(dt "$t0" "$t1")"

failed=0
for c in "${expected[@]}"; do
  n=$(grep -cE "^XLTEST (PASS|FAIL) ${c//./\\.}(:|$)" "$log" || true)
  if [ "$n" -ne 1 ]; then
    echo "MISSING $c (reported $n times)"; failed=1
  fi
done
grep -q '^XLTEST FAIL' "$log" && failed=1
grep -q '^XLTEST DONE' "$log" || { echo "dom0 did not finish (QEMU exit $rc; timeout ${timeout_s}s)"; failed=1; }
pass=$(grep -c '^XLTEST PASS' "$log" || true)
fails=$(grep -c '^XLTEST FAIL' "$log" || true)
echo "xl test: $pass passed, $fails failed, ${#expected[@]} expected"
if [ "$failed" -ne 0 ]; then
  echo "---- last 80 lines of the console"
  tail -n 80 "$log"
  exit 1
fi
