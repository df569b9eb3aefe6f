#!/bin/sh
# /init of dom0 in the emulated Xen host (see tests/xl/run.sh). Starts the real toolstack, then
# lets the real xl create guests whose vifs libxl hands to our binaries in /etc/xen/scripts, and
# checks the effects. One line per check on the console: `XLTEST PASS <check>` or
# `XLTEST FAIL <check>: <why>`; `XLTEST TIME <phase> <seconds>`; `XLTEST DONE` at the end.
# This is the emulated machine's own dom0: it may change its links freely.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /run
mount -t tmpfs tmp /tmp
mkdir -p /dev/pts && mount -t devpts pts /dev/pts

now() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
pass() { echo "XLTEST PASS $1"; }
fail() { echo "XLTEST FAIL $1: $2"; }
# check <name> <why it failed> <command...>
check() {
  n=$1 why=$2
  shift 2
  if "$@" >/dev/null 2>&1; then pass "$n"; else fail "$n" "$why"; fi
}
show() { # a file on the console, for the post-mortem of a failure
  echo "---- $1"
  cat "$1" 2>/dev/null | tail -n "${2:-40}"
  echo "----"
}
finish() {
  echo "XLTEST DONE"
  sync
  poweroff -f
}

echo "XLTEST BOOTED $(now)"
while read -r m; do insmod "$m" || echo "insmod $m failed"; done < /etc/xltest/modules
mkdir -p /proc/xen && mount -t xenfs xenfs /proc/xen
mkdir -p /run/xenstored /var/lib/xenstored /var/lib/xen /var/log/xen/console /var/lock \
         /run/xen /run/xen-hotplug /var/run
syslogd -O /var/log/messages
t=$(now)
xenstored --pid-file=/run/xenstored.pid
i=0
until xenstore-exists / 2>/dev/null; do
  i=$((i + 1)); [ $i -lt 50 ] || break; sleep 0.2
done
xen-init-dom0 >/dev/null 2>&1
xenconsoled --log=guest --log-dir=/var/log/xen/console
if xl info >/tmp/xlinfo 2>&1; then
  pass toolstack
else
  fail toolstack "xl info failed"; show /tmp/xlinfo; finish
fi
echo "XLTEST TIME toolstack $(since "$t")"
echo "XLTEST INFO $(cat /etc/xltest/release), $(xl info | awk '$1 == "xen_version" { print "xl info: xen_version " $3 }'), uname $(uname -r), $(/usr/sbin/ip -V 2>&1), $(iptables -V 2>&1), busybox $(busybox 2>&1 | head -n1 | cut -d" " -f2)"

# --- our scripts: from the Debian package (unpacked into the image), installed as an
# administrator does; or the release binaries build-image.sh linked in place.
if [ -x /usr/sbin/xennet ]; then
  /usr/sbin/xennet install >/tmp/install.out 2>&1
  if head -n 2 /etc/xen/scripts/vif-bridge | grep -q 'written by `xennet install`' &&
     /etc/xen/scripts/vif-bridge --help 2>&1 | grep -q 'vif-bridge'; then
    pass scripts-installed
    echo "XLTEST INFO scripts from the package: $(ls /usr/libexec/xen-netscripts | tr '\n' ' ')"
  else
    fail scripts-installed "xennet install did not put our scripts in /etc/xen/scripts"; show /tmp/install.out
  fi
else
  check scripts-installed "/etc/xen/scripts/vif-bridge is not ours" test -L /etc/xen/scripts/vif-bridge
fi

# --- the host's uplink: dom0 has no NIC (QEMU runs with -nic none), so a dummy eth0 with an
# address and a default route stands in for it, and network-bridge turns it into xenbr0.
ip link add eth0 type dummy
ip addr add 192.0.2.10/24 dev eth0
ip link set eth0 up
ip route add default via 192.0.2.1 dev eth0
t=$(now)
/etc/xen/scripts/network-bridge start bridge=xenbr0 netdev=eth0 >/tmp/nb.out 2>&1
nb=$?
echo "XLTEST TIME network-bridge $(since "$t")"
if [ $nb -eq 0 ] && [ -d /sys/class/net/xenbr0/bridge ] &&
   ip -4 addr show dev xenbr0 | grep -q 192.0.2.10/24 &&
   ip route show default | grep -q 'via 192.0.2.1 dev xenbr0' &&
   ls /sys/class/net/xenbr0/brif/ | grep -q .; then
  pass network-bridge-start
