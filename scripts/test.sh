#!/usr/bin/env bash
# Set-up, build and run every test (what CI runs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/install_deps.sh"
bash "$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure -j "${QUAROT_JOBS:-$(nproc)}"
