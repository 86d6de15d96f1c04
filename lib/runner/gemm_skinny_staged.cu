// The skinny W4A4 GEMM with its block's whole weight run staged in shared memory,
// for 1-16 tokens behind a kernel that runs for microseconds (the down_proj
// Hadamard: 4.4 us for one row of 11008 on one SM).
//
// The register kernel (gemm_skinny.cu) can have only two or three of a warp's
// k-steps in flight before the PDL wait; for K = 11008 that is 64 of a block's 172
// KB, and an L2 prefetch brings the rest only as far as L2, from where the blocks
// still pull it after the wait at about DRAM speed. Here every warp issues cp.async
// for all of its k-steps (exactly the 16-byte pieces each lane reads back) before
// the wait, one commit group per step, so the whole run moves into shared memory
// while the Hadamard runs. After the wait only the activation codes come from L2
// (all of a warp's steps at once for up to 8 tokens, a step ahead for more);
// each lane waits for its own copies of a step
// (cp.async.wait_group: no barrier, since no lane reads another's bytes).
//
// Measured against the register kernel (NOTES.md, history 24): Llama-2 down_proj +
// Hadamard at M = 1 11.5 -> 10.5 us, Llama-3's 14.8 -> 12.6; at 9-16 tokens 0-0.9 us
// faster. Where the kernel before is short (the row quantizer: qkv, a plain 11008 x
// 4096 linear) the whole linear is 0.4-0.6 us slower, and the GEMM alone, chained
// behind itself, up to 1.4 us: presumably, with every step requested before the wait,
// the activation loads queue behind the weights. Hence the caller's hint.
#include <cuda_fp16.h>

#include <algorithm>

#include "lib/runner/cuda_check.h"
#include "lib/runner/device_common.cuh"
#include "lib/runner/gemm_common.cuh"
#include "lib/runner/gemm_skinny.cuh"
#include "lib/runner/kernels.h"
#include "lib/runner/launch_util.h"

namespace quarot::runner::detail {
namespace {

using gemm::Params;
using namespace skinny;  // the register tiles, loads, MMAs and epilogue of both skinny kernels

constexpr int kWarps = 16;
constexpr int kMaxSteps = 8;  // a warp's k-steps: K <= 8 * 16 * 128 (shared memory ends first)

// cp.async.wait_group takes an immediate; n = the groups that may stay in flight.
__device__ __forceinline__ void cp_async_wait_upto(int n) {
  switch (n) {
    case 0: dev::cp_async_wait<0>(); break;
    case 1: dev::cp_async_wait<1>(); break;
    case 2: dev::cp_async_wait<2>(); break;
    case 3: dev::cp_async_wait<3>(); break;
    case 4: dev::cp_async_wait<4>(); break;
    case 5: dev::cp_async_wait<5>(); break;
    case 6: dev::cp_async_wait<6>(); break;
    default: dev::cp_async_wait<7>(); break;
  }
}

// TT token tiles of 8; 32 output channels a block; warp w takes k-steps w, w + 16, ...
template <int TT>
__global__ void __launch_bounds__(kWarps * 32, 1) gemm_skinny_staged_kernel(Params p) {
  constexpr int W = kWarps, kTok = 8 * TT, kRows = kLayoutRows;
  extern __shared__ __align__(128) uint8_t wsm[];  // the run's pieces; the partial sums after the loop
  __shared__ float s_sw[kRows], s_bias[kRows], s_sa[kTok];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int n0 = blockIdx.x * kRows;
  const int kbytes = p.K / 2, ktiles = int(gemm::wtile_ktiles(p.K));
  const int my_steps = (ktiles - warp + W - 1) / W;

  // Rows g, g + 8 of the two m16 tiles of a piece, bytes 16t..: the eight lanes of
  // each quarter-warp read 128 contiguous bytes of shared memory (no conflicts).
  const auto lane_offset = [&](int step, int i, int h) { return step * 2048 + (16 * i + 8 * h + g) * 64 + t * 16; };
  {
    const uint8_t* run = p.w + int64_t(n0 >> 5) * ktiles * 2048;  // the block's rows, contiguous
    for (int r = 0; r < my_steps; ++r) {
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int off = lane_offset(warp + r * W, i, h);
          dev::cp_async16(wsm + off, run + off, 16);
        }
      dev::cp_async_commit();
    }
  }
  const auto weights_of = [&](SkinnyLoad<TT, 2>& L, int r) {
    cp_async_wait_upto(my_steps - 1 - r);
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
      for (int h = 0; h < 2; ++h)
        L.w[i][h] = *reinterpret_cast<const uint4*>(wsm + lane_offset(warp + r * W, i, h));
  };

