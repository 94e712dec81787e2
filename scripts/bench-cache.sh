#!/usr/bin/env bash
# What the build cache saves, measured with real package managers and the public registries.
#
# For each project in testdata/cache/bench (pip, uv when available, npm, cargo when a toolchain
# can be shown to the sandbox): build once with an empty cache (cold), again with the cache
# warm, then a third time with the cache warm and `--no-network`, which must succeed. Prints
# each build's time and the cold/warm ratio, the baseline being the cold build of the same run.
# The warm build must be at least 3 times faster than the cold one for pip and for npm with a
# lockfile-keyed node_modules snapshot (npm-lockfile); plain npm is reported for information.
#
# Downloads stay bounded: requests, its four dependencies and two source-only packages
# (under 1 MB, plus setuptools for building), eslint and its dependencies (about 9 MB), two
# small crates; and, only when no uv is installed, uv's wheel (about 18 MB) into
# the scratch dir. Everything goes to one scratch dir, removed on exit.
#
# Environment: MELWRAP (binary; default: built here with --release), MELWRAP_CA_BUNDLE (CA
# bundle for a TLS-intercepting proxy; default: the system bundle when it exists),
# BENCH_ONLY="pip npm" (a subset), BENCH_UV=skip (never fetch uv).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
projects="$here/testdata/cache/bench"
only=${BENCH_ONLY:-pip uv npm cargo}

if [ -z "${MELWRAP:-}" ]; then
  echo "bench-cache: building melwrap (release)" >&2
  (cd "$here" && cargo build --release --quiet)
  MELWRAP="$here/target/release/melwrap"
fi

