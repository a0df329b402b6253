#!/usr/bin/env bash
# Brings the pinned Node.js 24 LTS into a project-local folder (.cache/node24)
# from the npm registry, where the official build is published as the package
# node-linux-<arch>, and prints the folder holding its `node` binary. Put that
# folder first on PATH: the machine's npm then runs on Node 24 too.
#
#   export PATH="$(bash scripts/bring-node.sh):$PATH"
#
#   NODE24_DIR=/some/dir   install there instead of .cache/node24
#
# Only the ordinary npm client talks to the registry (`npm pack`); the tarball
# is then checked against the sha512 pinned below before anything is unpacked,
# so a changed or substituted package fails here, whatever the registry says.
set -euo pipefail

NODE_VERSION=24.22.3
# `npm view node-linux-<arch>@$NODE_VERSION dist.integrity`, checked when pinned.
declare -A INTEGRITY=(
  [x64]='sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=='
  [arm64]='sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw=='
)

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${NODE24_DIR:-$root/.cache/node24}"

log() { printf 'bring-node: %s\n' "$*" >&2; }

if [ "$(uname -s)" != Linux ]; then
  log "only Linux builds are pinned here; install Node $NODE_VERSION (or any 24.x) yourself"
  exit 1
fi
case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) log "no pinned Node build for $(uname -m); install Node $NODE_VERSION (or any 24.x) yourself"; exit 1 ;;
esac

if [ -x "$dest/bin/node" ] && [ "$("$dest/bin/node" --version 2>/dev/null)" = "v$NODE_VERSION" ]; then
  printf '%s\n' "$dest/bin"
  exit 0
fi

for tool in node npm tar; do
  command -v "$tool" >/dev/null 2>&1 || { log "$tool is needed to bring Node $NODE_VERSION"; exit 1; }
done

# Two runs at once must not unpack into the same folder.
mkdir -p "$(dirname "$dest")"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$dest.lock"
  flock 9
  if [ -x "$dest/bin/node" ] && [ "$("$dest/bin/node" --version 2>/dev/null)" = "v$NODE_VERSION" ]; then
    printf '%s\n' "$dest/bin"
    exit 0
  fi
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/bring-node.XXXXXX")"
trap 'rm -rf "$work"' EXIT

pkg="node-linux-$arch@$NODE_VERSION"
log "fetching $pkg with npm"
# --ignore-scripts: a registry spec is only downloaded, never built; said anyway.
(cd "$work" && npm pack --silent --ignore-scripts "$pkg" >/dev/null)
tarball="$(ls "$work"/node-linux-"$arch"-"$NODE_VERSION".tgz)"

# sha512 in npm's integrity form (Subresource Integrity: base64 of the digest),
# computed by the machine's own node, which npm needs anyway.
got="$(node -e 'const { createHash } = require("node:crypto"); const { readFileSync } = require("node:fs");
process.stdout.write("sha512-" + createHash("sha512").update(readFileSync(process.argv[1])).digest("base64"));' "$tarball")"
if [ "$got" != "${INTEGRITY[$arch]}" ]; then
  log "$pkg does not match its pin: expected ${INTEGRITY[$arch]}, got $got"
  exit 1
fi

rm -rf "$dest.new"
mkdir -p "$dest.new"
tar -xzf "$tarball" -C "$dest.new" --strip-components=1 --no-same-owner
if [ "$("$dest.new/bin/node" --version)" != "v$NODE_VERSION" ]; then
  log "$pkg unpacked, but its node does not report v$NODE_VERSION"
  exit 1
fi
rm -rf "$dest"
mv "$dest.new" "$dest"
log "Node $NODE_VERSION is in $dest"
printf '%s\n' "$dest/bin"
