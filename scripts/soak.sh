#!/bin/bash
# soak.sh [RESTARTS] — bounded resources of a supervisor, with a release
# build (not run in CI: a few minutes, 1 GB through a pipe).
#   (a) a container writes 1 GB to stdout with --log-opt max-size=10m
#       --log-opt max-file=3: the log files never hold more than
#       max-size × max-file (+ one line); prints the peak and the
#       supervisor's RSS.
#   (b) a container in a crash loop (--restart always, exit 1) restarted
#       RESTARTS times (default 1000): host mounts, skiff cgroups, the
#       supervisor's open fds and RSS before, halfway and after must not
#       grow. The backoff is shortened with SKIFF_RESTART_BACKOFF_MS (a
#       soak-test knob of the supervisor, see src/supervisor/restart.rs).
# Prints a table; exits 1 if a bound was broken or something grew.
#   SKIFF                  the binary (default: a release build)
#   SKIFF_SOAK_BACKOFF_MS  first backoff delay for (b), default 0.05 (cap 600 ×)
#   SKIFF_SOAK_RSS_SLACK   kB of RSS growth tolerated in (b), default 256
set -euo pipefail
# Containers here stay off the default bridge network (no bridge, NAT or
# forwarding on this host's network): `--network` defaults to private.
export SKIFF_NETWORK=${SKIFF_NETWORK:-private}
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/bench/lib.sh"
restarts=${1:-1000}
skiff=${SKIFF:-$(skiff_release)}
SKIFF="$skiff" "$repo/scripts/fixtures.sh" >/dev/null
backoff=${SKIFF_SOAK_BACKOFF_MS:-0.05}
rss_slack=${SKIFF_SOAK_RSS_SLACK:-256}

