#!/bin/bash
# scripts/bench/rollback.sh — undoing a bad release of a service on a
# published port, under a steady request loop (one GET every 5 ms):
#   skiff:  `skiff rollback node-api` (the tag moves back, the container
#           is replaced with no downtime: the new one takes over the
#           listening socket once it answers, the old one drains);
#   podman: the docker-style way — `podman stop`, `podman rm`,
#           `podman run -d` of the previous image id with the same options.
# For each: seconds from the command's start to the previous version
# answering on the port, the command's own wall time, and the requests
# that failed (refused, reset or unanswered) from the command's start to
# one second after it ended. Rollbacks alternate between the two
# versions, ROUNDS times each.
#
#   scripts/bench/rollback.sh               # ROUNDS=3 by default
#   ROUNDS=5 SKIFF=target/release/skiff scripts/bench/rollback.sh
#
# Needs root, python3, the fixtures (scripts/fixtures.sh); podman optional
# (run as this host needs it: cgroupfs, runc, rlimits under the hard ones).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=scripts/bench/lib.sh
. "$repo/scripts/bench/lib.sh"
rounds=${ROUNDS:-3}

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
command -v python3 >/dev/null || die "python3 is not installed"
[ -f "$fixtures/node.tar" ] || die "missing $fixtures/node.tar (run scripts/fixtures.sh)"
skiff=${SKIFF:-$(skiff_release)}
[ -x "$skiff" ] || die "no skiff binary at $skiff"

work=$(mktemp -d /tmp/skiff-bench-rollback.XXXXXX)
store=$work/store
S() { "$skiff" --root "$store" "$@"; }
popts=(--cgroup-manager cgroupfs)
if command -v runc >/dev/null; then popts+=(--runtime runc); fi
P() { podman "${popts[@]}" "$@"; }
cleanup() {
    S ps -a -q 2>/dev/null | while read -r c; do S rm -f "$c" >/dev/null 2>&1 || true; done
    if command -v podman >/dev/null; then
        P rm -f skiff-bench-api >/dev/null 2>&1 || true
        P rmi -f localhost/skiff-bench-api:v1 localhost/skiff-bench-api:v2 >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The service of images/node-api: answers its APP_VERSION, drains on SIGTERM.
mkdir -p "$work/app"
cp "$repo/images/node-api/server.js" "$repo/images/node-api/package.json" "$work/app/"

# wait_version PORT VERSION: until the service answers with VERSION (30 s at most).
wait_version() {
    python3 - "$1" "$2" <<'EOF'
import socket, sys, time
port, want = int(sys.argv[1]), sys.argv[2].encode()
end = time.time() + 30
while time.time() < end:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
        if b'"version":"' + want + b'"' in data:
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.01)
sys.exit(1)
EOF
}

# measure PORT VERSION CMD...: run CMD under a steady request loop; print
# "<s to VERSION answering> <s of CMD> <failed requests> <requests>".
measure() {
    python3 - "$@" <<'EOF'
import socket, subprocess, sys, threading, time
port, want, cmd = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3:]
state = {"stop": False, "failed": 0, "total": 0, "first": None, "t0": None}
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
        raise OSError("bad answer %r" % data[:40])
    return data
def loop():
    while not state["stop"]:
        try:
            data = get()
            if state["t0"] is not None:
                state["total"] += 1
                if state["first"] is None and b'"version":"' + want + b'"' in data:
                    state["first"] = time.monotonic() - state["t0"]
        except OSError:
            if state["t0"] is not None:
                state["total"] += 1
                state["failed"] += 1
        time.sleep(0.005)
t = threading.Thread(target=loop)
t.start()
time.sleep(0.5)
state["t0"] = time.monotonic()
r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
took = time.monotonic() - state["t0"]
end = time.monotonic() + 30
while state["first"] is None and time.monotonic() < end:
    time.sleep(0.005)
time.sleep(1.0)
state["stop"] = True
t.join()
if r.returncode != 0:
    sys.stderr.write("bench: %s failed: %s\n" % (" ".join(cmd), r.stderr.decode()))
    sys.exit(1)
first = "%.3f" % state["first"] if state["first"] is not None else "timeout"
print(first, "%.3f" % took, state["failed"], state["total"])
EOF
}

