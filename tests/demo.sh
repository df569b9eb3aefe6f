#!/usr/bin/env bash
# A throwaway Xen-like host made of network namespaces, driven the way libxl drives the hotplug
# scripts: network-bridge start, vif-bridge online for a guest, a ping from the guest, then
# offline/stop and everything removed again. Nothing outside the namespaces it creates is touched.
#
#   Run as root on Debian 12 after `cargo build --release`:  bash tests/demo.sh
#
#   XENNET_BIN_DIR     where vif-bridge and network-bridge are   (default: bin-aliases, the release build)
#   XENSTORE_FAKE_BIN  the compiled fake xenstore client         (default: target/release/xenstore-fake)
#
#   [lan]     lan0 192.0.2.1/24                      the outside world (TEST-NET-1)
#     | veth
#   [dom0]    eth0 192.0.2.10/24, default via .1     the scripts run here
#     | veth, dom0 end named vif1.0 (down, as netback leaves it)
#   [domU-1]  eth0 192.0.2.51/24, default via .1     the guest
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${XENNET_BIN_DIR:-$ROOT/bin-aliases}
XSFAKE=${XENSTORE_FAKE_BIN:-$ROOT/target/release/xenstore-fake}

die() { echo "demo: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, bridges, iptables)"
for b in "$BIN/network-bridge" "$BIN/vif-bridge" "$XSFAKE"; do
  [ -x "$b" ] || die "$b not found: run 'cargo build --release' first (or set XENNET_BIN_DIR / XENSTORE_FAKE_BIN)"
done
for t in ip bridge iptables-save ping timeout; do
  command -v "$t" >/dev/null || die "$t is missing (apt-get install iproute2 iptables iputils-ping coreutils)"
done

# Names follow the test bed's pattern (xt-<name>-<pid>-…), so a demo killed with SIGKILL is
# cleaned up by the next test run.
P="xt-demo-$$-0"
LAN="$P-lan" DOM0="$P-dom0" GUEST="$P-domU-1"
WORK=$(mktemp -d "/tmp/$P.XXXXXX")
XS="$WORK/xenstore"

cleanup() {
  local rc=$?
  printf '\n=== Cleaning up ===\n'
  for ns in "$GUEST" "$DOM0" "$LAN"; do
    ip netns del "$ns" 2>/dev/null && echo "removed namespace $ns" || true
  done
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM   # signals go through exit, so cleanup runs

section() { printf '\n=== %s ===\n' "$*"; }
show() { printf '+ %s\n' "$*"; "$@"; }

# Runs a command in dom0 with the environment the binaries get there: the fake xenstore first on
# PATH, and every file they keep moved into $WORK (locks, journals, hooks, logs).
in_dom0() {
  ip netns exec "$DOM0" env -i \
    PATH="$WORK/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    XENSTORE_FAKE_DIR="$XS" \
    XENNET_LOCK_DIR="$WORK/lock" XENNET_STATE_DIR="$WORK/state" \
    XEN_SCRIPT_DIR="$WORK/scripts" XEN_LOG_DIR="$WORK/log" \
    "$@"
}

# Runs vif-bridge exactly as libxl does for guest 1's first NIC (spec §11.1).
libxl_vif_bridge() {
  printf '+ [libxl] vif-bridge %s   (vif=vif1.0 XENBUS_PATH=backend/vif/1/0)\n' "$*"
  in_dom0 script=/etc/xen/scripts/vif-bridge XENBUS_TYPE=vif XENBUS_PATH=backend/vif/1/0 \
    XENBUS_BASE_PATH=backend netdev= vif=vif1.0 \
    timeout 45 "$BIN/vif-bridge" "$@" </dev/null
}

section "Building the host: namespaces $LAN, $DOM0, $GUEST"
mkdir -p "$XS" "$WORK"/{bin,lock,state,scripts,log}
for ns in "$LAN" "$DOM0" "$GUEST"; do
  ip netns add "$ns"
  ip -n "$ns" link set dev lo up
done
ip -n "$DOM0" link add name eth0 type veth peer name lan0 netns "$LAN"
ip -n "$LAN" addr add 192.0.2.1/24 dev lan0
ip -n "$LAN" link set dev lan0 up
ip -n "$DOM0" addr add 192.0.2.10/24 dev eth0
ip -n "$DOM0" link set dev eth0 up
ip -n "$DOM0" route add default via 192.0.2.1 dev eth0
# the guest's NIC; the dom0 end is what netback would create: vif1.0, down
ip -n "$DOM0" link add name vif1.0 type veth peer name eth0 netns "$GUEST"
ip -n "$GUEST" addr add 192.0.2.51/24 dev eth0
ip -n "$GUEST" link set dev eth0 up
ip -n "$GUEST" route add default via 192.0.2.1 dev eth0
for c in read write rm exists list ls; do ln -s "$XSFAKE" "$WORK/bin/xenstore-$c"; done
echo "fake xenstore in $XS; binaries from $BIN"

section "dom0 before network-bridge"
show ip -n "$DOM0" -br link
show ip -n "$DOM0" -br addr
show ip -n "$DOM0" route

section "network-bridge start (as an administrator would run it)"
show in_dom0 timeout 45 "$BIN/network-bridge" start </dev/null

section "dom0 after network-bridge start: eth0 is now a bridge, the NIC is peth0"
show ip -n "$DOM0" -br link
show ip -n "$DOM0" -br addr
show ip -n "$DOM0" route
show ip netns exec "$DOM0" bridge link

section "libxl writes the guest's backend and frontend keys (spec §11.2)"
BE=/local/domain/0/backend/vif/1/0
FE=/local/domain/1/device/vif/0
in_dom0 xenstore-write \
  "$BE/frontend" "$FE" "$BE/frontend-id" 1 "$BE/online" 1 "$BE/state" 2 \
  "$BE/script" /etc/xen/scripts/vif-bridge "$BE/mac" 00:16:3e:00:01:00 \
  "$BE/bridge" xenbr0 "$BE/handle" 0 "$BE/type" vif "$BE/hotplug-status" "" \
  "$FE/backend" "$BE" "$FE/backend-id" 0 "$FE/state" 1 "$FE/handle" 0 \
  "$FE/mac" 00:16:3e:00:01:00 "$FE/mtu" 1500
show in_dom0 xenstore-ls "$BE"

section "vif-bridge online (bridge=xenbr0 in xenstore; translated to eth0 on this host, VB-04)"
libxl_vif_bridge online type_if=vif
printf 'hotplug-status = %s\n' "$(in_dom0 xenstore-read "$BE/hotplug-status")"
printf 'frontend mtu   = %s\n' "$(in_dom0 xenstore-read "$FE/mtu")"

section "dom0 with the guest attached"
show ip -n "$DOM0" -br link
show ip netns exec "$DOM0" bridge link
echo "+ iptables-save -t filter | grep FORWARD"
ip netns exec "$DOM0" iptables-save -t filter | grep -- '-A FORWARD' || echo "(no FORWARD rules)"

section "The guest pings the LAN (192.0.2.1) through vif1.0 and the bridge"
show ip netns exec "$GUEST" ping -n -c 3 -W 1 192.0.2.1

section "vif-bridge offline (the guest shuts down)"
libxl_vif_bridge offline type_if=vif
show ip -n "$DOM0" -br link
show ip netns exec "$DOM0" bridge link
echo "+ iptables-save -t filter | grep FORWARD"
ip netns exec "$DOM0" iptables-save -t filter | grep -- '-A FORWARD' || echo "(no FORWARD rules)"

section "network-bridge stop"
show in_dom0 timeout 45 "$BIN/network-bridge" stop </dev/null
show ip -n "$DOM0" -br link
show ip -n "$DOM0" -br addr
show ip -n "$DOM0" route
show ip netns exec "$DOM0" ping -n -c 1 -W 1 192.0.2.1

section "Done: everything worked"
