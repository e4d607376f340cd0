#!/bin/bash
# scripts/bench/seccomp.sh — what does the default seccomp filter cost a Node
# server under load? images/node-api's server runs twice, side by side, on
# host loopback (--network host, each on a free port): once with the default
# filter, once with --security-opt seccomp=unconfined. wrk loads them in
# alternating rounds (so both see the same host noise); the script prints
# for each round requests/s and the server's CPU time per request (its
# cgroup's cpuacct, user + system, where the filter runs: far steadier than
# throughput on a shared machine), then the medians and default/unconfined.
#
#   scripts/bench/seccomp.sh      # ROUNDS=4 SECS=4 LOOP_ROUNDS=3: under a minute on a quiet host
#   ROUNDS=5 SECS=5 SKIFF=target/release/skiff scripts/bench/seccomp.sh
#
# Then a system call loop (a static C program: getppid and read(-1), which
# the filter decides by number, and personality(0xffffffff), which it
# decides by argument) in a busybox container, default vs unconfined:
# nanoseconds per call, the filter's cost with nothing else around it.
#
# Needs root, wrk (Debian package wrk), python3, gcc; traffic goes to
# 127.0.0.1 only, and every round stops by itself after SECS seconds.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
fixtures=${SKIFF_FIXTURES:-$repo/.fixtures}
skiff=${SKIFF:-$repo/target/release/skiff}
rounds=${ROUNDS:-4}
secs=${SECS:-4}
loop_rounds=${LOOP_ROUNDS:-3}
conns=${CONNS:-32}

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
for t in wrk python3 gcc; do command -v $t >/dev/null || die "$t is not installed (apt-get install $t)"; done
[ -f "$fixtures/busybox.tar" ] || die "missing $fixtures/busybox.tar (run scripts/fixtures.sh)"
[ -f "$fixtures/node.tar" ] || die "missing $fixtures/node.tar (run scripts/fixtures.sh)"
if [ ! -x "$skiff" ]; then
    (cd "$repo" && cargo build --release) || die "cannot build skiff"
fi

