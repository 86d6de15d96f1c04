// Generic row quantization and online Hadamard transforms (generic_kernels.h):
// one block per row, the row re-read from global memory or staged in shared
// memory, fp32 arithmetic. Only the tiny models' shapes come here.
#include <cuda_fp16.h>

#include <algorithm>
#include <climits>

#include "lib/core/error.h"
#include "lib/runner/cuda_check.h"
#include "lib/runner/device_common.cuh"
#include "lib/runner/gemm_common.cuh"
#include "lib/runner/generic_kernels.h"
#include "lib/runner/launch_util.h"

namespace quarot::runner::detail {
namespace {

constexpr int kThreads = 256;

// Byte j of a packed row: codes of elements 2j and 2j + 1, zero past `n`.
__device__ __forceinline__ uint8_t pack2(const float* v, int j, int n, float s, int maxq) {
  const int lo = 2 * j < n ? dev::sym_code(v[2 * j], s, maxq) : 0;
  const int hi = 2 * j + 1 < n ? dev::sym_code(v[2 * j + 1], s, maxq) : 0;
  return uint8_t((uint32_t(lo) & 0xFu) | ((uint32_t(hi) & 0xFu) << 4));
}

// The row is staged in shared memory (K floats): statistics, then codes.
template <typename In, bool kNorm>
__global__ void __launch_bounds__(kThreads)
    generic_row_quant_kernel(const In* __restrict__ x, int64_t ldx, const float* __restrict__ norm_w, float eps,
                             int K, int cols, int maxq, float c_over_maxq, uint8_t* __restrict__ packed,
                             float* __restrict__ scale) {
  gemm::pdl_trigger();
  extern __shared__ __align__(16) float row[];
  __shared__ float scratch[32];
  const int r = blockIdx.x;
  const In* xr = x + int64_t(r) * ldx;
  float ss = 0.f, amax = 0.f;
  for (int k = threadIdx.x; k < K; k += blockDim.x) {
    const float v = dev::load_as_float(xr + k);
    row[k] = v;
    ss += v * v;
    amax = fmaxf(amax, fabsf(v));
  }
  if (kNorm) {
    ss = dev::block_sum(ss, scratch);
    const float inv = 1.0f / sqrtf(ss / float(K) + eps);
    amax = 0.f;
    for (int k = threadIdx.x; k < K; k += blockDim.x) {
      const float v = (row[k] * inv) * norm_w[k];
      row[k] = v;
      amax = fmaxf(amax, fabsf(v));
    }
  }
  amax = dev::block_max(amax, scratch);  // its barriers also publish row[]
  const float s = dev::sym_scale(amax, c_over_maxq);
  uint8_t* out = packed + int64_t(r) * (cols / 2);
  for (int j = threadIdx.x; j < cols / 2; j += blockDim.x) out[j] = pack2(row, j, K, s, maxq);
  if (threadIdx.x == 0) scale[r] = s;
}

// Shared memory: the row (n floats), the K×K product's output (n floats, K > 1),
// then H_K as signed bytes (K·K, K > 1).
template <typename In>
__global__ void __launch_bounds__(kThreads)
    generic_transform_kernel(const In* __restrict__ x, int64_t ldx, int M, GenericTransform tf, int maxq,
                             float c_over_maxq, int cols, uint8_t* __restrict__ packed, float* __restrict__ scale,
                             float* __restrict__ y) {
  gemm::pdl_trigger();
  extern __shared__ __align__(16) float sm[];
  __shared__ float scratch[32];
  const int n = tf.n, K = tf.K, P = tf.P, inner = tf.inner, S = P * inner;
  float* row = sm;
  float* mixed = sm + n;
  int8_t* hk = reinterpret_cast<int8_t*>(sm + (K > 1 ? 2 * n : n));
  for (int i = threadIdx.x; K > 1 && i < K * K; i += blockDim.x) hk[i] = tf.signs[i];
  for (int r = blockIdx.x; r < M; r += gridDim.x) {
    __syncthreads();  // the previous row is written out; H_K is in place
    const In* xr = x + int64_t(r) * ldx;
    for (int i = threadIdx.x; i < n; i += blockDim.x) row[i] = dev::load_as_float(xr + i);
    __syncthreads();
    // Walsh–Hadamard over the P axis: pair (c·P + b, b bit h clear) with b + h.
    for (int h = 1; h < P; h <<= 1) {
      for (int p = threadIdx.x; p < n / 2; p += blockDim.x) {
        const int e = p % inner, rest = p / inner;
        const int i0 = ((rest / h) * 2 * h + rest % h) * inner + e, i1 = i0 + h * inner;
        const float a = row[i0], b = row[i1];
        row[i0] = a + b;
        row[i1] = a - b;
      }
      __syncthreads();
    }
    float* res = row;
    if (K > 1) {
      for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const int a = i / S, col = i % S;
        const int8_t* ha = hk + a * K;
        float acc = 0.f;
        for (int c = 0; c < K; ++c) acc += ha[c] > 0 ? row[c * S + col] : -row[c * S + col];
        mixed[i] = acc;
      }
      __syncthreads();
      res = mixed;
    }
    if (y != nullptr) {
      for (int i = threadIdx.x; i < n; i += blockDim.x) y[int64_t(r) * n + i] = res[i] * tf.norm;
      continue;
    }
    float amax = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
      const float v = res[i] * tf.norm;
      res[i] = v;
      amax = fmaxf(amax, fabsf(v));
    }
    amax = dev::block_max(amax, scratch);  // its barriers also publish res[]
    const float s = dev::sym_scale(amax, c_over_maxq);
    uint8_t* out = packed + int64_t(r) * (cols / 2);
    for (int j = threadIdx.x; j < cols / 2; j += blockDim.x) out[j] = pack2(res, j, n, s, maxq);
    if (threadIdx.x == 0) scale[r] = s;
  }
}

