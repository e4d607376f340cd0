#!/bin/bash
# escape-test.sh [-v] — the escape corpus against containers started with
# skiff's default options; the same attempts as tests/escape.rs.
#
# Prints one row per attempt: ATTEMPT, RESULT (blocked / ESCAPED) and the
# MECHANISM that stopped it (with -v, also what happened), then
#   escape corpus: N blocked, M escaped
# and exits 1 if anything escaped (2 if the corpus could not run).
#
# Needs root, gcc + libc6-dev (the probe, tests/escape/probe.c, is compiled
# with gcc -static), the fixtures (scripts/fixtures.sh; $SKIFF_FIXTURES or
# <repo>/.fixtures) and a built skiff ($SKIFF, else target/debug/skiff).
# Everything runs on a COPY of the skiff binary in a temporary directory,
# so the CVE-2019-5736 attempts can never damage the real one.
set -uo pipefail
# Containers here stay off the default bridge network (no bridge, NAT or
# forwarding on this host's network): `--network` defaults to private.
export SKIFF_NETWORK=${SKIFF_NETWORK:-private}
shopt -s lastpipe # rows() counts in the shell itself, also at the end of a pipe
repo=$(cd "$(dirname "$0")/.." && pwd)
verbose=0
[ "${1:-}" = -v ] && verbose=1
target=${CARGO_TARGET_DIR:-$repo/target}
SKIFF=${SKIFF:-$target/debug/skiff}
fixtures=${SKIFF_FIXTURES:-$repo/.fixtures}

die() {
    echo "escape-test: $*" >&2
    exit 2
}
[ "$(id -u)" = 0 ] || die "run as root"
[ -x "$SKIFF" ] || die "no skiff binary at $SKIFF (cargo build, or set SKIFF)"
if [ ! -f "$fixtures/busybox.tar" ] || [ ! -f "$fixtures/node.tar" ]; then
    die "fixtures missing in $fixtures (scripts/fixtures.sh)"
fi
command -v gcc >/dev/null || die "gcc not found (apt-get install gcc libc6-dev)"

