#!/usr/bin/env bash
# Runs the C TLS test against `lnc tls-fixture` (stunnel4 in front of the plaintext mock, client
# certificates demanded). Without lnc (built with --features tls) or stunnel: skipped with the
# reason (ctest SKIP_RETURN_CODE 77), except under CI=true, where that is a failure.
set -euo pipefail
test_bin=$1
lnc_bin=${LNC_BIN:-$2}
unavailable() {
  echo "tls_test: $*" >&2
  if [ "${CI:-}" = "true" ] || [ "${CI:-}" = "1" ]; then exit 1; fi
  echo "SKIPPED: $*"
  exit 77
}
[ -x "$lnc_bin" ] || unavailable "$lnc_bin not found (cargo build --release --features tls --bin lnc)"
command -v stunnel4 >/dev/null || command -v stunnel >/dev/null || unavailable "stunnel4 not installed (apt-get install stunnel4)"
coproc FIX { exec "$lnc_bin" tls-fixture; }
fix_pid=$FIX_PID
trap 'exec {FIX[1]}>&- 2>/dev/null || true; wait "$fix_pid" 2>/dev/null || true' EXIT
read -r -t 30 line <&"${FIX[0]}" || unavailable "lnc tls-fixture printed nothing (built without --features tls?)"
field() { printf '%s\n' "$line" | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
"$test_bin" "$(field stunnel)" "$(field ca)" "$(field cert)" "$(field key)" "$(field other_ca)"
