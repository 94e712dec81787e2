#!/bin/sh
# Assembling a root from a local repository: melwrap's verify + install against apk-tools 2.14
# (`apk add --initdb --no-scripts`, the same packages) when an apk binary is available
# ($APK, default /work/ref/apk-tools/src/apk.static). N packages (default 40) of F files each
# (default 250, a mix of sizes) are written with melwrap's package writer and indexed once.
# Prints the median of 5 runs of each and their ratio.
set -eu
N=${N:-40}
F=${F:-250}
APK=${APK:-/work/ref/apk-tools/src/apk.static}
cd "$(dirname "$0")/.."
cargo build --release -q --example pack --example assemble
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
i=0
while [ $i -lt "$N" ]; do
    d="$W/dest/p$i"
    mkdir -p "$d/usr/lib/p$i" "$d/usr/bin"
    j=0
    while [ $j -lt "$F" ]; do
        head -c $(( (j * 7919) % 40000 + 100 )) /dev/urandom > "$d/usr/lib/p$i/f$j"
        j=$((j + 1))
    done
    printf '#!/bin/sh\necho p%s\n' $i > "$d/usr/bin/p$i"
    chmod 755 "$d/usr/bin/p$i"
    ./target/release/examples/pack "$d" "$W/repo" --name "p$i" --no-index >/dev/null
    i=$((i + 1))
done
./target/release/melwrap index -q "$W/repo/x86_64" 2>/dev/null || ./target/debug/melwrap index -q "$W/repo/x86_64"
names=$(i=0; while [ $i -lt "$N" ]; do printf 'p%s ' $i; i=$((i + 1)); done)
median() { sort -n | sed -n 3p; }
now() { date +%s%N; }
run_melwrap() {
    rm -rf "$W/root"
    t0=$(now); ./target/release/examples/assemble "$W/repo" "$W/root" 2>/dev/null; t1=$(now)
    echo $(( (t1 - t0) / 1000000 ))
}
run_apk() {
    rm -rf "$W/root"
    t0=$(now)
    "$APK" add -q --root "$W/root" --initdb --allow-untrusted --no-scripts --no-cache \
        -X "$W/repo" --arch x86_64 $names >/dev/null 2>&1
    t1=$(now)
    echo $(( (t1 - t0) / 1000000 ))
}
m=$(for k in 1 2 3 4 5; do run_melwrap; done | median)
echo "melwrap assemble: $N packages x $F files: ${m} ms (median of 5)"
if [ -x "$APK" ]; then
    a=$(for k in 1 2 3 4 5; do run_apk; done | median)
    echo "apk add --initdb: ${a} ms (median of 5)"
    awk -v m="$m" -v a="$a" 'BEGIN { printf "ratio melwrap/apk: %.2f\n", m / a }'
else
    echo "apk-tools not found at $APK: no comparison"
fi
