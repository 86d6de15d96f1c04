// Causal GQA attention over the quantized KV cache on tensor cores.
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

// Tensor cores on the integer codes: the cache's codes (0..15) are exact in tf32,
// so mma.sync m16n8k8 tf32 with fp32 accumulation multiplies them exactly, and
// the fp32 operand on the other side (q for the scores, p * v_scale for the
// output) is split into two tf32 parts, hi + lo, which carry 22 of its 24 bits:
// two MMAs per product, and the accuracy of the fp32 CUDA-core kernel this
// replaced (relative L2 error against float64 5.5e-7 at 700 keys, that one 4.6e-7;
// a single fp16 or tf32 rounding of q would move the scores by ~1e-3 relative).
// The zero points are integers (kv_quant_store rounds them), so c - z, in
// [-15, 15], is exact too and goes into shared memory as it is: with
//   q . k_j = s_j (q . (c_j - z_j)),  sum_j p_j v_j = sum_j (p_j s_j) (c_j - z_j)
// the scales are applied outside the products. (Applying z outside as well, as
// q . c_j - z_j sum(q), cancels two large sums: 3x the error at 700 keys.)
//
// Block: 64 queries of one head, 4 warps of 16 query rows; key tiles of 64 keys
// (codes as floats in shared memory, the next tile's raw codes loaded into
// registers while this one is multiplied). Online softmax in fp32, flash-style.
// Fragments (g = lane / 4, t = lane % 4): the score accumulator of key chunk j holds
// keys 8j + 2t, 8j + 2t + 1 of rows g, g + 8, which is the A fragment of the P·V
// product once its k index t is read as key 2t and t + 4 as key 2t + 1; V's B
// fragment takes rows 2t, 2t + 1 to match, so P never leaves the registers.

constexpr int kBQ = 64, kBK = 64, kAttnWarps = 4, kAttnThreads = 32 * kAttnWarps;

template <int D>
struct AttnSmem {
  static constexpr int kLd = D + 4;  // floats per row: rows 4 banks apart, every fragment load conflict-free
  // Q hi, Q lo [kBQ][kLd] (tf32 bits), K and V codes minus zero points [kBK][kLd]
  // (floats), then the k and v scale of each key.
  static constexpr int kFloats = 2 * kBQ * kLd + 2 * kBK * kLd + 2 * kBK;
};

__device__ __forceinline__ uint32_t to_tf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
}
// x = hi + lo to ~2^-22 relative: the two tf32 operands of a split product.
__device__ __forceinline__ void split_tf32(float x, uint32_t& hi, uint32_t& lo) {
  hi = to_tf32(x);
  lo = to_tf32(x - __uint_as_float(hi));
}
__device__ __forceinline__ void mma_tf32(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// One key tile's raw cache entries (16-byte chunks of 32 codes), one tile ahead.
template <int D>
struct KvRaw {
  static constexpr int kPer = kBK * (D / 32) / kAttnThreads;  // chunks per thread
  uint4 k[kPer], v[kPer];
  float kz[kPer], vz[kPer];  // the zero points of those chunks' keys
  float ks, vs;              // threads 0..63: the scales of key threadIdx.x
};

template <int D>
__device__ __forceinline__ void load_raw(KvRaw<D>& r, const uint8_t* kc, const uint8_t* vc, const float* ks,
                                         const float* kz, const float* vs, const float* vz, int k0, int T) {
#pragma unroll
  for (int i = 0; i < KvRaw<D>::kPer; ++i) {
    const int c = threadIdx.x + i * kAttnThreads, key = k0 + c / (D / 32), part = c % (D / 32);
    const bool ok = key < T;
    const int64_t off = int64_t(key) * (D / 2) + part * 16;
    r.k[i] = ok ? __ldg(reinterpret_cast<const uint4*>(kc + off)) : make_uint4(0, 0, 0, 0);
    r.v[i] = ok ? __ldg(reinterpret_cast<const uint4*>(vc + off)) : make_uint4(0, 0, 0, 0);
    r.kz[i] = ok ? kz[key] : 0.f;
    r.vz[i] = ok ? vz[key] : 0.f;
  }
  if (threadIdx.x < kBK) {
    const int key = k0 + threadIdx.x;
    const bool ok = key < T;  // keys past T are masked; their entries only need to be finite
    r.ks = ok ? ks[key] : 0.f;
    r.vs = ok ? vs[key] : 0.f;
  }
}

// Codes minus the zero point, as floats: byte e/2 of a key's codes holds element e
// (low nibble) and e + 1.
__device__ __forceinline__ void store_codes(float* dst, const uint4& raw, float z) {
  const uint32_t w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float f[8];
#pragma unroll
    for (int b = 0; b < 8; ++b) f[b] = float((w[i] >> (4 * b)) & 0xFu) - z;
    *reinterpret_cast<float4*>(dst + 8 * i) = make_float4(f[0], f[1], f[2], f[3]);
    *reinterpret_cast<float4*>(dst + 8 * i + 4) = make_float4(f[4], f[5], f[6], f[7]);
  }
}

