#!/usr/bin/env bash
# Self-contained test of the Go binding: builds liblnc, then `gofmt -l`, `go vet` and
# `go test -race`, all with the lnc_inrepo build tag (link the library of this checkout).
# Fails on any failure or when no test ran. Benchmarks are not run here:
#   cd bindings/go && go test -tags lnc_inrepo -bench . -run '^$' -benchtime 1000000x
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

echo "== building liblnc with TLS, and lnc for the TLS fixture (cargo build --release --features tls --lib --bin lnc)"
(cd "$root" && cargo build --release --features tls --lib --bin lnc)

# In-repo build: the lnc_inrepo tag links target/release/liblnc.so with an rpath to it (the
# default, pkg-config, is for an installed liblnc). liblnc.so carries a versioned soname
# (liblnc.so.0.<minor> for 0.x): the loader looks for that name in the rpath directory.
lib="$root/target/release"
soname=$(readelf -d "$lib/liblnc.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ -n "$soname" ] || { echo "no SONAME in $lib/liblnc.so" >&2; exit 1; }
ln -sfn liblnc.so "$lib/$soname"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-tags=lnc_inrepo"

cd "$here"
export CGO_ENABLED=1
echo "== gofmt -l ."
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt: these files need formatting (run gofmt -w):" >&2
  echo "$unformatted" >&2
  exit 1
fi

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
