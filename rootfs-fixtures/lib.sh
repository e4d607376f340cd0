# Shared helpers for the fixture recipes and the test scripts (sourced, not run).
# shellcheck shell=bash

# Fixed timestamp for every file of a fixture, so rebuilds are byte-identical.
FIXTURE_EPOCH=946684800 # 2000-01-01T00:00:00Z

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Run an apt/dpkg command, waiting while another apt/dpkg holds the lock.
apt_locked() {
    local i out
    for i in $(seq 1 60); do
        if out=$("$@" 2>&1); then
            printf '%s\n' "$out" | tail -n 3 >&2
            return 0
        fi
        if grep -qiE 'could not get lock|unable to acquire|lock-frontend|is another process using it' <<<"$out"; then
            log "apt is locked by another process, waiting ($i/60)"
            sleep 10
            continue
        fi
        printf '%s\n' "$out" >&2
        return 1
    done
    return 1
}

# is_static FILE : true for a statically linked executable.
is_static() { case $(ldd "$1" 2>&1 || true) in *"not a dynamic"*) return 0 ;; *) return 1 ;; esac; }

pkg_installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }
pkg_has_candidate() { case $(apt-cache policy "$1" 2>/dev/null) in *"Candidate: ("* | "") return 1 ;; *) return 0 ;; esac; }

# ensure_packages PKG... : install the missing ones; `apt-get update` only when
# something is missing and apt does not know it (or the install fails on stale lists).
ensure_packages() {
    local missing=() p need_update=0
    for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || die "packages missing (${missing[*]}) and not root to install them"
    log "installing: ${missing[*]}"
    for p in "${missing[@]}"; do pkg_has_candidate "$p" || need_update=1; done
    export DEBIAN_FRONTEND=noninteractive
    local install=(apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}")
    if [ $need_update = 1 ]; then apt_locked apt-get update -q; fi
    if ! apt_locked "${install[@]}"; then
        [ $need_update = 1 ] && return 1
        apt_locked apt-get update -q
        apt_locked "${install[@]}"
    fi
}

# write_users DIR : /etc/passwd and /etc/group shared by all fixtures.
write_users() {
    local d=$1
    mkdir -p "$d/etc"
    cat >"$d/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000:node:/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
    cat >"$d/etc/group" <<'EOF'
root:x:0:
node:x:1000:
nogroup:x:65534:
EOF
    chmod 644 "$d/etc/passwd" "$d/etc/group"
}

# normalize_tree DIR : fixed mtimes everywhere (symlinks included).
normalize_tree() {
    find "$1" -depth -exec touch -h -d "@$FIXTURE_EPOCH" {} +
}

# pack_tar DIR OUT.tar : sorted entries named without "./" (as docker export
# writes them), numeric owners as in DIR, fixed mtimes.
pack_tar() {
    local dir=$1 out=$2 top
    mapfile -t top < <(cd "$dir" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | LC_ALL=C sort)
    tar --create --file "$out.tmp" --directory "$dir" --format=gnu \
        --sort=name --numeric-owner --mtime="@$FIXTURE_EPOCH" -- "${top[@]}"
    mv -f "$out.tmp" "$out"
}
