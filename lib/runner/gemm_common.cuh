// Pieces shared by the W4A4 GEMM kernels (mma.sync and wgmma): parameters, the
// epilogues, programmatic dependent launch.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "lib/runner/cuda_check.h"
#include "lib/runner/kernels.h"

namespace quarot::runner::gemm {

struct Params {
  const uint8_t* a;
  int64_t a_rows;  // > 0: `a` holds tiles of a_rows rows (kernels.h, ActCodes); the wgmma kernel
  const float* sa;
  const uint8_t* w;
  const float* sw;
  const float* bias;
  void* out;
  int64_t ldo;
  int M, N, K;
  int mode;
  void* ws;  // GemmArgs::workspace (wgmma 128 x 128 only)
  size_t ws_bytes;
};

// Byte of packed weight byte kb (codes 2kb, 2kb + 1) of row n in the GEMM layout
// (kernels.h, w4a4_tile_weights); ktiles = ceil(K / 128).
__host__ __device__ __forceinline__ int64_t wtile_offset(int64_t n, int64_t kb, int64_t ktiles) {
  return ((n >> 5) * ktiles + (kb >> 6)) * 2048 + (n & 31) * 64 + (kb & 63);
}
__host__ __device__ __forceinline__ int64_t wtile_ktiles(int64_t K) { return (K + 127) / 128; }

// Programmatic dependent launch: a GEMM may start while the quantization kernel
// before it still runs; it streams weights, then waits here before touching
// anything that kernel writes. The row quantizer and the Hadamard mix kernel are
// launched the same way, so that their blocks are resident and waiting when the
// kernel before them (the previous GEMM) exits instead of paying a whole launch
// after it (M = 1-16: 0.3-0.8 us of a linear). Every block of a kernel launched by
// launch_pdl must execute pdl_wait before it reads the previous kernel's output,
// writes what that kernel reads, or exits: the wait is what makes "the kernels
// before me have finished" transitive along the chain. Without PDL both are no-ops.
__device__ __forceinline__ void pdl_wait() { asm volatile("griddepcontrol.wait;\n" ::: "memory"); }
__device__ __forceinline__ void pdl_trigger() { asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory"); }

__device__ __forceinline__ uint32_t word_of(const uint4& v, int c) {
  return c == 0 ? v.x : c == 1 ? v.y : c == 2 ? v.z : v.w;
}

__device__ __forceinline__ float silu(float g) { return g / (1.0f + expf(-g)); }

// The scales of one output element (token m, channel n), read where they are used
// or, by the skinny GEMM, before its main loop.
struct OutScales {
  float sa, sw, bias;
};
__device__ __forceinline__ OutScales out_scales(const Params& p, int m, int n) {
  return {p.sa[m], p.sw[n], p.bias != nullptr ? p.bias[n] : 0.0f};
}

__device__ __forceinline__ float scaled(const Params& p, int acc, const OutScales& s) {
  // acc = 256 * dot exactly; the shift is exact and dot fits a float's 24 bits.
  float v = float(acc >> 8) * s.sa * s.sw;
  if (p.bias != nullptr) v += s.bias;
  return v;
}
__device__ __forceinline__ float scaled(const Params& p, int m, int n, int acc) {
  return scaled(p, acc, out_scales(p, m, n));
}

// Epilogue for one output element in the non-SwiGLU modes; `s` is not read in I32
// mode (its scales may be absent there).
__device__ __forceinline__ void store_one(const Params& p, int m, int n, int acc, const OutScales& s) {
  const int64_t idx = int64_t(m) * p.ldo + n;
  switch (p.mode) {
    case int(OutMode::F32): static_cast<float*>(p.out)[idx] = scaled(p, acc, s); break;
    case int(OutMode::F16): static_cast<__half*>(p.out)[idx] = __float2half_rn(scaled(p, acc, s)); break;
    case int(OutMode::AddF32): static_cast<float*>(p.out)[idx] += scaled(p, acc, s); break;
    case int(OutMode::I32): static_cast<int*>(p.out)[idx] = acc >> 8; break;
    default: break;
  }
}
__device__ __forceinline__ void store_one(const Params& p, int m, int n, int acc) {
  const int64_t idx = int64_t(m) * p.ldo + n;
  switch (p.mode) {
    case int(OutMode::I32): static_cast<int*>(p.out)[idx] = acc >> 8; break;
    default: store_one(p, m, n, acc, out_scales(p, m, n)); break;
  }
}

// Two adjacent columns n, n+1 of row m (the C-fragment pair of one thread).
__device__ __forceinline__ void store_pair(const Params& p, int m, int n, int acc0, int acc1) {
  if (p.mode == int(OutMode::F16)) {
    const __half2 h = __floats2half2_rn(scaled(p, m, n, acc0), scaled(p, m, n + 1, acc1));
    *reinterpret_cast<__half2*>(static_cast<__half*>(p.out) + int64_t(m) * p.ldo + n) = h;
  } else if (p.mode == int(OutMode::F32) && (p.ldo & 1) == 0) {
    const float2 f = make_float2(scaled(p, m, n, acc0), scaled(p, m, n + 1, acc1));
    *reinterpret_cast<float2*>(static_cast<float*>(p.out) + int64_t(m) * p.ldo + n) = f;
  } else {
    store_one(p, m, n, acc0);
    store_one(p, m, n + 1, acc1);
  }
}

// SwiGLU epilogue: interleaved row n_gate (n_gate % 16 < 8) pairs with n_gate + 8.
__device__ __forceinline__ void store_swiglu(const Params& p, int m, int n_gate, int acc_gate, int acc_up,
                                             const OutScales& s_gate, const OutScales& s_up) {
  const float g = scaled(p, acc_gate, s_gate);
  const float u = scaled(p, acc_up, s_up);
  const int o = (n_gate >> 4) * 8 + (n_gate & 7);
  static_cast<float*>(p.out)[int64_t(m) * p.ldo + o] = silu(g) * u;
}
__device__ __forceinline__ void store_swiglu(const Params& p, int m, int n_gate, int acc_gate, int acc_up) {
  store_swiglu(p, m, n_gate, acc_gate, acc_up, out_scales(p, m, n_gate), out_scales(p, m, n_gate + 8));
}

}  // namespace quarot::runner::gemm

namespace quarot::runner::detail {
// True unless QUAROT_RUNNER_PDL=0.
bool pdl_enabled();
}  // namespace quarot::runner::detail

namespace quarot::runner::gemm {
// Launches `kernel` with programmatic stream serialization when PDL is enabled.
template <typename Kernel, typename... Args>
void launch_pdl(Kernel* kernel, dim3 grid, dim3 block, size_t smem, cudaStream_t stream, const Args&... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = detail::pdl_enabled() ? 1 : 0;
  CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, args...));
  CUDA_CHECK_LAUNCH();
}
}  // namespace quarot::runner::gemm

