#!/bin/bash
# scripts/bench/supervisor.sh — detached containers under load of failure:
#   1. time from `kill -9` of the node process to the service answering
#      again on its published port: skiff `run -d --restart always -p` vs
#      podman's (same rootfs imported, same server), each killed after it
#      has run ≥ 10 s (both restart such a container at once);
#   2. memory of skiff's supervisor next to podman's conmon (VmRSS, and the
#      private part: RssAnon): once started, right after 500 requests through
#      the port, and 3 s later (an idle supervisor drops the code pages it
#      faulted in, see src/supervisor/memory.rs);
#   3. wall time of `skiff ps` with 50 containers running.
#
#   scripts/bench/supervisor.sh             # KILLS=3 by default
#   KILLS=5 SKIFF=target/release/skiff scripts/bench/supervisor.sh
#
# Needs root, python3, the fixtures (scripts/fixtures.sh); podman optional.
set -euo pipefail
# Containers here stay off the default bridge network (no bridge, NAT or
# forwarding on this host's network): `--network` defaults to private.
export SKIFF_NETWORK=${SKIFF_NETWORK:-private}

repo=$(cd "$(dirname "$0")/../.." && pwd)
fixtures=${SKIFF_FIXTURES:-$repo/.fixtures}
skiff=${SKIFF:-$repo/target/release/skiff}
kills=${KILLS:-3}

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
command -v python3 >/dev/null || die "python3 is not installed"
[ -f "$fixtures/node.tar" ] || die "missing $fixtures/node.tar (run scripts/fixtures.sh)"
if [ ! -x "$skiff" ]; then
    (cd "$repo" && cargo build --release) || die "cannot build skiff"
fi

work=$(mktemp -d /tmp/skiff-bench-sup.XXXXXX)
store=$work/store
S() { "$skiff" --root "$store" "$@"; }
cleanup() {
    S ps -a -q 2>/dev/null | while read -r c; do S rm -f "$c" >/dev/null 2>&1 || true; done
    if command -v podman >/dev/null; then podman rm -f skiff-bench-node >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$work/app"
cat >"$work/app/server.js" <<'EOF'
require('http').createServer((q, s) => s.end('pid ' + process.pid + '\n')).listen(3000, () => console.log('listening'));
EOF

# wait_http PORT: until the service answers (30 s at most).
wait_http() {
    python3 - "$1" <<'EOF'
import socket, sys, time
port = int(sys.argv[1]); end = time.time() + 30
while time.time() < end:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        if s.recv(100).startswith(b"HTTP/1."):
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.01)
sys.exit(1)
EOF
}

# kill_and_time PORT PID: kill -9 PID, print seconds until an HTTP answer.
kill_and_time() {
    python3 - "$1" "$2" <<'EOF'
import os, signal, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
t0 = time.monotonic()
os.kill(pid, signal.SIGKILL)
while time.monotonic() - t0 < 30:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.settimeout(5)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = s.recv(1000)
        s.close()
        if data.startswith(b"HTTP/1.") and b"pid" in data:
            print("%.3f" % (time.monotonic() - t0)); sys.exit(0)
    except OSError:
        pass
    time.sleep(0.002)
print("timeout"); sys.exit(1)
EOF
}

# hammer PORT N: N requests.
hammer() {
    python3 - "$1" "$2" <<'EOF'
import socket, sys
for _ in range(int(sys.argv[2])):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    while s.recv(4096):
        pass
    s.close()
EOF
}

rss() { awk '/^VmRSS/{r=$2} /^RssAnon/{a=$2} END{printf "%d kB (anon %d kB)", r, a}' "/proc/$1/status"; }
mean() { python3 -c 'import sys; v=[float(x) for x in sys.argv[1:]]; print("%.3f s (min %.3f, max %.3f, n=%d)" % (sum(v)/len(v), min(v), max(v), len(v)))' "$@"; }

S import "$fixtures/node.tar" node:fixture >/dev/null
S import "$fixtures/busybox.tar" busybox:fixture >/dev/null

# --- 1 and 2: skiff -------------------------------------------------------
port=$(free_port)
id=$(S run -d --name api --restart always -p "127.0.0.1:$port:3000" -m 512m \
    -v "$work/app:/app:ro" node:fixture node /app/server.js)