work=$(mktemp -d /tmp/skiff-escape.XXXXXX)
store=$work/store
cleanup() {
    "$work/skiff" --root "$store" rm -f escape-exec escape-5736 >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/probe" "$work/host-dir"
gcc -static -O1 -o "$work/probe/probe" "$repo/tests/escape/probe.c" ||
    die "cannot compile tests/escape/probe.c"
printf '#!/proc/self/exe\n' >"$work/probe/evil"
chmod 755 "$work/probe/evil"
echo host >"$work/host-dir/HOST_MARKER"
cp "$SKIFF" "$work/skiff"
sk() { "$work/skiff" --root "$store" "$@"; }
sk import "$fixtures/busybox.tar" busybox:fixture >/dev/null || die "cannot import busybox"
sk import "$fixtures/node.tar" node:fixture >/dev/null || die "cannot import node"
vol=$work/probe:/probe:ro

blocked=0 escaped=0
row() { # NAME RESULT MECHANISM DETAIL
    printf '%-28s %-8s %s\n' "$1" "$2" "$3"
    [ $verbose = 1 ] && printf '%-28s %-8s   %s\n' "" "" "$4"
    if [ "$2" = blocked ]; then blocked=$((blocked + 1)); else escaped=$((escaped + 1)); fi
}
# rows from the probe's ATTEMPT|name|result|what|mechanism lines
rows() {
    local name result what mech
    while IFS='|' read -r _ name result what mech; do
        row "$name" "$result" "$mech" "$what"
    done < <(grep '^ATTEMPT|')
}
oneline() { tr -s '\n' ' ' | cut -c1-200; }
host_dir() { find "$work/host-dir" -mindepth 1 -printf '%f '; }
# host NAME BEFORE AFTER: a row saying whether the host kept its state
host() {
    if [ "$2" = "$3" ]; then row "host: $1" blocked unchanged "$2"; else
        row "host: $1" ESCAPED "changed" "$2 -> $3"
    fi
}

host_hostname=$(hostname)
host_links=$(ip -o link show | cut -d: -f2 | tr -d ' \n')
host_core=$(cat /proc/sys/kernel/core_pattern)
binary_sha=$(sha256sum "$work/skiff" | cut -d' ' -f1)

printf '%-28s %-8s %s\n' ATTEMPT RESULT MECHANISM

# 1. Every single-call attempt in one default container, with a host file
#    open as fd 7 in the calling shell (it must not reach the container).
exec 7</etc/hostname
sk run --rm -v "$vol" busybox:fixture /probe/probe all 2>&1 | rows
exec 7<&-

# 2. CVE-2024-21626: WORKDIR /proc/self/fd/7 while fd 7 is a host directory.
exec 7<"$work/host-dir"
for w in /proc/self/fd/7 /proc/self/fd/7/new-dir; do
    out=$(sk run --rm -w "$w" -v "$vol" busybox:fixture /probe/probe cwd "-w ${w#/proc/self/}" HOST_MARKER 2>&1)
    rc=$?
    if [ $rc = 125 ] && [ "$(host_dir)" = "HOST_MARKER " ]; then
        row "-w ${w#/proc/self/}" blocked "workdir resolved in the root (RESOLVE_NO_MAGICLINKS), getcwd check" \
            "$(echo "$out" | oneline)"
    elif echo "$out" | grep -q '^ATTEMPT|.*|blocked|' && [ "$(host_dir)" = "HOST_MARKER " ]; then
        echo "$out" | rows
    else
        row "-w ${w#/proc/self/}" ESCAPED "none" "exit $rc, host dir holds: $(host_dir) $(echo "$out" | oneline)"
    fi
done
if sk exec --help >/dev/null 2>&1; then
    sk run -d --name escape-exec busybox:fixture sleep 120 >/dev/null
    for w in /proc/self/fd/7 /proc/self/fd/7/new-dir; do
        out=$(sk exec -w "$w" escape-exec pwd 2>&1)
        rc=$?
        if [ $rc = 125 ] && [ "$(host_dir)" = "HOST_MARKER " ]; then
            row "exec -w ${w#/proc/self/}" blocked "workdir resolved in the root (RESOLVE_NO_MAGICLINKS), getcwd check" \
                "$(echo "$out" | oneline)"
        else
            row "exec -w ${w#/proc/self/}" ESCAPED "none" "exit $rc: $(echo "$out" | oneline); host dir: $(host_dir)"
        fi
    done
    sk rm -f escape-exec >/dev/null 2>&1
else
    echo "exec -w fd/7                 skipped: no exec"
fi
exec 7<&-

# 3. CVE-2019-5736 against the copy of skiff, three ways.
size=$(stat -c %s "$work/skiff")
# a) run: the program is #!/proc/self/exe. In the foreground the init
#    execs the sealed exec stub first, so that is what runs inside; with
#    --init skiff's binary runs inside, from its read-only view
#    (node:fixture has the dynamic loader skiff needs).
out=$(sk run --rm -v "$vol" node:fixture /probe/evil 2>&1)
if echo "$out" | grep -q "skiff-exec:" &&
    [ "$(sha256sum "$work/skiff" | cut -d' ' -f1)" = "$binary_sha" ]; then
    row cve-2019-5736-run blocked "the sealed exec stub ran inside, never skiff; binary unchanged" \
        "$(echo "$out" | oneline)"
else
    row cve-2019-5736-run ESCAPED "none" "$(echo "$out" | oneline)"
fi
out=$(sk run --rm --init -v "$vol" node:fixture /probe/evil 2>&1)
if echo "$out" | grep -q "unknown command" &&
    [ "$(sha256sum "$work/skiff" | cut -d' ' -f1)" = "$binary_sha" ]; then
    row cve-2019-5736-run-init blocked "skiff ran inside; binary on a read-only view (sealed_exe), unchanged" \
        "$(echo "$out" | oneline)"
else
    row cve-2019-5736-run-init ESCAPED "none" "$(echo "$out" | oneline)"
fi
# b) exec: an attacker in the container waits for skiff to enter.
if sk exec --help >/dev/null 2>&1; then
    sk run -d --name escape-5736 -v "$vol" node:fixture /probe/probe attack-exe "$size" 60 >/dev/null
    for _ in $(seq 1 100); do
        sk exec escape-5736 /probe/evil >/dev/null 2>&1
        sleep 0.2
        sk logs escape-5736 2>/dev/null | grep -q '^ATTEMPT|' && break
    done
    sk logs escape-5736 2>/dev/null | rows
    sk rm -f escape-5736 >/dev/null 2>&1
else
    echo "cve-2019-5736-exec           skipped: no exec"
fi
# c) run --init: PID 1 stays skiff's binary beside the program.
sk run --rm --init -v "$vol" busybox:fixture /probe/probe attack-pid1 "$size" 2>&1 | rows

# 4. The host after all of it.
host "skiff binary sha256" "$binary_sha" "$(sha256sum "$work/skiff" | cut -d' ' -f1)"
host hostname "$host_hostname" "$(hostname)"
host "network links" "$host_links" "$(ip -o link show | cut -d: -f2 | tr -d ' \n')"
host core_pattern "$host_core" "$(cat /proc/sys/kernel/core_pattern)"

echo "escape corpus: $blocked blocked, $escaped escaped"
[ $escaped = 0 ]
