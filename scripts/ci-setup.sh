#!/usr/bin/env bash
# Installs everything the test command needs that a fresh machine of kind `polyglot` lacks.
# Idempotent; safe to run on a developer machine.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo missing: this machine kind ships Rust via rustup" >&2; exit 1; }
