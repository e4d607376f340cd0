#!/bin/bash
# scripts/bench/health-soak.sh — 10,000 health probes: do they grow the
# supervisor or leak processes, descriptors or cgroups?
#
# CONTAINERS busybox containers run `--health-cmd 'echo >> /tmp/n'` with
# `--health-interval 1ms` (each probe is a `skiff __probe` joining the
# container, as exec does) until PROBES probes ran in all (counted from
# the bytes of /tmp/n inside each), or LIMIT seconds passed. Beside them
# one container without a check is the baseline, and one probed every 3 s
# ("paced": docker's interval is 30 s) shows the supervisor between probes.
# Before (after the first probes) and after, for each supervisor: RSS
# (VmRSS) and its anonymous part (RssAnon: heap and stacks; the rest is
# skiff's code, file pages shared with every skiff process, dropped by the
# supervisor's idle trim after 2 s without events, which a 1 ms interval
# never gives it), open descriptors, its child processes, the processes
# in its container's cgroup and the cgroups under it; the lowest of a few
# samples. A probe in flight holds one pipe, one child and up to two
# processes in the cgroup, so "after" may exceed "before" by that much;
# a leak grows with the probe count. Reports RSS against the baseline's
# (goal: within 10%), and the counts before/after.
#
#   scripts/bench/health-soak.sh            # PROBES=10000 CONTAINERS=4 LIMIT=55
#   SKIFF=target/debug/skiff scripts/bench/health-soak.sh
#
# Needs root and the fixtures (scripts/fixtures.sh). Bounded: LIMIT seconds.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=scripts/bench/lib.sh
. "$repo/scripts/bench/lib.sh"
probes=${PROBES:-10000}
containers=${CONTAINERS:-4}
limit=${LIMIT:-55}

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
[ -f "$fixtures/busybox.tar" ] || die "missing $fixtures/busybox.tar (run scripts/fixtures.sh)"
skiff=${SKIFF:-$(skiff_release)}

work=$(mktemp -d /tmp/skiff-bench-soak.XXXXXX)
store=$work/store
S() { "$skiff" --root "$store" "$@"; }
names=(quiet paced)
for i in $(seq "$containers"); do names+=("soak$i"); done
cleanup() {
    for n in "${names[@]}"; do S rm -f "$n" >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT

S import "$fixtures/busybox.tar" busybox:fixture >/dev/null
S run -d --name quiet busybox:fixture sleep 3600 >/dev/null
S run -d --name paced --health-cmd 'true' --health-interval 3s busybox:fixture sleep 3600 >/dev/null
for n in "${names[@]:2}"; do
    S run -d --name "$n" --health-cmd 'echo >> /tmp/n' --health-interval 1ms \
        --health-timeout 10s busybox:fixture sleep 3600 >/dev/null
done

field() { # NAME JSONPATH (python3 -c, no jq here)
    S inspect "$1" | python3 -c "import json,sys; v=json.load(sys.stdin); v=v[0] if isinstance(v,list) else v; print($2)"
}
count_probes() {
    local total=0 n c
    for n in "${names[@]:2}"; do
        c=$(S exec "$n" sh -c 'wc -c < /tmp/n 2>/dev/null || echo 0')
        total=$((total + c))
    done
    echo "$total"
}
cgroup_dir() { # container pid -> its cgroup v2 directory (or the v1 pids one)
    local line
    line=$(grep -E '^0::|:pids:' "/proc/$1/cgroup" | head -n 1)
    local rel=${line##*:}
    if [ -d "/sys/fs/cgroup$rel" ]; then echo "/sys/fs/cgroup$rel"; else echo "/sys/fs/cgroup/pids$rel"; fi
}
# sample NAME: "rss_kb anon_kb fds children procs cgroups", the lowest of 10 reads
sample() {
    local sup pid cg best="" i rss fds kids procs cgs
    sup=$(field "$1" 'v["State"]["SupervisorPid"]')
    pid=$(field "$1" 'v["State"]["Pid"]')
    cg=$(cgroup_dir "$pid")
    for i in $(seq 10); do
        rss=$(awk '/^VmRSS/ { r = $2 } /^RssAnon/ { a = $2 } END { print r, a }' "/proc/$sup/status")
        fds=$(find "/proc/$sup/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
        kids=$(pgrep -c -P "$sup" || true)
        procs=$(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | wc -l)
        cgs=$(find "$cg" -type d | wc -l)
        best=$(awk -v b="$best" -v r="$rss $fds $kids $procs $cgs" 'BEGIN {
            if (b == "") { print r; exit }
            split(b, x); split(r, y); s = "";
            for (k = 1; k <= 6; k++) s = s (k > 1 ? " " : "") (y[k] < x[k] ? y[k] : x[k]);
            print s }')
        sleep 0.05
    done
    echo "$best"
}

sleep 1
declare -A before
for n in "${names[@]}"; do before[$n]=$(sample "$n"); done
t0=$(date +%s)
done_probes=0
while :; do
    done_probes=$(count_probes)
    [ "$done_probes" -ge "$probes" ] && break
    [ $(($(date +%s) - t0)) -ge "$limit" ] && break
    sleep 2
done
secs=$(($(date +%s) - t0))
load=$(cut -d' ' -f1 /proc/loadavg)
echo "probes: $done_probes in ${secs}s over $containers containers ($(ratio "$done_probes" "$secs")/s), load average $load"
[ "$done_probes" -ge "$probes" ] || echo "WARNING: fewer than $probes probes within ${limit}s"
# Stop probing before the last samples (so no probe is in flight).
printf '%-8s %-34s %-34s\n' container "before: rss anon fds kids procs cgroups" "after"
fail=0
quiet_after=$(sample quiet)
for n in "${names[@]}"; do
    if [ "$n" = quiet ]; then after=$quiet_after; else after=$(sample "$n"); fi
    printf '%-8s %-34s %-34s\n' "$n" "${before[$n]}" "$after"
    read -r _ _ f1 k1 p1 c1 <<<"${before[$n]}"
    read -r r2 a2 f2 k2 p2 c2 <<<"$after"
    if [ "$f2" -gt $((f1 + 1)) ] || [ "$k2" -gt $((k1 + 1)) ] || [ "$p2" -gt $((p1 + 2)) ] || [ "$c1" != "$c2" ]; then
        echo "  LEAK? $n: more descriptors, processes or cgroups than one probe in flight explains"
        fail=1
    fi
    if [ "$n" != quiet ]; then
        read -r q qa _ <<<"$quiet_after"
        echo "  $n ÷ quiet: RSS $(ratio "$r2" "$q") ($r2 vs $q kB), anonymous $(ratio "$a2" "$qa") ($a2 vs $qa kB)"
    fi
done
exit "$fail"
