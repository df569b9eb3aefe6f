# Boot 3: what dpkg does with our links when xen-utils-common is reinstalled or upgraded, then
# removing ours, and whether /etc/xen/scripts is Debian's again.
check shutdown.journal "the previous boot's journal lacks the unit's 'network-bridge stop' at shutdown" \
  sh -c 'journalctl -b -1 -u xen-netscripts.service --no-pager | tee /dev/stderr | tail -n 5 | grep -q "network-bridge stop netdev=eth0 bridge=xenbr0"'
check boot3.bridged "the third boot did not bridge" bridged

sha=$(sha256sum <"$LIB/xen-netscripts" | cut -d' ' -f1)
intact() { [ "$(sha256sum <"$LIB/xen-netscripts" | cut -d' ' -f1)" = "$sha" ] && "$LIB/xen-netscripts" --list | grep -qx vif-bridge; }
deb=$(ls /var/cache/xnt-debs/xen-utils-common_*.deb)
cp "$deb" /var/cache/apt/archives/
leftovers() { info "$1: dpkg's files: $(dpkg_files | tr '\n' ' ')"; }
# dpkg: prefer what the administrator has; the same version again.
reinstall() { # reinstall <confold|confnew>
  apt-get install -y --reinstall --no-download -o Dpkg::Options::=--force-"$1" \
    -o Dpkg::Options::=--debug=20 xen-utils-common >"/var/lib/xnt/$1.out" 2>&1
  local r=$?
  grep -E 'conffderef|FNNF_NEW_CONFF' "/var/lib/xnt/$1.out" | grep vif-bridge | sed 's/^/  dpkg: /'
  grep -E '^(E|W):|dpkg:' "/var/lib/xnt/$1.out"
  return $r
}
t=$(now)
check dpkg.confold.rc "apt-get install --reinstall --force-confold xen-utils-common failed" reinstall confold
echo "TIME dpkg-reinstall $(since "$t")"
check dpkg.confold.links-kept "--force-confold: a script is no longer our link" our_links
check dpkg.confold.binary-intact "--force-confold: our executable changed" intact
leftovers "after --reinstall --force-confold"
check dpkg.confnew.rc "apt-get install --reinstall --force-confnew xen-utils-common failed" reinstall confnew
# Measured (dpkg 1.21, 1.22): a conffile that is a symlink is followed to its target
# (/usr/libexec/xen-netscripts/xen-netscripts) when configured, but the new version was unpacked
# next to the link, as <script>.dpkg-new: dpkg finds no <target>.dpkg-new, skips the conffile
# without a word, and the links stay, even with --force-confnew. Should dpkg change that, our
# executable would be what it replaces: these two checks say so at once.
check dpkg.confnew.links-kept "--force-confnew replaced a link (dpkg's conffile handling changed: see 3-dpkg.sh)" our_links
check dpkg.confnew.binary-intact "--force-confnew: our executable changed" intact
leftovers "after --reinstall --force-confnew"
known dpkg.no-dpkg-new "each reinstall leaves <script>.dpkg-new next to our links, which nothing removes" \
  sh -c "! ls $SCRIPTS/*.dpkg-new"

# Removing ours: the scripts are Debian's again, byte for byte.
t=$(now)
check clean.remove "removing our files (xennet uninstall, the unit, the executable) failed" remove_ours
echo "TIME remove $(since "$t")"
check clean.unbridged "removing the unit did not give the network back" unbridged
check clean.originals "a vif script is not xen-utils-common's recorded version" originals
check clean.dpkg-verify "dpkg --verify xen-utils-common reports a difference" \
  sh -c 'o=$(dpkg --verify xen-utils-common 2>&1); r=$?; echo "$o"; [ $r -eq 0 ] && [ -z "$o" ]'
check clean.md5sums "a file of xen-utils-common's md5sums differs" \
  sh -c 'cd / && md5sum --quiet -c /var/lib/dpkg/info/xen-utils-common.md5sums'
check clean.ours-gone "a file of ours is left" \
  sh -c "! ls -d $LIB /usr/sbin/xennet /usr/lib/systemd/system/xen-netscripts.service /etc/xen/xen-netscripts.conf $SCRIPTS/*.xen-orig $SCRIPTS/network-* /usr/share/man/man8/xennet.8.gz /usr/share/man/man8/network-bridge.8.gz 2>/dev/null | grep ."
known clean.no-strays "the .dpkg-new files dpkg left next to our links stay after they are gone" no_strays

