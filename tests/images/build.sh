#!/usr/bin/env bash
# Builds OCI image-layout archives without a container engine, for `ctr -n k8s.io images import FILE`:
#
#   tests/images/build.sh {pause|mariadb|operator}...
#
#   pause     localhost/pause:3.10                      static C pause program
#   mariadb   localhost/mariadb:10.11                   MariaDB 10.11 server from Debian bookworm, mysql = 999:999
#   operator  localhost/mysqlinstance-operator:VERSION  the static musl binary only (VERSION from Cargo.toml)
#
# Prints the absolute path of each archive on stdout, one line per requested image, in order. Archives are
# cached by a hash of their inputs in ${MYI_CACHE:-$HOME/.cache/mysqlinstance-operator}/images/: a second run
# with the same inputs builds nothing. One log line per step on stderr; tool output goes to images/build.log.
# Heavy builds (cargo) take the machine-wide lock ${HEAVY_LOCK:-/tmp/work/heavy.lock}.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${MYI_CACHE:-$HOME/.cache/mysqlinstance-operator}/images
LOG=$CACHE/build.log
HEAVY_LOCK=${HEAVY_LOCK:-/tmp/work/heavy.lock}
LOG_START=0
MUSL=x86_64-unknown-linux-musl
IMAGE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { echo "images: $*" >&2; }
die() {
    log "error: $*"
    if [ -f "$LOG" ] && [ "$(stat -c %s "$LOG")" -gt "$LOG_START" ]; then
        log "last lines of $LOG:"
        tail -c +$((LOG_START + 1)) "$LOG" | tail -n 30 >&2
    fi
    exit 1
}
# Runs a noisy command with its output in the log.
quiet() { echo "+ $*" >>"$LOG"; "$@" >>"$LOG" 2>&1; }
sha() { sha256sum | cut -c1-16; }
# The hash of this script, the packer and any extra text on stdin.
key() { { cat "$HERE/build.sh" "$HERE/oci.py"; cat; } | sha; }
oci() { python3 "$HERE/oci.py" "$@"; }

need_apt() { # need_apt COMMAND PACKAGE: installs PACKAGE from Debian when COMMAND is missing
    command -v "$1" >/dev/null && return
    log "installing $2 (apt-get)"
    quiet apt-get update
    DEBIAN_FRONTEND=noninteractive quiet apt-get install -y --no-install-recommends "$2" || die "cannot install $2"
}

# Keeps only the newest archive of an image: ARCHIVE is the one just built.
prune() { find "$CACHE" -maxdepth 1 \( -name "$1-*.tar" -o -name "$1-*.tar.tmp" \) ! -path "$2" -delete; }

# ---------------------------------------------------------------------------------------------------- pause
build_pause() {
    local k out root=$WORK/pause
    k=$({ cat "$HERE/pause/pause.c"; gcc --version | head -n1; } | key)
    out=$CACHE/pause-3.10-$k.tar
    [ -f "$out" ] && { log "pause: cached $out"; echo "$out"; return; }
    log "pause: gcc -static -Os pause.c"
    mkdir "$root"
    quiet gcc -static -Os -s -Wall -o "$root/pause" "$HERE/pause/pause.c" || die "pause: gcc failed"
    chmod 0755 "$root/pause"
    log "pause: packing localhost/pause:3.10"
    oci pack --root "$root" --name localhost/pause:3.10 --out "$out" --user 65535:65535 --env "PATH=$IMAGE_PATH" \
        --entrypoint '["/pause"]'
    rm -rf "$root"
    prune pause-3.10 "$out"
    echo "$out"
}

# ---------------------------------------------------------------------------------------------------- mariadb
# The first URI of the host's apt sources that serves SUITE (deb822 .sources and one-line .list files).
apt_uri() {
    local suite=$1 f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v suite="$suite" '
            /^[[:space:]]*#/ { next }
            /^deb[[:space:]]/ { sub(/\[[^]]*\][[:space:]]*/, ""); if ($3 == suite) { print $2; exit } next }
            /^URIs:/ { uri = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) s = 1 }
            /^[[:space:]]*$/ { if (s && uri != "") { print uri; exit } uri = ""; s = 0 }
            END { if (s && uri != "") print uri }' "$f"
    done | head -n1
}

