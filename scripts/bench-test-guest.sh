#!/bin/sh
# `melwrap test` of a package whose test is one line (`echo ok`), in its cached guest
# (busybox and baselayout from a local repository built here from the host's busybox, plus
# the package under test from the out dir), against a baseline measured in the same run:
# the same step run by plain bwrap in the same guest directory. Also, for reference, the same
# test over the host root with the package's files layered (`--rootfs host`).
# Prints medians of R runs (default 11), the overhead beyond the step and the ratios; the
# target is an overhead under 100 ms.
set -eu
R=${R:-11}
cd "$(dirname "$0")/.."
if [ -z "${MELWRAP:-}" ]; then
    cargo build --release -q
    MELWRAP=$PWD/target/release/melwrap
fi
BUSYBOX=$(command -v busybox || true)
if [ -z "$BUSYBOX" ]; then
    echo "no busybox on this host to package: nothing to measure"
    exit 0
fi
ARCH=$(uname -m)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
chmod 755 "$W"
cd "$W"

mkdir busybox-src bench-src
cat > busybox-src/melange.yaml <<'EOF'
package:
  name: busybox
  version: 1.0.0
  epoch: 0
  description: the host's busybox and its applets
  dependencies:
    runtime: [baselayout]
pipeline:
  - runs: |
      d="${{targets.destdir}}"
      mkdir -p "$d/bin"
      cp "$(command -v busybox)" "$d/bin/busybox"
      for a in $(busybox --list); do [ -e "$d/bin/$a" ] || ln -s busybox "$d/bin/$a"; done
      for lib in $(ldd "$(command -v busybox)" | grep -o '/[^ ]*'); do
        mkdir -p "$d$(dirname "$lib")"; cp -L "$lib" "$d$lib"
      done
subpackages:
  - name: baselayout
    description: merged /usr links
    pipeline:
      - runs: |
          d="${{targets.subpkgdir}}"
          mkdir -p "$d/usr/bin" "$d/usr/lib" "$d/usr/lib64" "$d/etc"
          ln -s usr/bin "$d/bin"; ln -s usr/lib "$d/lib"; ln -s usr/lib64 "$d/lib64"
EOF
cat > bench-src/melange.yaml <<'EOF'
package:
  name: bench-pkg
  version: 1.0.0
  epoch: 0
  description: a package with a one-line test
pipeline:
  - runs: |
      mkdir -p "${{targets.destdir}}/usr/share/bench"
      echo data > "${{targets.destdir}}/usr/share/bench/data"
test:
  environment:
    contents:
      packages: [busybox]
  pipeline:
    - runs: echo ok
EOF
"$MELWRAP" keygen -q --key-size 2048 repo.rsa
"$MELWRAP" build -q --rootfs host --arch "$ARCH" --signing-key repo.rsa --out-dir repo \
    --cache-dir cache --workspace-dir ws-busybox busybox-src/melange.yaml
"$MELWRAP" build -q --rootfs host --arch "$ARCH" --out-dir out --cache-dir cache \
    --workspace-dir ws-bench bench-src/melange.yaml
GUEST_FLAGS="--arch $ARCH -r $W/repo -k $W/repo.rsa.pub --apk-cache-dir $W/apk --cache-dir $W/cache --out-dir $W/out"
# Warm: resolve and assemble the test guest once.
"$MELWRAP" test -q $GUEST_FLAGS bench-src/melange.yaml
GUEST=$(ls -td "$W"/apk/guests/*/ | head -1)

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
time_melwrap() {
    t0=$(now); "$MELWRAP" test -q $GUEST_FLAGS bench-src/melange.yaml >/dev/null 2>&1; t1=$(now)
    ms "$t0" "$t1"
}
time_layered() {
    t0=$(now)
    "$MELWRAP" test -q --rootfs host --arch "$ARCH" --cache-dir "$W/cache" --out-dir "$W/out" \
        bench-src/melange.yaml >/dev/null 2>&1
    t1=$(now)
    ms "$t0" "$t1"
}
time_bwrap() {
    t0=$(now)
    bwrap --ro-bind "$GUEST" / --dev /dev --proc /proc --tmpfs /tmp \
        --unshare-user --uid 1000 --gid 1000 --clearenv \
        --setenv PATH /usr/bin:/bin --unshare-pid --unshare-ipc --unshare-uts \
        --die-with-parent --new-session --chdir /tmp -- /bin/sh -c 'echo ok' >/dev/null
    t1=$(now)
    ms "$t0" "$t1"
}
m=$(i=0; while [ $i -lt "$R" ]; do time_melwrap; i=$((i + 1)); done | median)
b=$(i=0; while [ $i -lt "$R" ]; do time_bwrap; i=$((i + 1)); done | median)
l=$(i=0; while [ $i -lt "$R" ]; do time_layered; i=$((i + 1)); done | median)
echo "melwrap test, cached guest (whole command):        ${m} ms (median of $R)"
echo "baseline: the step alone, plain bwrap in the guest: ${b} ms (median of $R)"
echo "melwrap test --rootfs host (files layered):         ${l} ms (median of $R)"
awk -v m="$m" -v b="$b" -v l="$l" 'BEGIN {
    printf "overhead beyond the step: %d ms (target: under 100 ms) %s\n", m - b, (m - b < 100 ? "ok" : "OVER")
    printf "ratio melwrap test / bare step: %.2f\n", m / (b > 0 ? b : 1)
    printf "ratio layered host-root test / cached guest test: %.2f\n", l / (m > 0 ? m : 1)
}'
