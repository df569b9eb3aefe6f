#!/usr/bin/env bash
# The Debian package as an administrator's host runs it: for Debian 12 (bookworm, Xen 4.17) and
# Debian 13 (trixie, Xen 4.20), a root made by mkroot.sh (cached) is booted three times with
# systemd-nspawn, as an overlay so that the cache stays clean, in a network namespace made here
# with a veth to a LAN namespace; inside.sh runs the checks of each boot:
#
#   [xntdeb-<pid>-<release>-lan<n>]  lan0 192.0.2.1/24
#      | veth
#   [xntdeb-<pid>-<release>-c<n>]    eth0 192.0.2.10/24 via ifupdown, default via 192.0.2.1
#      = the container: systemd, xen-utils-common, our package, xnt-test.service
#
#   1  apt install of the .deb, xennet install, mode=bridge, systemctl enable
#   2  the bridge after the reboot; systemctl stop and start
#   3  the shutdown's stop; dpkg reinstalls and upgrades of xen-utils-common (--force-confold,
#      --force-confnew, --force-confask) against our scripts; apt purge
#
# Namespaces are new for each boot (a NIC after a reset). Prints each check, `DEBHOST TIME` lines
# for the root, each boot and the steps inside, and exits non-zero on a failed or missing check.
#
#   run.sh [DEB]            default: the newest target/debian/xen-netscripts_*.deb
#   XENNET_DEB_RELEASES     default "bookworm trixie"
#   XENNET_DEB_CACHE        the roots' cache (mkroot.sh; default /var/cache/xennet-deb)
#   XENNET_DEB_TIMEOUT      seconds one boot may take (default 300)
#   XENNET_DEB_KEEP=1       keep the overlay's upper directory and the consoles (path printed)
#
# Needs root (without it: skipped, or failed under CI=true), mmdebstrap, systemd-nspawn and
# Debian's mirror for the first build of a root. Nothing here touches this machine's network:
# every link is made inside the namespaces, and the containers only get one of them.
set -euo pipefail
self=$(realpath "${BASH_SOURCE[0]}")
cd "$(dirname "$self")/../.."
here=tests/deb
releases=${XENNET_DEB_RELEASES:-bookworm trixie}
boot_timeout=${XENNET_DEB_TIMEOUT:-300}

if [ "$(id -u)" -ne 0 ]; then
  if [ "${CI:-}" = true ]; then echo "tests/deb needs root (CI=true: failing instead of skipping)" >&2; exit 1; fi
  echo "SKIPPED tests/deb: the package test boots containers and needs root"; exit 0
fi
deb=${1:-$(ls -t target/debian/xen-netscripts_*_amd64.deb 2>/dev/null | head -1)}
[ -n "$deb" ] && [ -f "$deb" ] ||
  { echo "tests/deb: no .deb (build it: cargo deb -p xen-netscripts)" >&2; exit 1; }
deb=$(realpath "$deb")
for tool in mmdebstrap systemd-nspawn dpkg-deb ip unshare nsenter timeout; do
  command -v "$tool" >/dev/null ||
    { echo "tests/deb: $tool is not installed (bash .ci/install-deps)" >&2; exit 1; }
done
# The overlays mounted here go with this process: a mount namespace of its own.
if [ -z "${XNT_DEB_UNSHARED:-}" ]; then
  exec env XNT_DEB_UNSHARED=1 unshare --mount --propagation private -- bash "$self" "$deb"
fi

# What each boot must report, each exactly once.
expected_1="boot1.network apt-install install.scripts-unchanged install.unit-disabled unit.verify
  install.name-links install.xennet install.man install.completions install.conffile
  install.mode-none doctor.before xennet-install xennet-install.ours xennet-install.originals-kept
  xennet-install.packaged-binary wrapper-runs doctor.all-ours conf.mode-bridge
  doctor.boot-not-enabled unit.enable doctor.boot-enabled"
expected_2="boot.unit-active boot.bridge boot.ping boot.order boot.status stop.network-back
  stop.status start.bridge-again"
expected_3="shutdown.stop boot.bridge-again reinstall.confold.kept reinstall.confnew.kept
  confask-confnew.originals-back doctor.says-xen doctor.says-which install-again.ours
  upgrade.confold.kept doctor.says-dist upgrade.confnew doctor.says-which-after-upgrade
  purge.prerm-ran purge.scripts-as-shipped purge.ours-gone purge.network-left-running"

