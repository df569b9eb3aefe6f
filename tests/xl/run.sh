#!/usr/bin/env bash
# Under the real toolstack: boots Debian's Xen in QEMU (software emulation, no KVM, no network:
# -nic none), with a dom0 whose /init (dom0-init.sh) lets the real `xl` create PV guests in
# bridge, NAT and route mode through our release binaries in /etc/xen/scripts, and checks the
# effects. One boot per release, one after the other (never two QEMUs at once):
#   bookworm  Debian 12: Xen 4.17, kernel 6.1
#   trixie    Debian 13: Xen 4.20, kernel 6.12
# Prints every check, the time of each phase, and exits non-zero on a failed or missing check or
# a timeout in any release.
#
#   tests/xl/run.sh [RELEASE...]      default: bookworm trixie (or XENNET_XL_RELEASES)
#   XENNET_XL_CACHE     package and image cache, one directory per release under it (default
#                       $XDG_CACHE_HOME/xennet-xl, else /var/cache/xennet-xl as root, else
#                       ~/.cache/xennet-xl)
#   XENNET_XL_KERNEL_BOOKWORM, XENNET_XL_KERNEL_TRIXIE   pinned kernel packages (build-image.sh)
#   XENNET_XL_TIMEOUT   seconds each QEMU may run (default 600: a busy 2-core machine needs ~200)
#   XENNET_XL_BIN_DIR   our scripts (default: bin-aliases/, the multi-call release binary built here)
#   XENNET_XL_DEB       our Debian package instead: unpacked into dom0, `xennet install` run there
#   XENNET_XL_LOG       keep the whole console log here (default: a temporary file, shown on
#                       failure); with several releases, <log>.<release>
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
here=tests/xl
if [ -n "${XENNET_XL_CACHE:-}" ]; then cache=$XENNET_XL_CACHE
elif [ -n "${XDG_CACHE_HOME:-}" ]; then cache=$XDG_CACHE_HOME/xennet-xl
elif [ "$(id -u)" -eq 0 ]; then cache=/var/cache/xennet-xl
else cache=$HOME/.cache/xennet-xl
fi
timeout_s=${XENNET_XL_TIMEOUT:-600}
releases=("$@")
[ "${#releases[@]}" -gt 0 ] || read -r -a releases <<<"${XENNET_XL_RELEASES:-bookworm trixie}"

for tool in qemu-system-x86_64 cpio apt-get; do
  command -v "$tool" >/dev/null || {
    echo "xl test: $tool is not installed (apt-get install qemu-system-x86 cpio)" >&2; exit 1; }
done

# The checks dom0-init.sh must report, each exactly once.
expected=(toolstack scripts-installed network-bridge-start)
for m in bridge nat route; do
  expected+=("$m.create" "$m.hotplug-status" "$m.ping" "$m.ping-from-dom0" "$m.backend-connected"
             "$m.rules" "$m.online-logged" "$m.destroy" "$m.offline-logged" "$m.rules-gone"
             "$m.vif-gone" "$m.backend-gone")
done
expected+=(bridge.port bridge.port-gone nat.gateway
           route.main-ip route.host-route route.proxy-arp route.route-gone
           silent.create silent.not-connected silent.no-hotplug-status silent.no-ping
           nosuchbr.create-fails nosuchbr.hotplug-error nosuchbr.no-domain)
# A second vif attached to a running guest, which pings through it; detached, leaving no trace.
expected+=(attach.create attach.first-ping attach.network-attach attach.hotplug-status
           attach.port attach.rules attach.ping attach.ping-from-dom0 attach.network-detach
           attach.offline-logged attach.vif-gone attach.port-gone attach.rules-gone
           attach.backend-gone attach.first-vif-kept attach.destroy attach.nothing-left)
# Four guests created at once (bridge, bridge, NAT, route), each pinging, destroyed at once.
for g in 1 2 3 4; do expected+=("four.g$g.create" "four.g$g.ping"); done
expected+=(four.connected four.ports four.nat-gateway four.route-host-route four.destroy
           four.vifs-gone four.rules-gone four.backends-gone four.routes-gone four.no-domains
           four.nothing-left)
expected+=(wire.clients-reachable wire.no-clients network-bridge-stop)
# Guest VLANs from xl's vlan= key (issue 19): only where libxl writes it (Xen 4.19 and later).
vlan_checks=(vlan.network-bridge-start)
for g in 1 2 3 4; do vlan_checks+=("vlan.g$g.create" "vlan.g$g.port" "vlan.g$g.ping"); done
vlan_checks+=(vlan.lan-reaches-vlan10 vlan.lan-not-vlan20 vlan.vlan10-not-vlan20
              vlan.form1 vlan.form1-gone vlan.form2 vlan.form2-gone vlan.destroy
              vlan.entries-gone vlan.no-pvid-refused vlan.unaware-refused vlan.unaware-no-port
              vlan.nothing-left)

