// The online Hadamard across 32 heads of 128 (o_proj's input in Llama-2-7B and
// Llama-3-8B) + activation quantization of fp16 rows: for many rows a pair of warps a
// row multiplying by H_32 on tensor cores, for few rows a block a row running the
// 32-point Walsh–Hadamard in registers and shuffles (below). Between the two (65-511
// rows) the mix kernel stays.
//
// Why kernels of their own: across heads the mix kernel (hadamard_mix.cu) multiplies
// each row by a 32 x 32 ±1 matrix on tensor cores too, but with a row split over
// more warps, a block barrier per group of rows and an image of the codes; for 2048
// rows it took 13.7 us, against 8.2 for the row quantizer moving the same bytes
// (NOTES.md history 29). The sums are fp32 additions of fp16 values, the codes the
// mix kernel's formula (RN(sum · norm / s), s from the row maximum of the raw sums);
// the sums differ from the mix kernel's by fp32 reassociation only.
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "lib/runner/cuda_check.h"
#include "lib/runner/device_common.cuh"
#include "lib/runner/gemm_common.cuh"
#include "lib/runner/hadamard_mix.h"
#include "lib/runner/launch_util.h"
#include "lib/runner/wgmma_ptx.cuh"

namespace quarot::runner::detail {
namespace {

constexpr int kHeads = 32, kHeadDim = 128;
constexpr int kChunksPerHead = kHeadDim / 8;  // 16 chunks of 8 columns
constexpr int64_t kRowBytes = kHeads * kHeadDim / 2;  // a row of codes, packed layout
// Fewer rows go to the block-a-row kernel or the mix kernel, which spread a row over
// more warps (a warp a row, the first version of the kernel below, was one row's
// latency chain: o_proj's linear at M = 1 5.24 -> 6.10 us against the mix kernel, at
// 16 6.47 -> 7.55; the same at 256-384 rows, faster from 512; NOTES.md history 29).
constexpr int kMinRows = 512;

// The mix kernel's code formula for one chunk of 8 transformed sums: RN(sum · k_code)
// clamped to [lo, hi], k_code = norm / s (dev::scaled_round_bits).
__device__ __forceinline__ dev::Codes8 chunk_codes(const float (&v)[8], float k_code, float lo, float hi) {
  uint32_t b[8];
#pragma unroll
  for (int e = 0; e < 8; ++e) b[e] = dev::scaled_round_bits(v[e], k_code, lo, hi);
  return {dev::low_bytes(b[0], b[2], b[4], b[6]), dev::low_bytes(b[1], b[3], b[5], b[7])};
}

// Many rows: a pair of warps a row, the transform on tensor cores. Warp w takes 8 of
// the 16 words (8-column tiles) of every head, jj = slot_word(s, w), s < 8, and
// multiplies them by H_32 as mma.m16n8k16 (H_32 the A operand from the mix kernel's
// fragments, held in registers; the row's fp16 values the B operand, ldmatrix.trans
// from shared memory; fp32 sums of ±1 x fp16 products, exact up to the fp32
// additions). Why (NOTES.md history 30, o_proj's linear at 2048 tokens 60.2-60.9 ->
// 54.9-55.6 us):
// - a warp a row with the Walsh–Hadamard in registers (128 values a thread, the first
//   version) held 168 registers, three blocks of 4 warps an SM: for 2048 rows 1584
//   warps, 464 of which took a second row with a quarter of the SM's warps and no load
//   in flight; the linear was 4.8 us longer than its two kernels timed apart;
// - here every block takes the same number of rows (launch below) and the next row
//   is in flight while this one is transformed: 16 lanes of each warp copy a head's
//   256 contiguous bytes each (bulk copies: whole lines from DRAM; per-thread cp.async of
//   16-byte pieces kept the memory pipe so busy that shuffles and ldmatrix waited);
// - the butterflies in registers cost ~9 instructions a value (conversion, 5 stages,
//   shuffles), the mma ~1. Four warps a row (4 words each, 64 registers, 8 blocks an
//   SM) made the kernel alone faster (2048 rows 10.1 -> 9.1 us) but the linear 0.3-0.8
//   us slower at 1024-4096 rows.
// After the mma a thread (g, t) holds heads 16·at + 8·hh + g, columns 2t + e of its 8
// words. The codes leave as whole 16-byte chunks of the tiled layout: in a head's
// 128-byte line, chunk (4w + q) ^ (r & 7) holds the parity-e codes (q = 2m + e) of
// the words with jj & 3 = 2w + m, i.e. of slots s = 2j + m, j < 4, word j at byte 4j;
// byte i of a word is column 2i + e, from lane t = i. So the quad's lanes swap 4-byte
// words two rounds (xor 2, xor 1), lane t ends with the words meant for chunk q = t
// and transposes their bytes in registers. A warp's store writes whole sectors.
constexpr int kPairThreads = 64;
constexpr int kSlots = 8;                         // a warp's words of each head
constexpr int kHeadStride = kHeadDim * 2 + 16;    // bytes: +16 so that ldmatrix's rows fall in distinct banks
constexpr int kRowCopy = kHeads * kHeadStride;    // one row in shared memory

__device__ __forceinline__ int slot_word(int s, int warp) { return 4 * (s >> 1) + 2 * warp + (s & 1); }

// kLowClamp: needs_low_clamp (hadamard_mix.h); the test costs an instruction a value.
template <bool kLowClamp>
__global__ void __launch_bounds__(kPairThreads)
    heads_wht_quant_pair_kernel(const uint16_t* __restrict__ x, int64_t ldx, int M, int rows_per_block,
                                const uint4* __restrict__ frag, float norm, int maxq, float c_over_maxq,
                                ActCodes codes, float* __restrict__ scale) {
  __shared__ __align__(128) uint8_t ring[2][kRowCopy];  // two rows in flight
  __shared__ __align__(8) uint64_t full[2];              // ring[b] landed (bulk copies' bytes)
  __shared__ float red[2][2];  // by row parity: a row's max never overwrites the last
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  uint4 hf[2][2];  // H_32: tile at of heads', k-tile kt (a constant: read before the wait)
#pragma unroll
  for (int at = 0; at < 2; ++at)
#pragma unroll
    for (int kt = 0; kt < 2; ++kt) hf[at][kt] = __ldg(frag + (at * 2 + kt) * 32 + lane);
  if (threadIdx.x == 0) {
    ptx::mbar_init(ptx::smem_addr(&full[0]), 2);  // one arrival a warp
    ptx::mbar_init(ptx::smem_addr(&full[1]), 2);
  }
  __syncthreads();
  gemm::pdl_trigger();  // the GEMM after this kernel may start streaming its weights
  gemm::pdl_wait();     // the rows are the previous kernel's output
  const uint32_t lo2 = dev::int16x2_of(-(maxq + 1)), hi2 = dev::int16x2_of(maxq);
  const int64_t r0 = int64_t(blockIdx.x) * rows_per_block;
  const int64_t r1 = r0 + rows_per_block < M ? r0 + rows_per_block : int64_t(M);
  // Lane l < 16 of warp w copies head 16w + l's 256 contiguous bytes (bulk copies:
  // whole lines from DRAM, no per-thread copy instructions). A bulk copy is a
  // uniform-datapath instruction: the lanes' copies run as a loop over them, 8
  // instructions each, so both warps take half (all 32 in warp 0 were a quarter of
  // its instructions, the pair waiting on it at the row barrier; NOTES.md history
  // 32). Each warp announces its own bytes before its copies.
  auto fetch = [&](int64_t r, int buf) {
    const uint32_t bar = ptx::smem_addr(&full[buf]);
    if (lane == 0) ptx::mbar_arrive_expect_tx(bar, kHeads / 2 * kHeadDim * 2);
    __syncwarp();
    const int h = 16 * warp + lane;
    if (lane < 16)
      ptx::bulk_copy(ptx::smem_addr(ring[buf] + h * kHeadStride), x + r * ldx + h * kHeadDim, kHeadDim * 2, bar);
  };
  // ldmatrix.x4.trans: lanes 0-7 / 8-15 address heads 0-7 / 8-15 of the k-tile in
  // slot 2·sp (the two B registers of its n8 tile), lanes 16-31 the same in slot 2·sp + 1.
  const int lrow = ((lane & 7) + ((lane >> 3) & 1) * 8) * kHeadStride + 16 * (2 * warp + (lane >> 4));
  // The quad exchange and transpose, by this lane's bits (see above).
  const bool b1 = (t & 1) != 0, b2 = (t & 2) != 0;
  const uint32_t sel_lo = b1 ? 0x1504u : 0x5140u, sel_hi = b1 ? 0x3726u : 0x7362u;
  const uint32_t sel_w01 = b2 ? 0x1054u : 0x5410u, sel_w23 = b2 ? 0x3276u : 0x7632u;
  if (r0 < r1) fetch(r0, 0);
  for (int64_t r = r0; r < r1; ++r) {
    const int buf = int(r - r0) & 1;
    // ring[buf ^ 1] was last read in the step before, whose barrier both warps passed.
    if (r + 1 < r1) fetch(r + 1, buf ^ 1);
    ptx::mbar_wait(ptx::smem_addr(&full[buf]), uint32_t((r - r0) >> 1) & 1);
    float acc[2][kSlots][4];
    dev::zero_fill(acc);
#pragma unroll
    for (int kt = 0; kt < 2; ++kt)
#pragma unroll
      for (int sp = 0; sp < kSlots / 2; ++sp) {
        uint32_t b[4];
        dev::ldmatrix_x4_trans(b, ring[buf] + lrow + kt * 16 * kHeadStride + sp * 64);  // slot_word(2·sp, w) = 4·sp + 2w
#pragma unroll
        for (int at = 0; at < 2; ++at) {
          dev::mma_f16_16816(acc[at][2 * sp], hf[at][kt], b[0], b[1]);
          dev::mma_f16_16816(acc[at][2 * sp + 1], hf[at][kt], b[2], b[3]);
        }
      }
    float amax = 0.f;
#pragma unroll
    for (int at = 0; at < 2; ++at)
#pragma unroll
      for (int s = 0; s < kSlots; ++s)
#pragma unroll
        for (int e = 0; e < 4; ++e) amax = fmaxf(amax, fabsf(acc[at][s][e]));
    amax = dev::warp_max(amax);
    if (lane == 0) red[buf][warp] = amax;
    __syncthreads();
    amax = fmaxf(red[buf][0], red[buf][1]);
    // Rounding is monotone, so max |RN(sum · norm)| = RN(max |sum| · norm): the
    // scale of the normalized values (as in the mix kernel).
    const float sc = dev::sym_scale(amax * norm, c_over_maxq), k_code = norm / sc;
    const int sw = int(r & 7);
#pragma unroll
    for (int at = 0; at < 2; ++at)
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        const int head = 16 * at + 8 * hh + g;
        uint32_t c[kSlots][2];  // RN(acc · k_code) as rounded words, not clamped yet
#pragma unroll
        for (int s = 0; s < kSlots; ++s)
#pragma unroll
          for (int e = 0; e < 2; ++e) c[s][e] = __float_as_uint(fmaf(acc[at][s][2 * hh + e], k_code, 12582912.0f));
        // D[q]: this lane's codes for chunk q = 2m + e, byte j = slot 2j + m, clamped
        // as int16 pairs (as dev::codes4; clip ratios whose codes could pass 2^15 go
        // elsewhere, int16_codes_fit in hadamard_mix.h): 0.5 instructions a value fewer than clamping each
        // rounded word, the kernel alone at 2048 rows 9.79 -> 8.63 us (o_proj's whole
        // linear unchanged, 55.1-55.3 us; NOTES.md, history 36).
        uint32_t d[4];
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const uint32_t w4[4] = {c[q >> 1][q & 1], c[2 + (q >> 1)][q & 1], c[4 + (q >> 1)][q & 1],
                                  c[6 + (q >> 1)][q & 1]};
          d[q] = dev::clamp_pack4<kLowClamp>(w4, lo2, hi2);
        }
        if (codes.tile_rows == 0) {  // packed rows (tests, odd shapes): a byte a word, columns 2t, 2t + 1
          uint8_t* row = codes.data + r * kRowBytes + head * kChunksPerHead * 4 + t;
#pragma unroll
          for (int s = 0; s < kSlots; ++s) {
            const int j = 8 * (s >> 1), m = s & 1;
            row[4 * slot_word(s, warp)] = uint8_t(((d[2 * m] >> j) & 0xF) | (((d[2 * m + 1] >> j) & 0xF) << 4));
          }
          continue;
        }
        // Round 1 (xor 2): keep chunks 2·b2, 2·b2 + 1, send the other two.
        const uint32_t keep0 = b2 ? d[2] : d[0], keep1 = b2 ? d[3] : d[1];
        const uint32_t got0 = __shfl_xor_sync(0xffffffffu, b2 ? d[0] : d[2], 2);
        const uint32_t got1 = __shfl_xor_sync(0xffffffffu, b2 ? d[1] : d[3], 2);
        // Round 2 (xor 1): keep chunk t; w[k] = lane (t ^ k)'s word for it.
        const uint32_t w0 = b1 ? keep1 : keep0, w2 = b1 ? got1 : got0;
        const uint32_t w1 = __shfl_xor_sync(0xffffffffu, b1 ? keep0 : keep1, 1);
        const uint32_t w3 = __shfl_xor_sync(0xffffffffu, b1 ? got0 : got1, 1);
        // Byte transpose: word j, byte i = w[i ^ t] byte j (the selectors undo the xor).
        const uint32_t lo01 = __byte_perm(w0, w1, sel_lo), hi01 = __byte_perm(w0, w1, sel_hi);
        const uint32_t lo23 = __byte_perm(w2, w3, sel_lo), hi23 = __byte_perm(w2, w3, sel_hi);
        uint4 chunk;
        chunk.x = (__byte_perm(lo01, lo23, sel_w01) << 4) & 0xF0F0F0F0u;  // as 16 · code (dev::nib_lo)
        chunk.y = (__byte_perm(lo01, lo23, sel_w23) << 4) & 0xF0F0F0F0u;
        chunk.z = (__byte_perm(hi01, hi23, sel_w01) << 4) & 0xF0F0F0F0u;
        chunk.w = (__byte_perm(hi01, hi23, sel_w23) << 4) & 0xF0F0F0F0u;
        *reinterpret_cast<uint4*>(codes.data + (int64_t(head) * codes.tile_rows + r) * 128 +
                                  (((4 * warp + t) ^ sw) << 4)) = chunk;
      }
    if (threadIdx.x == 0) scale[r] = sc;
  }
}

