#!/usr/bin/env bash
# Installs what the test command needs and a fresh machine of kind `polyglot` may lack.
# Idempotent; safe on a developer machine. Toolchains (Rust, Go, Node, Python) come with the
# machine image; Debian packages are installed here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
for tool in cargo go node npm python3 gcc g++; do
  need "$tool" || { echo "ci-setup: '$tool' is missing; this machine kind ships it" >&2; exit 1; }
done

missing=()
need cmake || missing+=(cmake)
need valgrind || missing+=(valgrind)
need make || missing+=(make)
need pkg-config || missing+=(pkg-config)
need readelf && need objcopy && need strip || missing+=(binutils)
need unshare || missing+=(util-linux)   # scripts/test-packages.sh hides the checkout in a mount namespace
# TLS tests: stunnel4 is the third-party TLS terminator in front of the mock; openssl makes the
# throwaway certificates of `lnc tls-fixture` / `lnc bench --tls`.
need stunnel4 || need stunnel || missing+=(stunnel4)
need openssl || missing+=(openssl)
# The platform roots liblnc loads when tls.ca.location is empty (tests/tls.rs checks them).
[ -d /etc/ssl/certs ] && [ -n "$(ls -A /etc/ssl/certs 2>/dev/null)" ] || missing+=(ca-certificates)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  echo "ci-setup: installing ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
echo "ci-setup: $(cargo --version); $(go version); node $(node --version); $(python3 --version); $(cmake --version | head -1); $(valgrind --version); $( (stunnel4 -version || stunnel -version) 2>&1 | head -1); $(openssl version)"
