#!/usr/bin/env bash
# Everything quarot does on the GPU machine, in as few device calls as possible.
# Run there from the repository root, with .stage/ carried (scripts/stage_device.sh):
#   scripts/device.sh golden   Hugging Face reference files -> $OUT/golden.tar.gz
#   scripts/device.sh build    configure + build against the Python env's LibTorch/CUDA
#   scripts/device.sh test     build, then ctest (CPU and GPU tests) -> $OUT/test.log
#   scripts/device.sh pipeline wikillama-27m and stories260K end to end on CUDA -> $OUT/pipeline.log
#   scripts/device.sh bench    the W4A4 linear vs cuBLAS BF16 benchmark -> $OUT/bench.log
#   scripts/device.sh runner   only the runner: build, GPU tests, benchmark (quick kernel work)
#   scripts/device.sh runner_ppl  the prebuilt quarot-run on packed checkpoints staged by
#                              scripts/stage_runner_ppl.sh (.stage-ppl/, carried), and the
#                              transformers bf16 baseline on the same ids -> $OUT/runner_ppl.log
#   scripts/device.sh prebuilt the runner's GPU tests and benchmark from binaries built on the
#                              CPU machine (scripts/stage_runner_bins.sh -> .devbin/, carried):
#                              no build on the device; falls back to `runner` if they do not load
# Several steps can be given at once: scripts/device.sh build test bench
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
OUT=${OUT:-$root/.device-out}
mkdir -p "$OUT"
stage="$root/.stage"
build="$root/build-device"
export PYTHONUNBUFFERED=1

step_golden() {
  local tok=/tmp/llama2-tokenizer.json
  xz -dc "$stage/llama2/tokenizer.json.xz" > "$tok"
  rm -rf /tmp/golden
  python3 scripts/make_golden.py --out /tmp/golden --wikillama "$stage/wikillama-27m" \
    --llama2-tokenizer "$tok" 2>&1 | tee "$OUT/golden.log"
  tar -C /tmp -czf "$OUT/golden.tar.gz" golden
}

# Configure build-device/ against the Python environment's LibTorch and CUDA.
configure() {
  mkdir -p "$stage/include"
  [[ -d "$stage/include/nlohmann" ]] || tar -C "$stage/include" -xJf "$stage/headers.tar.xz"
  local torch_prefix
  torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$torch_prefix" -DQUAROT_EXTRA_INCLUDE="$stage/include;$stage/include/eigen3" \
    -DQUAROT_CUDA=ON -DQUAROT_GPU_TESTS=ON -DCMAKE_CUDA_ARCHITECTURES=90 > "$OUT/configure.log" 2>&1
  local rc=$?
  tail -5 "$OUT/configure.log"
  return $rc
}

step_build() {
  configure || return 1
  cmake --build "$build" -j "$(nproc)" -- -k 0 2>&1 | tee "$OUT/build.log" | grep -E "error|warning: unused|FAILED" | head -40
  return "${PIPESTATUS[0]}"
}

