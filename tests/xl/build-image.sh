#!/usr/bin/env bash
# Builds what tests/xl/run.sh boots: Xen, a dom0 kernel and a dom0 initramfs holding the real
# toolstack (xenstored, xenconsoled, xl) and our release binaries as /etc/xen/scripts/*, plus a
# guest initramfs, for one Debian release. Everything comes from that release's packages, fetched
# through a private apt configuration (its own sources, lists and cache under the cache dir: the
# machine's own apt lists and cache are left alone) and unpacked with `dpkg -x`; nothing is
# installed on this machine.
#
#   build-image.sh <cache dir> <release bin dir> [bookworm|trixie]     (default bookworm)
#
# Writes <cache>/<release>/img/{xen,vmlinuz,dom0.cpio.gz} (and keeps the dom0 and guest trees
# beside it for a post-mortem). Re-running with the same package list reuses the downloaded
# packages (<cache>/<release>/debs) without going to the network.
#   XENNET_XL_KERNEL_BOOKWORM, XENNET_XL_KERNEL_TRIXIE   the pinned kernel package, name=version
#   XENNET_XL_MIRROR    the Debian mirror (default http://deb.debian.org/debian)
set -euo pipefail
cache_top=$1
bins=$2
release=${3:-bookworm}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mirror=${XENNET_XL_MIRROR:-http://deb.debian.org/debian}

# The kernel is most of the download and changes with every Debian security update: pinned, so a
# run is reproducible (the archive drops a superseded kernel: then pick the current one, see the
# error below); the Xen packages are all of the archive's candidate version (they must match).
case $release in
  bookworm)
    xv=4.17
    kernel_pkg=${XENNET_XL_KERNEL_BOOKWORM:-${XENNET_XL_KERNEL:-linux-image-6.1.0-50-amd64=6.1.176-1}} ;;
  trixie)
    xv=4.20
    kernel_pkg=${XENNET_XL_KERNEL_TRIXIE:-linux-image-6.12.118+deb13-amd64=6.12.118-1} ;;
  *) echo "build-image: unknown release '$release' (bookworm or trixie)" >&2; exit 2 ;;
