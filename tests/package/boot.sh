#!/usr/bin/env bash
# Boots a Debian root (a writable copy: run.sh mounts an overlay over mkroot.sh's cached root)
# with systemd-nspawn inside network namespaces made here, runs a check script in it as the last
# unit of the boot, and powers off:
#
#   [xntpkg-<pid>-lan]  lan0 192.0.2.1/24
#      | veth
#   [xntpkg-<pid>-c<n>] eth0 192.0.2.10/24, default via 192.0.2.1 (xnt-lan.service, inside)
#      = the container: its systemd, our unit, the check (xnt-check.service)
#
#   boot.sh [--timeout SECONDS] ROOT CHECK OUTDIR
#
# CHECK is a script run inside as /usr/local/lib/xnt/check by xnt-check.service (After=
# multi-user.target), its output kept in OUTDIR/result with `XNT START|END <epoch>` and
# `XNT EXIT <status>` around it; the unit then powers the container off (also when the check
# fails or hangs: TimeoutStartSec). Also in OUTDIR: console (the container's console), journal
# (the boot's journal up to the end of the check), netns-after
# (the container namespace's addresses, routes and links after it powered off: what the
# shutdown left), times. The namespaces are new for each boot, as a NIC after a reset; they and
# the container are gone when this script exits, also on failure or a signal. Prints
# `PKGHOST TIME boot|check|shutdown <seconds>` lines.
#
# Nothing here touches this machine's own network: every link is made inside the namespaces
# (`ip -n`), and the container only ever gets --network-namespace-path of one of them.
set -euo pipefail
timeout_s=300
if [ "${1:-}" = --timeout ]; then timeout_s=$2; shift 2; fi
root=${1:?usage: boot.sh [--timeout S] ROOT CHECK OUTDIR}
check=${2:?usage: boot.sh [--timeout S] ROOT CHECK OUTDIR}
out=${3:?usage: boot.sh [--timeout S] ROOT CHECK OUTDIR}
[ "$(id -u)" -eq 0 ] || { echo "boot.sh: needs root" >&2; exit 1; }
[ -x "$root/usr/lib/systemd/systemd" ] || [ -x "$root/lib/systemd/systemd" ] ||
  { echo "boot.sh: $root has no systemd" >&2; exit 1; }
command -v systemd-nspawn >/dev/null ||
  { echo "boot.sh: systemd-nspawn is not installed (bash .ci/install-deps)" >&2; exit 1; }
mkdir -p "$out"

