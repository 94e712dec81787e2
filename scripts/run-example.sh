#!/usr/bin/env bash
# The main job: use the freshly built melwrap on the example configs.
set -euo pipefail
cd "$(dirname "$0")/.."
melwrap=./target/release/melwrap
corpus=${MELWRAP_CORPUS:-../shared/corpus}
"$melwrap" validate "$corpus"/melange-examples/*.yaml
