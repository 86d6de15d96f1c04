// The mix kernel's work on one 16-row tile after the mix (hadamard_mix.cu): the
// 64-point Walsh–Hadamard of its fp32 sums and their codes, in the packed or the
// tiled layout (kernels.h, ActCodes). A thread holds, of rows a' = 16·at + g and
// + 8, the sums of columns b = 8nb + 2t + {0, 1} (the mma accumulator layout).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "lib/runner/device_common.cuh"
#include "lib/runner/kernels.h"

namespace quarot::runner::detail {

// The 8-code word of nibble pairs: lane t of a quad holds byte t of words nb (its
// codes b = 8nb + 2t, 2t + 1); returns word nb = 4k + t, gathered from the quad.
template <int NBW>
__device__ __forceinline__ uint32_t quad_word(const uint32_t (&P)[NBW / 4], int k, int t, int lane) {
  const int base = lane & ~3;
  const uint32_t v0 = __shfl_sync(0xffffffffu, P[k], base), v1 = __shfl_sync(0xffffffffu, P[k], base + 1);
  const uint32_t v2 = __shfl_sync(0xffffffffu, P[k], base + 2), v3 = __shfl_sync(0xffffffffu, P[k], base + 3);
  const uint32_t sel = uint32_t(t) | (uint32_t(t + 4) << 4);
  return __byte_perm(__byte_perm(v0, v1, sel), __byte_perm(v2, v3, sel), 0x5410);
}

// The 64-point Walsh–Hadamard of a tile's mix outputs in place: b bit 0 is the
// pair (e, e + 1) of a thread's registers, bits 1-2 its quad, bits 3-5 its tiles nb.
__device__ __forceinline__ void fwht64(float (&acc)[8][4], int t) {
#pragma unroll
  for (int nb = 0; nb < 8; ++nb)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float u = acc[nb][2 * h], v = acc[nb][2 * h + 1];
      acc[nb][2 * h] = u + v;
      acc[nb][2 * h + 1] = u - v;
    }
#pragma unroll
  for (int mask = 1; mask <= 2; mask <<= 1) dev::lane_butterfly(acc, mask, (t & mask) != 0);  // bits 1-2: the quad
  dev::butterflies(acc);  // bits 3-5: the tiles nb
}

// ---- the Walsh–Hadamard and the codes for many rows (MixCfg::kTcWht) ----------------
//
// fwht64 spends ~8 instructions a value, half of them two shuffle rounds (b bits 1-2
// live in the quad) and their FFMA. Here the 8 columns of each n8 tile (b bits 0-2)
// are multiplied by H_8 on tensor cores instead: the tile's fp32 sums are already
// an mma.m16n8k8 A fragment (columns 2t, 2t + 1 of rows g, g + 8 are read as k = t,
// t + 4; the B operand, H_8's rows, is permuted to match), so no data moves between
// lanes. tf32 keeps 10 of fp32's 23 mantissa bits, so each sum goes in as hi + lo:
// hi the sum with its low 13 bits cleared (exact), lo = sum - hi (exact in fp32,
// |lo| < 2^-10 |sum|), two mma into the same accumulators; what tf32 drops of lo is
// below 2^-20 |sum|, against 2^-24 for fp32's own additions. The bits 3-5 (the tiles
// nb, in registers) stay fp32 butterflies.
//
// The output columns of the mma are free to choose (B's columns): column n' = 2t + e
// of tile nb is made b = 8·nb + 4e + t, so that in the wgmma GEMM's tiled layout
// (kernels.h, ActCodes: k = 32a + 8b + 2c + h at byte 32b + 16h + 4a + c of its
// 128-byte line) a lane's codes fall in the four chunks of parity h = t & 1, four
// bytes each, and the eight lanes of a line (g = 2p, 2p + 1) complete each chunk
// after two exchange rounds (line_chunk).
__device__ __forceinline__ int tc_wht_column(int n) { return ((n >> 1) & 3) | ((n & 1) << 2); }

// This lane's B fragment: H_8 row 2t (k = t) and 2t + 1 (k = t + 4), column
// tc_wht_column(g), as fp32 ±1.
struct Wht8Frag {
  uint32_t b0, b1;
};
__device__ __forceinline__ Wht8Frag wht8_frag(int g, int t) {
  const int col = tc_wht_column(g);
  auto h8 = [](int i, int j) { return (__popc(i & j) & 1) != 0 ? 0xbf800000u : 0x3f800000u; };
  return {h8(2 * t, col), h8(2 * t + 1, col)};
}

