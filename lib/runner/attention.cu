// RoPE + the Hadamard of head_dim on Q and K + KV-cache quantization (one warp per
// token and head), and causal GQA attention over the dequantized cache.
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

// ---- RoPE / Hadamard / KV quantization ----------------------------------------------

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

// ---- attention ------------------------------------------------------------------------
// Block: 64 queries of one head, 256 threads as 16 (ty) x 16 (tx). Scores: thread
// holds rows ty + 16 i and keys tx + 16 j (i, j < 4). Output: rows ty + 16 i,
// columns 4 tx + 64 jj + (0..3). Online softmax in fp32, flash-style.

constexpr int kBQ = 64, kBK = 64, kAttnThreads = 256;

template <int D>
struct AttnSmem {
  static constexpr int kQK = D + 4;  // padded rows, float4-aligned
  static constexpr int kP = kBK + 1;
  static constexpr int kFloats = kBQ * kQK + kBK * kQK + kBK * D + kBQ * kP;
};

template <int D>
__device__ __forceinline__ void load_kv_tile(float* dst, int ld, const uint8_t* codes, const float* scale,
                                             const float* zero, int k0, int T) {
  // Each 16-byte chunk holds 32 codes of one key.
  constexpr int kChunks = D / 32;
  for (int c = threadIdx.x; c < kBK * kChunks; c += blockDim.x) {
    const int key = c / kChunks, part = c % kChunks;
    float* out = dst + key * ld + part * 32;
    if (k0 + key >= T) {
#pragma unroll
      for (int i = 0; i < 32; i += 4) *reinterpret_cast<float4*>(out + i) = make_float4(0.f, 0.f, 0.f, 0.f);
      continue;
    }
    const uint4 raw = *reinterpret_cast<const uint4*>(codes + int64_t(k0 + key) * (D / 2) + part * 16);
    const float s = scale[k0 + key], z = zero[k0 + key];
    const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      float f[8];
#pragma unroll
      for (int b = 0; b < 8; ++b) f[b] = s * (float((w[i] >> (4 * b)) & 0xFu) - z);
      *reinterpret_cast<float4*>(out + 8 * i) = make_float4(f[0], f[1], f[2], f[3]);
      *reinterpret_cast<float4*>(out + 8 * i + 4) = make_float4(f[4], f[5], f[6], f[7]);
    }
  }
}

template <int D>
__global__ void __launch_bounds__(kAttnThreads)
    attention_kernel(const float* __restrict__ q, KvCacheView cache, int T, int H, int KV,
                     float* __restrict__ out) {
  using S = AttnSmem<D>;
  constexpr int JJ = D / 64;  // float4 column groups per thread
  extern __shared__ __align__(16) float sm[];
  float* Qs = sm;
  float* Ks = Qs + kBQ * S::kQK;
  float* Vs = Ks + kBK * S::kQK;
  float* Ps = Vs + kBK * D;

  const int nqb = (T + kBQ - 1) / kBQ;
  const int qb = nqb - 1 - blockIdx.x;  // heaviest blocks first
  const int h = blockIdx.y, kvh = h / (H / KV);
  const int q0 = qb * kBQ;
  const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
  const float sm_scale = 1.0f / sqrtf(float(D));

  for (int c = threadIdx.x; c < kBQ * (D / 4); c += blockDim.x) {
    const int r = c / (D / 4), d4 = c % (D / 4);
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (q0 + r < T) v = *reinterpret_cast<const float4*>(q + (int64_t(h) * T + q0 + r) * D + 4 * d4);
    *reinterpret_cast<float4*>(Qs + r * S::kQK + 4 * d4) = v;
  }

  float o[4][JJ][4];
  float m_run[4], l_run[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    m_run[i] = -INFINITY;
    l_run[i] = 0.f;
#pragma unroll
    for (int jj = 0; jj < JJ; ++jj)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[i][jj][e] = 0.f;
  }

  const uint8_t* kc = cache.k_codes + int64_t(kvh) * T * (D / 2);
  const uint8_t* vc = cache.v_codes + int64_t(kvh) * T * (D / 2);
  const float* ks = cache.k_scale + int64_t(kvh) * T;
  const float* kz = cache.k_zero + int64_t(kvh) * T;
  const float* vs = cache.v_scale + int64_t(kvh) * T;
  const float* vz = cache.v_zero + int64_t(kvh) * T;

  for (int kb = 0; kb <= qb; ++kb) {
    const int k0 = kb * kBK;
    __syncthreads();  // previous tile fully used (and Qs written, first time)
    load_kv_tile<D>(Ks, S::kQK, kc, ks, kz, k0, T);
    load_kv_tile<D>(Vs, D, vc, vs, vz, k0, T);
    __syncthreads();

    float s[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) s[i][j] = 0.f;
#pragma unroll 4
    for (int d = 0; d < D; d += 4) {
      float4 qv[4], kv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) qv[i] = *reinterpret_cast<const float4*>(Qs + (ty + 16 * i) * S::kQK + d);
#pragma unroll
      for (int j = 0; j < 4; ++j) kv[j] = *reinterpret_cast<const float4*>(Ks + (tx + 16 * j) * S::kQK + d);
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
          s[i][j] += qv[i].x * kv[j].x + qv[i].y * kv[j].y + qv[i].z * kv[j].z + qv[i].w * kv[j].w;
    }

#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int qi = q0 + ty + 16 * i;
      float mx = -INFINITY;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int kj = k0 + tx + 16 * j;
        s[i][j] = (kj > qi || kj >= T) ? -INFINITY : s[i][j] * sm_scale;
        mx = fmaxf(mx, s[i][j]);
      }
