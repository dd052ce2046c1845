#!/bin/sh
# scripts/fashion_mnist.sh [EPOCHS] [SEED] - trains the Fashion-MNIST example
# (examples/mnist/fashion_mnist.c): installs Debian's dataset-fashion-mnist
# package if it is missing (as root), unpacks its gzipped IDX files into
# build/fashion-mnist/, builds the library and the example (Release) and runs
# it. Exits with the example's status: 0 if it reached 88% test accuracy.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
src=/usr/share/datasets/fashion-mnist
if [ ! -f "$src/t10k-labels-idx1-ubyte.gz" ]; then
    echo "fashion_mnist.sh: installing dataset-fashion-mnist"
    if [ "$(id -u)" != 0 ]; then
        echo "fashion_mnist.sh: need root (run: apt-get install dataset-fashion-mnist)" >&2
        exit 1
    fi
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q dataset-fashion-mnist gzip
fi
data=build/fashion-mnist
mkdir -p "$data"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [ -f "$data/$f" ] || gzip -dc "$src/$f.gz" > "$data/$f"
done
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2 --target fashion_mnist
exec build/fashion_mnist "$data" "${1:-10}" "${2:-1}"
