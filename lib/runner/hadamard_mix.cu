// Online Hadamard + activation quantization for fp16 rows, on tensor cores, the
// mixing matrix fed from registers.
//
// A row of n = A·B elements is read as A blocks of B. The transform is
//   y = (I_A ⊗ F_B) · (W_A ⊗ I_B) · x / sqrt(n)
// with W_A a ±1 matrix and F_B either the B-point Walsh–Hadamard (rows: B = 64,
// W_A = H_K ⊗ S_{2^(m-6)}, so that the product is H_K ⊗ S_{2^m} = H_n) or the
// identity (across heads: A = heads, B = head_dim, W_A = H_heads). The mix comes
// first because it multiplies the fp16 inputs themselves: ±1 times an fp16 value
// is exact, the products are summed in fp32 on the tensor cores
// (mma.m16n8k16, fp32 accumulation), and the Walsh–Hadamard part then runs on
// the fp32 sums: in registers (every sum as accurate as fp32 arithmetic), or for
// many rows partly on tensor cores in tf32 (hadamard_mix_tile.cuh, fwht64_tc: the
// sums split in two parts, their error below 2^-20 of a sum).
//
// Why this kernel (NOTES.md has the numbers): the row-at-a-time kernel of
// hadamard.cu spends its time in block barriers and shared-memory passes, one row
// per block, ~22 us for one row of 11008 and ~235 us for 2048 of them. Here:
// - warp w of a row computes the 16 output blocks a' = 16w.. of that row (for many
//   rows two such tiles, MixCfg::MT; across heads a half or a quarter of a tile's
//   columns, MixCfg::NS): W_A's row tile (KT fragments) stays in its
//   registers for every row it sees, or for many rows is read from L1
//   (MixCfg::kBlocksPerSm says why);
// - the input rows stream through a cp.async ring (3 deep, 2 for many rows; a
//   warp's copies whole blocks of B) while earlier rows are mixed; the B operand
//   comes from shared memory by
//   ldmatrix.trans (rows padded by 16 bytes so the eight addresses of a matrix fall
//   in distinct banks);
// - after the mix a thread holds 4·B/8 outputs (rows a' = g and g + 8, columns
//   b = 8nb + 2t + {0, 1}) whose b index bits are split between its registers
//   (bits 0, 3-5) and its quad (bits 1-2): the 64-point Walsh–Hadamard is register
//   butterflies plus two shuffles per value, or for many rows an mma.m16n8k8 per 8
//   columns and three butterflies (MixCfg::kTcWht);
// - the row maximum is a warp reduction plus one exchange between the row's warps;
//   codes are packed from registers (a byte transpose within each quad) and stored
//   as whole 32-bit words of 8 codes (across heads, for many rows, into an image of
//   the rows in shared memory that leaves in 16-byte chunks: MixCfg::kImage; with
//   the Walsh–Hadamard, for many rows, as 16-byte chunks gathered by shuffles).
// One row of n = 11008 (A = 172) is 968 mma: 11 warps of 88, or for many rows 6
// warps of 176 (the last warp's second tile padding). NOTES.md has the times
// (history 13, 20 and 21).
#include <cuda_fp16.h>

#include <algorithm>

#include "lib/core/error.h"
#include "lib/runner/cuda_check.h"
#include "lib/runner/device_common.cuh"
#include "lib/runner/gemm_common.cuh"
#include "lib/runner/hadamard_mix.h"
#include "lib/runner/hadamard_mix_tile.cuh"
#include "lib/runner/launch_util.h"