# The apt candidates of mariadb-server and mariadb-client, one a line. apt-cache takes 0.6 s here (no pkgcache),
# so the answer is memoised on the state of the apt lists and sources.
candidates() {
    local sig memo=$CACHE/.apt-candidates
    sig=$(stat -c '%n %s %Y' /var/lib/apt/lists/*Packages* /etc/apt/sources.list* /etc/apt/preferences* \
        2>/dev/null | sha)
    if [ -f "$memo" ] && [ "$(head -n1 "$memo")" = "$sig" ]; then
        tail -n +2 "$memo"
        return
    fi
    { echo "$sig"; apt-cache policy mariadb-server mariadb-client 2>/dev/null | awk '/Candidate:/ { print $2 }'; } \
        >"$memo.tmp"
    mv "$memo.tmp" "$memo"
    tail -n +2 "$memo"
}

build_mariadb() {
    local mirror security versions version k out root installed old_uid old_gid
    mirror=$(apt_uri bookworm)
    mirror=${mirror:-http://deb.debian.org/debian}
    security=$(apt_uri bookworm-security)
    versions=$(candidates)
    version=$(head -n1 <<<"$versions")
    if [ -z "$version" ] || [ "$version" = "(none)" ]; then
        log "mariadb: apt-get update (no candidate for mariadb-server yet)"
        quiet apt-get update
        versions=$(candidates)
        version=$(head -n1 <<<"$versions")
    fi
    case $version in 1:10.11.*) ;; *) die "mariadb: apt offers mariadb-server '$version', not 10.11" ;; esac
    k=$(printf '%s\n' "$mirror" "$security" "$versions" | key)
    out=$CACHE/mariadb-10.11-$k.tar
    if [ -f "$out" ]; then
        log "mariadb: cached $out ($(cat "$out.version" 2>/dev/null || echo "mariadb-server $version"))"
        echo "$out"
        return
    fi
    need_apt debootstrap debootstrap
    root=$WORK/mariadb-rootfs
    if grep -q " $root[/ ]" /proc/self/mountinfo; then die "mariadb: something is mounted under $root"; fi
    rm -rf "$root"
    mkdir -p "$CACHE/debs"
    # A private mount namespace: the /proc and /sys that debootstrap and apt mount in the chroot vanish with it.
    log "mariadb: debootstrap bookworm from $mirror (mariadb-server $version expected, ~1.5 min)"
    quiet unshare --mount --propagation private debootstrap --variant=minbase --cache-dir="$CACHE/debs" \
        --include=mariadb-server,mariadb-client bookworm "$root" "$mirror" || die "mariadb: debootstrap failed"
    {
        echo "deb $mirror bookworm main"
        echo "deb $mirror bookworm-updates main"
        [ -z "$security" ] || echo "deb $security bookworm-security main"
    } >"$root/etc/apt/sources.list"
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"  # never start services in the chroot
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    log "mariadb: apt-get dist-upgrade in the chroot (bookworm-updates and security)"
    quiet unshare --mount --propagation private sh -c '
        mount -t proc proc "$1/proc" && chroot "$1" sh -c "
            export DEBIAN_FRONTEND=noninteractive
            apt-get update && apt-get -y -o Dpkg::Options::=--force-confold dist-upgrade && apt-get clean"' \
        sh "$root" || die "mariadb: apt-get dist-upgrade in the chroot failed"
    rm -f "$root/usr/sbin/policy-rc.d"

    log "mariadb: mysql user and group to 999:999, data directory emptied, docs/man/locales/apt caches removed"
    old_uid=$(chroot "$root" id -u mysql)
    old_gid=$(chroot "$root" id -g mysql)
    if [ "$old_gid" != 999 ]; then
        chroot "$root" groupmod -g 999 mysql
        find "$root" -xdev -gid "$old_gid" -exec chgrp -h 999 {} +
    fi
    if [ "$old_uid" != 999 ]; then
        chroot "$root" usermod -u 999 -g 999 mysql
        find "$root" -xdev -uid "$old_uid" -exec chown -h 999 {} +
    fi
    # The operator initialises its own data directory (a volume mounted here) with mariadb-install-db.
    rm -rf "$root/var/lib/mysql" "$root/run/mysqld"
    install -d -m 0755 -o 999 -g 999 "$root/var/lib/mysql" "$root/run/mysqld"
    find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$root"/usr/share/{man,info,locale,lintian,linda}/* "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* \
        "$root"/var/cache/debconf/*-old "$root"/var/cache/ldconfig/aux-cache "$root"/var/lib/dpkg/*-old "$root"/var/log/* "$root"/tmp/* "$root"/root/.??*
    # The runtime bind-mounts these; do not ship this machine's.
    : >"$root/etc/resolv.conf"
    : >"$root/etc/hostname"
    printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"

    local tool missing=""
    for tool in mariadbd mariadb-install-db mariadb mariadb-dump mariadb-admin mysql mysqldump; do
        chroot "$root" env PATH="$IMAGE_PATH" sh -c "command -v $tool" >/dev/null || missing="$missing $tool"
    done
    [ -z "$missing" ] || die "mariadb: missing from the image:$missing"
    installed=$(chroot "$root" dpkg-query -W -f '${Version}' mariadb-server)
    installed="mariadb-server $installed (mariadbd $(chroot "$root" mariadbd --version | sed 's/.* Ver \([^ ]*\).*/\1/'))"
    log "mariadb: installed $installed, $(du -sm "$root" | cut -f1) MB"
    case $installed in "mariadb-server $version "*) ;; *) log "mariadb: note: the host's apt candidate is $version" ;; esac

    log "mariadb: packing localhost/mariadb:10.11"
    oci pack --root "$root" --name localhost/mariadb:10.11 --out "$out" --user 999:999 --env "PATH=$IMAGE_PATH"
    echo "$installed" >"$out.version"
    rm -rf "$root"
    prune mariadb-10.11 "$out"
    find "$CACHE" -maxdepth 1 -name 'mariadb-10.11-*.tar.version' ! -path "$out.version" -delete
    echo "$out"
}

