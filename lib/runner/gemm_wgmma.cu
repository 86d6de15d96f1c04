// W4A4 GEMM on Hopper's warpgroup MMA (wgmma, sm_90a), the packed weights taken
// from registers. lib/runner/NOTES.md has the measurements behind each choice.
//
// Operands. Nothing is unpacked in shared memory (an earlier version unpacked both
// int4 operands there in one producer warpgroup, and that, not the tensor cores,
// set its speed: ~500 TOPS):
// - Activations arrive as int8 (16 * code) in the tiled layout of kernels.h
//   (ActCodes): the quantizer before this kernel wrote them in the 128-byte
//   swizzled, K-major order wgmma reads. They are wgmma's B operand (N = 128 tokens).
// - Weights stay 4-bit, in the GEMM layout of kernels.h (blocks of 32 rows x 128
//   codes). They are wgmma's A operand from registers: a consumer thread reads its
//   16 bytes of a row and masks nibbles into int8 fragments (dev::nib_lo/nib_hi,
//   16 * code), in the permutation of k the quantizer writes, so the product is
//   256 * the dot product.
// So D = W · Xᵀ (channels x tokens); the epilogue writes it transposed.
//
// Block: 256 channels x 128 tokens, three warpgroups. One producer thread
// bulk-copies each k-tile (the tile's 8 weight blocks of 2 KB and its 16 KB
// activation tile) into a 5-deep ring of stages, counted on the stage's mbarrier.
// Warpgroups 1 and 2 each multiply 128 channels (two m64 halves) by the 128
// tokens: 8 m64n128k32 per k-tile. setmaxnreg hands the producer's registers to
// the consumers (128 accumulators each). Built for sm_90a only (this file has its
// own -gencode).
//
// Persistent variants (one block per SM walking the tiles, the next tile's k-tiles
// loaded during the epilogue) were no faster with thread stores and 10% slower
// with the stores handed to the bulk-copy engine (NOTES.md, history 10 and 15).
#include <cuda_fp16.h>

#include <cstring>

#include "lib/core/error.h"
#include "lib/runner/cuda_check.h"
#include "lib/runner/device_common.cuh"
#include "lib/runner/gemm_common.cuh"
#include "lib/runner/launch_util.h"
#include "lib/runner/wgmma_ptx.cuh"

