#!/bin/bash
# scripts/bench/replicas.sh — replicas behind one port, against PM2 7's
# cluster mode, on images/node-api's server.js (same Node on both sides):
#  1. throughput and p99: wrk -t 2 -c 32 -d DURATION on 127.0.0.1, ROUNDS
#     (3) rounds taken in turns, median, against
#     skiff with 1 replica, skiff with 2 replicas (one port), and
#     `pm2 start server.js -i 2` on the host;
#  2. a rolling rollout of 4 replicas (`skiff rollout --parallel 1`) under
#     a steady request loop (one GET every 5 ms) against `pm2 reload` of 4
#     workers under the same loop: failed requests and wall time;
#  3. an automatic rollback: a revision that turns unhealthy 5 s after it
#     started, rolled out to 4 replicas with `--monitor 30s` under the same
#     loop: failed requests, and seconds from its first failed probe
#     (5 s after the first new replica started, plus one probe interval at
#     most) to the command's end, when every replica is back.
#
#   scripts/bench/replicas.sh               # DURATION=10
#   PARTS=throughput scripts/bench/replicas.sh   # only part 1
#
# Everything runs in a network namespace this script makes (unshare -n),
# skiff's replicas on the default bridge network, so their port is
# forwarded by the kernel (DNAT); NETWORK=private measures skiff's relay
# instead.
#
# Needs root, wrk, python3, node, the fixtures (scripts/fixtures.sh) and
# pm2 (`npm i -g pm2`, from the npm registry).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=scripts/bench/lib.sh
. "$repo/scripts/bench/lib.sh"
duration=${DURATION:-10}
parts=" ${PARTS:-throughput rollout rollback} "
export SKIFF_NETWORK=${NETWORK:-bridge}

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
if [ -z "${SKIFF_BENCH_NETNS:-}" ]; then
    exec unshare -n env SKIFF_BENCH_NETNS=1 bash "$0" "$@"
fi
ip link set lo up
need wrk python3 node
[ "$parts" = " rollback " ] || command -v pm2 >/dev/null || die "pm2 is not installed (npm i -g pm2)"
[ -f "$fixtures/node.tar" ] || die "missing $fixtures/node.tar (run scripts/fixtures.sh)"
skiff=${SKIFF:-$(skiff_release)}

work=$(mktemp -d /tmp/skiff-bench-replicas.XXXXXX)
store=$work/store
S() { "$skiff" --root "$store" "$@"; }
export PM2_HOME=$work/pm2
# PM2 gets a CPU cgroup of its own, weighted like skiff's: every skiff
# container lives under the one `skiff` cgroup, which a busy host weighs
# like a single process, while PM2's workers would each count as one
# (PEER_CGROUP=0 leaves PM2 where it starts).
peer_cg=""
if [ "${PEER_CGROUP:-1}" = 1 ]; then
    if [ -d /sys/fs/cgroup/cpu ]; then
        peer_cg=/sys/fs/cgroup/cpu/skiff-bench-peer-$$
        mkdir -p "$peer_cg"
        cat "/sys/fs/cgroup/cpu/skiff/cpu.shares" >"$peer_cg/cpu.shares" 2>/dev/null || true
    elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
        peer_cg=/sys/fs/cgroup/skiff-bench-peer-$$
        mkdir -p "$peer_cg"
    fi
