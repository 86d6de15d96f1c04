// Row kernels: activation quantization (optionally after RMSNorm), the fp16
// RMSNorm that feeds lm_head, and the embedding gather.
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>

#include "lib/core/error.h"
#include "lib/runner/cuda_check.h"
#include "lib/runner/device_common.cuh"
#include "lib/runner/gemm_common.cuh"
#include "lib/runner/generic_kernels.h"
#include "lib/runner/kernels.h"
#include "lib/runner/launch_util.h"

namespace quarot::runner {
namespace {

constexpr int kRowThreads = 256;

// A chunk of 8 inputs as loaded, before conversion to fp32: 16 bytes of fp16 or 32
// of fp32.
template <typename In>
struct RawChunk {
  uint4 w[sizeof(In) / 2];
};
template <typename In>
__device__ __forceinline__ void load_raw(const In* p, RawChunk<In>& c) {
#pragma unroll
  for (int i = 0; i < int(sizeof(In) / 2); ++i) c.w[i] = reinterpret_cast<const uint4*>(p)[i];
}
__device__ __forceinline__ void raw_to_float(const RawChunk<uint16_t>& c, float* v) { dev::half8_to_float(c.w[0], v); }
__device__ __forceinline__ void raw_to_float(const RawChunk<float>& c, float* v) {
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    v[4 * i] = __uint_as_float(c.w[i].x), v[4 * i + 1] = __uint_as_float(c.w[i].y);
    v[4 * i + 2] = __uint_as_float(c.w[i].z), v[4 * i + 3] = __uint_as_float(c.w[i].w);
  }
}

// A row per block step, held in registers: thread i owns the 8-element chunks i, i +
// blockDim, ... (CPT of them), read with 16-byte loads. Two block reductions (sum of
// squares for the norm, absolute maximum), then each chunk becomes one 32-bit word
// of packed codes, or two of tiled int8 codes (dev::store_act_codes). Rows go to the
// blocks grid-stride: with a grid of one block per row every block takes one; with
// more rows than fit at once (the launch below) the blocks stay and load their next
// row before reducing and storing this one. One row per block in two or more waves
// left DRAM idle while each wave reduced and stored (2048 x 4096: 1.2 TB/s in ncu).
// (With 8 chunks a thread the second row's registers would spill: one row a block.)
template <int CPT>
constexpr bool kRowPrefetch = CPT <= 4;

template <typename In, bool kNorm, int CPT>
__global__ void __launch_bounds__(512)
    row_quant_kernel(const In* __restrict__ x, int64_t ldx, const float* __restrict__ norm_w, float eps, int M,
                     int K, int maxq, float c_over_maxq, uint8_t* __restrict__ codes, int64_t tile_rows,
                     float* __restrict__ scale) {
  gemm::pdl_trigger();  // the GEMM after this kernel may start streaming its weights
  gemm::pdl_wait();     // the rows are the previous kernel's output
  __shared__ float scratch[32];
  const int chunks = K / 8;
  RawChunk<In> raw[CPT];
  auto load_row = [&](int r) {
    const In* xr = x + int64_t(r) * ldx;
#pragma unroll
    for (int i = 0; i < CPT; ++i) {
      const int q = threadIdx.x + i * blockDim.x;
      if (q < chunks) load_raw(xr + 8 * q, raw[i]);
    }
  };
  if constexpr (kRowPrefetch<CPT>) load_row(blockIdx.x);
  for (int r = blockIdx.x; r < M; r += gridDim.x) {
    float v[CPT][8];
    float ss = 0.f, amax = 0.f;
#pragma unroll
    for (int i = 0; i < CPT; ++i) {
      const int q = threadIdx.x + i * blockDim.x;
      if (q < chunks) {
        if constexpr (kRowPrefetch<CPT>) raw_to_float(raw[i], v[i]);
        else dev::load8(x + int64_t(r) * ldx + 8 * q, v[i]);
      } else {
#pragma unroll
        for (int e = 0; e < 8; ++e) v[i][e] = 0.f;
      }
    }
    if constexpr (kRowPrefetch<CPT>) {
      if (r + int(gridDim.x) < M) load_row(r + gridDim.x);
    }
#pragma unroll
    for (int i = 0; i < CPT; ++i) {
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        ss += v[i][e] * v[i][e];
        amax = fmaxf(amax, fabsf(v[i][e]));
      }
    }
    if (kNorm) {
      ss = dev::block_sum(ss, scratch);
      const float inv = 1.0f / sqrtf(ss / float(K) + eps);
      amax = 0.f;
#pragma unroll
      for (int i = 0; i < CPT; ++i) {
        const int q = threadIdx.x + i * blockDim.x;
        if (q >= chunks) continue;
        float w[8];
        dev::load8(norm_w + 8 * q, w);
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          v[i][e] = (v[i][e] * inv) * w[e];
          amax = fmaxf(amax, fabsf(v[i][e]));
        }
      }
    }
    amax = dev::block_max(amax, scratch);
    const float s = dev::sym_scale(amax, c_over_maxq), inv = 1.f / s;
#pragma unroll
    for (int i = 0; i < CPT; ++i) {
      const int q = threadIdx.x + i * blockDim.x;
      if (q < chunks) dev::store_act_codes(codes, tile_rows, K / 2, r, q, dev::quant8_sym(v[i], s, inv, maxq));
    }
    if (threadIdx.x == 0) scale[r] = s;
  }
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

