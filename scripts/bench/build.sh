#!/bin/bash
# build.sh — skiff build vs buildah bud --layers on images/node-api, same
# base (the node fixture imported into both), same Dockerfile, same run:
# a cold build, a rebuild with no change, a rebuild after editing server.js.
# Prints the times and skiff/buildah ratios (lower is better for skiff).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need buildah
[ -f /usr/bin/time ] || apt-get install -y -qq time >/dev/null
skiff=$(skiff_release)
SKIFF="$skiff" "$repo/scripts/fixtures.sh" >/dev/null

work=$(mktemp -d /var/tmp/skiff-bench-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -a "$repo/images/node-api" "$work/ctx"
store="$work/store"
"$skiff" --root "$store" import "$fixtures/node.tar" node:fixture >/dev/null
# buildah: the same rootfs as localhost/node:fixture, in its own storage.
export CONTAINERS_STORAGE_CONF="$work/storage.conf"
cat >"$CONTAINERS_STORAGE_CONF" <<CONF
[storage]
driver = "overlay"
runroot = "$work/buildah-run"
graphroot = "$work/buildah-graph"
CONF
podman --root "$work/buildah-graph" --runroot "$work/buildah-run" --storage-driver overlay import "$fixtures/node.tar" localhost/node:fixture >/dev/null
bud() { buildah --root "$work/buildah-graph" --runroot "$work/buildah-run" --storage-driver overlay bud --layers --isolation chroot --network host --build-arg BASE=localhost/node:fixture -t bench-node-api "$work/ctx"; }
sk() { "$skiff" --root "$store" build -t bench-node-api "$work/ctx"; }

row() { printf '%-22s %10s %10s %8s\n' "$@"; }
row "case" "skiff ms" "buildah ms" "ratio"
s=$(wall_ms sk); b=$(wall_ms bud); row cold "$s" "$b" "$(ratio "$s" "$b")"
s=$(wall_ms sk); b=$(wall_ms bud); row "no change" "$s" "$b" "$(ratio "$s" "$b")"
echo "// edit $(date +%s%N)" >>"$work/ctx/server.js"
s=$(wall_ms sk); b=$(wall_ms bud); row "server.js edited" "$s" "$b" "$(ratio "$s" "$b")"
echo "peak RSS of a no-change skiff build: $(peak_kb "$skiff" --root "$store" build -q -t bench-node-api "$work/ctx") kB"