namespace quarot::runner::detail {
// gemm_skinny.cu: M <= 32; slow_producer is GemmArgs' launch hint.
void launch_skinny(const gemm::Params& p, bool slow_producer, cudaStream_t stream);
// gemm_skinny_staged.cu: M <= 16, a grid of one block an SM, the block's weight run
// within shared memory; false (nothing launched) where it does not apply.
bool launch_skinny_staged(const gemm::Params& p, cudaStream_t stream);
// gemm_wgmma.cu (sm_90a): true when this device runs the wgmma kernel.
bool wgmma_supported();
// Block shapes (channels x tokens): 256 x 128 (one block per SM), 128 x 128,
// 128 x 64 and 64 x 64 (two), see gemm_wgmma.cu.
void launch_gemm_wgmma(const gemm::Params& p, int channels, int tokens, cudaStream_t stream);
// The workspace that launch_gemm_wgmma's 128 x 128 block uses for M x N x K (0: it does not split).
size_t wgmma_tail_workspace_bytes(int M, int N, int K);
#if defined(QUAROT_GEMM_TIMELINE)
// The last wgmma launch's block stamps as CSV (gemm_timeline.cuh); false if the file cannot be written.
bool wgmma_timeline_dump(const char* path);
#endif
}  // namespace quarot::runner::detail