// Few rows (up to 64): a block of 8 warps a row, so that a row's chain is short.
// Thread (warp w, lane l) holds chunk c = 2w + (l & 1) of heads h and h + 16,
// h = l >> 1: the head index's bit 4 is in registers, bits 0-3 are lane bits 1-4
// (four shuffle stages); the row maximum goes through shared memory once. Against
// the mix kernel, o_proj's whole linear at 1 / 4 / 16 / 64 rows: 5.12-5.13 ->
// 5.02-5.04, 5.23-5.24 -> 5.09-5.15, 6.42-6.44 -> 6.23-6.24, 10.37-10.45 ->
// 10.29-10.32 us (NOTES.md history 29). Between 65 and 511 rows the mix kernel.
constexpr int kSmallWarps = 8, kSmallMaxRows = 64;

__global__ void __launch_bounds__(32 * kSmallWarps)
    heads_wht_quant_small_kernel(const uint16_t* __restrict__ x, int64_t ldx, int M, float norm, int maxq,
                                 float c_over_maxq, ActCodes codes, float* __restrict__ scale) {
  __shared__ float red[kSmallWarps];
  // As the mix kernel for few rows: the GEMM after this one is released only after
  // the wait (released earlier it took SMs and DRAM from the kernel before).
  gemm::pdl_wait();
  gemm::pdl_trigger();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int c = 2 * warp + (lane & 1), h = lane >> 1;
  const int64_t r = blockIdx.x;
  const uint16_t* xr = x + r * ldx + c * 8;
  float v[2][8];
  dev::load8(xr + h * kHeadDim, v[0]);
  dev::load8(xr + (h + 16) * kHeadDim, v[1]);
  dev::butterflies(v);  // bit 4
#pragma unroll
  for (int mask = 2; mask <= 16; mask <<= 1) dev::lane_butterfly(v, mask, (lane & mask) != 0);  // bits 0-3
  float amax = 0.f;
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int e = 0; e < 8; ++e) amax = fmaxf(amax, fabsf(v[i][e]));
  amax = dev::warp_max(amax);
  if (lane == 0) red[warp] = amax;
  __syncthreads();
  amax = red[0];
