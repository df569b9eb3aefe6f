# Boot 1: the root as Debian installed it, plus our files. Installs them, links the scripts,
# checks the unit, writes the config with mode=bridge and enables the unit; run.sh then boots again.
check bed.lan-ping "the test bed's LAN (192.0.2.1) does not answer eth0" unbridged
info "$(dpkg-query -W -f='xen-utils-common ${Version}, ' xen-utils-common)$(dpkg-query -W -f='systemd ${Version}, ' systemd)$(dpkg --version | head -n1 | sed 's/.*version \([^ ]*\).*/dpkg \1/')"
t=$(now)
check install.files "installing our files failed" install_ours
echo "TIME install $(since "$t")"
info "boot command: $(cat /var/lib/xnt/boot-mode)"
check install.runs "the installed executable does not run or lacks the scripts" \
  sh -c "xennet --version && $LIB/network-bridge --help >/dev/null && $LIB/vif-bridge --help >/dev/null"
check install.unit "xen-netscripts.service is not a unit systemd knows" \
  sh -c 'systemctl cat xen-netscripts.service && systemctl show -P LoadState xen-netscripts.service | grep -qx loaded'
check install.conf "/etc/xen/xen-netscripts.conf is missing or not mode=none" \
  grep -qx 'mode=none' /etc/xen/xen-netscripts.conf
# Nothing at all to say: the unit's syntax, its commands, and the man pages of Documentation=
# (man-db is in the root, the pages are installed as the package will).
check unit.verify "systemd-analyze verify complains" \
  sh -c 'o=$(systemd-analyze verify /usr/lib/systemd/system/xen-netscripts.service 2>&1); r=$?; echo "$o"; [ $r -eq 0 ] && [ -z "$o" ]'

# What `xennet install` does: each script becomes our link, the original kept as .xen-orig.
check scripts.install "xennet install failed" xennet install
check scripts.linked "a script in /etc/xen/scripts is not our link" our_links
kept() {
  local n
  for n in $VIFS; do
    [ "$(md5sum <"$SCRIPTS/$n.xen-orig" | cut -d' ' -f1)" = "$(conffile_hash "$SCRIPTS/$n")" ] ||
      { echo "$n.xen-orig is not xen-utils-common's $n"; return 1; }
  done
}
check scripts.originals-kept "an original is not kept as .xen-orig" kept
doctor_sees() {
  xennet doctor >"$out.doctor" 2>&1
  cat "$out.doctor"
  local n
  for n in $VIFS $NETS; do grep -q "^OK   script $n: .*(xennet)\$" "$out.doctor" || return 1; done
}
check scripts.doctor "xennet doctor does not report every script as ours" doctor_sees

# The unit: enabled, and ordered as the integration needs.
check unit.enable "systemctl enable failed, or the unit is not enabled" \
  sh -c 'systemctl enable xen-netscripts.service && [ "$(systemctl is-enabled xen-netscripts.service)" = enabled ]'
ordered() {
  local before after wants wanted
  before=$(systemctl show -P Before xen-netscripts.service)
  after=$(systemctl show -P After xen-netscripts.service)
  wants=$(systemctl show -P Wants xen-netscripts.service)
  wanted=$(systemctl show -P WantedBy xen-netscripts.service)
  echo "Before=$before"; echo "After=$after"; echo "Wants=$wants"; echo "WantedBy=$wanted"
  for u in xendomains.service xen.service; do echo " $before " | grep -q " $u " || return 1; done
  echo " $after " | grep -q " network-online.target " && echo " $wants " | grep -q " network-online.target " &&
    echo " $wanted " | grep -q " multi-user.target "
  # and the other way round, as systemd sees it from xen's side
  systemctl show -P After xen.service | grep -qw xen-netscripts.service &&
    systemctl show -P After xendomains.service | grep -qw xen-netscripts.service
}
check unit.ordering "not After/Wants=network-online.target, Before=xendomains.service xen.service, WantedBy=multi-user.target" ordered
check unit.not-active "the unit runs although it was not enabled at this boot" \
  sh -c '! systemctl is-active -q xen-netscripts.service'

