#!/usr/bin/env bash
# Fetches NIST's Public Key Interoperability Test Suite (PKITS) certificates and
# CRLs for test/conformance. PKITS ships inside the PyPI package
# cryptography-vectors (cryptography_vectors/x509/PKITS_data/); the wheel is
# downloaded with pip at a pinned version, checked against a pinned SHA-256, and
# only certs/ and crls/ are kept, in .cache/pkits (git-ignored). The data set is
# never committed.
#
# Usage: scripts/fetch-pkits.sh [target-dir]   (default: <repo>/.cache/pkits)
set -euo pipefail

VERSION=50.0.2
WHEEL=cryptography_vectors-${VERSION}-py3-none-any.whl
SHA256=51641f03a3eb4edbe9fb68e3a3574d25f86aa502d06391fffa886330d02778a0

root=$(cd "$(dirname "$0")/.." && pwd)
target=${1:-$root/.cache/pkits}
if [[ -f $target/.complete ]]; then
  exit 0
fi
pip=$(command -v pip3 || command -v pip || true)
if [[ -z $pip ]]; then
  echo "fetch-pkits: pip is required to download cryptography-vectors==$VERSION" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$pip" download "cryptography-vectors==$VERSION" --no-deps --only-binary=:all: -d "$work" >&2
actual=$(sha256sum "$work/$WHEEL" | cut -d' ' -f1)
if [[ $actual != "$SHA256" ]]; then
  echo "fetch-pkits: $WHEEL has sha256 $actual, expected $SHA256" >&2
  exit 1
fi
python3 - "$work/$WHEEL" "$work/out" <<'PY'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
prefix = 'cryptography_vectors/x509/PKITS_data/'
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if not name.startswith(prefix) or name.endswith('/'):
            continue
        rel = name[len(prefix):]
        if not (rel.startswith('certs/') or rel.startswith('crls/')):
            continue
        dest = os.path.join(out, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(name) as src, open(dest, 'wb') as dst:
            dst.write(src.read())
PY
rm -rf "$target"
mkdir -p "$(dirname "$target")"
mv "$work/out" "$target"
echo "cryptography-vectors==$VERSION sha256=$SHA256" > "$target/.complete"
echo "fetch-pkits: PKITS certificates and CRLs in $target" >&2