else
  fail network-bridge-start "exit $nb, or xenbr0 is not a bridge with a port, 192.0.2.10/24 and the default route"
  nb=1
  show /tmp/nb.out; ip addr; ip route
  # Build xenbr0 by hand so that the vif checks still run.
  ip addr flush dev eth0
  ip link add xenbr0 type bridge 2>/dev/null
  ip link set xenbr0 up
  ip addr add 192.0.2.10/24 dev xenbr0 2>/dev/null
fi

# One guest per mode, created one after the other (xl create takes 8-30 s here) and left to boot
# side by side, then checked, then destroyed.
# create <name> <vif spec> <guest address> <peer the guest pings> [more kernel arguments]: xl
# create, timed; notes the domid in /tmp/<name>.domid.
create() {
  name=$1
  cat > "/tmp/$name.cfg" <<CFG
name = "$name"
type = "pv"
kernel = "/boot/vmlinuz"
ramdisk = "/boot/guest.cpio.gz"
extra = "console=hvc0 quiet xlt_addr=$3 xlt_peer=$4 ${5:-}"
memory = 128
vcpus = 1
vif = [ '$2' ]
CFG
  t=$(now)
  timeout 120 xl create "/tmp/$name.cfg" >"/tmp/$name.create" 2>&1
  rc=$?
  echo "XLTEST TIME $name.create $(since "$t")"
  xl domid "$name" >"/tmp/$name.domid" 2>/dev/null
  now >"/tmp/$name.created"
  return $rc
}
# guest <name>: $domid, $be (its vif's backend directory in xenstore) and $dev (its vif)
guest() {
  domid=$(cat "/tmp/$1.domid" 2>/dev/null)
  be=/local/domain/0/backend/vif/$domid/0
  dev=vif$domid.0
}
console() { cat "/var/log/xen/console/guest-$1.log" 2>/dev/null; }
# wait_ping <name>: waits for the guest's console to report its ping; its time is the guest's
# own uptime then (kernel boot, netfront, the vif connected, the ping).
wait_ping() {
  [ -s "/tmp/$1.domid" ] || return 1
  i=0
  until console "$1" | grep -q 'GUEST PING' || [ $i -ge 240 ]; do sleep 0.5; i=$((i + 1)); done
  console "$1" | grep -q 'GUEST PING OK' || return 1
  echo "XLTEST TIME $1.boot+ping $(console "$1" | sed -n 's/.*GUEST PING OK .* at \([0-9.]*\).*/\1/p')"
}
# created <check prefix> <guest prefix> <pid>...: a check line per `create` run in the
# background, guest N being <guest prefix>N
created() {
  pre=$1 gp=$2
  shift 2
  g=0
  for p in "$@"; do
    g=$((g + 1))
    if wait "$p"; then pass "$pre.g$g.create"; else
      fail "$pre.g$g.create" "xl create $gp$g failed"; show "/tmp/$gp$g.create"; fi
  done
}
# destroyed <check prefix> <guest prefix>: guests 1 to 4 destroyed at once, one check line
destroyed() {
  t=$(now)
  fails=0
  for g in 1 2 3 4; do destroy "$2$g" >/dev/null & eval "d$g=\$!"; done
  for g in 1 2 3 4; do eval "wait \$d$g" || { fails=1; show "/tmp/$2$g.destroy"; }; done
  echo "XLTEST TIME $1.destroy-all $(since "$t")"
  if [ $fails -eq 0 ]; then pass "$1.destroy"; else fail "$1.destroy" "an xl destroy failed"; fi
}
# pinged <check prefix> <guest prefix>: a check line per guest 1 to 4 for its own ping
pinged() {
  for g in 1 2 3 4; do
    if wait_ping "$2$g"; then pass "$1.g$g.ping"; else
      fail "$1.g$g.ping" "$2$g did not report a ping"; post_mortem "$2$g"; fi
  done
}
destroy() {
  t=$(now)
  timeout 60 xl destroy "$1" >"/tmp/$1.destroy" 2>&1
  rc=$?
  echo "XLTEST TIME $1.destroy $(since "$t")"
  return $rc
}
rules_of() { iptables-save 2>/dev/null | grep -cF -- "$1 " ; }
logged() { grep -q "$1" /var/log/messages; }
post_mortem() {
  guest "$1"
  show "/tmp/$1.create"; console "$1" | tail -n 20
  show /var/log/messages 30; /usr/bin/xenstore-ls -f "$be" 2>/dev/null | head -20
}

