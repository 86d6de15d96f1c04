// Online Hadamard transforms fused with activation quantization.
//
// H_n = H_K ⊗ S_{2^m} (rotate/hadamard.h): a row is read as K blocks of 2^m
// (times an inner stride of 1 for down_proj's input, or head_dim for the
// transform across heads). The Walsh–Hadamard part runs in shared memory in
// passes of up to 4 index bits; the K×K part is a small matrix product per row on
// tensor cores (fp16 inputs split into hi + lo halves, fp32 accumulation, so the
// product is as accurate as fp32 arithmetic: the K×K entries are ±1, exact in fp16).
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "lib/core/error.h"
#include "lib/runner/cuda_check.h"
#include "lib/runner/device_common.cuh"
#include "lib/runner/gemm_common.cuh"
#include "lib/runner/kernels.h"
#include "lib/runner/launch_util.h"

namespace quarot::runner {

namespace {

constexpr int kThreads = 256;

struct Transform {
  int n;            // row length (K * 2^m * inner)
  int inner_log2;   // log2 of the inner stride (0, or log2(head_dim))
  int m;            // Walsh–Hadamard bits
  int K;            // K×K factor (1: none)
  const uint4* frag;
  float norm;       // 1 / sqrt(K * 2^m)
};

template <int P>
__device__ __forceinline__ void fwht_regs(float* v) {
#pragma unroll
  for (int h = 1; h < (1 << P); h <<= 1)
#pragma unroll
    for (int i = 0; i < (1 << P); ++i)
      if ((i & h) == 0) {
        const float a = v[i], b = v[i + h];
        v[i] = a + b;
        v[i + h] = a - b;
      }
}

// Walsh–Hadamard over index bits [s, s + P) of x[0, n) in shared memory.
template <int P>
__device__ void fwht_pass(float* x, int n, int s) {
  const int lines = n >> P, lo_mask = (1 << s) - 1;
  for (int L = threadIdx.x; L < lines; L += blockDim.x) {
    const int base = ((L >> s) << (s + P)) + (L & lo_mask);
    float v[1 << P];
#pragma unroll
    for (int j = 0; j < (1 << P); ++j) v[j] = x[base + (j << s)];
    fwht_regs<P>(v);
#pragma unroll
    for (int j = 0; j < (1 << P); ++j) x[base + (j << s)] = v[j];
  }
}

__device__ void fwht_bits(float* x, int n, int s, int count) {
  while (count > 0) {
    const int p = count >= 4 ? 4 : count;
    switch (p) {
      case 1: fwht_pass<1>(x, n, s); break;
      case 2: fwht_pass<2>(x, n, s); break;
      case 3: fwht_pass<3>(x, n, s); break;
      default: fwht_pass<4>(x, n, s); break;
    }
    __syncthreads();
    s += p;
    count -= p;
  }
}

// y[a·S + col] = Σ_c H_K[a][c] · x[c·S + col] in place, S = n / K. A warp owns 16
// columns (two n8 tiles, so each H_K fragment read from shared memory feeds four
// MMAs), reads them for all c, and writes them back only after its whole product is
// in registers, so no other warp ever touches them.
template <int KT>
__device__ void kmix(float* x, int S, int K, const uint4* frag, float in_scale) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int nw = blockDim.x >> 5, tasks = (S + 15) / 16;
  for (int task = warp; task < tasks; task += nw) {
    float acc[2][KT][4];
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
      for (int a = 0; a < KT; ++a)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[h][a][e] = 0.f;
#pragma unroll
    for (int kt = 0; kt < KT; ++kt) {
      const int c0 = kt * 16 + 2 * t;
      const int cs[4] = {c0, c0 + 1, c0 + 8, c0 + 9};
      uint32_t bh[2][2], bl[2][2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int b = task * 16 + h * 8 + g;
        __half hi[4], lo[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float v = (b < S && cs[e] < K) ? x[cs[e] * S + b] * in_scale : 0.f;
          hi[e] = __float2half_rn(v);
          lo[e] = __float2half_rn(v - __half2float(hi[e]));
        }
        bh[h][0] = dev::pack_half2(hi[0], hi[1]);
        bh[h][1] = dev::pack_half2(hi[2], hi[3]);
        bl[h][0] = dev::pack_half2(lo[0], lo[1]);
        bl[h][1] = dev::pack_half2(lo[2], lo[3]);
      }
#pragma unroll
      for (int at = 0; at < KT; ++at) {
        const uint4 af = frag[(at * KT + kt) * 32 + lane];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          dev::mma_f16_16816(acc[h][at], af, bh[h][0], bh[h][1]);
          dev::mma_f16_16816(acc[h][at], af, bl[h][0], bl[h][1]);
        }
      }
    }
    __syncwarp();
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
      for (int at = 0; at < KT; ++at) {
        const int col = task * 16 + h * 8 + 2 * t;
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
          const int a = at * 16 + g + 8 * hh;
          if (a >= K) continue;
          if (col < S) x[a * S + col] = acc[h][at][2 * hh];
          if (col + 1 < S) x[a * S + col + 1] = acc[h][at][2 * hh + 1];
        }
      }
    __syncwarp();
  }
}

