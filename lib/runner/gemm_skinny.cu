// The skinny W4A4 GEMM (M <= 32 tokens, decode-like): memory-bound on the int4
// weights, which are the MMA's A operand (16 output channels per m16 tile); the
// tokens are its N = 8 columns (mma.sync m16n8k32, int32 accumulation, nibbles
// masked to 16 * code int8 in registers on both sides, products scaled by 256).
//
// A block takes 32 output channels, one block row of the GEMM layout (kernels.h),
// or for two shape classes two (64 channels) or half of one (16; launch below): its
// weights are one contiguous run of ceil(K / 128) pieces of 2 KB per block row (1 KB
// halves for half a row), which its warps split by k-step, two or three steps of
// loads in flight per warp in registers; the warps' partial sums meet in shared
// memory, in 16 bits at 9-16 tokens where they fit. The weights do not
// depend on the kernel before this one (programmatic dependent launch): their first
// loads (and, for a grid of one block an SM, an L2 prefetch of the block's whole
// run) are issued before waiting for it. Behind a kernel that runs for microseconds
// (the down_proj Hadamard), one-wave grids of up to 16 tokens take the variant with
// the whole run staged in shared memory instead (gemm_skinny_staged.cu).
//
// (A variant that quantized its few fp16 rows itself, in every block, to save the
// quantizer's launch was slower from M = 2 on and within 3% either way at M = 1:
// NOTES.md, history 14.)
#include <cuda_fp16.h>

#include <type_traits>

#include "lib/core/error.h"
#include "lib/runner/cuda_check.h"
#include "lib/runner/device_common.cuh"
#include "lib/runner/gemm_common.cuh"
#include "lib/runner/gemm_skinny.cuh"
#include "lib/runner/kernels.h"
#include "lib/runner/launch_util.h"