// One block per row while the rows fit on the GPU at once; past that as many blocks
// as fit, each taking rows grid-stride.
template <typename In, bool kNorm, int CPT>
void launch_rows(int threads, const In* x, int64_t ldx, const float* w, float eps, int M, int K, int maxq,
                 float c, const ActCodes& codes, float* scale, cudaStream_t stream) {
  auto* kernel = row_quant_kernel<In, kNorm, CPT>;
  int grid = M;
  if (kRowPrefetch<CPT>) {
    const int per_sm = std::max(blocks_per_sm(kernel, threads, 0), 1);
    grid = int(std::min<int64_t>(M, int64_t(per_sm) * device_sm_count()));
  }
  gemm::launch_pdl(kernel, dim3(grid), dim3(threads), 0, stream, x, ldx, w, eps, M, K, maxq, c, codes.data,
                   codes.tile_rows, scale);
}

template <typename In, bool kNorm>
void launch_row_quant(const In* x, int64_t ldx, const float* w, float eps, int M, int K, const ActQuantSpec& q,
                      ActCodes codes, float* scale, cudaStream_t stream, int packed_cols) {
  const char* what = kNorm ? "rmsnorm_quant" : "act_quant";
  QUAROT_CHECK(q.bits >= 2 && q.bits <= 4, what, ": activation bits must be 2..4 for int4 codes, got ", q.bits);
  QUAROT_CHECK(q.clip > 0 && q.clip <= 1, what, ": clip ratio ", q.clip, " outside (0, 1]");
  QUAROT_CHECK(K > 0, what, ": row length ", K, " must be positive");
  const int cols = packed_cols > 0 ? packed_cols : K;
  const int maxq = (1 << (q.bits - 1)) - 1;
  const float c = float(q.clip / double(maxq));
  if (K % 32 != 0 || cols != K || ldx % 8 != 0) {
    // Shapes the row-in-registers kernel does not take (tiny models, padded GEMM K).
    QUAROT_CHECK(codes.tile_rows == 0, what, ": the tiled code layout needs K % 32 == 0 and no padding, got K ",
                 K, " padded to ", cols);
    detail::generic_row_quant(x, ldx, kNorm ? w : nullptr, eps, M, K, cols, maxq, c, codes.data, scale, stream);
    return;
  }
  QUAROT_CHECK(codes.tile_rows == 0 || (codes.tile_rows >= M && codes.tile_rows % 128 == 0), what,
               ": tile_rows ", codes.tile_rows, " must be a multiple of 128 and at least M = ", M);
  if (M == 0) return;
  const int chunks = K / 8;
  // Few rows: fewest chunks per thread that keep a block within 512 threads (short
  // chains, for latency). Many rows: up to 4-8 chunks per thread, blocks of ~128+
  // threads, so that an SM holds 12-16 rows' loads in flight instead of 4 (at
  // 2048 x 4096 the 512-thread blocks moved ~2 TB/s).
  int cpt = 1;
  const int min_cpt = M >= 4 * device_sm_count() ? std::min(8, std::max(1, chunks / 128)) : 1;
  while (cpt < 8 && (cpt < min_cpt || (chunks + cpt - 1) / cpt > 512)) cpt *= 2;
  QUAROT_CHECK((chunks + cpt - 1) / cpt <= 512, "act_quant: row length ", K, " is over 32768");
  const int threads = std::max(32, ((chunks + cpt - 1) / cpt + 31) / 32 * 32);
  switch (cpt) {
    case 1: launch_rows<In, kNorm, 1>(threads, x, ldx, w, eps, M, K, maxq, c, codes, scale, stream); break;
    case 2: launch_rows<In, kNorm, 2>(threads, x, ldx, w, eps, M, K, maxq, c, codes, scale, stream); break;
    case 4: launch_rows<In, kNorm, 4>(threads, x, ldx, w, eps, M, K, maxq, c, codes, scale, stream); break;
    default: launch_rows<In, kNorm, 8>(threads, x, ldx, w, eps, M, K, maxq, c, codes, scale, stream); break;
  }
}

}  // namespace

void act_quant_f32(const float* x, int64_t ldx, int M, int K, const ActQuantSpec& q, ActCodes codes,
                   float* scale, cudaStream_t stream, int packed_cols) {
  launch_row_quant<float, false>(x, ldx, nullptr, 0.f, M, K, q, codes, scale, stream, packed_cols);
}

void act_quant_f16(const uint16_t* x, int64_t ldx, int M, int K, const ActQuantSpec& q, ActCodes codes,
                   float* scale, cudaStream_t stream, int packed_cols) {
  launch_row_quant<uint16_t, false>(x, ldx, nullptr, 0.f, M, K, q, codes, scale, stream, packed_cols);
}

void rmsnorm_quant(const float* h, const float* weight, float eps, int M, int K, const ActQuantSpec& q,
                   ActCodes codes, float* scale, cudaStream_t stream, int packed_cols) {
  launch_row_quant<float, true>(h, K, weight, eps, M, K, q, codes, scale, stream, packed_cols);
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