wait_http "$port" || die "skiff: the service does not answer"
state() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]] if sys.argv[2] != "sup" else json.load(open(sys.argv[1]))["supervisor"]["pid"])' "$store/containers/$id/state.json" "$1"; }
sup=$(state sup)
sup_idle=$(rss "$sup")
skiff_times=()
for _ in $(seq "$kills"); do
    sleep 10.5
    skiff_times+=("$(kill_and_time "$port" "$(state pid)")")
done
wait_http "$port"
hammer "$port" 500
sup_busy=$(rss "$sup")
sleep 3
sup_rest=$(rss "$sup")
restarts=$(S inspect api | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["State"]["RestartCount"])')

# --- 1 and 2: podman --------------------------------------------------------
podman_times=()
conmon_idle="-"
conmon_busy="-"
conmon_rest="-"
if command -v podman >/dev/null; then
    # This hybrid-cgroup host: cgroupfs manager; crun 1.8 refuses hybrid
    # cgroups, so runc when it is installed; rlimits below the host's hard
    # limits (podman's defaults exceed them and root cannot raise them).
    popts=(--cgroup-manager cgroupfs)
    if command -v runc >/dev/null; then popts+=(--runtime runc); fi
    podman "${popts[@]}" import -q "$fixtures/node.tar" localhost/skiff-bench-node:latest >/dev/null
    pport=$(free_port)
    if podman "${popts[@]}" run -d --name skiff-bench-node --restart always \
        --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
        -p "127.0.0.1:$pport:3000" -m 512m -v "$work/app:/app:ro" \
        localhost/skiff-bench-node node /app/server.js >/dev/null && wait_http "$pport"; then
        cid=$(podman "${popts[@]}" inspect -f '{{.Id}}' skiff-bench-node)
        conmon=$(pgrep -f "conmon.*$cid" | head -1)
        conmon_idle=$(rss "$conmon")
        for _ in $(seq "$kills"); do
            sleep 10.5
            ppid=$(podman "${popts[@]}" inspect -f '{{.State.Pid}}' skiff-bench-node)
            podman_times+=("$(kill_and_time "$pport" "$ppid")")
        done
        wait_http "$pport"
        hammer "$pport" 500
        conmon=$(pgrep -f "conmon.*$cid" | head -1)
        conmon_busy=$(rss "$conmon")
        sleep 3
        conmon_rest=$(rss "$conmon")
    else
        echo "podman cannot run the container here; leaving it out" >&2
    fi
    podman "${popts[@]}" rm -f skiff-bench-node >/dev/null 2>&1 || true
else
    echo "podman is not installed; leaving it out" >&2
fi

# --- 3: ps with 50 running containers ---------------------------------------
S rm -f api >/dev/null
for i in $(seq 50); do S run -d --name "c$i" busybox:fixture sleep 100000 >/dev/null; done
[ "$(S ps -q | wc -l)" = 50 ] || die "not 50 containers running"
ps_time=$(python3 - "$skiff" "$store" <<'EOF'
import subprocess, sys, time
cmd = [sys.argv[1], "--root", sys.argv[2], "ps"]
subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
runs = []
for _ in range(20):
    t = time.monotonic(); subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL); runs.append(time.monotonic() - t)
print("%.1f ms (min %.1f, n=20)" % (1000 * sum(runs) / len(runs), 1000 * min(runs)))
EOF
)
sups=$(for d in "$store"/containers/*/; do python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["supervisor"]["pid"])' "$d/state.json"; done)
total_rss=0
for p in $sups; do total_rss=$((total_rss + $(awk '/^VmRSS/{print $2}' /proc/$p/status))); done

echo
echo "== kill -9 of node → answering again on the published port (ran ≥ 10 s before each kill)"
echo "skiff:  $(mean "${skiff_times[@]}")   restart count $restarts"
if [ ${#podman_times[@]} -gt 0 ]; then
    echo "podman: $(mean "${podman_times[@]}")"
fi
echo
echo "== memory (VmRSS)"
echo "skiff supervisor: started $sup_idle, right after 500 requests $sup_busy, 3 s later $sup_rest"
echo "podman conmon:    started $conmon_idle, right after 500 requests $conmon_busy, 3 s later $conmon_rest"
echo "50 supervisors:   $total_rss kB in all"
echo
echo "== skiff ps with 50 running containers: $ps_time"