esac
cache=$cache_top/$release
kver=${kernel_pkg%%=*}
kver=${kver#linux-image-}
# Taken as they are (no dependencies: xen-utils-$xv and xen-utils-common would pull python3 and
# udev for nothing the test runs).
nodeps_pkgs=("$kernel_pkg" "xen-hypervisor-$xv-amd64" "xen-utils-$xv" xen-utils-common xenstore-utils
             busybox-static)
# Taken with everything they depend on: the libraries of the toolstack, and the release's own
# iproute2 (`ip -j`), iptables (nft backend) and bridge-utils (network-bridge runs brctl stp
# when brctl is on PATH: BR-01, BR-05; busybox's brctl has no stp), with the release's libc.
closure_pkgs=(libc6 libgcc-s1 "libxenmisc$xv" libxencall1 libxendevicemodel1 libxenevtchn1
              libxenforeignmemory1 libxengnttab1 libxenhypfs1 libxenstore4 libxentoollog1
              libxentoolcore1 libyajl2 iproute2 iptables bridge-utils)
# dom0: the Xen drivers the toolstack opens, netback, the bridge, and what iptables' physdev
# rules and vif-route/vif-nat need; veth and 8021q for the VLAN scenario's LAN. guest: netfront,
# and 8021q for a trunk guest's tagged side.
dom0_mods=(xen-evtchn xenfs xen-privcmd xen-gntdev xen-gntalloc xen-netback bridge br_netfilter
           dummy nf_tables nft_compat xt_physdev xt_tcpudp xt_conntrack nft_chain_nat
           xt_MASQUERADE veth 8021q)
guest_mods=(xen-netfront 8021q)

for tool in apt-get dpkg depmod modprobe ldconfig cpio gzip xz; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool is not installed" >&2; exit 1; }
done

dt() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
t0=$(date +%s.%N)
mkdir -p "$cache/debs"
# The private apt configuration: this release's sources, and lists, cache and an empty dpkg
# status of its own (so that a closure download resolves every dependency, as for an empty
# system). _apt must be able to write the download directories, or apt falls back to an
# unsandboxed download with a warning.
apt_dir=$cache/apt
mkdir -p "$apt_dir"/{lists/partial,archives/partial,sources.list.d,preferences.d}
[ -e "$apt_dir/status" ] || : >"$apt_dir/status"
key=/usr/share/keyrings/debian-archive-keyring.gpg
cat >"$apt_dir/sources.list" <<SRC
deb [signed-by=$key] $mirror $release main
deb [signed-by=$key] $mirror $release-updates main
deb [signed-by=$key] http://deb.debian.org/debian-security $release-security main
SRC
chown -R _apt "$apt_dir/lists" "$apt_dir/archives" "$cache/debs" 2>/dev/null || true
apt_priv() {
  apt-get -q -o Dir::Etc::SourceList="$apt_dir/sources.list" \
    -o Dir::Etc::SourceParts="$apt_dir/sources.list.d" \
    -o Dir::Etc::Preferences="$apt_dir/preferences" -o Dir::Etc::PreferencesParts="$apt_dir/preferences.d" \
    -o Dir::State="$apt_dir" -o Dir::State::Lists="$apt_dir/lists" -o Dir::State::status="$apt_dir/status" \
    -o Dir::Cache="$apt_dir" -o Dir::Cache::archives="$apt_dir/archives" \
    -o APT::Architecture=amd64 -o APT::Architectures::=amd64 -o APT::Install-Recommends=false \
    -o Acquire::Languages=none "$@"
}
download() {
  rm -f "$cache"/debs/*.deb "$apt_dir"/archives/*.deb
  (cd "$cache/debs" && apt_priv download "${nodeps_pkgs[@]}" >/dev/null) &&
    apt_priv install -y --download-only "${closure_pkgs[@]}" >/dev/null &&
    mv "$apt_dir"/archives/*.deb "$cache/debs/"
}
want="release=$release nodeps=${nodeps_pkgs[*]} closure=${closure_pkgs[*]}"
stamp="$cache/debs/.fetched"
fetched=cached
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  fetched=fetched
  if ! apt_priv update >/dev/null || ! download; then
    echo "build-image: fetching $release's packages failed; if $kernel_pkg is no longer in the" \
         "archive, pick the current one (apt-cache policy linux-image-amd64 with $release's sources:" \
         "the package linux-image-amd64 depends on, and its version) and set" \
         "XENNET_XL_KERNEL_${release^^}=<pkg>=<version>" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
t1=$(date +%s.%N)
echo "XLHOST TIME download $(dt "$t0" "$t1") ($fetched, $(du -sh "$cache/debs" | cut -f1))"

root="$cache/root"     # every package unpacked
img="$cache/img"
rm -rf "$root" "$img"
mkdir -p "$root" "$img"
for d in "$cache"/debs/*.deb; do dpkg -x "$d" "$root"; done
# trixie's kernel (merged /usr) puts its modules in /usr/lib/modules; depmod and modprobe -d look
# in /lib/modules.
if [ ! -d "$root/lib/modules/$kver" ] && [ -d "$root/usr/lib/modules/$kver" ]; then
  mkdir -p "$root/lib"
  ln -sfn ../usr/lib/modules "$root/lib/modules"
fi
# The kernel package ships no modules.dep.
depmod -b "$root" "$kver"
gunzip -c "$root/boot/xen-$xv-amd64.gz" > "$img/xen"
cp "$root/boot/vmlinuz-$kver" "$img/vmlinuz"

# The release's own dynamic loader lists a binary's libraries (this machine's ldd would use this
# machine's loader, which cannot load a newer release's libc). bookworm's libc6 unpacks to /lib,
# trixie's (merged /usr) to /usr/lib: both are searched.
first() { local f; for f in "$@"; do [ -e "$f" ] && { echo "$f"; return 0; }; done; return 0; }
ld_so=$(first "$root"/lib64/ld-linux-x86-64.so.2 "$root"/usr/lib64/ld-linux-x86-64.so.2)
[ -n "$ld_so" ] || { echo "build-image: no ld-linux-x86-64.so.2 in $release's libc6" >&2; exit 1; }
libdirs=("$root/usr/lib/x86_64-linux-gnu" "$root/lib/x86_64-linux-gnu" "$root/usr/lib/xen-$xv/lib/x86_64-linux-gnu")
libpath=$(IFS=:; echo "${libdirs[*]}")
libs_of() { # the libraries a binary or shared object needs, as paths under $root
  "$ld_so" --library-path "$libpath" --list "$1" 2>/dev/null | awk '/=> \//{print $3}'
}
# Copies a file into the image at the given path, with every library it needs into
# /usr/lib/x86_64-linux-gnu.
put() { # put <tree> <source file> <path in the image>
  local tree=$1 src=$2 dst=$3 lib
  mkdir -p "$tree/$(dirname "$dst")"
  cp -L "$src" "$tree/$dst"
  chmod +x "$tree/$dst"
  while read -r lib; do
    [ -e "$tree/usr/lib/x86_64-linux-gnu/$(basename "$lib")" ] && continue
    mkdir -p "$tree/usr/lib/x86_64-linux-gnu"
    cp -L "$lib" "$tree/usr/lib/x86_64-linux-gnu/"
  done < <(libs_of "$src")
}
# A program of the release's packages, wherever its /usr merge put it.
prog() {
  local d
  for d in usr/sbin sbin usr/bin bin; do [ -e "$root/$d/$1" ] && { echo "$root/$d/$1"; return; }; done
  echo "build-image: $1 is not in $release's packages" >&2; return 1
}

# Modules and their dependencies, in load order, for /init to insmod. trixie's are compressed
# (.ko.xz): they are unpacked here, busybox's insmod takes them as they are then.
mods() { # mods <tree> <module>...
  local tree=$1 m f rel
  shift
  mkdir -p "$tree/etc/xltest"
  : > "$tree/etc/xltest/modules"
  for m in "$@"; do
    modprobe -d "$root" -S "$kver" --show-depends "$m" | awk '$1=="insmod"{print $2}' |
      while read -r f; do
        rel=${f#"$root"}
        rel=${rel%.xz}
        rel=${rel%.zst}
        # needs SSE4.2, which qemu64 lacks; crc32c_generic serves instead
        case $rel in */crc32c-intel.ko) continue ;; esac
        grep -qxF "$rel" "$tree/etc/xltest/modules" && continue
        mkdir -p "$tree/$(dirname "$rel")"
        case $f in
          *.xz) xz -dc "$f" > "$tree/$rel" ;;
          *.zst) zstd -qdc "$f" > "$tree/$rel" ;;
          *) cp "$f" "$tree/$rel" ;;
        esac
        echo "$rel" >> "$tree/etc/xltest/modules"
      done
  done
  [ -s "$tree/etc/xltest/modules" ] || { echo "build-image: no modules found for $*" >&2; return 1; }
}

