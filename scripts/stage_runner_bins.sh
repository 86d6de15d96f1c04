#!/usr/bin/env bash
# Builds the CUDA runner's GPU test and benchmark binaries here (the CPU machine has
# nvcc 13 and cuBLAS; the runner needs no LibTorch on the device) and copies them to
# the ignored folder .devbin/, which the device tool carries: `scripts/device.sh
# prebuilt` runs them there without spending device time on a build.
# usage: scripts/stage_runner_bins.sh [BUILD_DIR]   (default build-cuda)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${1:-$root/build-cuda}"
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DQUAROT_CUDA=ON \
    -DQUAROT_GPU_TESTS=ON -DCMAKE_CUDA_ARCHITECTURES=90 > /dev/null
fi
cmake --build "$build" --target test_runner_gpu bench_w4a4 quarot-run
# Compressed: three binaries with the runner's fat binaries are ~42 MB, and the tree
# that travels to the device is limited to 64 MiB. One xz stream with a 64 MB
# dictionary (-9e, one thread) finds the kernels the three binaries share: 8.6 MB,
# against 24 MB for multi-threaded -6 (blocks compressed apart), so the packed
# checkpoints of .stage-ppl/ fit beside them.
rm -rf "$root/.devbin"
mkdir -p "$root/.devbin"
tar -C "$build/lib/runner" -cf - test_runner_gpu bench_w4a4 quarot-run | xz -T1 -9e > "$root/.devbin/bins.tar.xz"
du -sh "$root/.devbin"
