# Boot 2: the unit was enabled with mode=bridge. It must have run network-bridge start before
# xen.service and xendomains.service, after the network was up; stop must give the network back.
mono() { systemctl show -P "$2" "$1"; }
check boot.unit-active "xen-netscripts.service is not active (exited) with result success" \
  sh -c 'systemctl status --no-pager xen-netscripts.service; [ "$(systemctl show -P ActiveState xen-netscripts.service)" = active ] && [ "$(systemctl show -P Result xen-netscripts.service)" = success ]'
check boot.bridged "after boot: not xenbr0 with a port, 192.0.2.10/24 and the default route, LAN answering" bridged
check boot.journal "the unit's journal lacks 'network-bridge start netdev=eth0 bridge=xenbr0'" \
  sh -c 'journalctl -b -u xen-netscripts.service --no-pager | tee /dev/stderr | grep -q "network-bridge start netdev=eth0 bridge=xenbr0"'
# The order systemd really ran them in (monotonic microseconds): the network up (xnt-lan, the
# test bed's stand-in for ifupdown/networkd), then ours done, then xen.service/xendomains started.
order() {
  local lan ours_start ours_done u s
  lan=$(mono xnt-lan.service ActiveEnterTimestampMonotonic)
  ours_start=$(mono xen-netscripts.service InactiveExitTimestampMonotonic)
  ours_done=$(mono xen-netscripts.service ActiveEnterTimestampMonotonic)
  echo "xnt-lan up $lan, xen-netscripts started $ours_start, done $ours_done"
  [ "$lan" -gt 0 ] && [ "$ours_start" -ge "$lan" ] && [ "$ours_done" -ge "$ours_start" ] || return 1
  for u in xen.service xendomains.service; do
    s=$(mono "$u" InactiveExitTimestampMonotonic)
    echo "$u started $s ($(mono "$u" ActiveState)/$(mono "$u" Result))"
    [ "$s" -gt 0 ] || { echo "$u did not start at this boot"; return 1; }
    [ "$s" -ge "$ours_done" ] || return 1
  done
}
check boot.order "not: network up < xen-netscripts done < xen.service, xendomains.service started" order
info "order (monotonic us): $(tr '\n' ';' <"$out")"
info "xen-netscripts.service: $(systemctl show -P ExecMainStartTimestampMonotonic xen-netscripts.service) .. $(systemctl show -P ExecMainExitTimestampMonotonic xen-netscripts.service) us"

t=$(now)
check stop.rc "systemctl stop xen-netscripts failed" systemctl stop xen-netscripts.service
echo "TIME unit-stop $(since "$t")"
check stop.unbridged "after stop: xenbr0 left, or eth0 without 192.0.2.10/24 and the default route, or no LAN" unbridged
check stop.inactive "the unit is not inactive after stop" \
  sh -c '[ "$(systemctl show -P ActiveState xen-netscripts.service)" = inactive ]'
check stop.journal "the unit's journal lacks 'network-bridge stop'" \
  sh -c 'journalctl -b -u xen-netscripts.service --no-pager | grep -q "network-bridge stop netdev=eth0 bridge=xenbr0"'

# The stand-in boot command, through the unit (a drop-in), when the binary has the real one.
if [ "$(cat /var/lib/xnt/boot-mode)" = binary ]; then
  use_standin; systemctl daemon-reload
  check standin.unit-start "the unit with the stand-in did not bridge" \
    sh -c 'systemctl start xen-netscripts.service' 
  check standin.unit-bridged "with the stand-in: not bridged" bridged
  check standin.unit-stop "the unit with the stand-in did not give the network back" \
    sh -c 'systemctl stop xen-netscripts.service'
  check standin.unit-unbridged "with the stand-in, after stop: not as before" unbridged
  rm -rf /etc/systemd/system/xen-netscripts.service.d; systemctl daemon-reload
else
  for c in unit-start unit-bridged unit-stop unit-unbridged; do skip "standin.$c" "the unit runs the stand-in already"; done
fi

# Started again, so that the shutdown's stop has something to undo (run.sh checks what the
# shutdown left in the namespace, and boot 3 reads this boot's journal).
t=$(now)
check start.again "systemctl start xen-netscripts did not bridge again" \
  sh -c 'systemctl start xen-netscripts.service && systemctl is-active xen-netscripts.service'
echo "TIME unit-start $(since "$t")"
check start.bridged "after start: not bridged" bridged
