#!/bin/bash
# scripts/bench/compose.sh — `skiff compose up -d` of a two-service project
# (Redis with a named volume, and a client that depends on it), cold (no
# containers; images present) and again with nothing changed, next to
# podman-compose on the same file where podman can start containers here.
# Then the seed's node-api project (port 3000): `up -d --build` after an
# edit of server.js while a bounded request loop counts failed requests
# (goal 0). Everything runs inside a network namespace this script makes
# (compose projects get bridge networks; they are made there, not on the
# host).
#
#   scripts/bench/compose.sh          # RUNS=5 by default
#
# Needs root, curl, ip, nsenter; podman-compose is optional. Every loop is
# bounded; all traffic stays on loopback inside the namespace made here.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

runs=${RUNS:-5}
die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
need curl ip nsenter
[ -f "$fixtures/redis.tar" ] || die "missing $fixtures/redis.tar (run scripts/fixtures.sh)"
skiff=${SKIFF:-$(skiff_release)}

work=$(mktemp -d /tmp/skiff-bench-compose.XXXXXX)
ns=skiff-bench-compose-$$
store=$work/store
in_ns() { nsenter --net=/run/netns/$ns "$@"; }
cleanup() {
    (cd "$work/two" 2>/dev/null && in_ns "$skiff" --root "$store" compose down -v >/dev/null 2>&1) || true
    (cd "$work/seed" 2>/dev/null && in_ns "$skiff" --root "$store" compose down >/dev/null 2>&1) || true
    if command -v podman-compose >/dev/null; then
        (cd "$work/two" 2>/dev/null && in_ns podman-compose down -v >/dev/null 2>&1) || true
        podman network rm -f two_default >/dev/null 2>&1 || true
        podman rmi -f localhost/skiff-bench-busybox:latest localhost/skiff-bench-redis:latest >/dev/null 2>&1 || true
    fi
    ip netns del $ns 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

ip netns add $ns
ip -n $ns link set lo up
"$skiff" --root "$store" import "$fixtures/busybox.tar" busybox:fixture >/dev/null
"$skiff" --root "$store" import "$fixtures/redis.tar" redis:fixture >/dev/null

mkdir -p "$work/two"
cat >"$work/two/compose.yaml" <<YAML
name: bench
services:
  redis:
    image: \${REDIS_IMAGE:-redis:fixture}
    user: redis
    command: redis-server --dir /data --appendonly yes --save "" --protected-mode no
    volumes:
      - data:/data
  client:
    image: \${CLIENT_IMAGE:-busybox:fixture}
    command: ["sleep", "3600"]
    stop_signal: SIGKILL
    depends_on: [redis]
volumes:
  data:
YAML

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

measure() { # name cold-cmd unchanged-cmd down-cmd
    local cold=() same=()
    for _ in $(seq "$runs"); do
        eval "$4" >/dev/null 2>&1 || true
        cold+=("$(wall_ms bash -c "$2")")
        same+=("$(wall_ms bash -c "$3")")
    done
    eval "$4" >/dev/null 2>&1 || true
    echo "$1 $(printf '%s\n' "${cold[@]}" | median) $(printf '%s\n' "${same[@]}" | median)"
}

cd "$work/two"
results=()
sk="nsenter --net=/run/netns/$ns $skiff --root $store"
results+=("$(measure skiff "$sk compose up -d" "$sk compose up -d" "$sk compose down")")

pc_ok=
if command -v podman-compose >/dev/null && command -v podman >/dev/null; then
    podman import -q "$fixtures/busybox.tar" localhost/skiff-bench-busybox:latest >/dev/null
    podman import -q "$fixtures/redis.tar" localhost/skiff-bench-redis:latest >/dev/null
    export REDIS_IMAGE=localhost/skiff-bench-redis:latest CLIENT_IMAGE=localhost/skiff-bench-busybox:latest
    # Here crun refuses every container: setrlimit EPERM for podman's
    # default rlimits (and even for the host's own values), then "cgroups
    # in hybrid mode not supported". runc starts them with rlimits below
    # the host's hard limits, so podman runs with runc and those.
    printf '[containers]\ndefault_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n' \
        >"$work/containers.conf"
    export CONTAINERS_CONF=$work/containers.conf
    pc="nsenter --net=/run/netns/$ns podman-compose"
    if $pc up -d >"$work/pc.log" 2>&1 && [ "$(podman ps --format '{{.Names}}' | grep -cE 'redis|client')" = 2 ]; then
        pc_ok=1
        $pc down >/dev/null 2>&1 || true
        results+=("$(measure podman-compose "$pc up -d" "$pc up -d" "$pc down")")
    else
        echo "podman-compose cannot start this project here; leaving it out:" >&2
        tail -n 5 "$work/pc.log" >&2
        $pc down >/dev/null 2>&1 || true
    fi
    unset REDIS_IMAGE CLIENT_IMAGE
else
    echo "podman-compose is not installed; leaving it out" >&2
fi

echo
echo "compose up -d, median of $runs (ms): cold / nothing changed"
base_cold=$(echo "${results[0]}" | awk '{print $2}')
base_same=$(echo "${results[0]}" | awk '{print $3}')
for r in "${results[@]}"; do
    set -- $r
    echo "  $1: $2 ms (x$(ratio "$2" "$base_cold")) / $3 ms (x$(ratio "$3" "$base_same"))"
done

# The seed's project: an edit of server.js rolled out while requests run.
mkdir -p "$work/seed"
cp -r "$repo/images/node-api/." "$work/seed/"
"$skiff" --root "$store" import "$fixtures/node.tar" node:fixture >/dev/null
cat >"$work/seed/docker-compose.yml" <<'YAML'
version: '3'
services:
  app:
    build: .
    container_name: node-api
    ports:
      - "3000:3000"
    environment:
      NODE_ENV: production
    restart: always
YAML
cd "$work/seed"
in_ns "$skiff" --root "$store" compose up -d --build >/dev/null 2>&1 || die "seed project does not start"
for _ in $(seq 200); do in_ns curl -sf -o /dev/null http://127.0.0.1:3000/ && break; sleep 0.05; done
sed -i "s/service: 'node-api'/service: 'node-api', edited: true/" server.js
in_ns bash -c 'ok=0; bad=0; for _ in $(seq 3000); do
        [ -e '"$work"'/stop ] && break
        if curl -sf -m 5 -o /dev/null http://127.0.0.1:3000/; then ok=$((ok+1)); else bad=$((bad+1)); fi
    done; echo "$ok $bad" >'"$work"'/counts' &
loop=$!
t=$(wall_ms in_ns "$skiff" --root "$store" compose up -d --build)
touch "$work/stop"
wait $loop
read -r ok bad <"$work/counts"
in_ns curl -sf http://127.0.0.1:3000/ | grep -q '"edited":true' || die "the edit was not rolled out"
echo
echo "seed project, up -d --build after editing server.js: $t ms; requests during it: $ok answered, $bad failed (goal 0)"
