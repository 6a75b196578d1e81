#!/usr/bin/env bash
# The Python binding's one test command: builds liblnc, installs the `lnc` package (bundling
# liblnc.so) into bindings/python/.venv together with pytest, mypy and the seed client
# (lnc-client==0.2.9, for the interop tests), type-checks the package, then runs the suite.
# Idempotent; exits non-zero on any failure, including when pytest collects no test (exit 5).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"

echo "== building liblnc with TLS, and lnc for the TLS fixture (cargo build --release --features tls --lib --bin lnc)"
(cd "$ROOT" && cargo build --release --features tls --lib --bin lnc)

if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating $VENV"
    "$PY" -m venv "$VENV"
fi
echo "== installing test dependencies"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip setuptools wheel >/dev/null
"$VENV/bin/python" -m pip install -q --disable-pip-version-check pytest mypy "lnc-client==0.2.9"

echo "== mypy (package lnc, settings in pyproject.toml)"
(cd "$HERE" && "$VENV/bin/mypy")

echo "== installing the lnc package (setup.py runs cargo build --release --lib: a no-op here)"
unset LNC_LIBRARY
rm -rf "$HERE/build" "$HERE/lnc/_lib"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps --force-reinstall "$HERE"
rm -rf "$HERE/build" "$HERE"/*.egg-info

echo "== running pytest"
cd "$HERE"
set +e
# `pytest` (not `python -m pytest`) keeps the source tree off sys.path: the installed package
# and its bundled library are what gets tested.
LNC_REQUIRE_SEED=1 LNC_EXPECT_INSTALLED=1 "$VENV/bin/pytest" -q -p no:cacheprovider tests "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests" >&2
fi
exit "$rc"