# ---------------------------------------------------------------------------------------------------- operator
operator_key() {
    {
        cd "$REPO"
        cat Cargo.toml Cargo.lock
        find src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
        rustc -V
    } | key
}

# The sha256 of the binary inside an operator image archive.
oci_binary_sha() {
    python3 "$HERE/oci.py" show "$1" | awk '$4 == "mysqlinstance-operator" {print $5}'
}

build_operator() {
    local version k out bin root
    version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO/Cargo.toml" | head -n1)
    [ -n "$version" ] || die "operator: no version in Cargo.toml"
    k=$(operator_key)
    out=$CACHE/mysqlinstance-operator-$version-$k.tar
    bin=$REPO/target/$MUSL/release/mysqlinstance-operator
    if [ -f "$out" ]; then
        # The Dockerfile and `make demo` use the binary in target/: a fresh checkout with a warm cache gets the
        # very binary of the cached image (the inputs are the same), not a 7-minute rebuild.
        if [ ! -x "$bin" ] || [ "$(oci_binary_sha "$out")" != "$(sha256sum "$bin" | cut -d' ' -f1)" ]; then
            mkdir -p "$(dirname "$bin")"
            python3 "$HERE/oci.py" extract "$out" mysqlinstance-operator "$bin" || die "operator: cannot extract the binary from $out"
            log "operator: $bin taken from the cached image"
        fi
        log "operator: cached $out"; echo "$out"; return
    fi
    need_apt musl-gcc musl-tools
    if ! rustup target list --installed 2>/dev/null | grep -qx $MUSL; then
        log "operator: rustup target add $MUSL"
        quiet rustup target add $MUSL || die "operator: cannot add the $MUSL target"
    fi
    mkdir -p "$(dirname "$HEAVY_LOCK")"
    log "operator: cargo build --release --target $MUSL (waits for $HEAVY_LOCK)"
    (cd "$REPO" && CC_x86_64_unknown_linux_musl=musl-gcc quiet flock "$HEAVY_LOCK" \
        cargo build --release --locked --target $MUSL --bin mysqlinstance-operator) || die "operator: cargo build failed"
    # src/ may be edited while cargo runs: the image must match the key it is cached under.
    if [ "$(operator_key)" != "$k" ]; then
        log "operator: src/, Cargo.toml or Cargo.lock changed during the build; building again"
        build_operator
        return
    fi
    file -b "$bin" | grep -Eq 'statically linked|static-pie linked' || die "operator: $bin is not static: $(file -b "$bin")"
    "$bin" version | grep -qx "mysqlinstance-operator $version" || die "operator: '$bin version' did not say $version"
    root=$WORK/operator
    mkdir "$root"
    install -m 0755 "$bin" "$root/mysqlinstance-operator"
    log "operator: packing localhost/mysqlinstance-operator:$version ($(du -m "$bin" | cut -f1) MB binary)"
    oci pack --root "$root" --name "localhost/mysqlinstance-operator:$version" --out "$out" --user 65532:65532 \
        --env "PATH=$IMAGE_PATH" --entrypoint '["/mysqlinstance-operator"]' --cmd '["run"]'
    rm -rf "$root"
    prune "mysqlinstance-operator-$version" "$out"
    echo "$out"
}

# ---------------------------------------------------------------------------------------------------- main
main() {
    [ $# -gt 0 ] || { sed -n '2,13s/^# \{0,1\}//p' "$0" >&2; exit 2; }
    for image in "$@"; do
        case $image in pause | mariadb | operator) ;; *) log "unknown image '$image' (pause, mariadb or operator)"; exit 2 ;; esac
    done
    mkdir -p "$CACHE"
    [ ! -f "$LOG" ] || [ "$(stat -c %s "$LOG")" -lt 50000000 ] || mv "$LOG" "$LOG.old"
    LOG_START=$(stat -c %s "$LOG" 2>/dev/null || echo 0)
    WORK=$(mktemp -d "$CACHE/work.XXXXXX")  # scratch space of this run (root file systems), removed at exit
    trap 'rm -rf "$WORK"' EXIT
    for image in "$@"; do
        # One build of an image at a time; a second caller waits and then finds it cached.
        exec {lock}>"$CACHE/.$image.lock"
        flock "$lock"
        "build_$image"
        exec {lock}>&-
    done
}

main "$@"; exit  # on one line: bash reads no further, so editing this file cannot disturb a running build
