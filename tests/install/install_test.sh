#!/usr/bin/env bash
# The package as an embedder gets it: `cmake --install` into a fresh prefix, then out-of-tree
# C++ and C programs built against it with find_package(weir) and with pkg-config, shared and
# static, each run. Also checks that none of the project's own build flags reach a consumer,
# that libweir.so has a versioned SONAME and needs no libpcap, and that weir-pcap resolves.
# And the C HTTP client example, built against the installed package with pkg-config and
# -Wall -Werror, talks TCP through a tap (its run.sh; skipped without root).
# Usage: install_test.sh BUILD_DIR CONSUMER_SOURCE_DIR EXAMPLES_DIR
set -euo pipefail
build=$1
consumer=$2
examples=$3
work=$(mktemp -d /tmp/weir-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

step "cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; fail "install"; }
libdir=$prefix/lib
[ -d "$libdir/pkgconfig" ] || libdir=$(dirname "$(find "$prefix" -name weir.pc | head -n 1)")/..
libdir=$(cd "$libdir" && pwd)
for f in libweir.a libweir.so libweir_pcap.a libweir_pcap.so cmake/weir/weirConfig.cmake \
    pkgconfig/weir.pc pkgconfig/weir-pcap.pc; do
  [ -e "$libdir/$f" ] || fail "$libdir/$f was not installed"
done
[ -f "$prefix/include/weir/weir.h" ] || fail "<weir/weir.h> was not installed"
[ -f "$prefix/include/weir/weir.hpp" ] || fail "<weir/weir.hpp> was not installed"

step "no project build flags in what a consumer inherits"
if grep -nE -- '-Werror|-Wall|_FORTIFY_SOURCE|_GLIBCXX_ASSERTIONS|stack-protector|-O2|semantic-interposition|sanitize' \
    "$libdir"/cmake/weir/*.cmake "$libdir"/pkgconfig/*.pc; then
  fail "the installed package passes the project's own flags on"
fi

step "libweir.so: versioned SONAME, no libpcap"
soname=$(readelf -d "$libdir/libweir.so" | sed -nE 's/.*SONAME.*\[(.*)\].*/\1/p')
[[ "$soname" =~ ^libweir\.so\.[0-9]+$ ]] || fail "SONAME is '$soname'"
if readelf -d "$libdir/libweir.so" | grep -q 'libpcap'; then fail "libweir.so needs libpcap"; fi
readelf -d "$libdir/libweir_pcap.so" | grep -q 'libpcap' || fail "libweir_pcap.so does not link libpcap"
echo "SONAME $soname"

step "find_package(weir): C++ (shared, static) and C (shared, static)"
cmake -G Ninja -S "$consumer" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; fail "configure"; }
ninja -C "$work/cmake-build" >"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "build"; }
for p in two_stacks two_stacks_static c_client c_client_static; do
  [ -x "$work/cmake-build/$p" ] || fail "$p was not built"
  timeout 60 "$work/cmake-build/$p" || fail "$p (find_package) failed"
done

step "pkg-config: C++ and C, shared and static"
export PKG_CONFIG_PATH=$libdir/pkgconfig
cflags=$(pkg-config --cflags weir)
libs=$(pkg-config --libs weir)
echo "pkg-config --cflags --libs weir: $cflags $libs"
pkg-config --libs weir-pcap >/dev/null || fail "pkg-config weir-pcap"
g++ -std=c++20 -Wall -Wextra -Werror $cflags "$consumer/two_stacks.cc" -o "$work/pc_two_stacks" \
  $libs -Wl,-rpath,"$libdir"
timeout 60 "$work/pc_two_stacks" || fail "two_stacks (pkg-config) failed"
g++ -std=c++20 -Wall -Wextra -Werror $cflags "$consumer/two_stacks.cc" -o "$work/pc_two_stacks_static" \
  "$libdir/libweir.a"
timeout 60 "$work/pc_two_stacks_static" || fail "two_stacks (static, pkg-config) failed"
gcc -std=c99 -Wall -Wextra -Werror -pedantic $cflags "$consumer/c_client.c" -o "$work/pc_c_client" \
  $libs -Wl,-rpath,"$libdir"
timeout 60 "$work/pc_c_client" || fail "c_client (pkg-config) failed"
gcc -std=c99 -Wall -Wextra -Werror $cflags "$consumer/c_client.c" -o "$work/pc_c_client_static" \
  "$libdir/libweir.a" $(pkg-config --static --libs-only-l weir | sed 's/-lweir//')
timeout 60 "$work/pc_c_client_static" || fail "c_client (static, pkg-config) failed"
step "examples/c_http_client against the installed package, through a tap"
gcc -Wall -Wextra -Werror $cflags "$examples/c_http_client/main.c" -o "$work/pc_http_client" \
  $libs -Wl,-rpath,"$libdir"
status=0
bash "$examples/c_http_client/run.sh" "$work/pc_http_client" || status=$?
case $status in
  0) ;;
  77) echo "(the tap run was skipped: it needs root and /dev/net/tun)" ;;
  *) fail "c_http_client built against the package failed" ;;
esac
echo "install test passed"
