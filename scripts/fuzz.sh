#!/bin/bash
# fuzz.sh [SECONDS] — run every cargo-fuzz target in fuzz/ for SECONDS each
# (default 60) and print executions per target. Not part of CI.
#
#   FUZZ_TARGETS="dockerfile unpack" scripts/fuzz.sh 300   only some targets
#
# Installs cargo-fuzz from crates.io when it is missing. cargo fuzz passes
# nightly-only flags (-Zsanitizer=address); RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them. The fuzz workspace builds into fuzz/target; corpora
# grow in fuzz/corpus/<target>, crashes land in fuzz/artifacts/<target>
# (all gitignored). A crash makes the script exit 1: turn it into a fix and
# a regression test in the normal suite.
set -euo pipefail
# Containers here stay off the default bridge network (no bridge, NAT or
# forwarding on this host's network): `--network` defaults to private.
export SKIFF_NETWORK=${SKIFF_NETWORK:-private}
repo=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
case $secs in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
export RUSTC_BOOTSTRAP=1
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cd "$repo/fuzz"
targets=${FUZZ_TARGETS:-$(cargo fuzz list)}

# Seeds, so the fuzzer starts from real inputs instead of nothing.
seed() { # seed TARGET NAME < content
    mkdir -p "corpus/$1"
    cat >"corpus/$1/seed-$2"
}
mkdir -p corpus
i=0
while IFS= read -r -d '' f; do
    i=$((i + 1))
    seed dockerfile "df$i" <"$f"
done < <(find "$repo/images" "$repo/rootfs-fixtures" -name 'Dockerfile*' -print0 2>/dev/null)
seed dockerfile multi <<'DF'
# syntax=docker/dockerfile:1
ARG BASE=busybox:fixture
FROM ${BASE} AS build
ARG A=$B
ENV X="${A:-def}" Y=${X:+set}
WORKDIR /app
COPY --chown=1:1 --from=0 a* /app/
RUN echo "$X" \
    && echo done
HEALTHCHECK --interval=5s CMD ["true"]
FROM build
COPY --from=build /app /app
CMD ["node", "server.js"]
DF
for r in busybox busybox:fixture 127.0.0.1:5000/team/api:1.4 \
    "docker.io/library/node@sha256:$(printf '0%.0s' {1..64})" localhost/a/b:c; do
    i=$((i + 1))
    printf '%s' "$r" | seed reference "r$i"
done
printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}],"annotations":{"a":"b"}}' | seed manifest manifest
printf '%s' '{"architecture":"amd64","os":"linux","created":"2026-01-01T00:00:00Z","config":{"Env":["PATH=/bin"],"Cmd":["sh"],"ExposedPorts":{"3000/tcp":{}},"Labels":{"a":"b"},"Healthcheck":{"Test":["CMD","true"],"Interval":5000000000}},"rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]},"history":[{"created_by":"x","empty_layer":true}]}' | seed manifest config
layer=$(mktemp -d)
trap 'rm -rf "$layer"' EXIT
mkdir -p "$layer/root/etc" "$layer/root/bin"
echo hi >"$layer/root/etc/motd"
ln -s ../etc/motd "$layer/root/bin/motd"
ln "$layer/root/etc/motd" "$layer/root/etc/motd.hard"
touch "$layer/root/etc/.wh.gone" "$layer/root/bin/.wh..wh..opq"
tar -C "$layer/root" --format=pax -cf - . | seed unpack plain
tar -C "$layer/root" --format=gnu -czf - . | seed unpack gzip

cargo fuzz build
status=0
summary=()
for t in $targets; do
    log=$(mktemp)
    echo "=== $t: ${secs}s ===" >&2
    # The unpacker makes and removes a directory tree per input: on tmpfs,
    # not on a disk that discards blocks on every rmdir.
    fuzz_tmp=${TMPDIR:-/tmp}
    [ "$t" = unpack ] && [ -d /dev/shm ] && [ -w /dev/shm ] && fuzz_tmp=/dev/shm
    if TMPDIR=$fuzz_tmp cargo fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -timeout=20 \
        -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        result=ok
    else
        result="CRASH (see fuzz/artifacts/$t)"
        status=1
        tail -n 40 "$log" >&2
    fi
    runs=$(grep -oE 'Done [0-9]+ runs' "$log" | tail -n 1 | grep -oE '[0-9]+' || true)
    [ -n "$runs" ] || runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1 || true)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || true)
    summary+=("$(printf '%-12s %12s execs  cov %-6s %s' "$t" "${runs:-?}" "${cov:-?}" "$result")")
    rm -f "$log"
done
echo
echo "fuzz.sh: ${secs}s per target"
printf '%s\n' "${summary[@]}"
exit $status
