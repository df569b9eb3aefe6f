#!/bin/bash
# Runs inside the booted container (xnt-test.service, after multi-user.target), one phase per
# boot as /root/xnt/phase says; prints `XNT PASS|FAIL <check>: <detail>` for each check and
# `XNT TIME <step> <seconds>`, then powers the container off. run.sh reads the lines from the
# console and from /root/xnt/result.<phase>.
#
#   1  the package installed with apt (nothing in /etc/xen/scripts changes; the unit is there,
#      disabled, and systemd-analyze verify finds nothing), `xennet install`, mode=bridge, the
#      unit enabled
#   2  after the reboot: the bridge holds dom0's address and default route, the LAN answers;
#      `systemctl stop` gives them back to the NIC, `start` takes them again
#   3  after another reboot: the shutdown stopped the mode; then dpkg reinstalls and upgrades
#      xen-utils-common against our scripts, and `apt-get purge xen-netscripts` leaves
#      /etc/xen/scripts as xen-utils-common ships it
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
x=/root/xnt
phase=$(cat "$x/phase")
result=$x/result.$phase
: > "$result"
scripts=/etc/xen/scripts
ours_names="vif-bridge vif-openvswitch vif-nat vif-route network-bridge network-nat network-route"
xen_names="vif-bridge vif-openvswitch vif-nat vif-route"   # conffiles of xen-utils-common
lan=192.0.2.1
addr=192.0.2.10/24

say() { printf 'XNT %s\n' "$*" | tee -a "$result"; }
pass() { say "PASS $1: ${2:-ok}"; }
fail() { say "FAIL $1: ${2:-}"; }
check() { # check NAME DETAIL COMMAND...: PASS when the command succeeds
  local name=$1 detail=$2; shift 2
  if "$@" >/dev/null 2>&1; then pass "$name" "$detail"; else fail "$name" "$detail"; fi
}
t_start=
timed() { # timed NAME COMMAND...: runs it, logs its output, says how long it took
  local name=$1 t0=$EPOCHREALTIME rc; shift
  "$@" >"$x/out.$name" 2>&1; rc=$?
  say "TIME $name $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')"
  return $rc
}
finish() {
  say "TIME phase-$phase $(awk -v a="$t_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')"
  say "DONE $phase"
  sync
  systemctl poweroff --no-block
  exit 0
}
t_start=$EPOCHREALTIME
trap finish EXIT

# Is <scripts>/<name> a script of xennet's (the mark on its second line)?
ours() { sed -n 2p "$scripts/$1" 2>/dev/null | grep -q '^# xen-netscripts: written by'; }
# dpkg's record of a conffile of xen-utils-common, and a file's MD5.
record() { dpkg-query -W -f='${Conffiles}\n' xen-utils-common | awk -v p="$scripts/$1" '$1 == p { print $2 }'; }
md5() { md5sum < "$1" | cut -d' ' -f1; }
# Is <scripts>/<name> what xen-utils-common ships now?
shipped() { local want; want=$(record "$1"); [ -n "$want" ] && [ "$want" = "$(md5 "$scripts/$1")" ]; }
all_ours() { local n; for n in $ours_names; do ours "$n" || return 1; done; }
doctor_line() { xennet doctor 2>/dev/null | grep -E "^(OK  |WARN|FAIL) $1: " ; }
# The uplink's state: "<kind> <master> <addresses> | <default route device>"
net_state() {
  local kind
  kind=$(ip -d -j link show dev eth0 | grep -o '"info_kind":"[a-z]*"' | head -1 | cut -d'"' -f4)
  [ "$kind" = veth ] && kind=nic   # the container's NIC is the test's veth
  printf '%s %s %s | %s\n' "${kind:-nic}" "$(ip -j link show dev peth0 2>/dev/null | grep -o '"master":"[^"]*"' | cut -d'"' -f4)" \
    "$(ip -4 -o addr show dev eth0 | awk '{ print $4 }' | paste -sd,)" \
    "$(ip -4 route show default | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") print $(i+1) }')"
}
ping_lan() { ping -c1 -W2 "$lan" >/dev/null 2>&1 || { sleep 1; ping -c1 -W2 "$lan" >/dev/null 2>&1; }; }
listing() { # the scripts directory: name, type, mode, md5 (a link: its target)
  local f
  for f in "$scripts"/*; do
    if [ -L "$f" ]; then printf '%s link %s\n' "${f##*/}" "$(readlink "$f")"
    elif [ -f "$f" ]; then printf '%s file %s %s\n' "${f##*/}" "$(stat -c %a "$f")" "$(md5sum < "$f" | cut -d' ' -f1)"
    else printf '%s other\n' "${f##*/}"; fi
  done
}