# The stand-in boot command (packaging/xen-netscripts-boot) against stubs that print their
# arguments: nothing here touches the network.
stub=/var/lib/xnt/stub
rm -rf "$stub"; mkdir -p "$stub"
for m in bridge nat route; do
  printf '#!/bin/sh\necho "STUB network-%s $*"\n' "$m" >"$stub/network-$m"; chmod +x "$stub/network-$m"
done
sb() { XENNET_BIN_DIR=$stub "$LIB/xen-netscripts-boot" "$@"; }
cat >"$stub/c-args" <<'C'
# a comment; the next is commented out
#mode=nat
mode = bridge
  netdev = eth0
bridge="xenbr0"
#bridge=nosuchbr
confirm=60
ip=192.0.2.5
firewall=iptables
firewall='nftables'
C
sa_args() { sb boot start --conf "$stub/c-args" | tee /dev/stderr | grep -qx 'STUB network-bridge start netdev=eth0 bridge=xenbr0 firewall=nftables'; }
check standin.args "not: STUB network-bridge start netdev=eth0 bridge=xenbr0 firewall=nftables" sa_args
printf 'mode=none\nnetdev=eth0\n' >"$stub/c-none"
printf '# only a comment\nnetdev=eth0\n' >"$stub/c-nomode"
sa_none() {
  local c o
  for c in c-none c-nomode no-such-file; do
    o=$(sb stop --conf "$stub/$c") || return 1
    echo "$o"
    case $o in *STUB*) return 1 ;; esac
  done
}
check standin.none "mode=none, no mode= or no file ran something or failed" sa_none
printf 'mode=bridged\n' >"$stub/c-bad"
sa_bad() { ! sb start --conf "$stub/c-bad" 2>"$out.err"; local r=$?; cat "$out.err"; [ $r -eq 0 ] && grep -q '"bridged"' "$out.err"; }
check standin.unknown-mode "an unknown mode is not an error naming it" sa_bad
printf 'mode=nat\ndhcp=no\nbridge=xenbr0\n' >"$stub/c-nat"
sa_nat() { sb status --conf "$stub/c-nat" | tee /dev/stderr | grep -qx 'STUB network-nat status dhcp=no'; }
check standin.nat "mode=nat: not network-nat status dhcp=no" sa_nat
# The same command line as the real subcommand's (status only reads).
sa_same() {
  local a b
  a=$(sb status --conf "$stub/c-args" | head -n1)
  b=$("$LIB/xen-netscripts" boot status --conf "$stub/c-args" 2>&1 | head -n1)
  echo "stand-in: $a"; echo "binary:   $b"
  [ "$a" = "$b" ]
}
if "$LIB/xen-netscripts" boot --help >/dev/null 2>&1; then
  check standin.same-as-boot "the stand-in and 'xen-netscripts boot' run different commands" sa_same
else
  skip standin.same-as-boot "the binary has no boot subcommand"
fi

# The host's network for the next boots: the example config, edited as an administrator would.
sed -i 's/^mode=none$/mode=bridge/; s/^#netdev=eth0$/netdev=eth0/; s/^#bridge=xenbr0$/bridge=xenbr0/' /etc/xen/xen-netscripts.conf
check conf.bridge "the config does not say mode=bridge netdev=eth0 bridge=xenbr0" \
  sh -c 'grep -v "^#" /etc/xen/xen-netscripts.conf | grep . | tee /dev/stderr | tr "\n" " " | grep -q "mode=bridge netdev=eth0 bridge=xenbr0"'
# the units xen-utils-common brings (generated from its init scripts on bookworm)
info "xen.service: $(systemctl show -P FragmentPath xen.service)$(systemctl show -P SourcePath xen.service | sed 's/^/ from /'); xendomains.service: $(systemctl show -P FragmentPath xendomains.service)"
