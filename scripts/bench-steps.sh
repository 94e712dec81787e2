#!/usr/bin/env bash
# Per-step cost of `melwrap build` against bare bubblewrap, measured in the same run.
#
# melwrap: a config with N trivial steps (`runs: true`), built with melange's default
# network setting (on; release build), and again with --no-network, whose extra network
# namespace costs about half a millisecond per step; the target applies to the default. Its per-step cost is (time for N steps - time for 1 step) / (N - 1), so the fixed
# cost of a build (load, compile, probe, cache and workspace setup) is not spread over the
# steps. Baseline: a shell loop of N `bwrap --ro-bind / / --dev /dev --proc /proc true`.
# Target: melwrap's per-step cost <= 1.5 x bare bwrap's. Each figure is the best of ROUNDS.
#
# A third figure splits the difference: melwrap's own bwrap command for the step (from
# --dry-run: its namespaces, mounts and shell wrapper) run N times from a shell loop. The gap
# between it and bare bwrap is the price of the isolation; the gap between melwrap and it is
# melwrap's own orchestration (spawning, output readers, waiting).
set -euo pipefail
cd "$(dirname "$0")/.."

steps=${STEPS:-200}
rounds=${ROUNDS:-3}
cargo build --release --quiet
bin=$PWD/target/release/melwrap
bwrap=${MELWRAP_BWRAP:-$(command -v bwrap)}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/many" "$work/one"
header='package:
  name: bench
  version: 1.0.0
  epoch: 0
  copyright:
    - license: MIT
pipeline:'
{ echo "$header"; for _ in $(seq "$steps"); do echo "  - runs: true"; done; } >"$work/many/melange.yaml"
{ echo "$header"; echo "  - runs: true"; } >"$work/one/melange.yaml"

now() { date +%s%N; }
build() { # config dir [flags] -> nanoseconds
  local start dir=$1
  shift
  start=$(now)
  "$bin" -q build "$work/$dir/melange.yaml" --cache-dir "$work/cache" \
    --out-dir "$work/out" "$@" >/dev/null
  echo $(($(now) - start))
}
best() { sort -n | head -1; }

build one >/dev/null # warm up
many_ns=$(for _ in $(seq "$rounds"); do build many; done | best)
one_ns=$(for _ in $(seq "$rounds"); do build one; done | best)
many_off_ns=$(for _ in $(seq "$rounds"); do build many --no-network; done | best)
one_off_ns=$(for _ in $(seq "$rounds"); do build one --no-network; done | best)
bare_ns=$(for _ in $(seq "$rounds"); do
  start=$(now)
  for _ in $(seq "$steps"); do "$bwrap" --ro-bind / / --dev /dev --proc /proc true; done
  echo $(($(now) - start))
done | best)

"$bin" -q build "$work/one/melange.yaml" --cache-dir "$work/cache" \
  --workspace-dir "$work/ws" --dry-run 2>/dev/null | grep -v '^mkdir -p \|^# ' >"$work/step.sh"
own_ns=$(for _ in $(seq "$rounds"); do
  start=$(now)
  for _ in $(seq "$steps"); do sh "$work/step.sh"; done
  echo $(($(now) - start))
done | best)
sh_ns=$(for _ in $(seq "$rounds"); do
  start=$(now)
  for _ in $(seq "$steps"); do sh -c true; done
  echo $(($(now) - start))
done | best)

awk -v n="$steps" -v m="$many_ns" -v o="$one_ns" -v b="$bare_ns" -v w="$own_ns" -v s="$sh_ns" \
  -v mo="$many_off_ns" -v oo="$one_off_ns" 'BEGIN {
  per = (m - o) / (n - 1) / 1e6; bare = b / n / 1e6;
  printf "melwrap build, %d steps: %8.1f ms (1 step: %.1f ms)\n", n, m / 1e6, o / 1e6;
  printf "bare bwrap x %d:          %8.1f ms\n", n, b / 1e6;
  own = (w - s) / n / 1e6;
  printf "melwrap'"'"'s bwrap command x %d (from --dry-run, via sh, sh start-up subtracted): %.1f ms\n", n, (w - s) / 1e6;
  printf "per step: melwrap %.2f ms, its bwrap command %.2f ms, bare bwrap %.2f ms\n", per, own, bare;
  printf "  isolation (its command / bare):      %.2f x\n", own / bare;
  printf "  orchestration (melwrap / its command): %.2f x\n", per / own;
  off = (mo - oo) / (n - 1) / 1e6;
  printf "with --no-network: melwrap %.2f ms per step, %.2f x bare bwrap (for information)\n", off, off / bare;
  printf "ratio:    %.2f x bare bwrap (target <= 1.5): %s\n", per / bare, (per / bare <= 1.5 ? "met" : "NOT met");
}'