say "BOOTED phase $phase: $(. /etc/os-release; echo "$PRETTY_NAME"), systemd $(systemctl --version | awk 'NR == 1 { print $2 }'), dpkg $(dpkg-query -W -f='${Version}' dpkg), xen-utils-common $(dpkg-query -W -f='${Version}' xen-utils-common)"

case $phase in
1)
  s=$(net_state)
  [ "$s" = "nic  192.0.2.10/24 | eth0" ] && ping_lan && pass boot1.network "$s" || fail boot1.network "$s (ifupdown's eth0)"
  listing > "$x/scripts.before"
  if timed apt-install apt-get install -y "$x"/xen-netscripts_*.deb; then pass apt-install; else fail apt-install "$(tail -5 "$x/out.apt-install")"; fi
  listing > "$x/scripts.installed"
  if cmp -s "$x/scripts.before" "$x/scripts.installed"; then pass install.scripts-unchanged "$(wc -l < "$x/scripts.before") files"
  else fail install.scripts-unchanged "$(diff "$x/scripts.before" "$x/scripts.installed" | tr '\n' ' ')"; fi
  e=$(systemctl is-enabled xen-netscripts 2>&1); a=$(systemctl is-active xen-netscripts 2>&1)
  [ "$e $a" = "disabled inactive" ] && pass install.unit-disabled "$e, $a" || fail install.unit-disabled "$e, $a"
  v=$(systemd-analyze verify /usr/lib/systemd/system/xen-netscripts.service 2>&1)
  [ -z "$v" ] && pass unit.verify "systemd-analyze verify: nothing to say" || fail unit.verify "$(tr '\n' ' ' <<<"$v")"
  names=$(/usr/libexec/xen-netscripts/xen-netscripts --list | sort | paste -sd' ')
  links=$(find /usr/libexec/xen-netscripts -type l -lname xen-netscripts -printf '%f\n' | sort | paste -sd' ')
  [ "$names" = "$links" ] && pass install.name-links "$links" || fail install.name-links "--list: $names; links: $links"
  check install.xennet "$(xennet --version 2>&1)" xennet --version
  m=$(man -w xennet xen-netscripts vif-bridge network-bridge xennet-boot 2>&1 | paste -sd' ')
  [ "$(wc -w <<<"$m")" = 5 ] && pass install.man "$m" || fail install.man "$m"
  check install.completions "bash, zsh, fish" test -f /usr/share/bash-completion/completions/vif-bridge \
    -a -f /usr/share/zsh/vendor-completions/_xennet -a -f /usr/share/fish/vendor_completions.d/network-bridge.fish
  c=$(dpkg-query -W -f='${Conffiles}' xen-netscripts | awk '{ print $1 }' | paste -sd' ')
  [ "$c" = /etc/xen/xen-netscripts.conf ] && pass install.conffile "$c" || fail install.conffile "$c"
  grep -q '^mode=none' /etc/xen/xen-netscripts.conf && pass install.mode-none || fail install.mode-none
  d=$(doctor_line "script vif-bridge")
  [[ $d == WARN*"a shell script, not xennet"* ]] && pass doctor.before "$d" || fail doctor.before "$d"

  if timed xennet-install xennet install; then pass xennet-install; else fail xennet-install "$(cat "$x/out.xennet-install")"; fi
  all_ours && pass xennet-install.ours "$ours_names" || fail xennet-install.ours "$(listing | tr '\n' ' ')"
  ok=1; for n in $xen_names; do [ "$(md5 "$scripts/$n.xen-orig")" = "$(awk -v n="$n" '$1 == n { print $4 }' "$x/scripts.before")" ] || ok=0; done
  [ $ok = 1 ] && pass xennet-install.originals-kept "$xen_names" || fail xennet-install.originals-kept "$(listing | tr '\n' ' ')"
  grep -q 'exec /usr/libexec/xen-netscripts/vif-bridge "$@"' "$scripts/vif-bridge" && pass xennet-install.packaged-binary "$(tail -1 "$scripts/vif-bridge")" || fail xennet-install.packaged-binary "$(tail -1 "$scripts/vif-bridge")"
  out=$("$scripts/network-bridge" --help 2>&1); rc=$?
  [ $rc = 0 ] && grep -q 'start' <<<"$out" && pass wrapper-runs "network-bridge --help through the script" || fail wrapper-runs "rc=$rc $out"
  d=$(doctor_line scripts)
  [[ $d == "OK   scripts: all 7 are xennet's" ]] && pass doctor.all-ours "$d" || fail doctor.all-ours "$d"

  sed -i 's/^mode=none$/mode=bridge/' /etc/xen/xen-netscripts.conf
  check conf.mode-bridge "mode=bridge" grep -qx mode=bridge /etc/xen/xen-netscripts.conf
  d=$(doctor_line boot)
  [[ $d == WARN*"not enabled"*"systemctl enable --now xen-netscripts"* ]] && pass doctor.boot-not-enabled "$d" || fail doctor.boot-not-enabled "$d"
  check unit.enable "systemctl enable xen-netscripts" systemctl enable xen-netscripts
  d=$(doctor_line boot)
  [[ $d == "OK   boot: xen-netscripts.service is enabled: it runs network-bridge start"* ]] && pass doctor.boot-enabled "$d" || fail doctor.boot-enabled "$d"
  ;;
