#!/bin/bash
# demo.sh — the main job on a fresh Debian 12 machine, as root:
# install what skiff needs, build skiff, make the Node base image, build the
# example service images/node-api with skiff, run it detached with a restart
# policy and a published port, and ask it for an answer.
#   SKIFF_ROOT   store to use (default /var/lib/skiff)
#   PORT         host port to publish (default 3000)
set -euo pipefail
# Containers here stay off the default bridge network (no bridge, NAT or
# forwarding on this host's network): `--network` defaults to private.
export SKIFF_NETWORK=${SKIFF_NETWORK:-private}
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. rootfs-fixtures/lib.sh
root=${SKIFF_ROOT:-/var/lib/skiff}

[ "$(id -u)" = 0 ] || die "run as root: containers need namespaces, mounts and cgroups"
command -v cargo >/dev/null || die "cargo not found: install Rust first"
echo "== packages"
ensure_packages curl busybox-static ca-certificates
port=${PORT:-3000}

echo "== building skiff (release)"
cargo build --release --quiet
skiff="$repo/target/release/skiff"

echo "== base images (rootfs-fixtures/)"
SKIFF="$skiff" scripts/fixtures.sh --import "$root"

echo "== skiff build -t node-api images/node-api"
"$skiff" --root "$root" build -t node-api images/node-api

echo "== skiff run -d --restart always -p $port:3000 -m 512m node-api"
"$skiff" --root "$root" rm -f node-api >/dev/null 2>&1 || true
"$skiff" --root "$root" run -d --name node-api --restart always -p "$port:3000" -m 512m node-api

for _ in $(seq 1 50); do
    if out=$(curl -fsS "http://127.0.0.1:$port/" 2>/dev/null); then
        echo "== the service answers on :$port"
        echo "$out"
        "$skiff" --root "$root" ps
        exit 0
    fi
    sleep 0.2
done
echo "the service did not answer on :$port; its log:" >&2
"$skiff" --root "$root" logs --tail 50 node-api >&2 || true
exit 1