  int acc[2][TT][4] = {};
  skinny::Scales<kRows, kTok> sc;
  const uint8_t* a = p.a;
  gemm::pdl_wait();
  // The kernel after this one may launch from here (in the runner the next layer's
  // RMSNorm + quantizer, in the benchmark the next Hadamard; either waits for this
  // grid's end before reading): Llama-2 down_proj + Hadamard at 1 / 8 / 16 tokens
  // 9.45 / 10.20 / 11.20 -> 9.15 / 9.90 / 10.71 us, Llama-3's 11.42 / 12.69 / 13.80 ->
  // 11.32 / 12.66 / 13.62 (NOTES.md, history 34). Released at the block's start, before
  // the weight copies, it gained 0.05-0.2 us less.
  gemm::pdl_trigger();
  sc.load(p, n0);
  if constexpr (TT == 1) {
    // Up to 8 tokens: every step's activation codes requested at once (after the wait
    // they are all this kernel still reads from L2): one round trip instead of a
    // ring, 0.3 us of the linear at M = 1. At 9-16 tokens (11 MB of L2 reads from
    // 128 SMs for K = 11008) see below.
    SkinnyLoad<TT, 2> xr[kMaxSteps];
#pragma unroll
    for (int r = 0; r < kMaxSteps; ++r)
      if (r < my_steps) skinny_load_x(xr[r], a, p.M, warp + r * W, g, t, kbytes);
#pragma unroll
    for (int r = 0; r < kMaxSteps; ++r) {
      if (r >= my_steps) break;
      weights_of(xr[r], r);
      skinny_mma(acc, xr[r]);
    }
  } else {
    // 9-16 tokens: a ring of two steps. Three were 0.05-0.3 us slower, all at once
    // 0.7-1.1 us (NOTES.md, history 25): the fewer of these loads in flight, the
    // sooner each arrives.
    SkinnyLoad<TT, 2> b0, b1;
    skinny_load_x(b0, a, p.M, warp, g, t, kbytes);
    for (int r = 0; r < my_steps; r += 2) {
      const int step = warp + r * W;
      skinny_load_x(b1, a, p.M, step + W, g, t, kbytes);
      weights_of(b0, r);
      skinny_mma(acc, b0);
      if (r + 1 >= my_steps) break;
      skinny_load_x(b0, a, p.M, step + 2 * W, g, t, kbytes);
      weights_of(b1, r + 1);
      skinny_mma(acc, b1);
    }
  }

  __syncthreads();  // every warp is past its weights: the partial sums reuse their memory
  auto& red = *reinterpret_cast<Partials<TT, 2, W>*>(wsm);
  skinny::put_partials<TT, 2, W>(red, acc, warp, g, t);
  sc.stash(s_sw, s_bias, s_sa);
  __syncthreads();
  skinny::store<TT, 2, W>(p, n0, red, s_sw, s_bias, s_sa);
}

template <int TT>
bool launch(const Params& p, cudaStream_t stream) {
  const int ktiles = int(gemm::wtile_ktiles(p.K));
  const dim3 grid((p.N + kLayoutRows - 1) / kLayoutRows);
  const size_t smem = std::max(size_t(ktiles) * 2048, sizeof(Partials<TT, 2, kWarps>));
  // 1 KB for the static scales.
  if (int64_t(grid.x) > device_sm_count() || (ktiles + kWarps - 1) / kWarps > kMaxSteps ||
      smem + 1024 > device_smem_optin())
    return false;
  auto* kernel = gemm_skinny_staged_kernel<TT>;
  static const bool configured = [&] {
    // 172-224 KB of the SM's 228 for shared memory (the rest is L1).
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                    int(cudaSharedmemCarveoutMaxShared)));
    return true;
  }();
  (void)configured;
  ensure_dynamic_smem(kernel, smem);
  gemm::launch_pdl(kernel, grid, dim3(kWarps * 32), smem, stream, p);
  return true;
}

}  // namespace

bool launch_skinny_staged(const Params& p, cudaStream_t stream) {
  if (p.M <= 8) return launch<1>(p, stream);
  if (p.M <= 16) return launch<2>(p, stream);
  return false;
}

}  // namespace quarot::runner::detail
