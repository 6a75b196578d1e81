#!/usr/bin/env bash
# Self-contained test of the Go binding: builds liblnc, then `go vet` and `go test -race`.
# Fails on any failure or when no test ran. Benchmarks are not run here:
#   cd bindings/go && go test -bench . -run '^$' -benchtime 1000000x
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

echo "== building liblnc with TLS, and lnc for the TLS fixture (cargo build --release --features tls --lib --bin lnc)"
(cd "$root" && cargo build --release --features tls --lib --bin lnc)

# liblnc.so carries the soname liblnc.so.0: the runtime loader looks for that name next to
# the rpath set by the cgo flags.
lib="$root/target/release"
if [ ! -e "$lib/liblnc.so.0" ]; then
  ln -sf liblnc.so "$lib/liblnc.so.0"
fi

cd "$here"
export CGO_ENABLED=1
echo "== go vet ./..."
go vet ./...

echo "== go test -race -count=1 ./..."
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
set +e
go test -race -count=1 -v ./... >"$out" 2>&1
rc=$?
set -e
grep -E '^(--- |ok |FAIL|PASS|panic)' "$out" || true
if [ $rc -ne 0 ]; then
  echo "go test failed (exit $rc); full output:"
  cat "$out"
  exit $rc
fi
passed=$(grep -c -- '^--- PASS' "$out" || true)
failed=$(grep -c -- '^--- FAIL' "$out" || true)
if ! grep -qE '^ok ' "$out" || [ "$passed" -eq 0 ] || [ "$failed" -ne 0 ]; then
  echo "no passing tests found (passed=$passed failed=$failed)"
  exit 1
fi
echo "== Go binding: $passed tests passed"