# An upgrade of xen-utils-common that changes the vif scripts (a security fix, say): two local
# versions, +xnt1 and +xnt2, each appending a line to the four vif scripts.
d=/var/lib/xnt/debs
rm -rf "$d"; mkdir -p "$d"
mkdebs() {
  local v i f
  v=$(dpkg-deb -f "$deb" Version)
  dpkg-deb -R "$deb" "$d/x" || return 1
  for i in 1 2; do
    for f in $VIFS; do echo "# xnt upgrade $i" >>"$d/x/etc/xen/scripts/$f"; done
    sed -i "s/^Version: .*/Version: $v+xnt$i/" "$d/x/DEBIAN/control"
    dpkg-deb -b "$d/x" "$d/xuc$i.deb" >/dev/null || return 1
    for f in $VIFS; do md5sum <"$d/x/etc/xen/scripts/$f" | cut -d' ' -f1 >"$d/$f.md5.$i"; done
  done
}
check upgrade.debs "building the +xnt1/+xnt2 packages failed" mkdebs
ours_again() { install_ours && xennet install && our_links; }
check upgrade.ours "installing ours again (files, xennet install) failed" ours_again
sha=$(sha256sum <"$LIB/xen-netscripts" | cut -d' ' -f1)
upgrade() { # upgrade <confold|confnew> <n>
  apt-get install -y -o Dpkg::Options::=--force-"$1" -o Dpkg::Options::=--debug=20 "$d/xuc$2.deb" >"/var/lib/xnt/up$2.out" 2>&1
  local r=$?
  grep -E '^(E|W):|dpkg:|Unpacking' "/var/lib/xnt/up$2.out"
  return $r
}
aside() { # aside <n>: each new script is <script>.dpkg-new; dpkg still records the old hash
  local f ok=0
  for f in $VIFS; do
    [ "$(md5sum <"$SCRIPTS/$f.dpkg-new" | cut -d' ' -f1)" = "$(cat "$d/$f.md5.$1")" ] ||
      { echo "$f.dpkg-new is not +xnt$1's"; ok=1; }
    echo "$f: dpkg records $(conffile_hash "$SCRIPTS/$f"), +xnt$1 has $(cat "$d/$f.md5.$1")"
  done
  return $ok
}
check upgrade.confold.rc "upgrading to +xnt1 with --force-confold failed" upgrade confold 1
check upgrade.confold.links-kept "--force-confold upgrade: a script is no longer our link" our_links
check upgrade.confold.binary-intact "--force-confold upgrade: our executable changed" intact
check upgrade.confold.new-aside "the upgraded scripts are not in <script>.dpkg-new" aside 1
check upgrade.confnew.rc "upgrading to +xnt2 with --force-confnew failed" upgrade confnew 2
check upgrade.confnew.links-kept "--force-confnew upgrade replaced a link (dpkg changed: see 3-dpkg.sh)" our_links
check upgrade.confnew.binary-intact "--force-confnew upgrade: our executable changed" intact
check upgrade.confnew.new-aside "the upgraded scripts are not in <script>.dpkg-new" aside 2
leftovers "after the upgrades"
info "dpkg's record of vif-bridge: $(conffile_hash $SCRIPTS/vif-bridge) (the original's; +xnt2's is $(cat "$d/vif-bridge.md5.2"))"
check upgrade.remove "removing ours after the upgrades failed" remove_ours
current() { # the restored scripts are the installed package's (+xnt2's)
  local f ok=0
  for f in $VIFS; do
    [ "$(md5sum <"$SCRIPTS/$f" | cut -d' ' -f1)" = "$(cat "$d/$f.md5.2")" ] || { echo "$f is not +xnt2's"; ok=1; }
  done
  return $ok
}
known upgrade.current-scripts "xennet uninstall puts back the .xen-orig of before the upgrade; the upgraded scripts stay in .dpkg-new, and dpkg --verify does not notice (it still records the old hashes)" current
check upgrade.verify-blind "dpkg --verify reports something after the upgrade and removal" \
  sh -c 'o=$(dpkg --verify xen-utils-common 2>&1); echo "$o"; [ -z "$o" ]'
# What heals it: the stale .dpkg-new away, the installed version reinstalled.
heal() {
  rm -f "$SCRIPTS"/*.dpkg-new
  apt-get install -y --reinstall "$d/xuc2.deb" >/var/lib/xnt/heal.out 2>&1 || { cat /var/lib/xnt/heal.out; return 1; }
  current && dpkg --verify xen-utils-common && no_strays &&
    [ "$(conffile_hash $SCRIPTS/vif-bridge)" = "$(cat "$d/vif-bridge.md5.2")" ]
}
check upgrade.heal "rm <script>.dpkg-new + apt-get install --reinstall did not give the +xnt2 scripts, dpkg's record and no strays" heal
