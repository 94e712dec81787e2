#!/usr/bin/env bash
# Packaging speed: melwrap's .apk writer against `tar -c | gzip -6` of the same tree, measured
# in the same run. The tree is 1 GiB of mixed files generated deterministically: many small
# text files, large compressible logs and large incompressible blobs.
#
# melwrap is driven through `examples/pack.rs` (the library's `write_package`, as a build calls
# it: per-file SHA-1 checksums, PAX headers, data hash, control section; no index).
#
# Environment: RUNS (default 3) timed runs of each, medians reported; SIZE_MIB (default 1024);
# BENCH_DIR (default a temporary directory, removed at the end).
set -euo pipefail

RUNS=${RUNS:-3}
SIZE_MIB=${SIZE_MIB:-1024}
cd "$(dirname "$0")/.."

cargo build --release --example pack --quiet
PACK=target/release/examples/pack

work=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/melwrap-bench-package.XXXXXX")}
cleanup() { [ -n "${BENCH_DIR:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
tree="$work/destdir"

if [ ! -d "$tree" ]; then
  echo "generating a ${SIZE_MIB} MiB destdir in $tree" >&2
  python3 - "$tree" "$SIZE_MIB" <<'EOF'
import os, random, sys
root, size_mib = sys.argv[1], int(sys.argv[2])
total = size_mib << 20
rng = random.Random(20240601)  # fixed seed: the same tree every time
words = [w.encode() for w in "the quick brown fox jumps over lazy dog lorem ipsum dolor sit amet "
         "package build sandbox melange wolfi apk index signature compression".split()]

def text(n):
    out, size = [], 0
    while size < n:
        line = b" ".join(rng.choice(words) for _ in range(rng.randint(4, 14)))
        line += b" %d\n" % rng.randint(0, 10**6)
        out.append(line)
        size += len(line)
    return b"".join(out)[:n]

def write(rel, data, mode=0o644):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
    os.chmod(p, mode)

# 25% small text files (1-32 KiB), 40% large compressible logs, 35% incompressible blobs.
small_budget, log_budget = total // 4, total * 2 // 5
blob_budget = total - small_budget - log_budget
i = used = 0
while used < small_budget:
    n = min(rng.randint(1 << 10, 32 << 10), small_budget - used)
    write("usr/share/doc/pkg%03d/file%05d.txt" % (i % 300, i), text(n))
    used += n; i += 1
for k in range(4):
    n = log_budget // 4
    chunk = text(4 << 20)
    write("var/log/big%d.log" % k, (chunk * (n // len(chunk) + 1))[:n])
for k in range(4):
    write("usr/lib/blob%d.bin" % k, rng.randbytes(blob_budget // 4), 0o755)
os.makedirs(os.path.join(root, "var/empty"), exist_ok=True)
os.symlink("blob0.bin", os.path.join(root, "usr/lib/blob-link.bin"))
print("files:", i + 8, file=sys.stderr)
EOF
fi

# Warm the page cache so both sides read from memory.
tar -C "$tree" -cf - . >/dev/null

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

base_times=() mel_times=()
for r in $(seq "$RUNS"); do
  t0=$(now)
  tar -C "$tree" -cf - . | gzip -6 >"$work/baseline.tar.gz"
  t1=$(now)
  rm -rf "$work/out"
  "$PACK" "$tree" "$work/out" --name bench --builddate 1700000000 --no-index >/dev/null
  t2=$(now)
  base_times+=("$(awk "BEGIN {print $t1 - $t0}")")
  mel_times+=("$(awk "BEGIN {print $t2 - $t1}")")
  echo "run $r: tar|gzip -6 ${base_times[-1]} s, melwrap ${mel_times[-1]} s" >&2
done

base=$(printf '%s\n' "${base_times[@]}" | median)
mel=$(printf '%s\n' "${mel_times[@]}" | median)
base_size=$(stat -c %s "$work/baseline.tar.gz")
mel_size=$(stat -c %s "$work"/out/x86_64/bench-*.apk)
printf 'tree:                 %d MiB, %d threads available\n' "$SIZE_MIB" "$(nproc)"
printf 'tar -c | gzip -6:     %.2f s  (%d bytes)\n' "$base" "$base_size"
printf 'melwrap write_package: %.2f s  (%d bytes)\n' "$mel" "$mel_size"
printf 'ratio (baseline time / melwrap time): %.2fx\n' "$(awk "BEGIN {print $base / $mel}")"
