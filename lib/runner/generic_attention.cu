// Generic RoPE + Q/K Hadamard + KV quantization and causal GQA attention for any
// even head_dim <= 256 (generic_kernels.h): one warp per token and head, the head's
// values staged in shared memory, fp32 arithmetic with the formulas of
// attention.cu's register kernels (same butterfly order, same quantizer).
#include <cuda_fp16.h>

#include <cmath>

#include "lib/core/error.h"
#include "lib/runner/cuda_check.h"
#include "lib/runner/device_common.cuh"
#include "lib/runner/generic_kernels.h"

namespace quarot::runner::detail {
namespace {

constexpr int kMaxD = 256;
constexpr int kRopeWarps = 8;

__global__ void __launch_bounds__(kRopeWarps * 32)
    generic_rope_kernel(const float* __restrict__ qkv, int T, int H, int KV, int D, const float* __restrict__ cosT,
                        const float* __restrict__ sinT, bool qk_had, int k_maxq, int v_maxq, float clip,
                        float* __restrict__ q_out, KvCacheView cache) {
  __shared__ float buf[kRopeWarps][kMaxD];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t item = int64_t(blockIdx.x) * kRopeWarps + warp;
  const int heads = H + 2 * KV, half = D / 2;
  if (item >= int64_t(T) * heads) return;  // whole warps exit together
  const int t = int(item / heads), j = int(item % heads);
  float* v = buf[warp];
  const float* src = qkv + item * D;
  for (int e = lane; e < D; e += 32) v[e] = src[e];
  __syncwarp();
  if (j < H + KV) {
    // rotate-half RoPE; a lane owns the pair (e, e + D/2).
    for (int e = lane; e < half; e += 32) {
      const float c = cosT[int64_t(t) * half + e], s = sinT[int64_t(t) * half + e];
      const float a = v[e], b = v[e + half];
      v[e] = a * c - b * s;
      v[e + half] = b * c + a * s;
    }
    __syncwarp();
    if (qk_had) {  // Walsh–Hadamard of D (a power of two), low index bits first
      for (int h = 1; h < D; h <<= 1) {
        for (int p = lane; p < half; p += 32) {
          const int i0 = (p / h) * 2 * h + p % h;
          const float a = v[i0], b = v[i0 + h];
          v[i0] = a + b;
          v[i0 + h] = a - b;
        }
        __syncwarp();
      }
      const float norm = 1.0f / sqrtf(float(D));
      for (int e = lane; e < D; e += 32) v[e] *= norm;
      __syncwarp();
    }
  }
  if (j < H) {
    float* dst = q_out + (int64_t(j) * T + t) * D;
    for (int e = lane; e < D; e += 32) dst[e] = v[e];
    return;
  }
  // Asymmetric per-(token, head) quantization, as kv_quant_store in attention.cu.
  const bool is_k = j < H + KV;
  const int maxq = is_k ? k_maxq : v_maxq;
  float mn = INFINITY, mx = -INFINITY;
  for (int e = lane; e < D; e += 32) {
    mn = fminf(mn, v[e]);
    mx = fmaxf(mx, v[e]);
  }
  mn = dev::warp_min(mn);
  mx = dev::warp_max(mx);
  const float lo = fminf(mn, 0.f) * clip, hi = fmaxf(mx, 0.f) * clip;
  float s = __fdiv_rn(hi - lo, float(maxq));
  if (s == 0.f) s = 1.f;
  const float z = rintf(__fdiv_rn(-lo, s));
  const int64_t row = int64_t(is_k ? j - H : j - H - KV) * T + t;
  uint8_t* codes = (is_k ? cache.k_codes : cache.v_codes) + row * half;
  for (int p = lane; p < half; p += 32) {
    uint32_t c2[2];
    for (int u = 0; u < 2; ++u) {
      float c = rintf(__fdiv_rn(v[2 * p + u], s)) + z;
      c2[u] = uint32_t(fminf(fmaxf(c, 0.f), float(maxq)));
    }
    codes[p] = uint8_t(c2[0] | (c2[1] << 4));
  }
  if (lane == 0) {
    (is_k ? cache.k_scale : cache.v_scale)[row] = s;
    (is_k ? cache.k_zero : cache.v_zero)[row] = z;
  }
}

constexpr int kAttnWarps = 4;

// One warp per (query, head): keys in chunks of 32 (a lane scores one key of the
// chunk), online softmax, the output's D columns spread over the lanes (R each).
template <int R>
__global__ void __launch_bounds__(kAttnWarps * 32)
    generic_attention_kernel(const float* __restrict__ q, KvCacheView cache, int T, int H, int KV, int D,
                             float* __restrict__ out) {
  __shared__ float qs[kAttnWarps][32 * R];
  __shared__ float ps[kAttnWarps][32];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t item = int64_t(blockIdx.x) * kAttnWarps + warp;
  if (item >= int64_t(T) * H) return;  // whole warps exit together
  const int t = T - 1 - int(item / H), h = int(item % H);  // longest rows first
  const int kvh = h / (H / KV), half = D / 2;
  float* qr = qs[warp];
  for (int e = lane; e < D; e += 32) qr[e] = q[(int64_t(h) * T + t) * D + e];
  __syncwarp();
  const uint8_t* kc = cache.k_codes + int64_t(kvh) * T * half;
  const uint8_t* vc = cache.v_codes + int64_t(kvh) * T * half;
  const float* ks = cache.k_scale + int64_t(kvh) * T;
  const float* kz = cache.k_zero + int64_t(kvh) * T;
  const float* vs = cache.v_scale + int64_t(kvh) * T;
  const float* vz = cache.v_zero + int64_t(kvh) * T;
  const float sm_scale = 1.0f / sqrtf(float(D));

  float m_run = -INFINITY, l_run = 0.f, o[R];
#pragma unroll
  for (int r = 0; r < R; ++r) o[r] = 0.f;
  for (int j0 = 0; j0 <= t; j0 += 32) {
    const int j = j0 + lane;
    float sc = -INFINITY;
    if (j <= t) {
      const uint8_t* kr = kc + int64_t(j) * half;
      const float s = ks[j], z = kz[j];
      float dot = 0.f;
      for (int p = 0; p < half; ++p) {
        const uint32_t b = kr[p];
        dot += qr[2 * p] * (s * (float(b & 0xFu) - z));
        dot += qr[2 * p + 1] * (s * (float(b >> 4) - z));
      }
      sc = dot * sm_scale;
    }
    const float m_new = fmaxf(m_run, dev::warp_max(sc));  // finite: key j0 <= t is in every chunk
    const float corr = expf(m_run - m_new);
    const float p = j <= t ? expf(sc - m_new) : 0.f;
    l_run = l_run * corr + dev::warp_sum(p);
    m_run = m_new;
    ps[warp][lane] = p;
    __syncwarp();
#pragma unroll
    for (int r = 0; r < R; ++r) o[r] *= corr;
    const int nk = min(32, t - j0 + 1);
    for (int kk = 0; kk < nk; ++kk) {
      const int jj = j0 + kk;
      const float pj = ps[warp][kk], s = vs[jj], z = vz[jj];
      const uint8_t* vr = vc + int64_t(jj) * half;
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const int e = lane + 32 * r;
        if (e < D) {
          const uint32_t b = vr[e >> 1];
          o[r] += pj * (s * (float((e & 1) ? (b >> 4) : (b & 0xFu)) - z));
        }
      }
    }
    __syncwarp();  // ps is rewritten by the next chunk
  }
  const float inv = 1.0f / l_run;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int e = lane + 32 * r;
    if (e < D) out[int64_t(t) * H * D + int64_t(h) * D + e] = o[r] * inv;
  }
}

