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
// Block: a producer warpgroup and one or two consumer warpgroups (Cfg below: 128
// channels x 128 or 64 tokens or 64 x 64, two blocks per SM; 256 x 128, one). One producer
// thread bulk-copies each stage (per 32-row weight block its 2 KB k-tiles, and the
// activation tiles) into a ring of stages, counted on the stage's mbarrier. Each
// consumer multiplies 128 channels (two m64 halves) by the block's tokens: 8
// m64nNk32 per k-tile. setmaxnreg hands the producer's registers to the consumers
// (up to 128 accumulators each). Built for sm_90a only (this file has its own
// -gencode).
//
// Persistent variants (one block per SM walking the tiles, the next tile's k-tiles
// loaded during the epilogue) were no faster with thread stores and 10% slower
// with the stores handed to the bulk-copy engine (NOTES.md, history 10 and 15).
// The idle SMs at a grid's end, while its last partial round of tiles runs, are
// instead filled by splitting that round's tiles along K (128 x 128 block only:
// gemm_tail_split.cuh; the caller's GemmArgs::workspace holds the partial sums).
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdio>
#include <type_traits>
#include <cstring>
#include <vector>

#include "lib/core/error.h"
#include "lib/runner/cuda_check.h"
#include "lib/runner/device_common.cuh"
#include "lib/runner/gemm_common.cuh"
#include "lib/runner/gemm_tail_split.cuh"
#include "lib/runner/gemm_timeline.cuh"
#include "lib/runner/kernels.h"
#include "lib/runner/launch_util.h"
#include "lib/runner/wgmma_ptx.cuh"

