#!/bin/bash
# scripts/bench/network.sh — what a bridge network costs, all inside a
# network namespace this script makes (unshare -n): no packet leaves it.
#
#  1. start: `run --rm busybox:fixture true` on the default bridge network,
#     with --network none and with --network private (loopback only), and
#     `podman run --rm` with podman's bridge (netavark) and with
#     --network none, when podman can run here. RUNS runs each (default 30).
#  2. -p: requests/s and p99 latency of images/node-api (server.js on
#     node:fixture) through -p, on the container's bridge address directly,
#     and on --network host: wrk, 32 connections, DURATION seconds each
#     (default 5).
#
#     A published port on a bridge is forwarded by the kernel (DNAT);
#     the same through skiff's relay (--network private) is measured too.
#
#   scripts/bench/network.sh
#   PARTS=publish scripts/bench/network.sh       # only part 2
#   RUNS=50 DURATION=10 SKIFF=target/release/skiff scripts/bench/network.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
# lib.sh keeps containers off the default network; here it is the subject
# (and this script runs in its own network namespace).
export SKIFF_NETWORK=bridge

[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
if [ -z "${SKIFF_BENCH_NETNS:-}" ]; then
    exec unshare -n env SKIFF_BENCH_NETNS=1 bash "$0" "$@"
fi
ip link set lo up
need wrk jq
runs=${RUNS:-30}
duration=${DURATION:-5}
parts=" ${PARTS:-start publish} "
skiff=${SKIFF:-$(skiff_release)}
work=$(mktemp -d /tmp/skiff-netbench.XXXXXX)
store=$work/store
S() { "$skiff" --root "$store" "$@"; }
cleanup() {
    S rm -f api apihost apirelay >/dev/null 2>&1 || true
    S network rm bridge >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

S import "$fixtures/busybox.tar" busybox:fixture >/dev/null
S import "$fixtures/node.tar" node:fixture >/dev/null

# mean_ms CMD...: mean wall time of RUNS runs (after 3 warm-up runs).
mean_ms() {
    local i t0 t1
    for i in 1 2 3; do "$@" >/dev/null 2>&1 || { echo "bench: failed: $*" >&2; "$@" >&2; return 1; }; done
    t0=$(date +%s%N)
    for ((i = 0; i < runs; i++)); do "$@" >/dev/null 2>&1; done
    t1=$(date +%s%N)
    awk -v ns=$((t1 - t0)) -v n="$runs" 'BEGIN { printf "%.2f", ns / n / 1e6 }'
}

if [[ $parts == *" start "* ]]; then
echo "== start: run --rm busybox:fixture true, mean of $runs runs"
bridge=$(mean_ms S run --rm --network bridge busybox:fixture true)
none=$(mean_ms S run --rm --network none busybox:fixture true)
private=$(mean_ms S run --rm --network private busybox:fixture true)
echo "  skiff --network bridge:  $bridge ms"
echo "  skiff --network none:    $none ms"
echo "  skiff --network private: $private ms"
echo "  the bridge adds $(awk -v a="$bridge" -v b="$none" 'BEGIN { printf "%.2f", a - b }') ms (x$(ratio "$bridge" "$none") of none)"
if command -v podman >/dev/null; then
    ulimits="--ulimit nofile=$(ulimit -Sn):$(ulimit -Hn) --ulimit nproc=$(ulimit -Su):$(ulimit -Hu)"
    podman import -q "$fixtures/busybox.tar" localhost/skiff-bench-busybox:latest >/dev/null
    # shellcheck disable=SC2086 # the options are word-split on purpose
    if podman run --rm $ulimits localhost/skiff-bench-busybox true >/dev/null 2>&1; then
        pb=$(mean_ms podman run --rm $ulimits localhost/skiff-bench-busybox true)
        pn=$(mean_ms podman run --rm $ulimits --network none localhost/skiff-bench-busybox true)
        echo "  podman (netavark bridge): $pb ms (skiff bridge is x$(ratio "$bridge" "$pb") of it)"
        echo "  podman --network none:    $pn ms (its bridge adds $(awk -v a="$pb" -v b="$pn" 'BEGIN { printf "%.2f", a - b }') ms)"
    else
        echo "  podman cannot run containers here; left out"
    fi
    podman rmi -f localhost/skiff-bench-busybox:latest >/dev/null 2>&1 || true
else
    echo "  podman is not installed; left out"
fi

fi

[[ $parts == *" publish "* ]] || exit 0
echo "== -p: images/node-api, wrk -c 32 -d ${duration}s"
app=(-v "$repo/images/node-api:/app:ro" -w /app node:fixture node server.js)
S run -d --name api -p 3000:3000 "${app[@]}" >/dev/null
S run -d --name apihost --network host -e PORT=3001 "${app[@]}" >/dev/null
S run -d --name apirelay --network private -p 3002:3000 "${app[@]}" >/dev/null
addr=$(S network inspect bridge | jq -r '.[0].Containers[] | .IPv4Address' | cut -d/ -f1)
wait_up() {
    local i
    for i in $(seq 100); do
        (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench: nothing answers on $1:$2" >&2
    return 1
}
wait_up 127.0.0.1 3000
wait_up "$addr" 3000
wait_up 127.0.0.1 3001
wait_up 127.0.0.1 3002
# load URL: "requests/s p99"
load() {
    local out
    out=$(wrk -t 2 -c 32 -d "${duration}s" --latency "$1")
    echo "$(awk '/Requests\/sec/ { print $2 }' <<<"$out") $(awk '$1 == "99%" { print $2 }' <<<"$out")"
}
read -r rp lp <<<"$(load http://127.0.0.1:3000/)"
read -r rd ld <<<"$(load "http://$addr:3000/")"
read -r rh lh <<<"$(load http://127.0.0.1:3001/)"
read -r rr lr <<<"$(load http://127.0.0.1:3002/)"
echo "  through -p:         $rp req/s, p99 $lp"
echo "  bridge address:     $rd req/s, p99 $ld"
echo "  --network host:     $rh req/s, p99 $lh"
echo "  -p, relay (private): $rr req/s, p99 $lr"
echo "  -p / direct: x$(ratio "$rp" "$rd"); -p / host: x$(ratio "$rp" "$rh"); relay / direct: x$(ratio "$rr" "$rd")"
echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
