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
# Every file must exit on its own, except outage.test.js: after it passes, its process sometimes
# keeps one event watcher referenced and does not exit (an open bug, see README "Limits"); it runs
# with --test-force-exit so that bug cannot stall the suite, and timeout bounds the whole run.
others=$(ls test/*.test.js | grep -v '/outage\.test\.js$')
timeout 1200 node --test $others 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
timeout 300 node --test --test-force-exit test/outage.test.js 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
set -e
pass="$(sed -n 's/^# pass \([0-9][0-9]*\)$/\1/p' "$log" | awk '{s+=$1} END {print s+0}')"
fail="$(sed -n 's/^# fail \([0-9][0-9]*\)$/\1/p' "$log" | awk '{s+=$1} END {print s+0}')"
if [ "$status" -ne 0 ] || [ -z "$pass" ] || [ "$pass" -eq 0 ] || [ "$fail" != "0" ]; then
  echo "node tests FAILED (exit $status, pass ${pass:-?}, fail ${fail:-?})" >&2
  exit 1
fi
echo "node tests OK: $pass passed, 0 failed"
