#!/usr/bin/env bash
# The Debian root that tests/deb/run.sh boots for a release: mmdebstrap --variant=minbase with
# systemd as init, ifupdown (Debian's default network configuration), iproute2, ping, nftables
# (what the package recommends, and Debian's default firewall), man-db (systemd-analyze verify
# looks up Documentation=) and Debian's own xen-utils-common, whose conffiles are the
# /etc/xen/scripts/vif-* that `xennet install` replaces. The package lists and the downloaded
# .debs are kept (--skip=cleanup/apt), so that `apt-get install --reinstall xen-utils-common`
# works inside the container, which has no way out.
#
#   mkroot.sh RELEASE     bookworm or trixie; prints `root <dir>` and `DEBHOST TIME …` lines
#
# Cached in $XENNET_DEB_CACHE/<release> (default /var/cache/xennet-deb, as tests/xl caches its
# packages in /var/cache/xennet-xl), keyed by everything that goes into it; built in a new
# directory and renamed into place, so an interrupted build leaves the cache as it was. The
# root is never booted itself: run.sh boots an overlay of it. Needs root, mmdebstrap and
# Debian's mirror (XENNET_DEB_MIRROR, default http://deb.debian.org/debian).
set -euo pipefail
release=${1:?usage: mkroot.sh bookworm|trixie}
case $release in bookworm | trixie) ;; *) echo "mkroot: release '$release' is not bookworm or trixie" >&2; exit 2 ;; esac
cache=${XENNET_DEB_CACHE:-/var/cache/xennet-deb}/$release
mirror=${XENNET_DEB_MIRROR:-http://deb.debian.org/debian}
packages=systemd,systemd-sysv,dbus,iproute2,ifupdown,iputils-ping,nftables,man-db,procps,xen-utils-common
sources="deb $mirror $release main
deb $mirror $release-updates main
deb http://deb.debian.org/debian-security $release-security main"
recipe=1   # bump when what goes into the root changes below
key="recipe=$recipe release=$release packages=$packages sources=$(tr '\n' '|' <<<"$sources")"

[ "$(id -u)" -eq 0 ] || { echo "mkroot: needs root" >&2; exit 1; }
command -v mmdebstrap >/dev/null ||
  { echo "mkroot: mmdebstrap is not installed (bash .ci/install-deps)" >&2; exit 1; }
dt() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
t0=$EPOCHREALTIME
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -d "$cache/root" ] && [ "$(cat "$cache/key" 2>/dev/null)" = "$key" ]; then
  echo "DEBHOST TIME mkroot-$release $(dt "$t0" "$EPOCHREALTIME") (cached)"
  echo "root $cache/root"
  exit 0
fi
rm -rf "$cache/root.new"
log=$cache/mmdebstrap.log
# In the finished root: a host name, no getty on nspawn's console, no timers, man-db's trigger
# off (it rebuilds its database at every package operation), and the network of the test's
# LAN in ifupdown's configuration: eth0 is the veth the test puts into the container's
# namespace, 192.0.2.1 the LAN's end.
if ! mmdebstrap --variant=minbase --mode=root --include="$packages" --skip=cleanup/apt \
    --customize-hook='echo xnt-dom0 > "$1/etc/hostname"; printf "127.0.1.1\txnt-dom0\n" >> "$1/etc/hosts"' \
    --customize-hook='chroot "$1" systemctl mask console-getty.service getty@tty1.service systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer >/dev/null 2>&1 || true' \
    --customize-hook='rm -f "$1/var/lib/man-db/auto-update"' \
    --customize-hook='printf "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n    address 192.0.2.10/24\n    gateway 192.0.2.1\n" > "$1/etc/network/interfaces"' \
    "$release" "$cache/root.new" - <<<"$sources" >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  rm -rf "$cache/root.new"
  echo "mkroot: mmdebstrap failed (whole log: $log)" >&2
  exit 1
fi
ls "$cache"/root.new/var/cache/apt/archives/xen-utils-common_*.deb >/dev/null 2>&1 || {
  echo "mkroot: xen-utils-common's .deb is not in the root's apt cache" >&2; exit 1; }
rm -rf "$cache/root.old"
if [ -d "$cache/root" ]; then mv "$cache/root" "$cache/root.old"; fi
mv "$cache/root.new" "$cache/root"
printf '%s\n' "$key" > "$cache/key"
rm -rf "$cache/root.old"
echo "DEBHOST TIME mkroot-$release $(dt "$t0" "$EPOCHREALTIME") (built, $(du -sh "$cache/root" | cut -f1))"
echo "root $cache/root"