# up <mode> <name> <vif spec> <guest address> <peer> [kernel arguments]: create, one check line
up() {
  if create "$2" "$3" "$4" "$5" "${6:-}"; then pass "$1.create"; else
    fail "$1.create" "xl create failed"; post_mortem "$2"; fi
}
ping_retry() { ping -c1 -W2 "$1" || ping -c1 -W2 "$1" || ping -c1 -W2 "$1"; }
# online_checks <mode> <name> <the guest's address>
online_checks() {
  m=$1 name=$2 addr=$3
  guest "$name"
  # netback connects the guest only after the script wrote hotplug-status=connected.
  check "$m.hotplug-status" "hotplug-status is not connected" \
    test "$(xenstore-read "$be/hotplug-status")" = connected
  if wait_ping "$name"; then pass "$m.ping"; else
    fail "$m.ping" "the guest did not report a ping"; post_mortem "$name"; fi
  # and the other way: dom0's routes and neighbours reach the guest through what the script built
  check "$m.ping-from-dom0" "dom0 cannot ping $addr" ping_retry "$addr"
  check "$m.backend-connected" "backend state is not 4 (Connected)" \
    test "$(xenstore-read "$be/state")" = 4
  check "$m.rules" "no iptables rules name $dev" test "$(rules_of "$dev")" -gt 0
  check "$m.online-logged" "no 'Successful vif-$m online for $dev' in syslog" \
    logged "Successful vif-$m online for $dev"
  case $m in
    bridge)
      check bridge.port "$dev is not a port of xenbr0" test -e "/sys/class/net/xenbr0/brif/$dev" ;;
    nat)
      check nat.gateway "$dev does not have 10.0.0.128" \
        sh -c "ip -4 addr show dev $dev | grep -q 'inet 10.0.0.128'" ;;
    route)
      check route.main-ip "$dev does not have 192.0.2.10/32" \
        sh -c "ip -4 addr show dev $dev | grep -q 'inet 192.0.2.10/32'"
      check route.host-route "no route 192.0.2.61 dev $dev" \
        sh -c "ip route show 192.0.2.61 | grep -q 'dev $dev'"
      check route.proxy-arp "proxy_arp is not on for $dev" \
        test "$(cat /proc/sys/net/ipv4/conf/$dev/proxy_arp)" = 1 ;;
  esac
}
down() {
  m=$1 name=$2
  guest "$name"
  if destroy "$name"; then pass "$m.destroy"; else
    fail "$m.destroy" "xl destroy failed"; show "/tmp/$name.destroy"; fi
  # xl destroy returns after libxl ran `<script> offline`.
  check "$m.offline-logged" "no 'Successful vif-$m offline for $dev' in syslog" \
    logged "Successful vif-$m offline for $dev"
  check "$m.rules-gone" "iptables rules still name $dev" test "$(rules_of "$dev")" -eq 0
  check "$m.vif-gone" "$dev still exists" test ! -e "/sys/class/net/$dev"
  case $m in
    bridge) check bridge.port-gone "$dev is still a port of xenbr0" \
              test ! -e "/sys/class/net/xenbr0/brif/$dev" ;;
    route) check route.route-gone "a route to 192.0.2.61 is left" \
             sh -c "! ip route show 192.0.2.61 | grep -q ." ;;
  esac
  check "$m.backend-gone" "$be is still in xenstore" sh -c "! xenstore-exists $be"
}

# Our scripts talk to xenstored over its socket (issue 17), not through the xenstore-* clients:
# the clients they would fall back to are wrapped, first on the PATH that xl and the hotplug
# scripts it runs inherit, so that every call is logged. vif-silent calls one on purpose (a
# probe path), to show that the wrappers are what a hotplug script finds.
mkdir -p /run/xltest-bin
for c in xenstore-ls xenstore-write; do
  printf '#!/bin/sh\necho "%s $*" >>/run/xltest-clients\nexec /usr/bin/%s "$@"\n' "$c" "$c" \
    >"/run/xltest-bin/$c"
  chmod +x "/run/xltest-bin/$c"
done
export PATH=/run/xltest-bin:$PATH
printf '#!/bin/sh\nxenstore-ls /tool/xltest-probe >/dev/null 2>&1\nexit 0\n' >/etc/xen/scripts/vif-silent

up bridge xlt-bridge 'bridge=xenbr0,mac=00:16:3e:00:00:51' 192.0.2.51/24 192.0.2.10
up nat xlt-nat 'script=vif-nat,ip=10.0.0.1,mac=00:16:3e:00:00:01' 10.0.0.1/24 10.0.0.128
up route xlt-route 'script=vif-route,ip=192.0.2.61,gatewaydev=xenbr0,mac=00:16:3e:00:00:61' 192.0.2.61/32 192.0.2.10
# hotplug-status, the negative: a script that exits 0 without writing `connected`. netback never
# connects this guest, so its ping cannot pass.
up silent xlt-silent 'script=vif-silent,bridge=xenbr0,mac=00:16:3e:00:00:52' 192.0.2.52/24 192.0.2.10