work=$(mktemp -d /tmp/skiff-bench-seccomp.XXXXXX)
S() { "$skiff" --root "$work/store" "$@"; }
cleanup() {
    S rm -f api-filtered api-unconfined >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() {
    python3 - "$1" <<'EOF'
import socket, sys, time
end = time.time() + 30
while time.time() < end:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}

S import "$fixtures/node.tar" node:fixture >/dev/null
mkdir -p "$work/app"
cp "$repo/images/node-api/server.js" "$repo/images/node-api/package.json" "$work/app/"
printf 'FROM node:fixture\nWORKDIR /app\nCOPY server.js package.json ./\nCMD ["node", "server.js"]\n' >"$work/app/Dockerfile"
S build -q -t node-api "$work/app" >/dev/null

pf=$(free_port)
pu=$(free_port)
while [ "$pu" = "$pf" ]; do pu=$(free_port); done
idf=$(S run -d --name api-filtered --network host -e PORT="$pf" node-api)
idu=$(S run -d --name api-unconfined --network host -e PORT="$pu" --security-opt seccomp=unconfined node-api)
wait_port "$pf" || die "the filtered service does not answer"
wait_port "$pu" || die "the unconfined service does not answer"

# cpu_ns ID: CPU time the container has used (cgroup v1 cpuacct, or v2 cpu.stat).
cpu_ns() {
    local v1=/sys/fs/cgroup/cpuacct/skiff/$1/cpuacct.usage v2=/sys/fs/cgroup/skiff/$1/cpu.stat
    if [ -r "$v1" ]; then
        cat "$v1"
    elif [ -r "$v2" ]; then
        awk '/^usage_usec/ { print $2 * 1000 }' "$v2"
    else
        die "no cpu accounting for container $1"
    fi
}

# round PORT ID: "<requests/s> <CPU microseconds per request>" of one bounded wrk round.
round() {
    local c0 c1 out
    c0=$(cpu_ns "$2")
    out=$(wrk -t1 -c"$conns" -d"${secs}s" "http://127.0.0.1:$1/")
    c1=$(cpu_ns "$2")
    echo "$out" | awk -v c=$((c1 - c0)) '
        / requests in / { n = $1 }
        /^Requests\/sec/ { r = $2 }
        END { printf "%.0f %.2f\n", r, c / 1000 / n }'
}

# Warm both (JIT, page cache), then alternate.
wrk -t1 -c"$conns" -d2s "http://127.0.0.1:$pf/" >/dev/null
wrk -t1 -c"$conns" -d2s "http://127.0.0.1:$pu/" >/dev/null
filtered=()
unconfined=()
for i in $(seq 1 "$rounds"); do
    if [ $((i % 2)) = 1 ]; then
        filtered+=("$(round "$pf" "$idf")")
        unconfined+=("$(round "$pu" "$idu")")
    else
        unconfined+=("$(round "$pu" "$idu")")
        filtered+=("$(round "$pf" "$idf")")
    fi
    echo "round $i: default filter ${filtered[-1]}, unconfined ${unconfined[-1]} (req/s, CPU us/request)"
done

python3 - "$(printf '%s,' "${filtered[@]}")" "$(printf '%s,' "${unconfined[@]}")" <<'EOF'
import statistics, sys
def rows(arg):
    return [tuple(float(x) for x in r.split()) for r in arg.split(",") if r]
f, u = rows(sys.argv[1]), rows(sys.argv[2])
rf, ru = statistics.median(r for r, _ in f), statistics.median(r for r, _ in u)
cf, cu = statistics.median(c for _, c in f), statistics.median(c for _, c in u)
print()
print("node-api under wrk on 127.0.0.1, median of %d rounds each:" % len(f))
print("                        requests/s   CPU us/request")
print("  default filter:       %10.0f   %14.2f" % (rf, cf))
print("  seccomp=unconfined:   %10.0f   %14.2f" % (ru, cu))
print("  default / unconfined: %10.3f   %14.3f" % (rf / ru, cf / cu))
EOF

# --- the system call loop ---------------------------------------------------
mkdir -p "$work/loop"
cat >"$work/loop.c" <<'EOF'
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
/* ns per call of the fastest of 15 windows of 100000 calls (noise only adds) */
static double ns(long nr, long a0)
{
	double best = 1e9;
	for (int w = 0; w < 15; w++) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (long i = 0; i < 100000; i++)
			syscall(nr, a0, 0, 0);
		clock_gettime(CLOCK_MONOTONIC, &b);
		double t = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 100000;
		if (t < best)
			best = t;
	}
	return best;
}
int main(void)
{
	printf("%.1f %.1f %.1f\n", ns(SYS_getppid, 0), ns(SYS_read, -1),
	       ns(SYS_personality, 0xffffffff));
	return 0;
}
EOF
gcc -static -O2 -o "$work/loop/loop" "$work/loop.c"
S import "$fixtures/busybox.tar" busybox:fixture >/dev/null
loop() { S run --rm -v "$work/loop:/loop:ro" "$@" busybox:fixture /loop/loop; }
lf=()
lu=()
for i in $(seq 1 "$loop_rounds"); do
    lf+=("$(loop)")
    lu+=("$(loop --security-opt seccomp=unconfined)")
done
python3 - "$(printf '%s,' "${lf[@]}")" "$(printf '%s,' "${lu[@]}")" <<'EOF'
import sys
def rows(arg):
    return [tuple(float(x) for x in r.split()) for r in arg.split(",") if r]
f, u = rows(sys.argv[1]), rows(sys.argv[2])
print()
print("system call loop in busybox, best of %d rounds (ns per call):" % len(f))
print("                        getppid   read(-1)   personality")
best = lambda rows, i: min(r[i] for r in rows)
fb = [best(f, i) for i in range(3)]
ub = [best(u, i) for i in range(3)]
print("  default filter:       %7.1f    %7.1f    %7.1f" % tuple(fb))
print("  seccomp=unconfined:   %7.1f    %7.1f    %7.1f" % tuple(ub))
print("  default / unconfined: %7.3f    %7.3f    %7.3f" % tuple(a / b for a, b in zip(fb, ub)))
EOF
