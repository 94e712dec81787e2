#!/usr/bin/env bash
# The main job: build the example package twice in the bubblewrap sandbox with a cache dir.
# The first build fills the cache; the second reuses it (watch for "reusing cached object").
set -euo pipefail
cd "$(dirname "$0")/.."
melwrap=./target/release/melwrap
work=target/example
rm -rf "$work"
mkdir -p "$work"

"$melwrap" doctor

for run in first second; do
  echo
  echo "### $run build of examples/hello (cache: $work/cache)"
  "$melwrap" build examples/hello/melange.yaml \
    --cache-dir "$work/cache" --out-dir "$work/packages" --no-network
done

echo
echo "### packages"
ls -l "$work"/packages/*/
echo
"$melwrap" cache info --cache-dir "$work/cache"
