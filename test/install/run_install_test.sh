#!/usr/bin/env bash
# Installs carcheck into a scratch prefix and builds + runs a consumer that finds it with
# find_package(carcheck CONFIG REQUIRED), header-only.
set -euo pipefail
src=$1 work=$2 cxx=$3
rm -rf "$work" && mkdir -p "$work"
cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$work/prefix" \
  -DCARCHECK_BUILD_TESTS=OFF -DCARCHECK_BUILD_TOOLS=OFF -DCARCHECK_BUILD_EXAMPLES=OFF -DCARCHECK_BUILD_BENCHMARKS=OFF \
  -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
cmake --install "$work/build" >/dev/null
test -f "$work/prefix/include/carcheck/client.hpp"
cmake -S "$src/test/install/consumer" -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
cmake --build "$work/consumer" >/dev/null
"$work/consumer/consumer"
