// The online Hadamard + quantization of many fp16 rows with the 64-point
// Walsh–Hadamard (down_proj's, n = A·64), the mix on the warpgroup MMA. sm_90a.
//
// The transform and its numbers are hadamard_mix.cu's (the mix of the fp16 inputs
// by the ±1 matrix W_A with fp32 sums, then the Walsh–Hadamard of the sums, partly
// on tensor cores: hadamard_mix_tile.cuh, whose code this kernel shares). What
// differs is how a row's work is laid over the SM. hadamard_mix.cu's many-rows
// kernel (two blocks of 6 warps an SM, a warp two 16-row tiles a', mma.sync)
// alternates between the mix on the tensor pipe and the Walsh–Hadamard and codes on
// the ALUs: ncu has it latency-bound, IPC 1.8, the tensor pipe 38% busy (NOTES.md,
// history 31). Here one block an SM and a warp per tile a' (warpgroups of four: 64
// rows a' a wgmma), and the mix is asynchronous: while the ALUs quantize row j, the
// tensor cores mix row j + 1 into a second set of accumulators. A row is one wgmma
// m64n64k16 a k-tile and warpgroup (11 a warpgroup for n = 11008, where the mma.sync
// kernel issued 176 mma and 88 ldmatrix a warp), and one block barrier.
//
// Operands: the row is wgmma's B operand straight from shared memory, N-major: block
// a (64 fp16 = 128 bytes) is row k = a, stored with the 128-byte swizzle (16-byte
// chunk c at c ^ (a & 7)), so that a k-tile is two 1024-byte swizzle atoms and the
// copies need no padding against bank conflicts. W_A is the A operand: its
// mma.m16n8k16 fragments (hadamard_mix.cu's, which a wgmma with A from registers
// takes warp by warp) stay in registers for the block's life, or with four
// warpgroups, whose registers they would not fit, are laid out in shared memory.
#include <cuda_fp16.h>

#include <algorithm>

#include "lib/core/error.h"
#include "lib/runner/cuda_check.h"
#include "lib/runner/device_common.cuh"
#include "lib/runner/gemm_common.cuh"
#include "lib/runner/hadamard_mix.h"
#include "lib/runner/hadamard_mix_tile.cuh"
#include "lib/runner/launch_util.h"
#include "lib/runner/wgmma_ptx.cuh"

namespace quarot::runner::detail {
namespace {

template <int KT>
struct WgMixCfg {
  static constexpr int kGroups = (KT + 3) / 4;  // warpgroups: a warp per tile a'
  static constexpr int kWarps = 4 * kGroups, kThreads = 32 * kWarps;
  static constexpr int kRowBytes = 16 * KT * 128;  // blocks a < 16·KT; [A, 16·KT) stay zero
  // W_A's fragments: in registers (4·KT a thread) for three warpgroups, whose 384
  // threads have 168 registers each; four (KT > 12: Llama-3's 224) have 128, which the
  // two sets of accumulators and the transform fill, so there W_A is read from shared
  // memory by the wgmma (K-major core matrices, a 2 KB block per k-tile and warpgroup).
  static constexpr bool kSmemA = kGroups > 3;
  static constexpr int kWBytes = kSmemA ? KT * kGroups * 2048 : 0;
  // Row j + 3 (j + 2 with W_A in shared memory) is fetched while row j is quantized
  // and j + 1 mixed.
  static constexpr int kStages = kSmemA ? 3 : 4;
  static constexpr int kSmem = kStages * kRowBytes + kWBytes + 1024;  // + the ring's alignment to 1024 bytes
};

template <int KT, bool kLowClamp>
__global__ void __launch_bounds__(WgMixCfg<KT>::kThreads, 1)
    hadamard_mix_wgmma_kernel(const uint16_t* __restrict__ x, int64_t ldx, int M, int A,
                              const uint4* __restrict__ frag, float norm, int maxq, float c_over_maxq,
                              ActCodes codes, float* __restrict__ scale) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using C = WgMixCfg<KT>;
  constexpr int S = C::kStages;
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  // The swizzle is a function of address bits 7-9: the atoms must be 1024-byte aligned.
  uint8_t* ring = smem_raw + ((1024 - (ptx::smem_addr(smem_raw) & 1023)) & 1023);
  __shared__ __align__(16) float red[2][C::kWarps];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  // Tile `warp` of W_A exists for warp < KT; the last warpgroup's others multiply
  // zeros (a wgmma is the whole warpgroup's) and store nothing (their rows a' >= A).
  const bool live = warp < KT;
  const int nsteps = M > int(blockIdx.x) ? (M - 1 - int(blockIdx.x)) / int(gridDim.x) + 1 : 0;
  const int64_t row_bytes = int64_t(A) * 32;  // packed layout

