#!/bin/bash
# registry.sh — skiff pull/push of node:fixture against a local registry
# (Debian's docker-registry on a loopback port, plain http), next to
# `skopeo copy` between the same registry and an OCI layout. Each case runs
# RUNS times (default 3) into a fresh store / layout / repository; prints the
# median wall time and the largest peak RSS (GNU time) and skiff/skopeo
# ratios (lower is better for skiff).
#
#   scripts/bench/registry.sh
#   RUNS=5 SKIFF=target/release/skiff scripts/bench/registry.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need skopeo
[ -x /usr/bin/docker-registry ] || apt-get install -y -qq docker-registry >/dev/null
[ -f /usr/bin/time ] || apt-get install -y -qq time >/dev/null
runs=${RUNS:-3}
skiff=${SKIFF:-$(skiff_release)}
SKIFF="$skiff" "$repo/scripts/fixtures.sh" >/dev/null

work=$(mktemp -d /var/tmp/skiff-bench-registry.XXXXXX)
regpid=
cleanup() {
    stop_registry
    rm -rf "$work"
}
trap cleanup EXIT

# start_registry: a new, empty registry on a fresh port; sets $reg.
# (A fresh one per push run: skopeo remembers where blobs live and would
# mount them from an earlier repository instead of uploading them.)
start_registry() {
    stop_registry
    local port dir
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    dir=$(mktemp -d "$work/registry.XXXXXX")
    cat >"$dir/config.yml" <<CONF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$port
CONF
    /usr/bin/docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    regpid=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    reg=127.0.0.1:$port
}
stop_registry() {
    if [ -n "$regpid" ]; then
        kill "$regpid" 2>/dev/null || true
        wait "$regpid" 2>/dev/null || true
        regpid=
    fi
}

store=$work/store
"$skiff" --root "$store" import "$fixtures/node.tar" node:fixture >/dev/null
layout="oci:$store/oci:node:fixture"

# measure CMD...: "wall_ms peak_kb" of one run (output discarded).
measure() {
    local out
    out=$(/usr/bin/time -f '%e %M' "$@" 2>&1 >/dev/null | tail -n 1)
    awk -v e="${out% *}" -v m="${out#* }" 'BEGIN { printf "%d %d\n", e * 1000, m }'
}

# bench FRESH CMD-TEMPLATE: run RUNS times with {i} replaced by the run
# number and {reg} by the registry (a new one before each run when FRESH
# is 1); print "median_ms max_kb".
bench() {
    local i fresh=$1 tmpl=$2 times=() peak=0 r cmd
    for i in $(seq "$runs"); do
        if [ "$fresh" = 1 ]; then start_registry >&2; fi
        cmd=${tmpl//\{i\}/$i}
        cmd=${cmd//\{reg\}/$reg}
        read -r ms kb < <(measure bash -c "$cmd")
        times+=("$ms")
        [ "$kb" -gt "$peak" ] && peak=$kb
    done
    r=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "$r $peak"
}

row() { printf '%-6s %10s %10s %8s %12s %12s %8s\n' "$@"; }
echo "node:fixture ($(du -h "$fixtures/node.tar" | cut -f1) uncompressed, one $(du -h "$store/oci/blobs/sha256" | cut -f1) gzip layer), $runs runs each"
row case "skiff ms" "skopeo ms" ratio "skiff kB" "skopeo kB" ratio

# (bench runs in this shell, not a subshell, so the registries it starts
# are the ones stop_registry and the EXIT trap stop.)
bench 1 "'$skiff' --root '$store' push -q --tls-verify=false node:fixture {reg}/bench/node:{i}" >"$work/res"
read -r s_ms s_kb <"$work/res"
bench 1 "skopeo copy -q --dest-tls-verify=false '$layout' docker://{reg}/bench/node:{i}" >"$work/res"
read -r k_ms k_kb <"$work/res"
row push "$s_ms" "$k_ms" "$(ratio "$s_ms" "$k_ms")" "$s_kb" "$k_kb" "$(ratio "$s_kb" "$k_kb")"

# The image both tools pull: pushed once by skopeo.
start_registry
skopeo copy -q --dest-tls-verify=false "$layout" "docker://$reg/bench/src:1"
bench 0 "'$skiff' --root '$work/pull-{i}' pull -q --tls-verify=false {reg}/bench/src:1" >"$work/res"
read -r s_ms s_kb <"$work/res"
bench 0 "skopeo copy -q --src-tls-verify=false docker://{reg}/bench/src:1 oci:$work/layout-{i}:node" >"$work/res"
read -r k_ms k_kb <"$work/res"
row pull "$s_ms" "$k_ms" "$(ratio "$s_ms" "$k_ms")" "$s_kb" "$k_kb" "$(ratio "$s_kb" "$k_kb")"
