#!/bin/bash
# build-cache-mount.sh — the rebuild of a Node service after one dependency
# is added to package.json, with `RUN --mount=type=cache,target=/root/.npm
# npm ci` against the same Dockerfile without the cache mount, and against
# `buildah bud --layers` with the cache mount. Real dependencies from the
# npm registry (express, pino; then dayjs is added), so it needs the
# registry; a TLS-inspecting proxy's CA ($NODE_EXTRA_CA_CERTS) is handed to
# the build as a secret, never by turning TLS checks off.
# Also: the time of `build --check` over tests/data/node-dockerfiles.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need npm
skiff=$(skiff_release)
# Fixtures are made once (scripts/fixtures.sh); never rebuilt here.
[ -f "$fixtures/node.tar" ] || SKIFF="$skiff" "$repo/scripts/fixtures.sh" >/dev/null

work=$(mktemp -d /var/tmp/skb-cm.XXXXXX)
trap 'rm -rf "$work"' EXIT
store="$work/store"
"$skiff" --root "$store" import "$fixtures/node.tar" node:fixture >/dev/null

# The service: package.json and its lockfile before and after adding dayjs.
mkdir -p "$work/v1" "$work/v2"
cat >"$work/v1/package.json" <<'JSON'
{ "name": "bench-api", "version": "1.0.0", "private": true,
  "dependencies": { "express": "^4.21.0", "pino": "^9.0.0" } }
JSON
sed 's/"pino": "^9.0.0"/"pino": "^9.0.0", "dayjs": "^1.11.0"/' "$work/v1/package.json" >"$work/v2/package.json"
for v in v1 v2; do
    (cd "$work/$v" && npm install --package-lock-only --no-audit --no-fund >/dev/null)
done
echo 'require("express")().get("/", (q, r) => r.send("ok")).listen(3000)' >"$work/v1/server.js"
cp "$work/v1/server.js" "$work/v2/server.js"

secret=() ; mount_ca="" ; use_ca=""
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
    secret=(--secret "id=ca,src=$NODE_EXTRA_CA_CERTS")
    mount_ca="--mount=type=secret,id=ca"
    use_ca="NODE_EXTRA_CA_CERTS=/run/secrets/ca"
fi
dockerfile() { # $1: the RUN flags for npm ci
    cat <<DF
FROM node:fixture
WORKDIR /app
COPY package*.json ./
RUN $1 $mount_ca $use_ca npm ci --no-audit --no-fund
COPY . .
CMD ["node", "server.js"]
DF
}
ctx() { # $1 dir name, $2 version, $3 RUN flags
    rm -rf "$work/$1"; mkdir -p "$work/$1"
    cp "$work/$2"/package*.json "$work/$2/server.js" "$work/$1/"
    dockerfile "$3" >"$work/$1/Dockerfile"
}
cache="--mount=type=cache,target=/root/.npm"

sk() { "$skiff" --root "$store" build "${secret[@]}" -t "bench-$1" "$work/$1"; }
# skiff with the cache mount: cold build of v1 (fills the cache), then v2.
ctx with v1 "$cache"; wall_ms sk with >/dev/null
ctx with v2 "$cache"; s_with=$(wall_ms sk with)
# skiff without it: same two builds.
ctx without v1 ""; wall_ms sk without >/dev/null
ctx without v2 ""; s_without=$(wall_ms sk without)

row() { printf '%-44s %10s\n' "$@"; }
row "rebuild after adding a dependency" "ms"
row "skiff, RUN --mount=type=cache" "$s_with"
row "skiff, no cache mount" "$s_without"
echo "ratio with/without cache mount: $(ratio "$s_with" "$s_without")"

if command -v buildah >/dev/null; then
    export CONTAINERS_STORAGE_CONF="$work/storage.conf"
    cat >"$CONTAINERS_STORAGE_CONF" <<CONF
[storage]
driver = "overlay"
runroot = "$work/buildah-run"
graphroot = "$work/buildah-graph"
CONF
    podman --root "$work/buildah-graph" --runroot "$work/buildah-run" --storage-driver overlay import "$fixtures/node.tar" localhost/node:fixture >/dev/null
    bud() {
        sed -i 's|^FROM node:fixture|FROM localhost/node:fixture|' "$work/$1/Dockerfile"
        buildah --root "$work/buildah-graph" --runroot "$work/buildah-run" --storage-driver overlay \
            bud --layers --isolation chroot --network host "${secret[@]}" -t "bench-$1" "$work/$1"
    }
    ctx bwith v1 "$cache"
    if wall_ms bud bwith >/dev/null; then
        ctx bwith v2 "$cache"; b_with=$(wall_ms bud bwith)
        row "buildah bud --layers, RUN --mount=type=cache" "$b_with"
        echo "ratio skiff/buildah (cache mount): $(ratio "$s_with" "$b_with")"
    else
        echo "buildah: cannot build here (see its error above); skipped"
    fi
fi

# build --check over the corpus (parse, plan, expand; nothing runs).
t0=$(date +%s%N); n=0
for f in "$repo"/tests/data/node-dockerfiles/*.Dockerfile; do
    "$skiff" --root "$work/check-store" build --check --all-targets -f "$f" "$work" >/dev/null
    n=$((n + 1))
done
t1=$(date +%s%N)
echo "build --check over $n Dockerfiles: $(((t1 - t0) / 1000000)) ms in all (one process each)"
