#!/bin/sh
# Guests (docs/guests.md), measured in one run against baselines from the same run:
#
# 1. Starting a build in a cached guest of N packages (default 100: the host's busybox plus
#    N-1 tiny generated packages, in a local signed repository) against the same build with
#    `--rootfs host`. The step is `true`, so the difference is the guest's cost per build:
#    resolving from the warm apk cache, the manifest check, the per-build overlay and its
#    removal. Issue 14's budget: at most 50 ms more.
# 2. Assembling that guest from a warm package cache (`melwrap rootfs --no-network`) against
#    `apk add --initdb --no-scripts` of the same packages, when an apk-tools 2.14 binary is
#    available ($APK, default /work/ref/apk-tools/src/apk.static: clone
#    https://github.com/alpinelinux/apk-tools there, check out a v2.14.x tag and run
#    `make LUA=no static`); skipped with a message otherwise. Fair by construction: both read
#    the packages in place from the same local repository (nothing is downloaded or copied into
#    a cache), both check the index signature with the same public key (apk through
#    --keys-dir, no --allow-untrusted) and every package's checksum, both write into a fresh
#    directory, both run rootless in a fresh `unshare -Ur` when allowed (else both directly),
#    and their runs alternate so load falls on both alike.
#
# 3. One sandbox start over the cached guest, at the bwrap level (each in a fresh
#    `unshare -Urm`, rootless): read-only bind (the baseline), melwrap's kernel overlay (mounted
#    before bwrap, upper on disk) and, when $BWRAP_NEW names a bubblewrap >= 0.9, its own
#    `--overlay-src DIR --tmp-overlay /` (upper in memory).
#
# Prints the median of R runs (default 7) of each, the difference and the ratios.
set -eu
N=${N:-100}
R=${R:-7}
APK=${APK:-/work/ref/apk-tools/src/apk.static}
cd "$(dirname "$0")/.."
cargo build --release -q --example pack
cargo build --release -q
M=$PWD/target/release/melwrap
W=$(mktemp -d)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$W"' EXIT; echo "work dir: $W"
BB=$(command -v busybox || true)
if [ -z "$BB" ]; then
    echo "no busybox on this host to put in the guest: nothing measured"
    exit 0
fi

"$M" keygen -q --key-size 2048 "$W/bench.rsa"
repo="$W/repo/x86_64"
mkdir -p "$repo"
# busybox-host: the host's busybox and its libraries, /bin/sh.
d="$W/dest/busybox-host"
mkdir -p "$d/bin"
cp "$BB" "$d/bin/busybox"
ln -s busybox "$d/bin/sh"
for lib in $(ldd "$BB" 2>/dev/null | grep -o '/[^ ]*'); do
    mkdir -p "$d$(dirname "$lib")"
    cp -L "$lib" "$d$lib"
done
./target/release/examples/pack "$d" "$W/repo" --name busybox-host --no-index >/dev/null
i=1
while [ $i -lt "$N" ]; do
    d="$W/dest/p$i"
    mkdir -p "$d/usr/share/p$i" "$d/usr/bin"
    printf 'data %s\n' $i > "$d/usr/share/p$i/data"
    printf '#!/bin/sh\necho p%s\n' $i > "$d/usr/bin/p$i"
    chmod 755 "$d/usr/bin/p$i"
    ./target/release/examples/pack "$d" "$W/repo" --name "p$i" --no-index >/dev/null
    i=$((i + 1))
done
"$M" index -q --signing-key "$W/bench.rsa" "$repo"

packages="      - busybox-host
$(i=1; while [ $i -lt "$N" ]; do printf '      - p%s\n' $i; i=$((i + 1)); done)"
mkdir -p "$W/src"
cat > "$W/src/melange.yaml" <<EOF
package:
  name: bench-guest
  version: 1.0.0
  epoch: 0
  description: one step that does nothing
  copyright:
    - license: MIT
environment:
  contents:
    repositories:
      - $W/repo
    keyring:
      - $W/bench.rsa.pub
    packages:
$packages
pipeline:
  - runs: "true"
EOF

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
now() { date +%s%N; }
build() {
    rm -rf "$W/out"
    t0=$(now)
    "$M" build -q --arch x86_64 --apk-cache-dir "$W/apk" --cache-dir "$W/cache" \
        --out-dir "$W/out" "$@" "$W/src/melange.yaml" >/dev/null
    t1=$(now)
    echo $(( (t1 - t0) / 1000000 ))
}

# Warm the apk cache and assemble the guest once; then both kinds alternate.
build >/dev/null
host=""
guest=""
k=0
while [ $k -lt "$R" ]; do
    host="$host $(build --rootfs host)"
    guest="$guest $(build --no-network)"
    k=$((k + 1))
done
h=$(echo "$host" | tr ' ' '\n' | grep . | median)
g=$(echo "$guest" | tr ' ' '\n' | grep . | median)
echo "build, --rootfs host:         ${h} ms (median of $R)"
echo "build, cached guest ($N pkgs): ${g} ms (median of $R)"
awk -v h="$h" -v g="$g" 'BEGIN {
    printf "guest start cost: %+d ms (budget 50 ms); ratio guest/host: %.2f\n", g - h, g / h
}'

