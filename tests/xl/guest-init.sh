#!/bin/sh
# /init of the test guest (a PV domU with no disk): bring up eth0 with the address on the kernel
# command line (xlt_addr=, xlt_peer=), ping the peer through the vif, and say so on the console,
# which dom0's xenconsoled logs and dom0's /init reads; with xlt_addr2=, xlt_peer2= the same for
# an eth1 that dom0 attaches later; xlt_addr_more= and xlt_vlan= add to eth0 (below).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r m; do insmod "$m"; done < /etc/xltest/modules
for w in $(cat /proc/cmdline); do
  case $w in xlt_*=*) eval "${w%%=*}=${w#*=}" ;; esac
done
ip link set lo up
ip link set eth0 up
ip addr add "$xlt_addr" dev eth0
# Guest VLANs (issue 19): xlt_addr_more= a second address on eth0; xlt_vlan=VID:ADDR a tagged
# subinterface eth0.VID with ADDR (the guest's side of a trunk vif).
[ -z "${xlt_addr_more:-}" ] || ip addr add "$xlt_addr_more" dev eth0
if [ -n "${xlt_vlan:-}" ]; then
  vid=${xlt_vlan%%:*}
  ip link add link eth0 name "eth0.$vid" type vlan id "$vid" 2>/dev/null || vconfig add eth0 "$vid"
  ip link set "eth0.$vid" up
  ip addr add "${xlt_vlan#*:}" dev "eth0.$vid"
fi
# A host route to the peer: enough for the /32 of route mode, harmless for the others.
ip route add "$xlt_peer" dev eth0 2>/dev/null
i=0
while [ $i -lt 60 ]; do
  if ping -c1 -W1 "$xlt_peer" >/dev/null 2>&1; then
    echo "GUEST PING OK $xlt_addr -> $xlt_peer at $(cut -d' ' -f1 /proc/uptime)"
    break
  fi
  sleep 1
  i=$((i + 1))
done
[ $i -lt 60 ] || echo "GUEST PING FAILED $xlt_addr -> $xlt_peer"
# A second vif, when dom0 attaches one (xl network-attach): netfront makes eth1; it gets
# xlt_addr2 and pings xlt_peer2 through it (another subnet, so nothing goes out of eth0).
if [ -n "${xlt_addr2:-}" ]; then
  i=0
  while [ ! -e /sys/class/net/eth1 ] && [ $i -lt 300 ]; do sleep 1; i=$((i + 1)); done
  ip link set eth1 up
  ip addr add "$xlt_addr2" dev eth1
  i=0
  while [ $i -lt 60 ]; do
    if ping -c1 -W1 -I eth1 "$xlt_peer2" >/dev/null 2>&1; then
      echo "GUEST PING2 OK $xlt_addr2 -> $xlt_peer2 at $(cut -d' ' -f1 /proc/uptime)"
      break
    fi
    sleep 1
    i=$((i + 1))
  done
  [ $i -lt 60 ] || echo "GUEST PING2 FAILED $xlt_addr2 -> $xlt_peer2"
fi
while :; do sleep 3600; done