summary() {
    python3 - "$@" <<'EOF'
import sys
rows = [l.split() for l in sys.argv[1:]]
def mean(i):
    v = [float(r[i]) for r in rows if r[i] != "timeout"]
    return "%.3f s (min %.3f, max %.3f)" % (sum(v) / len(v), min(v), max(v)) if v else "timeout"
failed = sum(int(r[2]) for r in rows)
total = sum(int(r[3]) for r in rows)
print("  previous version answering: %s" % mean(0))
print("  command wall time:          %s" % mean(1))
print("  failed requests:            %d of %d (n=%d rollbacks)" % (failed, total, len(rows)))
EOF
}

# --- skiff -----------------------------------------------------------------
S import "$fixtures/node.tar" node:fixture >/dev/null
for v in v1 v2; do
    printf 'FROM node:fixture\nENV APP_VERSION=%s\nWORKDIR /app\nCOPY server.js package.json ./\nCMD ["node", "server.js"]\n' "$v" >"$work/app/Dockerfile"
    S build -q -t node-api "$work/app" >/dev/null
done
rm "$work/app/Dockerfile"
port=$(free_port)
S run -d --name api --restart always -p "127.0.0.1:$port:3000" -m 512m node-api >/dev/null
wait_version "$port" v2 || die "skiff: the service does not answer"
skiff_rows=()
want=v1
for _ in $(seq $((2 * rounds))); do
    skiff_rows+=("$(measure "$port" "$want" "$skiff" --root "$store" rollback node-api)")
    wait_version "$port" "$want" || die "skiff: $want does not answer after the rollback"
    if [ "$want" = v1 ]; then want=v2; else want=v1; fi
done
revisions=$(S revisions node-api | head -4)

# --- podman ----------------------------------------------------------------
podman_rows=()
if command -v podman >/dev/null; then
    for v in v1 v2; do
        P import -q --change "ENV APP_VERSION=$v" --change 'WORKDIR /app' \
            --change 'CMD ["node", "/app/server.js"]' "$fixtures/node.tar" \
            "localhost/skiff-bench-api:$v" >/dev/null
    done
    pport=$(free_port)
    prun() {
        P run -d --name skiff-bench-api --restart always --ulimit nofile=1024:1024 \
            --ulimit nproc=4096:4096 -p "127.0.0.1:$pport:3000" -m 512m \
            -v "$work/app:/app:ro" "$(P image inspect -f '{{.Id}}' "localhost/skiff-bench-api:$1")" >/dev/null
    }
    if prun v2 && wait_version "$pport" v2; then
        # The docker-style rollback, as one command: stop, rm, run the previous image.
        cat >"$work/podman-rollback.sh" <<EOF
#!/bin/bash
set -e
podman ${popts[*]} stop -t 10 skiff-bench-api >/dev/null
podman ${popts[*]} rm skiff-bench-api >/dev/null
podman ${popts[*]} run -d --name skiff-bench-api --restart always --ulimit nofile=1024:1024 \\
    --ulimit nproc=4096:4096 -p 127.0.0.1:$pport:3000 -m 512m -v $work/app:/app:ro "\$1" >/dev/null
EOF
        chmod +x "$work/podman-rollback.sh"
        want=v1
        for _ in $(seq $((2 * rounds))); do
            id=$(P image inspect -f '{{.Id}}' "localhost/skiff-bench-api:$want")
            podman_rows+=("$(measure "$pport" "$want" "$work/podman-rollback.sh" "$id")")
            wait_version "$pport" "$want" || die "podman: $want does not answer after the rollback"
            if [ "$want" = v1 ]; then want=v2; else want=v1; fi
        done
    else
        echo "podman cannot run the service here; leaving it out" >&2
    fi
else
    echo "podman is not installed; leaving it out" >&2
fi

echo
echo "== rollback of a service on a published port, GET every 5 ms"
echo "skiff rollback node-api:"
summary "${skiff_rows[@]}"
if [ ${#podman_rows[@]} -gt 0 ]; then
    echo "podman stop + rm + run -d <previous image id>:"
    summary "${podman_rows[@]}"
fi
echo
echo "skiff revisions node-api (newest first):"
echo "$revisions"
