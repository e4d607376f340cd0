#!/bin/sh
# shellcheck disable=SC2016 # the $ in container commands expand inside the container
# Runs inside the cgroup v2 test VM (busybox sh, as root, started by scripts/vm/init).
# Each check prints "ok NAME" or "not ok NAME: details"; the last line is the
# summary "CGROUP-V2-TESTS: N passed, M failed" that scripts/test-cgroup-v2.sh
# looks for. Checks keep going after a failure, so one run shows everything.
set -u
# Containers here stay off the default bridge network (no bridge, NAT or
# forwarding on this host's network): `--network` defaults to private.
export SKIFF_NETWORK=${SKIFF_NETWORK:-private}
store=/tmp/store
pass=0 fail=0

ok() { echo "ok $1"; pass=$((pass + 1)); }
not_ok() { echo "not ok $1: $2"; fail=$((fail + 1)); }
oneline() { tr -s '\n' '|' | cut -c1-300; }

# run ARGS... : skiff run with a time limit; sets $out (stdout+stderr) and $rc.
run() {
    out=$(timeout 60 skiff --root "$store" run "$@" 2>&1)
    rc=$?
}

# expect NAME WANT ARGS... : the container prints exactly WANT and exits 0.
expect() {
    name=$1 want=$2
    shift 2
    run "$@"
    if [ $rc = 0 ] && [ "$out" = "$want" ]; then ok "$name"; else
        not_ok "$name" "exit $rc, wanted '$want', got '$(echo "$out" | oneline)'"
    fi
}

# --- the VM itself -----------------------------------------------------------

# overlayfs (module loaded by init) works on tmpfs, whiteouts included.
o=/tmp/ovl
mkdir -p $o/lower $o/upper $o/work $o/merged
echo lower >$o/lower/f
echo gone >$o/lower/g
if mount -t overlay overlay -o lowerdir=$o/lower,upperdir=$o/upper,workdir=$o/work $o/merged &&
    [ "$(cat $o/merged/f)" = lower ] && echo upper >$o/merged/f && [ "$(cat $o/lower/f)" = lower ] &&
    rm $o/merged/g && [ ! -e $o/merged/g ] && [ -c $o/upper/g ]; then
    ok "overlay mounts"
else
    not_ok "overlay mounts" "$(grep -c overlay /proc/filesystems) overlay in /proc/filesystems"
fi
umount $o/merged 2>/dev/null
rm -rf $o

# cgroup v2 only, with the controllers skiff needs delegated from the root.
fstype=$(awk '$2 == "/sys/fs/cgroup" { print $3 }' /proc/mounts)
ctrl=$(cat /sys/fs/cgroup/cgroup.subtree_control)
missing=
for c in cpu memory pids io; do
    case " $ctrl " in *" $c "*) ;; *) missing="$missing $c" ;; esac
done
v1=$(awk '$3 == "cgroup" { print $2 }' /proc/mounts)
if [ "$fstype" = cgroup2 ] && [ -z "$v1" ] && [ -z "$missing" ]; then
    ok "cgroup2 controllers available"
else
    not_ok "cgroup2 controllers available" "fs '$fstype', v1 mounts '$v1', subtree_control '$ctrl', missing:$missing"
fi

# --- skiff on cgroup v2 ------------------------------------------------------

if out=$(skiff --root "$store" import /busybox.tar busybox:fixture 2>&1); then
    ok "import busybox fixture"
else
    not_ok "import busybox fixture" "$(echo "$out" | oneline)"
fi

expect "run echo" hello --rm busybox:fixture echo hello

run --rm busybox:fixture sh -c 'exit 3'
if [ $rc = 3 ]; then ok "exit code passed through"; else not_ok "exit code passed through" "exit $rc: $(echo "$out" | oneline)"; fi

expect "memory limit (-m 64m -> memory.max)" 67108864 \
    --rm -m 64m busybox:fixture cat /sys/fs/cgroup/memory.max
expect "cpu limit (--cpus 0.5 -> cpu.max)" "50000 100000" \
    --rm --cpus 0.5 busybox:fixture cat /sys/fs/cgroup/cpu.max
expect "pids limit (--pids-limit 50 -> pids.max)" 50 \
    --rm --pids-limit 50 busybox:fixture cat /sys/fs/cgroup/pids.max

# Allocating 128 MiB under a 32 MiB limit: the OOM killer ends it, exit 137.
run --rm -m 32m busybox:fixture sh -c 'x=$(head -c 134217728 /dev/zero | tr "\0" a); echo survived ${#x}'
if [ $rc = 137 ]; then ok "allocation past -m is OOM-killed (137)"; else
    not_ok "allocation past -m is OOM-killed (137)" "exit $rc: $(echo "$out" | oneline)"