root=$(mktemp -d /var/tmp/skiff-soak.XXXXXX)
cleanup() {
    "$skiff" --root "$root" rm -f $("$skiff" --root "$root" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
    rm -rf "$root"
}
trap cleanup EXIT
sk() { "$skiff" --root "$root" "$@"; }
failed=0
fail() { echo "soak: FAIL: $*" >&2; failed=1; }

sk import "$fixtures/busybox.tar" busybox:fixture >/dev/null

# state ID FIELD: a field of containers/<id>/state.json (jq path).
state() { jq -r "$2 // empty" "$root/containers/$1/state.json" 2>/dev/null || true; }
sup_pid() { state "$1" .supervisor.pid; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
alive() { [ -n "$1" ] && [ -d "/proc/$1" ]; }
# log_bytes DIR: the total size of the container's log files (a file may
# vanish under find while it rotates: not an error).
log_bytes() {
    { find "$1" -maxdepth 1 -name 'container.log*' -printf '%s\n' 2>/dev/null || true; } |
        awk '{ s += $1 } END { print s + 0 }'
}

# ---------------------------------------------------------------- (a) logs
max_size=$((10 * 1024 * 1024)) max_file=3
line=$(printf '0123456789abcdef%.0s' 1 2 3 4) # 64 characters + newline
id=$(sk run -d --log-opt max-size=10m --log-opt max-file=3 busybox:fixture \
    sh -c "yes $line | head -c 1000000000")
sup=$(sup_pid "$id")
dir=$root/containers/$id
peak_log=0 peak_rss=0 hwm=0 samples=0 t0=$SECONDS
while alive "$sup"; do
    total=$(log_bytes "$dir")
    [ "$total" -gt "$peak_log" ] && peak_log=$total
    r=$(rss_kb "$sup") h=$(hwm_kb "$sup")
    [ "${r:-0}" -gt "$peak_rss" ] && peak_rss=$r
    [ "${h:-0}" -gt "$hwm" ] && hwm=$h
    samples=$((samples + 1))
    sleep 0.1
done
secs=$((SECONDS - t0))
exit_code=$(state "$id" .exit_code)
files=$(find "$dir" -maxdepth 1 -name 'container.log*' | wc -l)
final=$(log_bytes "$dir")
[ "$final" -gt "$peak_log" ] && peak_log=$final
longest=$(awk '{ if (length($0) + 1 > m) m = length($0) + 1 } END { print m + 0 }' "$dir/container.log")
bound=$((max_size * max_file + longest))
# Everything went through: the last entry is the end of the 1 GB.
entries=$(cat "$dir"/container.log* | wc -l)
echo
echo "(a) 1 GB to stdout, max-size=10m max-file=3 (${secs}s, $samples samples)"
printf '  %-34s %s\n' "container exit code" "$exit_code" \
    "log files at the end" "$files" \
    "log bytes at the end" "$final" \
    "peak log bytes (sampled)" "$peak_log" \
    "bound (10 MiB × 3 + one line)" "$bound" \
    "entries kept" "$entries" \
    "supervisor peak RSS sampled (kB)" "$peak_rss" \
    "supervisor VmHWM (kB)" "$hwm"
[ "$exit_code" = 0 ] || fail "(a) the writer exited with ${exit_code:-?}"
[ "$files" -le "$max_file" ] || fail "(a) $files log files, max-file is $max_file"
[ "$peak_log" -le "$bound" ] || fail "(a) the logs reached $peak_log bytes, bound $bound"
sk rm -f "$id" >/dev/null

# ------------------------------------------------------- (b) crash loop
mounts() { wc -l </proc/self/mountinfo; }
cgroups() { { find /sys/fs/cgroup/*/skiff /sys/fs/cgroup/skiff -mindepth 1 -type d 2>/dev/null || true; } | wc -l; }
fds() { { ls "/proc/$1/fd" 2>/dev/null || true; } | wc -l; }
# sample PID: "mounts cgroups fds rss", each the least of 10 readings over
# a second, so a container that happens to be running (its cgroup exists)
# at one instant does not count as growth.
sample() {
    local m=999999 c=999999 f=999999 r=999999999 v
    for _ in $(seq 10); do
        v=$(mounts); [ "$v" -lt "$m" ] && m=$v
        v=$(cgroups); [ "$v" -lt "$c" ] && c=$v
        v=$(fds "$1"); [ "$v" -lt "$f" ] && f=$v
        v=$(rss_kb "$1"); [ "$v" -lt "$r" ] && r=$v
        sleep 0.1
    done
    echo "$m $c $f $r"
}
# wait_restarts ID N: until RESTARTS reaches N.
wait_restarts() {
    local n
    while :; do
        n=$(state "$1" .restart_count)
        [ "${n:-0}" -ge "$2" ] && return
        alive "$sup" || { fail "(b) the supervisor died after ${n:-0} restarts"; return 1; }
        sleep 0.2
    done
}
t0=$SECONDS
id=$(SKIFF_RESTART_BACKOFF_MS=$backoff sk run -d --restart always busybox:fixture sh -c 'exit 1')
sup=$(sup_pid "$id")
wait_restarts "$id" 10
before=$(sample "$sup") before_n=$(state "$id" .restart_count)
wait_restarts "$id" $((restarts / 2))
half=$(sample "$sup") half_n=$(state "$id" .restart_count)
wait_restarts "$id" "$restarts"
after=$(sample "$sup") after_n=$(state "$id" .restart_count)
secs=$((SECONDS - t0))
sk rm -f "$id" >/dev/null
left=$(cgroups)

read -r m0 c0 f0 r0 <<<"$before"
read -r m1 c1 f1 r1 <<<"$half"
read -r m2 c2 f2 r2 <<<"$after"
echo
echo "(b) crash loop, --restart always, backoff from ${backoff} ms (${secs}s)"
printf '  %-24s %10s %10s %10s\n' "" "before" "half" "after"
printf '  %-24s %10s %10s %10s\n' "restarts" "$before_n" "$half_n" "$after_n" \
    "host mounts" "$m0" "$m1" "$m2" \
    "skiff cgroups" "$c0" "$c1" "$c2" \
    "supervisor open fds" "$f0" "$f1" "$f2" \
    "supervisor RSS (kB)" "$r0" "$r1" "$r2"
echo "  skiff cgroups after rm -f: $left"
[ "$m2" -le "$m0" ] && [ "$m1" -le "$m0" ] || fail "(b) host mounts grew: $m0 → $m1 → $m2"
[ "$c2" -le "$c0" ] && [ "$c1" -le "$c0" ] || fail "(b) skiff cgroups grew: $c0 → $c1 → $c2"
[ "$f2" -le "$f0" ] && [ "$f1" -le "$f0" ] || fail "(b) supervisor fds grew: $f0 → $f1 → $f2"
[ "$r2" -le $((r1 + rss_slack)) ] || fail "(b) supervisor RSS grew from $r1 kB at half to $r2 kB"
[ "$r2" -le $((r0 + 4 * rss_slack)) ] || fail "(b) supervisor RSS grew from $r0 kB to $r2 kB"

echo
if [ $failed = 0 ]; then echo "soak: ok"; else echo "soak: FAILED"; fi
exit $failed
