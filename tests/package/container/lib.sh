#!/bin/bash
# Helpers of the checks that run inside the container (run.sh puts this file and one of
# 1-install.sh, 2-boot.sh, 3-dpkg.sh together as the boot's check script). One line per check:
#   PASS <name>            FAIL <name>: <why>
#   KNOWN <name>: <why>    a known defect, reported and counted but not failing the run; when
#                          its check starts passing it says PASS and `(was KNOWN ...)`
#   SKIP <name>: <why>     INFO <text>     TIME <phase> <seconds>
# followed by what the failing command printed, indented with `  | `.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
LIB=/usr/libexec/xen-netscripts
SCRIPTS=/etc/xen/scripts
PAYLOAD=/var/cache/xnt-pkg
VIFS="vif-bridge vif-nat vif-route vif-openvswitch"
NETS="network-bridge network-nat network-route"
out=/var/lib/xnt/last.out
mkdir -p /var/lib/xnt

pass() { echo "PASS $1${2:+ ($2)}"; }
fail() { echo "FAIL $1: $2"; }
info() { echo "INFO $*"; }
skip() { echo "SKIP $1: $2"; }
shown() { sed 's/^/  | /' "$out" | tail -n "${1:-15}"; }
# check <name> <why it fails> <command...>: the command's output goes to $out, shown on failure.
check() {
  local n=$1 why=$2
  shift 2
  if "$@" >"$out" 2>&1; then pass "$n"; else fail "$n" "$why"; shown; fi
}
# known <name> <the defect> <command that passes once it is fixed...>
known() {
  local n=$1 why=$2
  shift 2
  if "$@" >"$out" 2>&1; then pass "$n" "was KNOWN: $why; fixed? make it a check"; else
    echo "KNOWN $n: $why"; shown 8; fi
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
ping1() { ping -c1 -W2 "$1" || ping -c1 -W2 "$1" || ping -c1 -W2 "$1"; }

# The host's network as network-bridge start leaves it (conf: netdev=eth0 bridge=xenbr0): the
# bridge with a port, dom0's address and default route on it, the LAN reachable.
bridged() {
  [ -d /sys/class/net/xenbr0/bridge ] || { echo "no bridge xenbr0"; ip -br link; return 1; }
  ls /sys/class/net/xenbr0/brif/ | grep -q . || { echo "xenbr0 has no port"; return 1; }
  ip -4 addr show dev xenbr0 | grep -q 'inet 192.0.2.10/24' || { echo "xenbr0 lacks 192.0.2.10/24"; ip -br addr; return 1; }
  ip route show default | grep -q 'via 192.0.2.1 dev xenbr0' || { echo "no default route via xenbr0"; ip route; return 1; }
  ping1 192.0.2.1
}
# ... and as it was before (and after network-bridge stop): eth0 with both, no bridge.
unbridged() {
  [ ! -e /sys/class/net/xenbr0 ] || { echo "xenbr0 is still there"; ip -br link; return 1; }
  ip -4 addr show dev eth0 | grep -q 'inet 192.0.2.10/24' || { echo "eth0 lacks 192.0.2.10/24"; ip -br addr; return 1; }
  ip route show default | grep -q 'via 192.0.2.1 dev eth0' || { echo "no default route via eth0"; ip route; return 1; }
  ping1 192.0.2.1
}
net_state() { ip -br link; ip -br addr; ip route; }

# What `apt install ./xen-netscripts_*.deb` will do, until the package exists: the payload run.sh
# staged in $PAYLOAD (bin/: the multi-call binary, or per-script binaries), put where the package
# will put it. With a .deb in $PAYLOAD, the .deb is installed instead.
install_ours() {
  local deb n
  deb=$(ls "$PAYLOAD"/xen-netscripts_*.deb 2>/dev/null | head -n1)
  if [ -n "$deb" ]; then
    apt-get install -y "$deb" || return 1
  else
    mkdir -p "$LIB"
    if [ -f "$PAYLOAD/bin/xen-netscripts" ]; then
      install -m 755 "$PAYLOAD/bin/xen-netscripts" "$LIB/xen-netscripts"
      for n in $("$LIB/xen-netscripts" --list); do ln -sfn xen-netscripts "$LIB/$n"; done
    else
      for n in $VIFS $NETS xennet; do
        [ ! -f "$PAYLOAD/bin/$n" ] || install -m 755 "$PAYLOAD/bin/$n" "$LIB/$n"
      done
    fi
    ln -sfn ../libexec/xen-netscripts/xennet /usr/sbin/xennet
    [ ! -f "$LIB/xen-netscripts" ] || ln -sfn ../libexec/xen-netscripts/xen-netscripts /usr/sbin/xennet
    install -m 755 "$PAYLOAD/xen-netscripts-boot" "$LIB/xen-netscripts-boot"
    install -D -m 644 "$PAYLOAD/xen-netscripts.service" /usr/lib/systemd/system/xen-netscripts.service
    [ -e /etc/xen/xen-netscripts.conf ] || install -m 644 "$PAYLOAD/xen-netscripts.conf" /etc/xen/xen-netscripts.conf
    # the man pages the unit's Documentation= names (systemd-analyze verify looks them up)
    rm -rf /var/lib/xnt/man && mkdir -p /var/lib/xnt/man && xennet man --out /var/lib/xnt/man >/dev/null || return 1
    (cd /var/lib/xnt/man && ls) >/var/lib/xnt/man-files
    gzip -9n /var/lib/xnt/man/*.8 && cp /var/lib/xnt/man/*.8.gz /usr/share/man/man8/
  fi
  # The unit's command: the binary's `boot` subcommand, or the stand-in when the binary lacks it
  # (or run.sh asked for it) through a drop-in.
  local mode
  mode=$(cat "$PAYLOAD/boot-mode" 2>/dev/null || echo auto)
  if [ "$mode" = auto ]; then
    if [ -x "$LIB/xen-netscripts" ] && "$LIB/xen-netscripts" boot --help >/dev/null 2>&1; then mode=binary
    else mode=standin; fi
  fi
  if [ "$mode" = standin ]; then use_standin; else rm -rf /etc/systemd/system/xen-netscripts.service.d; fi
  echo "$mode" > /var/lib/xnt/boot-mode
  systemctl daemon-reload
}
use_standin() {
  mkdir -p /etc/systemd/system/xen-netscripts.service.d
  cat > /etc/systemd/system/xen-netscripts.service.d/xnt-standin.conf <<'UNIT'
# xnt test bed: the stand-in boot command (packaging/xen-netscripts-boot)
[Service]
ExecStart=
ExecStart=/usr/libexec/xen-netscripts/xen-netscripts-boot boot start
ExecStop=
ExecStop=/usr/libexec/xen-netscripts/xen-netscripts-boot boot stop
UNIT
}
# And what removing it (apt-get purge xen-netscripts) will do.
remove_ours() {
  if dpkg-query -W -f='${Status}' xen-netscripts 2>/dev/null | grep -q 'install ok'; then
    apt-get purge -y xen-netscripts || return 1
  else
    systemctl disable --now xen-netscripts.service || return 1
    xennet uninstall || return 1
    (cd /usr/share/man/man8 && sed 's/$/.gz/' /var/lib/xnt/man-files | xargs rm -f)
    rm -rf "$LIB" /usr/sbin/xennet /usr/lib/systemd/system/xen-netscripts.service \
      /etc/systemd/system/xen-netscripts.service.d /etc/xen/xen-netscripts.conf
    systemctl daemon-reload
  fi
}

# our_links: every script in /etc/xen/scripts is our link (what `xennet install` makes)
our_links() {
  local n t ok=0
  for n in $VIFS $NETS; do
    t=$(readlink "$SCRIPTS/$n" 2>/dev/null)
    if [ "$t" != "$LIB/$n" ]; then echo "$SCRIPTS/$n: $(ls -l "$SCRIPTS/$n" 2>&1)"; ok=1; fi
  done
  return $ok
}
# conffile_hash <path>: the md5 dpkg recorded for a conffile of xen-utils-common
conffile_hash() {
  dpkg-query -W -f='${Conffiles}\n' xen-utils-common | awk -v f="$1" '$1 == f { print $2 }'
}
# originals: every vif script is a regular file whose md5 is dpkg's recorded one
originals() {
  local n ok=0
  for n in $VIFS; do
    if [ -L "$SCRIPTS/$n" ] || [ "$(md5sum <"$SCRIPTS/$n" | cut -d' ' -f1)" != "$(conffile_hash "$SCRIPTS/$n")" ]; then
      echo "$SCRIPTS/$n: $(ls -l "$SCRIPTS/$n" 2>&1), md5 $(md5sum <"$SCRIPTS/$n" 2>&1 | cut -d' ' -f1), dpkg has $(conffile_hash "$SCRIPTS/$n")"
      ok=1
    fi
  done
  return $ok
}
# strays: files in /etc/xen/scripts that xen-utils-common does not own
no_strays() {
  local s
  s=$(comm -23 <(ls -A "$SCRIPTS" | sort) <(dpkg -L xen-utils-common | sed -n 's|^/etc/xen/scripts/||p' | sort))
  [ -z "$s" ] || { echo "not xen-utils-common's:" $s; return 1; }
}
dpkg_files() { # the dpkg leftovers next to the scripts and our binaries
  find /etc/xen "$LIB" -name '*.dpkg-*' 2>/dev/null | sort
}
