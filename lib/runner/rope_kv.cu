// RoPE + the Hadamard of head_dim on Q and K + KV-cache quantization: one warp per
// token and head, the head's values in registers.
#include <cuda_fp16.h>

#include <cmath>

#include "lib/core/error.h"
#include "lib/runner/cuda_check.h"
#include "lib/runner/device_common.cuh"
#include "lib/runner/generic_kernels.h"
#include "lib/runner/kernels.h"
#include "lib/runner/launch_util.h"

namespace quarot::runner {
namespace {

struct KvQ {
  int maxq;
  float clip;
};

// Asymmetric quantization of the warp's D values (R per lane, element lane + 32 r),
// codes packed in natural order: byte e/2 holds e (low nibble) and e+1 (high).
template <int R>
__device__ __forceinline__ void kv_quant_store(const float (&v)[R], KvQ q, uint8_t* codes, float* scale_out,
                                               float* zero_out, int lane) {
  float mn = v[0], mx = v[0];
#pragma unroll
  for (int r = 1; r < R; ++r) {
    mn = fminf(mn, v[r]);
    mx = fmaxf(mx, v[r]);
  }
  mn = dev::warp_min(mn);
  mx = dev::warp_max(mx);
  const float lo = fminf(mn, 0.f) * q.clip, hi = fmaxf(mx, 0.f) * q.clip;
  float s = __fdiv_rn(hi - lo, float(q.maxq));
  if (s == 0.f) s = 1.f;
  const float z = rintf(__fdiv_rn(-lo, s));
#pragma unroll
  for (int r = 0; r < R; ++r) {
    float c = rintf(__fdiv_rn(v[r], s)) + z;
    c = fminf(fmaxf(c, 0.f), float(q.maxq));
    const uint32_t code = uint32_t(c);
    const uint32_t other = __shfl_xor_sync(0xffffffffu, code, 1);
    if ((lane & 1) == 0) codes[(lane + 32 * r) >> 1] = uint8_t(code | (other << 4));
  }
  if (lane == 0) {
    *scale_out = s;
    *zero_out = z;
  }
}

template <int R>
__global__ void __launch_bounds__(256)
    rope_qk_kv_kernel(const float* __restrict__ qkv, int T, int H, int KV, const float* __restrict__ cosT,
                      const float* __restrict__ sinT, bool qk_had, KvQ kq, KvQ vq, float* __restrict__ q_out,
                      KvCacheView cache) {
  constexpr int D = 32 * R, HALF = R / 2;
  const int lane = threadIdx.x & 31;
  const int64_t item = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  const int heads = H + 2 * KV;
  if (item >= int64_t(T) * heads) return;  // whole warps exit together
  const int t = int(item / heads), j = int(item % heads);
  const float* src = qkv + int64_t(t) * heads * D + int64_t(j) * D;
  float v[R];
#pragma unroll
  for (int r = 0; r < R; ++r) v[r] = src[lane + 32 * r];

  if (j < H + KV) {
    // rotate-half RoPE: element e pairs with e ± D/2, i.e. register r with r ± R/2.
    float o[R];
#pragma unroll
    for (int r = 0; r < HALF; ++r) {
      const int e = lane + 32 * r;
      const float c = cosT[int64_t(t) * (D / 2) + e], s = sinT[int64_t(t) * (D / 2) + e];
      o[r] = v[r] * c - v[r + HALF] * s;
      o[r + HALF] = v[r + HALF] * c + v[r] * s;
    }
#pragma unroll
    for (int r = 0; r < R; ++r) v[r] = o[r];
    if (qk_had) {
#pragma unroll
      for (int h = 1; h < 32; h <<= 1)
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const float other = __shfl_xor_sync(0xffffffffu, v[r], h);
          v[r] = (lane & h) ? other - v[r] : v[r] + other;
        }
#pragma unroll
      for (int h = 1; h < R; h <<= 1)
#pragma unroll
        for (int r = 0; r < R; ++r)
          if ((r & h) == 0) {
            const float a = v[r], b = v[r + h];
            v[r] = a + b;
            v[r + h] = a - b;
          }
      const float norm = 1.0f / sqrtf(float(D));
#pragma unroll
      for (int r = 0; r < R; ++r) v[r] *= norm;
    }
  }

  if (j < H) {
    float* dst = q_out + (int64_t(j) * T + t) * D;
#pragma unroll
    for (int r = 0; r < R; ++r) dst[lane + 32 * r] = v[r];
  } else if (j < H + KV) {
    const int64_t row = int64_t(j - H) * T + t;
    kv_quant_store<R>(v, kq, cache.k_codes + row * (D / 2), cache.k_scale + row, cache.k_zero + row, lane);
  } else {
    const int64_t row = int64_t(j - H - KV) * T + t;
    kv_quant_store<R>(v, vq, cache.v_codes + row * (D / 2), cache.v_scale + row, cache.v_zero + row, lane);
  }
}

KvQ make_kvq(int bits, double clip, const char* what) {
  QUAROT_CHECK(bits >= 2 && bits <= 4, what, " must be 2..4 for the int4 KV cache, got ", bits);
  QUAROT_CHECK(clip > 0 && clip <= 1, "KV cache clip ratio ", clip, " outside (0, 1]");
  return KvQ{(1 << bits) - 1, float(clip)};
}

}  // namespace

void rope_qk_kv(const float* qkv, int T, int H, int KV, int D, const float* cos_table, const float* sin_table,
                bool qk_hadamard, const KvQuantParams& kv, float* q_out, const KvCacheView& cache,
                cudaStream_t stream) {
  QUAROT_CHECK(KV > 0 && H % KV == 0, "rope_qk_kv: heads ", H, " not a multiple of kv heads ", KV);
  const KvQ kq = make_kvq(kv.k_bits, kv.clip, "kv_cache.k_bits");
  const KvQ vq = make_kvq(kv.v_bits, kv.clip, "kv_cache.v_bits");
  if (D != 64 && D != 128 && D != 256) {  // small or odd head_dim: the generic kernel
    detail::generic_rope_qk_kv(qkv, T, H, KV, D, cos_table, sin_table, qk_hadamard, kq.maxq, vq.maxq, kq.clip, q_out,
                               cache, stream);
    return;
  }
  if (T == 0) return;
  const int64_t items = int64_t(T) * (H + 2 * KV);
  const int blocks = int((items + 7) / 8);
  switch (D) {
    case 64:
      rope_qk_kv_kernel<2>
          <<<blocks, 256, 0, stream>>>(qkv, T, H, KV, cos_table, sin_table, qk_hadamard, kq, vq, q_out, cache);
      break;
    case 128:
      rope_qk_kv_kernel<4>
          <<<blocks, 256, 0, stream>>>(qkv, T, H, KV, cos_table, sin_table, qk_hadamard, kq, vq, q_out, cache);
      break;
    default:
      rope_qk_kv_kernel<8>
          <<<blocks, 256, 0, stream>>>(qkv, T, H, KV, cos_table, sin_table, qk_hadamard, kq, vq, q_out, cache);
      break;
  }
  CUDA_CHECK_LAUNCH();
}

}  // namespace quarot::runner
