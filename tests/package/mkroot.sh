#!/usr/bin/env bash
# Makes the Debian root that tests/package/boot.sh boots: mmdebstrap --variant=minbase with
# systemd as init, iproute2, ping, a firewall and Debian's own xen-utils-common (the package
# whose conffiles /etc/xen/scripts/vif-* are). Cached under $XENNET_PKG_CACHE/<release>/root
# (default /var/cache/xennet-pkg), keyed by everything that goes into it: a second run with the
# same key prints the path at once.
#
#   mkroot.sh RELEASE        RELEASE: bookworm or trixie. Prints `root <path>` and timing lines.
#   XENNET_PKG_MIRROR        the Debian mirror (default http://deb.debian.org/debian)
#
# Needs root, mmdebstrap and network access to the mirror (bash .ci/install-deps installs
# mmdebstrap). Nothing is installed on this machine; the root is built in a new directory and
# renamed into place, so an interrupted build leaves the cache as it was.
set -euo pipefail
release=${1:?usage: mkroot.sh bookworm|trixie}
cache=${XENNET_PKG_CACHE:-/var/cache/xennet-pkg}/$release
mirror=${XENNET_PKG_MIRROR:-http://deb.debian.org/debian}

# What each release's root holds (man-db: systemd-analyze verify looks up the unit's
# Documentation= pages with man). The firewall differs on purpose: bookworm gets the iptables
# package (iptables-nft), trixie only nftables, Debian's default; the scripts' firewall=auto
# must cope with either.
common=(systemd systemd-sysv dbus iproute2 iputils-ping procps man-db xen-utils-common)
case $release in
  bookworm) extra=(iptables) ;;
  trixie) extra=(nftables) ;;
  *) echo "mkroot: unknown release '$release' (bookworm or trixie)" >&2; exit 2 ;;
esac
pkgs=$(printf '%s\n' "${common[@]}" "${extra[@]}" | sort | paste -sd, -)
components=main
# Security and point-release updates too: what an administrator's apt would install.
sources="deb $mirror $release $components
deb $mirror $release-updates $components
deb http://deb.debian.org/debian-security $release-security $components"
# Bump when the hooks below change what goes into the root.
recipe=3
key="recipe=$recipe release=$release include=$pkgs sources=$(printf '%s' "$sources" | tr '\n' '|')"

[ "$(id -u)" -eq 0 ] || { echo "mkroot: needs root" >&2; exit 1; }
command -v mmdebstrap >/dev/null || {
  echo "mkroot: mmdebstrap is not installed (bash .ci/install-deps, or apt-get install mmdebstrap)" >&2; exit 1; }

dt() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
t0=$EPOCHREALTIME
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9     # two runs for one release build it once
if [ -d "$cache/root" ] && [ -f "$cache/key" ] && [ "$(cat "$cache/key")" = "$key" ]; then
  echo "PKGHOST TIME mkroot $(dt "$t0" "$EPOCHREALTIME") (cached)"
  echo "root $cache/root"
  exit 0
fi

new=$cache/root.new
rm -rf "$new" "$cache/root.old"
log=$cache/mmdebstrap.log
# The customize hooks run in the finished root before mmdebstrap's cleanup:
# - xen-utils-common's .deb is kept in /var/cache/xnt-debs, and the package lists are kept
#   (--skip=cleanup/apt/lists), so that run.sh can `apt-get install --reinstall` it inside the
#   container, which has no way out to the mirror;
# - the container boots to multi-user with a fixed hostname and no getty on the console
#   (nspawn's --console=pipe), and a persistent journal, read by run.sh after the container ends.
if ! printf '%s\n' "$sources" | mmdebstrap --variant=minbase --mode=root --include="$pkgs" \
    --skip=cleanup/apt/lists \
    --customize-hook='mkdir -p "$1/var/cache/xnt-debs" && cp "$1"/var/cache/apt/archives/xen-utils-common_*.deb "$1/var/cache/xnt-debs/"' \
    --customize-hook='echo xnt-host > "$1/etc/hostname"; printf "127.0.1.1\txnt-host\n" >> "$1/etc/hosts"' \
    --customize-hook='mkdir -p "$1/var/log/journal"; chroot "$1" systemctl set-default multi-user.target' \
    --customize-hook='chroot "$1" systemctl mask getty@tty1.service console-getty.service serial-getty@.service systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer 2>/dev/null || true' \
    "$release" "$new" - >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  rm -rf "$new"
  echo "mkroot: mmdebstrap failed (log: $log)" >&2
  exit 1
fi
ls "$new"/var/cache/xnt-debs/xen-utils-common_*.deb >/dev/null || {
  echo "mkroot: xen-utils-common's .deb was not kept" >&2; exit 1; }
if [ -d "$cache/root" ]; then mv "$cache/root" "$cache/root.old"; fi
mv "$new" "$cache/root"
printf '%s\n' "$key" > "$cache/key"
rm -rf "$cache/root.old"
echo "PKGHOST TIME mkroot $(dt "$t0" "$EPOCHREALTIME") (built)"
echo "PKGHOST root $(du -sh "$cache/root" | cut -f1) $(chroot "$cache/root" dpkg-query -W -f='xen-utils-common=${Version} systemd=' xen-utils-common)$(chroot "$cache/root" dpkg-query -W -f='${Version}' systemd)"
echo "root $cache/root"
