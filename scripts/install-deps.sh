#!/usr/bin/env bash
# Install what melwrap needs on Debian/Ubuntu, only when missing.
#   install-deps.sh run   what `make run` needs: bubblewrap, and a C compiler for the example
#   install-deps.sh       everything the test suite needs as well
# Uses sudo only when not root; never prompts (works with no stdin, as in CI).
set -euo pipefail

# command -> Debian package
declare -A wanted=(
  [bwrap]=bubblewrap
  [cc]=gcc
)
declare -A wanted_files=()

if [ "${1:-test}" != run ]; then
wanted+=(
  [busybox]=busybox
  [git]=git
  [patch]=patch
  [make]=make
  [autoreconf]=autoconf
  [aclocal]=automake
  [libtoolize]=libtool
  [go]=golang-go
  [wget]=wget
  [openssl]=openssl
  [python3]=python3
  [setpriv]=util-linux
  # tests/it/pipelines/build runs the cmake/* and meson/* built-ins for real.
  [cmake]=cmake
  [ninja]=ninja-build
  [meson]=meson
)

# file (glob) -> Debian package, for what has no command of its own: the modules and wheels
# tests/it/pipelines/build needs to run perl/make and python/build, python/install and
# python/build-wheel (whose isolated build env installs setuptools and wheel offline from
# /usr/share/python-wheels, into a venv that needs ensurepip).
wanted_files+=(
  ['/usr/share/perl/5.*/ExtUtils/MakeMaker.pm']=perl
  ['/usr/lib/python3/dist-packages/setuptools/__init__.py']=python3-setuptools
  ['/usr/lib/python3/dist-packages/build/__init__.py']=python3-build
  ['/usr/lib/python3/dist-packages/installer/__init__.py']=python3-installer
  ['/usr/lib/python3.*/ensurepip/__init__.py']=python3-venv
  ['/usr/share/python-wheels/setuptools-*.whl']=python3-setuptools-whl
  ['/usr/share/python-wheels/wheel-*.whl']=python3-wheel-whl
)
fi

missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
for pattern in "${!wanted_files[@]}"; do
  compgen -G "$pattern" >/dev/null || missing+=("${wanted_files[$pattern]}")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: missing ${missing[*]} and no apt-get here; install them with your package manager" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo -n); else
    echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