#pragma unroll
  for (int w = 1; w < kSmallWarps; ++w) amax = fmaxf(amax, red[w]);
  const float s = dev::sym_scale(amax * norm, c_over_maxq), k_code = norm / s;
  const float lo = float(-(maxq + 1)), hi = float(maxq);
#pragma unroll
  for (int i = 0; i < 2; ++i)
    dev::store_act_codes(codes.data, codes.tile_rows, kRowBytes, r, (h + 16 * i) * kChunksPerHead + c,
                         chunk_codes(v[i], k_code, lo, hi));
  if (threadIdx.x == 0) scale[r] = s;
}

enum class Pick { Mix, Block, Pair };

// Which kernel takes M rows. QUAROT_RUNNER_HEADS_WHT=0: the mix kernel for every M;
// 1: the pair-a-row kernel for every M; unset: the block-a-row kernel up to
// kSmallMaxRows rows, the pair-a-row kernel from kMinRows, the mix kernel between.
Pick pick(int M) {
  static const char* const forced = std::getenv("QUAROT_RUNNER_HEADS_WHT");
  if (forced != nullptr && std::strcmp(forced, "0") == 0) return Pick::Mix;
  if (forced != nullptr && std::strcmp(forced, "1") == 0) return Pick::Pair;
  if (M <= kSmallMaxRows) return Pick::Block;
  return M >= kMinRows ? Pick::Pair : Pick::Mix;
}

}  // namespace

