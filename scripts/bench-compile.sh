#!/usr/bin/env bash
# Compile the whole shared corpus and print configs per second, with a baseline measured in
# the same run: how many `melwrap --version` processes start per second on the same core.
#
# The compile figure comes from one process (`melwrap compile --repeat R CONFIG...`, a hidden
# flag that compiles each config R times and prints it once), so it measures loading and
# compiling, not process start-up. The ratio "configs compiled per process start" says how
# many configs melwrap compiles in the time the OS needs to start it once: above 1, compiling
# costs less than launching. Target: at least 1,000 configs/s on one core.
#
# Until the built-in pipeline library is complete, Wolfi configs that call a missing built-in
# stop at that step with an error; they still count, since everything else in them compiled.
set -euo pipefail
cd "$(dirname "$0")/.."

repeat=${REPEAT:-20}
launches=${LAUNCHES:-200}
corpus=../shared/corpus

cargo build --release --quiet
bin=target/release/melwrap
pin=()
if command -v taskset >/dev/null; then pin=(taskset -c 0); fi

mapfile -t wolfi < <(ls "$corpus"/wolfi/*.yaml)
mapfile -t examples < <(ls "$corpus"/melange-examples/*.yaml)
count=$(( ${#wolfi[@]} + ${#examples[@]} ))

now() { date +%s.%N; }

# Warm the page cache once.
"${pin[@]}" "$bin" compile --arch x86_64 --pipeline-dir "$corpus/wolfi-pipelines" "${wolfi[@]}" >/dev/null 2>&1 || true

start=$(now)
"${pin[@]}" "$bin" compile --repeat "$repeat" --arch x86_64 --format json \
  --pipeline-dir "$corpus/wolfi-pipelines" "${wolfi[@]}" >/dev/null 2>&1 || true
"${pin[@]}" "$bin" compile --repeat "$repeat" --arch x86_64 --format json \
  "${examples[@]}" >/dev/null 2>&1 || true
compile_s=$(echo "$(now) - $start" | bc -l)

start=$(now)
for _ in $(seq "$launches"); do "${pin[@]}" "$bin" --version >/dev/null; done
launch_s=$(echo "$(now) - $start" | bc -l)

failed=$("$bin" compile --arch x86_64 --pipeline-dir "$corpus/wolfi-pipelines" "${wolfi[@]}" 2>&1 >/dev/null \
  | grep -o '[0-9]* of [0-9]* configs failed' || true)

awk -v n="$count" -v r="$repeat" -v cs="$compile_s" -v l="$launches" -v ls="$launch_s" -v f="$failed" 'BEGIN {
  cps = n * r / cs; lps = l / ls;
  printf "corpus: %d configs x %d rounds in %.2fs (one process, one core)\n", n, r, cs;
  if (f != "") printf "  (wolfi: %s, stopping at a missing built-in pipeline)\n", f;
  printf "compile:  %8.0f configs/s\n", cps;
  printf "baseline: %8.0f process starts/s (melwrap --version)\n", lps;
  printf "ratio:    %8.1f configs compiled per process start\n", cps / lps;
  printf "target:   >= 1000 configs/s: %s\n", (cps >= 1000 ? "met" : "NOT met");
}'
