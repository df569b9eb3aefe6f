#!/usr/bin/env bash
# The package test bed (issue 16): our files on a real Debian root booted with systemd, for each
# release. Per release, on an overlay over mkroot.sh's cached root, three boots (boot.sh):
#   1 install our files and the unit, `xennet install` the scripts, systemd-analyze verify, the
#     stand-in boot command, the config set to mode=bridge, the unit enabled;
#   2 the unit ran at boot: bridge, dom0's address and default route on it, the LAN answers;
#     `systemctl stop` gives them back to eth0; started again, and the shutdown's stop checked
#     from outside (what the container's namespace holds after it powered off);
#   3 xen-utils-common reinstalled (--force-confold, --force-confnew) and upgraded to changed
#     scripts: what dpkg does with our links; ours removed: /etc/xen/scripts is Debian's again.
# Prints PASS/FAIL/KNOWN/SKIP per check and a total; exits 1 on a FAIL, a missing check or a boot
# that did not finish.
#
#   tests/package/run.sh [RELEASE...]      default: bookworm trixie
#   XENNET_PKG_BIN_DIR   the binaries to install (default: target/release, built here): the
#                        multi-call xen-netscripts, or per-script binaries named like the scripts
#   XENNET_PKG_DEB       a xen-netscripts_*.deb: installed with apt instead of the loose files
#   XENNET_PKG_BOOT      auto (default: the binary's `boot` subcommand when it has one), binary
#                        or standin (packaging/xen-netscripts-boot, through a unit drop-in)
#   XENNET_PKG_TIMEOUT   seconds per boot (default 300)
#   XENNET_PKG_CACHE     mkroot.sh's cache (default /var/cache/xennet-pkg)
#   XENNET_PKG_KEEP=1    keep each release's work directory (the overlay's upper layer, results)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
here=tests/package
[ "$(id -u)" -eq 0 ] || { echo "package test: needs root (mmdebstrap, namespaces, systemd-nspawn)" >&2; exit 1; }
releases=("$@")
[ "${#releases[@]}" -gt 0 ] || releases=(bookworm trixie)
timeout_s=${XENNET_PKG_TIMEOUT:-300}
boot_mode=${XENNET_PKG_BOOT:-auto}
case $boot_mode in auto | binary | standin) ;; *) echo "XENNET_PKG_BOOT: auto, binary or standin" >&2; exit 2 ;; esac
for tool in mmdebstrap systemd-nspawn ip; do
  command -v "$tool" >/dev/null || { echo "package test: $tool is not installed (bash .ci/install-deps)" >&2; exit 1; }
done

if [ -n "${XENNET_PKG_DEB:-}" ]; then
  [ -f "$XENNET_PKG_DEB" ] || { echo "XENNET_PKG_DEB: $XENNET_PKG_DEB is not a file" >&2; exit 1; }
  bins=
elif [ -n "${XENNET_PKG_BIN_DIR:-}" ]; then
  bins=$XENNET_PKG_BIN_DIR
else
  cargo build --release --workspace -q
  bins=target/release
fi

# The checks each boot must report, each exactly once.
boot1=(bed.lan-ping install.files install.runs install.unit install.conf unit.verify
       scripts.install scripts.linked scripts.originals-kept scripts.doctor unit.enable
       unit.ordering unit.not-active standin.args standin.none standin.unknown-mode standin.nat
       standin.same-as-boot conf.bridge)
boot2=(boot.unit-active boot.bridged boot.journal boot.order stop.rc stop.unbridged stop.inactive
       stop.journal standin.unit-start standin.unit-bridged standin.unit-stop
       standin.unit-unbridged start.again start.bridged)
boot3=(shutdown.journal boot3.bridged dpkg.confold.rc dpkg.confold.links-kept
       dpkg.confold.binary-intact dpkg.confnew.rc dpkg.confnew.links-kept
       dpkg.confnew.binary-intact dpkg.no-dpkg-new clean.remove clean.unbridged clean.originals
       clean.dpkg-verify clean.md5sums clean.ours-gone clean.no-strays upgrade.debs upgrade.ours
       upgrade.confold.rc upgrade.confold.links-kept upgrade.confold.binary-intact
       upgrade.confold.new-aside upgrade.confnew.rc upgrade.confnew.links-kept
       upgrade.confnew.binary-intact upgrade.confnew.new-aside upgrade.remove
       upgrade.current-scripts upgrade.verify-blind upgrade.heal)

