#!/bin/sh
# scripts/examples.sh - builds libautograd.a (Release) into build/ and runs every
# example program, checking each one's output against examples/expected/.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2
ctest --test-dir build -L example --output-on-failure
