#!/bin/bash
# test.sh [CARGO TEST ARGS...] — the test command. On Debian 12, as root:
#   1. installs the packages the tests use (apt-get update only if one is missing)
#   2. builds the fixtures (scripts/fixtures.sh), exports SKIFF_FIXTURES
#   3. cargo build, cargo test (its output is also kept in target/test-logs/)
#   4. scripts/test-cgroup-v2.sh: skiff on cgroup v2 in a qemu VM (SKIP_VM=1 skips it)
#   5. scripts/conformance.sh: the OCI runtime suite, runc and skiff-runc
#      (when ../shared/conformance is there; SKIP_CONFORMANCE=1 skips it)
# Exits non-zero if any step fails; the last lines are cargo test's results.
set -euo pipefail
# Containers here stay off the default bridge network (no bridge, NAT or
# forwarding on this host's network): `--network` defaults to private.
export SKIFF_NETWORK=${SKIFF_NETWORK:-private}
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. rootfs-fixtures/lib.sh

step() { printf '\n=== %s ===\n' "$*"; }

[ "$(id -u)" = 0 ] || die "run as root: the tests create namespaces, cgroups and mounts"
command -v cargo >/dev/null || die "cargo not found: install Rust first (https://rustup.rs)"

step "packages"
# busybox-static: fixtures; skopeo/umoci/podman/buildah: read skiff's OCI layout
# in interoperability tests; crun/runc: reference runtimes; iproute2: network
# checks; gcc: cargo's linker; binutils: strip; xz-utils: kernel modules.
ensure_packages busybox-static skopeo umoci crun runc podman buildah containerd \
    iproute2 ca-certificates gcc libc6-dev binutils xz-utils \
    docker-registry apache2-utils openssl iptables python3 prometheus
log "all packages present"
# tests/kube.rs checks generated manifests with PyPI's kubernetes-validate.
command -v kubernetes-validate >/dev/null ||
    python3 -m pip install --quiet kubernetes-validate ||
    log "cannot install kubernetes-validate from PyPI (tests/kube.rs will say so)"

step "fixtures"
t0=$SECONDS
scripts/fixtures.sh
export SKIFF_FIXTURES=$repo/.fixtures
log "fixtures ready in $((SECONDS - t0))s (SKIFF_FIXTURES=$SKIFF_FIXTURES)"

step "cargo build"
cargo build
target=${CARGO_TARGET_DIR:-$repo/target}

failed=()
step "cargo test"
mkdir -p "$target/test-logs"
test_log=$target/test-logs/cargo-test.log
cargo test --no-fail-fast "$@" 2>&1 | tee "$test_log" || failed+=("cargo test")

if [ "${SKIP_VM:-0}" = 1 ]; then
    log "SKIP_VM=1: cgroup v2 VM test skipped"
else
    step "cgroup v2 (qemu VM)"
    SKIFF=${SKIFF:-$target/debug/skiff} scripts/test-cgroup-v2.sh || failed+=("cgroup v2 VM test")
fi

# The OCI runtime suite, skiff-runc next to runc in the same run, when its
# sources are at hand (../shared/conformance or $CONFORMANCE_SRC): fails if
# skiff-runc fails a test file that runc passes in full.
conf_src=${CONFORMANCE_SRC:-$repo/../shared/conformance/runtime-tools}
if [ "${SKIP_CONFORMANCE:-0}" = 1 ]; then
    log "SKIP_CONFORMANCE=1: OCI conformance suite skipped"
elif [ ! -d "$conf_src" ]; then
    log "no runtime-tools sources at $conf_src: OCI conformance suite skipped"
else
    step "OCI conformance (runtime-tools, runc and skiff-runc)"
    CONFORMANCE_SRC=$conf_src scripts/conformance.sh >"$target/test-logs/conformance.log" 2>&1 ||
        failed+=("OCI conformance")
    tail -n 3 "$target/test-logs/conformance.log"
fi

# Repeat cargo test's closing lines last, where CI reads them.
step "summary"
if [ ${#failed[@]} -gt 0 ]; then log "FAILED: ${failed[*]}"; else log "all steps passed"; fi
echo "cargo test results (full log: $test_log):"
grep -E '^test result:|^error(\[|:)|^---- .* ----$' "$test_log" | tail -n 60 || true
# One total over every test binary, last, in the plain form CI reads.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$test_log"
[ ${#failed[@]} -eq 0 ]
