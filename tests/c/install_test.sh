#!/usr/bin/env bash
# Installs the built liblnc into a temporary prefix, then builds and runs an out-of-tree program
# against it twice: through find_package(lnc CONFIG REQUIRED) + lnc::lnc, and through pkg-config.
set -euo pipefail
build_dir=$1
src_dir=$(cd "$(dirname "$0")" && pwd)/outside
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build_dir" --prefix "$prefix" >/dev/null
# Soname policy: liblnc.so.0.<minor> for 0.x, liblnc.so.<major> from 1.0 (real file
# liblnc.so.<major>.<minor>.<patch>, links <soname> and liblnc.so).
real=$(cd "$prefix/lib" && ls liblnc.so.*.*.*)
IFS=. read -r major minor _patch <<<"${real#liblnc.so.}"
if [ "$major" = 0 ]; then soname=liblnc.so.0.$minor; else soname=liblnc.so.$major; fi
test -L "$prefix/lib/liblnc.so" && test -L "$prefix/lib/$soname" && test -f "$prefix/lib/liblnc.a"
readelf -d "$prefix/lib/$real" | grep -q "SONAME.*\[$soname\]"

echo "== find_package(lnc CONFIG REQUIRED)"
cmake -S "$src_dir" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_RPATH="$prefix/lib" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
"$work/cmake-build/outside"

echo "== pkg-config --cflags --libs lnc"
flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs lnc)
cc -std=c11 -Wall -Werror "$src_dir/main.c" $flags -Wl,-rpath,"$prefix/lib" -o "$work/outside-pc"
"$work/outside-pc"
