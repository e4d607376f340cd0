#!/bin/bash
# cp.sh — `skiff cp` of a 1000-file, 50 MB tree into a stopped container and
# back out, next to `podman cp` with a created (never started) container,
# and `tar | tar` between two host directories as the floor, in the same
# run. Bounded: a few copies of 50 MB. SKIFF=path uses that binary instead
# of a release build.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need podman tar
skiff=${SKIFF:-$(skiff_release)}
work=$(mktemp -d /var/tmp/skiff-bench-cp.XXXXXX)
P=(podman --root "$work/podman" --runroot "$work/podman-run")
cleanup() {
    "${P[@]}" rm -f pc >/dev/null 2>&1 || true
    "$skiff" --root "$work/skiff" rm -f sc >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

src=$work/src/tree
for d in $(seq 1 50); do
    mkdir -p "$src/d$d"
    for f in $(seq 1 20); do head -c 51200 /dev/urandom > "$src/d$d/f$f"; done
done
"$skiff" --root "$work/skiff" import "$fixtures/busybox.tar" bb:1 >/dev/null
"$skiff" --root "$work/skiff" run -d --name sc bb:1 sleep 600 >/dev/null
"$skiff" --root "$work/skiff" stop -t 0 sc >/dev/null
"${P[@]}" import "$fixtures/busybox.tar" localhost/bb:1 >/dev/null 2>&1
"${P[@]}" create --name pc localhost/bb:1 sleep 600 >/dev/null
sync

s_in=$(wall_ms "$skiff" --root "$work/skiff" cp "$src" sc:/tree)
p_in=$(wall_ms "${P[@]}" cp "$src" pc:/tree)
mkdir -p "$work/tar-in"
t_in=$(wall_ms sh -c "tar -C '$work/src' -cf - tree | tar -C '$work/tar-in' -xf -")
s_out=$(wall_ms "$skiff" --root "$work/skiff" cp sc:/tree "$work/s-out")
p_out=$(wall_ms "${P[@]}" cp pc:/tree "$work/p-out")
cmp -s "$src/d7/f3" "$work/s-out/d7/f3" || { echo "bench: skiff copied wrong bytes" >&2; exit 1; }
printf '%-34s %8s %8s %8s\n' "50 MB, 1000 files (ms)" skiff podman "tar|tar"
printf '%-34s %8s %8s %8s\n' "host -> stopped container" "$s_in" "$p_in" "$t_in"
printf '%-34s %8s %8s %8s\n' "stopped container -> host" "$s_out" "$p_out" "-"
echo "ratios: in skiff/podman $(ratio "$s_in" "$p_in"), skiff/tar $(ratio "$s_in" "$t_in"); out skiff/podman $(ratio "$s_out" "$p_out")"