// One block per row: load (with the first up-to-3 Walsh–Hadamard bits in registers
// when the inner stride is 1), remaining Walsh–Hadamard bits, K×K mix, then either
// quantize + pack (packed != null) or write the float result (y != null).
template <typename In, int KT>
__global__ void __launch_bounds__(kThreads)
    transform_kernel(const In* __restrict__ x, int64_t ldx, int M, Transform tf, int maxq, float c_over_maxq,
                     uint8_t* __restrict__ packed, float* __restrict__ scale, float* __restrict__ y) {
  gemm::pdl_trigger();  // the GEMM after this kernel may start streaming its weights
  extern __shared__ __align__(16) float row[];
  __shared__ float scratch[32];
  const int n = tf.n;
  // The K×K fragments live after the row; a block loads them once and keeps them
  // for all the rows it transforms.
  uint4* frag = reinterpret_cast<uint4*>(row + n);
  if (KT > 0)
    for (int i = threadIdx.x; i < KT * KT * 32; i += blockDim.x) frag[i] = tf.frag[i];
  for (int r = blockIdx.x; r < M; r += gridDim.x) {
  __syncthreads();  // the previous row is fully written out (and the fragments are in place)
  const In* xr = x + int64_t(r) * ldx;
  const int first = tf.inner_log2 == 0 ? (tf.m < 3 ? tf.m : 3) : 0;
  for (int q = threadIdx.x; q < n / 8; q += blockDim.x) {
    float v[8];
    dev::load8(xr + 8 * q, v);
    if (first == 3) fwht_regs<3>(v);
    if (first == 2) { fwht_regs<2>(v); fwht_regs<2>(v + 4); }
    if (first == 1) {
#pragma unroll
      for (int i = 0; i < 8; i += 2) fwht_regs<1>(v + i);
    }
    *reinterpret_cast<float4*>(row + 8 * q) = make_float4(v[0], v[1], v[2], v[3]);
    *reinterpret_cast<float4*>(row + 8 * q + 4) = make_float4(v[4], v[5], v[6], v[7]);
  }
  __syncthreads();
  fwht_bits(row, n, tf.inner_log2 + first, tf.m - first);

  float post = tf.norm;
  if (KT > 0) {
    // fp16 has 5 exponent bits: bring the row's maximum into [2^12, 2^13) by an exact
    // power-of-two scaling (undone after the product), so that neither the hi nor the
    // lo half overflows or goes subnormal where it matters.
    float amax = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) amax = fmaxf(amax, fabsf(row[i]));
    amax = dev::block_max(amax, scratch);
    int e = 0;
    if (amax > 0.f) frexpf(amax, &e);
    const int shift = amax > 0.f ? 13 - e : 0;
    const float in_scale = ldexpf(1.f, shift);
    post = tf.norm * ldexpf(1.f, -shift);
    kmix<(KT > 0 ? KT : 1)>(row, n / tf.K, tf.K, frag, in_scale);
    __syncthreads();
  }

  if (y != nullptr) {
    for (int i = threadIdx.x; i < n; i += blockDim.x) y[int64_t(r) * n + i] = row[i] * post;
    continue;
  }
  float amax = 0.f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = row[i] * post;
    row[i] = v;
    amax = fmaxf(amax, fabsf(v));
  }
  amax = dev::block_max(amax, scratch);
  const float s = dev::sym_scale(amax, c_over_maxq);
  uint32_t* out = reinterpret_cast<uint32_t*>(packed + int64_t(r) * (n / 2));
  for (int w = threadIdx.x; w < n / 8; w += blockDim.x) {
    float v[8];
    dev::load8(row + 8 * w, v);
    out[w] = dev::pack8_sym(v, s, maxq);
  }
  if (threadIdx.x == 0) scale[r] = s;
  }
}

template <typename In, int KT>
void launch_kt(const In* x, int64_t ldx, int M, const Transform& tf, int maxq, float c, uint8_t* packed,
               float* scale, float* y, cudaStream_t stream) {
  auto* kernel = transform_kernel<In, KT>;
  const size_t smem = size_t(tf.n) * sizeof(float) + size_t(KT) * KT * 32 * sizeof(uint4);
  ensure_dynamic_smem(kernel, smem);
  int per_sm = 0;
  CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, smem));
  QUAROT_CHECK(per_sm > 0, "online Hadamard of size ", tf.n, " does not fit in shared memory");
  const int grid = std::min<int64_t>(M, int64_t(per_sm) * device_sm_count());
  kernel<<<grid, kThreads, smem, stream>>>(x, ldx, M, tf, maxq, c, packed, scale, y);
  CUDA_CHECK_LAUNCH();
}

