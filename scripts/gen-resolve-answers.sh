#!/bin/sh
# Regenerate testdata/repo/answers/*.txt: what apk-tools 2.14 installs for each case of
# testdata/repo/cases.txt (`apk add --simulate` on an empty root, the case's repositories in a
# repositories file in order, no other repositories, no network). Needs an apk-tools 2.14 binary
# (APK=...; built from the v2.14.x sources with `make LUA=no static`, giving src/apk.static); CI
# does not run this: the answers are committed and tests/resolve_answers.rs compares melwrap
# with them.
#
#   APK=/path/to/apk.static scripts/gen-resolve-answers.sh
#
# Also regenerates the hand-made indexes (testdata/repo/hand/*/x86_64/APKINDEX.tar.gz) from
# hand/*.txt with melwrap's own index writer, signed with the test key hand/melwrap-test.rsa
# (made by `melwrap keygen --key-size 2048`); apk checks those signatures with hand/keys.
set -eu
cd "$(dirname "$0")/.."
APK=${APK:?set APK to an apk-tools 2.14 binary}
"$APK" --version | grep -q '^apk-tools 2\.14' || { echo "APK is not apk-tools 2.14" >&2; exit 2; }
data=$PWD/testdata/repo
cargo test -q --test resolve_answers make_hand_indexes -- --ignored >/dev/null
mkdir -p "$data/answers"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
grep -v '^#' "$data/cases.txt" | grep -v '^$' | while IFS='|' read -r name arch keys repos pkgs; do
    root=$tmp/$name
    mkdir -p "$root/etc/apk/keys" "$root/lib/apk/db" "$root/var/cache/apk"
    : > "$root/etc/apk/world"
    : > "$root/lib/apk/db/installed"
    : > "$root/lib/apk/db/triggers"
    # A repositories file keeps the order (apk puts each -X before the earlier ones).
    : > "$root/repositories"
    for r in $repos; do
        case $r in
            @*=*) echo "${r%%=*} $data/${r#*=}" >> "$root/repositories" ;;
            *) echo "$data/$r" >> "$root/repositories" ;;
        esac
    done
    set --
    if [ "$keys" = - ]; then
        set -- "$@" --allow-untrusted
    else
        set -- "$@" --keys-dir "$data/$keys"
    fi
    # shellcheck disable=SC2086 # the package list is split on purpose
    if "$APK" add --simulate --root "$root" --no-network --no-progress --no-cache \
        --repositories-file "$root/repositories" --arch "$arch" "$@" $pkgs >"$tmp/out" 2>&1; then
        # `Installing NAME[@TAG] (VERSION)`: the tag is apk's display of a pinned package.
        sed -n 's/^([0-9]*\/[0-9]*) Installing \([^ @]*\)\(@[^ ]*\)\{0,1\} (\(.*\))$/\1-\3/p' "$tmp/out" |
            LC_ALL=C sort >"$data/answers/$name.txt"
    else
        { echo "ERROR (apk-tools refused; its words follow)"; cat "$tmp/out"; } >"$data/answers/$name.txt"
    fi
    echo "$name: $(head -c 60 "$data/answers/$name.txt" | head -1)"
done
