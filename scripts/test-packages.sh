#!/usr/bin/env bash
# Package test (issue 16), run by scripts/test.sh:
#   1. builds the artifacts with scripts/package.sh (dist/),
#   2. copies them to a temporary directory outside the checkout and checks that none refers to
#      the checkout (no absolute path to it in any file, no rpath at all in the C archive, only
#      $ORIGIN in the npm addon),
#   3. hides the checkout (a private mount namespace with an empty tmpfs mounted over it, when
#      the machine allows one) and, from there, installs every artifact the way its ecosystem
#      does and runs a produce -> consume round trip (1000 records, values and order checked)
#      against `bin/lnc mock` from the C archive:
#        c       cmake find_package(lnc) (shared and static) and pkg-config, from the C archive
#        python  pip install of the manylinux wheel into a fresh venv, and of the sdist (which
#                builds liblnc with cargo) into another
#        node    npm install ./lnc-<v>.tgz in an empty directory
#        go      go get of the module from the packaged GOPROXY tree, go build through
#                pkg-config (PKG_CONFIG_PATH = the C archive's lib/pkgconfig)
# Prints one PASS/FAIL line per language and `packages: N passed, M failed`; exits non-zero if
# any step fails. LNC_PKG_SKIP_BUILD=1 reuses an existing dist/; LNC_PKG_KEEP=1 keeps the
# temporary directory, whose copy of this script then reruns step 3 with no checkout at all:
#   bash /tmp/lnc-packages.XXXXXX/test-packages.sh --installed /tmp/lnc-packages.XXXXXX
set -euo pipefail

if [ "${1:-}" = "--installed" ]; then
  MODE=installed
  T="$2"
else
  MODE=prepare
fi

step() { printf '\n== packages: %s\n' "$*"; }
die() { echo "packages: FAIL: $*" >&2; exit 1; }

