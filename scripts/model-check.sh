#!/usr/bin/env bash
# Model-checks the producer's synchronisation core with shuttle (src/producer/model.rs over
# src/producer/core.rs; how locks and deadlines are modelled: src/sync.rs). Builds the unit tests
# with `--cfg lnc_shuttle` in target/shuttle, so ordinary builds never compile shuttle and keep
# their cache, and runs the model tests: each scenario under shuttle's random and PCT schedulers.
#
#   LNC_MODEL_ITERATIONS=N   schedules per scheduler and test (default 2000 in model.rs)
#   extra arguments          passed to the test binary (e.g. one test's name)
#
# Fails when a test fails or when no test ran.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
export CARGO_TARGET_DIR="$PWD/target/shuttle"
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }--cfg lnc_shuttle"
mkdir -p "$CARGO_TARGET_DIR"
log="$CARGO_TARGET_DIR/model-check.log"
start=$SECONDS

cargo test --lib --no-run 2>&1 | tail -n 2
echo "build: $((SECONDS - start)) s"
run=$SECONDS
cargo test --lib producer::model -- --test-threads=2 "$@" 2>&1 | tee "$log"
if ! grep -Eq 'test result: ok\. [1-9][0-9]* passed' "$log"; then
  echo "FAIL: no model test ran" >&2
  exit 1
fi
echo "model check: $((SECONDS - run)) s of tests, $((SECONDS - start)) s in all"