  // Blocks a in [A, 16·KT) are never loaded and must read as 0 (0 x NaN would poison
  // the sums).
  {
    const int per_stage = (16 * KT - A) * 8;  // 16-byte chunks
    for (int i = threadIdx.x; i < S * per_stage; i += C::kThreads)
      reinterpret_cast<uint4*>(ring + (i / per_stage) * C::kRowBytes + A * 128)[i % per_stage] =
          make_uint4(0, 0, 0, 0);
  }
  auto frag_of = [&](int kt) { return live ? __ldg(frag + (warp * KT + kt) * 32 + lane) : make_uint4(0, 0, 0, 0); };
  uint4 af[C::kSmemA ? 1 : KT];
  uint8_t* wsm = ring + S * C::kRowBytes;
  if constexpr (C::kSmemA) {
    // Tile `warp` = rows 16w.. of warpgroup warp / 4 (w = warp % 4): the fragment's
    // four words (rows g, g + 8, columns 2t, 2t + 8) to core matrices (2w + row / 8,
    // column / 8) of the k-tile's block, row g % 8, bytes 4t.
    const int w = warp & 3;
    for (int kt = 0; kt < KT; ++kt) {
      const uint4 f = frag_of(kt);
      uint8_t* blk = wsm + (kt * C::kGroups + (warp >> 2)) * 2048 + g * 16 + 4 * t;
      *reinterpret_cast<uint32_t*>(blk + (4 * w + 0) * 128) = f.x;
      *reinterpret_cast<uint32_t*>(blk + (4 * w + 2) * 128) = f.y;
      *reinterpret_cast<uint32_t*>(blk + (4 * w + 1) * 128) = f.z;
      *reinterpret_cast<uint32_t*>(blk + (4 * w + 3) * 128) = f.w;
    }
    ptx::fence_proxy_async_smem();  // before the barrier below: the wgmma reads them
  } else {
#pragma unroll
    for (int kt = 0; kt < KT; ++kt) af[kt] = frag_of(kt);
  }
  const Wht8Frag h8 = wht8_frag(g, t);

