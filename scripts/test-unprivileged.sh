#!/usr/bin/env bash
# Run the whole test suite as an ordinary user, from root: what a developer's `make test` on a
# laptop does. Builds the test binaries as root, makes target/ readable, then runs each binary
# as USER (default dev) with a clean environment, in the crate root as `cargo test` does.
#   scripts/test-unprivileged.sh [USER]
# Tests that need a second uid skip with a printed reason; everything else must pass.
set -euo pipefail

user="${1:-dev}"
cargo="${CARGO:-cargo}"
cd "$(dirname "$0")/.."
root_dir="$PWD"

if ! entry="$(getent passwd "$user")"; then
  echo "error: there is no user \`$user\` on this machine" >&2
  echo "  hint: create one (\`useradd -m $user\`) or pick another: make test-unprivileged USER_NAME=NAME" >&2
  exit 2
fi
uid="$(cut -d: -f3 <<<"$entry")"
home="$(cut -d: -f6 <<<"$entry")"
if [ "$uid" = 0 ]; then
  echo "error: \`$user\` is root; choose an ordinary user" >&2
  exit 2
fi
if [ "$(id -u)" != 0 ]; then
  echo "error: run this as root (it switches to \`$user\` with runuser)" >&2
  echo "  hint: as an ordinary user, plain \`make test\` already runs the suite unprivileged" >&2
  exit 2
fi

list="$(mktemp)"
trap 'rm -f "$list"' EXIT
"$cargo" test --all-targets --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])' >"$list"
if [ ! -s "$list" ]; then
  echo "error: building the test binaries failed; run \`$cargo test --no-run\` to see why" >&2
  exit 1
fi
chmod -R o+rX target
if ! runuser -u "$user" -- test -r "$root_dir/Cargo.toml" -a -x "$root_dir/target"; then
  echo "error: \`$user\` cannot read $root_dir" >&2
  echo "  hint: let it in, e.g. \`chmod o+rx\` on $root_dir and each directory above it" >&2
  exit 2
fi

failed=()
while read -r bin; do
  echo "== $(basename "$bin") as $user (uid $uid)"
  if ! runuser -u "$user" -- env -i HOME="$home" USER="$user" PATH=/usr/local/bin:/usr/bin:/bin \
      "$bin"; then
    failed+=("$(basename "$bin")")
  fi
done <"$list"

if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED as $user: ${failed[*]}" >&2
  exit 1
fi
echo "all test binaries passed as $user"
