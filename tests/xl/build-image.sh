#!/usr/bin/env bash
# Builds what tests/xl/run.sh boots: Xen, a dom0 kernel and a dom0 initramfs holding the real
# toolstack (xenstored, xenconsoled, xl) and our release binaries as /etc/xen/scripts/*, plus a
# guest initramfs. Everything Xen comes from Debian 12 packages fetched with `apt-get download`
# into a cache outside the repository; nothing Xen is installed on this machine.
#
#   build-image.sh <cache dir> <release bin dir>
#
# Writes <cache>/img/{xen,vmlinuz,dom0.cpio.gz}. Re-running reuses the downloaded packages.
#   XENNET_XL_KERNEL   the pinned kernel package, name=version (default below)
set -euo pipefail
cache=$1
bins=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The kernel is ~70 of the ~75 MB and changes with every Debian security update: pinned, so a
# run is reproducible; the Xen packages are all of apt's candidate version (they must match).
kernel_pkg=${XENNET_XL_KERNEL:-linux-image-6.1.0-50-amd64=6.1.176-1}
kver=${kernel_pkg%%=*}
kver=${kver#linux-image-}
xen_pkgs=(xen-hypervisor-4.17-amd64 xen-utils-4.17 xen-utils-common xenstore-utils
          libxenmisc4.17 libxencall1 libxendevicemodel1 libxenevtchn1 libxenforeignmemory1
          libxengnttab1 libxenhypfs1 libxenstore4 libxentoollog1 libxentoolcore1 libyajl2
          busybox-static)
# dom0: the Xen drivers the toolstack opens, netback, the bridge, and what iptables' physdev
# rules and vif-route/vif-nat need. guest: netfront only.
dom0_mods=(xen-evtchn xenfs xen-privcmd xen-gntdev xen-gntalloc xen-netback bridge br_netfilter
           dummy nf_tables nft_compat xt_physdev xt_tcpudp xt_conntrack nft_chain_nat
           xt_MASQUERADE)
guest_mods=(xen-netfront)

for tool in apt-get dpkg depmod modprobe ldconfig cpio gzip ldd brctl xtables-nft-multi; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool is not installed" >&2; exit 1; }
done

dt() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
t0=$(date +%s.%N)
mkdir -p "$cache/debs"
# _apt must be able to write here, or apt falls back to an unsandboxed download with a warning.
chown _apt "$cache/debs" 2>/dev/null || true
want=("$kernel_pkg" "${xen_pkgs[@]}")
stamp="$cache/debs/.fetched"
fetched=cached
download() { (cd "$cache/debs" && apt-get download -q "${want[@]}" >/dev/null); }
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "${want[*]}" ]; then
  rm -f "$cache"/debs/*.deb
  fetched=fetched
  # A clean machine may have no package lists yet (install-deps updates them only when it
  # installs something).
  if ! download && ! { [ "$(id -u)" -eq 0 ] && apt-get update -qq && download; }; then
    echo "build-image: apt-get download failed; if $kernel_pkg is no longer in the archive," \
         "pick one from 'apt-cache policy linux-image-amd64' and set XENNET_XL_KERNEL=<pkg>=<version>" >&2
    exit 1
  fi
  echo "${want[*]}" > "$stamp"
fi
t1=$(date +%s.%N)
echo "XLHOST TIME download $(dt "$t0" "$t1") ($fetched)"

root="$cache/root"     # every package unpacked
img="$cache/img"
rm -rf "$root" "$img"
mkdir -p "$root" "$img"
for d in "$cache"/debs/*.deb; do dpkg -x "$d" "$root"; done
# The kernel package ships no modules.dep.
depmod -b "$root" "$kver"
gunzip -c "$root/boot/xen-4.17-amd64.gz" > "$img/xen"
cp "$root/boot/vmlinuz-$kver" "$img/vmlinuz"

# Copies a file into the image at the same path, with every library ldd names (the packages'
# libraries first, then this machine's: both are Debian 12).
libpath="$root/usr/lib/x86_64-linux-gnu:$root/usr/lib/xen-4.17/lib/x86_64-linux-gnu"
put() { # put <tree> <source file> <path in the image>
  local tree=$1 src=$2 dst=$3 lib
  mkdir -p "$tree/$(dirname "$dst")"
  cp -L "$src" "$tree/$dst"
  chmod +x "$tree/$dst"
  while read -r lib; do
    [ -e "$tree/usr/lib/x86_64-linux-gnu/$(basename "$lib")" ] && continue
    mkdir -p "$tree/usr/lib/x86_64-linux-gnu"
    cp -L "$lib" "$tree/usr/lib/x86_64-linux-gnu/"
  done < <(LD_LIBRARY_PATH=$libpath ldd "$src" 2>/dev/null | awk '/=> \//{print $3}')
}

# Modules and their dependencies, in load order, for /init to insmod.
mods() { # mods <tree> <module>...
  local tree=$1 m f
  shift
  mkdir -p "$tree/etc/xltest"
  : > "$tree/etc/xltest/modules"
  for m in "$@"; do
    modprobe -d "$root" -S "$kver" --show-depends "$m" | awk '$1=="insmod"{print $2}' |
      while read -r f; do
        rel=${f#"$root"}
        # needs SSE4.2, which qemu64 lacks; crc32c_generic serves instead
        case $rel in */crc32c-intel.ko) continue ;; esac
        grep -qxF "$rel" "$tree/etc/xltest/modules" && continue
        mkdir -p "$tree/$(dirname "$rel")"
        cp "$f" "$tree/$rel"
        echo "$rel" >> "$tree/etc/xltest/modules"
      done
  done
}

