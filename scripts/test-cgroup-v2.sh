#!/bin/bash
# test-cgroup-v2.sh — prove skiff on a cgroup v2 host: boot Debian's own kernel
# in qemu (software emulation, TCG: never -enable-kvm here) with an initramfs
# holding busybox, skiff, the busybox fixture tar and overlay.ko, run
# scripts/vm/cgroup-v2-tests.sh inside, and pass only on its success line.
#
# Environment: SKIFF (binary, default target/debug/skiff), SKIFF_FIXTURES
# (default .fixtures; the kernel is cached in its vm/ dir), CGROUP_V2_TESTS
# (test script to run instead), VM_TIMEOUT (seconds, default 900).
set -euo pipefail
# Containers here stay off the default bridge network (no bridge, NAT or
# forwarding on this host's network): `--network` defaults to private.
export SKIFF_NETWORK=${SKIFF_NETWORK:-private}
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/rootfs-fixtures/lib.sh"

fixtures=${SKIFF_FIXTURES:-$repo/.fixtures}
vmdir=$fixtures/vm
skiff=${SKIFF:-$repo/target/debug/skiff}
tests=${CGROUP_V2_TESTS:-$repo/scripts/vm/cgroup-v2-tests.sh}
vm_timeout=${VM_TIMEOUT:-900}

[ -x "$skiff" ] || die "no skiff binary at $skiff (run cargo build, or set SKIFF)"
ensure_packages qemu-system-x86 busybox-static binutils
{ [ -f "$fixtures/busybox.tar" ] && [ -d "$fixtures/busybox" ]; } || "$repo/scripts/fixtures.sh"
mkdir -p "$vmdir"

# --- kernel: exactly the package linux-image-amd64 depends on ---------------
kernel_pkg() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }'
}
kpkg=$(kernel_pkg)
if [ -z "$kpkg" ]; then apt_locked apt-get update -q; kpkg=$(kernel_pkg); fi
[ -n "$kpkg" ] || die "cannot tell which kernel linux-image-amd64 depends on"
kdir=$vmdir/$kpkg
if [ ! -f "$kdir/vmlinuz" ] || [ ! -f "$kdir/overlay.ko" ]; then
    log "fetching $kpkg"
    rm -rf "$kdir.tmp" && mkdir -p "$kdir.tmp/deb" && cd "$kdir.tmp/deb"
    apt-get download -q "$kpkg" 2>/dev/null || { apt_locked apt-get update -q; apt-get download -q "$kpkg"; }
    # Only the few files we need out of the package, not its ~400 MB of modules.
    dpkg-deb --fsys-tarfile ./*.deb | tar -x --wildcards './boot/vmlinuz-*' \
        '*/modules/*/kernel/fs/overlayfs/overlay.ko*' '*/modules/*/kernel/drivers/net/veth.ko*'
    cd "$kdir.tmp"
    mv deb/boot/vmlinuz-* vmlinuz
    # busybox insmod wants plain .ko files.
    for ko in deb/*/modules/*/kernel/*/*/*.ko* deb/*/modules/*/kernel/*/*/*/*.ko*; do
        [ -f "$ko" ] || continue
        base=$(basename "$ko")
        case $ko in
        *.ko) mv "$ko" "$base" ;;
        *.ko.xz) ensure_packages xz-utils; xz -dc "$ko" >"${base%.xz}" ;;
        *.ko.zst) ensure_packages zstd; zstd -qdc "$ko" >"${base%.zst}" ;;
        *.ko.gz) gzip -dc "$ko" >"${base%.gz}" ;;
        esac
    done
    rm -rf deb
    cd "$vmdir"
    find "$vmdir" -maxdepth 1 -name 'linux-image-*' ! -name "$kpkg*" -exec rm -rf {} + # older kernels
    rm -rf "$kdir" && mv "$kdir.tmp" "$kdir"
fi
[ -f "$kdir/overlay.ko" ] || die "no overlay.ko in $kpkg"

# --- initramfs --------------------------------------------------------------
t0=$SECONDS
stage=$vmdir/initramfs
rm -rf "$stage"
cp -a "$fixtures/busybox" "$stage" # busybox with applet links, /etc/passwd
cd "$stage"
mkdir -p newroot lib/modules usr/bin
mknod -m 600 dev/console c 5 1
mknod -m 666 dev/null c 1 3
install -m 755 "$skiff" usr/bin/skiff
strip --strip-debug usr/bin/skiff 2>/dev/null || true # debug info only slows the VM down
{ ldd "$skiff" 2>/dev/null || true; } | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u |
    while read -r lib; do
        mkdir -p ".$(dirname "$lib")"
        cp -L "$lib" ".$lib"
    done
cp "$fixtures/busybox.tar" busybox.tar
cp "$kdir"/*.ko lib/modules/
install -m 755 "$repo/scripts/vm/init" init
install -m 755 "$tests" cgroup-v2-tests.sh
find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort | /bin/busybox cpio -o -H newc 2>/dev/null |
    gzip -1 >"$vmdir/initrd.gz"
cd "$vmdir"
rm -rf "$stage"
log "initramfs $(du -h initrd.gz | cut -f1) with $kpkg, made in $((SECONDS - t0))s"

# --- boot -------------------------------------------------------------------
vmlog=$vmdir/cgroup-v2.log
log "booting the VM (TCG, timeout ${vm_timeout}s); serial log in $vmlog"
start=$(date +%s.%N)
rc=0
timeout -k 10 "$vm_timeout" qemu-system-x86_64 -machine q35 -accel tcg -cpu max -m 1024 -smp 2 \
    -nographic -no-reboot -kernel "$kdir/vmlinuz" -initrd "$vmdir/initrd.gz" \
    -append 'console=ttyS0 quiet panic=-1 random.trust_cpu=on' </dev/null >"$vmlog" 2>&1 || rc=$?
secs=$(echo "$(date +%s.%N) $start" | awk '{ printf "%.1f", $1 - $2 }')
sed -i -e "s/\r//g" -e "s/\x1b\[[0-9;?]*[A-Za-z]//g" -e "s/\x1bc//g" "$vmlog" # plain text: no CRs, no terminal escapes

[ $rc = 124 ] && log "the VM did not finish within ${vm_timeout}s"
grep -E '^(ok |not ok |VM-INIT:|CGROUP-V2-TESTS:)' "$vmlog" || true
log "VM ran ${secs}s (qemu exit $rc)"
if grep -qE '^CGROUP-V2-TESTS: [1-9][0-9]* passed, 0 failed' "$vmlog"; then
    log "PASS"
    exit 0
fi
if grep -q '^CGROUP-V2-TESTS:' "$vmlog"; then
    log "FAIL: the checks above marked 'not ok' failed"
else # the VM never reached the end of the tests: show how far it got
    log "FAIL: no summary line; last lines of the serial log:"
    tail -n 60 "$vmlog" >&2
fi
exit 1
