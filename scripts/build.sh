#!/usr/bin/env bash
# Configure and build quarot into build/ (Release). Extra args go to CMake.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=${QUAROT_JOBS:-$(nproc)}
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$root/build" -j "$jobs"