namespace quarot::runner::detail {
namespace {

using gemm::Params;
using skinny::kLayoutRows;
using skinny::skinny_load_x;
using skinny::skinny_mma;
using skinny::SkinnyLoad;

// Rows g, g + 8 of the block's m16 tiles, bytes 16t..16t+15 of k-step `step`: in
// the GEMM layout a block row's 32 rows x 64 bytes of one step are one 2 KB piece,
// which each of these loads covers 512 contiguous bytes of (a tile: its 1 KB half).
template <int TT, int NT>
__device__ __forceinline__ void skinny_load_w(SkinnyLoad<TT, NT>& L, const Params& p, int n0, int step, int g,
                                              int t, int ktiles) {
  const bool kok = step < ktiles;  // past K: zeros (the layout's padding covers K..128·ktiles)
  if constexpr (NT == 1) {
    const uint8_t* tile = p.w + (int64_t(n0 >> 5) * ktiles + step) * 2048 + ((n0 >> 4) & 1) * 1024 + t * 16;
#pragma unroll
    for (int h = 0; h < 2; ++h)
      L.w[0][h] = kok ? dev::ldg_stream(tile + (8 * h + g) * 64) : make_uint4(0, 0, 0, 0);
  } else {
#pragma unroll
    for (int r = 0; r < NT / 2; ++r) {
      const uint8_t* blk = p.w + (int64_t((n0 >> 5) + r) * ktiles + step) * 2048 + t * 16;
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int h = 0; h < 2; ++h)
          L.w[2 * r + i][h] = kok ? dev::ldg_stream(blk + (16 * i + 8 * h + g) * 64) : make_uint4(0, 0, 0, 0);
    }
  }
}

// TT token tiles of 8 (M <= 8 * TT); NT m16 tiles a block (SkinnyLoad); WARPS
// warps split K (16 when the grid is a single wave, to shorten each warp's chain of
// loads; 8 otherwise); STAGES steps of loads per warp in registers. The two-stage
// variants are sized for residency (launch below); 0 leaves the others' registers to
// the compiler (a minimum of 1 made it take 10 more).
// kL2Prefetch: the grid fits one block an SM (launch below says why only then).
// kRed16: the partial sums in 16 bits (skinny::Partials16; part16_fits below).
// The body is shared by the two kernels below (their register limits differ).
// kRelease: the kernel after this one is launched once every block is past its
// k-loop (launch below says where).
template <int TT, int NT, int WARPS, int STAGES, bool kL2Prefetch, bool kRed16 = false, bool kRelease = false>
__device__ __forceinline__ void skinny_body(const Params& p) {
  constexpr int kSkinnyWarps = WARPS, kTok = 8 * TT, kRows = skinny::kTileRows * NT;
  using Red = std::conditional_t<kRed16, skinny::Partials16<TT, NT, WARPS>, skinny::Partials<TT, NT, WARPS>>;
  __shared__ Red red;
  static_assert(sizeof(red) <= 48 * 1024, "static shared memory");
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int n0 = blockIdx.x * kRows;
  const int kbytes = p.K / 2, steps = (kbytes + 63) / 64, ktiles = int(gemm::wtile_ktiles(p.K));

  int acc[NT][TT][4];
#pragma unroll
  for (int i = 0; i < NT; ++i)
#pragma unroll
    for (int j = 0; j < TT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0;

  // The epilogue's scales, in registers over the main loop (skinny::Scales says why
  // they are read with the first activation loads, after the PDL wait).
  __shared__ float s_sw[kRows], s_bias[kRows], s_sa[kTok];
  skinny::Scales<kRows, kTok> sc;

  // The weights do not depend on the kernel before this one: pull this block's
  // rows toward L2 (kL2Prefetch) and into registers before waiting for the
  // activations.
  // One bulk prefetch per 2 KB piece, spread over a warp's lanes: a single one of
  // the whole run (172 KB for K = 11008) filled L2 more slowly while the kernel before
  // ran (down_proj + Hadamard at M = 1 11.8 -> 11.5 us, qkv 5.0 -> 4.9), though a
  // chain of these GEMMs alone got slower (down 8.3 -> 8.7 us; presumably the pieces'
  // prefetches hold back the demand loads, as with several blocks an SM, launch below).
  if (kL2Prefetch && threadIdx.x < 32) {
    const uint8_t* src = p.w + int64_t(n0 >> 5) * ktiles * 2048;  // the block's rows, contiguous
    for (int k = threadIdx.x; k < (NT + 1) / 2 * ktiles; k += 32)
      asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(src + int64_t(k) * 2048), "r"(2048u)
                   : "memory");
  }
  // Three register stages (two with STAGES = 2): the loads of the later steps are in
  // flight while one is multiplied (a step past the end loads zeros and is skipped).
  // Written out for each stage count: a ring of SkinnyLoad indexed in an unrolled
  // loop took 6 more registers (TT = 1, same launch bounds).
  constexpr int W = kSkinnyWarps;
  const uint8_t* a = p.a;
  if constexpr (STAGES == 3) {
    SkinnyLoad<TT, NT> b0, b1, b2;
    skinny_load_w(b0, p, n0, warp, g, t, ktiles);
    skinny_load_w(b1, p, n0, warp + W, g, t, ktiles);
    gemm::pdl_wait();
    sc.load(p, n0);
    skinny_load_x(b0, a, p.M, warp, g, t, kbytes);
    skinny_load_x(b1, a, p.M, warp + W, g, t, kbytes);
    for (int step = warp; step < steps; step += 3 * W) {
      skinny_load_w(b2, p, n0, step + 2 * W, g, t, ktiles);
      skinny_load_x(b2, a, p.M, step + 2 * W, g, t, kbytes);
      skinny_mma(acc, b0);
      if (step + W >= steps) break;
      skinny_load_w(b0, p, n0, step + 3 * W, g, t, ktiles);
      skinny_load_x(b0, a, p.M, step + 3 * W, g, t, kbytes);
      skinny_mma(acc, b1);
      if (step + 2 * W >= steps) break;
      skinny_load_w(b1, p, n0, step + 4 * W, g, t, ktiles);
      skinny_load_x(b1, a, p.M, step + 4 * W, g, t, kbytes);
      skinny_mma(acc, b2);
    }
  } else {
    SkinnyLoad<TT, NT> b0, b1;
    skinny_load_w(b0, p, n0, warp, g, t, ktiles);
    gemm::pdl_wait();
    sc.load(p, n0);
    skinny_load_x(b0, a, p.M, warp, g, t, kbytes);
    for (int step = warp; step < steps; step += 2 * W) {
      skinny_load_w(b1, p, n0, step + W, g, t, ktiles);
      skinny_load_x(b1, a, p.M, step + W, g, t, kbytes);
      skinny_mma(acc, b0);
      if (step + W >= steps) break;
      skinny_load_w(b0, p, n0, step + 2 * W, g, t, ktiles);
      skinny_load_x(b0, a, p.M, step + 2 * W, g, t, kbytes);
      skinny_mma(acc, b1);
    }
  }

  if constexpr (kRelease) gemm::pdl_trigger();
  skinny::put_partials<TT, NT, WARPS>(red, acc, warp, g, t);
  sc.stash(s_sw, s_bias, s_sa);
  __syncthreads();
  skinny::store<TT, NT, WARPS>(p, n0, red, s_sw, s_bias, s_sa);
}

template <int TT, int NT, int STAGES>
constexpr int kSkinnyMinBlocks = STAGES != 2 ? 0 : NT == 4 ? 2 : TT == 1 ? 4 : 3;

template <int TT, int NT, int WARPS, int STAGES, bool kL2Prefetch, bool kRed16 = false>
__global__ void __launch_bounds__(WARPS * 32, (kSkinnyMinBlocks<TT, NT, STAGES>)) gemm_skinny_kernel(Params p) {
  skinny_body<TT, NT, WARPS, STAGES, kL2Prefetch, kRed16>(p);
}

// The 16-bit partial sums where every warp's share of K fits them, at 9-16 tokens:
// there they halve the shared-memory bytes of the reduction (20 instead of 36 KB a
// 16-warp block), and o_proj + heads Hadamard at 12 / 16 tokens went from 5.58-5.60 /
// 5.73-5.82 to 5.43-5.45 / 5.49-5.54 us (qkv/o_proj, Llama-3's fused qkv and up
// within 0.05); at 1-8 tokens, where the int32 sums are half as many, the linears
// were 0.03-0.08 us slower with them (NOTES.md, history 36).
bool part16_fits(int K, int warps) {
  const int steps = (K / 2 + 63) / 64;
  return (steps + warps - 1) / warps * 128 <= skinny::kPart16MaxK;
}
// launch(std::true_type) where a kernel of `warps` warps takes the 16-bit sums (9-16
// tokens, K fits), else launch(std::false_type): the argument picks kRed16.
template <int TT, typename Launch>
void launch_with_part16(const Params& p, int warps, const Launch& launch) {
  if constexpr (TT == 2) {
    if (part16_fits(p.K, warps)) return launch(std::true_type{});
  }
  launch(std::false_type{});
}

// The one-wave grid of up to 16 tokens: 16 warps, two register stages, at most 80
// registers a thread (40 K of the SM's 64 K), so that the 512-thread block of the
// quantizer before or after it (a row quantizer takes 38 registers, 19 K) fits on the
// same SM. With three stages and 92-106 registers (48-54 K) it did not: the
// quantizer's blocks, one a row, shut the next GEMM's blocks out of their SMs until
// they ended (history 25 had guessed so from the quantizer's side), and the whole
// linear at 2-16 tokens was 0.45-0.6 us longer: qkv/o_proj at 2 / 8 / 16 tokens
// 4.82-4.86 / 5.08-5.16 / 5.97-6.01 -> 4.33-4.43 / 4.62-4.67 / 5.46-5.48 us, o_proj +
// heads Hadamard 5.05-5.11 / 5.30-5.34 / 6.22-6.24 -> 4.62-4.66 / 4.81-4.89 /
// 5.69-5.72; at one token the same as three stages (NOTES.md, history 35). Three
// stages at 80 registers spill (168 bytes): 0.6-2.8 us slower.
template <int TT, bool kRed16, bool kRelease>
__global__ void __maxnreg__(80) gemm_skinny_beside_kernel(Params p) {
  skinny_body<TT, 2, 16, 2, true, kRed16, kRelease>(p);
}

template <int TT>
void launch(const Params& p, bool slow_producer, cudaStream_t stream) {
  const dim3 grid((p.N + kLayoutRows - 1) / kLayoutRows);
  // The L2 prefetch of each block's whole weight run only where the grid is one
  // block an SM: there it lets the weights stream into L2 during a long kernel
  // before this one (down_proj after its Hadamard at M = 1: 12.3 -> 11.9 us with
  // it). With three or four blocks an SM the SM's bulk prefetches of 64 KB each
  // held back the loads that need the same bytes (4096 -> 11008 at M = 1: the
  // GEMM alone 8.7 -> 7.4 us, the whole linear 10.1 -> 8.6, without them).
  const bool one_wave = int64_t(grid.x) <= device_sm_count();
  // 16 warps only for up to 16 tokens: more would hold too many registers.
  if constexpr (TT <= 2) {
    if (one_wave) {
      // After a long kernel (the down_proj Hadamard) the whole weight run waits in
      // shared memory instead (gemm_skinny_staged.cu says when that pays).
      if (slow_producer && launch_skinny_staged(p, stream)) return;
      // The release after the k-loop where the next kernel's blocks, if it is a
      // quantizer of one block a row, all fit on the SMs this grid leaves free (qkv /
      // o_proj: 4 rows on 4 of 132 SMs): its launch then overlaps this kernel's
      // reduction and stores. With more rows than free SMs they land beside this
      // grid's blocks, and the release after the wait or the loop made the linears at
      // 8-16 tokens 0.2-1.8 us slower (NOTES.md, history 38; 34 and 36 for earlier
      // forms).
      const bool release = p.M <= device_sm_count() - int(grid.x);
      launch_with_part16<TT>(p, 16, [&](auto r16) {
        constexpr bool kR16 = decltype(r16)::value;
        auto* kernel = gemm_skinny_beside_kernel<TT, kR16, false>;
        if constexpr (TT == 1) {  // (more tokens than free SMs otherwise)
          if (release) kernel = gemm_skinny_beside_kernel<TT, kR16, true>;
        }
        gemm::launch_pdl(kernel, grid, dim3(16 * 32), 0, stream, p);
      });
      return;
    }
    // Between one and two block rows an SM, half a block row a block (16 channels, 8
    // warps, two register stages): with 32-row blocks the SMs holding two (Llama-3's
    // fused qkv: 192 block rows, 60 of 132 SMs) read twice the weights of the others
    // and set the grid's time; 384 half rows put at most three halves, 1.5 rows, on an
    // SM. The whole linear at 1 / 8 / 16 tokens 6.08-6.12 / 6.27-6.37 / 6.97-6.99 ->
    // 5.84-5.91 / 6.02-6.03 / 6.38-6.40 us; three stages were as fast at 1-4 tokens and
    // 0.15-0.3 us slower at 8-16 (NOTES.md, history 37). It replaced three stages of
    // 32-row blocks, two an SM, at up to 8 tokens (c8ac0d0: 6.46 -> 6.09 us at one
    // token against two stages).
    if (int64_t(grid.x) <= 2 * device_sm_count()) {
      const dim3 half((p.N + skinny::kTileRows - 1) / skinny::kTileRows);
      launch_with_part16<TT>(p, 8, [&](auto r16) {
        gemm::launch_pdl(gemm_skinny_kernel<TT, 1, 8, 2, false, decltype(r16)::value>, half, dim3(8 * 32), 0, stream,
                         p);
      });
      return;
    }
    // Else two register stages where that puts the whole grid on the GPU at once
    // (64 registers, four blocks an SM, at M <= 8; 80 and three at M <= 16). The
    // blocks of a second wave waited for the first's: 4096 -> 11008 at M = 16 14.1
    // -> 12.2 us, Llama-3's 4096 -> 14336 at M = 1 12.8 -> 12.0 (the whole linear).
    if (TT == 1 || int64_t(grid.x) <= 3 * device_sm_count()) {
      launch_with_part16<TT>(p, 8, [&](auto r16) {
        gemm::launch_pdl(gemm_skinny_kernel<TT, 2, 8, 2, false, decltype(r16)::value>, grid, dim3(8 * 32), 0, stream,
                         p);
      });
      return;
    }
    // Past three blocks an SM at 9-16 tokens (Llama-3's 14336-wide up/gate: 448),
    // 64-row blocks (NT = 4: each activation load meets two block rows' weights; 128
    // registers, two blocks an SM) where they fit in one wave: 4096 -> 14336 at M = 16,
    // the GEMM alone 12.0 -> 11.0 us. Where three 32-row blocks an SM already hold
    // the grid they lose (4096 -> 11008: 172 blocks leave 92 SMs with one, 9.1 ->
    // 10.2 us), so only here.
    if constexpr (TT == 2) {
      if (p.N % 64 == 0 && int64_t(p.N / 64) <= 2 * device_sm_count()) {
        gemm::launch_pdl(gemm_skinny_kernel<TT, 4, 8, 2, false>, dim3(p.N / 64), dim3(8 * 32), 0, stream, p);
        return;
      }
    }
  }
  if constexpr (TT > 2) {
    if (one_wave) {
      gemm::launch_pdl(gemm_skinny_kernel<TT, 2, 8, 3, true>, grid, dim3(8 * 32), 0, stream, p);
      return;
    }
  }
  // (Every grid of up to 8 tokens was launched above.)
  if constexpr (TT > 1) gemm::launch_pdl(gemm_skinny_kernel<TT, 2, 8, 3, false>, grid, dim3(8 * 32), 0, stream, p);
}

}  // namespace

void launch_skinny(const Params& p, bool slow_producer, cudaStream_t stream) {
  QUAROT_ASSERT(p.M <= kSkinnyMaxRows, "skinny GEMM with M = ", p.M);
  if (p.M <= 8)
    launch<1>(p, slow_producer, stream);
  else if (p.M <= 16)
    launch<2>(p, slow_producer, stream);
  else
    launch<4>(p, slow_producer, stream);
}

}  // namespace quarot::runner::detail
