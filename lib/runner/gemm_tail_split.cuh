// The wgmma GEMM's last partial round of tiles split along K (gemm_wgmma.cu, the 128
// x 128 block): the plan on the host, the partial sums' exchange on the device.
// Internal to gemm_wgmma.cu.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "lib/runner/kernels.h"
#include "lib/runner/wgmma_ptx.cuh"

namespace quarot::runner::detail {

// The last, partial round of tiles split along K (the 128 x 128 block only). With
// two blocks an SM and every tile taking about the same time, a grid runs in rounds
// of 2 x SMs tiles; a last round of a few tiles leaves most SMs idle for a tile's
// time (Llama-2 up at 2048 tokens: 1376 tiles, 5 rounds of 264 and one of 56).
// Those tail tiles are split into `splits` K ranges, a block each. Each block
// writes its int32 partial sums (exact: the result is the same bits as unsplit)
// to `partials`, and the last of a tile's blocks to arrive (counted in `counters`,
// which it resets for the next launch) adds the others' and runs the epilogue.
struct TailSplit {
  int full = 0;              // tiles before the tail: a block each, the whole K
  int splits = 1;            // blocks per tail tile
  int tiles_x = 1;           // channel tiles per token tile (tile = x + tiles_x * y)
  int* counters = nullptr;   // [tail tiles], zero between launches
  int4* partials = nullptr;  // [tail tile][split][32][128 threads]
};

// A split block of tail tile `tt` (one consumer warpgroup, 128 threads): publish
// this block's partial sums; the last block of the tile adds the others' into its
// accumulators and returns true (it runs the epilogue), every other one false.
template <class C>
__device__ __forceinline__ bool tail_reduce(const TailSplit& ts, int tt, int split, int (&acc)[C::kHalf][C::kAcc]) {
  static_assert(C::kHalf * C::kAcc == 128, "the partials' layout is 32 int4 a thread");
  constexpr int kV = C::kAcc / 4;  // int4 per m64 half
  __shared__ int s_last;
  const int lt = threadIdx.x & 127;
  // Thread-major within each int4 index, so that a warp's stores and loads are
  // 512 contiguous bytes.
  int4* mine = ts.partials + (int64_t(tt) * ts.splits + split) * 32 * 128 + lt;
#pragma unroll
  for (int q = 0; q < C::kHalf; ++q)
#pragma unroll
    for (int v = 0; v < kV; ++v)
      __stcg(mine + (q * kV + v) * 128,
             make_int4(acc[q][4 * v], acc[q][4 * v + 1], acc[q][4 * v + 2], acc[q][4 * v + 3]));
  __threadfence();  // this thread's partials are visible before the block counts itself
  ptx::named_barrier(2, 128);
  if (lt == 0) {
    const int before = atomicAdd(ts.counters + tt, 1);
    s_last = before == ts.splits - 1;
    if (s_last) ts.counters[tt] = 0;  // every block of the tile has counted
  }
  ptx::named_barrier(2, 128);
  if (!s_last) return false;
  __threadfence();
  for (int o = 0; o < ts.splits; ++o) {
    if (o == split) continue;
    const int4* other = ts.partials + (int64_t(tt) * ts.splits + o) * 32 * 128 + lt;
#pragma unroll
    for (int q = 0; q < C::kHalf; ++q)
#pragma unroll
      for (int v = 0; v < kV; ++v) {
        const int4 x = __ldcg(other + (q * kV + v) * 128);
        acc[q][4 * v] += x.x;
        acc[q][4 * v + 1] += x.y;
        acc[q][4 * v + 2] += x.z;
        acc[q][4 * v + 3] += x.w;
      }
  }
  return true;
}

// The tail split of a grid of `tiles` 128 x 128 tiles (TailSplit): where the last
// round (two blocks an SM) holds at most half the slots, as many K ranges per tail
// tile as fill the slots, at least 4 k-tiles each, at most 8.
struct TailPlan {
  int tail = 0, splits = 1;
  // The workspace: the tail tiles' counters, then (256-byte aligned) their partials.
  size_t counter_bytes() const { return (size_t(tail) * sizeof(int) + 255) / 256 * 256; }
  size_t bytes() const { return splits < 2 ? 0 : counter_bytes() + size_t(tail) * splits * 32 * 128 * sizeof(int4); }
};
inline TailPlan tail_plan(int tiles, int ktiles) {
  const int slots = 2 * device_sm_count();
  TailPlan t;
  if (tiles <= slots) return t;
  t.tail = tiles - (tiles - 1) / slots * slots;
  t.splits = std::max(1, std::min({slots / t.tail, ktiles / 4, 8}));
  return t;
}

}  // namespace quarot::runner::detail