busybox_tree() { # busybox_tree <tree>: busybox's applets in /bin, where nothing else is
  local tree=$1 a
  mkdir -p "$tree"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc}
  cp "$root/bin/busybox" "$tree/bin/busybox"
  for a in $("$root/bin/busybox" --list); do
    [ -e "$tree/bin/$a" ] || [ -e "$tree/usr/sbin/$a" ] || [ -e "$tree/usr/bin/$a" ] ||
      [ -e "$tree/sbin/$a" ] || ln -s busybox "$tree/bin/$a"
  done
}

cpio_gz() { # cpio_gz <tree> <output>
  (cd "$1" && find . | cpio -o -H newc --quiet | gzip -1) > "$2"
}

# --- the guest: busybox, netfront, its /init
guest="$cache/guest-tree"
rm -rf "$guest"
mods "$guest" "${guest_mods[@]}"
busybox_tree "$guest"
cp "$here/guest-init.sh" "$guest/init"
chmod +x "$guest/init"

# --- dom0
dom0="$cache/dom0-tree"
rm -rf "$dom0"
mods "$dom0" "${dom0_mods[@]}"
for f in usr/sbin/xl usr/sbin/xenstored usr/sbin/xenconsoled; do
  put "$dom0" "$root/usr/lib/xen-4.17/bin/$(basename "$f")" "$f"
done
put "$dom0" "$root/usr/lib/xen-4.17/bin/xen-init-dom0" usr/sbin/xen-init-dom0
put "$dom0" "$root/usr/bin/xenstore" usr/bin/xenstore
for c in read write rm exists list ls chmod watch; do ln -sf xenstore "$dom0/usr/bin/xenstore-$c"; done
# libxl execs its save helper by path (not needed for PV create and destroy; cheap to have).
put "$dom0" "$root/usr/lib/xen-4.17/bin/libxl-save-helper" usr/lib/xen-4.17/bin/libxl-save-helper
# xl dlopens libgcc_s at run time (ldd does not show it).
cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$dom0/usr/lib/x86_64-linux-gnu/"
cp -a "$root"/usr/lib/x86_64-linux-gnu/*.so* "$dom0/usr/lib/x86_64-linux-gnu/"
# What our scripts call: iproute2 (for `ip -j`) and iptables from this Debian 12 machine.
put "$dom0" "$(readlink -f /usr/bin/ip)" usr/sbin/ip
put "$dom0" "$(readlink -f /usr/sbin/bridge 2>/dev/null || echo /sbin/bridge)" usr/sbin/bridge
# brctl from bridge-utils, as on a Debian dom0: busybox's brctl has no `stp`, which
# network-bridge uses (BR-05) whenever brctl is on PATH (BR-01).
put "$dom0" "$(command -v brctl)" usr/sbin/brctl
put "$dom0" /usr/sbin/xtables-nft-multi usr/sbin/xtables-nft-multi
for c in iptables iptables-save iptables-restore; do ln -sf xtables-nft-multi "$dom0/usr/sbin/$c"; done
mkdir -p "$dom0/usr/lib/x86_64-linux-gnu/xtables"
cp -a /usr/lib/x86_64-linux-gnu/xtables/. "$dom0/usr/lib/x86_64-linux-gnu/xtables/"
for so in "$dom0"/usr/lib/x86_64-linux-gnu/xtables/*.so; do
  LD_LIBRARY_PATH=$libpath ldd "$so" 2>/dev/null | awk '/=> \//{print $3}' | while read -r lib; do
    [ -e "$dom0/usr/lib/x86_64-linux-gnu/$(basename "$lib")" ] || cp -L "$lib" "$dom0/usr/lib/x86_64-linux-gnu/"
  done
done
# Our release binaries, where libxl looks for hotplug scripts.
mkdir -p "$dom0/etc/xen/scripts" "$dom0/usr/lib/xennet"
for b in vif-bridge vif-nat vif-route network-bridge network-nat network-route; do
  [ -x "$bins/$b" ] || { echo "build-image: $bins/$b is missing: run cargo build --release" >&2; exit 1; }
  put "$dom0" "$bins/$b" "usr/lib/xennet/$b"
  ln -s "/usr/lib/xennet/$b" "$dom0/etc/xen/scripts/$b"
done
# A control script that exits 0 and writes nothing: without our `connected`, netback never
# connects the guest (the hotplug-status check).
printf '#!/bin/sh\nexit 0\n' > "$dom0/etc/xen/scripts/vif-silent"
chmod +x "$dom0/etc/xen/scripts/vif-silent"
cat > "$dom0/etc/xen/xl.conf" <<'EOF'
run_hotplug_scripts=1
vif.default.script="vif-bridge"
autoballoon="off"
EOF
mkdir -p "$dom0/lib64" "$dom0/var"
ln -s /run "$dom0/var/run"
cp -L /lib64/ld-linux-x86-64.so.2 "$dom0/lib64/"
busybox_tree "$dom0"
cp "$here/dom0-init.sh" "$dom0/init"
chmod +x "$dom0/init"
mkdir -p "$dom0/boot"
cp "$img/vmlinuz" "$dom0/boot/vmlinuz"
cpio_gz "$guest" "$dom0/boot/guest.cpio.gz"
printf '/usr/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n' > "$dom0/etc/ld.so.conf"
ldconfig -r "$dom0"
cpio_gz "$dom0" "$img/dom0.cpio.gz"
t2=$(date +%s.%N)
echo "XLHOST TIME image $(dt "$t1" "$t2")"
echo "XLHOST image $(du -h "$img/dom0.cpio.gz" | cut -f1) dom0 initramfs, kernel $kver"