namespace quarot::runner::detail {
namespace {

using gemm::Params;
using namespace ptx;

constexpr int kWRow = 64;                    // packed bytes of one weight row per k-tile (128 codes)
constexpr int kTileRows = 128;               // the tiled activation layout's row granularity (kernels.h)
constexpr int kOutCols = 128;                // staged epilogue columns per consumer, at most
constexpr int kStageStride = kOutCols + 4;   // floats; +4: the staging writes hit 32 distinct banks
// fp16 staging (F16 output, full tiles): bytes per staged token row; +16: the eight
// 16-byte rows of an stmatrix fall in distinct banks, and so do a warp's row reads.
constexpr int kHalfRowBytes = kOutCols * 2 + 16;
constexpr size_t kSmemPerSm = 228 * 1024;    // sm_90

// Four block shapes, the same k-loop and epilogue per consumer warpgroup:
// - kConsumers = 2: 256 channels, one block per SM, the consumers sharing each
//   activation tile;
// - kConsumers = 1: 128 channels, two blocks per SM. The two blocks drift apart,
//   so one block's epilogue and pipeline fill run while the other's tensor-core
//   loop does: with one block per SM every SM's tensor cores idle during those
//   (ncu, 8192 x 4096 x 4096: the INT pipe 62% busy, 24 of the tile's 37 us at
//   peak; NOTES.md history 19).
// - kTokens = 64 (one consumer, two blocks per SM): for M of a few hundred, where
//   128-token blocks leave most SMs idle; with kHalves = 1 (64 channels) where
//   even those would not give every SM a block.
template <int kConsumers, int kTokens, int kHalves = 2>
struct Cfg {
  static constexpr int kHalf = kHalves;          // m64 halves per consumer
  static constexpr int kCh = 64 * kHalves;       // channels per consumer
  static constexpr int kBN = kCh * kConsumers, kBT = kTokens;
  static constexpr int kAcc = kTokens / 2;  // accumulators per thread per m64 half
  static constexpr int kABytes = kTokens * 128;  // int8 activations per k-tile
  static constexpr int kThreads = 128 * (1 + kConsumers);
  static constexpr int kBlocksPerSm = kConsumers == 2 ? 1 : 2;
  // A stage holds kKt k-tiles: each 32-row weight block's k-tiles are contiguous in
  // the GEMM layout, so one bulk copy per block brings all of them. Two k-tiles a
  // stage made the 64-token block 13% faster (half the copies; its 3 stages hold 6
  // k-tiles) and the 128-token ones 30% slower (2 stages: the producer waits for
  // the consumer to free a whole stage). NOTES.md, history 19.
  static constexpr int kKt = kTokens == 64 ? 2 : 1;
  // The last partial round's split along K (gemm_tail_split.cuh): the 128 x 128
  // block, where one block per tile of that round leaves most SMs idle.
  static constexpr bool kTailSplit = kConsumers == 1 && kTokens == 128 && kHalves == 2;
  static constexpr int kStages = kConsumers == 2 ? 5 : kTokens == 128 ? 4 : kHalves == 2 ? 3 : 4;
  static constexpr int kWBytes = kBN * kWRow * kKt;
  // Activation tiles first (swizzle atoms are 1024-byte aligned), then per weight
  // block its kKt k-tiles of 2 KB.
  static constexpr int kStageBytes = kABytes * kKt + kWBytes;
  // Registers per thread after setmaxnreg. The consumers' increase waits until the
  // producer's decrease has freed enough of what the block was launched with
  // (64K / (threads x blocks per SM), in steps of 8); asking for more hangs the block.
  static constexpr int kLaunchRegs = (65536 / (kThreads * kBlocksPerSm)) & ~7;
  // 128 accumulators need the 232, which leaves the producer 24 when two blocks
  // share an SM; 64 need fewer, so that producer keeps 40 (with 24 its loop spilled).
  static constexpr int kProducerRegs = kConsumers == 1 && kTokens == 128 ? 24 : 40;
  static constexpr int kConsumerRegs = kTokens == 128 ? 232 : 216;
  static_assert(kProducerRegs + kConsumers * kConsumerRegs <= (1 + kConsumers) * kLaunchRegs, "setmaxnreg budget");
  // Each consumer's token scales, channel scales and biases, read before its k-loop
  // (after them, with one consumer warpgroup an SM's only warps left issuing, their
  // latency stood in the epilogue; see epilogue()).
  static constexpr int kScaleFloats = kTokens + 2 * kCh;
  static constexpr int kScaleOffset = (kStages * kStageBytes + 2 * kStages * int(sizeof(uint64_t)) + 15) / 16 * 16;
  static constexpr size_t kSmem = size_t(kScaleOffset) + size_t(kConsumers) * kScaleFloats * 4 + 1024;
  // 1 KB of an SM's shared memory is reserved per block.
  static_assert(kBlocksPerSm * (kSmem + 1024) <= kSmemPerSm, "blocks per SM do not fit in shared memory");
  // The epilogue stages each consumer's outputs in the (then free) stage buffers.
  static constexpr int kStagedBytes = kTokens * kStageStride * 4;
  static_assert(kConsumers * kStagedBytes <= kStages * kStageBytes, "staged outputs must fit in the stage buffers");
  static_assert(kTokens == 64 || kTokens == 128, "wgmma N");
};

template <int kStages>
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
template <int kHalves>
using Frags = uint32_t[4][kHalves][4];
template <class C>
__device__ __forceinline__ void load_frags(const Smem<C::kStages>& sm, int kt, int c, Frags<C::kHalf>& frag) {
  const int seq = kt / C::kKt, s = seq % C::kStages, j = kt % C::kKt;
  if (j == 0) mbar_wait(sm.full(s), (seq / C::kStages) & 1);
  const int warp = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const uint8_t* wt = sm.ptr + s * C::kStageBytes + C::kKt * C::kABytes + j * 2048;
#pragma unroll
  for (int q = 0; q < C::kHalf; ++q) {
    // Rows g and g + 8 lie in the same 32-row block.
    const int row = c * C::kCh + q * 64 + warp * 16 + g;
    const uint8_t* blk = wt + (row >> 5) * (C::kKt * 2048) + (row & 31) * kWRow + t * 16;
    const uint4 r0 = *reinterpret_cast<const uint4*>(blk);
    const uint4 r1 = *reinterpret_cast<const uint4*>(blk + 8 * kWRow);
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
template <class C>
__device__ __forceinline__ void issue(const Smem<C::kStages>& sm, int kt, const Frags<C::kHalf>& frag,
                                      int (&acc)[C::kHalf][C::kAcc]) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  wgmma_fence();
  const uint32_t act = sm.base + (kt / C::kKt) % C::kStages * C::kStageBytes + kt % C::kKt * C::kABytes;
#pragma unroll
  for (int st = 0; st < 4; ++st)
#pragma unroll
    for (int q = 0; q < C::kHalf; ++q) {
      if constexpr (C::kBT == 128)
        wgmma_m64n128k32_rs(acc[q], frag[st][q], desc_sw128(act + 32 * st));
      else
        wgmma_m64n64k32_rs(acc[q], frag[st][q], desc_sw128(act + 32 * st));
    }
  wgmma_commit();
#endif
}

// k-tile kt's wgmma are done: free its stage if it was the stage's last k-tile.
template <class C>
__device__ __forceinline__ void release(const Smem<C::kStages>& sm, int kt, int ktiles) {
  if (kt % C::kKt == C::kKt - 1 || kt == ktiles - 1) mbar_arrive(sm.empty((kt / C::kKt) % C::kStages));
}

// The consumer's k-loop, two fragment buffers: k-tile kt + 1's fragments are
// unpacked while kt's wgmma run, one commit group kept in flight; a stage is freed
// when its last group is done. (Waiting for each k-tile's own group before
// unpacking the next measured 6% slower on 8192 x 4096 x 4096 once the producer was
// bulk copies; three buffers, two groups in flight, 10-25% slower on the 64-token
// block.) Two forms of the same loop, each faster for one block shape (NOTES.md,
// history 19): for 128 tokens the loop unrolled by the buffer count, after which
// ptxas no longer injects warpgroup.arrive between a group's wgmma (2-4% faster);
// for 64 tokens the pairwise loop with early exits (7-12% faster there).
template <class C>
__device__ __forceinline__ void consume_unrolled(const Smem<C::kStages>& sm, int ktiles, int c,
                                                 int (&acc)[C::kHalf][C::kAcc]) {
  Frags<C::kHalf> f[2];
  load_frags<C>(sm, 0, c, f[0]);
  if (threadIdx.x == 128) timeline::stamp(timeline::kFirstTile);
  for (int kt0 = 0; kt0 < ktiles; kt0 += 2) {
#pragma unroll
    for (int b = 0; b < 2; ++b) {
      const int kt = kt0 + b;
      if (kt < ktiles) {
        issue<C>(sm, kt, f[b], acc);
        wgmma_wait<1>();  // k-tile kt - 1 is done, and its buffer f[b ^ 1] free
        if (kt >= 1) release<C>(sm, kt - 1, ktiles);
        if (kt + 1 < ktiles) load_frags<C>(sm, kt + 1, c, f[b ^ 1]);
      }
    }
  }
  wgmma_wait<0>();
  release<C>(sm, ktiles - 1, ktiles);
}

template <class C>
__device__ __forceinline__ void consume_pairs(const Smem<C::kStages>& sm, int ktiles, int c,
                                              int (&acc)[C::kHalf][C::kAcc]) {
  Frags<C::kHalf> fa, fb;
  load_frags<C>(sm, 0, c, fa);
  for (int kt = 0;; kt += 2) {
    issue<C>(sm, kt, fa, acc);
    if (kt >= 1) {
      wgmma_wait<1>();  // k-tile kt - 1 is done (and fb free)
      release<C>(sm, kt - 1, ktiles);
    }
    if (kt + 1 >= ktiles) {
      wgmma_wait<0>();
      release<C>(sm, kt, ktiles);
      break;
    }
    load_frags<C>(sm, kt + 1, c, fb);
    issue<C>(sm, kt + 1, fb, acc);
    wgmma_wait<1>();  // k-tile kt is done (and fa free)
    release<C>(sm, kt, ktiles);
    if (kt + 2 >= ktiles) {
      wgmma_wait<0>();
      release<C>(sm, kt + 1, ktiles);
      break;
    }
    load_frags<C>(sm, kt + 2, c, fa);
  }
}

template <class C>
__device__ __forceinline__ void consume_all(const Smem<C::kStages>& sm, int ktiles, int c,
                                            int (&acc)[C::kHalf][C::kAcc]) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  if constexpr (C::kBT == 128)
    consume_unrolled<C>(sm, ktiles, c, acc);
  else
    consume_pairs<C>(sm, ktiles, c, acc);
#pragma unroll
  for (int q = 0; q < C::kHalf; ++q) fence_regs(acc[q]);
#endif
}

// Epilogue through shared memory. Storing straight from the accumulators would
// write 2-4 scattered bytes per instruction (a thread holds channels g, g + 8 of
// tokens 2t, 2t + 1): on 8192 x 4096 that was a third of the kernel's time
// (NOTES.md). Instead each consumer stages its 128 tokens x 128 channels as the
// final values (scales, bias, SwiGLU applied in registers), token-major, then its
// warps store whole rows: as floats, a thread's 16-byte read of four columns
// becoming 16 (fp32) or 8 (fp16) contiguous bytes of output; for F16 output of a
// full tile, staged as fp16 by stmatrix and stored 16 bytes (eight columns) a
// thread. The two blocks of an SM reach their epilogues together (NOTES.md history
// 28), so the epilogue's time is the tensor cores' idle time: it is written for
// latency (scales read before the k-loop, a staging loop per output mode, loads
// batched ahead of stores).
//
// Accumulator layout (m64nNk32): warp w of the warpgroup owns rows (channels)
// 16w..16w+15; for each n8 chunk j, acc[4j + e] = (channel g, token 8j + 2t + e)
// and acc[4j + 2 + e] = channel g + 8. SwiGLU pairs gate channel g with up g + 8
// and yields one output column, (n / 16) * 8 + n % 8.

// This consumer's scales into shared memory (Cfg::kScaleFloats): token scales for
// its kBT tokens, then weight scales and biases for its kCh channels. Indices past
// M or N are clamped: those outputs are computed but never stored.
template <class C>
__device__ __forceinline__ void load_scales(const Params& p, float* scales, int n_base, int m0) {
  const int lt = threadIdx.x & 127;
  if (lt < C::kBT) scales[lt] = p.sa[min(m0 + lt, p.M - 1)];
  if (lt < C::kCh) {
    const int n = min(n_base + lt, p.N - 1);
    scales[C::kBT + lt] = p.sw[n];
    scales[C::kBT + C::kCh + lt] = p.bias != nullptr ? p.bias[n] : 0.f;
  }
  named_barrier(2 + (threadIdx.x >> 7), 128);
}

// float(x) for |x| < 2^22 as an integer add and a float subtract: exact, and full
// rate where the conversion instruction is a quarter (the epilogue converts 16 K
// accumulators a consumer).
__device__ __forceinline__ float small_int_to_float(int x) {
  return __int_as_float(x + 0x4B400000) - 12582912.f;  // 12582912 = 1.5 * 2^23
}

// A staged tile's rows, kPerRow 16-byte chunks each, from load(tok, chunk) to
// store(tok, chunk, loaded): a warp covers whole staged rows (16-byte reads,
// conflict-free). Explicitly in batches of kBatch chunks a thread, every load of a
// batch (the staged values and, for AddF32, the output they add to) before its
// first store: the compiler cannot move loads above stores that may alias them, and
// one warp per scheduler has nothing else to hide a load's latency with.
template <class C, int kPerRow, typename Load, typename Store>
__device__ __forceinline__ void staged_batches(int lt, const Load& load, const Store& store) {
  constexpr int kIters = C::kBT * kPerRow / 128, kBatch = kIters < 8 ? kIters : 8;
  static_assert(C::kBT * kPerRow % 128 == 0 && kIters % kBatch == 0, "whole batches of the consumer's threads");
  using Chunk = decltype(load(0, 0));
#pragma unroll 1
  for (int it0 = 0; it0 < kIters; it0 += kBatch) {
    Chunk v[kBatch];
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const int idx = (it0 + b) * 128 + lt;
      v[b] = load(idx / kPerRow, idx % kPerRow);
    }
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const int idx = (it0 + b) * 128 + lt;
      store(idx / kPerRow, idx % kPerRow, v[b]);
    }
  }
}

