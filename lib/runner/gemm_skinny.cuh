// Pieces shared by the two skinny W4A4 GEMM kernels (gemm_skinny.cu, weights in
// registers; gemm_skinny_staged.cu, weights staged in shared memory): the register
// tiles, the activation loads, the MMAs, the epilogue's scales and stores. Internal
// to those two files.
#pragma once

#include <cuda_fp16.h>

#include "lib/runner/device_common.cuh"
#include "lib/runner/gemm_common.cuh"
#include "lib/runner/kernels.h"

namespace quarot::runner::detail::skinny {

using dev::nib_hi;
using dev::nib_lo;
using gemm::Params;
using gemm::word_of;

constexpr int kLayoutRows = 32;  // output channels of one block row of the layout: two m16 tiles
constexpr int kTileRows = 16;    // output channels of one m16 tile

// Words between two tokens' partial sums in `red` (put_partials, store): the
// channels of a block (NT m16 tiles) plus 4. Unpadded, the four lanes t of a quad
// (tokens 2t, 2t + 1) stored to one bank, every store of the partials a 4-way
// conflict; with 4 more words a store's lane (g, t) lands on bank 8t + g plus that
// store's constant, 32 banks for 32 lanes (NOTES.md, history 25: down_proj 0.3-0.45 us at 9-16 tokens).
template <int NT>
constexpr int kRedStride = kTileRows * NT + 4;
// The W warps' partial sums of a block, token-major (put_partials, store).
template <int TT, int NT, int W>
using Partials = int[W][8 * TT][kRedStride<NT>];

// NT m16 tiles (16 * NT output channels) per block: 2, one block row of the layout;
// 4, two block rows, so that each activation load meets twice the weights (half the
// activations' L2 traffic; needs N % 64 == 0: the layout has no block row past N to
// read); 1, half a block row, for grids whose block rows do not spread evenly over
// the SMs (gemm_skinny.cu's launch says where each is used).
template <int TT, int NT>
struct SkinnyLoad {
  uint4 w[NT][2];  // [tile][row g, row g + 8]
  uint4 x[TT];     // [token tile]
};

// Activation codes [M, K/2], bytes 16t..16t+15 of k-step `step` for tokens g (+8).
template <int TT, int NT>
__device__ __forceinline__ void skinny_load_x(SkinnyLoad<TT, NT>& L, const uint8_t* a, int M, int step, int g, int t,
                                              int kbytes) {
  const int off = step * 64 + t * 16;
  const bool kok = off < kbytes;
#pragma unroll
  for (int j = 0; j < TT; ++j) {
    const int tok = 8 * j + g;
    L.x[j] = (kok && tok < M) ? __ldg(reinterpret_cast<const uint4*>(a + int64_t(tok) * kbytes + off))
                              : make_uint4(0, 0, 0, 0);
  }
}

template <int TT, int NT>
__device__ __forceinline__ void skinny_mma(int (&acc)[NT][TT][4], const SkinnyLoad<TT, NT>& L) {
#pragma unroll
  for (int c = 0; c < 4; ++c) {
    uint32_t b[TT][2];
#pragma unroll
    for (int j = 0; j < TT; ++j) {
      const uint32_t xw = word_of(L.x[j], c);
      b[j][0] = nib_lo(xw);
      b[j][1] = nib_hi(xw);
    }
#pragma unroll
    for (int i = 0; i < NT; ++i) {
      const uint32_t w0 = word_of(L.w[i][0], c), w1 = word_of(L.w[i][1], c);
      const uint32_t a0 = nib_lo(w0), a1 = nib_lo(w1), a2 = nib_hi(w0), a3 = nib_hi(w1);
#pragma unroll
      for (int j = 0; j < TT; ++j) dev::mma_s8_16832(acc[i][j], a0, a1, a2, a3, b[j][0], b[j][1]);
    }
  }
}

// The epilogue's scales, read with the first activation loads (load after the PDL
// wait) so that no DRAM round trip is left after the reduction: read there they
// held every output thread for a DRAM round trip at the end (qkv M = 16 6.6 -> 6.2
// us, Llama-2 up 10.3 -> 9.4 with this and the token-major sums below; down_proj
// after its Hadamard at 9-16 tokens 0.3-0.45 us slower, not explained: NOTES,
// history 23). Read before the wait instead (the weight scales are constants), the
// linears at 16 tokens lost 0.2-0.56 us more. Kept in registers over the main loop,
// in shared memory (stash, then the epilogue) from the reduction on.
template <int kRows, int kTok>
struct Scales {
  float sw = 0.0f, bias = 0.0f, sa = 0.0f;
  __device__ __forceinline__ void load(const Params& p, int n0) {
    const bool scaled_out = p.mode != int(OutMode::I32);
    const int sa_tok = int(threadIdx.x) - kRows;  // threads kRows.. load the activation scales
    if (scaled_out && threadIdx.x < kRows && n0 + int(threadIdx.x) < p.N) {
      sw = __ldg(p.sw + n0 + threadIdx.x);
      if (p.bias != nullptr) bias = __ldg(p.bias + n0 + threadIdx.x);
    }
    if (scaled_out && sa_tok >= 0 && sa_tok < kTok && sa_tok < p.M) sa = p.sa[sa_tok];
  }
  // Into the block's shared slots for `store` (a barrier between).
  __device__ __forceinline__ void stash(float (&s_sw)[kRows], float (&s_bias)[kRows], float (&s_sa)[kTok]) const {
    const int sa_tok = int(threadIdx.x) - kRows;
    if (threadIdx.x < kRows) {
      s_sw[threadIdx.x] = sw;
      s_bias[threadIdx.x] = bias;
    }
    if (sa_tok >= 0 && sa_tok < kTok) s_sa[sa_tok] = sa;
  }
};

// The warps' partial sums into `red`, token-major (store below says why). C
// fragment: c0/c1 = (channel g, tokens 2t, 2t+1), c2/c3 = channel g + 8.
template <int TT, int NT, int W>
__device__ __forceinline__ void put_partials(Partials<TT, NT, W>& red, const int (&acc)[NT][TT][4],
                                             int warp, int g, int t) {
#pragma unroll
  for (int i = 0; i < NT; ++i)
#pragma unroll
    for (int j = 0; j < TT; ++j) {
      const int ch = 16 * i + g, tok = 8 * j + 2 * t;
      red[warp][tok][ch] = acc[i][j][0];
      red[warp][tok + 1][ch] = acc[i][j][1];
      red[warp][tok][ch + 8] = acc[i][j][2];
      red[warp][tok + 1][ch + 8] = acc[i][j][3];
    }
}

// The outputs from the warps' partial sums, token-major in `red`: consecutive
// threads take consecutive channels of one token (no bank conflicts reading them,
// whole sectors of one token's outputs stored; channel-major, a warp's stores went
// to 8-16 rows). s_sw, s_bias and s_sa hold the block's scales; a barrier before
// this has made `red` and them visible.
template <int TT, int NT, int W>
__device__ __forceinline__ void store(const Params& p, int n0, const Partials<TT, NT, W>& red,
                                      const float (&s_sw)[kTileRows * NT], const float (&s_bias)[kTileRows * NT],
                                      const float (&s_sa)[8 * TT]) {
  constexpr int kTok = 8 * TT, kRows = kTileRows * NT;
  const auto scales_of = [&](int tok, int ch) { return gemm::OutScales{s_sa[tok], s_sw[ch], s_bias[ch]}; };
  if (p.mode == int(OutMode::SwiGLU)) {
    for (int idx = threadIdx.x; idx < (kRows / 2) * kTok; idx += blockDim.x) {
      // Consecutive threads on consecutive outputs of one token: whole sectors stored.
      const int gi = idx % (kRows / 2), tok = idx / (kRows / 2);
      const int ch = (gi / 8) * 16 + (gi % 8);  // gate channel; its up channel is ch + 8
      if (tok >= p.M || n0 + ch >= p.N) continue;
      int sg = 0, su = 0;
#pragma unroll
      for (int w = 0; w < W; ++w) {
        sg += red[w][tok][ch];
        su += red[w][tok][ch + 8];
      }
      gemm::store_swiglu(p, tok, n0 + ch, sg, su, scales_of(tok, ch), scales_of(tok, ch + 8));
    }
  } else {
    for (int idx = threadIdx.x; idx < kRows * kTok; idx += blockDim.x) {
      const int ch = idx % kRows, tok = idx / kRows;  // as above
      if (tok >= p.M || n0 + ch >= p.N) continue;
      int s = 0;
#pragma unroll
      for (int w = 0; w < W; ++w) s += red[w][tok][ch];
      gemm::store_one(p, tok, n0 + ch, s, scales_of(tok, ch));
    }
  }
}

// The same reduction in 16 bits where every warp's share of K is at most
// kPart16MaxK values. A warp's partial is 256 x a sum of at most 512 products of two
// codes in [-8, 7], i.e. 256 x [-28672, 32768]: divided by 256 and biased by 28672 it
// is an unsigned 16-bit number, exact. Two tokens' partials (2t, 2t + 1 of one
// channel, the C fragment's c0/c1 or c2/c3) share a word, so the partials move half
// the shared-memory bytes of the int32 ones (a block's 16 warps at 16 tokens: 20 KB
// instead of 36 KB written and read). Rows padded by 8 words: a quad's lanes t store
// to rows 4j + t, banks 8t + g apart (24t + g for one tile).
constexpr int kPart16MaxK = 512;
constexpr uint32_t kPart16Bias = 28672;
template <int NT>
constexpr int kRed16Stride = kTileRows * NT + 8;
template <int TT, int NT, int W>
using Partials16 = uint32_t[W][4 * TT][kRed16Stride<NT>];

// Bytes 1-2 of each biased accumulator (the division by 256 is exact).
__device__ __forceinline__ uint32_t pack_part16(int a, int b) {
  constexpr uint32_t kBias8 = kPart16Bias << 8;
  return __byte_perm(uint32_t(a) + kBias8, uint32_t(b) + kBias8, 0x6521);
}

template <int TT, int NT, int W>
__device__ __forceinline__ void put_partials(Partials16<TT, NT, W>& red, const int (&acc)[NT][TT][4],
                                             int warp, int g, int t) {
#pragma unroll
  for (int i = 0; i < NT; ++i)
#pragma unroll
    for (int j = 0; j < TT; ++j) {
      const int ch = 16 * i + g, tp = 4 * j + t;
      red[warp][tp][ch] = pack_part16(acc[i][j][0], acc[i][j][1]);
      red[warp][tp][ch + 8] = pack_part16(acc[i][j][2], acc[i][j][3]);
    }
}

// The W partials of tokens 2·tp and 2·tp + 1 at channel ch, as 256 x dot (the scale
// of the int32 accumulators). The halves are summed without unpacking: the word sum
// is (sum of highs) << 16 plus the sum of lows, which is below 2^20, so it comes
// back exactly once the highs, summed apart, are taken out.
template <int TT, int NT, int W>
__device__ __forceinline__ int2 sum_partials(const Partials16<TT, NT, W>& red, int tp, int ch) {
  uint32_t all = 0, hi = 0;
#pragma unroll
  for (int w = 0; w < W; ++w) {
    const uint32_t v = red[w][tp][ch];
    all += v;
    hi += v >> 16;
  }
  constexpr int kBiasSum = int(kPart16Bias) * W;
  return make_int2((int(all - (hi << 16)) - kBiasSum) * 256, (int(hi) - kBiasSum) * 256);
}

template <int TT, int NT, int W>
__device__ __forceinline__ void store(const Params& p, int n0, const Partials16<TT, NT, W>& red,
                                      const float (&s_sw)[kTileRows * NT], const float (&s_bias)[kTileRows * NT],
                                      const float (&s_sa)[8 * TT]) {
  constexpr int kPairs = 4 * TT, kRows = kTileRows * NT;
  const auto scales_of = [&](int tok, int ch) { return gemm::OutScales{s_sa[tok], s_sw[ch], s_bias[ch]}; };
  if (p.mode == int(OutMode::SwiGLU)) {
    for (int idx = threadIdx.x; idx < (kRows / 2) * kPairs; idx += blockDim.x) {
      const int gi = idx % (kRows / 2), tp = idx / (kRows / 2);
      const int ch = (gi / 8) * 16 + (gi % 8);  // gate channel; its up channel is ch + 8
      if (2 * tp >= p.M || n0 + ch >= p.N) continue;
      const int2 sg = sum_partials<TT, NT, W>(red, tp, ch), su = sum_partials<TT, NT, W>(red, tp, ch + 8);
      gemm::store_swiglu(p, 2 * tp, n0 + ch, sg.x, su.x, scales_of(2 * tp, ch), scales_of(2 * tp, ch + 8));
      if (2 * tp + 1 < p.M)
        gemm::store_swiglu(p, 2 * tp + 1, n0 + ch, sg.y, su.y, scales_of(2 * tp + 1, ch),
                           scales_of(2 * tp + 1, ch + 8));
    }
  } else {
    for (int idx = threadIdx.x; idx < kRows * kPairs; idx += blockDim.x) {
      const int ch = idx % kRows, tp = idx / kRows;
      if (2 * tp >= p.M || n0 + ch >= p.N) continue;
      const int2 s = sum_partials<TT, NT, W>(red, tp, ch);
      gemm::store_one(p, 2 * tp, n0 + ch, s.x, scales_of(2 * tp, ch));
      if (2 * tp + 1 < p.M) gemm::store_one(p, 2 * tp + 1, n0 + ch, s.y, scales_of(2 * tp + 1, ch));
    }
  }
}

}  // namespace quarot::runner::detail::skinny
