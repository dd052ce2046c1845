#!/bin/sh
# scripts/deps.sh [tests] - installs, with apt-get, what the build needs and is
# missing on a Debian 12 machine (cmake, a C compiler, make), and with "tests"
# also cmocka (libcmocka-dev). Run as root; does nothing if all is there.
set -eu
need=""
command -v cmake >/dev/null 2>&1 || need="$need cmake"
command -v cc >/dev/null 2>&1 || need="$need gcc libc6-dev"
command -v make >/dev/null 2>&1 || need="$need make"
if [ "${1:-}" = tests ] && ! dpkg -s libcmocka-dev >/dev/null 2>&1; then
    need="$need libcmocka-dev"
fi
if [ -n "$need" ]; then
    echo "deps.sh: installing:$need"
    if [ "$(id -u)" != 0 ]; then
        echo "deps.sh: need root to install:$need (run: apt-get install$need)" >&2
        exit 1
    fi
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need
fi
