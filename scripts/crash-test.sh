#!/bin/bash
# crash-test.sh [KILLS] — SIGKILL skiff at random instants while it imports,
# builds (RUN, COPY, layer commit), pulls, tags, rolls back, rolls out and
# prunes; after every kill `skiff fsck` must find the store sound, and the
# same operation, run again, must succeed. Prints the kills survived.
#   KILLS      how many kills (default 200)
#   SKIFF      the binary (default: a release build)
set -euo pipefail
# Containers here stay off the default bridge network (no bridge, NAT or
# forwarding on this host's network): `--network` defaults to private.
export SKIFF_NETWORK=${SKIFF_NETWORK:-private}
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/bench/lib.sh"
kills=${1:-200}
skiff=${SKIFF:-$(skiff_release)}
SKIFF="$skiff" "$repo/scripts/fixtures.sh" >/dev/null
command -v docker-registry >/dev/null || apt-get install -y -qq docker-registry >/dev/null

work=$(mktemp -d /var/tmp/skiff-crash.XXXXXX)
root=$work/store
reg_pid=
cleanup() {
    "$skiff" --root "$root" rm -f $("$skiff" --root "$root" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
    [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
sk() { "$skiff" --root "$root" "$@"; }

# A local registry to pull from.
port=$((20000 + RANDOM % 20000))
cat >"$work/registry.yml" <<YML
version: 0.1
log: { level: error, accesslog: { disabled: true } }
storage: { filesystem: { rootdirectory: $work/registry } }
http: { addr: 127.0.0.1:$port }
YML
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
reg_pid=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

sk import "$fixtures/busybox.tar" busybox:fixture >/dev/null
sk push busybox:fixture "127.0.0.1:$port/crash/busybox:1" --tls-verify=false -q >/dev/null

# A build context with a RUN that writes a layer and a COPY of a few MB.
ctx=$work/ctx
mkdir -p "$ctx"
head -c 4000000 /dev/urandom >"$ctx/blob.bin"
write_dockerfile() {
    cat >"$ctx/Dockerfile" <<DF
FROM busybox:fixture
RUN dd if=/dev/zero of=/zeros bs=1M count=8 2>/dev/null && echo $1 > /gen
COPY blob.bin /data/blob.bin
RUN echo done-$1 > /done
DF
}
gen=0
write_dockerfile $gen
sk build -q -t app "$ctx" >/dev/null
sk tag app app:prev >/dev/null
sk run -d --init --name web --restart always app sleep 100000 >/dev/null

# Each operation, run once to the end (the "repeat").
op() {
    case $1 in
    import) sk import "$fixtures/busybox.tar" "imp:$2" ;;
    build) write_dockerfile "$2"; sk build -q -t app "$ctx" ;;
    pull) sk pull -q "127.0.0.1:$port/crash/busybox:1" --tls-verify=false ;;
    tag) sk tag busybox:fixture "t$(( $2 % 5 )):x" ;;
    rollback) sk rollback app || sk tag app:prev app ;;
    rollout) sk rollout app 2>/dev/null || sk restart web ;;
    prune) sk prune --keep 2 ;;
    esac
}
ops=(import build pull tag rollback rollout prune)

# How long each operation takes, so the kills land inside it.
declare -A dur
for name in "${ops[@]}"; do
    gen=$((gen + 1))
    t0=$(date +%s%N)
    op "$name" "$gen" >/dev/null 2>&1 || true
    dur[$name]=$(( ($(date +%s%N) - t0) / 1000000 + 1 ))
done
echo "operation times (ms): $(for n in "${ops[@]}"; do printf '%s=%s ' "$n" "${dur[$n]}"; done)"

survived=0 failed=0
for i in $(seq 1 "$kills"); do
    name=${ops[$((i % ${#ops[@]}))]}
    gen=$((gen + 1))
    op "$name" "$gen" >/dev/null 2>&1 &
    pid=$!
    # A random instant within the operation's usual duration.
    ms=$(( (RANDOM * 32768 + RANDOM) % ${dur[$name]} ))
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
    pkill -9 -P "$pid" 2>/dev/null || true
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    t0=$(date +%s%N)
    if report=$(sk fsck 2>&1) && op "$name" "$gen" >/dev/null 2>"$work/op.err"; then
        survived=$((survived + 1))
        # Keep the longest run seen, so later kills can land anywhere in it.
        t=$(( ($(date +%s%N) - t0) / 1000000 + 1 ))
        [ "$t" -gt "${dur[$name]}" ] && dur[$name]=$t
    else
        failed=$((failed + 1))
        echo "kill $i during $name: not survived" >&2
        echo "$report" | tail -n 20 >&2
        tail -n 5 "$work/op.err" >&2 || true
        sk fsck --repair >/dev/null 2>&1 || true
    fi
done
echo "longest operation times (ms): $(for n in "${ops[@]}"; do printf '%s=%s ' "$n" "${dur[$n]}"; done)"
echo "crash test: $survived of $kills kills survived ($failed not)"
[ "$failed" -eq 0 ]