ca=${MELWRAP_CA_BUNDLE:-}
if [ -z "$ca" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  ca=/etc/ssl/certs/ca-certificates.crt
fi
ca_args=()
[ -n "$ca" ] && ca_args=(--ca-bundle "$ca")

# The scratch dir. Go-style read-only trees are made writable before removal.
work=$(mktemp -d "${TMPDIR:-/tmp}/melwrap-bench-cache.XXXXXX")
cleanup() {
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Tools that live outside what `--rootfs host` shows (rustup's toolchain under ~/.rustup, a
# uv installed here) are shown at /opt/<name> through bind mounts in a private mount
# namespace that lives only as long as one build: nothing on the host changes. Needs root.
declare -A opt_mounts=()
can_mount=false
if [ "$(id -u)" -eq 0 ] && unshare --mount --propagation private true 2>/dev/null; then
  can_mount=true
fi

melwrap_build() { # melwrap build ARGS..., in a mount namespace when tools need showing
  if [ ${#opt_mounts[@]} -eq 0 ]; then
    "$MELWRAP" build "$@"
    return
  fi
  local script='mount -t tmpfs -o mode=0755 melwrap-bench /opt'
  local name
  for name in "${!opt_mounts[@]}"; do
    script+=" && mkdir /opt/$name && mount --bind '${opt_mounts[$name]}' /opt/$name"
    script+=" && mount -o remount,bind,ro /opt/$name"
  done
  unshare --mount --propagation private bash -c "$script && exec \"\$@\"" melwrap-bench \
    "$MELWRAP" build "$@"
}

now() { date +%s.%N; }

# run_build NAME LABEL [extra flags]: one timed build; prints seconds, keeps the log.
run_build() {
  local name=$1 label=$2
  shift 2
  local dir="$work/$name" start end
  rm -rf "$dir/out"
  start=$(now)
  if ! melwrap_build "$dir/src/melange.yaml" --cache-dir "$dir/cache" --out-dir "$dir/out" \
    "${ca_args[@]}" "$@" >"$dir/$label.log" 2>&1; then
    echo "bench-cache: the $label build of $name failed; its log:" >&2
    tail -n 40 "$dir/$label.log" >&2
    return 1
  fi
  end=$(now)
  grep -E '^cache: [0-9]' "$dir/$label.log" | tail -n 1 | sed "s/^/  $label: /" >&2
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }'
}

failed=0
results=()

# bench NAME MUST_BE_3X: cold, warm, warm offline.
bench() {
  local name=$1 strict=$2 cold warm offline ratio verdict
  echo "bench-cache: $name" >&2
  cold=$(run_build "$name" cold) || { failed=1; return; }
  warm=$(run_build "$name" warm) || { failed=1; return; }
  offline=$(run_build "$name" offline --no-network) || { failed=1; return; }
  ratio=$(awk -v c="$cold" -v w="$warm" 'BEGIN { printf "%.2f\n", c / w }')
  verdict=ok
  if [ "$strict" = yes ] && awk -v r="$ratio" 'BEGIN { exit !(r < 3) }'; then
    verdict="FAIL (must be >= 3x)"
    failed=1
  fi
  results+=("$(printf '%-12s cold %6.2fs  warm %6.2fs  offline %6.2fs  cold/warm %5.1fx  %s' \
    "$name" "$cold" "$warm" "$offline" "$ratio" "$verdict")")
}

prepare() { # prepare NAME: a private copy of the project
  mkdir -p "$work/$1"
  cp -r "$projects/$1" "$work/$1/src"
}

wants() { case " $only " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

if wants pip; then
  prepare pip
  bench pip yes
fi

if wants uv; then
  uv_bin=$(command -v uv || true)
  case "$uv_bin" in
    /usr/* | /bin/* | /opt/*) ;; # the sandbox shows it where it is
    *)
      if [ -z "$uv_bin" ] && [ "${BENCH_UV:-}" != skip ] && $can_mount; then
        echo "bench-cache: no uv installed; fetching it into the scratch dir with pip" >&2
        PIP_CACHE_DIR="$work/host-pip-cache" python3 -m pip install -q --disable-pip-version-check \
          --target "$work/tools/uv-pkg" uv >&2 \
          && uv_bin="$work/tools/uv-pkg/bin/uv" || uv_bin=
      fi
      if [ -n "$uv_bin" ] && $can_mount; then
        mkdir -p "$work/tools/uv/bin"
        cp "$uv_bin" "$work/tools/uv/bin/uv"
        opt_mounts[uv]="$work/tools/uv"
      else
        uv_bin=
      fi
      ;;
  esac
  if [ -n "$uv_bin" ]; then
    prepare uv
    bench uv no
  else
    results+=("uv     skipped: no uv, and none could be shown to the sandbox")
  fi
  unset 'opt_mounts[uv]'
fi

if wants npm; then
  # npm's own cache only: every build still runs npm, which unpacks ~100 packages. Reported for
  # information; with a fast registry mirror the network is not what a warm build saves.
  prepare npm
  bench npm no
  # The lockfile-keyed node_modules snapshot (see its melange.yaml). The lockfile is made on
  # the host with a throwaway npm cache, as a real project would commit it.
  prepare npm-lockfile
  (cd "$work/npm-lockfile/src" && npm_config_cache="$work/host-npm-cache" \
    npm install --package-lock-only --no-audit --no-fund --loglevel=error >/dev/null)
  bench npm-lockfile yes
fi

if wants cargo; then
  sysroot=$(rustc --print sysroot 2>/dev/null || true)
  if [ -n "$sysroot" ] && [ -x "$sysroot/bin/cargo" ] && $can_mount; then
    opt_mounts[rust]="$sysroot"
    prepare cargo
    # A real project commits its Cargo.lock; this one is made here, with a throwaway
    # CARGO_HOME, so that `cargo build --locked` in the sandbox resolves nothing.
    CARGO_HOME="$work/host-cargo-home" "$sysroot/bin/cargo" generate-lockfile --quiet \
      --manifest-path "$work/cargo/src/Cargo.toml"
    bench cargo no
    unset 'opt_mounts[rust]'
  else
    results+=("cargo  skipped: no rustc toolchain that can be shown to the sandbox (needs root)")
  fi
fi

echo
printf '%s\n' "${results[@]}"
exit "$failed"
