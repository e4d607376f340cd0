#!/bin/bash
# busybox.sh OUTDIR — make a minimal busybox rootfs directory from Debian's
# busybox-static: /bin/busybox, one symlink per applet, users root/node/nobody.
# Deterministic: same host package -> same tree (fixed mtimes); idempotent:
# OUTDIR is rebuilt aside and swapped in.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=rootfs-fixtures/lib.sh
. "$here/lib.sh"

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
out=$1

# A static busybox (the dynamic `busybox` package would need libc inside).
busybox=/bin/busybox
if ! { [ -x $busybox ] && is_static $busybox; }; then ensure_packages busybox-static; fi
is_static $busybox || die "$busybox is not static (is the dynamic 'busybox' package installed?)"

tmp="$out.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
mkdir -p "$tmp"
cd "$tmp"

mkdir -p bin sbin usr/bin usr/sbin etc root home/node tmp var/tmp proc sys dev
install -m 755 $busybox bin/busybox

# Applet links where busybox would install them (`busybox --install -s`).
$busybox --list-full | while read -r path; do
    case $path in
    bin/busybox | linuxrc) continue ;;
    bin/*) target=busybox ;;
    sbin/*) target=../bin/busybox ;;
    usr/bin/* | usr/sbin/*) target=../../bin/busybox ;;
    *) die "unexpected applet path $path" ;;
    esac
    ln -sfn "$target" "$path"
done

write_users .
cat >etc/os-release <<'EOF'
NAME="skiff busybox fixture"
ID=skiff-fixture-busybox
PRETTY_NAME="skiff test fixture (busybox)"
EOF
chmod 644 etc/os-release

chmod 755 . bin sbin usr usr/bin usr/sbin etc home proc sys dev var
chmod 700 root
chmod 1777 tmp var/tmp
chown 1000:1000 home/node
chmod 755 home/node

normalize_tree .
cd /
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
log "busybox rootfs ready in $out"
