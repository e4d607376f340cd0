#!/bin/bash
# redis.sh OUTDIR — make a Redis base rootfs from Debian's redis-server
# package: the busybox fixture (sh, users) plus redis-server and redis-cli, the
# shared libraries and loader they link, and a /data directory owned by the
# redis user (uid 999). Checked by starting redis-server inside with chroot
# and pinging it with redis-cli over a unix socket before OUTDIR is replaced.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=rootfs-fixtures/lib.sh
. "$here/lib.sh"

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
out=$1

command -v redis-server >/dev/null || ensure_packages redis-server
# Debian's package starts a server on the host: this recipe only wants the binaries.
if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
    systemctl disable --now redis-server >/dev/null 2>&1 || true
fi

tmp="$out.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
"$here/busybox.sh" "$tmp" 2>/dev/null

copy_file() {
    mkdir -p "$tmp$(dirname "$1")"
    cp -L --preserve=mode "$1" "$tmp$1"
}

for b in redis-server redis-cli; do
    src=$(readlink -f "$(command -v $b)")
    install -D -m 755 "$src" "$tmp/usr/bin/$b"
    if command -v strip >/dev/null; then strip --strip-unneeded "$tmp/usr/bin/$b"; fi
    ldd "$src" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
        sort -u | while read -r lib; do copy_file "$lib"; done
done

grep -q '^redis:' "$tmp/etc/passwd" || echo 'redis:x:999:999:redis:/data:/bin/sh' >>"$tmp/etc/passwd"
grep -q '^redis:' "$tmp/etc/group" || echo 'redis:x:999:' >>"$tmp/etc/group"
mkdir -p "$tmp/data"
chown 999:999 "$tmp/data"

# Check: a server in the rootfs answers PING.
chroot "$tmp" /usr/bin/redis-server --port 0 --unixsocket /tmp/check.sock --daemonize yes \
    --save '' --logfile /tmp/check.log >/dev/null
ok=0
for _ in $(seq 1 50); do
    if [ "$(chroot "$tmp" /usr/bin/redis-cli -s /tmp/check.sock ping 2>/dev/null)" = PONG ]; then
        ok=1
        break
    fi
    sleep 0.1
done
chroot "$tmp" /usr/bin/redis-cli -s /tmp/check.sock shutdown nosave >/dev/null 2>&1 || true
[ $ok = 1 ] || die "redis-server does not answer inside the rootfs: $(cat "$tmp/tmp/check.log" 2>/dev/null)"
rm -f "$tmp/tmp/check.sock" "$tmp/tmp/check.log"

normalize_tree "$tmp"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
log "redis rootfs ready in $out ($(du -sh "$out" | cut -f1))"