dt() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

if [ -z "${XENNET_XL_BIN_DIR:-}" ]; then
  cargo build --release --workspace -q
  bins=bin-aliases
else
  bins=$XENNET_XL_BIN_DIR
fi
mkdir -p "$cache"
logs=()
cleanup() { local l; for l in "${logs[@]}"; do rm -f "$l"; done; }
trap cleanup EXIT

# The console, kept whole in the log; the checks shown as they come; the host's clock noted when
# dom0's /init starts (the boot phase).
stamp() {
  local l
  while IFS= read -r l; do
    l=${l//$'\r'/}
    printf '%s\n' "$l"
    case $l in
      "XLTEST BOOTED"*) printf 'XLHOST BOOTED %s\n' "$EPOCHREALTIME" ;;
      "XLTEST PASS"* | "XLTEST FAIL"* | "XLTEST SAID"* | "XLTEST INFO"*) printf '%s\n' "$l" >&2 ;;
    esac
  done
}

failed_releases=()
summary=()
for rel in "${releases[@]}"; do
  echo
  echo "==> tests/xl: $rel"
  build_out=$(bash "$here/build-image.sh" "$cache" "$(cd "$bins" && pwd)" "$rel") || {
    echo "xl test ($rel): build-image.sh failed"; failed_releases+=("$rel"); continue; }
  echo "$build_out"
  if [ -n "${XENNET_XL_LOG:-}" ]; then
    log=$XENNET_XL_LOG
    [ "${#releases[@]}" -eq 1 ] || log=$XENNET_XL_LOG.$rel
  else
    log=$(mktemp); logs+=("$log")
  fi
  img=$cache/$rel/img
  t0=$EPOCHREALTIME
  rc=0
  # QEMU's multiboot modules are comma-separated; commas inside an argument would be doubled.
  # dom0 768 MB: its root is the initramfs in RAM, and each running `xl create` holds ~100 MB
  # (four at once were OOM-killed with 512 MB); the guests share the rest of the 2 GB.
  timeout --foreground -k 5 "$timeout_s" qemu-system-x86_64 \
    -machine q35 -cpu qemu64,+svm -m 2048 -smp 2 -nographic -no-reboot -nic none \
    -kernel "$img/xen" \
    -append 'console=com1 dom0_mem=768M,max:768M loglvl=all noreboot' \
    -initrd "$img/vmlinuz console=hvc0 earlyprintk=xen quiet,$img/dom0.cpio.gz" \
    </dev/null 2>&1 | stamp >"$log" || rc=$?
  t1=$EPOCHREALTIME

  echo
  echo "phase times, $rel (seconds):"
  awk '/^XLHOST TIME/ { printf "  %-26s %s %s %s\n", $3, $4, $5, $6 }' <<<"$build_out"
  booted=$(awk '/^XLHOST BOOTED/ { print $3; exit }' "$log")
  [ -z "$booted" ] || printf '  %-26s %s\n' "boot (to dom0 /init)" "$(dt "$t0" "$booted")"
  awk '/^XLTEST TIME/ { printf "  %-26s %s\n", $3, $4 }' "$log"
  printf '  %-26s %s\n' "qemu total" "$(dt "$t0" "$t1")"

  failed=0
  checks=("${expected[@]}")
  [ "$rel" = bookworm ] || checks+=("${vlan_checks[@]}")
  for c in "${checks[@]}"; do
    n=$(grep -cE "^XLTEST (PASS|FAIL) ${c//./\\.}(:|$)" "$log" || true)
    if [ "$n" -ne 1 ]; then
      echo "MISSING $c (reported $n times)"; failed=1
    fi
  done
  grep -q '^XLTEST FAIL' "$log" && failed=1
  grep -q '^XLTEST DONE' "$log" || { echo "dom0 did not finish (QEMU exit $rc; timeout ${timeout_s}s)"; failed=1; }
  pass=$(grep -c '^XLTEST PASS' "$log" || true)
  fails=$(grep -c '^XLTEST FAIL' "$log" || true)
  line="xl test ($rel): $pass passed, $fails failed, ${#checks[@]} expected, qemu $(dt "$t0" "$t1") s"
  echo "$line"
  summary+=("$line")
  if [ "$failed" -ne 0 ]; then
    failed_releases+=("$rel")
    echo "---- last 80 lines of the console ($rel)"
    tail -n 80 "$log"
  fi
done

echo
printf '%s\n' "${summary[@]}"
if [ "${#failed_releases[@]}" -gt 0 ]; then
  echo "xl test: FAILED on ${failed_releases[*]}"
  exit 1
fi