template <int D>
__device__ __forceinline__ void store_raw(const KvRaw<D>& r, float* Kc, float* Vc, float* kv_scale) {
  constexpr int kLd = AttnSmem<D>::kLd;
#pragma unroll
  for (int i = 0; i < KvRaw<D>::kPer; ++i) {
    const int c = threadIdx.x + i * kAttnThreads, key = c / (D / 32), part = c % (D / 32);
    store_codes(Kc + key * kLd + part * 32, r.k[i], r.kz[i]);
    store_codes(Vc + key * kLd + part * 32, r.v[i], r.vz[i]);
  }
  if (threadIdx.x < kBK) {
    kv_scale[threadIdx.x] = r.ks;
    kv_scale[kBK + threadIdx.x] = r.vs;
  }
}

template <int D>
__global__ void __launch_bounds__(kAttnThreads)
    attention_kernel(const float* __restrict__ q, KvCacheView cache, int T, int H, int KV, float* __restrict__ out) {
  using S = AttnSmem<D>;
  constexpr int kLd = S::kLd, NT = D / 8;  // n8 tiles of the output
  extern __shared__ __align__(16) float sm[];
  uint32_t* Qh = reinterpret_cast<uint32_t*>(sm);
  uint32_t* Ql = Qh + kBQ * kLd;
  float* Kc = sm + 2 * kBQ * kLd;
  float* Vc = Kc + kBK * kLd;
  float* kv_scale = Vc + kBK * kLd;  // k scales, then v scales

  const int nqb = (T + kBQ - 1) / kBQ;
  const int qb = nqb - 1 - blockIdx.x;  // heaviest blocks first
  const int h = blockIdx.y, kvh = h / (H / KV);
  const int q0 = qb * kBQ;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const float sm_scale = 1.0f / sqrtf(float(D));

  const uint8_t* kc = cache.k_codes + int64_t(kvh) * T * (D / 2);
  const uint8_t* vc = cache.v_codes + int64_t(kvh) * T * (D / 2);
  const float* ks = cache.k_scale + int64_t(kvh) * T;
  const float* kz = cache.k_zero + int64_t(kvh) * T;
  const float* vs = cache.v_scale + int64_t(kvh) * T;
  const float* vz = cache.v_zero + int64_t(kvh) * T;
  KvRaw<D> raw;
  load_raw<D>(raw, kc, vc, ks, kz, vs, vz, 0, T);

  for (int c = threadIdx.x; c < kBQ * (D / 4); c += kAttnThreads) {
    const int r = c / (D / 4), d4 = c % (D / 4);
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (q0 + r < T) v = *reinterpret_cast<const float4*>(q + (int64_t(h) * T + q0 + r) * D + 4 * d4);
    const float f[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int e = 0; e < 4; ++e) split_tf32(f[e], Qh[r * kLd + 4 * d4 + e], Ql[r * kLd + 4 * d4 + e]);
  }

  // This warp's rows: local rl[r] = 16 warp + g + 8 r (r = 0, 1).
  const int rl0 = 16 * warp + g, rl1 = rl0 + 8;
  float o[NT][4];
#pragma unroll
  for (int n = 0; n < NT; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) o[n][e] = 0.f;
  float m_run[2] = {-INFINITY, -INFINITY}, l_part[2] = {0.f, 0.f};

  for (int kb = 0; kb <= qb; ++kb) {
    const int k0 = kb * kBK;
    __syncthreads();  // the previous tile fully used (and Q written, first time)
    store_raw<D>(raw, Kc, Vc, kv_scale);
    __syncthreads();
    if (kb < qb) load_raw<D>(raw, kc, vc, ks, kz, vs, vz, k0 + kBK, T);

    // Scores: q . (c - z) for the warp's 16 rows x 64 keys.
    float s[8][4];
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[j][e] = 0.f;
#pragma unroll 4
    for (int st = 0; st < D / 8; ++st) {
      const int d = 8 * st + t;
      const uint32_t ah[4] = {Qh[rl0 * kLd + d], Qh[rl1 * kLd + d], Qh[rl0 * kLd + d + 4], Qh[rl1 * kLd + d + 4]};
      const uint32_t al[4] = {Ql[rl0 * kLd + d], Ql[rl1 * kLd + d], Ql[rl0 * kLd + d + 4], Ql[rl1 * kLd + d + 4]};
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const uint32_t b0 = __float_as_uint(Kc[(8 * j + g) * kLd + d]);
        const uint32_t b1 = __float_as_uint(Kc[(8 * j + g) * kLd + d + 4]);
        mma_tf32(s[j], ah, b0, b1);
        mma_tf32(s[j], al, b0, b1);
      }
    }

    // Scaled, masked scores; online softmax per row.
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = e >> 1, key = 8 * j + 2 * t + (e & 1);
        const int qi = q0 + (r ? rl1 : rl0), kj = k0 + key;
        const float v = s[j][e] * kv_scale[key] * sm_scale;
        s[j][e] = (kj > qi || kj >= T) ? -INFINITY : v;
        mx[r] = fmaxf(mx[r], s[j][e]);
      }
    float corr[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      const float m_new = fmaxf(m_run[r], mx[r]);  // finite: key 0 is visible to every row
      corr[r] = expf(m_run[r] - m_new);
      m_run[r] = m_new;
      l_part[r] *= corr[r];
    }
    // Output: sum over keys of (p v_scale) (c - z), key chunk j as the k8 step,
    // four chunks at a time. A fragments: (row g, k t) = key 2t, (g + 8, t),
    // (g, t + 4) = key 2t + 1, (g + 8, t + 4). The products of four chunks are
    // summed in a fresh accumulator, then added to the running output with an
    // ordinary fp32 add: the tensor cores' own accumulation rounds less accurately
    // (accumulating every tile into o directly measured 4x the error at 700 keys,
    // growing with the sequence).
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      uint32_t ah[4][4], al[4][4];
#pragma unroll
      for (int jj = 0; jj < 4; ++jj) {
        const int j = 4 * half + jj;
        float w[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int r = e >> 1, key = 8 * j + 2 * t + (e & 1);
          const float p = expf(s[j][e] - m_run[r]);
          l_part[r] += p;
          w[e] = p * kv_scale[kBK + key];
        }
        split_tf32(w[0], ah[jj][0], al[jj][0]);
        split_tf32(w[2], ah[jj][1], al[jj][1]);
        split_tf32(w[1], ah[jj][2], al[jj][2]);
        split_tf32(w[3], ah[jj][3], al[jj][3]);
      }
      const float* v0 = Vc + (32 * half + 2 * t) * kLd + g;