fi
peer() {
    if [ -n "$peer_cg" ]; then
        (echo "$BASHPID" >"$peer_cg/cgroup.procs" && "$@")
    else
        "$@"
    fi
}
cleanup() {
    S rm -f api api1 >/dev/null 2>&1 || true
    S network rm bridge >/dev/null 2>&1 || true
    pm2 kill >/dev/null 2>&1 || true
    [ -z "$peer_cg" ] || { sleep 0.5; rmdir "$peer_cg" 2>/dev/null || true; }
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() {
    local i
    for i in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    die "nothing answers on 127.0.0.1:$1"
}
# load PORT: "requests/s p99"
load() {
    local out
    out=$(wrk -t 2 -c 32 -d "${duration}s" --latency "http://127.0.0.1:$1/")
    echo "$(awk '/Requests\/sec/ { print $2 }' <<<"$out") $(awk '$1 == "99%" { print $2 }' <<<"$out")"
}
# under_loop CMD...: run CMD under a request loop (one GET every 5 ms, from
# 0.5 s before to 1 s after it); print "<failed> <requests> <s of CMD>".
under_loop() {
    python3 - "$port" "$@" <<'PY'
import socket, subprocess, sys, threading, time
port, cmd = int(sys.argv[1]), sys.argv[2:]
st = {"stop": False, "failed": 0, "total": 0}
def get():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(10)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    data = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        data += b
    s.close()
    if not data.startswith(b"HTTP/1.1 200"):
        raise OSError("bad answer")
def loop():
    end = time.monotonic() + 300  # bounded, whatever happens
    while not st["stop"] and time.monotonic() < end:
        st["total"] += 1
        try:
            get()
        except OSError:
            st["failed"] += 1
        time.sleep(0.005)
t = threading.Thread(target=loop)
t.start()
time.sleep(0.5)
t0 = time.monotonic()
r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
took = time.monotonic() - t0
time.sleep(1.0)
st["stop"] = True
t.join()
if r.returncode != 0:
    sys.stderr.write("bench: %s failed: %s\n" % (" ".join(cmd), r.stderr.decode()))
    sys.exit(1)
print(st["failed"], st["total"], "%.2f" % took)
PY
}

mkdir -p "$work/app"
cp "$repo/images/node-api/server.js" "$repo/images/node-api/package.json" "$work/app/"
S import "$fixtures/node.tar" node:fixture >/dev/null
printf 'FROM node:fixture\nENV APP_VERSION=v3\nWORKDIR /app\nCOPY server.js package.json ./\nHEALTHCHECK --interval=1s --timeout=2s --retries=1 CMD ["sh", "-c", "test $(( $(date +%%s) - $(stat -c %%Y /proc/1) )) -lt 5"]\nCMD ["node", "server.js"]\n' >"$work/Dockerfile"
S build -q -f "$work/Dockerfile" -t node-api:v3 "$work/app" >/dev/null
for v in v1 v2; do
    printf 'FROM node:fixture\nENV APP_VERSION=%s\nWORKDIR /app\nCOPY server.js package.json ./\nHEALTHCHECK --interval=1s --timeout=2s CMD ["node", "-e", "require(\\"http\\").get(\\"http://127.0.0.1:3000/healthz\\", r => process.exit(r.statusCode === 200 ? 0 : 1)).on(\\"error\\", () => process.exit(1))"]\nCMD ["node", "server.js"]\n' "$v" >"$work/Dockerfile"
    S build -q -f "$work/Dockerfile" -t "node-api:$v" "$work/app" >/dev/null
done

if [[ $parts == *" throughput "* ]]; then
rounds=${ROUNDS:-3}
echo "== throughput: wrk -t 2 -c 32, $rounds interleaved rounds of ${duration}s on 127.0.0.1 (skiff on --network $SKIFF_NETWORK; median)"
# All three run side by side, each warmed up (Node's JIT), then measured in
# turns, so a busy host's noise falls on all of them alike.
port1=$(free_port)
# No health check here (PM2 runs none): node-api:v1's probe starts a Node
# process every second in each replica, which on 2 busy cores costs more
# than the forwarding under test. Ready = answering on the port.
S run -d --name api1 --replicas 1 --no-healthcheck -p "127.0.0.1:$port1:3000" node-api:v1 >/dev/null
port=$(free_port)
S run -d --name api --replicas 2 --no-healthcheck -p "127.0.0.1:$port:3000" node-api:v1 >/dev/null
pport=$(free_port)
(cd "$work/app" && PORT=$pport peer pm2 start server.js -i 2 --name api >/dev/null)
wait_up "$port1"; wait_up "$port"; wait_up "$pport"
wait_chain() { # the kernel forwards PORT to N replicas (bridge), 60 s at most
    local i
    [ "$SKIFF_NETWORK" = bridge ] || { sleep 2; return 0; }
    for i in $(seq 600); do
        [ "$(iptables-save -t nat | grep -c -- "-A SKIFF-P-$1-7f000001 .*DNAT")" = "$2" ] && return 0
        sleep 0.1
    done
    die "port $1 is not forwarded to $2 replicas"
}
wait_chain "$port1" 1; wait_chain "$port" 2
for p in "$port1" "$port" "$pport"; do wrk -t 2 -c 32 -d 3s "http://127.0.0.1:$p/" >/dev/null; done
a1=() a2=() ap=()
for ((i = 0; i < rounds; i++)); do
    a1+=("$(load "$port1")"); a2+=("$(load "$port")"); ap+=("$(load "$pport")")
done
# median "req/s p99"...: the line with the median req/s
median() { printf '%s\n' "$@" | sort -n | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }'; }
read -r r1 l1 <<<"$(median "${a1[@]}")"
read -r r2 l2 <<<"$(median "${a2[@]}")"
read -r rp lp <<<"$(median "${ap[@]}")"
S rm -f api api1 >/dev/null
pm2 delete api >/dev/null
echo "  skiff, 1 replica:       $r1 req/s, p99 $l1   (rounds: $(printf '%s ' "${a1[@]}" | awk '{ for (i = 1; i <= NF; i += 2) printf "%s ", $i }'))"
echo "  skiff, 2 replicas:      $r2 req/s, p99 $l2   (rounds: $(printf '%s ' "${a2[@]}" | awk '{ for (i = 1; i <= NF; i += 2) printf "%s ", $i }'))"
echo "  pm2 cluster, 2 workers: $rp req/s, p99 $lp   (rounds: $(printf '%s ' "${ap[@]}" | awk '{ for (i = 1; i <= NF; i += 2) printf "%s ", $i }'))"
echo "  skiff 2 replicas / pm2 2 workers: x$(ratio "$r2" "$rp"); 2 replicas / 1 replica: x$(ratio "$r2" "$r1")"
echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg); pm2 in a cgroup weighted like skiff's: ${peer_cg:+yes}${peer_cg:-no}"
fi

