#!/usr/bin/env bash
# Time to start a build on a 20,000-file source tree against `cp -a` of the same tree,
# measured in the same run.
#
# The tree: 20 directories x 10 subdirectories x 100 small files (FILES overrides the total).
# melwrap builds a config with one trivial step (`runs: true`) from that source dir, with
# --no-network and a fresh --workspace-dir each round (so the time is load + probe + cache +
# workspace copy + one step, and not the removal of the workspace afterwards). Baseline: `cp -a`
# of the same tree to a fresh directory on the same filesystem. A build on an empty source dir
# is shown too, for melwrap's fixed cost. Target: melwrap not slower than the copy. Each
# figure is the best of ROUNDS.
set -euo pipefail
cd "$(dirname "$0")/.."

files=${FILES:-20000}
rounds=${ROUNDS:-3}
cargo build --release --quiet
bin=$PWD/target/release/melwrap

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tree" "$work/empty"
per_leaf=$((files / 200))
for a in $(seq -w 1 20); do
  for b in $(seq -w 1 10); do
    d="$work/tree/dir$a/sub$b"
    mkdir -p "$d"
    for c in $(seq -w 1 "$per_leaf"); do
      printf 'file %s/%s/%s: some small source text\n' "$a" "$b" "$c" >"$d/f$c.c"
    done
  done
done
config='package:
  name: bench
  version: 1.0.0
  epoch: 0
  copyright:
    - license: MIT
pipeline:
  - runs: true'
echo "$config" >"$work/tree/melange.yaml"
echo "$config" >"$work/empty/melange.yaml"
count=$(find "$work/tree" -type f | wc -l)

now() { date +%s%N; }
best() { sort -n | head -1; }
n=0
build() { # source dir -> nanoseconds
  local start ws
  n=$((n + 1))
  ws="$work/ws$n"
  start=$(now)
  "$bin" -q build "$1/melange.yaml" --no-network --cache-dir "$work/cache" \
    --workspace-dir "$ws" --out-dir "$work/out" >/dev/null
  echo $(($(now) - start))
  rm -rf "$ws"
}
copy() {
  local start
  n=$((n + 1))
  start=$(now)
  cp -a "$work/tree" "$work/copy$n"
  echo $(($(now) - start))
  rm -rf "$work/copy$n"
}

copy >/dev/null # warm the page cache
build "$work/tree" >/dev/null
melwrap_ns=$(for _ in $(seq "$rounds"); do build "$work/tree"; done | best)
empty_ns=$(for _ in $(seq "$rounds"); do build "$work/empty"; done | best)
copy_ns=$(for _ in $(seq "$rounds"); do copy; done | best)

awk -v f="$count" -v m="$melwrap_ns" -v e="$empty_ns" -v c="$copy_ns" 'BEGIN {
  printf "source tree: %d files\n", f;
  printf "melwrap build (one trivial step): %8.1f ms (empty source dir: %.1f ms)\n", m / 1e6, e / 1e6;
  printf "cp -a of the tree:                %8.1f ms\n", c / 1e6;
  printf "ratio: %.2f x cp -a (target <= 1.0): %s\n", m / c, (m <= c ? "met" : "NOT met");
}'
