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

bool hadamard_mix_supported(int A, int B, bool fwht, int64_t ldx, const void* x);
void hadamard_mix_quant(const MixArgs& a, cudaStream_t stream);

// heads_wht.cu: across 32 heads of 128, up to 64 rows (a block a row, frag unused) or
// from 512 (a pair of warps a row on tensor cores, frag the H_32 fragments); takes
// the same arguments.
bool heads_wht_supported(const MixArgs& a);
void heads_wht_quant(const MixArgs& a, cudaStream_t stream);

}  // namespace quarot::runner::detail