namespace quarot::runner::detail {
namespace {

using gemm::Params;
using namespace ptx;

constexpr int kBN = 256, kBT = 128, kStages = 5;
constexpr int kWRow = 64;                         // packed bytes of one weight row per k-tile (128 codes)
constexpr int kWBytes = kBN * kWRow;              // 16 KB
constexpr int kABytes = kBT * 128;                // 16 KB of int8 activations
constexpr int kStageBytes = kABytes + kWBytes;    // activations first: swizzle atoms are 1024-byte aligned
constexpr int kThreads = 384;
// Registers per thread after setmaxnreg. The consumers' increase waits until the
// producer's decrease has freed enough of what the block was launched with (168
// per thread: 64K / 384, in steps of 8); asking for more hangs the block.
constexpr int kProducerRegs = 40, kConsumerRegs = 232;
static_assert(kProducerRegs + 2 * kConsumerRegs <= 3 * ((65536 / kThreads) & ~7), "setmaxnreg budget");
constexpr size_t kSmem = size_t(kStages) * kStageBytes + 2 * kStages * sizeof(uint64_t) + 1024;

struct Smem {
  uint8_t* ptr;    // generic address of stage 0
  uint32_t base;   // its shared address
  uint32_t bars;   // full[s] at bars + 8s, empty[s] at bars + 8 (kStages + s)
  __device__ uint32_t full(int s) const { return bars + 8 * s; }
  __device__ uint32_t empty(int s) const { return bars + 8 * (kStages + s); }
};

// A consumer's weight fragments for k-tile kt, after waiting for its stage:
// [k32 step][m64 half][register]. Fragment rows g and g + 8 of this warp's 16
// channels; thread t holds bytes 16t..16t+15 of both, word st of which feeds k32
// step st.
using Frags = uint32_t[4][2][4];
__device__ __forceinline__ void load_frags(const Smem& sm, int kt, int c, Frags& frag) {
  const int s = kt % kStages;
  mbar_wait(sm.full(s), (kt / kStages) & 1);
  const int warp = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const uint8_t* wt = sm.ptr + s * kStageBytes + kABytes;
#pragma unroll
  for (int q = 0; q < 2; ++q) {
    const int row = c * 128 + q * 64 + warp * 16 + g;
    const uint4 r0 = *reinterpret_cast<const uint4*>(wt + row * kWRow + t * 16);
    const uint4 r1 = *reinterpret_cast<const uint4*>(wt + (row + 8) * kWRow + t * 16);
#pragma unroll
    for (int st = 0; st < 4; ++st) {
      const uint32_t w0 = gemm::word_of(r0, st), w1 = gemm::word_of(r1, st);
      frag[st][q][0] = dev::nib_lo(w0);
      frag[st][q][1] = dev::nib_lo(w1);
      frag[st][q][2] = dev::nib_hi(w0);
      frag[st][q][3] = dev::nib_hi(w1);
    }
  }
}

// k-tile kt's 8 wgmma (k32 step x m64 half) as one commit group.
__device__ __forceinline__ void issue(const Smem& sm, int kt, const Frags& frag, int (&acc)[2][64]) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  wgmma_fence();
  const uint32_t act = sm.base + (kt % kStages) * kStageBytes;
#pragma unroll
  for (int st = 0; st < 4; ++st)
#pragma unroll
    for (int q = 0; q < 2; ++q) wgmma_m64n128k32_rs(acc[q], frag[st][q], desc_sw128(act + 32 * st));
  wgmma_commit();
#endif
}

// The consumer's k-loop, two fragment buffers: k-tile kt + 1's fragments are
// unpacked while kt's wgmma run, one commit group kept in flight; a stage is freed
// when its group is done. (Waiting for each k-tile's own group before unpacking the
// next measured 6% slower on 8192 x 4096 x 4096 once the producer was bulk copies.)
__device__ __forceinline__ void consume_all(const Smem& sm, int ktiles, int c, int (&acc)[2][64]) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  Frags fa, fb;
  load_frags(sm, 0, c, fa);
  for (int kt = 0;; kt += 2) {
    issue(sm, kt, fa, acc);
    if (kt >= 1) {
      wgmma_wait<1>();  // k-tile kt - 1 is done: its stage and fb are free
      mbar_arrive(sm.empty((kt - 1) % kStages));
    }
    if (kt + 1 >= ktiles) {
      wgmma_wait<0>();
      mbar_arrive(sm.empty(kt % kStages));
      break;
    }
    load_frags(sm, kt + 1, c, fb);
    issue(sm, kt + 1, fb, acc);
    wgmma_wait<1>();  // k-tile kt is done: its stage and fa are free
    mbar_arrive(sm.empty(kt % kStages));
    if (kt + 2 >= ktiles) {
      wgmma_wait<0>();
      mbar_arrive(sm.empty((kt + 1) % kStages));
      break;
    }
    load_frags(sm, kt + 2, c, fa);
  }
  fence_regs(acc[0]);
  fence_regs(acc[1]);
#endif
}

// Epilogue through shared memory. Storing straight from the accumulators would
// write 2-4 scattered bytes per instruction (a thread holds channels g, g + 8 of
// tokens 2t, 2t + 1): on 8192 x 4096 that was a third of the kernel's time
// (NOTES.md). Instead each consumer stages its 128 tokens x 128 channels as the
// final floats (scales, bias, SwiGLU applied: the same arithmetic as before, in
// registers), token-major, then its warps store whole rows: 16 bytes per thread,
// a warp covering 512 contiguous bytes of one output row.
//
// Accumulator layout (m64nNk32): warp w of the warpgroup owns rows (channels)
// 16w..16w+15; for each n8 chunk j, acc[4j + e] = (channel g, token 8j + 2t + e)
// and acc[4j + 2 + e] = channel g + 8. SwiGLU pairs gate channel g with up g + 8
// and yields one output column, (n / 16) * 8 + n % 8.
constexpr int kOutCols = 128;                // staged columns per consumer (64 for SwiGLU)
constexpr int kStageStride = kOutCols + 4;   // floats; +4: the staging writes hit 32 distinct banks
constexpr int kStagedBytes = kBT * kStageStride * 4;
static_assert(2 * kStagedBytes <= kStages * kStageBytes, "staged outputs must fit in the stage buffers");

