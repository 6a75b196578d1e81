#!/usr/bin/env bash
# Interop and reliability suite (issue 11), called by scripts/test.sh:
#   1. Rust interop with the official crates.io lnc-client 0.2.8   (cargo test -p lnc-interop)
#   2. Python interop with the official PyPI lnc-client 0.2.9      (pytest, venv under target/)
#   3. the short fault soak                                          (soak --quick)
# Exits non-zero when any step fails or a test suite runs zero tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never
LOG_DIR="$ROOT/target/interop-logs"
mkdir -p "$LOG_DIR"

step() { printf '\n==== interop: %s ====\n' "$*"; }

step "rust: cargo test -p lnc-interop"
cargo test -p lnc-interop 2>&1 | tee "$LOG_DIR/rust.log"
if ! grep -Eq 'test result: ok\. [1-9][0-9]* passed' "$LOG_DIR/rust.log"; then
  echo "FAIL: lnc-interop ran no tests" >&2
  exit 1
fi

step "build helper binaries (release)"
cargo build --release -p lnc-interop --bins
BIN_DIR="$ROOT/target/release"

step "python: PyPI lnc-client 0.2.9"
VENV="$ROOT/target/interop-venv"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(0 if m.version("lnc-client") == "0.2.9" else 1)' 2>/dev/null \
   || ! "$VENV/bin/python" -c 'import pytest' 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "lnc-client==0.2.9" "pytest>=7"
fi
set +e
LNC_INTEROP_BIN_DIR="$BIN_DIR" "$VENV/bin/python" -m pytest -q -rA -p no:cacheprovider \
  interop/python/test_python_interop.py 2>&1 | tee "$LOG_DIR/python.log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -eq 5 ]; then
  echo "FAIL: pytest collected no tests" >&2
  exit 1
elif [ "$rc" -ne 0 ]; then
  echo "FAIL: python interop (pytest exit $rc)" >&2
  exit "$rc"
fi
if ! grep -Eq '[1-9][0-9]* passed' "$LOG_DIR/python.log"; then
  echo "FAIL: python interop ran no tests" >&2
  exit 1
fi

step "fault soak (quick)"
set +e
"$BIN_DIR/soak" --quick 2>&1 | tee "$LOG_DIR/soak-quick.log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
  echo "FAIL: soak --quick (exit $rc)" >&2
  exit "$rc"
fi

echo
echo "INTEROP SUITE PASSED"
