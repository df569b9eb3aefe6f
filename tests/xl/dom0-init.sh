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
# create <name> <vif spec> <guest address> <peer the guest pings>: xl create, timed; notes the
# domid in /tmp/<name>.domid.
create() {
  name=$1
  cat > "/tmp/$name.cfg" <<CFG
name = "$name"
type = "pv"
kernel = "/boot/vmlinuz"
ramdisk = "/boot/guest.cpio.gz"
extra = "console=hvc0 quiet xlt_addr=$3 xlt_peer=$4"
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

# up <mode> <name> <vif spec> <guest address> <peer>: create, one check line
up() {
  if create "$2" "$3" "$4" "$5"; then pass "$1.create"; else
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
finish