dt() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# Namespaces of a run that no longer exists (killed) go first.
for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^xntdeb-[0-9]+-/ { print $1 }'); do
  pid=${ns#xntdeb-}; pid=${pid%%-*}
  [ -d "/proc/$pid" ] || ip netns del "$ns" 2>/dev/null || true
done

work=
nspawn_pid=
namespaces=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill -TERM "$nspawn_pid" 2>/dev/null || true
    sleep 2
    kill -KILL "$nspawn_pid" 2>/dev/null || true
  fi
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  if [ -n "$work" ]; then
    umount "$work/merged" 2>/dev/null || true
    if [ "${XENNET_DEB_KEEP:-}" = 1 ]; then echo "kept: $work"; else rm -rf "$work"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# An upgrade of xen-utils-common that changes vif-bridge: the installed version's .deb with
# "+xnt<n>" appended to its version and a line appended to the script.
make_upgrade() { # make_upgrade ROOT N OUTDIR
  local orig t ver
  orig=$(ls "$1"/var/cache/apt/archives/xen-utils-common_*.deb | head -1)
  t=$work/xuc$2
  dpkg-deb -R "$orig" "$t"
  ver=$(dpkg-deb -f "$orig" Version)+xnt$2
  sed -i "s/^Version: .*/Version: $ver/" "$t/DEBIAN/control"
  printf '# xnt%s: this line stands for what an upgrade changes in the script\n' "$2" >> "$t/etc/xen/scripts/vif-bridge"
  dpkg-deb -b -Zgzip "$t" "$3/xen-utils-common_xnt$2.deb" >/dev/null
  rm -rf "$t"
}

boot() { # boot RELEASE PHASE
  local release=$1 phase=$2 m=$work/merged t0 rc=0
  local ns_c=xntdeb-$$-$release-c$phase ns_lan=xntdeb-$$-$release-lan$phase
  echo "$phase" > "$m/root/xnt/phase"
  ip netns add "$ns_lan"; namespaces+=("$ns_lan")
  ip netns add "$ns_c"; namespaces+=("$ns_c")
  ip -n "$ns_c" link add eth0 type veth peer name lan0 netns "$ns_lan"
  ip -n "$ns_lan" link set lo up
  ip -n "$ns_lan" addr add 192.0.2.1/24 dev lan0
  ip -n "$ns_lan" link set lan0 up
  t0=$EPOCHREALTIME
  # nspawn itself runs in the container's namespace (nsenter), not only the container: the sysfs
  # it mounts for the container shows the namespace it is mounted from, and the scripts read
  # /sys/class/net (with --network-namespace-path alone it lists this machine's links).
  # CAP_NET_ADMIN: a dom0 configures its network (nspawn grants it only with networks of its own).
  [ -e "/run/netns/$ns_c" ] || { echo "tests/deb: no namespace $ns_c" >&2; exit 1; }
  timeout -k 10 "$boot_timeout" nsenter --net="/run/netns/$ns_c" \
    systemd-nspawn --quiet --directory="$m" --boot --register=no --keep-unit --console=pipe \
    --network-namespace-path="/run/netns/$ns_c" --capability=CAP_NET_ADMIN \
    --machine="xnt-$release" </dev/null >"$work/console.$phase" 2>&1 &
  nspawn_pid=$!
  wait "$nspawn_pid" || rc=$?
  nspawn_pid=
  echo "DEBHOST TIME $release-boot$phase $(dt "$t0" "$EPOCHREALTIME") (systemd-nspawn exit $rc)"
  ip netns del "$ns_c"; ip netns del "$ns_lan"
  sed 's/^XNT /  /' "$m/root/xnt/result.$phase" 2>/dev/null || true
  if ! grep -aq "^XNT DONE $phase" "$m/root/xnt/result.$phase" 2>/dev/null; then
    echo "  boot $phase of $release did not finish; the last console lines:"
    tr -d '\r' < "$work/console.$phase" | tail -n 40 | sed 's/^/    /'
  fi
}

failed=0
for release in $releases; do
  echo "==> $release"
  out=$(bash "$here/mkroot.sh" "$release") || { echo "$out"; exit 1; }
  grep '^DEBHOST' <<<"$out"
  root=$(awk '$1 == "root" { print $2 }' <<<"$out")
  work=$(mktemp -d "/var/tmp/xnt-deb-$release.XXXXXX")
  mkdir "$work/upper" "$work/work" "$work/merged"
  mount -t overlay overlay -o "lowerdir=$root,upperdir=$work/upper,workdir=$work/work" "$work/merged"
  m=$work/merged
  mkdir -p "$m/root/xnt" "$m/var/log/journal"
  cp "$deb" "$here/inside.sh" "$m/root/xnt/"
  make_upgrade "$root" 1 "$m/root/xnt"
  make_upgrade "$root" 2 "$m/root/xnt"
  cat > "$m/etc/systemd/system/xnt-test.service" <<'UNIT'
[Unit]
Description=xen-netscripts package test, one phase (tests/deb/inside.sh)
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/root/xnt/inside.sh
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=240
# A phase that hangs still powers the container off.
ExecStopPost=/bin/systemctl poweroff --no-block

[Install]
WantedBy=multi-user.target
UNIT
  ln -sf ../xnt-test.service "$m/etc/systemd/system/multi-user.target.wants/xnt-test.service"
  for phase in 1 2 3; do boot "$release" "$phase"; done
  for phase in 1 2 3; do
    var=expected_$phase
    for c in ${!var}; do
      n=$(grep -cE "^XNT (PASS|FAIL) $c:" "$m/root/xnt/result.$phase" 2>/dev/null || true)
      [ "$n" = 1 ] || { echo "MISSING $release boot $phase: $c (reported ${n:-0} times)"; failed=1; }
    done
    if grep -q '^XNT FAIL' "$m/root/xnt/result.$phase" 2>/dev/null; then failed=1; fi
  done
  pass=$(cat "$m"/root/xnt/result.* 2>/dev/null | grep -c '^XNT PASS' || true)
  fails=$(cat "$m"/root/xnt/result.* 2>/dev/null | grep -c '^XNT FAIL' || true)
  echo "$release: $pass passed, $fails failed"
  umount "$m"
  if [ "${XENNET_DEB_KEEP:-}" = 1 ]; then echo "kept: $work"; else rm -rf "$work"; fi
  work=
done
echo "package: $(stat -c %s "$deb") bytes, installed size $(dpkg-deb -f "$deb" Installed-Size) KiB ($(basename "$deb"))"
[ "$failed" = 0 ] || { echo "tests/deb: FAILED"; exit 1; }
echo "tests/deb: all checks passed"