  // A thread's chunks are the same in every row (i = tid + k·threads): a fixed trip
  // count, so that their offsets and predicates can stay out of the row loop.
  auto load_row = [&](int step) {
    if (step >= nsteps) return;
    const uint16_t* src = x + (blockIdx.x + int64_t(step) * gridDim.x) * ldx;
    uint8_t* dst = ring + (step % S) * C::kRowBytes;
    constexpr int kPerThread = (16 * KT * 8 + C::kThreads - 1) / C::kThreads;
#pragma unroll
    for (int k = 0; k < kPerThread; ++k) {
      const int i = threadIdx.x + k * C::kThreads, a = i >> 3, c = i & 7;
      if (i < A * 8) dev::cp_async16(dst + a * 128 + ((c ^ (a & 7)) << 4), src + i * 8, 16);
    }
  };
  // A k-tile further is 2048 bytes of the row (128 in a descriptor's address field,
  // which the ring's < 228 KB never carry out of) and kGroups·2048 of W_A: each
  // descriptor is the step's first plus a constant, one add where building it anew
  // took ~5 uniform instructions (a tenth of a warp's row).
  auto issue_mix = [&](float (&acc)[8][4], int step) {
    const uint64_t db = ptx::desc_sw128(ptx::smem_addr(ring + (step % S) * C::kRowBytes));
    auto desc_b = [&](int kt) { return db + uint64_t(kt * (2048 >> 4)); };
    ptx::wgmma_fence();  // acc was read by the ALUs since its last wgmma
    // desc_sw128's strides are those of the N-major atoms too.
    if constexpr (C::kSmemA) {
      const uint64_t da = ptx::desc_interleave(ptx::smem_addr(wsm) + (warp >> 2) * 2048, 128, 256);
      auto desc_a = [&](int kt) { return da + uint64_t(kt * (C::kGroups * 2048 >> 4)); };
      ptx::wgmma_f16_m64n64k16_ss_first(acc, desc_a(0), desc_b(0));
#pragma unroll
      for (int kt = 1; kt < KT; ++kt) ptx::wgmma_f16_m64n64k16_ss(acc, desc_a(kt), desc_b(kt), 1);
    } else {
      ptx::wgmma_f16_m64n64k16_rs_first(acc, af[0], desc_b(0));
#pragma unroll
      for (int kt = 1; kt < KT; ++kt) ptx::wgmma_f16_m64n64k16_rs(acc, af[kt], desc_b(kt), 1);
    }
    ptx::wgmma_commit();
  };
  // Row `step`: the Walsh–Hadamard of its mix (in acc) and this warp's maximum, into
  // red[step & 1].
  auto transform_row = [&](float (&acc)[8][4], int step) {
    fwht64_tc(acc, h8);
    float amax = 0.f;
#pragma unroll
    for (int nb = 0; nb < 8; ++nb)
#pragma unroll
      for (int e = 0; e < 4; ++e) amax = fmaxf(amax, fabsf(acc[nb][e]));  // rows a' >= A are exactly 0
    amax = dev::warp_max(amax);
    if (lane == 0) red[step & 1][warp] = amax;
  };
  // The row's maximum from every warp's, its scale and codes.
  auto quantize_row = [&](const float (&acc)[8][4], int step) {
    const int64_t r = blockIdx.x + int64_t(step) * gridDim.x;
    float amax = 0.f;
#pragma unroll
    for (int i = 0; i < C::kWarps / 4; ++i) {
      const float4 m = reinterpret_cast<const float4*>(red[step & 1])[i];
      amax = fmaxf(fmaxf(amax, fmaxf(m.x, m.y)), fmaxf(m.z, m.w));
    }
    const float s = dev::sym_scale(amax * norm, c_over_maxq);
    const float lo = float(-(maxq + 1)), hi = float(maxq);
    store_tile_tc<kLowClamp>(acc, warp, A, norm / s, lo, hi, lane, codes, r, row_bytes);
    if (threadIdx.x == 0) scale[r] = s;
  };
  // One barrier a row. Before it every warp has transformed row step (its mix done in
  // the step before; the transform's mma.sync share the tensor cores with the wgmma,
  // and behind a running mix they wait for it: ncu's math-pipe throttle) and written
  // its maximum, and waited for row step + 1's copies. After it row step - 1's buffer
  // (every warp is past its mix) takes row step + S - 1, row step + 1 goes to the
  // tensor cores, and the ALUs quantize row step. red alternates between steps: a
  // warp writes the next row's maximum while slower ones may still read this one's.
  // Every warp transforms, the padding ones too: with KT = 14 schedulers 0 and 1 hold
  // four live tiles either way, and handing half of those tiles to the padding warps
  // (other schedulers) did not shorten the row (NOTES.md, history 34).
  auto step_rows = [&](int step, float (&cur)[8][4], float (&nxt)[8][4]) {
    transform_row(cur, step);
    dev::cp_async_wait<S - 3>();
    ptx::fence_proxy_async_smem();
    __syncthreads();
    load_row(step + S - 1);
    dev::cp_async_commit();
    // Past the block's last row the mix reads this row's buffer again (unused, but
    // no read of a buffer never loaded; a branch here would be divergent to ptxas).
    issue_mix(nxt, min(step + 1, nsteps - 1));
    quantize_row(cur, step);
    // Nothing stays in flight across a step: with a product pending over the loop's
    // back edge ptxas serializes every wgmma (C7514).
    ptx::wgmma_wait<0>();
    ptx::fence_regs(nxt);  // nxt is read only after the wait
  };