template <typename In>
void launch_transform(const In* x, int64_t ldx, int M, const Transform& tf, const ActQuantSpec* q,
                      uint8_t* packed, float* scale, float* y, cudaStream_t stream) {
  QUAROT_CHECK(tf.n % 32 == 0, "online Hadamard: row length ", tf.n, " must be a multiple of 32");
  QUAROT_CHECK(ldx % 8 == 0, "online Hadamard: input row stride ", ldx, " must be a multiple of 8");
  int maxq = 0;
  float c = 0.f;
  if (q != nullptr) {
    QUAROT_CHECK(q->bits >= 2 && q->bits <= 4, "online Hadamard: activation bits must be 2..4, got ", q->bits);
    maxq = (1 << (q->bits - 1)) - 1;
    c = float(q->clip / double(maxq));
  }
  if (M == 0) return;
  const int KT = tf.K == 1 ? 0 : (tf.K + 15) / 16;
#define QUAROT_KT_CASE(N) \
  case N: launch_kt<In, N>(x, ldx, M, tf, maxq, c, packed, scale, y, stream); break;
  switch (KT) {
    QUAROT_KT_CASE(0) QUAROT_KT_CASE(1) QUAROT_KT_CASE(2) QUAROT_KT_CASE(3) QUAROT_KT_CASE(4)
    QUAROT_KT_CASE(5) QUAROT_KT_CASE(6) QUAROT_KT_CASE(7) QUAROT_KT_CASE(8) QUAROT_KT_CASE(9)
    QUAROT_KT_CASE(10) QUAROT_KT_CASE(11) QUAROT_KT_CASE(12) QUAROT_KT_CASE(13) QUAROT_KT_CASE(14)
    QUAROT_KT_CASE(15) QUAROT_KT_CASE(16)
    default: QUAROT_FAIL("online Hadamard: K = ", tf.K, " > 256 is not supported");
  }
#undef QUAROT_KT_CASE
}

Transform row_transform(const HadamardDevice& had) {
  Transform tf{};
  tf.n = int(had.n());
  tf.inner_log2 = 0;
  tf.m = had.m();
  tf.K = int(had.K());
  tf.frag = static_cast<const uint4*>(had.fragments());
  tf.norm = float(1.0 / std::sqrt(double(had.n())));
  return tf;
}

Transform heads_transform(const HadamardDevice& had, int head_dim) {
  QUAROT_CHECK(head_dim >= 8 && (head_dim & (head_dim - 1)) == 0, "Hadamard across heads: head_dim ",
               head_dim, " must be a power of two >= 8");
  Transform tf = row_transform(had);
  tf.n = int(had.n()) * head_dim;
  int l = 0;
  while ((1 << l) < head_dim) ++l;
  tf.inner_log2 = l;
  return tf;
}

}  // namespace

void hadamard_quant_f32(const float* x, int64_t ldx, int M, const HadamardDevice& had, const ActQuantSpec& q,
                        uint8_t* packed, float* scale, cudaStream_t stream) {
  launch_transform(x, ldx, M, row_transform(had), &q, packed, scale, nullptr, stream);
}
void hadamard_quant_f16(const uint16_t* x, int64_t ldx, int M, const HadamardDevice& had,
                        const ActQuantSpec& q, uint8_t* packed, float* scale, cudaStream_t stream) {
  launch_transform(x, ldx, M, row_transform(had), &q, packed, scale, nullptr, stream);
}
void heads_hadamard_quant(const float* x, int64_t ldx, int M, int head_dim, const HadamardDevice& had,
                          const ActQuantSpec& q, uint8_t* packed, float* scale, cudaStream_t stream) {
  launch_transform(x, ldx, M, heads_transform(had, head_dim), &q, packed, scale, nullptr, stream);
}
void heads_hadamard_quant_f16(const uint16_t* x, int64_t ldx, int M, int head_dim, const HadamardDevice& had,
                              const ActQuantSpec& q, uint8_t* packed, float* scale, cudaStream_t stream) {
  launch_transform(x, ldx, M, heads_transform(had, head_dim), &q, packed, scale, nullptr, stream);
}
void hadamard_f32(const float* x, int64_t ldx, int M, const HadamardDevice& had, float* y,
                  cudaStream_t stream) {
  launch_transform(x, ldx, M, row_transform(had), nullptr, nullptr, nullptr, y, stream);
}
void heads_hadamard_f32(const float* x, int64_t ldx, int M, int head_dim, const HadamardDevice& had,
                        float* y, cudaStream_t stream) {
  launch_transform(x, ldx, M, heads_transform(had, head_dim), nullptr, nullptr, nullptr, y, stream);
}

}  // namespace quarot::runner
