#!/bin/bash
# scripts/bench/run.sh — how fast does `skiff run --rm busybox:fixture true`
# start and end a container, next to crun (same rootfs as an OCI bundle) and
# podman (the same tarball imported), in one hyperfine run; plus peak RSS.
#
#   scripts/bench/run.sh            # RUNS=100 by default
#   RUNS=30 SKIFF=target/release/skiff scripts/bench/run.sh
#
# Needs root, hyperfine, crun, jq; podman is optional. On a hybrid cgroup
# host (v1 controllers plus a v2 mount that holds some), crun 1.8 refuses to
# run at all, so the whole benchmark re-runs itself in a private mount
# namespace where the v2 mount is unmounted: crun and skiff both see (and
# use) the v1 controllers there. podman keeps the host's view.
set -euo pipefail
# Containers here stay off the default bridge network (no bridge, NAT or
# forwarding on this host's network): `--network` defaults to private.
export SKIFF_NETWORK=${SKIFF_NETWORK:-private}

repo=$(cd "$(dirname "$0")/../.." && pwd)
fixtures=${SKIFF_FIXTURES:-$repo/.fixtures}
skiff=${SKIFF:-$repo/target/release/skiff}
runs=${RUNS:-100}

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
for t in hyperfine crun jq; do command -v $t >/dev/null || die "$t is not installed"; done
[ -f "$fixtures/busybox.tar" ] || die "missing $fixtures/busybox.tar (run scripts/fixtures.sh)"
if [ ! -x "$skiff" ]; then
    (cd "$repo" && cargo build --release) || die "cannot build skiff"
fi

unified=/sys/fs/cgroup/unified
if [ -z "${SKIFF_BENCH_NS:-}" ] && [ "$(stat -f -c %T /sys/fs/cgroup)" = tmpfs ] &&
    grep -q . $unified/cgroup.controllers 2>/dev/null; then
    echo "hybrid cgroups: running in a mount namespace without $unified (crun 1.8 refuses hybrid)" >&2
    exec unshare -m --propagation private env SKIFF_BENCH_NS=1 bash -c "umount $unified && exec \"\$0\" \"\$@\"" "$0" "$@"
fi

work=$(mktemp -d /tmp/skiff-bench.XXXXXX)
cleanup() {
    crun delete -f skiff-bench >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# skiff: a store with the fixture imported.
store=$work/store
"$skiff" --root "$store" import "$fixtures/busybox.tar" busybox:fixture >/dev/null
"$skiff" --root "$store" run --rm busybox:fixture true || die "skiff run does not work"

# crun: a bundle of the same rootfs, `crun spec` with args [true], no terminal.
bundle=$work/bundle
mkdir -p "$bundle/rootfs"
tar -xf "$fixtures/busybox.tar" -C "$bundle/rootfs"
(cd "$bundle" && crun spec)
jq '.process.args = ["true"] | .process.terminal = false' "$bundle/config.json" >"$bundle/config.json.new"
mv "$bundle/config.json.new" "$bundle/config.json"
crun run --bundle "$bundle" skiff-bench || die "crun run does not work here"

cmds=("$skiff --root $store run --rm busybox:fixture true" "crun run --bundle $bundle skiff-bench")
names=(skiff crun)
if command -v podman >/dev/null; then
    # podman's default rlimits (nofile, nproc 1048576) exceed this host's
    # hard limits, which root cannot raise here: ask for the current ones.
    ulimits="--ulimit nofile=$(ulimit -Sn):$(ulimit -Hn) --ulimit nproc=$(ulimit -Su):$(ulimit -Hu)"
    podman import -q "$fixtures/busybox.tar" localhost/skiff-bench-busybox:latest >/dev/null
    if podman run --rm $ulimits --network host localhost/skiff-bench-busybox true; then
        cmds+=("podman run --rm $ulimits --network host localhost/skiff-bench-busybox true" "podman run --rm $ulimits localhost/skiff-bench-busybox true")
        names+=("podman --network host" "podman")
    else
        echo "podman cannot run containers here; leaving it out" >&2
    fi
else
    echo "podman is not installed; leaving it out" >&2
fi

hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/hyperfine.json" "${cmds[@]}"

echo
echo "mean time relative to skiff (higher = slower than skiff):"
skiff_mean=$(jq '.results[0].mean' "$work/hyperfine.json")
for i in "${!names[@]}"; do
    jq -r --argjson i "$i" --argjson base "$skiff_mean" --arg name "${names[$i]}" \
        '.results[$i] | "  \($name): \(.mean * 1000 | . * 100 | round / 100) ms  (x\(.mean / $base | . * 100 | round / 100))"' \
        "$work/hyperfine.json"
done

echo
echo "peak RSS (/usr/bin/time -v, maximum resident set size):"
for i in "${!names[@]}"; do
    # shellcheck disable=SC2086 # the command lines are word-split on purpose
    kb=$(/usr/bin/time -v ${cmds[$i]} 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ {print $2}')
    echo "  ${names[$i]}: ${kb} KiB"
done

if command -v podman >/dev/null; then
    podman rmi -f localhost/skiff-bench-busybox:latest >/dev/null 2>&1 || true
fi
