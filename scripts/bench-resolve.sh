#!/bin/sh
# Resolution speed: `melwrap resolve` against apk-tools 2.14's `apk add --simulate` (the whole
# process, as the issue asks) on the committed real Alpine indexes (about 5000 packages each),
# both run in the same loop here so the ratio is measured under the same load. APK may name an
# apk-tools 2.14 binary (built from source with `make LUA=no static`); without it only melwrap's
# own times are printed.
#
#   scripts/bench-resolve.sh [ROUNDS]        (default 20)
set -eu
cd "$(dirname "$0")/.."
rounds=${1:-20}
cargo build --release -q
mw=$PWD/target/release/melwrap
data=$PWD/testdata/repo
APK=${APK:-}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/etc/apk/keys" "$root/lib/apk/db" "$root/var/cache/apk"
: > "$root/etc/apk/world"; : > "$root/lib/apk/db/installed"; : > "$root/lib/apk/db/triggers"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# name|arch|repository|packages
cases='alpine-3.16 build-base python3|x86_64|alpine-3.16|build-base python3
alpine-3.16 alpine-base|x86_64|alpine-3.16|alpine-base
alpine-3.17 build-base (aarch64)|aarch64|alpine-3.17|build-base'

printf '%-36s %10s %10s %8s\n' case melwrap_ms apk_ms ratio
echo "$cases" | while IFS='|' read -r name arch repo pkgs; do
    set --
    for p in $pkgs; do set -- "$@" --package-append "$p"; done
    # Same answer first (the bench is only meaningful if both resolve the same set).
    "$mw" -q resolve --arch "$arch" -r "$data/$repo" --ignore-signatures "$@" >"$root/mw.txt"
    t0=$(now_ms)
    i=0
    while [ $i -lt "$rounds" ]; do
        "$mw" -q resolve --arch "$arch" -r "$data/$repo" --ignore-signatures "$@" >/dev/null
        i=$((i + 1))
    done
    t1=$(now_ms)
    mw_ms=$(awk -v a="$t0" -v b="$t1" -v n="$rounds" 'BEGIN { printf "%.1f", (b - a) / n }')
    apk_ms=- ratio=-
    if [ -n "$APK" ]; then
        # shellcheck disable=SC2086 # the package list is split on purpose
        "$APK" add --simulate --root "$root" --no-network --no-progress --no-cache \
            --repositories-file /dev/null --allow-untrusted --arch "$arch" -X "$data/$repo" $pkgs |
            sed -n 's/^([0-9]*\/[0-9]*) Installing \([^ @]*\)\(@[^ ]*\)\{0,1\} (\(.*\))$/\1-\3/p' |
            LC_ALL=C sort >"$root/apk.txt"
        cmp -s "$root/mw.txt" "$root/apk.txt" || { echo "$name: answers differ" >&2; exit 1; }
        t0=$(now_ms)
        i=0
        while [ $i -lt "$rounds" ]; do
            # shellcheck disable=SC2086
            "$APK" add --simulate --root "$root" --no-network --no-progress --no-cache \
                --repositories-file /dev/null --allow-untrusted --arch "$arch" \
                -X "$data/$repo" $pkgs >/dev/null
            i=$((i + 1))
        done
        t1=$(now_ms)
        apk_ms=$(awk -v a="$t0" -v b="$t1" -v n="$rounds" 'BEGIN { printf "%.1f", (b - a) / n }')
        ratio=$(awk -v m="$mw_ms" -v a="$apk_ms" 'BEGIN { printf "%.2f", m / a }')
    fi
    printf '%-36s %10s %10s %8s\n' "$name" "$mw_ms" "$apk_ms" "$ratio"
done
echo "ratio = melwrap / apk-tools per process (below 1: melwrap is faster); $rounds rounds each"