namespace quarot::runner::detail {
namespace {

// MixCfg::NS: up to `most` warps, halved until a row has at most 8.
constexpr int mix_column_split(int kt, int most) {
  int ns = most;
  while (ns > 1 && kt * ns > 8) ns /= 2;
  return ns;
}

// kWide: the configuration for many rows (more row groups than SMs), against one
// for few rows, where a row's latency is what counts.
template <int KT, int NB, bool kFwht, bool kWide>
struct MixCfg {
  // Warps per tile a': without the Walsh–Hadamard (across heads) nothing couples a
  // tile's n8 column tiles, so NS warps split them, NBW each. The heads transform has
  // only 2 tiles (32 heads): a whole tile per warp left it 2 warps a row, a long
  // serial chain for few rows (o_proj's quantizer 2.5 -> 1.9 us at M = 1, 3.5 -> 2.1
  // at M = 16 with the split) and 64 accumulators a thread for many rows (two blocks
  // an SM; 62.7 -> 51.4 us at 8192 rows with three). The 64-point Walsh–Hadamard
  // needs a tile's 8 column tiles in one warp's registers: NS = 1 there. The split
  // stops at 8 warps a row (32-64 heads).
  static constexpr int NS = kFwht ? 1 : mix_column_split(KT, kWide ? NB / 8 : NB / 4);
  static constexpr int NBW = NB / NS;  // n8 tiles per warp: pairs for ldmatrix, fours for the packed words
  static_assert(NBW % 4 == 0, "a warp packs its codes four n8 tiles at a time");
  // Row tiles a' per warp. Every warp reads the whole input row from shared memory
  // (ldmatrix) for each of its tiles' mix, 11 x 22 KB a row for n = 11008; with the
  // Walsh–Hadamard's shuffles on the same MIO pipe that made the many-row kernel wait
  // on shared memory (ncu: short-scoreboard stalls first). Two tiles per warp share
  // each fragment read: half the traffic, for twice the accumulators.
  static constexpr int MT = kWide && NB == 8 && KT >= 2 && NS == 1 ? 2 : 1;
  static constexpr int WPR = (KT + MT - 1) / MT * NS;                     // warps per row
  static constexpr int R = MT == 2 || WPR >= 8 ? 1 : (8 + WPR - 1) / WPR;  // rows in flight per block step
  static constexpr int kWarps = WPR * R, kThreads = 32 * kWarps;
  static constexpr int kB = 8 * NB;                           // elements per block
  static constexpr int kRowStride = kB * 2 + 16;              // bytes per block row in shared memory
  static constexpr int kRowBytes = 16 * KT * kRowStride;      // one input row, A padded to 16·KT
  static constexpr int kStages = MT == 2 ? 2 : 3;
  // The mix fragments in registers (few rows, or few of them: the heads transform's
  // KT <= 4), else read from L1 per k-tile.
  static constexpr bool kFragRegs = !kWide || (MT == 1 && KT <= 4);
  // Many rows across heads: the codes go to an image of the block's rows in shared
  // memory (in the output layout, its 128-byte lines 144 bytes apart against bank
  // conflicts), which the block then writes out in whole 16-byte chunks. Stored
  // from the mma fragments, each 32-bit word of codes lands alone in its 32-byte
  // sector (the tiled layout spreads a word's 8 codes over two chunks, and a warp's
  // 8 rows a' are 8 lines): 8.4 M partial-sector writes at 8192 rows, L2 73% busy in
  // ncu; with the image 52.5 -> 42.9 us. With the Walsh–Hadamard (down_proj) a
  // sector gets 8 bytes a store and the kernel waits on its instructions, not on
  // L2: the image's barrier and copy made it 3-8% slower there.
  static constexpr bool kImage = kWide && !kFwht;
  // Many rows with the Walsh–Hadamard (down_proj): its quad bits on tensor cores
  // (fwht64_tc) and the codes out as whole 16-byte chunks of the tiled layout
  // (line_chunk). Few rows keep fwht64: there a row's latency chain counts,
  // not instructions.
  static constexpr bool kTcWht = kWide && kFwht;
  static constexpr int kLineStride = 144;
  static constexpr int kImageRow = (16 * KT * kB + 127) / 128 * kLineStride;  // tiled, or packed (half of it)
  static constexpr int kRing = kStages * R * kRowBytes;
  static constexpr int kSmem = kRing + (kImage ? R * kImageRow : 0);
  static constexpr int kFit = 227 * 1024 / (kSmem + 1024);   // blocks per SM by shared memory
  // Many rows: several blocks per SM. The warps of a block move in lock step (a
  // barrier per row for the row maximum), so with one block an SM alternates between
  // a tensor-core phase (the mix) and an ALU/shuffle phase (Walsh–Hadamard,
  // rounding); more blocks fill one with the other. The price is the register
  // budget, so the mix fragments are read from L1 instead of held in registers. Few
  // rows: the fragments in registers, and a block that leaves no room on its SM for
  // the GEMM blocks that PDL launches early (beside it they slowed the row down:
  // 12.5 -> 12.9 us for the whole down_proj linear at M = 1).
  // Two tiles a warp hold 64 accumulators: two blocks (three left 96 registers a
  // thread, spilled, and were slower: 2048 x 11008 in 68 us against 53).
  // Split column tiles (NS > 1) hold at most 32 accumulators: three blocks.
  static constexpr int kBlocksPerSm = !kWide                                          ? 1
                                      : NS > 1 && kFit >= 3 && 3 * kThreads <= 1024   ? 3
                                      : kFit >= 2 && 2 * kThreads <= 1024             ? 2
                                                                                      : 1;
};

// kLowClamp: needs_low_clamp (hadamard_mix.h); only the kTcWht configuration is
// instantiated without it.
template <int KT, int NB, bool kFwht, bool kWide, bool kLowClamp>
__global__ void __launch_bounds__(MixCfg<KT, NB, kFwht, kWide>::kThreads, MixCfg<KT, NB, kFwht, kWide>::kBlocksPerSm)
    hadamard_mix_kernel(const uint16_t* __restrict__ x, int64_t ldx, int M, int A, const uint4* __restrict__ frag,
                        float norm, int maxq, float c_over_maxq, ActCodes codes, float* __restrict__ scale) {
  using C = MixCfg<KT, NB, kFwht, kWide>;
  constexpr int MT = C::MT, WPR = C::WPR, NBW = C::NBW;
  static_assert(!kFwht || NB == 8, "the 64-point Walsh–Hadamard maps b bits to e, t, nb");
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ float red[C::R][WPR];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int wr = warp % WPR, slot = warp / WPR;
  const int wt = wr / C::NS, nb0 = (wr % C::NS) * NBW;  // this warp's tiles and column tiles
  // This warp's row tiles: MT * wt + m. With KT odd the last warp's second tile is
  // past A: it multiplies tile 0's fragments (no branch in the k-loop) and is dropped.
  const bool last_ok = MT == 1 || MT * wt + MT - 1 < KT;  // tiles m < MT - 1 always exist
  const uint4* hf = frag + MT * wt * KT * 32 + lane;  // the tiles' fragments of W_A, kt-major
  const int hlast = last_ok ? (MT - 1) * KT * 32 : -MT * wt * KT * 32;  // the last tile's, from hf
  const int64_t groups = (int64_t(M) + C::R - 1) / C::R;
  const bool tiled = codes.tile_rows != 0;
  const int64_t row_bytes = int64_t(A) * NB * 4;  // packed layout

  // Zero once: the padding blocks a in [A, 16·KT) are never loaded and must read as
  // 0, not garbage (0 x NaN would poison the sums).
  {
    constexpr int kVec = C::kRowStride / 16;  // uint4 per block row
    const int pad_rows = 16 * KT - A, per_row = pad_rows * kVec;
    for (int i = threadIdx.x; i < C::kStages * C::R * per_row; i += C::kThreads) {
      const int row = i / per_row, j = i % per_row;
      reinterpret_cast<uint4*>(smem + row * C::kRowBytes + A * C::kRowStride)[j] = make_uint4(0, 0, 0, 0);
    }
    // The image too: a last line past the row's codes (n % 128 != 0) is written out
    // whole, its tail as zeros.
    if constexpr (C::kImage)
      for (int i = threadIdx.x; i < C::R * C::kImageRow / 16; i += C::kThreads)
        reinterpret_cast<uint4*>(smem + C::kRing)[i] = make_uint4(0, 0, 0, 0);
  }
  [[maybe_unused]] const Wht8Frag h8 = wht8_frag(g, t);
  uint4 hreg[C::kFragRegs ? KT : 1];  // the (single) tile's fragments in registers
  if constexpr (C::kFragRegs) {
#pragma unroll
    for (int kt = 0; kt < KT; ++kt) hreg[kt] = hf[kt * 32];
  }
  __syncthreads();

  // Lane l copies 16-byte chunk l % NB of block a (B elements, contiguous in the row
  // and in its padded shared-memory row): a warp's copies cover whole blocks, and a
  // thread's next block is a fixed stride away.
  constexpr int kBlocksPerWarp = 32 / NB, kBlocksPerPass = kBlocksPerWarp * C::kWarps;
  const int copy_chunk = lane % NB, copy_block = warp * kBlocksPerWarp + lane / NB;
  auto load_group = [&](int64_t grp, int buf) {
    for (int s = 0; s < C::R; ++s) {
      const int64_t r = grp * C::R + s;
      if (r >= M) break;
      const uint16_t* src = x + r * ldx + copy_chunk * 8;
      uint8_t* dst = smem + (buf * C::R + s) * C::kRowBytes + copy_chunk * 16;
      for (int a = copy_block; a < A; a += kBlocksPerPass)
        dev::cp_async16(dst + a * C::kRowStride, src + a * C::kB, 16);
    }
  };
  // Launched early (PDL) so that the block is resident, its fragments loaded and its
  // padding zeroed when the kernel before ends; the rows are that kernel's output,
  // and the codes and scales written below may still be read by it. The GEMM after
  // this kernel is released only now, not at the block's start: released earlier it
  // took SMs and DRAM from the end of the kernel before (Llama-3 down_proj +
  // Hadamard at 16 tokens 14.6 -> 15.5 us, against 14.1 released here; NOTES,
  // history 24).
  gemm::pdl_wait();
  gemm::pdl_trigger();  // the GEMM after this kernel may start streaming its weights
#pragma unroll
  for (int s = 0; s < C::kStages - 1; ++s) {
    const int64_t grp = blockIdx.x + int64_t(s) * gridDim.x;
    if (grp < groups) load_group(grp, s);
    dev::cp_async_commit();
  }

  for (int step = 0;; ++step) {
    const int64_t grp = blockIdx.x + int64_t(step) * gridDim.x;
    if (grp >= groups) break;
    dev::cp_async_wait<C::kStages - 2>();
    __syncthreads();  // this step's rows landed; the buffer refilled below was read one step ago
    {
      const int64_t nxt = grp + int64_t(C::kStages - 1) * gridDim.x;
      if (nxt < groups) load_group(nxt, (step + C::kStages - 1) % C::kStages);
      dev::cp_async_commit();
    }
    const int64_t r = grp * C::R + slot;
    const uint8_t* rb = smem + ((step % C::kStages) * C::R + slot) * C::kRowBytes;

    // The mix: acc[m][nb] = rows a' = 16·(MT·wt + m) + g (+8) x columns b = 8(nb0 + nb) + 2t (+1).
    // Zeroed on each path apart, so that the first k-tile's mma reads zero (RZ), not
    // registers cleared before the branch.
    float acc[MT][NBW][4];
    if (r >= M) {
      dev::zero_fill(acc);
    } else {
      dev::zero_fill(acc);
      // ldmatrix.x4.trans: lanes 0-7 / 8-15 address rows k 0-7 / 8-15 of columns
      // 16np..16np+7 (the two B registers of n8 tile 2np), lanes 16-31 the same for
      // columns 16np+8.. (tile 2np+1).
      const uint8_t* lrow =
          rb + ((lane & 7) + ((lane >> 3) & 1) * 8) * C::kRowStride + (lane >> 4) * 16 + nb0 * 16;
#pragma unroll
      for (int kt = 0; kt < KT; ++kt) {
        uint4 h[MT];
#pragma unroll
        for (int m = 0; m < MT; ++m) {
          if constexpr (C::kFragRegs) h[m] = hreg[kt];
          else h[m] = __ldg(hf + kt * 32 + (m == MT - 1 ? hlast : m * KT * 32));
        }
#pragma unroll
        for (int np = 0; np < NBW / 2; ++np) {
          uint32_t b[4];
          dev::ldmatrix_x4_trans(b, lrow + kt * 16 * C::kRowStride + np * 32);
#pragma unroll
          for (int m = 0; m < MT; ++m) {
            dev::mma_f16_16816(acc[m][2 * np], h[m], b[0], b[1]);
            dev::mma_f16_16816(acc[m][2 * np + 1], h[m], b[2], b[3]);
          }
        }
      }
    }
    // The row maximum of the raw sums: rounding is monotone, so max |RN(acc·norm)| is
    // RN(max |acc| · norm) and the scale is exactly the one the normalized values give.
    float amax = 0.f;
#pragma unroll
    for (int m = 0; m < MT; ++m) {
      if constexpr (C::kTcWht) fwht64_tc(acc[m], h8);
      else if constexpr (kFwht) fwht64(acc[m], t);
      if (m == MT - 1 && !last_ok) continue;
#pragma unroll
      for (int nb = 0; nb < NBW; ++nb)
#pragma unroll
        for (int e = 0; e < 4; ++e) amax = fmaxf(amax, fabsf(acc[m][nb][e]));  // padded rows a' >= A are exactly 0
    }
    amax = dev::warp_max(amax);
    if (lane == 0) red[slot][wr] = amax;
    __syncthreads();
    if (r < M) {
      amax = 0.f;
#pragma unroll
      for (int i = 0; i < WPR; ++i) amax = fmaxf(amax, red[slot][i]);
      const float s = dev::sym_scale(amax * norm, c_over_maxq);
      // Codes as RN(acc · (norm / s)), one multiply a value, where the row kernels
      // round RN(x) / s correctly (dev::sym_round_bits): the sums here already differ
      // from the reference's by fp32 reassociation, so the exact quotient would buy
      // nothing, and the norm multiply, the quotient and its correction were 4 of the
      // 8 instructions per value of this (instruction-bound) kernel.
      const float k_code = norm / s, lo = float(-(maxq + 1)), hi = float(maxq);
      auto store_tiles = [&](const auto& put) {
#pragma unroll
        for (int m = 0; m < MT; ++m)
          if (m < MT - 1 || last_ok)
            store_tile_codes<NB, NBW>(acc[m], MT * wt + m, nb0, A, k_code, lo, hi, g, t, lane, put);
      };
      if constexpr (C::kTcWht) {
        // A warp's lines are computed first and stored after (as fast as a store after
        // each line, NOTES.md history 31). The second tile of the last warp for odd KT
        // lies past A: its lines are not stored.
        if (tiled) {
          uint4 c[MT][2];
#pragma unroll
          for (int m = 0; m < MT; ++m)
#pragma unroll
            for (int hh = 0; hh < 2; ++hh) c[m][hh] = line_chunk<kLowClamp>(acc[m], hh, k_code, lo, hi, lane);
          uint8_t* base = tc_chunk_base(codes, r, lane);
#pragma unroll
          for (int m = 0; m < MT; ++m)
#pragma unroll
            for (int hh = 0; hh < 2; ++hh)
              store_tc_chunk(base, codes.tile_rows, 8 * (MT * wt + m) + 4 * hh + (g >> 1), A, c[m][hh]);
        } else {
#pragma unroll
          for (int m = 0; m < MT; ++m)
            store_tile_packed_tc<kLowClamp>(acc[m], MT * wt + m, A, k_code, lo, hi, lane, codes, r, row_bytes);
        }
      } else if constexpr (C::kImage) {
        uint8_t* img = smem + C::kRing + slot * C::kImageRow;
        const int sw = int(r & 7);
        store_tiles([&](int j, uint32_t w) {
          if (tiled) {
            uint8_t* line = img + (j >> 4) * C::kLineStride;
            *reinterpret_cast<uint32_t*>(line + dev::tiled_line_offset(j, 0, sw)) = dev::nib_lo(w);
            *reinterpret_cast<uint32_t*>(line + dev::tiled_line_offset(j, 1, sw)) = dev::nib_hi(w);
          } else {
            reinterpret_cast<uint32_t*>(img)[j] = w;
          }
        });
      } else {
        store_tiles([&](int j, uint32_t w) { dev::store_act_word(codes.data, codes.tile_rows, row_bytes, r, j, w); });
      }
      if (wr == 0 && lane == 0) scale[r] = s;
    }
    if constexpr (C::kImage) {
      __syncthreads();  // the group's rows are imaged; the next step writes the image after two more barriers
      const int per_row = tiled ? (A * C::kB + 127) / 128 * 8 : int(row_bytes / 16);  // 16-byte chunks
#pragma unroll
      for (int sl = 0; sl < C::R; ++sl) {
        const int64_t rr = grp * C::R + sl;
        if (rr >= M) break;
        const uint8_t* img = smem + C::kRing + sl * C::kImageRow;
        for (int c = threadIdx.x; c < per_row; c += C::kThreads) {
          if (tiled) {
            const uint4 v = *reinterpret_cast<const uint4*>(img + (c >> 3) * C::kLineStride + (c & 7) * 16);
            *reinterpret_cast<uint4*>(codes.data + ((c >> 3) * codes.tile_rows + rr) * 128 + (c & 7) * 16) = v;
          } else {
            const uint4 v = *reinterpret_cast<const uint4*>(img + 16 * c);
            *reinterpret_cast<uint4*>(codes.data + rr * row_bytes + 16 * c) = v;
          }
        }
      }
    }
  }
}

template <int KT, int NB, bool kFwht, bool kWide, bool kLowClamp>
void launch_cfg(const MixArgs& a, int64_t groups, cudaStream_t stream) {
  using C = MixCfg<KT, NB, kFwht, kWide>;
  auto* kernel = hadamard_mix_kernel<KT, NB, kFwht, kWide, kLowClamp>;
  // Block size and shared memory are fixed per instantiation: configure and ask the
  // occupancy once, not on every launch (single device).
  static const int per_sm = [&] {
    ensure_dynamic_smem(kernel, C::kSmem);
    const int n = blocks_per_sm(kernel, C::kThreads, C::kSmem);
    QUAROT_ASSERT(n > 0, "hadamard_mix: no block fits an SM (KT ", KT, ", NB ", NB, ")");
    return n;
  }();
  const int grid = int(std::min<int64_t>(groups, int64_t(per_sm) * device_sm_count()));
  gemm::launch_pdl(kernel, dim3(grid), dim3(C::kThreads), C::kSmem, stream, a.x, a.ldx, a.M, a.A,
                   static_cast<const uint4*>(a.frag), a.norm, a.maxq, a.c_over_maxq, a.codes, a.scale);
}

template <int KT, int NB, bool kFwht>
void launch(const MixArgs& a, cudaStream_t stream) {
  // Wide once the few-rows configuration would need more than one wave of blocks.
  using Few = MixCfg<KT, NB, kFwht, false>;
  using Wide = MixCfg<KT, NB, kFwht, true>;
  const int64_t groups = (int64_t(a.M) + Few::R - 1) / Few::R;
  if (groups <= device_sm_count()) return launch_cfg<KT, NB, kFwht, false, true>(a, groups, stream);
  const int64_t wide_groups = (int64_t(a.M) + Wide::R - 1) / Wide::R;
  if constexpr (Wide::kTcWht) {
    // Orders past 128 (down_proj's) on Hopper: the asynchronous wgmma kernel, 11008
    // and 14336 at 2048 rows in 33.5 and 48.9 us where this one took 43.6 and 60.6
    // (NOTES.md, history 33).
    if (hadamard_mix_wgmma_supported(a)) return hadamard_mix_wgmma_quant(a, stream);
    if (!needs_low_clamp(a)) return launch_cfg<KT, NB, kFwht, true, false>(a, wide_groups, stream);
  }
  launch_cfg<KT, NB, kFwht, true, true>(a, wide_groups, stream);
}

template <int NB, bool kFwht>
void launch_kt(const MixArgs& a, cudaStream_t stream) {
  switch ((a.A + 15) / 16) {
#define QUAROT_MIX_CASE(N) \
  case N: launch<N, NB, kFwht>(a, stream); break;
    QUAROT_MIX_CASE(1) QUAROT_MIX_CASE(2) QUAROT_MIX_CASE(3) QUAROT_MIX_CASE(4) QUAROT_MIX_CASE(5)
    QUAROT_MIX_CASE(6) QUAROT_MIX_CASE(7) QUAROT_MIX_CASE(8) QUAROT_MIX_CASE(9) QUAROT_MIX_CASE(10)
    QUAROT_MIX_CASE(11) QUAROT_MIX_CASE(12) QUAROT_MIX_CASE(13) QUAROT_MIX_CASE(14) QUAROT_MIX_CASE(15)
    QUAROT_MIX_CASE(16)
#undef QUAROT_MIX_CASE
    default: QUAROT_FAIL("hadamard_mix: order ", a.A, " > 256");
  }
}

}  // namespace

bool hadamard_mix_supported(int A, int B, bool fwht, int64_t ldx, const void* x) {
  const bool shape = fwht ? B == 64 : (B == 64 || B == 128);
  return A >= 1 && A <= 256 && shape && ldx % 8 == 0 && (reinterpret_cast<uintptr_t>(x) & 15) == 0;
}

void hadamard_mix_quant(const MixArgs& a, cudaStream_t stream) {
  QUAROT_ASSERT(hadamard_mix_supported(a.A, a.B, a.fwht, a.ldx, a.x), "hadamard_mix: unsupported shape A ",
                         a.A, " B ", a.B);
  if (a.M == 0) return;
  if (a.fwht) {
    launch_kt<8, true>(a, stream);
  } else if (a.B == 64) {
    launch_kt<8, false>(a, stream);
  } else {
    launch_kt<16, false>(a, stream);
  }
}

}  // namespace quarot::runner::detail