#pragma unroll
      for (int n = 0; n < NT; ++n) {
        float acc[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
        for (int jj = 0; jj < 4; ++jj) {
          const uint32_t b0 = __float_as_uint(v0[8 * jj * kLd + 8 * n]);
          const uint32_t b1 = __float_as_uint(v0[(8 * jj + 1) * kLd + 8 * n]);
          mma_tf32(acc, ah[jj], b0, b1);
          mma_tf32(acc, al[jj], b0, b1);
        }
#pragma unroll
        for (int e = 0; e < 4; ++e) o[n][e] = (half == 0 ? o[n][e] * corr[e >> 1] : o[n][e]) + acc[e];
      }
    }
  }

  // Each row's four threads (t = 0..3) hold partial sums of p over their keys.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l_part[r] += __shfl_xor_sync(0xffffffffu, l_part[r], 1);
    l_part[r] += __shfl_xor_sync(0xffffffffu, l_part[r], 2);
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int qi = q0 + (r ? rl1 : rl0);
    if (qi >= T) continue;
    const float inv = 1.0f / l_part[r];
    float* dst = out + int64_t(qi) * H * D + int64_t(h) * D + 2 * t;
#pragma unroll
    for (int n = 0; n < NT; ++n)
      *reinterpret_cast<float2*>(dst + 8 * n) = make_float2(o[n][2 * r] * inv, o[n][2 * r + 1] * inv);
  }
}

}  // namespace

void attention(const float* q, const KvCacheView& cache, int T, int H, int KV, int D, float* out, cudaStream_t stream) {
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
