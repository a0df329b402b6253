#!/usr/bin/env bash
# What the test suite needs from the machine, brought in when it is missing.
# Run by `npm test` before the build and by the jest global setup, so a bare
# machine either gets the parts or fails in its first seconds with one message
# that names the command to run. Nothing here is started: the tests start their
# own PostgreSQL and Redis servers on ephemeral ports, and their own browser.
#
#   part                       Debian package   found at (override)
#   Chromium                   chromium         /usr/bin/chromium (CHROMIUM_BIN)
#   redis-server               redis-server     PATH (REDIS_SERVER_BIN)
#   PostgreSQL initdb+postgres postgresql       /usr/lib/postgresql/*/bin, PATH (PG_BIN_DIR;
#                                               none needed with BOUNCER_TEST_PG_URL)
#   openssl                    openssl          PATH
#   python3 with venv          python3-venv     PATH; for scripts/install-envoy.sh (none
#                                               needed with ENVOY_BIN)
#   Pebble (ACME test CA)      pebble           PATH (PEBBLE_BIN)
#
# As root, or with passwordless sudo, missing packages are installed with
# apt-get; BOUNCER_TEST_NO_INSTALL=1 turns that off (then only the message).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
missing=()   # Debian packages
what=()      # what they are for, in the message

has_chromium() { [ -x "${CHROMIUM_BIN:-/usr/bin/chromium}" ]; }
has_redis() { if [ -n "${REDIS_SERVER_BIN:-}" ]; then [ -x "$REDIS_SERVER_BIN" ]; else command -v redis-server >/dev/null 2>&1; fi; }
has_postgres() {
  [ -n "${BOUNCER_TEST_PG_URL:-}" ] && return 0
  local d
  if [ -n "${PG_BIN_DIR:-}" ]; then [ -x "$PG_BIN_DIR/initdb" ] && [ -x "$PG_BIN_DIR/postgres" ]; return; fi
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && return 0
  done
  command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1
}
has_openssl() { command -v openssl >/dev/null 2>&1; }
has_pebble() { if [ -n "${PEBBLE_BIN:-}" ]; then [ -x "$PEBBLE_BIN" ]; else command -v pebble >/dev/null 2>&1; fi; }
has_envoy_or_python() {
  [ -n "${ENVOY_BIN:-}" ] && return 0
  compgen -G "$root/.venv/envoy/lib/python*/site-packages/envoy/_bin/envoy" >/dev/null && return 0
  # Debian's python3 lacks ensurepip (hence venv) until python3-venv is installed.
  command -v python3 >/dev/null 2>&1 && python3 -c 'import venv, ensurepip' >/dev/null 2>&1
}

check() {
  missing=()
  what=()
  has_chromium || { missing+=(chromium); what+=("Chromium at ${CHROMIUM_BIN:-/usr/bin/chromium}"); }
  has_redis || { missing+=(redis-server); what+=("redis-server"); }
  has_postgres || { missing+=(postgresql); what+=("PostgreSQL's initdb and postgres"); }
  has_openssl || { missing+=(openssl); what+=("openssl"); }
  has_envoy_or_python || { missing+=(python3-venv); what+=("python3 with venv (to install Envoy)"); }
  has_pebble || { missing+=(pebble); what+=("Pebble (the ACME test CA)"); }
}

check
[ "${#missing[@]}" -eq 0 ] && exit 0

list() { local IFS=','; printf '%s' "${what[*]}" | sed 's/,/, /g'; }

fail() {
  {
    printf 'The tests need %s, which this machine lacks%s. Run:\n\n' "$(list)" "$1"
    printf '    sudo apt-get install -y --no-install-recommends %s\n\n' "${missing[*]}"
    printf 'then the tests again (or point CHROMIUM_BIN, REDIS_SERVER_BIN, PG_BIN_DIR, ENVOY_BIN, PEBBLE_BIN at your own).\n'
  } >&2
  exit 1
}

sudo=()
if [ "${BOUNCER_TEST_NO_INSTALL:-}" = 1 ]; then
  fail ' (BOUNCER_TEST_NO_INSTALL=1: not installing)'
elif ! command -v apt-get >/dev/null 2>&1; then
  fail ' and cannot install without apt-get'
elif [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    fail ' and cannot install (not root, no passwordless sudo)'
  fi
fi

printf 'test-prerequisites: installing %s from Debian (%s)\n' "${missing[*]}" "$(list)" >&2
apt_install() {
  # Another apt run (a second test run, say) holds the lock: wait for it rather than fail.
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o DPkg::Lock::Timeout=600 "${missing[@]}" >&2
}
if ! apt_install; then
  # A fresh machine has no package lists yet.
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q -o DPkg::Lock::Timeout=600 >&2 || true
  apt_install || true
fi

check
[ "${#missing[@]}" -eq 0 ] && exit 0
fail ' and apt-get did not install it'