// n_base: this consumer's first channel; m0: the block's first token.
__device__ __forceinline__ void epilogue(const Params& p, const int (&acc)[2][64], float* stage, int n_base,
                                         int m0) {
  const int lt = threadIdx.x & 127, warp = lt >> 5, lane = lt & 31, g = lane >> 2, t = lane & 3;
  const bool swiglu = p.mode == int(OutMode::SwiGLU);
  // Tokens past M read scales past the end of sa only in the formula, never stored:
  // clamp the index instead.
  float sa[32];
#pragma unroll
  for (int i = 0; i < 32; ++i) sa[i] = p.sa[min(m0 + 2 * t + 8 * (i >> 1) + (i & 1), p.M - 1)];
#pragma unroll
  for (int q = 0; q < 2; ++q) {
    const int cl = q * 64 + warp * 16 + g;  // local channel (gate channel for SwiGLU)
    const int n = min(n_base + cl, p.N - 16 + g);  // past N: any valid channel, never stored
    const float sw0 = p.sw[n], sw1 = p.sw[n + 8];
    const float b0 = p.bias != nullptr ? p.bias[n] : 0.f, b1 = p.bias != nullptr ? p.bias[n + 8] : 0.f;
#pragma unroll
    for (int i = 0; i < 32; ++i) {
      const int j = i >> 1, e = i & 1, tok = 8 * j + 2 * t + e;
      const int a0 = acc[q][4 * j + e], a1 = acc[q][4 * j + 2 + e];
      // gemm::scaled's arithmetic, with the scales loaded once; I32 stages the
      // integer itself (|dot| < 2^24, exact as a float).
      float v0 = float(a0 >> 8), v1 = float(a1 >> 8);
      if (p.mode != int(OutMode::I32)) {
        v0 = v0 * sa[i] * sw0;
        v1 = v1 * sa[i] * sw1;
        if (p.bias != nullptr) {
          v0 += b0;
          v1 += b1;
        }
      }
      if (swiglu) {
        stage[tok * kStageStride + (cl >> 4) * 8 + (cl & 7)] = gemm::silu(v0) * v1;
      } else {
        stage[tok * kStageStride + cl] = v0;
        stage[tok * kStageStride + cl + 8] = v1;
      }
    }
  }
  named_barrier(2 + (threadIdx.x >> 7), 128);  // this consumer's tile is staged

  const int cols = swiglu ? kOutCols / 2 : kOutCols;           // staged columns
  const int out_n0 = swiglu ? n_base / 2 : n_base;             // first output column
  const int out_n = swiglu ? p.N / 2 : p.N;                    // output width
  const int c4 = cols / 4;                                     // float4 per staged row
  const bool vec = (p.ldo & 3) == 0 && (reinterpret_cast<uintptr_t>(p.out) & 15) == 0;
  for (int idx = lt; idx < kBT * c4; idx += 128) {
    const int tok = idx / c4, col = (idx % c4) * 4, m = m0 + tok, n = out_n0 + col;
    if (m >= p.M || n >= out_n) continue;
    const float4 v = *reinterpret_cast<const float4*>(stage + tok * kStageStride + col);
    const int64_t o = int64_t(m) * p.ldo + n;
    const bool whole = vec && n + 4 <= out_n;
    switch (p.mode) {
      case int(OutMode::F16): {
        __half2* dst = reinterpret_cast<__half2*>(static_cast<__half*>(p.out) + o);
        if (whole) {
          uint2 h;
          const __half2 lo = __floats2half2_rn(v.x, v.y), hi = __floats2half2_rn(v.z, v.w);
          h.x = *reinterpret_cast<const uint32_t*>(&lo);
          h.y = *reinterpret_cast<const uint32_t*>(&hi);
          *reinterpret_cast<uint2*>(dst) = h;
          break;
        }
        const float vv[4] = {v.x, v.y, v.z, v.w};
        for (int k = 0; k < 4 && n + k < out_n; ++k) static_cast<__half*>(p.out)[o + k] = __float2half_rn(vv[k]);
        break;
      }
      case int(OutMode::AddF32): {
        float* dst = static_cast<float*>(p.out) + o;
        if (whole) {
          float4 r = *reinterpret_cast<const float4*>(dst);
          r.x += v.x;
          r.y += v.y;
          r.z += v.z;
          r.w += v.w;
          *reinterpret_cast<float4*>(dst) = r;
          break;
        }
        const float vv[4] = {v.x, v.y, v.z, v.w};
        for (int k = 0; k < 4 && n + k < out_n; ++k) dst[k] += vv[k];
        break;
      }
      case int(OutMode::I32): {
        int* dst = static_cast<int*>(p.out) + o;
        const float vv[4] = {v.x, v.y, v.z, v.w};
        if (whole) {
          *reinterpret_cast<int4*>(dst) = make_int4(int(v.x), int(v.y), int(v.z), int(v.w));
          break;
        }
        for (int k = 0; k < 4 && n + k < out_n; ++k) dst[k] = int(vv[k]);
        break;
      }
      default: {  // F32, SwiGLU
        float* dst = static_cast<float*>(p.out) + o;
        if (whole) {
          *reinterpret_cast<float4*>(dst) = v;
          break;
        }
        const float vv[4] = {v.x, v.y, v.z, v.w};
        for (int k = 0; k < 4 && n + k < out_n; ++k) dst[k] = vv[k];
        break;
      }
    }
  }
}