// Four staged floats and, where the output mode adds to it, the output's four.
struct StagedChunk {
  float4 v, r;
};

// The staged fp32 tile's rows, four floats at a time, to op(addr(tok, col), value,
// residual) (staged_batches).
template <class C, int kCols, bool kLoadOut, typename Addr, typename Op>
__device__ __forceinline__ void for_staged_chunks(const float* stage, int lt, const Addr& addr, const Op& op) {
  const auto load = [&](int tok, int chunk) {
    StagedChunk c;
    c.v = *reinterpret_cast<const float4*>(stage + tok * kStageStride + chunk * 4);
    if constexpr (kLoadOut) c.r = *reinterpret_cast<const float4*>(addr(tok, chunk * 4));
    return c;
  };
  staged_batches<C, kCols / 4>(lt, load, [&](int tok, int chunk, const StagedChunk& c) {
    op(addr(tok, chunk * 4), c.v, c.r);
  });
}

// A full tile (every token < M, every column < the output width, 16-byte aligned
// rows) in output mode kMode: no bounds or mode test per chunk.
template <class C, int kMode>
__device__ __forceinline__ void store_full(const Params& p, const float* stage, int out_n0, int m0, int lt) {
  constexpr int kCols = kMode == int(OutMode::SwiGLU) ? C::kCh / 2 : C::kCh;
  constexpr bool kF16 = kMode == int(OutMode::F16), kAdd = kMode == int(OutMode::AddF32);
  using Out = std::conditional_t<kF16, __half, float>;
  Out* out = static_cast<Out*>(p.out) + int64_t(m0) * p.ldo + out_n0;
  const int64_t ldo = p.ldo;
  const auto addr = [&](int tok, int col) { return out + tok * ldo + col; };
  for_staged_chunks<C, kCols, kAdd>(stage, lt, addr, [](Out* dst, const float4& v, const float4& r) {
    if constexpr (kF16) {
      const __half2 lo = __floats2half2_rn(v.x, v.y), hi = __floats2half2_rn(v.z, v.w);
      uint2 h;
      h.x = *reinterpret_cast<const uint32_t*>(&lo);
      h.y = *reinterpret_cast<const uint32_t*>(&hi);
      *reinterpret_cast<uint2*>(dst) = h;
    } else if constexpr (kAdd) {
      *reinterpret_cast<float4*>(dst) = make_float4(r.x + v.x, r.y + v.y, r.z + v.z, r.w + v.w);
    } else {  // F32, SwiGLU
      *reinterpret_cast<float4*>(dst) = v;
    }
  });
}

