#!/bin/sh
# Regenerate testdata/repo/answers/*.txt: what apk-tools 2.14 installs for each case of
# testdata/repo/cases.txt (`apk add --simulate` on an empty root, the case's repositories in a
# repositories file in order, no other repositories, no network). Needs an apk-tools 2.14 binary
# (APK=...; built from the v2.14.x sources with `make LUA=no static`, giving src/apk.static); CI
# does not run this: the answers are committed and tests/it/repo/resolve_answers.rs compares melwrap
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
# sha1-signed: hand/edge's index re-signed by openssl with `.SIGN.RSA.` (SHA-1), the older
# signature apk-tools still accepts; made without melwrap so the format is checked independently.
mkdir -p "$data/sha1-signed/x86_64"
python3 - "$data" <<'PY'
import gzip, io, subprocess, sys, tarfile, zlib
data = sys.argv[1]
signed = open(f"{data}/hand/edge/x86_64/APKINDEX.tar.gz", "rb").read()
d = zlib.decompressobj(31)
d.decompress(signed)
rest = d.unused_data  # everything after the SHA-256 signature member
sig = subprocess.run(["openssl", "dgst", "-sha1", "-sign", f"{data}/hand/melwrap-test.rsa"],
                     input=rest, capture_output=True, check=True).stdout
buf = io.BytesIO()
t = tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT)
ti = tarfile.TarInfo(".SIGN.RSA.melwrap-test.rsa.pub")
ti.size, ti.mode = len(sig), 0o644
t.addfile(ti, io.BytesIO(sig))
member = buf.getvalue()[: 512 + (len(sig) + 511) // 512 * 512]  # no end-of-archive blocks
out = gzip.compress(member, mtime=0) + rest
open(f"{data}/sha1-signed/x86_64/APKINDEX.tar.gz", "wb").write(out)
PY
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