busybox_tree() { # busybox_tree <tree>: busybox's applets in /bin, where nothing else is
  local tree=$1 a bb
  bb=$(prog busybox)
  mkdir -p "$tree"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc}
  cp "$bb" "$tree/bin/busybox"
  for a in $("$bb" --list); do
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
for f in xl xenstored xenconsoled xen-init-dom0; do
  put "$dom0" "$root/usr/lib/xen-$xv/bin/$f" "usr/sbin/$f"
done
put "$dom0" "$root/usr/bin/xenstore" usr/bin/xenstore
for c in read write rm exists list ls chmod watch; do ln -sf xenstore "$dom0/usr/bin/xenstore-$c"; done
# libxl execs its save helper by path (not needed for PV create and destroy; cheap to have).
put "$dom0" "$root/usr/lib/xen-$xv/bin/libxl-save-helper" "usr/lib/xen-$xv/bin/libxl-save-helper"
# xl dlopens libgcc_s at run time (the loader's list does not show it); the Xen libraries too.
cp -L "$(first "$root"/{usr/,}lib/x86_64-linux-gnu/libgcc_s.so.1)" "$dom0/usr/lib/x86_64-linux-gnu/"
cp -a "$root"/usr/lib/x86_64-linux-gnu/libxen*.so* "$dom0/usr/lib/x86_64-linux-gnu/"
# What our scripts call, from the release: iproute2 (`ip -j`), iptables (nft backend) and
# bridge-utils' brctl, as on a Debian dom0: busybox's brctl has no `stp`, which network-bridge
# uses (BR-05) whenever brctl is on PATH (BR-01).
put "$dom0" "$(prog ip)" usr/sbin/ip
put "$dom0" "$(prog bridge)" usr/sbin/bridge
put "$dom0" "$(prog brctl)" usr/sbin/brctl
put "$dom0" "$(prog xtables-nft-multi)" usr/sbin/xtables-nft-multi
for c in iptables iptables-save iptables-restore; do ln -sf xtables-nft-multi "$dom0/usr/sbin/$c"; done
xt=$(first "$root"/{usr/,}lib/x86_64-linux-gnu/xtables)
mkdir -p "$dom0/usr/lib/x86_64-linux-gnu/xtables"
cp -a "$xt/." "$dom0/usr/lib/x86_64-linux-gnu/xtables/"
for so in "$dom0"/usr/lib/x86_64-linux-gnu/xtables/*.so; do
  libs_of "$so" | while read -r lib; do
    [ -e "$dom0/usr/lib/x86_64-linux-gnu/$(basename "$lib")" ] || cp -L "$lib" "$dom0/usr/lib/x86_64-linux-gnu/"
  done
done
# Ours. With XENNET_XL_DEB, the Debian package unpacked as dpkg would (its maintainer scripts
# change nothing at install), and dom0's /init runs `xennet install` as an administrator would.
# Else our release binaries, where libxl looks for hotplug scripts.
mkdir -p "$dom0/etc/xen/scripts"
if [ -n "${XENNET_XL_DEB:-}" ]; then
  dpkg-deb -x "$XENNET_XL_DEB" "$dom0"
  exe=$dom0/usr/libexec/xen-netscripts/xen-netscripts
  [ -x "$exe" ] || { echo "build-image: $XENNET_XL_DEB holds no $exe" >&2; exit 1; }
  rm -rf "$dom0/usr/share/man" "$dom0/usr/share/doc"
  while read -r lib; do
    [ -e "$dom0/usr/lib/x86_64-linux-gnu/$(basename "$lib")" ] || cp -L "$lib" "$dom0/usr/lib/x86_64-linux-gnu/"
  done < <(libs_of "$exe")
else
  mkdir -p "$dom0/etc/xen/scripts" "$dom0/usr/lib/xennet"
  [ ! -x "$bins/xen-netscripts" ] || put "$dom0" "$bins/xen-netscripts" usr/lib/xennet/xen-netscripts
  for b in vif-bridge vif-nat vif-route network-bridge network-nat network-route; do
    [ -x "$bins/$b" ] || { echo "build-image: $bins/$b is missing: run cargo build --release" >&2; exit 1; }
    if [ -x "$bins/xen-netscripts" ] && [ "$(readlink -f "$bins/$b")" = "$(readlink -f "$bins/xen-netscripts")" ]; then
      ln -s xen-netscripts "$dom0/usr/lib/xennet/$b"
    else
      put "$dom0" "$bins/$b" "usr/lib/xennet/$b"
    fi
    ln -s "/usr/lib/xennet/$b" "$dom0/etc/xen/scripts/$b"
  done
fi
# A control script that exits 0 and writes nothing: without our `connected`, netback never
# connects the guest (the hotplug-status check).
printf '#!/bin/sh\nexit 0\n' > "$dom0/etc/xen/scripts/vif-silent"
chmod +x "$dom0/etc/xen/scripts/vif-silent"
cat > "$dom0/etc/xen/xl.conf" <<'EOF2'
run_hotplug_scripts=1
vif.default.script="vif-bridge"
autoballoon="off"
EOF2
mkdir -p "$dom0/lib64" "$dom0/var"
ln -s /run "$dom0/var/run"
cp -L "$ld_so" "$dom0/lib64/"
busybox_tree "$dom0"
cp "$here/dom0-init.sh" "$dom0/init"
chmod +x "$dom0/init"
echo "release=$release xen=$xv kernel=$kver" > "$dom0/etc/xltest/release"
mkdir -p "$dom0/boot"
cp "$img/vmlinuz" "$dom0/boot/vmlinuz"
cpio_gz "$guest" "$dom0/boot/guest.cpio.gz"
printf '/usr/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n' > "$dom0/etc/ld.so.conf"
ldconfig -r "$dom0"
cpio_gz "$dom0" "$img/dom0.cpio.gz"
# Unpacked again from the cached packages at every build: not kept (bookworm's is ~450 MB).
rm -rf "$root"
t2=$(date +%s.%N)
echo "XLHOST TIME image $(dt "$t1" "$t2")"
echo "XLHOST image $release: Xen $xv, kernel $kver, $(du -h "$img/dom0.cpio.gz" | cut -f1) dom0 initramfs"
