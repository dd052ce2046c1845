#!/bin/sh
# scripts/test.sh - installs cmocka if missing, builds the library, examples and
# tests (Debug, warnings as errors) into build-test/, and runs the whole suite.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh tests
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DAG_WERROR=ON -DAG_TESTS=ON
cmake --build build-test -j2
ctest --test-dir build-test --output-on-failure -j2