void check_shape(int T, int H, int KV, int D, const char* what) {
  QUAROT_CHECK(D >= 2 && D <= kMaxD && D % 2 == 0, what, ": head_dim ", D, " not supported (even, at most ", kMaxD,
               ")");
  QUAROT_CHECK(KV > 0 && H % KV == 0, what, ": heads ", H, " not a multiple of kv heads ", KV);
  QUAROT_CHECK(T >= 0, what, ": T = ", T);
}

}  // namespace

void generic_rope_qk_kv(const float* qkv, int T, int H, int KV, int D, const float* cos_table,
                        const float* sin_table, bool qk_hadamard, int k_maxq, int v_maxq, float clip,
                        float* q_out, const KvCacheView& cache, cudaStream_t stream) {
  check_shape(T, H, KV, D, "rope_qk_kv");
  QUAROT_CHECK(!qk_hadamard || (D & (D - 1)) == 0, "rope_qk_kv: the Hadamard of head_dim ", D,
               " needs a power of two");
  if (T == 0) return;
  const int64_t items = int64_t(T) * (H + 2 * KV);
  const int blocks = int((items + kRopeWarps - 1) / kRopeWarps);
  generic_rope_kernel<<<blocks, kRopeWarps * 32, 0, stream>>>(qkv, T, H, KV, D, cos_table, sin_table, qk_hadamard,
                                                                k_maxq, v_maxq, clip, q_out, cache);
  CUDA_CHECK_LAUNCH();
}

void generic_attention(const float* q, const KvCacheView& cache, int T, int H, int KV, int D, float* out,
                       cudaStream_t stream) {
  check_shape(T, H, KV, D, "attention");
  if (T == 0) return;
  const int blocks = int((int64_t(T) * H + kAttnWarps - 1) / kAttnWarps);
  const dim3 grid(blocks), block(kAttnWarps * 32);
  if (D <= 32)
    generic_attention_kernel<1><<<grid, block, 0, stream>>>(q, cache, T, H, KV, D, out);
  else if (D <= 64)
    generic_attention_kernel<2><<<grid, block, 0, stream>>>(q, cache, T, H, KV, D, out);
  else if (D <= 128)
    generic_attention_kernel<4><<<grid, block, 0, stream>>>(q, cache, T, H, KV, D, out);
  else
    generic_attention_kernel<8><<<grid, block, 0, stream>>>(q, cache, T, H, KV, D, out);
  CUDA_CHECK_LAUNCH();
}

}  // namespace quarot::runner::detail