# =============================================================================================
# Phase 1 (in the checkout): build, copy out, inspect.
# =============================================================================================
if [ "$MODE" = prepare ]; then
  ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  cd "$ROOT"
  VERSION="$(sed -n 's/^version = "\([0-9][0-9.]*\)"$/\1/p' Cargo.toml | head -1)"
  t0=$SECONDS
  if [ "${LNC_PKG_SKIP_BUILD:-}" != 1 ]; then
    step "building the artifacts (scripts/package.sh)"
    bash scripts/package.sh
  fi
  T="$(mktemp -d /tmp/lnc-packages.XXXXXX)"
  case "$T" in "$ROOT"/*) die "temporary directory $T is inside the checkout" ;; esac
  cleanup() {
    if [ "${LNC_PKG_KEEP:-}" = 1 ]; then
      echo "kept $T; with the checkout deleted, rerun the installs and round trips with:"
      echo "  bash $T/test-packages.sh --installed $T"
      return
    fi
    [ -d "$T/gomodcache" ] && chmod -R u+w "$T/gomodcache" 2>/dev/null
    rm -rf "$T"
  }
  trap cleanup EXIT
  mkdir -p "$T/dist" "$T/src" "$T/inspect"
  cp -r dist/. "$T/dist/"
  cp tests/packages/roundtrip.c tests/packages/CMakeLists.txt tests/packages/roundtrip.py \
    tests/packages/roundtrip.js "$T/src/"
  cp -r tests/packages/go "$T/src/go"
  cp scripts/test-packages.sh "$T/test-packages.sh"
  printf '%s\n%s\n' "$VERSION" "$ROOT" >"$T/meta"

  step "artifacts: versions, rpaths, references to the checkout ($ROOT)"
  D="$T/dist"
  C_TGZ="$D/liblnc-$VERSION-linux-x86_64.tar.gz"
  WHEEL="$(ls "$D"/lnc-"$VERSION"-py3-none-manylinux_*_x86_64.whl)"
  for f in "$C_TGZ" "$WHEEL" "$D/lnc-$VERSION.tar.gz" "$D/lnc-$VERSION.tgz" \
    "$D/goproxy/github.com/liblnc/liblnc/bindings/go/@v/v$VERSION.zip"; do
    [ -f "$f" ] || die "missing artifact $f"
  done
  (cd "$D" && sha256sum --quiet -c SHA256SUMS) || die "SHA256SUMS does not match the artifacts"
  mkdir -p "$T/inspect/c" "$T/inspect/wheel" "$T/inspect/sdist" "$T/inspect/npm" "$T/inspect/go"
  tar -xzf "$C_TGZ" -C "$T/inspect/c"
  python3 -m zipfile -e "$WHEEL" "$T/inspect/wheel"
  tar -xzf "$D/lnc-$VERSION.tar.gz" -C "$T/inspect/sdist"
  tar -xzf "$D/lnc-$VERSION.tgz" -C "$T/inspect/npm"
  python3 -m zipfile -e "$D/goproxy/github.com/liblnc/liblnc/bindings/go/@v/v$VERSION.zip" "$T/inspect/go"
  if hits="$(grep -rlF "$ROOT" "$T/inspect")"; then
    echo "$hits" >&2
    die "these packaged files contain the checkout's path $ROOT"
  fi
  P="$T/inspect/c/liblnc-$VERSION-linux-x86_64"
  for elf in "$P/lib/liblnc.so.$VERSION" "$P/bin/lnc" "$T/inspect/wheel/lnc/_lib/liblnc.so" \
    "$T/inspect/npm/package/prebuilds/linux-x64/"liblnc.so.*; do
    if readelf -d "$elf" | grep -E '\((RPATH|RUNPATH)\)'; then die "$elf has an rpath"; fi
  done
  addon_rpath="$(readelf -d "$T/inspect/npm/package/prebuilds/linux-x64/lnc.node" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')"
  [ "$addon_rpath" = '$ORIGIN' ] || die "the npm addon's rpath is '$addon_rpath', not \$ORIGIN"
  # One version everywhere.
  grep -q "^Version: $VERSION\$" "$P/lib/pkgconfig/lnc.pc" || die "lnc.pc is not $VERSION"
  grep -q "PACKAGE_VERSION \"$VERSION\"" "$P/lib/cmake/lnc/lnc-config-version.cmake" || die "CMake package is not $VERSION"
  for part in MAJOR:1 MINOR:2 PATCH:3; do
    want="$(cut -d. -f"${part#*:}" <<<"$VERSION")"
    grep -q "^#define LNC_VERSION_${part%:*} $want\$" "$P/include/lnc.h" || die "lnc.h LNC_VERSION_${part%:*} is not $want"
  done
  grep -q "^Version: $VERSION\$" "$T/inspect/wheel/lnc-$VERSION.dist-info/METADATA" || die "wheel metadata is not $VERSION"
  [ "$(node -p "require('$T/inspect/npm/package/package.json').version")" = "$VERSION" ] || die "npm package is not $VERSION"
  [ "$("$P/bin/lnc" --version)" = "lnc $VERSION" ] || die "lnc --version is not $VERSION"
  echo "ok: $VERSION everywhere; no checkout path; no rpath (npm addon: \$ORIGIN only)"
  rm -rf "$T/inspect"

  step "hiding the checkout: private mount namespace with an empty tmpfs over $ROOT"
  # `unshare -m` needs root; `unshare -rm` (a user namespace) works unprivileged where allowed.
  hide='mount -t tmpfs -o ro,size=4k lnc-checkout-hidden "$0" && exec bash "$1/test-packages.sh" --installed "$1"'
  if unshare -m true 2>/dev/null; then
    unshare -m --propagation private bash -c "$hide" "$ROOT" "$T"
  elif unshare -rm true 2>/dev/null; then
    unshare -rm --propagation private bash -c "$hide" "$ROOT" "$T"
  else
    echo "WARNING: no mount namespace here: the checkout stays visible; the path and rpath checks above still hold" >&2
    bash "$T/test-packages.sh" --installed "$T"
  fi
  echo "packages: total $((SECONDS - t0)) s"
  exit 0
fi

# =============================================================================================
# Phase 2 (outside the checkout, which is hidden when possible): install and round-trip.
# =============================================================================================
{ read -r VERSION; read -r ROOT; } <"$T/meta"
cd "$T"
if [ -e "$ROOT/Cargo.toml" ]; then
  echo "note: the checkout $ROOT is visible to this phase" >&2
else
  echo "checkout $ROOT: not reachable from here (hidden or deleted)"
fi
D="$T/dist"
# Rerunnable on the same directory (LNC_PKG_KEEP=1): start from the artifacts alone.
[ -d "$T/gomodcache" ] && chmod -R u+w "$T/gomodcache"
rm -rf "$T/c" "$T/c-build" "$T/venv-wheel" "$T/venv-sdist" "$T/node-app" "$T/go-app" "$T/gomodcache"
mkdir -p "$T/c"
tar -xzf "$D/liblnc-$VERSION-linux-x86_64.tar.gz" -C "$T/c"
PREFIX="$T/c/liblnc-$VERSION-linux-x86_64"
MOCK_PID=""
SDIST_PID=""
finish() {
  [ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null
  [ -n "$SDIST_PID" ] && kill "$SDIST_PID" 2>/dev/null
  true
}
trap finish EXIT

# The sdist compiles liblnc with cargo (a minute or two): start it first, in the background.
python3 -m venv "$T/venv-sdist"
(
  "$T/venv-sdist/bin/python" -m pip install -q --disable-pip-version-check "$D/lnc-$VERSION.tar.gz"
) >"$T/python-sdist-install.log" 2>&1 &
SDIST_PID=$!

step "broker: $PREFIX/bin/lnc mock --port 0"
"$PREFIX/bin/lnc" mock --port 0 >"$T/mock.out" 2>"$T/mock.err" &
MOCK_PID=$!
ADDR=""
for _ in $(seq 100); do
  ADDR="$(head -n1 "$T/mock.out" 2>/dev/null || true)"
  [ -n "$ADDR" ] && break
  kill -0 "$MOCK_PID" 2>/dev/null || { cat "$T/mock.err" >&2; die "lnc mock exited"; }
  sleep 0.1
done
[ -n "$ADDR" ] || die "lnc mock printed no address"
echo "lnc mock listening on $ADDR"

declare -A RESULT
run_lang() { # name, function: runs it with its output in $T/<name>.log; records PASS/FAIL
  local name=$1 fn=$2
  local rc
  step "$name"
  # Not inside `if`: errexit must stay in force in the subshell.
  set +e
  (
    set -euo pipefail
    "$fn"
  ) >"$T/$name.log" 2>&1
  rc=$?
  set -e
  cat "$T/$name.log"
  if [ "$rc" -eq 0 ]; then
    RESULT[$name]=PASS
  else
    RESULT[$name]=FAIL
    echo "!! $name FAILED (exit $rc, log above)"
  fi
}

lang_c() {
  [ "$(PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" pkg-config --modversion lnc)" = "$VERSION" ]
  echo "-- cmake find_package(lnc CONFIG REQUIRED): lnc::lnc and lnc::lnc_static"
  cmake -S "$T/src" -B "$T/c-build" -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$T/c-build" >/dev/null
  ldd "$T/c-build/roundtrip" | grep -F "liblnc.so" | grep -qF "$PREFIX/lib/" # linked against the archive
  "$T/c-build/roundtrip" "$ADDR" c-cmake
  if ldd "$T/c-build/roundtrip_static" | grep -q liblnc; then echo "static build links liblnc.so"; exit 1; fi
  "$T/c-build/roundtrip_static" "$ADDR" c-static
  echo "-- pkg-config --cflags --libs lnc"
  # shellcheck disable=SC2046
  cc -std=c11 -Wall -Werror -o "$T/c-build/roundtrip-pc" "$T/src/roundtrip.c" \
    $(PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" pkg-config --cflags --libs lnc)
  LD_LIBRARY_PATH="$PREFIX/lib" "$T/c-build/roundtrip-pc" "$ADDR" c-pkgconfig
}

lang_python() {
  echo "-- pip install $(basename "$(ls "$D"/lnc-"$VERSION"-py3-none-manylinux_*_x86_64.whl)") into a fresh venv"
  python3 -m venv "$T/venv-wheel"
  "$T/venv-wheel/bin/python" -m pip install -q --disable-pip-version-check --no-index \
    "$D"/lnc-"$VERSION"-py3-none-manylinux_*_x86_64.whl
  (cd "$T" && "$T/venv-wheel/bin/python" "$T/src/roundtrip.py" "$ADDR" py-wheel "python (wheel)")
  echo "-- pip install lnc-$VERSION.tar.gz (sdist: cargo builds liblnc) into a fresh venv"
  if [ "$(cat "$T/sdist.rc")" != 0 ]; then
    tail -n 40 "$T/python-sdist-install.log"
    echo "sdist install failed"
    exit 1
  fi
  (cd "$T" && "$T/venv-sdist/bin/python" "$T/src/roundtrip.py" "$ADDR" py-sdist "python (sdist)")
}

lang_node() {
  mkdir -p "$T/node-app"
  cd "$T/node-app"
  echo "-- npm install ./lnc-$VERSION.tgz (empty directory)"
  cp "$D/lnc-$VERSION.tgz" .
  # A package.json of its own, so npm does not adopt a parent directory as the project.
  npm init -y >/dev/null
  npm install --no-audit --no-fund --loglevel=error "./lnc-$VERSION.tgz"
  cp "$T/src/roundtrip.js" .
  node roundtrip.js "$ADDR" node-pkg
}

lang_go() {
  mkdir -p "$T/go-app"
  cp "$T/src/go/main.go" "$T/go-app/"
  cd "$T/go-app"
  export GOPROXY="file://$D/goproxy" GONOSUMDB=github.com/liblnc/liblnc GOFLAGS=-mod=mod GOTOOLCHAIN=local \
    GOMODCACHE="$T/gomodcache" CGO_ENABLED=1 PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
  go mod init example.com/lncroundtrip >/dev/null 2>&1
  echo "-- go get github.com/liblnc/liblnc/bindings/go@v$VERSION (GOPROXY=file://…/goproxy)"
  go get "github.com/liblnc/liblnc/bindings/go@v$VERSION"
  echo "-- go build (cgo flags from pkg-config: $(pkg-config --libs lnc))"
  go build -o roundtrip .
  LD_LIBRARY_PATH="$PREFIX/lib" ./roundtrip "$ADDR" go-pkg
}

run_lang c lang_c
run_lang node lang_node
run_lang go lang_go
set +e
wait "$SDIST_PID"
echo $? >"$T/sdist.rc"
set -e
SDIST_PID=""
run_lang python lang_python

passed=0
failed=0
echo
for lang in c python node go; do
  echo "packages: ${RESULT[$lang]} $lang"
  if [ "${RESULT[$lang]}" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "packages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
