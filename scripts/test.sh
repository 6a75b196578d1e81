#!/usr/bin/env bash
# The one test command: builds everything and runs every suite (Rust, then C, Python, Go, Node as
# they land). Fails when any suite fails or runs zero tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never

step() { printf '\n==== %s ====\n' "$*"; }

# A suite's output must show at least one executed test; otherwise it counts as a failure.
require_tests() { # name, logfile, regex-that-matches-a-count-line-with-nonzero
  if ! grep -Eq "$3" "$2"; then
    echo "FAIL: suite '$1' ran no tests" >&2
    exit 1
  fi
}

step "rust: build (debug + release library)"
cargo build --all-targets
cargo build --release --lib

step "rust: tests"
cargo test --all-targets 2>&1 | tee "$ROOT/target/rust-tests.log"
require_tests rust "$ROOT/target/rust-tests.log" 'test result: ok\. [1-9][0-9]* passed'

step "rust: doc tests"
cargo test --doc 2>&1 | tail -n 3

echo
echo "ALL SUITES PASSED"
