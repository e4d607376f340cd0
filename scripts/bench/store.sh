#!/bin/bash
# store.sh — `skiff import` of the Node base and `skiff images` over 200 tags,
# next to `skopeo copy` of the same rootfs into an OCI layout and
# `podman import`, in the same run: wall time and peak RSS, with ratios.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need skopeo podman
[ -f /usr/bin/time ] || apt-get install -y -qq time >/dev/null
skiff=$(skiff_release)
SKIFF="$skiff" "$repo/scripts/fixtures.sh" >/dev/null
work=$(mktemp -d /var/tmp/skiff-bench-store.XXXXXX)
trap 'rm -rf "$work"' EXIT
tar=$fixtures/node.tar

measure() { # name cmd...: prints "ms kB"
    local t0 t1 kb
    t0=$(date +%s%N)
    kb=$(/usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -n 1)
    t1=$(date +%s%N)
    echo "$(((t1 - t0) / 1000000)) $kb"
}
sync
read -r s_ms s_kb < <(measure "$skiff" --root "$work/skiff" import "$tar" node:fixture)
# skopeo cannot read a bare rootfs tar: give it the skiff-made layout as the
# source (same layer), copying into a fresh OCI layout.
read -r k_ms k_kb < <(measure skopeo copy --quiet "oci:$work/skiff/oci:node:fixture" "oci:$work/skopeo:node:fixture")
read -r p_ms p_kb < <(measure podman --root "$work/podman" --runroot "$work/podman-run" import "$tar" localhost/node:fixture)
printf '%-28s %8s %10s\n' "import of the node base" "ms" "peak kB"
printf '%-28s %8s %10s\n' skiff "$s_ms" "$s_kb" "skopeo copy (oci → oci)" "$k_ms" "$k_kb" "podman import" "$p_ms" "$p_kb"
echo "ratios: skiff/skopeo time $(ratio "$s_ms" "$k_ms"), skiff/podman time $(ratio "$s_ms" "$p_ms"); memory $(ratio "$s_kb" "$k_kb") and $(ratio "$s_kb" "$p_kb")"

for i in $(seq 1 200); do "$skiff" --root "$work/skiff" tag node:fixture "bench/app$((i % 20)):v$i"; done
read -r i_ms i_kb < <(measure "$skiff" --root "$work/skiff" images)
for i in $(seq 1 200); do echo "localhost/bench/app$((i % 20)):v$i"; done | xargs podman --root "$work/podman" --runroot "$work/podman-run" tag localhost/node:fixture
read -r pi_ms pi_kb < <(measure podman --root "$work/podman" --runroot "$work/podman-run" images)
echo "images over 200 tags: skiff ${i_ms} ms / ${i_kb} kB, podman ${pi_ms} ms / ${pi_kb} kB, time ratio $(ratio "$i_ms" "$pi_ms")"