fi

# A (bounded) fork bomb: 200 sleepers under --pids-limit 20. Forks must start
# failing, the cgroup must never hold more than 20 tasks, and the run must end.
run --rm --pids-limit 20 busybox:fixture sh -c '
    sh -c "i=0; while [ \$i -lt 200 ]; do sleep 30 & i=\$((i+1)); done" 2>/dev/null
    echo "current $(cat /sys/fs/cgroup/pids.current)"
    cat /sys/fs/cgroup/pids.events'
current=$(echo "$out" | sed -n 's/^current //p')
events=$(echo "$out" | sed -n 's/^max //p')
if [ -n "$current" ] && [ "$current" -le 20 ] && [ "${events:-0}" -gt 0 ]; then
    ok "fork bomb stops at the pids limit"
else
    not_ok "fork bomb stops at the pids limit" "exit $rc: $(echo "$out" | oneline)"
fi

# While a container runs, its cgroup is a child of /sys/fs/cgroup/skiff holding its processes.
timeout 60 skiff --root "$store" run --rm busybox:fixture sleep 4 >/tmp/bg.out 2>&1 &
bg=$!
found=
for _ in $(seq 1 40); do
    for d in /sys/fs/cgroup/skiff/*/ /sys/fs/cgroup/skiff/*/*/; do
        [ -n "$(cat "$d/cgroup.procs" 2>/dev/null)" ] && found=$d # (cgroupfs files have size 0)
    done
    [ -n "$found" ] && break
    kill -0 $bg 2>/dev/null || break
    sleep 0.25
done
wait $bg
rc=$?
if [ -n "$found" ] && [ $rc = 0 ]; then ok "container cgroup under /sys/fs/cgroup/skiff"; else
    not_ok "container cgroup under /sys/fs/cgroup/skiff" "found '$found', exit $rc: $(oneline </tmp/bg.out)"
fi

# Every run above used --rm: no cgroup of skiff may be left behind.
left=$(find /sys/fs/cgroup/skiff -mindepth 1 -type d 2>/dev/null)
if [ -z "$left" ]; then ok "no cgroup left after --rm"; else
    not_ok "no cgroup left after --rm" "/sys/fs/cgroup/skiff holds: $(echo "$left" | oneline)"
fi

# Device cgroup (BPF on v2): mknod works (CAP_MKNOD), opening a disk does not;
# EPERM comes from the cgroup before the driver (which would say ENXIO).
run --rm busybox:fixture sh -c 'mknod /tmp/blk b 8 0 && head -c 1 /tmp/blk'
case "$out" in
*"Operation not permitted"*) ok "device cgroup refuses a block device (EPERM)" ;;
*) not_ok "device cgroup refuses a block device (EPERM)" "exit $rc: $(echo "$out" | oneline)" ;;
esac
expect "device cgroup allows /dev/null (c 1:3)" ok \
    --rm busybox:fixture sh -c 'mknod /tmp/n c 1 3 && echo x >/tmp/n && echo ok'

# stats and metrics read the v2 files: memory.max, memory.current minus
# inactive_file, cpu.stat usage_usec, pids.current.
if cid=$(timeout 60 skiff --root "$store" run -d --name watched -m 48m busybox:fixture sleep 300 2>&1); then
    out=$(timeout 60 skiff --root "$store" stats --no-stream --format json watched 2>&1)
    case "$out" in
    *'"MemUsage":"'*' / 48MiB"'*'"PIDs":"1"'*) ok "stats on cgroup v2" ;;
    *) not_ok "stats on cgroup v2" "$(echo "$out" | oneline)" ;;
    esac
    out=$(timeout 60 skiff --root "$store" metrics 2>&1)
    if echo "$out" | grep -q '^container_spec_memory_limit_bytes{.*name="watched"} 50331648$' &&
        echo "$out" | grep -q '^container_cpu_usage_seconds_total{.*name="watched"} [0-9]' &&
        echo "$out" | grep -q '^container_memory_working_set_bytes{.*name="watched"} [1-9]'; then
        ok "metrics on cgroup v2"
    else
        not_ok "metrics on cgroup v2" "$(echo "$out" | grep watched | oneline)"
    fi
    timeout 60 skiff --root "$store" rm -f watched >/dev/null 2>&1
else
    not_ok "stats on cgroup v2" "run -d: $(echo "$cid" | oneline)"
fi

echo "CGROUP-V2-TESTS: $pass passed, $fail failed"
