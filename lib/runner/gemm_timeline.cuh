// A diagnostic build of the wgmma GEMM (CMake -DQUAROT_GEMM_TIMELINE=ON, never the
// default): every block stamps, on the GPU's global timer, when it started, when its
// first k-tile arrived, when its k-loop ended, when its outputs were staged in shared
// memory and when its epilogue ended, with the SM it ran on. bench_w4a4 writes
// the last launch's stamps to a CSV (QUAROT_TIMELINE_DIR), which shows where a
// grid's time goes that the totals cannot: rounds, drift between the two blocks of
// an SM, the last partial round (NOTES.md, "How to run").
#pragma once

#include <cstdint>

namespace quarot::runner::detail::timeline {

constexpr int kMaxBlocks = 1 << 16;

enum Event { kStart, kFirstTile, kLoopEnd, kStaged, kEnd, kEvents };

struct Stamp {
  uint64_t t[kEvents];
  uint32_t sm, blocks;
};

#if defined(QUAROT_GEMM_TIMELINE)
__device__ Stamp g_stamps[kMaxBlocks];

__device__ __forceinline__ uint64_t now() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}
__device__ __forceinline__ uint32_t sm_id() {
  uint32_t s;
  asm volatile("mov.u32 %0, %%smid;" : "=r"(s));
  return s;
}
// Called by one thread per event (threadIdx.x 0 for kStart, the first consumer's
// thread 0 for the others).
__device__ __forceinline__ void stamp(Event e) {
  if (blockIdx.x >= kMaxBlocks) return;
  Stamp& s = g_stamps[blockIdx.x];
  s.t[e] = now();
  if (e == kStart) {
    s.sm = sm_id();
    s.blocks = gridDim.x;
  }
}
#else
__device__ __forceinline__ void stamp(Event) {}
#endif

}  // namespace quarot::runner::detail::timeline
