#!/bin/bash
# scripts/bench/oci.sh — skiff as an OCI runtime: `create` + `start` +
# `delete --force` of one busybox bundle (the fixture tar, `runc spec`'s
# config.json with args [true], no terminal), skiff-runc next to runc and
# crun with the same config.json, in one hyperfine run.
#
#   scripts/bench/oci.sh            # RUNS=50 by default (well under a minute)
#   RUNS=20 SKIFF=target/debug/skiff scripts/bench/oci.sh
#
# Needs root, hyperfine, runc, crun, jq. On a hybrid cgroup host it re-runs
# itself in a private mount namespace without the v2 mount (crun 1.8
# refuses hybrid; see scripts/bench/run.sh); all three see v1 there.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
fixtures=${SKIFF_FIXTURES:-$repo/.fixtures}
skiff=${SKIFF:-$repo/target/release/skiff}
runs=${RUNS:-50}

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
for t in hyperfine runc crun jq; do command -v $t >/dev/null || die "$t is not installed"; done
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

work=$(mktemp -d /tmp/skiff-bench-oci.XXXXXX)
id=skiff-bench-oci-$$
cleanup() {
    for r in "$work/bin/skiff-runc" runc crun; do
        "$r" --root "$work/state-$(basename "$r")" delete -f "$id" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/bin" "$work/bundle/rootfs"
cp "$skiff" "$work/bin/skiff"
ln -s skiff "$work/bin/skiff-runc"
tar -xf "$fixtures/busybox.tar" -C "$work/bundle/rootfs"
(cd "$work/bundle" && runc spec)
jq '.process.args = ["true"] | .process.terminal = false' "$work/bundle/config.json" >"$work/config.json"
mv "$work/config.json" "$work/bundle/config.json"

cmds=()
names=()
for r in "$work/bin/skiff-runc" runc crun; do
    n=$(basename "$r")
    st=$work/state-$n
    c="$r --root $st create --bundle $work/bundle $id </dev/null >/dev/null 2>&1 && $r --root $st start $id && $r --root $st delete -f $id"
    bash -c "$c" || die "$n cannot create+start+delete the bundle here"
    cmds+=("$c")
    names+=("$n")
done

args=(--warmup 3 --runs "$runs" --export-json "$work/result.json")
for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
hyperfine "${args[@]}"
jq -r '.results as $r | ($r[] | select(.command=="skiff-runc") | .mean) as $s |
    $r[] | "\(.command): \(.mean*1000 | .*100|round/100) ms, skiff-runc/\(.command) = \($s/.mean | .*100|round/100)"' \
    "$work/result.json"