template <typename In>
void row_quant(const In* x, int64_t ldx, const float* norm_w, float eps, int M, int K, int cols, int maxq,
               float c, uint8_t* packed, float* scale, cudaStream_t stream) {
  QUAROT_CHECK(K >= 1 && cols >= K && cols % 2 == 0, "act_quant: row length ", K, " and packed width ", cols,
               " (needs an even width >= the row length)");
  QUAROT_CHECK(ldx >= K, "act_quant: row stride ", ldx, " is smaller than the row length ", K);
  if (M == 0) return;
  const size_t smem = size_t(K) * sizeof(float);
  if (norm_w != nullptr) {
    ensure_dynamic_smem(generic_row_quant_kernel<In, true>, smem);
    generic_row_quant_kernel<In, true><<<M, kThreads, smem, stream>>>(x, ldx, norm_w, eps, K, cols, maxq, c,
                                                                        packed, scale);
  } else {
    ensure_dynamic_smem(generic_row_quant_kernel<In, false>, smem);
    generic_row_quant_kernel<In, false><<<M, kThreads, smem, stream>>>(x, ldx, nullptr, eps, K, cols, maxq, c,
                                                                         packed, scale);
  }
  CUDA_CHECK_LAUNCH();
}

template <typename In>
void transform(const In* x, int64_t ldx, int M, const GenericTransform& tf, int maxq, float c, int cols,
               uint8_t* packed, float* scale, float* y, cudaStream_t stream) {
  QUAROT_CHECK(tf.n >= 1 && tf.n == tf.K * tf.P * tf.inner && (tf.P & (tf.P - 1)) == 0,
               "online Hadamard: inconsistent transform of size ", tf.n);
  QUAROT_CHECK(tf.K == 1 || tf.signs != nullptr, "online Hadamard: no K×K factor for K = ", tf.K);
  QUAROT_CHECK(ldx >= tf.n, "online Hadamard: row stride ", ldx, " is smaller than the row length ", tf.n);
  QUAROT_CHECK(packed == nullptr || (cols >= tf.n && cols % 2 == 0), "online Hadamard: packed width ", cols,
               " must be even and at least the row length ", tf.n);
  if (M == 0) return;
  const size_t smem = size_t(tf.K > 1 ? 2 * tf.n : tf.n) * sizeof(float) + size_t(tf.K > 1 ? tf.K * tf.K : 0);
  auto* kernel = generic_transform_kernel<In>;
  ensure_dynamic_smem(kernel, smem);
  const int grid = int(std::min<int64_t>(M, int64_t(8) * device_sm_count()));
  kernel<<<grid, kThreads, smem, stream>>>(x, ldx, M, tf, maxq, c, cols, packed, scale, y);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void generic_row_quant(const float* x, int64_t ldx, const float* norm_w, float eps, int M, int K, int cols,
                       int maxq, float c_over_maxq, uint8_t* packed, float* scale, cudaStream_t stream) {
  row_quant(x, ldx, norm_w, eps, M, K, cols, maxq, c_over_maxq, packed, scale, stream);
}
void generic_row_quant(const uint16_t* x, int64_t ldx, const float* norm_w, float eps, int M, int K, int cols,
                       int maxq, float c_over_maxq, uint8_t* packed, float* scale, cudaStream_t stream) {
  row_quant(x, ldx, norm_w, eps, M, K, cols, maxq, c_over_maxq, packed, scale, stream);
}
void generic_transform(const float* x, int64_t ldx, int M, const GenericTransform& tf, int maxq, float c_over_maxq,
                       int cols, uint8_t* packed, float* scale, float* y, cudaStream_t stream) {
  transform(x, ldx, M, tf, maxq, c_over_maxq, cols, packed, scale, y, stream);
}
void generic_transform(const uint16_t* x, int64_t ldx, int M, const GenericTransform& tf, int maxq,
                       float c_over_maxq, int cols, uint8_t* packed, float* scale, float* y, cudaStream_t stream) {
  transform(x, ldx, M, tf, maxq, c_over_maxq, cols, packed, scale, y, stream);
}

}  // namespace quarot::runner::detail