// Any tile, any mode: each chunk checked against M and the output width.
template <class C>
__device__ __forceinline__ void store_checked(const Params& p, const float* stage, int cols, int out_n0, int out_n,
                                              int m0, bool vec, int lt) {
  const int c4 = cols / 4;  // float4 per staged row
  for (int idx = lt; idx < C::kBT * c4; idx += 128) {
    const int tok = idx / c4, col = (idx % c4) * 4, m = m0 + tok, n = out_n0 + col;
    if (m >= p.M || n >= out_n) continue;
    const float4 v = *reinterpret_cast<const float4*>(stage + tok * kStageStride + col);
    const int64_t o = int64_t(m) * p.ldo + n;
    const bool whole = vec && n + 4 <= out_n;
    const float vv[4] = {v.x, v.y, v.z, v.w};
    switch (p.mode) {
      case int(OutMode::F16): {
        __half* dst = static_cast<__half*>(p.out) + o;
        if (whole) {
          const __half2 lo = __floats2half2_rn(v.x, v.y), hi = __floats2half2_rn(v.z, v.w);
          uint2 h;
          h.x = *reinterpret_cast<const uint32_t*>(&lo);
          h.y = *reinterpret_cast<const uint32_t*>(&hi);
          *reinterpret_cast<uint2*>(dst) = h;
          break;
        }
        for (int k = 0; k < 4 && n + k < out_n; ++k) dst[k] = __float2half_rn(vv[k]);
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
        for (int k = 0; k < 4 && n + k < out_n; ++k) dst[k] += vv[k];
        break;
      }
      case int(OutMode::I32): {
        int* dst = static_cast<int*>(p.out) + o;
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
        for (int k = 0; k < 4 && n + k < out_n; ++k) dst[k] = vv[k];
        break;
      }
    }
  }
}