# The runner alone (no LibTorch targets): build, its GPU tests, the GEMM benchmark.
# QUAROT_TEST_FILTER / QUAROT_BENCH_ARGS narrow them (Catch2 tags, bench_w4a4 flags).
step_runner() {
  configure || return 1
  cmake --build "$build" -j "$(nproc)" --target test_runner_gpu bench_w4a4 quarot-run 2>&1 | tee "$OUT/build.log" |
    grep -E "error|FAILED" | head -40
  [[ ${PIPESTATUS[0]} -eq 0 ]] || return 1
  "$build/lib/runner/test_runner_gpu" ${QUAROT_TEST_FILTER:-} 2>&1 | tee "$OUT/runner_test.log" | tail -25
  "$build/lib/runner/bench_w4a4" ${QUAROT_BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log"
}

# The runner is plain CUDA C++ (no LibTorch), so its binaries can be built on the CPU
# machine with the same nvcc and carried; they need the device's libcudart/libcublas 13.
step_prebuilt() {
  local bin=/tmp/quarot-bin py_lib
  mkdir -p "$bin"
  tar -C "$bin" -xJf "$root/.devbin/bins.tar.xz" || return 1
  py_lib=$(python3 -c 'import nvidia.cu13, os; print(os.path.dirname(nvidia.cu13.__file__) + "/lib")' 2>/dev/null || true)
  export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${py_lib}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  if ldd "$bin/test_runner_gpu" "$bin/bench_w4a4" | grep -q "not found"; then
    ldd "$bin/bench_w4a4" | grep "not found"
    echo "prebuilt binaries do not load here: building on the device"
    step_runner
    return
  fi
  "$bin/test_runner_gpu" ${QUAROT_TEST_FILTER:-} 2>&1 | tee "$OUT/runner_test.log" | tail -25
  "$bin/bench_w4a4" ${QUAROT_BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log"
}

# Perplexity passes of the CUDA runner on the packed checkpoints in .stage-ppl/<name>/
# (with ids.bin and seqlen next to them), then transformers in bf16 over the same ids
# (config-only models get random weights: speed and memory depend on the shapes only).
step_runner_ppl() {
  local bin=/tmp/quarot-bin
  [[ -x "$bin/quarot-run" ]] || { mkdir -p "$bin" && tar -C "$bin" -xJf "$root/.devbin/bins.tar.xz"; } || return 1
  export LD_LIBRARY_PATH="/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  for d in "$root"/.stage-ppl/*/; do
    local name seqlen
    name=$(basename "$d")
    seqlen=$(cat "$d/seqlen")
    echo "== $name: CUDA INT4 runner (seqlen $seqlen)"
    "$bin/quarot-run" ppl --model "$d/packed" --ids "$d/ids.bin" --seqlen "$seqlen" --json
    echo "== $name: transformers bf16 (sdpa)"
    python3 "$root/scripts/hf_throughput.py" --model "$d/hf" --ids "$d/ids.bin" --seqlen "$seqlen"
  done 2>&1 | tee "$OUT/runner_ppl.log"
}

# Nsight Compute on the runner's GEMM and transform kernels (after `runner`).
step_profile() {
  ncu --kernel-name "${QUAROT_NCU_KERNEL:-regex:gemm_wgmma|transform_kernel}" --launch-skip 3 --launch-count 2 \
    --section SpeedOfLight --section WarpStateStats --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis \
    --section Occupancy --section LaunchStats --section SchedulerStats \
    "${QUAROT_BENCH_BIN:-$build/lib/runner/bench_w4a4}" ${QUAROT_NCU_ARGS:---m 8192 --shapes down --reps 1} 2>&1 | tee "$OUT/ncu.log" | tail -150
}

step_test() {
  (cd "$build" && ctest --output-on-failure -j 8 2>&1 | tee "$OUT/test.log" | tail -30)
}

step_pipeline() {
  bash scripts/gpu_pipeline.sh "$build" "$stage/wikillama-27m" /tmp/quarot-gpu 2>&1 | tee "$OUT/pipeline.log"
}

# One-off investigations; each leaves its log under $OUT.
step_study() {
  local work=/tmp/quarot-study
  mkdir -p "$work"
  "$build/apps/quarot-convert" -q fuse --in "$stage/wikillama-27m" --out "$work/fused" --overwrite --device cuda
  "$build/apps/quarot-convert" -q rotate --in "$work/fused" --out "$work/rot" --overwrite --device cuda
  QUAROT_BIN=$build/apps bash scripts/bits_study.sh "$work/rot" 2048 --device cuda 8 2>&1 | tee "$OUT/study.log"
}

step_debug() {
  cuda-gdb -batch -ex run -ex bt --args "$build/tests/test_pipeline" "quantized checkpoints*" 2>&1 | tail -40 | tee "$OUT/debug.log"
}

step_bench() {
  "$build/lib/runner/bench_w4a4" 2>&1 | tee "$OUT/bench.log"
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
rc=0
for s in "$@"; do
  echo "=== device step: $s"
  "step_$s" || { rc=$?; echo "step $s failed ($rc)"; break; }
done
exit $rc
