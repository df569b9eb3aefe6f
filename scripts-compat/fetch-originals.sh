#!/usr/bin/env bash
# Fetches Xen's original vif scripts from Debian 12's xen-utils-common at run time and prepares
# two runnable copies of them in OUTDIR (nothing is installed on the host, nothing is committed):
#
#   OUTDIR/debian/     the package's scripts as Debian ships them (handle_iptable switched off)
#   OUTDIR/upstream/   the same with Debian's switch-off undone: upstream Xen 4.17's behaviour
#   OUTDIR/VERSION     the package version the copies came from
#
# Only paths are rewritten (the build-time substitutions an upstream build makes anyway), so that
# everything the scripts write stays in the test bed's private directories:
#   hotplugpath.sh         XEN_SCRIPT_DIR / XEN_LOG_DIR keep the caller's values; bindir (the
#                          first PATH entry the vif scripts export) is XENNET_COMPAT_BINDIR, the
#                          test bed's fake xenstore clients, as /usr/bin holds xenstore-* on Xen
#   xen-hotplug-common.sh  the hotplug log and the hooks directory follow XEN_LOG_DIR and
#                          XEN_SCRIPT_DIR (upstream's .in has @XEN_LOG_DIR@, @XEN_SCRIPT_DIR@)
#   locking.sh             LOCK_BASEDIR follows XENNET_LOCK_DIR, as ours does
#   logging.sh             no syslog here: `log` takes the original's own fallback (its line to
#                          stderr, i.e. the hotplug log) instead of calling logger first
#
# Usage: fetch-originals.sh OUTDIR
#   XENNET_COMPAT_DEB=<file.deb>  use this package file instead of `apt-get download`
set -euo pipefail

out=${1:?usage: fetch-originals.sh OUTDIR}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

die() { echo "fetch-originals: $*" >&2; exit 1; }

deb=${XENNET_COMPAT_DEB:-}
if [ -z "$deb" ]; then
  download() {
    (cd "$work" && apt-get download -q -o APT::Sandbox::User=root xen-utils-common >"$work/apt.log" 2>&1)
  }
  if ! download; then
    # A machine whose package lists were never fetched: fetch them once, then retry.
    apt-get update -qq >"$work/apt-update.log" 2>&1 || true
    download || { cat "$work/apt.log" >&2; die "apt-get download xen-utils-common failed"; }
  fi
  deb=$(ls "$work"/xen-utils-common_*.deb 2>/dev/null | head -n1)
  [ -n "$deb" ] || die "apt-get download produced no xen-utils-common_*.deb"
fi
[ -f "$deb" ] || die "no such package file: $deb"
version=$(dpkg-deb -f "$deb" Version)
dpkg-deb -x "$deb" "$work/root"

src=$(find "$work/root" -type f -name vif-common.sh -printf '%h\n' | head -n1)
[ -n "$src" ] || die "vif-common.sh not found in $deb"

files=(vif-bridge vif-nat vif-route vif-common.sh xen-hotplug-common.sh xen-network-common.sh
       xen-script-common.sh logging.sh locking.sh hotplugpath.sh)

# Replaces exactly the expected text; a package whose text changed fails loudly instead of
# running unrewritten (which would write to /var/log/xen or /var/run/xen-hotplug).
rewrite() {
  local file=$1 from=$2 to=$3
  grep -qF -- "$from" "$file" || die "$(basename "$file"): expected text not found: $from"
  FROM=$from TO=$to perl -0pi -e 's/\Q$ENV{FROM}\E/$ENV{TO}/g' "$file"
}

d="$out/debian"
rm -rf "$d" "$out/upstream"
mkdir -p "$d"
for f in "${files[@]}"; do
  [ -f "$src/$f" ] || die "$f not found in $deb"
  cp "$src/$f" "$d/$f"
done
chmod 755 "$d/vif-bridge" "$d/vif-nat" "$d/vif-route"

rewrite "$d/hotplugpath.sh" 'XEN_SCRIPT_DIR="/etc/xen/scripts"' 'XEN_SCRIPT_DIR="${XEN_SCRIPT_DIR:-/etc/xen/scripts}"'
rewrite "$d/hotplugpath.sh" 'XEN_LOG_DIR="/var/log/xen"' 'XEN_LOG_DIR="${XEN_LOG_DIR:-/var/log/xen}"'
rewrite "$d/hotplugpath.sh" 'bindir="/usr/bin"' 'bindir="${XENNET_COMPAT_BINDIR:-/usr/bin}"'
rewrite "$d/xen-hotplug-common.sh" 'exec 2>>/var/log/xen/xen-hotplug.log' 'exec 2>>"$XEN_LOG_DIR/xen-hotplug.log"'
rewrite "$d/xen-hotplug-common.sh" 'for f in /etc/xen/scripts/${1}-${2}.d/*.hook; do' 'for f in "$XEN_SCRIPT_DIR"/${1}-${2}.d/*.hook; do'
rewrite "$d/locking.sh" 'LOCK_BASEDIR=/var/run/xen-hotplug' 'LOCK_BASEDIR="${XENNET_LOCK_DIR:-/var/run/xen-hotplug}"'
rewrite "$d/logging.sh" 'logger -p "daemon.$level" -- "$0:" "$@" || echo "$0 $@" >&2' 'echo "$0 $@" >&2'

# Nothing may still point at the host's own Xen directories.
if grep -nE '/var/log/xen|/var/run/xen-hotplug|/etc/xen/scripts/\$' "$d"/*.sh "$d"/vif-bridge "$d"/vif-nat "$d"/vif-route |
     grep -vE ':[0-9]+:\s*#|:-/' ; then
  die "a host path is left in the copies (above)"
fi

# Upstream = Debian minus its switch-off of handle_iptable (spec section 0, IPT-05).
u="$out/upstream"
cp -a "$d" "$u"
rewrite "$u/vif-common.sh" '  # This function is disabled in Debian packaging. See Debian bug #894013.
  return 0
' ''
awk '/^handle_iptable\(\)/ { f = 1 } f && /^\s*return 0\s*$/ { bad = 1 } f && /^}/ { f = 0 }
     END { exit bad }' "$u/vif-common.sh" || die "upstream copy: handle_iptable still returns early"

echo "$version" >"$out/VERSION"
echo "xen-utils-common $version: $d (Debian), $u (upstream)"
