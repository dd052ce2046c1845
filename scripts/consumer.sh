#!/bin/sh
# scripts/consumer.sh - builds tests/consumer, a user's program, the three ways
# the README's "Using the library in your project" describes, and runs it each
# time (it exits 1 on a wrong gradient or a header that does not match the
# library). Everything goes into build-consumer/, made afresh; 20-40 s.
#  1. install: the library configured, built (Release) and installed into
#     build-consumer/prefix with `cmake --install --prefix`; the installed files
#     checked (no absolute paths in the CMake package, no compile options for
#     consumers, autograd.pc naming the prefix installed to)
#  2. pkg-config: the consumer compiled by plain cc with
#     $(pkg-config --cflags --libs autograd)
#  3. find_package(autograd MAJOR.MINOR) against the installed copy after it has
#     been moved elsewhere (the package is relocatable); and versions it must
#     refuse (the next minor and the next major; the previous minor while 0.x)
#  4. add_subdirectory of this source tree: only the library and the consumer
#     are built, CMAKE_BUILD_TYPE stays unset and every cache entry ours adds
#     starts with AG_
# Installs pkg-config (Debian's pkgconf) if it is missing, as root.
set -eu
cd "$(dirname "$0")/.."
src=$PWD
sh scripts/deps.sh
if ! command -v pkg-config >/dev/null 2>&1; then
    echo "consumer.sh: installing pkgconf"
    if [ "$(id -u)" != 0 ]; then
        echo "consumer.sh: need root to install pkg-config (run: apt-get install pkgconf)" >&2
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q pkgconf >/dev/null 2>&1 ||
        { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q pkgconf; }
fi
fail() { echo "consumer.sh: FAILED: $*" >&2; exit 1; }
# the version, from the header (as CMakeLists.txt reads it)
ver() { sed -n "s/^#define AG_VERSION_$1 *\"*\([0-9.]*\)\"*.*/\1/p" include/autograd.h; }
major=$(ver MAJOR) minor=$(ver MINOR) version=$(ver STRING)
if [ -z "$major" ] || [ -z "$minor" ] || [ -z "$version" ]; then
    fail "no AG_VERSION_* in include/autograd.h"
fi
out=$src/build-consumer
rm -rf "$out"
mkdir -p "$out"
export CMAKE_GENERATOR="Unix Makefiles"   # `--target help` lists the targets below
cc=${CC:-cc}

echo "== 1. install into $out/prefix"
cmake -S . -B "$out/lib" -DCMAKE_BUILD_TYPE=Release -DAG_EXAMPLES=OFF -DAG_TESTS=OFF >/dev/null
cmake --build "$out/lib" -j2 >/dev/null
cmake --install "$out/lib" --prefix "$out/prefix" >/dev/null
for f in include/autograd.h lib/libautograd.a lib/pkgconfig/autograd.pc \
         lib/cmake/autograd/autogradConfig.cmake lib/cmake/autograd/autogradConfigVersion.cmake \
         lib/cmake/autograd/autogradTargets.cmake; do
    [ -f "$out/prefix/$f" ] || fail "cmake --install did not install $f"
done
# (the prefix is under $src: the package must not name it either)
if grep -rn -e "$src" "$out/prefix/lib/cmake"; then
    fail "the installed CMake package names an absolute path (not relocatable)"
fi
if grep -n 'INTERFACE_LINK_LIBRARIES.*/' "$out/prefix/lib/cmake/autograd/autogradTargets.cmake"; then
    fail "the exported target links a library by absolute path (not relocatable)"
fi
if grep -n 'INTERFACE_COMPILE_OPTIONS' "$out/prefix/lib/cmake/autograd/autogradTargets.cmake"; then
    fail "the exported target passes compile options to its consumers"
fi

echo "== 2. pkg-config: $cc main.c \$(pkg-config --cflags --libs autograd)"
export PKG_CONFIG_PATH="$out/prefix/lib/pkgconfig"
pcprefix=$(pkg-config --variable=prefix autograd)
[ "$pcprefix" = "$out/prefix" ] || fail "autograd.pc says prefix=$pcprefix, installed to $out/prefix"
pcver=$(pkg-config --modversion autograd)
[ "$pcver" = "$version" ] || fail "autograd.pc says version $pcver, autograd.h $version"
pkg-config --exists "autograd >= $major.$minor" || fail "pkg-config: autograd >= $major.$minor not found"
mkdir -p "$out/pc"
# shellcheck disable=SC2046  # the flags are words
$cc -std=c11 -Wall -Wextra -Wpedantic -Werror tests/consumer/main.c \
    $(pkg-config --cflags --libs autograd) -o "$out/pc/consumer"
"$out/pc/consumer"
unset PKG_CONFIG_PATH

echo "== 3. find_package(autograd $major.$minor) from the installed copy, moved"
mv "$out/prefix" "$out/moved"
cmake -S tests/consumer -B "$out/find" -DCMAKE_PREFIX_PATH="$out/moved" \
      -DCONSUMER_AUTOGRAD_VERSION="$major.$minor" >/dev/null
cmake --build "$out/find" >/dev/null
"$out/find/consumer"
refuse() {
    if cmake -S tests/consumer -B "$out/refuse" -DCMAKE_PREFIX_PATH="$out/moved" \
             -DCONSUMER_AUTOGRAD_VERSION="$1" >/dev/null 2>&1; then
        fail "find_package(autograd $1) accepted version $version"
    fi
    rm -rf "$out/refuse"
}
refuse "$major.$((minor + 1))"
refuse "$((major + 1)).0"
if [ "$major" = 0 ] && [ "$minor" -gt 0 ]; then
    refuse "0.$((minor - 1))"
fi

echo "== 4. add_subdirectory($src)"
cmake -S tests/consumer -B "$out/sub" -DCONSUMER_AUTOGRAD_SOURCE="$src" >/dev/null
targets=$(cmake --build "$out/sub" --target help | sed -n 's/^\.\.\. \([^ ]*\).*/\1/p' |
          grep -v '\.[ois]$' | grep -vxE 'all|clean|depend|edit_cache|rebuild_cache' | sort | tr '\n' ' ')
[ "$targets" = "autograd consumer " ] || fail "add_subdirectory defines the targets: $targets(want: autograd consumer)"
bt=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$out/sub/CMakeCache.txt")
[ -z "$bt" ] || fail "the parent's cache has CMAKE_BUILD_TYPE=$bt; it set none"
# our cache entries: all but CMake's own, the consumer's and the internal ones
foreign=$(grep -E '^[A-Za-z_][A-Za-z0-9_-]*:[A-Z]+=' "$out/sub/CMakeCache.txt" |
          grep -vE '^[^:]*:(INTERNAL|STATIC)=' | grep -vE '^(CMAKE_|CONSUMER_|AG_)' || true)
[ -z "$foreign" ] || fail "cache entries without the AG_ prefix: $foreign"
cmake --build "$out/sub" -j2 >/dev/null
built=$(cd "$out/sub" && find . -path '*/CMakeFiles' -prune -o -type f \( -name '*.a' -o -perm -u+x \) -print |
        sort | tr '\n' ' ')
[ "$built" = "./autograd/libautograd.a ./consumer " ] || fail "add_subdirectory built: $built"
"$out/sub/consumer"

echo "consumer.sh: all three ways build and run"