// Every scale this thread's accumulators need, in registers before the first
// staging store (the loads could not pass those stores otherwise: both are shared
// memory): sa[2j + e] for token 8j + 2t + e, sw and bias [half][channel g, g + 8].
template <class C>
__device__ __forceinline__ void thread_scales(const float* scales, float (&sa)[C::kAcc / 2], float (&sw)[C::kHalf][2],
                                              float (&bias)[C::kHalf][2]) {
  const int lt = threadIdx.x & 127, warp = lt >> 5, lane = lt & 31, g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int j = 0; j < C::kAcc / 4; ++j) {
    const float2 s2 = *reinterpret_cast<const float2*>(scales + 8 * j + 2 * t);  // tokens 8j + 2t, + 1
    sa[2 * j] = s2.x;
    sa[2 * j + 1] = s2.y;
  }
#pragma unroll
  for (int q = 0; q < C::kHalf; ++q)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int cl = q * 64 + warp * 16 + g + 8 * h;
      sw[q][h] = scales[C::kBT + cl];
      bias[q][h] = scales[C::kBT + C::kCh + cl];
    }
}

// How the accumulators become staged floats: scaled (gemm::scaled's arithmetic), with
// or without a bias; scaled gate and up channels into silu(gate) * up; or the exact
// integer (I32 mode). A template parameter rather than a test in the loop: with the
// modes resolved at run time the loop carried every mode's instructions, SwiGLU's
// expf and division among them, predicated off, and that issue (one warp per
// scheduler) was most of the staging time: 2.8 us of a 24 us block (NOTES.md history 28).
enum class Staging { Scaled, ScaledBias, SwiGLU, Integer };

template <class C, Staging kHow>
__device__ __forceinline__ void stage_tile(const int (&acc)[C::kHalf][C::kAcc], float* stage, const float* scales) {
  constexpr int kPairs = C::kAcc / 2;  // (channel g, g + 8) pairs per thread per m64 half
  const int lt = threadIdx.x & 127, warp = lt >> 5, lane = lt & 31, g = lane >> 2, t = lane & 3;
  float sa[kPairs], sw[C::kHalf][2], bias[C::kHalf][2];
  if constexpr (kHow != Staging::Integer) thread_scales<C>(scales, sa, sw, bias);
#pragma unroll
  for (int q = 0; q < C::kHalf; ++q) {
    const int cl = q * 64 + warp * 16 + g;  // local channel (gate channel for SwiGLU)
#pragma unroll
    for (int i = 0; i < kPairs; ++i) {
      const int j = i >> 1, e = i & 1, tok = 8 * j + 2 * t + e;
      // |dot| <= 64 K < 2^22 for K <= 65536 (launch_gemm_wgmma's limit): exact.
      float v0 = small_int_to_float(acc[q][4 * j + e] >> 8), v1 = small_int_to_float(acc[q][4 * j + 2 + e] >> 8);
      if constexpr (kHow != Staging::Integer) {
        v0 = v0 * sa[i] * sw[q][0];
        v1 = v1 * sa[i] * sw[q][1];
      }
      if constexpr (kHow == Staging::ScaledBias || kHow == Staging::SwiGLU) {
        // Biases are zero unless the layer has them (load_scales).
        v0 += bias[q][0];
        v1 += bias[q][1];
      }
      if constexpr (kHow == Staging::SwiGLU) {
        stage[tok * kStageStride + (cl >> 4) * 8 + (cl & 7)] = gemm::silu(v0) * v1;
      } else {
        stage[tok * kStageStride + cl] = v0;
        stage[tok * kStageStride + cl + 8] = v1;
      }
    }
  }
}

// F16 output of a full tile without bias: the scaled values rounded to fp16 in
// registers and staged by stmatrix (16 of them a thread, against 128 four-byte
// stores for fp32 staging), token-major, then stored 16 bytes (8 channels) a thread.
// The rounding is the same (fp32 value -> nearest fp16) as store_full's.
template <class C>
__device__ __forceinline__ void stage_tile_half(const int (&acc)[C::kHalf][C::kAcc], uint8_t* stage,
                                                const float* scales) {
  const int lt = threadIdx.x & 127, warp = lt >> 5, lane = lt & 31;
  float sa[C::kAcc / 2], sw[C::kHalf][2], bias[C::kHalf][2];  // no bias on this path
  thread_scales<C>(scales, sa, sw, bias);
  // Lane 8i + r addresses row r of matrix i = (token chunk j + i / 2, channels + 8 (i % 2)).
  const int mi = lane >> 3, r = lane & 7;
  const uint32_t base = smem_addr(stage) + (8 * (mi >> 1) + r) * kHalfRowBytes + (warp * 16 + 8 * (mi & 1)) * 2;
  const auto pack = [](float lo, float hi) {
    const __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  };
#pragma unroll
  for (int q = 0; q < C::kHalf; ++q)
#pragma unroll
    for (int j = 0; j < C::kAcc / 4; j += 2) {  // n8 token chunks, two a step
      uint32_t w[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        // Matrix i: token chunk j + i / 2, channel g + 8 (i % 2); tokens 2t, 2t + 1.
        const int jj = j + (i >> 1), h = i & 1, a = 4 * jj + 2 * h;
        const float v0 = small_int_to_float(acc[q][a] >> 8) * sa[2 * jj] * sw[q][h];
        const float v1 = small_int_to_float(acc[q][a + 1] >> 8) * sa[2 * jj + 1] * sw[q][h];
        w[i] = pack(v0, v1);
      }
      stmatrix_x4_trans(base + 8 * j * kHalfRowBytes + q * 128, w[0], w[1], w[2], w[3]);
    }
}

