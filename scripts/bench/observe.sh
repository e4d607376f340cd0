#!/bin/bash
# scripts/bench/observe.sh — the cost of looking: `skiff stats --no-stream`
# and `skiff metrics` over N running busybox containers (wall time, median
# of RUNS; peak RSS), against `podman stats --no-stream` over as many
# podman containers when podman can run them here.
#
#   scripts/bench/observe.sh                 # N=50 RUNS=10
#   N=100 SKIFF=target/release/skiff scripts/bench/observe.sh
#
# `stats --no-stream` reads every container twice, 200 ms apart, for CPU %
# (docker and podman also sample twice); `metrics` reads once (counters).
# Needs root, GNU time, the fixtures (scripts/fixtures.sh); podman optional
# (it gets its own --root/--runroot under the work directory).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

n=${N:-50}
runs=${RUNS:-10}
skiff=${SKIFF:-$repo/target/release/skiff}
die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
[ -x /usr/bin/time ] || die "GNU time is missing (apt-get install time)"
[ -f "$fixtures/busybox.tar" ] || die "missing $fixtures/busybox.tar (run scripts/fixtures.sh)"
[ -x "$skiff" ] || skiff=$(skiff_release)

work=$(mktemp -d /tmp/skiff-bench-observe.XXXXXX)
store=$work/store
S() { "$skiff" --root "$store" "$@"; }
popts=(--root "$work/podman" --runroot "$work/podman-run" --cgroup-manager cgroupfs)
if command -v runc >/dev/null; then popts+=(--runtime runc); fi
P() { podman "${popts[@]}" "$@"; }
cleanup() {
    S ps -a -q 2>/dev/null | while read -r c; do S rm -f "$c" >/dev/null 2>&1 || true; done
    if command -v podman >/dev/null; then P rm -f -a -t 0 >/dev/null 2>&1 || true; fi
    rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

# median_ms CMD...: the median wall time of RUNS runs.
median_ms() {
    local i all=()
    for i in $(seq "$runs"); do all+=("$(wall_ms "$@")"); done
    printf '%s\n' "${all[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

S import "$fixtures/busybox.tar" busybox:fixture >/dev/null
for i in $(seq "$n"); do S run -d --name "o$i" busybox:fixture sleep 100000 >/dev/null; done
[ "$(S ps -q | wc -l)" = "$n" ] || die "not all $n skiff containers run"

s_stats=$(median_ms S stats --no-stream)
s_stats_kb=$(peak_kb "$skiff" --root "$store" stats --no-stream)
s_metrics=$(median_ms S metrics)
s_metrics_kb=$(peak_kb "$skiff" --root "$store" metrics)
scrape=$(S metrics | awk '/^skiff_scrape_duration_seconds / { printf "%.1f", $2 * 1000 }')
lines=$(S metrics | grep -vc '^#')
S ps -a -q | while read -r c; do S rm -f "$c" >/dev/null; done

p_stats="-"
p_stats_kb="-"
if command -v podman >/dev/null; then
    # podman's default rlimits exceed this host's hard ones, which root cannot raise.
    ulimits=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
    P import -q "$fixtures/busybox.tar" localhost/skiff-bench-busybox:latest >/dev/null
    if P run -d "${ulimits[@]}" --name po1 localhost/skiff-bench-busybox sleep 100000 >/dev/null 2>"$work/podman.err"; then
        for i in $(seq 2 "$n"); do
            P run -d "${ulimits[@]}" --name "po$i" localhost/skiff-bench-busybox sleep 100000 >/dev/null
        done
        p_stats=$(median_ms P stats --no-stream)
        p_stats_kb=$(peak_kb podman "${popts[@]}" stats --no-stream)
    else
        echo "podman cannot run containers here ($(head -c 200 "$work/podman.err")); leaving it out" >&2
    fi
else
    echo "podman is not installed; leaving it out" >&2
fi

echo
echo "== $n running containers, median of $runs runs =="
printf '%-34s %10s %12s\n' "" "wall ms" "peak RSS kB"
printf '%-34s %10s %12s\n' "skiff stats --no-stream" "$s_stats" "$s_stats_kb"
printf '%-34s %10s %12s\n' "skiff metrics" "$s_metrics" "$s_metrics_kb"
printf '%-34s %10s %12s\n' "podman stats --no-stream" "$p_stats" "$p_stats_kb"
echo "skiff metrics: one scrape read in ${scrape} ms by its own clock; $lines samples"
if [ "$p_stats" != "-" ]; then
    echo "ratio skiff/podman stats --no-stream: wall $(ratio "$s_stats" "$p_stats"), peak RSS $(ratio "$s_stats_kb" "$p_stats_kb")"
fi
