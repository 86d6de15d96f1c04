// Row kernels: activation quantization (optionally after RMSNorm), the fp16
// RMSNorm that feeds lm_head, and the embedding gather.
#include <cuda_fp16.h>

#include <cmath>

#include "lib/core/error.h"
#include "lib/runner/cuda_check.h"
#include "lib/runner/device_common.cuh"
#include "lib/runner/kernels.h"
#include "lib/runner/launch_util.h"

namespace quarot::runner {
namespace {

constexpr int kRowThreads = 256;

// One block per row. The row is staged in shared memory (K floats) so that the
// statistics and the quantization read it once from global memory.
template <typename In, bool kNorm>
__global__ void __launch_bounds__(kRowThreads)
    row_quant_kernel(const In* __restrict__ x, int64_t ldx, const float* __restrict__ norm_w, float eps,
                     int K, int maxq, float c_over_maxq, uint8_t* __restrict__ packed,
                     float* __restrict__ scale) {
  extern __shared__ __align__(16) float row[];
  __shared__ float scratch[32];
  const int r = blockIdx.x;
  const In* xr = x + int64_t(r) * ldx;
  float ss = 0.f, amax = 0.f;
  for (int i = threadIdx.x; i < K; i += blockDim.x) {
    const float v = dev::load_as_float(xr + i);
    row[i] = v;
    if (kNorm)
      ss += v * v;
    else
      amax = fmaxf(amax, fabsf(v));
  }
  if (kNorm) {
    ss = dev::block_sum(ss, scratch);
    const float inv = 1.0f / sqrtf(ss / float(K) + eps);
    for (int i = threadIdx.x; i < K; i += blockDim.x) {
      const float v = (row[i] * inv) * norm_w[i];
      row[i] = v;
      amax = fmaxf(amax, fabsf(v));
    }
  }
  amax = dev::block_max(amax, scratch);  // its barriers also publish row[]
  const float s = dev::sym_scale(amax, c_over_maxq);
  uint32_t* out = reinterpret_cast<uint32_t*>(packed + int64_t(r) * (K / 2));
  for (int w = threadIdx.x; w < K / 8; w += blockDim.x) {
    const float4 a = *reinterpret_cast<const float4*>(row + 8 * w);
    const float4 b = *reinterpret_cast<const float4*>(row + 8 * w + 4);
    const float v[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
    out[w] = dev::pack8_sym(v, s, maxq);
  }
  if (threadIdx.x == 0) scale[r] = s;
}

__global__ void __launch_bounds__(kRowThreads)
    rmsnorm_f16_kernel(const float* __restrict__ h, const float* __restrict__ w, float eps, int K,
                       __half* __restrict__ out) {
  __shared__ float scratch[32];
  const int r = blockIdx.x;
  const float* hr = h + int64_t(r) * K;
  float ss = 0.f;
  for (int i = threadIdx.x; i < K; i += blockDim.x) ss += hr[i] * hr[i];
  ss = dev::block_sum(ss, scratch);
  const float inv = 1.0f / sqrtf(ss / float(K) + eps);
  for (int i = threadIdx.x; i < K; i += blockDim.x)
    out[int64_t(r) * K + i] = __float2half_rn((hr[i] * inv) * w[i]);
}

__global__ void embed_kernel(const __half* __restrict__ table, const int32_t* __restrict__ ids, int K,
                             float* __restrict__ out) {
  const int r = blockIdx.x;
  const __half* src = table + int64_t(ids[r]) * K;
  for (int i = threadIdx.x; i < K; i += blockDim.x) out[int64_t(r) * K + i] = __half2float(src[i]);
}

void check_act(const ActQuantSpec& q, int K, const char* what) {
  QUAROT_CHECK(q.bits >= 2 && q.bits <= 4, what, ": activation bits must be 2..4 for int4 codes, got ",
               q.bits);
  QUAROT_CHECK(q.clip > 0 && q.clip <= 1, what, ": clip ratio ", q.clip, " outside (0, 1]");
  QUAROT_CHECK(K > 0 && K % 32 == 0, what, ": row length ", K, " must be a positive multiple of 32");
}

template <typename In, bool kNorm>
void launch_row_quant(const In* x, int64_t ldx, const float* w, float eps, int M, int K, const ActQuantSpec& q,
                      uint8_t* packed, float* scale, cudaStream_t stream) {
  check_act(q, K, kNorm ? "rmsnorm_quant" : "act_quant");
  if (M == 0) return;
  const int maxq = (1 << (q.bits - 1)) - 1;
  const float c = float(q.clip / double(maxq));
  const size_t smem = size_t(K) * sizeof(float);
  auto* kernel = row_quant_kernel<In, kNorm>;
  ensure_dynamic_smem(kernel, smem);
  kernel<<<M, kRowThreads, smem, stream>>>(x, ldx, w, eps, K, maxq, c, packed, scale);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void act_quant_f32(const float* x, int64_t ldx, int M, int K, const ActQuantSpec& q, uint8_t* packed,
                   float* scale, cudaStream_t stream) {
  launch_row_quant<float, false>(x, ldx, nullptr, 0.f, M, K, q, packed, scale, stream);
}

void act_quant_f16(const uint16_t* x, int64_t ldx, int M, int K, const ActQuantSpec& q, uint8_t* packed,
                   float* scale, cudaStream_t stream) {
  launch_row_quant<uint16_t, false>(x, ldx, nullptr, 0.f, M, K, q, packed, scale, stream);
}

void rmsnorm_quant(const float* h, const float* weight, float eps, int M, int K, const ActQuantSpec& q,
                   uint8_t* packed, float* scale, cudaStream_t stream) {
  launch_row_quant<float, true>(h, K, weight, eps, M, K, q, packed, scale, stream);
}

void rmsnorm_f16(const float* h, const float* weight, float eps, int M, int K, uint16_t* out,
                 cudaStream_t stream) {
  if (M == 0) return;
  rmsnorm_f16_kernel<<<M, kRowThreads, 0, stream>>>(h, weight, eps, K, reinterpret_cast<__half*>(out));
  CUDA_CHECK_LAUNCH();
}

void embed_rows(const uint16_t* table, const int32_t* ids, int M, int K, float* out, cudaStream_t stream) {
  if (M == 0) return;
  embed_kernel<<<M, kRowThreads, 0, stream>>>(reinterpret_cast<const __half*>(table), ids, K, out);
  CUDA_CHECK_LAUNCH();
}

int device_sm_count() {
  static const int count = [] {
    int dev = 0, n = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
    return n;
  }();
  return count;
}

}  // namespace quarot::runner