#pragma unroll
      for (int off = 8; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      const float m_new = fmaxf(m_run[i], mx);  // finite: key 0 is visible to every row
      const float corr = expf(m_run[i] - m_new);
      float sum = 0.f;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float p = expf(s[i][j] - m_new);
        Ps[(ty + 16 * i) * AttnSmem<D>::kP + tx + 16 * j] = p;
        sum += p;
      }
#pragma unroll
      for (int off = 8; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
      l_run[i] = l_run[i] * corr + sum;
      m_run[i] = m_new;
#pragma unroll
      for (int jj = 0; jj < JJ; ++jj)
#pragma unroll
        for (int e = 0; e < 4; ++e) o[i][jj][e] *= corr;
    }
    __syncwarp();  // P rows of this thread's rows were written by its own half-warp

#pragma unroll 4
    for (int k = 0; k < kBK; ++k) {
      float p[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) p[i] = Ps[(ty + 16 * i) * AttnSmem<D>::kP + k];
#pragma unroll
      for (int jj = 0; jj < JJ; ++jj) {
        const float4 v = *reinterpret_cast<const float4*>(Vs + k * D + 4 * tx + 64 * jj);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          o[i][jj][0] += p[i] * v.x;
          o[i][jj][1] += p[i] * v.y;
          o[i][jj][2] += p[i] * v.z;
          o[i][jj][3] += p[i] * v.w;
        }
      }
    }
  }

#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int qi = q0 + ty + 16 * i;
    if (qi >= T) continue;
    const float inv = 1.0f / l_run[i];
#pragma unroll
    for (int jj = 0; jj < JJ; ++jj) {
      const float4 v = make_float4(o[i][jj][0] * inv, o[i][jj][1] * inv, o[i][jj][2] * inv, o[i][jj][3] * inv);
      *reinterpret_cast<float4*>(out + int64_t(qi) * H * D + int64_t(h) * D + 4 * tx + 64 * jj) = v;
    }
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
    detail::generic_rope_qk_kv(qkv, T, H, KV, D, cos_table, sin_table, qk_hadamard, kq.maxq, vq.maxq, kq.clip,
                               q_out, cache, stream);
    return;
  }
  if (T == 0) return;
  const int64_t items = int64_t(T) * (H + 2 * KV);
  const int blocks = int((items + 7) / 8);
  switch (D) {
    case 64: rope_qk_kv_kernel<2><<<blocks, 256, 0, stream>>>(qkv, T, H, KV, cos_table, sin_table, qk_hadamard, kq, vq, q_out, cache); break;
    case 128: rope_qk_kv_kernel<4><<<blocks, 256, 0, stream>>>(qkv, T, H, KV, cos_table, sin_table, qk_hadamard, kq, vq, q_out, cache); break;
    default: rope_qk_kv_kernel<8><<<blocks, 256, 0, stream>>>(qkv, T, H, KV, cos_table, sin_table, qk_hadamard, kq, vq, q_out, cache); break;
  }
  CUDA_CHECK_LAUNCH();
}

void attention(const float* q, const KvCacheView& cache, int T, int H, int KV, int D, float* out,
               cudaStream_t stream) {
  QUAROT_CHECK(KV > 0 && H % KV == 0, "attention: heads ", H, " not a multiple of kv heads ", KV);
  if (D != 64 && D != 128) {  // other head_dim: the generic warp-per-query kernel
    detail::generic_attention(q, cache, T, H, KV, D, out, stream);
    return;
  }
  if (T == 0) return;
  const dim3 grid((T + kBQ - 1) / kBQ, H);
  if (D == 64) {
    const size_t smem = AttnSmem<64>::kFloats * sizeof(float);
    ensure_dynamic_smem(attention_kernel<64>, smem);
    attention_kernel<64><<<grid, kAttnThreads, smem, stream>>>(q, cache, T, H, KV, out);
  } else {
    const size_t smem = AttnSmem<128>::kFloats * sizeof(float);
    ensure_dynamic_smem(attention_kernel<128>, smem);
    attention_kernel<128><<<grid, kAttnThreads, smem, stream>>>(q, cache, T, H, KV, out);
  }
  CUDA_CHECK_LAUNCH();
}

}  // namespace quarot::runner
