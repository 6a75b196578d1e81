#!/usr/bin/env bash
# Node binding: build liblnc, install dev dependencies, build the addon, type-check, run the tests.
# Fails on any failure or if no test ran.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

echo "== cargo build --release --features tls --lib --bin lnc (liblnc with TLS; lnc for the TLS fixture)"
(cd "$repo" && cargo build --release --features tls --lib --bin lnc)

cd "$here"
echo "== npm ci"
npm ci --no-audit --no-fund --loglevel=error

echo "== build addon"
npm run --silent build

echo "== tsc --noEmit"
npx --no-install tsc --noEmit -p tsconfig.json

echo "== node --test test/"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
timeout 1200 node --test test/ 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
pass="$(sed -n 's/^# pass \([0-9][0-9]*\)$/\1/p' "$log" | tail -1)"
fail="$(sed -n 's/^# fail \([0-9][0-9]*\)$/\1/p' "$log" | tail -1)"
if [ "$status" -ne 0 ] || [ -z "$pass" ] || [ "$pass" -eq 0 ] || [ "$fail" != "0" ]; then
  echo "node tests FAILED (exit $status, pass ${pass:-?}, fail ${fail:-?})" >&2
  exit 1
fi
echo "node tests OK: $pass passed, 0 failed"