__device__ __forceinline__ void fwht64_tc(float (&acc)[8][4], Wht8Frag h) {
#pragma unroll
  for (int nb = 0; nb < 8; ++nb) {
    uint32_t hi[4], lo[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      hi[e] = __float_as_uint(acc[nb][e]) & 0xffffe000u;
      lo[e] = __float_as_uint(acc[nb][e] - __uint_as_float(hi[e]));
    }
    float d[4] = {0.f, 0.f, 0.f, 0.f};
    dev::mma_tf32_1688(d, lo[0], lo[2], lo[1], lo[3], h.b0, h.b1);  // the small part first
    dev::mma_tf32_1688(d, hi[0], hi[2], hi[1], hi[3], h.b0, h.b1);
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[nb][e] = d[e];
  }
  dev::butterflies(acc);  // bits 3-5: the tiles nb
}

// The codes of rows a' = 16·at + 8·hh + g of a tile after fwht64_tc, as whole 16-byte
// chunks of the tiled layout. Lane (g, t) holds b = 8·nb + 4e + t: line (k-tile)
// a' >> 1, chunk 2(nb & 3) + (t & 1), byte 8(g & 1) + 4(nb >> 2) + 2e + (t >> 1). It
// packs W[bb] = its bytes of chunk 2bb + (t & 1) (byte 2(nb >> 2) + e), then the four
// lanes of equal t & 1 in the line (G = g & 1, T = t >> 1) trade words: round 1 (lane
// xor 4) keeps chunks bb = 2G, 2G + 1; round 2 (xor 2) keeps bb = 2G + T. The lane
// ends with chunk 4G + t from the four sources (Gs, Ts) and interleaves their bytes
// (byte 4(2Gs + hb) + 2e + Ts).
template <bool kLowClamp>
__device__ __forceinline__ uint4 line_chunk(const float (&acc)[8][4], int hh, float k_code, float lo, float hi,
                                            int lane) {
  const bool G = (lane & 4) != 0, T = (lane & 2) != 0;
  const uint32_t lo2 = dev::int16x2_of(int(lo)), hi2 = dev::int16x2_of(int(hi));
  uint32_t W[4];
#pragma unroll
  for (int bb = 0; bb < 4; ++bb) {
    float v[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) v[i] = acc[bb + 4 * (i >> 1)][2 * hh + (i & 1)];  // byte i = 2(nb >> 2) + e
    W[bb] = dev::codes4<kLowClamp>(v, k_code, lo2, hi2);
  }
  const uint32_t k0 = G ? W[2] : W[0], k1 = G ? W[3] : W[1];
  const uint32_t r0 = __shfl_xor_sync(0xffffffffu, G ? W[0] : W[2], 4);
  const uint32_t r1 = __shfl_xor_sync(0xffffffffu, G ? W[1] : W[3], 4);
  const uint32_t own = T ? k1 : k0, other = T ? r1 : r0;  // sources (G, T), (!G, T)
  const uint32_t own_x = __shfl_xor_sync(0xffffffffu, T ? k0 : k1, 2);  // (G, !T)
  const uint32_t other_x = __shfl_xor_sync(0xffffffffu, T ? r0 : r1, 2);  // (!G, !T)
  // Word 2Gs + hb, byte 2e + Ts = source (Gs, Ts)'s byte 2hb + e; the selectors undo T.
  const uint32_t sel0 = T ? 0x1504u : 0x5140u, sel1 = T ? 0x3726u : 0x7362u;
  const uint32_t o0 = __byte_perm(own, own_x, sel0), o1 = __byte_perm(own, own_x, sel1);
  const uint32_t x0 = __byte_perm(other, other_x, sel0), x1 = __byte_perm(other, other_x, sel1);
  uint4 c;
  c.x = dev::nib_lo(G ? x0 : o0);
  c.y = dev::nib_lo(G ? x1 : o1);
  c.z = dev::nib_lo(G ? o0 : x0);
  c.w = dev::nib_lo(G ? o1 : x1);
  return c;
}

// The same codes into the packed layout (tests, and the GEMM without tiles): byte
// 32a' + 4nb + 2e + (t >> 1), nibble t & 1; lanes t, t ^ 1 trade the codes of the
// other's parity e and write a byte each per tile nb (rows a' < A: `valid`).
template <bool kLowClamp>
__device__ __forceinline__ void store_row_packed_tc(const float (&acc)[8][4], int hh, float k_code, float lo,
                                                    float hi, int t, bool valid, uint8_t* row) {
  const int e_own = t & 1;
#pragma unroll
  for (int k = 0; k < 2; ++k) {
    uint32_t qo[4], qs[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float* v = acc[4 * k + j] + 2 * hh;
      qo[j] = dev::scaled_round_bits<kLowClamp>(e_own ? v[1] : v[0], k_code, lo, hi);
      qs[j] = dev::scaled_round_bits<kLowClamp>(e_own ? v[0] : v[1], k_code, lo, hi);
    }
    const uint32_t keep = dev::low_bytes(qo[0], qo[1], qo[2], qo[3]);
    const uint32_t got = __shfl_xor_sync(0xffffffffu, dev::low_bytes(qs[0], qs[1], qs[2], qs[3]), 1);
    const uint32_t lo_w = e_own ? got : keep, hi_w = e_own ? keep : got;
    const uint32_t w = (lo_w & 0x0F0F0F0Fu) | ((hi_w << 4) & 0xF0F0F0F0u);
    if (valid)
#pragma unroll
      for (int j = 0; j < 4; ++j) row[4 * (4 * k + j) + 2 * e_own + (t >> 1)] = uint8_t(w >> (8 * j));
  }
}

