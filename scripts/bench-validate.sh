#!/usr/bin/env bash
# Benchmark: `melwrap validate` over the whole shared corpus (180 real configs), on one core.
#
# What is measured: ROUNDS runs of `melwrap validate -q <all 180 files>` (one process per round,
# every file read, located, decoded and checked), pinned to CPU 0 with `taskset` when available.
# Figure: configs validated per second (target: at least 2,000 on one core).
#
# Baseline, measured in the same run with the same pinning and the same number of process
# launches: `cat <all 180 files> >/dev/null` per round. That is the floor any validator pays to
# start a process and read the same bytes, so the printed ratio (melwrap time / cat time) says
# how many times that floor the YAML work costs. It is not a comparison with melange, which is
# not installed here.
#
# Usage: scripts/bench-validate.sh [ROUNDS]   (default 30; rounds are sequential)
set -euo pipefail

cd "$(dirname "$0")/.."
rounds="${1:-30}"
corpus="../shared/corpus"

cargo build --release --quiet
bin="target/release/melwrap"

mapfile -t files < <(ls "$corpus"/wolfi/*.yaml "$corpus"/melange-examples/*.yaml)
count=${#files[@]}
if [ "$count" -eq 0 ]; then
    echo "no configs found under $corpus" >&2
    exit 1
fi

pin=()
if command -v taskset >/dev/null && taskset -c 0 true 2>/dev/null; then
    pin=(taskset -c 0)
    where="one core (taskset -c 0)"
else
    where="unpinned (taskset not available)"
fi

# Fail loudly if the corpus does not validate: a fast wrong answer is not a result.
"${pin[@]}" "$bin" validate -q "${files[@]}"

now_ns() { date +%s%N; }

time_rounds() {
    local start end
    start=$(now_ns)
    for _ in $(seq "$rounds"); do
        "$@"
    done
    end=$(now_ns)
    echo $((end - start))
}

# Warm the page cache and the binary once before timing either side.
"${pin[@]}" cat "${files[@]}" >/dev/null

run_melwrap() { "${pin[@]}" "$bin" validate -q "${files[@]}"; }
run_cat() { "${pin[@]}" cat "${files[@]}" >/dev/null; }
melwrap_ns=$(time_rounds run_melwrap)
cat_ns=$(time_rounds run_cat)

total=$((count * rounds))
awk -v total="$total" -v m="$melwrap_ns" -v c="$cat_ns" -v n="$count" -v r="$rounds" -v where="$where" 'BEGIN {
    printf "validate: %d configs x %d rounds on %s\n", n, r, where
    printf "  melwrap validate: %8.0f configs/s  (%6.1f us per config)\n", total / (m / 1e9), m / 1e3 / total
    printf "  baseline cat:     %8.0f configs/s  (%6.1f us per config)\n", total / (c / 1e9), c / 1e3 / total
    printf "  ratio: melwrap takes %.1fx the time of reading the same files with cat\n", m / c
    printf "  target >= 2000 configs/s: %s\n", (total / (m / 1e9) >= 2000) ? "met" : "NOT met"
}'