template <class C>
__device__ __forceinline__ void store_full_half(const Params& p, const uint8_t* stage, int n_base, int m0, int lt) {
  __half* out = static_cast<__half*>(p.out) + int64_t(m0) * p.ldo + n_base;
  const int64_t ldo = p.ldo;
  staged_batches<C, C::kCh / 8>(
      lt, [&](int tok, int chunk) { return *reinterpret_cast<const uint4*>(stage + tok * kHalfRowBytes + chunk * 16); },
      [&](int tok, int chunk, const uint4& v) { *reinterpret_cast<uint4*>(out + tok * ldo + chunk * 8) = v; });
}

// n_base: this consumer's first channel; m0: the block's first token; scales: its
// load_scales. The two blocks of an SM run their k-loops side by side and reach
// their epilogues together (NOTES.md history 28: 6 us of a 26 us block at 2048 x
// 11008 x 4096), so the SM's tensor cores wait for the slower of two epilogues run
// by one warp per scheduler each: what counts here is latency, not throughput.
template <class C>
__device__ __forceinline__ void epilogue(const Params& p, const int (&acc)[C::kHalf][C::kAcc], float* stage,
                                         const float* scales, int n_base, int m0) {
  const int lt = threadIdx.x & 127;
  const bool swiglu = p.mode == int(OutMode::SwiGLU);
  if (p.mode == int(OutMode::F16) && p.bias == nullptr && m0 + C::kBT <= p.M && n_base + C::kCh <= p.N &&
      (p.ldo & 7) == 0 && (reinterpret_cast<uintptr_t>(p.out) & 15) == 0) {
    uint8_t* hstage = reinterpret_cast<uint8_t*>(stage);
    stage_tile_half<C>(acc, hstage, scales);
    named_barrier(2 + (threadIdx.x >> 7), 128);
    if (threadIdx.x == 128) timeline::stamp(timeline::kStaged);
    return store_full_half<C>(p, hstage, n_base, m0, lt);
  }
  if (swiglu)
    stage_tile<C, Staging::SwiGLU>(acc, stage, scales);
  else if (p.mode == int(OutMode::I32))
    stage_tile<C, Staging::Integer>(acc, stage, scales);
  else if (p.bias != nullptr)
    stage_tile<C, Staging::ScaledBias>(acc, stage, scales);
  else
    stage_tile<C, Staging::Scaled>(acc, stage, scales);
  named_barrier(2 + (threadIdx.x >> 7), 128);  // this consumer's tile is staged
  if (threadIdx.x == 128) timeline::stamp(timeline::kStaged);

  const int cols = swiglu ? C::kCh / 2 : C::kCh;    // staged columns
  const int out_n0 = swiglu ? n_base / 2 : n_base;  // first output column
  const int out_n = swiglu ? p.N / 2 : p.N;         // output width
  const bool vec = (p.ldo & 3) == 0 && (reinterpret_cast<uintptr_t>(p.out) & 15) == 0;
  if (vec && m0 + C::kBT <= p.M && out_n0 + cols <= out_n) {
    switch (p.mode) {
      case int(OutMode::F16): return store_full<C, int(OutMode::F16)>(p, stage, out_n0, m0, lt);
      case int(OutMode::F32): return store_full<C, int(OutMode::F32)>(p, stage, out_n0, m0, lt);
      case int(OutMode::AddF32): return store_full<C, int(OutMode::AddF32)>(p, stage, out_n0, m0, lt);
      case int(OutMode::SwiGLU): return store_full<C, int(OutMode::SwiGLU)>(p, stage, out_n0, m0, lt);
      default: break;
    }
  }
  store_checked<C>(p, stage, cols, out_n0, out_n, m0, vec, lt);
}

