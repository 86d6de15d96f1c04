// Generic kernels for shapes the fast kernels do not take (the tiny test models:
// hidden 64, intermediate 172, head_dim 8 or 16). Simple one-block-per-row or
// one-warp-per-query code in fp32; the public wrappers in kernels.h dispatch here
// only for shapes their fast kernels refused before, so the fast paths (and their
// numbers) are untouched. Same quantizer formulas as the fast kernels.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "lib/runner/kernels.h"

namespace quarot::runner::detail {

// Per-row symmetric quantization (optionally RMSNorm times norm_w first) of the K
// values of each row into `cols` / 2 bytes (cols even, >= K; codes past K are 0).
void generic_row_quant(const float* x, int64_t ldx, const float* norm_w, float eps, int M, int K, int cols,
                       int maxq, float c_over_maxq, uint8_t* packed, float* scale, cudaStream_t stream);
void generic_row_quant(const uint16_t* x, int64_t ldx, const float* norm_w, float eps, int M, int K, int cols,
                       int maxq, float c_over_maxq, uint8_t* packed, float* scale, cudaStream_t stream);

// H = (H_K ⊗ S_P) / sqrt(K·P) applied to each row read as [K, P, inner] (inner = 1
// for a plain row, head_dim across heads): element (c, b, e) at (c·P + b)·inner + e.
struct GenericTransform {
  int n = 0;      // K·P·inner
  int K = 1, P = 1, inner = 1;
  const int8_t* signs = nullptr;  // H_K, K×K row-major (null when K == 1)
  float norm = 1.f;               // float(1 / sqrt(K·P))
};
// Transform, then either quantize into packed (cols / 2 bytes per row, zero codes
// past n) + scale, or (packed == null) write y [M, n] as float.
void generic_transform(const float* x, int64_t ldx, int M, const GenericTransform& tf, int maxq, float c_over_maxq,
                       int cols, uint8_t* packed, float* scale, float* y, cudaStream_t stream);
void generic_transform(const uint16_t* x, int64_t ldx, int M, const GenericTransform& tf, int maxq,
                       float c_over_maxq, int cols, uint8_t* packed, float* scale, float* y, cudaStream_t stream);

// rope_qk_kv and attention for any even D <= 256 (the Hadamard of D: D a power of two).
void generic_rope_qk_kv(const float* qkv, int T, int H, int KV, int D, const float* cos_table,
                        const float* sin_table, bool qk_hadamard, int k_maxq, int v_maxq, float clip,
                        float* q_out, const KvCacheView& cache, cudaStream_t stream);
void generic_attention(const float* q, const KvCacheView& cache, int T, int H, int KV, int D, float* out,
                       cudaStream_t stream);

}  // namespace quarot::runner::detail