  // Launched early (PDL): resident, fragments loaded and padding zeroed when the
  // kernel before ends; the rows are its output. The GEMM after may start streaming
  // its weights (hadamard_mix.cu says why not earlier).
  __syncthreads();
  gemm::pdl_wait();
  gemm::pdl_trigger();
#pragma unroll
  for (int s = 0; s < S - 1; ++s) {
    load_row(s);
    dev::cp_async_commit();
  }
  float acc0[8][4], acc1[8][4];
  dev::cp_async_wait<S - 2>();
  ptx::fence_proxy_async_smem();
  __syncthreads();
  issue_mix(acc0, 0);
  ptx::wgmma_wait<0>();
  ptx::fence_regs(acc0);
  for (int step = 0; step < nsteps; step += 2) {  // two steps a trip: the accumulators stay named registers
    step_rows(step, acc0, acc1);
    if (step + 1 == nsteps) break;
    step_rows(step + 1, acc1, acc0);
  }
#endif
}

template <int KT, bool kLowClamp>
void launch_kt(const MixArgs& a, cudaStream_t stream) {
  using C = WgMixCfg<KT>;
  auto* kernel = hadamard_mix_wgmma_kernel<KT, kLowClamp>;
  static const bool configured = [&] {
    ensure_dynamic_smem(kernel, C::kSmem);
    QUAROT_ASSERT(blocks_per_sm(kernel, C::kThreads, C::kSmem) > 0, "hadamard_mix_wgmma: no block fits (KT ", KT,
                  ")");
    return true;
  }();
  (void)configured;
  const int grid = std::min(a.M, device_sm_count());
  gemm::launch_pdl(kernel, dim3(grid), dim3(C::kThreads), C::kSmem, stream, a.x, a.ldx, a.M, a.A,
                   static_cast<const uint4*>(a.frag), a.norm, a.maxq, a.c_over_maxq, a.codes, a.scale);
}

template <int KT>
void launch_clamp(const MixArgs& a, cudaStream_t stream) {
  if (needs_low_clamp(a)) launch_kt<KT, true>(a, stream);
  else launch_kt<KT, false>(a, stream);
}

}  // namespace

bool hadamard_mix_wgmma_supported(const MixArgs& a) {
  if (!(a.fwht && a.B == 64 && a.A >= 129 && a.A <= 256 && wgmma_supported())) return false;
  // With W_A in shared memory (~200 KB a block) the GEMM launched behind cannot start
  // on an SM before the block leaves it: at 256 rows (two a block) Llama-3's linear
  // took 41.3-41.8 us against 40.2-40.4 on hadamard_mix.cu's kernel; Llama-2's, with
  // W_A in registers, 31.2 against 31.9 (RESULTS.md section 5, session 16).
  return (a.A + 15) / 16 <= 12 || a.M > 2 * device_sm_count();
}

void hadamard_mix_wgmma_quant(const MixArgs& a, cudaStream_t stream) {
  QUAROT_ASSERT(hadamard_mix_wgmma_supported(a), "hadamard_mix_wgmma: unsupported A ", a.A, " B ", a.B);
  switch ((a.A + 15) / 16) {
    case 9: launch_clamp<9>(a, stream); break;
    case 10: launch_clamp<10>(a, stream); break;
    case 11: launch_clamp<11>(a, stream); break;
    case 12: launch_clamp<12>(a, stream); break;
    case 13: launch_clamp<13>(a, stream); break;
    case 14: launch_clamp<14>(a, stream); break;
    case 15: launch_clamp<15>(a, stream); break;
    case 16: launch_clamp<16>(a, stream); break;
    default: QUAROT_ASSERT(false, "hadamard_mix_wgmma: A ", a.A);
  }
}

}  // namespace quarot::runner::detail
