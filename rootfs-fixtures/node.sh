#!/bin/bash
# node.sh OUTDIR — make a Node.js base rootfs from the host's node and npm:
# the busybox fixture (sh, coreutils, users root/node/nobody) plus /usr/bin/node
# (stripped), the shared libraries and loader it links, npm, and CA certificates.
# Checked by running node and npm inside with chroot before OUTDIR is replaced.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=rootfs-fixtures/lib.sh
. "$here/lib.sh"

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
out=$1

# Host node and npm (Debian's packages if there are none).
command -v node >/dev/null || ensure_packages nodejs npm
command -v npm >/dev/null || ensure_packages npm
node_bin=$(readlink -f "$(command -v node)")
npm_cli=$(readlink -f "$(command -v npm)")     # .../npm/bin/npm-cli.js
npm_dir=$(dirname "$(dirname "$npm_cli")")
[ -f "$npm_dir/package.json" ] || die "cannot find npm's directory (from $npm_cli)"

tmp="$out.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
"$here/busybox.sh" "$tmp" 2>/dev/null

# copy_file SRC : copy SRC (following links) to the same path inside the rootfs.
copy_file() {
    mkdir -p "$tmp$(dirname "$1")"
    cp -L --preserve=mode "$1" "$tmp$1"
}

# node itself, without debug symbols (the nodesource build ships them: ~12 MB).
install -D -m 755 "$node_bin" "$tmp/usr/bin/node"
if command -v strip >/dev/null; then strip --strip-unneeded "$tmp/usr/bin/node"; fi

# Every library ldd resolves, and the dynamic loader, at the paths ldd prints.
ldd "$node_bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
    sort -u | while read -r lib; do copy_file "$lib"; done

# npm: one self-contained directory (nodesource, npm from npmjs), or Debian's
# split layout where npm's dependencies are separate packages under /usr/share/nodejs.
case $npm_dir in
/usr/share/nodejs/*)
    for d in /usr/share/nodejs /usr/lib/nodejs /usr/lib/x86_64-linux-gnu/nodejs; do
        [ -d "$d" ] || continue
        mkdir -p "$tmp$(dirname "$d")"
        cp -a "$d" "$tmp$d"
    done
    ;;
*)
    mkdir -p "$tmp$(dirname "$npm_dir")"
    cp -a "$npm_dir" "$tmp$npm_dir"
    rm -rf "$tmp$npm_dir/docs" "$tmp$npm_dir/man" # `npm help` pages only
    ;;
esac
chown -R -h 0:0 "$tmp$npm_dir"
ln -sfn "$(realpath --relative-to="$tmp/usr/bin" "$tmp$npm_cli")" "$tmp/usr/bin/npm"
if [ -f "$npm_dir/bin/npx-cli.js" ]; then
    ln -sfn "$(realpath --relative-to="$tmp/usr/bin" "$tmp$npm_dir/bin/npx-cli.js")" "$tmp/usr/bin/npx"
fi

# CA certificates (for npm against a registry), if the host has them.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    install -D -m 644 /etc/ssl/certs/ca-certificates.crt "$tmp/etc/ssl/certs/ca-certificates.crt"
fi

node_version=$("$node_bin" --version)
npm_version=$("$node_bin" -p "require('$npm_dir/package.json').version")
cat >"$tmp/etc/os-release" <<EOF
NAME="skiff node fixture"
ID=skiff-fixture-node
VERSION_ID="$node_version"
PRETTY_NAME="skiff test fixture (node $node_version, npm $npm_version)"
EOF
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$tmp/etc/nsswitch.conf"
chmod 644 "$tmp/etc/os-release" "$tmp/etc/nsswitch.conf"

# Prove it works inside: node runs, npm starts (from a clean environment).
chroot=$(command -v chroot)
in_root() {
    env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp/check \
        npm_config_update_notifier=false "$chroot" "$tmp" "$@"
}
got=$(in_root /usr/bin/node -e 'console.log(1+1)') || die "node does not run in the rootfs"
[ "$got" = 2 ] || die "node printed '$got', wanted 2"
got=$(in_root npm --version) || die "npm does not run in the rootfs"
[ "$got" = "$npm_version" ] || die "npm --version printed '$got', wanted $npm_version"
rm -rf "$tmp/tmp/check" "$tmp/tmp/"* # whatever the checks left

normalize_tree "$tmp"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
log "node rootfs ready in $out (node $node_version, npm $npm_version, $(du -sh "$out" | cut -f1))"