dt() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
works=()
mounts=()
cleanup() {
  local m w
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  if [ "${XENNET_PKG_KEEP:-}" != 1 ]; then
    for w in "${works[@]}"; do rm -rf "$w"; done
  else
    for w in "${works[@]}"; do echo "kept: $w"; done
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

npass=0 nfail=0 nknown=0 nskip=0
times=()
# report <release> <result file> <expected...>: the boot's lines, each expected check once.
report() {
  local rel=$1 res=$2 c n
  shift 2
  sed -n -e "s/^\(PASS\|FAIL\|KNOWN\|SKIP\|INFO\) /\1 $rel /p" -e '/^  | /p' "$res"
  grep -q '^XNT EXIT 0' "$res" || { echo "FAIL $rel: the check script did not finish ($(grep '^XNT ' "$res" | tail -n1))"; nfail=$((nfail + 1)); }
  for c in "$@"; do
    n=$(grep -cE "^(PASS|FAIL|KNOWN|SKIP) ${c//./\\.}( |:|$)" "$res" || true)
    [ "$n" -eq 1 ] || { echo "FAIL $rel $c: reported $n times"; nfail=$((nfail + 1)); }
  done
  npass=$((npass + $(grep -c '^PASS ' "$res" || true)))
  nfail=$((nfail + $(grep -c '^FAIL ' "$res" || true)))
  nknown=$((nknown + $(grep -c '^KNOWN ' "$res" || true)))
  nskip=$((nskip + $(grep -c '^SKIP ' "$res" || true)))
}

for rel in "${releases[@]}"; do
  echo
  echo "==> $rel"
  t0=$EPOCHREALTIME
  mk=$(bash "$here/mkroot.sh" "$rel") || { echo "FAIL $rel: mkroot.sh failed"; nfail=$((nfail + 1)); continue; }
  grep '^PKGHOST' <<<"$mk" | sed 's/^/  /'
  cached=$(awk '/^root / { print $2 }' <<<"$mk")
  times+=("$rel mkroot $(awk '/^PKGHOST TIME mkroot/ { print $4, $5 }' <<<"$mk")")

  t1=$EPOCHREALTIME
  work=$(mktemp -d "/var/tmp/xnt-pkg-$rel.XXXXXX")
  works+=("$work")
  mkdir -p "$work/upper" "$work/work" "$work/root"
  # The cached root stays as it is (and is not rebuilt under us: mkroot.sh takes the lock
  # exclusively); every boot of this release writes to the overlay's upper layer.
  exec {lockfd}<"$(dirname "$cached")/.lock"
  flock -s "$lockfd"
  mount -t overlay overlay -o "lowerdir=$cached,upperdir=$work/upper,workdir=$work/work" "$work/root"
  mounts+=("$work/root")
  root=$work/root
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$root/etc/machine-id"
  # The payload install_ours (container/lib.sh) puts in place, as the package will.
  p=$root/var/cache/xnt-pkg
  mkdir -p "$p/bin"
  if [ -n "${XENNET_PKG_DEB:-}" ]; then
    cp "$XENNET_PKG_DEB" "$p/"
  elif [ -e "$bins/xen-netscripts" ]; then
    cp -L "$bins/xen-netscripts" "$p/bin/"
  else
    for n in vif-bridge vif-nat vif-route vif-openvswitch network-bridge network-nat network-route xennet; do
      [ ! -e "$bins/$n" ] || cp -L "$bins/$n" "$p/bin/"
    done
    [ -e "$p/bin/vif-bridge" ] || { echo "package test: no xen-netscripts or vif-bridge in $bins" >&2; exit 1; }
  fi
  cp packaging/xen-netscripts.service packaging/xen-netscripts.conf packaging/xen-netscripts-boot "$p/"
  echo "$boot_mode" >"$p/boot-mode"
  times+=("$rel setup $(dt "$t1" "$EPOCHREALTIME")")

  for b in 1 2 3; do
    case $b in 1) s=1-install.sh; exp=("${boot1[@]}") ;; 2) s=2-boot.sh; exp=("${boot2[@]}") ;; 3) s=3-dpkg.sh; exp=("${boot3[@]}") ;; esac
    cat "$here/container/lib.sh" "$here/container/$s" >"$work/check-$b"
    echo "-- $rel boot $b ($s)"
    brc=0
    bash "$here/boot.sh" --timeout "$timeout_s" "$root" "$work/check-$b" "$work/out-$b" >"$work/boot-$b.log" 2>&1 || brc=$?
    report "$rel" "$work/out-$b/result" "${exp[@]}"
    if grep -q '^FAIL ' "$work/out-$b/result"; then
      echo "  (the boot's journal: $work/out-$b/journal; XENNET_PKG_KEEP=1 keeps it)"
    fi
    if [ "$brc" -ne 0 ]; then
      echo "FAIL $rel boot $b: boot.sh failed:"; sed 's/^/  | /' "$work/boot-$b.log" | tail -n 5
      tail -n 30 "$work/out-$b/console" 2>/dev/null | sed 's/^/  console| /'
      tail -n 40 "$work/out-$b/journal" 2>/dev/null | sed 's/^/  journal| /'
      nfail=$((nfail + 1))
    fi
    while read -r _ _ ph sec rest; do
      times+=("$rel boot$b-$ph $sec${rest:+ $rest}")
    done < <(grep '^PKGHOST TIME' "$work/out-$b/times" 2>/dev/null || true)
    while read -r _ ph sec; do times+=("$rel boot$b-in:$ph $sec"); done < <(grep '^TIME ' "$work/out-$b/result" || true)
    if [ "$b" = 2 ]; then
      # The shutdown ran the unit's stop: the namespace the container left holds eth0 with its
      # address and default route, and no bridge.
      na=$work/out-2/netns-after
      if grep -qE '^eth0(@[^ ]*)? +[A-Z]+ +192\.0\.2\.10/24' "$na" && grep -q '^default via 192.0.2.1 dev eth0' "$na" &&
         ! grep -q 'xenbr0' "$na"; then
        echo "PASS $rel shutdown.gave-back"; npass=$((npass + 1))
      else
        echo "FAIL $rel shutdown.gave-back: after poweroff the namespace does not hold eth0 192.0.2.10/24 with the default route and no bridge"
        sed 's/^/  | /' "$na" | head -n 12
        nfail=$((nfail + 1))
      fi
    fi
  done
  times+=("$rel total $(dt "$t0" "$EPOCHREALTIME")")
  umount "$root" && mounts=("${mounts[@]/$root}")
  flock -u "$lockfd"; exec {lockfd}<&-
  times+=("$rel cache $(du -sh "$(dirname "$cached")" | cut -f1) $(dirname "$cached"), work $(du -sh "$work/upper" | cut -f1)")
done

echo
echo "phase times (seconds):"
printf '  %s\n' "${times[@]}"
echo "package test: $npass passed, $nfail failed, $nknown known, $nskip skipped (${releases[*]})"
[ "$nfail" -eq 0 ]