2)
  a=$(systemctl is-active xen-netscripts); st=$(systemctl show -p ExecMainStatus --value xen-netscripts)
  [ "$a $st" = "active 0" ] && pass boot.unit-active "$a, exit $st" || fail boot.unit-active "$a, exit $st: $(journalctl -b -u xen-netscripts --no-pager | tail -5 | tr '\n' ' ')"
  s=$(net_state)
  [ "$s" = "bridge eth0 192.0.2.10/24 | eth0" ] && pass boot.bridge "eth0 is a bridge, peth0 its port, $addr and the default route on it" || fail boot.bridge "$s"
  ping_lan && pass boot.ping "$lan answers" || fail boot.ping "$lan does not answer"
  # Order: after network-online.target, before xen.service and xendomains.service.
  mono() { systemctl show -p "$2" --value "$1"; }
  online=$(mono network-online.target ActiveEnterTimestampMonotonic)
  started=$(mono xen-netscripts.service ExecMainStartTimestampMonotonic)
  up=$(mono xen-netscripts.service ActiveEnterTimestampMonotonic)
  detail="network-online $online, ours $started..$up"
  ok=1; [ "$online" -gt 0 ] && [ "$online" -le "$started" ] || ok=0
  for u in xen.service xendomains.service; do
    t=$(mono "$u" InactiveExitTimestampMonotonic); detail="$detail, $u $t"
    [ "$t" = 0 ] || [ "$t" -ge "$up" ] || ok=0
  done
  [ $ok = 1 ] && pass boot.order "$detail" || fail boot.order "$detail"
  check boot.status "xennet boot status exits 0" xennet boot status
  timed unit-stop systemctl stop xen-netscripts
  s=$(net_state)
  [ "$s" = "nic  192.0.2.10/24 | eth0" ] && ping_lan && pass stop.network-back "$s" || fail stop.network-back "$s"
  # What status says (its exit status is 0 whether or not the mode is up: network-bridge's
  # status only fails when it cannot show a part).
  xennet boot status >"$x/out.status-stopped" 2>&1
  grep -q 'eth0 is not a bridge: network-bridge is not started' "$x/out.status-stopped" && pass stop.status "xennet boot status: eth0 is not a bridge: network-bridge is not started" || fail stop.status "$(tr '\n' ' ' < "$x/out.status-stopped")"
  timed unit-start systemctl start xen-netscripts
  s=$(net_state)
  [ "$s" = "bridge eth0 192.0.2.10/24 | eth0" ] && ping_lan && pass start.bridge-again "$s" || fail start.bridge-again "$s"
  ;;