template <int kConsumers, int kTokens, int kHalves>
__global__ void __launch_bounds__(Cfg<kConsumers, kTokens, kHalves>::kThreads,
                                  Cfg<kConsumers, kTokens, kHalves>::kBlocksPerSm)
    gemm_wgmma_kernel(Params p, TailSplit ts) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using C = Cfg<kConsumers, kTokens, kHalves>;
  constexpr int kStages = C::kStages;
  extern __shared__ uint8_t smem_raw[];
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;
  const Smem<kStages> sm{smem_raw + (base - raw), base, base + kStages * C::kStageBytes};
  const int wg = threadIdx.x >> 7, lt = threadIdx.x & 127;
  if (threadIdx.x == 0) {
    timeline::stamp(timeline::kStart);
    for (int s = 0; s < kStages; ++s) {
      mbar_init(sm.full(s), 1);                 // the producer's expect_tx; the copies complete the transaction
      mbar_init(sm.empty(s), 128 * kConsumers);  // every consumer thread
    }
    // The bulk copies (async proxy) complete on these barriers.
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  // This block's tile and its k-tiles [kt_begin, kt_begin + ktiles) (TailSplit).
  const int kbytes = p.K / 2, ktiles_all = (kbytes + kWRow - 1) / kWRow;
  int tile = int(blockIdx.x), split = -1, kt_begin = 0, ktiles = ktiles_all;
  if (tile >= ts.full) {
    const int b = tile - ts.full;
    tile = ts.full + b / ts.splits;
    split = b % ts.splits;
    kt_begin = split * ktiles_all / ts.splits;
    ktiles = (split + 1) * ktiles_all / ts.splits - kt_begin;
  }
  const int n0 = (tile % ts.tiles_x) * C::kBN, m0 = (tile / ts.tiles_x) * kTokens;

  if (wg == 0) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(C::kProducerRegs) : "memory");
    // One thread produces: per stage of kKt k-tiles, for each of the block's 32-row
    // weight blocks of the GEMM layout its kKt contiguous k-tiles (2 KB each) in one
    // bulk copy, and the activation tiles, all counted on the stage's barrier. Weight
    // blocks past the padded N are not copied: their rows' outputs are never stored.
    if (lt == 0) {
      const int64_t wkt = gemm::wtile_ktiles(p.K);
      const int nblk = min(C::kBN / 32, (p.N + 31) / 32 - n0 / 32);
      const uint8_t* wsrc = p.w + int64_t(n0 / 32) * wkt * 2048;
      const int nstages = (ktiles + C::kKt - 1) / C::kKt;
      for (int seq = 0; seq < nstages; ++seq) {
        const int s = seq % kStages, kt0 = kt_begin + seq * C::kKt, kts = min(C::kKt, kt_begin + ktiles - kt0);
        if (seq >= kStages) mbar_wait(sm.empty(s), (seq / kStages - 1) & 1);
        const uint32_t dst = sm.base + s * C::kStageBytes;
        mbar_arrive_expect_tx(sm.full(s), kts * (C::kABytes + nblk * 2048));
        for (int b = 0; b < nblk; ++b)
          bulk_copy(dst + C::kKt * C::kABytes + b * (C::kKt * 2048), wsrc + (int64_t(b) * wkt + kt0) * 2048,
                    kts * 2048, sm.full(s));
        // Weights do not depend on the kernel before this one; the activations do.
        if (seq == 0) gemm::pdl_wait();
        for (int j = 0; j < kts; ++j)
          bulk_copy(dst + j * C::kABytes, p.a + (int64_t(kt0 + j) * p.a_rows + m0) * 128, C::kABytes, sm.full(s));
      }
    }
  } else {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(C::kConsumerRegs) : "memory");
    gemm::pdl_wait();  // the scales and the epilogue's residual come from earlier kernels
    const int c = wg - 1;
    float* scales = reinterpret_cast<float*>(sm.ptr + C::kScaleOffset) + c * C::kScaleFloats;
    load_scales<C>(p, scales, n0 + c * C::kCh, m0);
    int acc[kHalves][C::kAcc];
#pragma unroll
    for (int q = 0; q < kHalves; ++q)
#pragma unroll
      for (int i = 0; i < C::kAcc; ++i) acc[q][i] = 0;
    consume_all<C>(sm, ktiles, c, acc);
    if (threadIdx.x == 128) timeline::stamp(timeline::kLoopEnd);
    if constexpr (C::kTailSplit) {
      if (split >= 0 && !tail_reduce<C>(ts, tile - ts.full, split, acc)) {
        if (threadIdx.x == 128) timeline::stamp(timeline::kEnd);
        return;
      }
    }

    // Every consumer is past its last wgmma: the stage buffers are free.
    if (kConsumers > 1) named_barrier(1, 128 * kConsumers);
    epilogue<C>(p, acc, reinterpret_cast<float*>(sm.ptr) + c * (C::kStagedBytes / 4), scales, n0 + c * C::kCh, m0);
    if (threadIdx.x == 128) timeline::stamp(timeline::kEnd);
  }
#endif
}

