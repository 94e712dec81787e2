#!/usr/bin/env bash
# Run the tests that use the host's busybox with Debian's busybox-static installed instead of
# busybox (its ash runs its own applets before PATH's programs: `patch` without `--fuzz`), then
# put busybox back, whatever happened. For CI, as root (or with sudo), on Debian/Ubuntu:
#   scripts/test-busybox-static.sh
# Installing busybox-static removes busybox and the reverse: do not run it while something
# else on the machine relies on busybox.
set -euo pipefail

cargo="${CARGO:-cargo}"
cd "$(dirname "$0")/.."

sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo -n); fi
export DEBIAN_FRONTEND=noninteractive

# Build first, so the window without busybox is only the test run.
"$cargo" test --test it --no-run

restore() { "${sudo[@]}" apt-get install -y -qq busybox >/dev/null; }
trap restore EXIT
"${sudo[@]}" apt-get install -y -qq busybox-static >/dev/null
if busybox ash -c 'command -v cat' | grep -q '^/'; then
  echo "test-busybox-static: busybox-static's ash looks commands up in PATH here; nothing to check" >&2
fi
"$cargo" test --test it -- pipelines::run sandbox:: repo::guest test_cmd::rootfs_dir \
  apk::writer wolfi:: build::golang