3)
  j=$(journalctl -b -1 -u xen-netscripts --no-pager -o cat 2>&1)
  grep -q 'network-bridge stop' <<<"$j" && ! grep -qi 'failed' <<<"$j" && pass shutdown.stop "$(grep 'network-bridge stop' <<<"$j" | tail -1)" || fail shutdown.stop "$(tail -6 <<<"$j" | tr '\n' ' ')"
  s=$(net_state)
  [ "$s" = "bridge eth0 192.0.2.10/24 | eth0" ] && ping_lan && pass boot.bridge-again "$s" || fail boot.bridge-again "$s"

  reinstall() { apt-get install -y --reinstall "$@" xen-utils-common; }
  upgrade() { local deb=$1; shift; apt-get install -y --allow-downgrades "$@" "$deb"; }
  dpkg_files() { find "$scripts" -name '*.dpkg-*' -printf '%f\n' | sort | paste -sd' '; }

  timed reinstall-confold reinstall -o Dpkg::Options::=--force-confold || fail reinstall.confold "$(tail -3 "$x/out.reinstall-confold")"
  all_ours && [ -z "$(dpkg_files)" ] && pass reinstall.confold.kept "all ours, no .dpkg-* file" || fail reinstall.confold.kept "$(listing | tr '\n' ' ')"
  timed reinstall-confnew reinstall -o Dpkg::Options::=--force-confnew || fail reinstall.confnew "$(tail -3 "$x/out.reinstall-confnew")"
  all_ours && [ -z "$(dpkg_files)" ] && pass reinstall.confnew.kept "all ours: the package's scripts did not change, so dpkg keeps ours" || fail reinstall.confnew.kept "$(listing | tr '\n' ' ')"
  timed reinstall-confask reinstall -o Dpkg::Options::=--force-confask -o Dpkg::Options::=--force-confnew ||
    fail reinstall.confask "$(tail -3 "$x/out.reinstall-confask")"
  ok=1; for n in $xen_names; do shipped "$n" && ours_old=$(sed -n 2p "$scripts/$n.dpkg-old") && [[ $ours_old == "# xen-netscripts: written by"* ]] || ok=0; done
  for n in network-bridge network-nat network-route; do ours "$n" || ok=0; done
  [ $ok = 1 ] && pass confask-confnew.originals-back "$xen_names are Xen's again, ours kept as .dpkg-old; network-* still ours" || fail confask-confnew.originals-back "$(listing | tr '\n' ' ')"
  d=$(doctor_line "script vif-bridge")
  [[ $d == WARN*"dpkg put it back"*"xennet install"* ]] && pass doctor.says-xen "$d" || fail doctor.says-xen "$d"
  d=$(doctor_line scripts)
  [[ $d == "WARN scripts: xennet's: network-bridge, network-nat, network-route; not xennet's: vif-bridge, vif-openvswitch, vif-nat, vif-route."* ]] && pass doctor.says-which "$d" || fail doctor.says-which "$d"
  timed xennet-install-again xennet install || fail xennet-install-again "$(cat "$x/out.xennet-install-again")"
  ok=1; for n in $xen_names; do [ -e "$scripts/$n.dpkg-old" ] && ok=0; [ "$(md5 "$scripts/$n.xen-orig")" = "$(record "$n")" ] || ok=0; done
  all_ours && [ $ok = 1 ] && pass install-again.ours "all ours; each .xen-orig is the shipped script; no .dpkg-old" || fail install-again.ours "$(listing | tr '\n' ' ')"

  v1=$(ls "$x"/xen-utils-common_*xnt1*.deb); v2=$(ls "$x"/xen-utils-common_*xnt2*.deb)
  timed upgrade-confold upgrade "$v1" -o Dpkg::Options::=--force-confold || fail upgrade.confold "$(tail -3 "$x/out.upgrade-confold")"
  all_ours && [ -f "$scripts/vif-bridge.dpkg-dist" ] && grep -q '^# xnt1' "$scripts/vif-bridge.dpkg-dist" && pass upgrade.confold.kept "ours kept, the new vif-bridge saved as vif-bridge.dpkg-dist" || fail upgrade.confold.kept "$(listing | tr '\n' ' ')"
  d=$(doctor_line "script vif-bridge")
  [[ $d == OK*"vif-bridge.dpkg-dist"* ]] && pass doctor.says-dist "$d" || fail doctor.says-dist "$d"
  timed upgrade-confnew upgrade "$v2" -o Dpkg::Options::=--force-confnew || fail upgrade.confnew "$(tail -3 "$x/out.upgrade-confnew")"
  ok=1; shipped vif-bridge && grep -q '^# xnt2' "$scripts/vif-bridge" || ok=0
  for n in vif-nat vif-route vif-openvswitch network-bridge; do ours "$n" || ok=0; done
  [ $ok = 1 ] && pass upgrade.confnew "vif-bridge (changed by the upgrade) is Xen's new one, the unchanged scripts stay ours" || fail upgrade.confnew "$(listing | tr '\n' ' ')"
  d=$(doctor_line scripts)
  [[ $d == WARN*"not xennet's: vif-bridge."* ]] && pass doctor.says-which-after-upgrade "$d" || fail doctor.says-which-after-upgrade "$d"

  timed purge apt-get purge -y xen-netscripts || fail purge "$(tail -5 "$x/out.purge")"
  grep -q 'xennet uninstall\|back in place\|removed' "$x/out.purge" && pass purge.prerm-ran "$(grep -c 'back in place\|removed' "$x/out.purge") scripts handled" || fail purge.prerm-ran "$(tail -5 "$x/out.purge" | tr '\n' ' ')"
  # /etc/xen/scripts is exactly what xen-utils-common ships: the same names as dpkg -L, each
  # conffile as dpkg records it, the other files as its md5sums say.
  have=$(find "$scripts" -mindepth 1 -maxdepth 1 | sort)
  want=$(dpkg -L xen-utils-common | grep "^$scripts/" | grep -v "^$scripts/.*/" | sort)
  bad=$(dpkg --verify xen-utils-common 2>&1 | grep " $scripts/")
  md5sums=$(cd / && grep " etc/xen/scripts/" /var/lib/dpkg/info/xen-utils-common.md5sums > /tmp/xnt-md5sums; [ ! -s /tmp/xnt-md5sums ] || md5sum -c --quiet /tmp/xnt-md5sums 2>&1)
  conff=$(dpkg-query -W -f='${Conffiles}\n' xen-utils-common | awk -v d="$scripts/" 'index($1, d) == 1 { print $2 "  " $1 }' | md5sum -c --quiet 2>&1)
  if [ "$have" = "$want" ] && [ -z "$bad$md5sums$conff" ]; then
    pass purge.scripts-as-shipped "$(wc -l <<<"$have") files, each as xen-utils-common ships it (conffile records, md5sums, dpkg --verify)"
  else
    fail purge.scripts-as-shipped "extra/missing: $(diff <(echo "$want") <(echo "$have") | grep '^[<>]' | tr '\n' ' ') verify: $bad md5sums: $md5sums conffiles: $conff"
  fi
  gone=
  for f in /usr/lib/systemd/system/xen-netscripts.service /etc/systemd/system/multi-user.target.wants/xen-netscripts.service \
           /etc/xen/xen-netscripts.conf /usr/libexec/xen-netscripts /usr/sbin/xennet; do
    [ -e "$f" ] || [ -L "$f" ] && gone="$gone $f"
  done
  [ -z "$gone" ] && pass purge.ours-gone "unit, its enablement, the conf, the binaries" || fail purge.ours-gone "still there:$gone"
  s=$(net_state)
  [ "$s" = "bridge eth0 192.0.2.10/24 | eth0" ] && ping_lan && pass purge.network-left-running "$s" || fail purge.network-left-running "$s"
  ;;
esac