__global__ void __launch_bounds__(kThreads, 1) gemm_wgmma_kernel(Params p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ uint8_t smem_raw[];
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;
  const Smem sm{smem_raw + (base - raw), base, base + kStages * kStageBytes};
  const int wg = threadIdx.x >> 7, lt = threadIdx.x & 127;
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbar_init(sm.full(s), 1);        // the producer's expect_tx; the copies complete the transaction
      mbar_init(sm.empty(s), 256);     // both consumer warpgroups
    }
    // The bulk copies (async proxy) complete on these barriers.
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  const int n0 = blockIdx.x * kBN, m0 = blockIdx.y * kBT;
  const int kbytes = p.K / 2, ktiles = (kbytes + kWRow - 1) / kWRow;

  if (wg == 0) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kProducerRegs) : "memory");
    // One thread produces: per k-tile, the block's 8 weight blocks of the GEMM layout
    // (32 rows x 64 bytes each, 2 KB contiguous) and the activation tile, all bulk
    // copies counted on the stage's barrier. Weight blocks past the padded N are not
    // copied: their rows' outputs are never stored.
    if (lt == 0) {
      const int64_t wkt = gemm::wtile_ktiles(p.K);
      const int nblk = min(kBN / 32, (p.N + 31) / 32 - n0 / 32);
      const uint8_t* wsrc = p.w + int64_t(n0 / 32) * wkt * 2048;
      for (int kt = 0; kt < ktiles; ++kt) {
        const int s = kt % kStages;
        if (kt >= kStages) mbar_wait(sm.empty(s), (kt / kStages - 1) & 1);
        const uint32_t dst = sm.base + s * kStageBytes;
        mbar_arrive_expect_tx(sm.full(s), kABytes + nblk * 2048);
        for (int b = 0; b < nblk; ++b)
            bulk_copy(dst + kABytes + b * 2048, wsrc + (int64_t(b) * wkt + kt) * 2048, 2048, sm.full(s));
        // Weights do not depend on the kernel before this one; the activations do.
        if (kt == 0) gemm::pdl_wait();
        bulk_copy(dst, p.a + (int64_t(kt) * p.a_rows + m0) * 128, kABytes, sm.full(s));
      }
    }
  } else {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kConsumerRegs) : "memory");
    gemm::pdl_wait();  // the epilogue reads the activation scales (and the residual)
    const int c = wg - 1;
    int acc[2][64];
#pragma unroll
    for (int q = 0; q < 2; ++q)
#pragma unroll
      for (int i = 0; i < 64; ++i) acc[q][i] = 0;
    consume_all(sm, ktiles, c, acc);

    // Both consumers are past their last wgmma: the stage buffers are free.
    named_barrier(1, 256);
    epilogue(p, acc, reinterpret_cast<float*>(sm.ptr) + c * (kStagedBytes / 4), n0 + c * 128, m0);
  }
#endif
}

}  // namespace

bool wgmma_supported() {
  static const bool ok = [] {
    int dev = 0;
    cudaDeviceProp prop{};
    if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&prop, dev) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    if (prop.major != 9 || prop.minor != 0) return false;
    cudaFuncAttributes attr{};
    const bool loads = cudaFuncGetAttributes(&attr, gemm_wgmma_kernel) == cudaSuccess;
    cudaGetLastError();
    return loads;
  }();
  return ok;
}

void launch_gemm_wgmma(const Params& p, cudaStream_t stream) {
  QUAROT_ASSERT(p.a_rows >= p.M && p.a_rows % kBT == 0, "wgmma GEMM: tile rows ", p.a_rows, " for M = ", p.M);
  ensure_dynamic_smem(gemm_wgmma_kernel, kSmem);
  const dim3 grid((p.N + kBN - 1) / kBN, (p.M + kBT - 1) / kBT);
  gemm::launch_pdl(gemm_wgmma_kernel, grid, dim3(kThreads), kSmem, stream, p);
}

}  // namespace quarot::runner::detail
