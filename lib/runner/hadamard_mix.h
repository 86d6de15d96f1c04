// The fp16 online Hadamard + quantization kernels (hadamard_mix.cu, heads_wht.cu),
// used by hadamard.cu's dispatch for the shapes they take.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "lib/runner/kernels.h"

namespace quarot::runner::detail {

struct MixArgs {
  const uint16_t* x = nullptr;  // fp16 rows
  int64_t ldx = 0;
  int M = 0;
  int A = 0, B = 0;             // row = A blocks of B elements
  bool fwht = false;            // then a B-point Walsh–Hadamard after the mix (B = 64)
  const void* frag = nullptr;   // the A×A mix matrix as mma fragments (HadamardDevice::mix_rows/mix_full)
  float norm = 0.f;             // 1 / sqrt(A·B)
  int maxq = 0;
  float c_over_maxq = 0.f;
  ActCodes codes{nullptr};
  float* scale = nullptr;
};

// Whether RN(v · k_code) can fall below -(maxq + 1): |v · k_code| <= maxq / clip, so
// only for clip < maxq / (maxq + 1.5) (0.82 at 4 bits), with a margin. Kernels that
// know it cannot leave the lower clamp out (an instruction a value).
inline bool needs_low_clamp(const MixArgs& a) { return 1.f / a.c_over_maxq > float(a.maxq) + 1.25f; }
// Whether every code fits the int16 clamps of these kernels (dev::codes4,
// dev::clamp_pack4: the rounded word's low half), i.e. maxq / clip, the largest
// |sum| / s, is below 2^15 with a margin. Tinier clip ratios must take other kernels.
inline bool int16_codes_fit(float c_over_maxq) { return 1.f / c_over_maxq < 16384.f; }

bool hadamard_mix_supported(int A, int B, bool fwht, int64_t ldx, const void* x);
void hadamard_mix_quant(const MixArgs& a, cudaStream_t stream);

// hadamard_mix_wgmma.cu (sm_90a): many rows with the Walsh–Hadamard (B = 64, A in
// 129..256: n = 11008 and 14336), the mix on the warpgroup MMA, one block an SM.
bool hadamard_mix_wgmma_supported(const MixArgs& a);
void hadamard_mix_wgmma_quant(const MixArgs& a, cudaStream_t stream);

// heads_wht.cu: across 32 heads of 128, up to 64 rows (a block a row, frag unused) or
// from 512 (a pair of warps a row on tensor cores, frag the H_32 fragments); takes
// the same arguments.
bool heads_wht_supported(const MixArgs& a);
void heads_wht_quant(const MixArgs& a, cudaStream_t stream);

}  // namespace quarot::runner::detail