// Where row r's chunks of this lane go in the tiled layout (line_chunk's chunk
// 4(g & 1) + t, swizzled by r % 8), in line 0; and one line's chunk stored there
// (rows a' = 2·line, 2·line + 1; rows a' >= A are not stored).
__device__ __forceinline__ uint8_t* tc_chunk_base(const ActCodes& codes, int64_t r, int lane) {
  const int g = lane >> 2, t = lane & 3;
  return codes.data + r * 128 + (((4 * (g & 1) + t) ^ int(r & 7)) << 4);
}
__device__ __forceinline__ void store_tc_chunk(uint8_t* base, int64_t tile_rows, int line, int A, uint4 c) {
  uint8_t* dst = base + int64_t(line) * tile_rows * 128;
  if (2 * line + 1 < A) *reinterpret_cast<uint4*>(dst) = c;
  else if (2 * line < A) *reinterpret_cast<uint2*>(dst) = make_uint2(c.x, c.y);  // A odd
}
// The packed layout: tile at's rows a' = 16·at + 8·hh + g of row r (row_bytes a row).
template <bool kLowClamp>
__device__ __forceinline__ void store_tile_packed_tc(const float (&acc)[8][4], int at, int A, float k_code, float lo,
                                                     float hi, int lane, const ActCodes& codes, int64_t r,
                                                     int64_t row_bytes) {
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int ap = 16 * at + 8 * hh + g;
    uint8_t* row = codes.data + r * row_bytes + int64_t(ap) * 32;
    store_row_packed_tc<kLowClamp>(acc, hh, k_code, lo, hi, t, ap < A, row);
  }
}
// One tile's codes after fwht64_tc, rows a' = 16·at.. of row r with scale factor
// k_code, in the tiled layout (a line's chunk computed and stored in turn) or the
// packed one.
template <bool kLowClamp>
__device__ __forceinline__ void store_tile_tc(const float (&acc)[8][4], int at, int A, float k_code, float lo,
                                              float hi, int lane, const ActCodes& codes, int64_t r,
                                              int64_t row_bytes) {
  const int g = lane >> 2;
  if (codes.tile_rows != 0) {
    uint8_t* base = tc_chunk_base(codes, r, lane);
#pragma unroll
    for (int hh = 0; hh < 2; ++hh) {
      const uint4 c = line_chunk<kLowClamp>(acc, hh, k_code, lo, hi, lane);
      store_tc_chunk(base, codes.tile_rows, 8 * at + 4 * hh + (g >> 1), A, c);
    }
  } else {
    store_tile_packed_tc<kLowClamp>(acc, at, A, k_code, lo, hi, lane, codes, r, row_bytes);
  }
}

// Codes of one 16-row tile a' = 16·at.. of a row, its column tiles nb0.. nb0 + NBW
// of NB, as RN(acc · k_code) clamped to [lo, hi], packed from registers (a byte
// transpose within each quad) and handed to put(word index in the row, word) as
// whole 32-bit words of 8 codes.
template <int NB, int NBW, typename Put>
__device__ __forceinline__ void store_tile_codes(const float (&acc)[NBW][4], int at, int nb0, int A, float k_code,
                                                 float lo, float hi, int g, int t, int lane, const Put& put) {
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int ap = 16 * at + g + 8 * h;
    // P[k] byte j = the codes of b = 8(nb0 + 4k + j) + 2t, + 1 as a packed byte.
    uint32_t P[NBW / 4];
#pragma unroll
    for (int k = 0; k < NBW / 4; ++k) {
      uint32_t e[4], o[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        e[j] = dev::scaled_round_bits(acc[4 * k + j][2 * h], k_code, lo, hi);
        o[j] = dev::scaled_round_bits(acc[4 * k + j][2 * h + 1], k_code, lo, hi);
      }
      P[k] = dev::packed_word({dev::low_bytes(e[0], e[1], e[2], e[3]), dev::low_bytes(o[0], o[1], o[2], o[3])});
    }
#pragma unroll
    for (int k = 0; k < NBW / 4; ++k) {
      const uint32_t w = quad_word<NBW>(P, k, t, lane);
      if (ap < A) put(ap * NB + nb0 + 4 * k + t, w);
    }
  }
}

}  // namespace quarot::runner::detail