# Both the same way: rootless in a fresh user namespace when allowed.
if unshare -Ur true 2>/dev/null; then AS="unshare -Ur"; how="rootless (unshare -Ur)"; else AS=""; how="as $(id -un)"; fi
names="busybox-host $(i=1; while [ $i -lt "$N" ]; do printf 'p%s ' $i; i=$((i + 1)); done)"
mkdir -p "$W/keys"
cp "$W/bench.rsa.pub" "$W/keys/"
assemble() {
    rm -rf "$W/root"
    t0=$(now)
    $AS "$M" rootfs -q --arch x86_64 --no-network --apk-cache-dir "$W/apk" \
        "$W/src/melange.yaml" "$W/root" >/dev/null
    t1=$(now)
    echo $(( (t1 - t0) / 1000000 ))
}
apk_add() {
    rm -rf "$W/root"
    t0=$(now)
    # shellcheck disable=SC2086 # one word per package
    $AS "$APK" add -q --root "$W/root" --initdb --no-scripts --no-cache --keys-dir "$W/keys" \
        --repository "$W/repo" --arch x86_64 $names >/dev/null 2>"$W/apk.err" ||
        { echo "apk add failed:" >&2; cat "$W/apk.err" >&2; exit 1; }
    t1=$(now)
    echo $(( (t1 - t0) / 1000000 ))
}
if [ -x "$APK" ]; then
    echo "assembly, both $how: $("$APK" --version)"
    assemble >/dev/null
    apk_add >/dev/null
    ta=""
    tp=""
    k=0
    while [ $k -lt "$R" ]; do
        ta="$ta $(assemble)"
        tp="$tp $(apk_add)"
        k=$((k + 1))
    done
    a=$(echo "$ta" | tr ' ' '\n' | grep . | median)
    p=$(echo "$tp" | tr ' ' '\n' | grep . | median)
    echo "melwrap rootfs from a warm apk cache ($N pkgs): ${a} ms (median of $R)"
    echo "apk add --initdb --no-scripts (same packages):  ${p} ms (median of $R)"
    awk -v a="$a" -v p="$p" 'BEGIN { printf "ratio melwrap/apk: %.2f (%+d ms)\n", a / p, a - p }'
else
    a=$(k=0; while [ $k -lt "$R" ]; do assemble; k=$((k + 1)); done | median)
    echo "melwrap rootfs from a warm apk cache ($N pkgs): ${a} ms (median of $R)"
    echo "apk-tools not found at $APK (set APK=...): no assembly comparison"
fi

# 3. Sandbox starts at the bwrap level.
G=$(ls -d "$W"/apk/guests/*/ | head -1)
S=$(mktemp -d -p "${TMPDIR:-/tmp}")
mkdir "$S/u" "$S/w" "$S/r"
STEP="--dev /dev --proc /proc --tmpfs /tmp --unshare-user --uid 0 --gid 0 --unshare-pid /bin/sh -c true"
start() {
    t0=$(now)
    unshare -Urm sh -c "$1" >/dev/null 2>&1
    t1=$(now)
    echo $(( (t1 - t0) / 1000 ))
}
med() { k=0; while [ $k -lt "$R" ]; do start "$1"; k=$((k + 1)); done | median; }
if unshare -Urm true 2>/dev/null; then
    ro=$(med "exec bwrap --ro-bind $G / $STEP")
    ov=$(med "mount -t overlay o -o lowerdir=$G,upperdir=$S/u,workdir=$S/w,userxattr $S/r && exec bwrap --bind $S/r / $STEP")
    echo "sandbox start, read-only guest:          ${ro} us (median of $R)"
    echo "sandbox start, kernel overlay (on disk): ${ov} us"
    awk -v r="$ro" -v o="$ov" 'BEGIN { printf "ratio overlay/read-only: %.2f (%+d us)\n", o / r, o - r }'
    if [ -n "${BWRAP_NEW:-}" ] && [ -x "$BWRAP_NEW" ]; then
        v=$("$BWRAP_NEW" --version)
        nr=$(med "exec $BWRAP_NEW --ro-bind $G / $STEP")
        nk=$(med "mount -t overlay o -o lowerdir=$G,upperdir=$S/u,workdir=$S/w,userxattr $S/r && exec $BWRAP_NEW --bind $S/r / $STEP")
        tb=$(med "exec $BWRAP_NEW --overlay-src $G --tmp-overlay / $STEP")
        echo "sandbox start, $v, read-only guest:          ${nr} us"
        echo "sandbox start, $v, kernel overlay (on disk): ${nk} us"
        echo "sandbox start, $v, --tmp-overlay (in memory): ${tb} us"
        awk -v r="$nr" -v k="$nk" -v t="$tb" 'BEGIN {
            printf "with %s: ratio kernel overlay/read-only %.2f (%+d us), --tmp-overlay/read-only %.2f (%+d us)\n", "'"$v"'", k / r, k - r, t / r, t - r
        }'
    else
        echo "no BWRAP_NEW (a bubblewrap >= 0.9): no --tmp-overlay comparison"
    fi
else
    echo "unshare -Urm is not allowed here: no sandbox-start comparison"
fi
rm -rf "$S"
