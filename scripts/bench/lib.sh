# Shared helpers for the benchmarks: paths, a release build of skiff, timing.
# Containers here stay off the default bridge network (no bridge, NAT or
# forwarding on this host's network): `--network` defaults to private.
export SKIFF_NETWORK=${SKIFF_NETWORK:-private}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fixtures=${SKIFF_FIXTURES:-$repo/.fixtures}

# Build skiff in release mode once; print its path.
skiff_release() {
    (cd "$repo" && cargo build --release --quiet) >&2
    echo "$repo/target/release/skiff"
}

# wall_ms CMD...: run CMD once, print its wall time in milliseconds; a
# failing command fails the benchmark (its output goes to stderr).
wall_ms() {
    local t0 t1 out
    t0=$(date +%s%N)
    if ! out=$("$@" 2>&1); then
        echo "bench: failed: $*" >&2
        echo "$out" | tail -n 20 >&2
        return 1
    fi
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000))
}

# peak_kb CMD...: peak RSS in kB (GNU time).
peak_kb() {
    /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -n 1
}

# ratio A B: A/B with two decimals.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "inf"; else printf "%.2f", a / b }'
}

need() {
    for c in "$@"; do
        command -v "$c" >/dev/null || { echo "bench: $c is missing (apt-get install ${c/hyperfine/hyperfine})" >&2; exit 1; }
    done
}