online_checks bridge xlt-bridge 192.0.2.51
online_checks nat xlt-nat 10.0.0.1
online_checks route xlt-route 192.0.2.61

guest xlt-silent
# as long as the slowest of the others took to ping, and at least 10 s
while [ "$(since "$(cat /tmp/xlt-silent.created)" | cut -d. -f1)" -lt 10 ]; do sleep 1; done
check silent.not-connected "backend state is 4 without hotplug-status" \
  test "$(xenstore-read "$be/state")" != 4
check silent.no-hotplug-status "hotplug-status is '$(xenstore-read "$be/hotplug-status" 2>&1)'" \
  test "$(xenstore-read "$be/hotplug-status" 2>/dev/null)" != connected
check silent.no-ping "the guest pinged without hotplug-status" sh -c "! grep -q 'GUEST PING OK' /var/log/xen/console/guest-xlt-silent.log"
destroy xlt-silent >/dev/null

down bridge xlt-bridge
down nat xlt-nat
down route xlt-route

# --- a failing script: xl create fails and shows our hotplug-error sentence.
create xlt-nobr 'bridge=nosuchbr,mac=00:16:3e:00:00:53' 192.0.2.53/24 192.0.2.10
rc=$?
check nosuchbr.create-fails "xl create succeeded with bridge=nosuchbr" test "$rc" -ne 0
check nosuchbr.hotplug-error "xl's output lacks 'Could not find bridge device nosuchbr'" \
  grep -q 'Could not find bridge device nosuchbr' /tmp/xlt-nobr.create
[ "$rc" -ne 0 ] || destroy xlt-nobr >/dev/null
grep 'Could not find bridge' /tmp/xlt-nobr.create | head -2 | sed 's/^/XLTEST SAID /'
check nosuchbr.no-domain "the failed guest is still there" sh -c "! xl domid xlt-nobr"