bool heads_wht_supported(const MixArgs& a) {
  const bool shape = !a.fwht && a.A == kHeads && a.B == kHeadDim && a.ldx % 8 == 0 &&
                     (reinterpret_cast<uintptr_t>(a.x) & 15) == 0;
  return shape && pick(a.M) != Pick::Mix;
}

void heads_wht_quant(const MixArgs& a, cudaStream_t stream) {
  if (a.M == 0) return;  // as the mix kernel: nothing to launch (a grid of 0 blocks is an error)
  if (pick(a.M) == Pick::Block) {
    gemm::launch_pdl(heads_wht_quant_small_kernel, dim3(a.M), dim3(32 * kSmallWarps), 0, stream, a.x, a.ldx, a.M,
                     a.norm, a.maxq, a.c_over_maxq, a.codes, a.scale);
    return;
  }
  auto* kernel = needs_low_clamp(a) ? heads_wht_quant_pair_kernel<true> : heads_wht_quant_pair_kernel<false>;
  // Every block the same number of rows: as few blocks as that count allows, so that
  // no pair is left with one row more than most (2048 rows: 1024 blocks of 2).
  const int64_t slots = int64_t(std::max(blocks_per_sm(kernel, kPairThreads, 0), 1)) * device_sm_count();
  const int64_t rows_per_block = (int64_t(a.M) + slots - 1) / slots;
  const int grid = int((int64_t(a.M) + rows_per_block - 1) / rows_per_block);
  gemm::launch_pdl(kernel, dim3(grid), dim3(kPairThreads), 0, stream, a.x, a.ldx, a.M, int(rows_per_block),
                   static_cast<const uint4*>(a.frag), a.norm, a.maxq, a.c_over_maxq, a.codes, a.scale);
}

}  // namespace quarot::runner::detail
