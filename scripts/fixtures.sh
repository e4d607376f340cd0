#!/bin/bash
# fixtures.sh [--force] [--import ROOT]
# Builds the test base images under .fixtures/ (or $SKIFF_FIXTURES):
#   busybox/ + busybox.tar   from rootfs-fixtures/busybox.sh
#   node/    + node.tar      from rootfs-fixtures/node.sh
#   redis/   + redis.tar     from rootfs-fixtures/redis.sh (Debian's redis-server)
# A fixture is rebuilt only when missing or when its inputs changed (the
# recipes, the host's busybox/node/npm); a .stamp file records the inputs.
# With --import ROOT, imports the tars into the skiff store ROOT with the
# binary $SKIFF (default target/debug/skiff) as busybox:fixture and node:fixture.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/rootfs-fixtures/lib.sh"

force=0 import_root=
while [ $# -gt 0 ]; do
    case $1 in
    --force) force=1 ;;
    --import) import_root=${2:?--import needs a store directory}; shift ;;
    -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1" ;;
    esac
    shift
done

fixtures=${SKIFF_FIXTURES:-$repo/.fixtures}
mkdir -p "$fixtures"
recipes=$repo/rootfs-fixtures

# inputs NAME : a digest of everything the fixture is made from.
inputs() {
    local files=("$recipes/lib.sh" "$recipes/busybox.sh" /bin/busybox)
    if [ "$1" = redis ]; then
        local rs
        rs=$(command -v redis-server) || { echo missing; return; }
        files+=("$recipes/redis.sh" "$(readlink -f "$rs")")
    fi
    if [ "$1" = node ]; then
        local node npm_cli
        node=$(command -v node) || { echo missing; return; }
        npm_cli=$(readlink -f "$(command -v npm)") || { echo missing; return; }
        files+=("$recipes/node.sh" "$(readlink -f "$node")" "$(dirname "$(dirname "$npm_cli")")/package.json")
    fi
    sha256sum "${files[@]}" 2>/dev/null | sha256sum | cut -d' ' -f1
}

# build NAME : (re)make $fixtures/NAME/ and NAME.tar unless up to date.
build() {
    local name=$1 dir=$fixtures/$1 tar=$fixtures/$1.tar stamp=$fixtures/$1.stamp
    if [ $force = 0 ] && [ -d "$dir" ] && [ -f "$tar" ] && [ -f "$stamp" ] &&
        [ "$(cat "$stamp")" = "$(inputs "$name")" ]; then
        log "$name: up to date ($tar)"
        return
    fi
    local t0=$SECONDS
    rm -f "$stamp"
    "$recipes/$name.sh" "$dir"
    pack_tar "$dir" "$tar"
    inputs "$name" >"$stamp"
    log "$name: built $tar ($(du -h "$tar" | cut -f1)) in $((SECONDS - t0))s"
}

build busybox
build node
build redis

if [ -n "$import_root" ]; then
    skiff=${SKIFF:-$repo/target/debug/skiff}
    [ -x "$skiff" ] || die "no skiff binary at $skiff (run cargo build, or set SKIFF)"
    for name in busybox node redis; do
        log "importing $name:fixture into $import_root"
        "$skiff" --root "$import_root" import "$fixtures/$name.tar" "$name:fixture"
    done
fi