# What the host holds that a guest's vifs may change: links, bridge ports, IPv4 addresses and
# routes, iptables (without counters), forwarding, dom0's backend directories in xenstore, our
# state and lock files. Compared before a scenario and after its guests are gone: nothing may be
# left. Left out, as the kernel changes them by itself: a bridge's MAC (00:00:00:00:00:00 once
# its last port is gone), operstate and carrier (UNKNOWN before the first port, DOWN after the
# last), a route's linkdown flag.
# (iproute2's ip by path: busybox's sh runs its own `ip` applet before PATH.)
snap() {
  {
    echo "## links"; /usr/sbin/ip -br link | awk '{ print $1 }'
    echo "## bridge ports"; for b in /sys/class/net/*/brif; do echo "${b%/brif}: $(ls "$b" | tr '\n' ' ')"; done
    echo "## addresses"; /usr/sbin/ip -br -4 addr | awk '{ $2 = ""; print }'
    echo "## routes"; /usr/sbin/ip -4 route | sed 's/ linkdown//' 
    echo "## iptables"; iptables-save 2>/dev/null | grep -v '^#' | sed 's/ \[[0-9]*:[0-9]*\]$//'
    echo "## forwarding"; cat /proc/sys/net/ipv4/ip_forward
    echo "## xenstore"; /usr/bin/xenstore-ls -f /local/domain/0/backend 2>/dev/null
    echo "## files"; find /run/xen /run/xen-hotplug 2>/dev/null | sort
  } >"$1"
}
same_as() { # same_as <before file>: the host now is as it was then
  snap /tmp/snap.now
  diff "$1" /tmp/snap.now
}
nothing_left() { # check name: what is different, on the console
  if same_as "$2" >/tmp/snap.diff 2>&1; then pass "$1"; else
    fail "$1" "the host differs from before"; show /tmp/snap.diff 40; fi
}
no_rules() { test "$(rules_of "$1")" -eq 0; }

# --- a second vif attached to a running guest (xl network-attach), on another bridge and subnet
# so that its ping cannot go through the first; then detached, leaving no trace.
/usr/sbin/ip link add xenbr1 type bridge
/usr/sbin/ip addr add 198.51.100.1/24 dev xenbr1
/usr/sbin/ip link set xenbr1 up
snap /tmp/attach.before
up attach xlt-attach 'bridge=xenbr0,mac=00:16:3e:00:00:54' 192.0.2.54/24 192.0.2.10 \
  'xlt_addr2=198.51.100.55/24 xlt_peer2=198.51.100.1'
guest xlt-attach
dev0=$dev be0=$be dev1=vif$domid.1 be1=/local/domain/0/backend/vif/$domid/1
if wait_ping xlt-attach; then pass attach.first-ping; else
  fail attach.first-ping "the guest did not report its first ping"; post_mortem xlt-attach; fi
t=$(now)
if timeout 60 xl network-attach xlt-attach bridge=xenbr1 mac=00:16:3e:00:00:55 >/tmp/attach.out 2>&1; then
  pass attach.network-attach
else
  fail attach.network-attach "xl network-attach failed"; show /tmp/attach.out
fi
echo "XLTEST TIME xlt-attach.network-attach $(since "$t")"
check attach.hotplug-status "the second vif's hotplug-status is not connected" \
  test "$(xenstore-read "$be1/hotplug-status")" = connected
check attach.port "$dev1 is not a port of xenbr1" test -e "/sys/class/net/xenbr1/brif/$dev1"
check attach.rules "no iptables rules name $dev1" test "$(rules_of "$dev1")" -gt 0
i=0
until console xlt-attach | grep -q 'GUEST PING2' || [ $i -ge 240 ]; do sleep 0.5; i=$((i + 1)); done
if console xlt-attach | grep -q 'GUEST PING2 OK'; then
  pass attach.ping
  echo "XLTEST TIME xlt-attach.attach+ping $(since "$t")"
else
  fail attach.ping "the guest did not report a ping through eth1"; console xlt-attach | tail -n 5
fi
check attach.ping-from-dom0 "dom0 cannot ping 198.51.100.55 through xenbr1" ping_retry 198.51.100.55
t=$(now)
if timeout 60 xl network-detach xlt-attach 1 >/tmp/detach.out 2>&1; then pass attach.network-detach; else
  fail attach.network-detach "xl network-detach failed"; show /tmp/detach.out; fi
echo "XLTEST TIME xlt-attach.network-detach $(since "$t")"
check attach.offline-logged "no 'Successful vif-bridge offline for $dev1' in syslog" \
  logged "Successful vif-bridge offline for $dev1"
echo "XLTEST INFO detach: offline found $dev1 $(grep -q "$dev1 is already gone" /var/log/messages && echo 'already gone' || echo 'still there')"
check attach.vif-gone "$dev1 still exists" test ! -e "/sys/class/net/$dev1"
check attach.port-gone "xenbr1 still has a port" sh -c "! ls /sys/class/net/xenbr1/brif/ | grep -q ."
check attach.rules-gone "iptables rules still name $dev1" no_rules "$dev1"
check attach.backend-gone "$be1 is still in xenstore" sh -c "! xenstore-exists $be1"
check attach.first-vif-kept "the first vif lost its port, rules or connection" \
  sh -c "test -e /sys/class/net/xenbr0/brif/$dev0 && test \$(iptables-save | grep -cF -- '$dev0 ') -gt 0 && test \"\$(xenstore-read $be0/hotplug-status)\" = connected"
if destroy xlt-attach; then pass attach.destroy; else
  fail attach.destroy "xl destroy failed"; show /tmp/xlt-attach.destroy; fi
nothing_left attach.nothing-left /tmp/attach.before
/usr/sbin/ip link del xenbr1

# --- four guests created at once (two bridged, one NAT, one routed), each pinging, then
# destroyed at once: the hotplug scripts run side by side, and nothing may be left.
snap /tmp/four.before
# lines per section, to show in the log that each section sees something
snap_lines() { awk '/^##/ { if (s != "") printf "%s %d, ", s, c; s = $2; c = 0; next } { c++ } END { printf "%s %d", s, c }' "$1"; }
echo "XLTEST INFO snapshot lines before: $(snap_lines /tmp/four.before)"
t4=$(now)
create xlt-four1 'bridge=xenbr0,mac=00:16:3e:00:00:71' 192.0.2.71/24 192.0.2.10 & p1=$!
create xlt-four2 'bridge=xenbr0,mac=00:16:3e:00:00:72' 192.0.2.72/24 192.0.2.10 & p2=$!
create xlt-four3 'script=vif-nat,ip=10.0.0.2,mac=00:16:3e:00:00:02' 10.0.0.2/24 10.0.0.129 & p3=$!
create xlt-four4 'script=vif-route,ip=192.0.2.62,gatewaydev=xenbr0,mac=00:16:3e:00:00:62' 192.0.2.62/32 192.0.2.10 & p4=$!
created four xlt-four $p1 $p2 $p3 $p4
echo "XLTEST TIME four.create-all $(since "$t4")"
pinged four xlt-four
echo "XLTEST TIME four.all-pinging $(since "$t4")"
devs='' bes=''
for g in 1 2 3 4; do guest "xlt-four$g"; eval "dev$g=$dev be$g=$be"; devs="$devs $dev"; bes="$bes $be"; done
all_connected() {
  for b in $bes; do
    [ "$(xenstore-read "$b/hotplug-status")" = connected ] && [ "$(xenstore-read "$b/state")" = 4 ] ||
      { echo "$b: $(xenstore-read "$b/hotplug-status") $(xenstore-read "$b/state")"; return 1; }
  done
}
check four.connected "a backend is not connected" all_connected
check four.ports "$dev1 or $dev2 is not a port of xenbr0" \
  sh -c "test -e /sys/class/net/xenbr0/brif/$dev1 && test -e /sys/class/net/xenbr0/brif/$dev2"
check four.nat-gateway "$dev3 does not have 10.0.0.129" \
  sh -c "ip -4 addr show dev $dev3 | grep -q 'inet 10.0.0.129'"
check four.route-host-route "no route 192.0.2.62 dev $dev4" \
  sh -c "ip route show 192.0.2.62 | grep -q 'dev $dev4'"
snap /tmp/four.during
echo "XLTEST INFO snapshot lines with the four guests: $(snap_lines /tmp/four.during)"
destroyed four xlt-four
gone() { for d in $devs; do [ ! -e "/sys/class/net/$d" ] || { echo "$d"; return 1; }; done; }
check four.vifs-gone "a vif is still there" gone
rules_gone() { for d in $devs; do no_rules "$d" || { echo "$d"; return 1; }; done; }
check four.rules-gone "iptables rules still name a vif" rules_gone
backends_gone() { for b in $bes; do ! xenstore-exists "$b" || { echo "$b"; return 1; }; done; }
check four.backends-gone "a backend directory is still in xenstore" backends_gone
check four.routes-gone "a route to 192.0.2.62 is left" sh -c "! ip route show 192.0.2.62 | grep -q ."
check four.no-domains "a guest is still listed by xl list" sh -c "! xl list | grep -q xlt-four"
nothing_left four.nothing-left /tmp/four.before
# --- every vif event above (online, offline, the hotplug-error of nosuchbr) went over the socket.
check wire.clients-reachable "a hotplug script did not find the wrapped clients" \
  grep -q 'xenstore-ls /tool/xltest-probe' /run/xltest-clients
check wire.no-clients "our scripts ran: $(grep -v xltest-probe /run/xltest-clients 2>/dev/null | head -3 | tr '\n' ';')" \
  sh -c "! grep -v xltest-probe /run/xltest-clients | grep -q ."

# --- network-bridge stop gives eth0 its address and default route back; xenbr0 goes.
if [ "$nb" -eq 0 ]; then
  t=$(now)
  /etc/xen/scripts/network-bridge stop bridge=xenbr0 netdev=eth0 >/tmp/nb-stop.out 2>&1
  rc=$?
  echo "XLTEST TIME network-bridge-stop $(since "$t")"
  if [ $rc -eq 0 ] && [ ! -e /sys/class/net/xenbr0 ] &&
     ip -4 addr show dev eth0 | grep -q 'inet 192.0.2.10/24' &&
     ip route show default | grep -q 'via 192.0.2.1 dev eth0'; then
    pass network-bridge-stop
  else
    fail network-bridge-stop "exit $rc, or xenbr0 left, or eth0 without 192.0.2.10/24 and the default route"
    show /tmp/nb-stop.out; ip addr; ip route
  fi
else
  fail network-bridge-stop "network-bridge start had failed"
fi

# --- guest VLANs from xl's vlan= key (issue 19), where libxl writes it (Xen 4.19 and later:
# trixie's 4.20). A VLAN-aware bridge xenbrv whose uplink eth1 is a veth to a LAN namespace and
# trunks VLAN 10 only; on the LAN, a host tagged on VLAN 10 (10.9.0.100) and one on VLAN 20
# (10.20.0.100). Guests:
#   xlt-v1, xlt-v2  vlan=10      10.9.0.1, 10.9.0.2
#   xlt-v3          vlan=20      10.20.0.3, and 10.9.0.3 (VLAN 10's subnet, which VLAN 10 must
#                                not reach)
#   xlt-v4          vlan=10p/20  a trunk: 10.9.0.4 untagged, 10.20.0.4 on its eth0.20
# Each guest pings one peer across a VLAN path; the LAN's hosts ping in, and must not where the
# VLANs keep them apart. More forms of the syntax go through xl network-attach; two malformed
# or misplaced specs are refused by xl create with our sentence.
# vlans_of <port>: its VLANs, one line each as `bridge vlan show` says them ("10 PVID Egress
# Untagged"), without the port's name.
vlans_of() {
  /usr/sbin/bridge vlan show dev "$1" |
    awk -v d="$1" 'NR > 1 && NF { if ($1 == d) $1 = ""; sub(/^ +/, ""); print }'
}
has_vlans() { # has_vlans <port> <want, lines joined by ;>
  got=$(vlans_of "$1" | tr '\n' ';')
  echo "XLTEST INFO vlans of $1: $got"
  [ "$got" = "$2" ]
}
lan_ping() { /usr/sbin/ip netns exec lan ping -c1 -W2 "$1" >/dev/null 2>&1 || /usr/sbin/ip netns exec lan ping -c1 -W2 "$1" >/dev/null 2>&1; }
lan_silent() { ! /usr/sbin/ip netns exec lan ping -c3 -W1 "$1" >/dev/null 2>&1; }
if grep -q 'release=bookworm' /etc/xltest/release; then
  echo "XLTEST INFO vlan: skipped on bookworm (Xen 4.17's libxl has no vlan= key)"
else
  /usr/sbin/ip netns add lan
  /usr/sbin/ip link add eth1 type veth peer name lan0 netns lan
  L="/usr/sbin/ip -n lan"
  $L link set lo up
  $L link set lan0 up
  $L link add link lan0 name lan0.10 type vlan id 10
  $L link add link lan0 name lan0.20 type vlan id 20
  $L addr add 10.9.0.100/24 dev lan0.10
  $L addr add 10.20.0.100/24 dev lan0.20
  $L link set lan0.10 up
  $L link set lan0.20 up
  /usr/sbin/ip addr add 198.51.100.10/24 dev eth1
  /usr/sbin/ip link set eth1 up
  snap /tmp/vlan.before
  t=$(now)
  /etc/xen/scripts/network-bridge start bridge=xenbrv netdev=eth1 vlan_filtering=yes trunk=10 \
    >/tmp/nbv.out 2>&1
  rc=$?
  echo "XLTEST TIME vlan.network-bridge $(since "$t")"
  up_port=$(ls /sys/class/net/xenbrv/brif 2>/dev/null | head -n 1)
  if [ $rc -eq 0 ] && [ "$(cat /sys/class/net/xenbrv/bridge/vlan_filtering 2>/dev/null)" = 1 ] &&
     [ -n "$up_port" ] && vlans_of "$up_port" | grep -qx 10; then
    pass vlan.network-bridge-start
    echo "XLTEST INFO vlans of the uplink $up_port: $(vlans_of "$up_port" | tr '\n' ';')"
  else
    fail vlan.network-bridge-start "exit $rc, or xenbrv is not VLAN-aware with VLAN 10 tagged on its uplink"
    show /tmp/nbv.out; /usr/sbin/bridge vlan show
  fi
  t4=$(now)
  create xlt-v1 'bridge=xenbrv,vlan=10,mac=00:16:3e:00:01:01' 10.9.0.1/24 10.9.0.2 & p1=$!
  create xlt-v2 'bridge=xenbrv,vlan=10,mac=00:16:3e:00:01:02' 10.9.0.2/24 10.9.0.4 & p2=$!
  create xlt-v3 'bridge=xenbrv,vlan=20,mac=00:16:3e:00:01:03' 10.20.0.3/24 10.20.0.4 \
    'xlt_addr_more=10.9.0.3/24' & p3=$!
  create xlt-v4 'bridge=xenbrv,vlan=10p/20,mac=00:16:3e:00:01:04' 10.9.0.4/24 10.9.0.100 \
    'xlt_vlan=20:10.20.0.4/24' & p4=$!
  created vlan xlt-v $p1 $p2 $p3 $p4
  echo "XLTEST TIME vlan.create-all $(since "$t4")"
  for g in 1 2 3 4; do guest "xlt-v$g"; eval "vdev$g=$dev"; done
  vcheck() { # vcheck <check> <why> <port> <want>: has_vlans, whose INFO line stays on the console
    if has_vlans "$3" "$4"; then pass "$1"; else fail "$1" "$2"; fi
  }
  vcheck vlan.g1.port "$vdev1 is not VLAN 10 alone, untagged, its PVID" "$vdev1" "10 PVID Egress Untagged;"
  vcheck vlan.g2.port "$vdev2 is not VLAN 10 alone, untagged, its PVID" "$vdev2" "10 PVID Egress Untagged;"
  vcheck vlan.g3.port "$vdev3 is not VLAN 20 alone, untagged, its PVID" "$vdev3" "20 PVID Egress Untagged;"
  vcheck vlan.g4.port "$vdev4 is not PVID 10 untagged with 20 tagged" "$vdev4" "10 PVID Egress Untagged;20;"
  # The guests' own pings: VLAN 10 to VLAN 10, VLAN 10 to the trunk's untagged side, VLAN 20 to
  # the trunk's tagged side, the trunk to the LAN's VLAN-10 host through the uplink.
  pinged vlan xlt-v
  check vlan.lan-reaches-vlan10 "the LAN's VLAN-10 host cannot ping 10.9.0.1" lan_ping 10.9.0.1
  # xlt-v3 is up (it pinged 10.20.0.4), but VLAN 20 is not on the uplink's trunk.
  check vlan.lan-not-vlan20 "the LAN's VLAN-20 host reached xlt-v3 though trunk=10" lan_silent 10.20.0.3
  # xlt-v3 holds an address of VLAN 10's subnet, but sits on VLAN 20.
  check vlan.vlan10-not-vlan20 "VLAN 10 reached xlt-v3 on VLAN 20" lan_silent 10.9.0.3
  # More of the syntax, on a second vif of xlt-v1, each attached, checked and detached.
  guest xlt-v1
  vx=vif$domid.1
  # (k, not n: check() sets n)
  k=0
  for form in '1p/10-15/20-25u' '10p/100+10x4'; do
    k=$((k + 1))
    case $form in
      1p/*) want="1 PVID Egress Untagged;10;11;12;13;14;15;20 Egress Untagged;21 Egress Untagged;22 Egress Untagged;23 Egress Untagged;24 Egress Untagged;25 Egress Untagged;" ;;
      *) want="10 PVID Egress Untagged;100;110;120;130;140;" ;;
    esac
    if timeout 60 xl network-attach xlt-v1 bridge=xenbrv "vlan=$form" "mac=00:16:3e:00:01:1$k" >/tmp/vattach.out 2>&1 &&
       has_vlans "$vx" "$want"; then
      pass "vlan.form$k"
    else
      fail "vlan.form$k" "vlan=$form did not give $vx: $want"; show /tmp/vattach.out; show /var/log/messages 10
    fi
    timeout 60 xl network-detach xlt-v1 1 >/tmp/vdetach.out 2>&1
    check "vlan.form$k-gone" "$vx or its VLANs are left after network-detach" \
      sh -c "test ! -e /sys/class/net/$vx && ! /usr/sbin/bridge vlan show | grep -q '^$vx'"
  done
  destroyed vlan xlt-v
  check vlan.entries-gone "a vif's VLAN entries are left" sh -c "! /usr/sbin/bridge vlan show | grep -q '^vif'"
  # Refused, and xl says why: several VLANs with no PVID; a VLAN on a bridge that is not
  # VLAN-aware (it would put the guest on the untagged LAN).
  create xlt-vbad 'bridge=xenbrv,vlan=10/20,mac=00:16:3e:00:01:05' 10.9.0.5/24 10.9.0.1
  rc=$?
  [ "$rc" -ne 0 ] || destroy xlt-vbad >/dev/null
  check vlan.no-pvid-refused "xl create succeeded, or its output lacks 'none is the PVID'" \
    sh -c "[ $rc -ne 0 ] && grep -q 'none is the PVID' /tmp/xlt-vbad.create"
  grep 'PVID' /tmp/xlt-vbad.create | head -1 | sed 's/^/XLTEST SAID /'
  /usr/sbin/ip link add xenbrp type bridge
  /usr/sbin/ip link set xenbrp up
  create xlt-vplain 'bridge=xenbrp,vlan=10,mac=00:16:3e:00:01:06' 10.9.0.6/24 10.9.0.1
  rc=$?
  [ "$rc" -ne 0 ] || destroy xlt-vplain >/dev/null
  check vlan.unaware-refused "xl create succeeded, or its output lacks 'is not VLAN-aware'" \
    sh -c "[ $rc -ne 0 ] && grep -q 'is not VLAN-aware' /tmp/xlt-vplain.create"
  grep 'VLAN-aware' /tmp/xlt-vplain.create | head -1 | sed 's/^/XLTEST SAID /'
  check vlan.unaware-no-port "xenbrp got a port" sh -c "! ls /sys/class/net/xenbrp/brif/ | grep -q ."
  /usr/sbin/ip link del xenbrp
  /etc/xen/scripts/network-bridge stop bridge=xenbrv netdev=eth1 >/tmp/nbv-stop.out 2>&1 ||
    show /tmp/nbv-stop.out
  nothing_left vlan.nothing-left /tmp/vlan.before
fi
finish