template <int kConsumers, int kTokens, int kHalves = 2>
void launch(const Params& p, cudaStream_t stream) {
  using C = Cfg<kConsumers, kTokens, kHalves>;
  auto* kernel = gemm_wgmma_kernel<kConsumers, kTokens, kHalves>;
  // At most one block per SM's worth of work: ask for more than half an SM's shared
  // memory so that no two blocks share one. Launched early (PDL) behind a kernel that
  // leaves SMs idle, the scheduler otherwise packs them two to an SM on those SMs,
  // each then at half speed: 8-11 us slower at M = 128-256 behind the Hadamard
  // kernels (NOTES.md, history 19).
  constexpr size_t kAloneSmem = std::max(C::kSmem, size_t(kSmemPerSm / 2 + 1024));
  static const bool configured = [&] {
    // Two blocks per SM need the largest shared-memory carveout; the opt-in covers
    // both sizes below, once.
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                    int(cudaSharedmemCarveoutMaxShared)));
    ensure_dynamic_smem(kernel, kAloneSmem);
    return true;
  }();
  (void)configured;
  // One grid dimension: tile = channel tile + tiles_x * token tile, the order in
  // which a 2D grid's blocks were launched.
  const int tiles_x = (p.N + C::kBN - 1) / C::kBN, tiles = tiles_x * ((p.M + kTokens - 1) / kTokens);
  const bool alone = C::kBlocksPerSm > 1 && tiles <= device_sm_count();
  const size_t smem = alone ? kAloneSmem : C::kSmem;
  TailSplit ts;
  ts.full = tiles;
  ts.tiles_x = tiles_x;
  if constexpr (C::kTailSplit) {
    const TailPlan t = tail_plan(tiles, int(gemm::wtile_ktiles(p.K)));
    if (t.splits > 1 && p.ws != nullptr && p.ws_bytes >= t.bytes()) {
      ts.full = tiles - t.tail;
      ts.splits = t.splits;
      ts.counters = static_cast<int*>(p.ws);
      ts.partials = reinterpret_cast<int4*>(static_cast<uint8_t*>(p.ws) + t.counter_bytes());
    }
  }
  const int blocks = ts.full + (tiles - ts.full) * ts.splits;
  gemm::launch_pdl(kernel, dim3(blocks), dim3(C::kThreads), smem, stream, p, ts);
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
    const bool loads = cudaFuncGetAttributes(&attr, gemm_wgmma_kernel<2, 128, 2>) == cudaSuccess &&
                       cudaFuncGetAttributes(&attr, gemm_wgmma_kernel<1, 128, 2>) == cudaSuccess &&
                       cudaFuncGetAttributes(&attr, gemm_wgmma_kernel<1, 64, 2>) == cudaSuccess &&
                       cudaFuncGetAttributes(&attr, gemm_wgmma_kernel<1, 64, 1>) == cudaSuccess;
    cudaGetLastError();
    return loads;
  }();
  return ok;
}

#if defined(QUAROT_GEMM_TIMELINE)
bool wgmma_timeline_dump(const char* path) {
  std::vector<timeline::Stamp> st(timeline::kMaxBlocks);
  CUDA_CHECK(cudaDeviceSynchronize());
  CUDA_CHECK(cudaMemcpyFromSymbol(st.data(), timeline::g_stamps, st.size() * sizeof(timeline::Stamp)));
  const uint32_t blocks = std::min<uint32_t>(st[0].blocks, timeline::kMaxBlocks);
  FILE* f = std::fopen(path, "w");
  if (f == nullptr) return false;
  // Split blocks that hand their sums to another block have no staged time: 0 there.
  std::fprintf(f, "block,sm,start_ns,first_tile_ns,loop_end_ns,staged_ns,end_ns\n");
  uint64_t t0 = ~uint64_t(0);
  for (uint32_t b = 0; b < blocks; ++b) t0 = std::min(t0, st[b].t[timeline::kStart]);
  for (uint32_t b = 0; b < blocks; ++b) {
    std::fprintf(f, "%u,%u", b, st[b].sm);
    for (int e = 0; e < timeline::kEvents; ++e)
      std::fprintf(f, ",%lld", st[b].t[e] >= t0 ? (long long)(st[b].t[e] - t0) : 0LL);
    std::fprintf(f, "\n");
  }
  return std::fclose(f) == 0;
}
#endif

size_t wgmma_tail_workspace_bytes(int M, int N, int K) {
  return tail_plan(((N + 127) / 128) * ((M + 127) / 128), int(gemm::wtile_ktiles(K))).bytes();
}

void launch_gemm_wgmma(const Params& p, int channels, int tokens, cudaStream_t stream) {
  QUAROT_ASSERT(p.a_rows >= p.M && p.a_rows % kTileRows == 0, "wgmma GEMM: tile rows ", p.a_rows, " for M = ", p.M);
  QUAROT_ASSERT(p.K <= 65536, "wgmma GEMM: K = ", p.K, " beyond 65536 (the epilogue's exact conversion)");
  if (channels == 256 && tokens == 128)
    launch<2, 128>(p, stream);
  else if (channels == 128 && tokens == 128)
    launch<1, 128>(p, stream);
  else if (channels == 128 && tokens == 64)
    launch<1, 64>(p, stream);
  else if (channels == 64 && tokens == 64)
    launch<1, 64, 1>(p, stream);
  else
    QUAROT_ASSERT(false, "wgmma GEMM: no ", channels, " x ", tokens, " block");
}

}  // namespace quarot::runner::detail