if [[ $parts == *" rollout "* ]]; then
echo "== rolling update of 4 under a request loop (one GET every 5 ms)"
port=$(free_port)
S tag node-api:v1 node-api:latest >/dev/null
S run -d --name api --replicas 4 -p "127.0.0.1:$port:3000" node-api >/dev/null
wait_up "$port"; sleep 2
S tag node-api:v2 node-api:latest >/dev/null
read -r sf st stook <<<"$(under_loop "$skiff" --root "$store" rollout node-api --parallel 1)"
S rm -f api >/dev/null
port=$(free_port)
(cd "$work/app" && PORT=$port peer pm2 start server.js -i 4 --name api >/dev/null)
wait_up "$port"; sleep 2
read -r pf pt ptook <<<"$(under_loop pm2 reload api)"
echo "  skiff rollout --parallel 1: $sf failed of $st requests, ${stook} s"
echo "  pm2 reload:                 $pf failed of $pt requests, ${ptook} s"
fi

if [[ $parts == *" rollback "* ]]; then
echo "== automatic rollback: a revision unhealthy 5 s after start, 4 replicas, --monitor 30s"
port=$(free_port)
S tag node-api:v2 node-api:latest >/dev/null
S run -d --name api --replicas 4 -p "127.0.0.1:$port:3000" node-api >/dev/null
wait_up "$port"; sleep 2
S tag node-api:v3 node-api:latest >/dev/null
# The rollout fails on purpose (it rolls back, exit 125); each line of its
# output gets a timestamp.
cat >"$work/auto.sh" <<SH
"$skiff" --root "$store" rollout node-api --monitor 30s 2>&1 | while IFS= read -r l; do echo "\$(date +%s.%N) \$l"; done >"$work/auto.log"
echo "\$(date +%s.%N) end" >>"$work/auto.log"
SH
read -r af at atook <<<"$(under_loop sh "$work/auto.sh")"
grep -q "rolled back" "$work/auto.log" || die "the rollout did not roll back: $(cat "$work/auto.log")"
back=$(awk '/ is now revision / && !t { t = $1 } $2 == "end" { e = $1 } END { printf "%.2f", e - t }' "$work/auto.log")
echo "  $af failed of $at requests; ${atook} s for the whole command"
echo "  from the tag moving back to every replica on the old revision: ${back} s"
# The first unhealthy probe of the new revision, from the event log.
first=$(S events --since 10m --no-follow --format json | python3 -c '
import json, sys
t = [json.loads(l)["timeNano"] for l in sys.stdin if l.strip() and json.loads(l).get("Action") == "health_status: unhealthy"]
print("%.3f" % (min(t) / 1e9) if t else "")')
[ -n "$first" ] || die "no unhealthy probe in the event log"
echo "  from the first unhealthy probe to every replica on the old revision: $(awk -v f="$first" '$2 == "end" { printf "%.2f", $1 - f }' "$work/auto.log") s (load average $(cut -d' ' -f1 /proc/loadavg))"
echo "  replicas on the rollback revision: $(S inspect api | python3 -c 'import json,sys; v=json.load(sys.stdin); print(sum(1 for i in v if "v2" in str(i["Spec"]["env"])), "of", len(v), "answer v2")')"
fi