# Namespaces of a boot.sh that no longer runs (killed with SIGKILL) go first.
for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^xntpkg-[0-9]+-/ { print $1 }'); do
  pid=${ns#xntpkg-}; pid=${pid%%-*}
  [ -d "/proc/$pid" ] || ip netns del "$ns" 2>/dev/null || true
done

n=0
while ip netns list | awk '{ print $1 }' | grep -qx "xntpkg-$$-c$n"; do n=$((n + 1)); done
ns_c=xntpkg-$$-c$n
ns_lan=xntpkg-$$-lan$n
nspawn_pid=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill -TERM "$nspawn_pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$nspawn_pid" 2>/dev/null || true
    wait "$nspawn_pid" 2>/dev/null || true
  fi
  ip netns del "$ns_c" 2>/dev/null || true
  ip netns del "$ns_lan" 2>/dev/null || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$ns_lan"
ip netns add "$ns_c"
ip -n "$ns_c" link add eth0 type veth peer name lan0 netns "$ns_lan"
ip -n "$ns_lan" link set lo up
ip -n "$ns_lan" addr add 192.0.2.1/24 dev lan0
ip -n "$ns_lan" link set lan0 up

# The units the test bed adds to the root (idempotent: written again at each boot).
sd=$root/etc/systemd/system
mkdir -p "$sd/network-online.target.wants" "$sd/multi-user.target.wants" "$root/usr/local/lib/xnt" \
         "$root/var/lib/xnt"
cat > "$sd/xnt-lan.service" <<'EOF'
# xnt test bed: eth0's address and default route, as ifupdown's networking.service or
# systemd-networkd would give them (the uplink network-bridge takes over).
[Unit]
Description=xnt test bed: eth0 192.0.2.10/24, default via 192.0.2.1
DefaultDependencies=no
After=systemd-sysctl.service
Before=network.target network-online.target
Wants=network.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/ip link set lo up
ExecStart=/usr/sbin/ip link set eth0 up
ExecStart=/usr/sbin/ip addr add 192.0.2.10/24 dev eth0
ExecStart=/usr/sbin/ip route add default via 192.0.2.1 dev eth0

[Install]
WantedBy=network-online.target multi-user.target
EOF
cat > "$sd/xnt-check.service" <<'EOF'
# xnt test bed: the boot's checks, then power off.
[Unit]
Description=xnt test bed: the checks of this boot
After=multi-user.target xen-netscripts.service xen.service xendomains.service
SuccessAction=poweroff
FailureAction=poweroff

[Service]
Type=oneshot
ExecStart=/usr/local/lib/xnt/run-check
TimeoutStartSec=240
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
EOF
cat > "$root/usr/local/lib/xnt/run-check" <<'EOF'
#!/bin/sh
r=/var/lib/xnt/result
{ echo "XNT START $(date +%s.%N)"
  /usr/local/lib/xnt/check
  echo "XNT EXIT $?"
  echo "XNT END $(date +%s.%N)"; } >"$r.tmp" 2>&1
mv "$r.tmp" "$r"
journalctl -b --no-pager -o short-monotonic >/var/lib/xnt/journal 2>&1
sync
EOF
chmod +x "$root/usr/local/lib/xnt/run-check"
ln -sfn ../xnt-lan.service "$sd/network-online.target.wants/xnt-lan.service"
ln -sfn ../xnt-lan.service "$sd/multi-user.target.wants/xnt-lan.service"
ln -sfn ../xnt-check.service "$sd/multi-user.target.wants/xnt-check.service"
cp "$check" "$root/usr/local/lib/xnt/check"
chmod +x "$root/usr/local/lib/xnt/check"
rm -f "$root/var/lib/xnt/result" "$root/var/lib/xnt/result.tmp" "$root/var/lib/xnt/journal"

dt() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
t0=$EPOCHREALTIME
# A host without systemd as init (like these machines): no machined to register with, no unit
# to make a scope in. systemd 256 and newer (trixie) no longer boot on cgroup v1, so the
# container gets the unified hierarchy whatever the host mounts.
SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 SYSTEMD_NSPAWN_API_VFS_WRITABLE=network timeout -k 10 "$timeout_s" \
  systemd-nspawn -q -D "$root" --boot --register=no --keep-unit --console=pipe --capability=CAP_NET_ADMIN \
    --machine="xnt-$$-$n" --network-namespace-path="/run/netns/$ns_c" \
    </dev/null >"$out/console" 2>&1 &
nspawn_pid=$!
rc=0
wait "$nspawn_pid" || rc=$?
nspawn_pid=
t3=$EPOCHREALTIME
{
  echo "# ip -br addr";  ip -n "$ns_c" -br addr
  echo "# ip route";     ip -n "$ns_c" route
  echo "# ip -6 route";  ip -n "$ns_c" -6 route
  echo "# ip -d link";   ip -n "$ns_c" -d link
} >"$out/netns-after" 2>&1
[ ! -f "$root/var/lib/xnt/journal" ] || cp "$root/var/lib/xnt/journal" "$out/journal"
if [ -f "$root/var/lib/xnt/result" ]; then
  cp "$root/var/lib/xnt/result" "$out/result"
else
  echo "XNT NORESULT (nspawn exit $rc)" >"$out/result"
fi
t1=$(awk '/^XNT START/ { print $3 }' "$out/result")
t2=$(awk '/^XNT END/ { print $3 }' "$out/result")
{
  if [ -n "$t1" ]; then echo "PKGHOST TIME boot $(dt "$t0" "$t1")"; fi
  if [ -n "$t1" ] && [ -n "$t2" ]; then echo "PKGHOST TIME check $(dt "$t1" "$t2")"; fi
  if [ -n "$t2" ]; then echo "PKGHOST TIME shutdown $(dt "$t2" "$t3")"; fi
  echo "PKGHOST TIME container $(dt "$t0" "$t3") (nspawn exit $rc)"
} | tee "$out/times"
# nspawn exits 0 on a poweroff (133 would be a reboot); a timeout is 124.
[ "$rc" -eq 0 ] || { echo "boot.sh: systemd-nspawn exited $rc (timeout ${timeout_s}s is 124)" >&2; exit 1; }
