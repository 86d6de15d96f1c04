// Device helpers shared by the runner's kernels: reductions, int4 nibble
// handling, the quantizers, tensor-core instructions.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

namespace quarot::runner::dev {

// ---- reductions -----------------------------------------------------------------

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float warp_min(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide reductions; every thread gets the result. `scratch` holds 32 floats;
// the leading barrier makes back-to-back calls on one scratch safe.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float r = lane < nw ? scratch[lane] : 0.f;
  return warp_sum(r);
}
__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float r = lane < nw ? scratch[lane] : -INFINITY;
  return warp_max(r);
}

// ---- quantizers (the formulas of quantize/act_quantizer.h, in fp32) ---------------

// Symmetric: scale from the absolute maximum; c_over_maxq = float(clip / maxq).
__device__ __forceinline__ float sym_scale(float absmax, float c_over_maxq) {
  const float s = absmax * c_over_maxq;
  return s == 0.f ? 1.f : s;
}
__device__ __forceinline__ int sym_code(float x, float scale, int maxq) {
  float q = rintf(__fdiv_rn(x, scale));
  q = fminf(fmaxf(q, float(-(maxq + 1))), float(maxq));
  return int(q);
}
// The fast quantizer of the row kernels: the same codes as sym_code, in about 5
// instructions per value instead of ~15 (the quantizers were instruction-bound,
// NOTES.md). Three pieces:
// - the quotient x / scale: q = x·inv, then one FMA correction, q + (x - q·scale)·inv,
//   which with inv = RN(1 / scale) is the correctly rounded quotient (Markstein's
//   theorem; scale and x are normal floats here), i.e. what __fdiv_rn returns;
// - clamping before rounding (the bounds are integers, so the order does not matter);
// - rounding half to even by adding 1.5·2^23: the sum's low byte is then the code
//   as an int8 (two's complement), taken out by byte permutes below.
__device__ __forceinline__ uint32_t clamp_round_bits(float q, float lo, float hi) {
  return __float_as_uint(fminf(fmaxf(q, lo), hi) + 12582912.0f);
}
// RN(v·k) clamped to [lo, hi] as the same rounded word, the product and the add fused
// in one FMA: 3 instructions a value instead of 4. The product is not rounded
// before the add, so the code is the exact product's nearest integer (ties to even),
// which RN(v·k) then rounded could miss by one where v·k lies within half an ulp of
// a half-integer; clamping after the add is the same as before it (integer bounds,
// monotone rounding). Used where the codes are RN(sum · norm / s) of fp32 sums.
// kLow = false leaves out the lower bound, for callers that know RN(v·k) >= lo
// (one instruction a value less).
template <bool kLow = true>
__device__ __forceinline__ uint32_t scaled_round_bits(float v, float k, float lo, float hi) {
  const float t = fmaf(v, k, 12582912.0f);
  return __float_as_uint(fminf(kLow ? fmaxf(t, lo + 12582912.0f) : t, hi + 12582912.0f));
}
// The clamp and the byte extraction of codes4 (below), for four rounded words r[0..3].
template <bool kLow>
__device__ __forceinline__ uint32_t clamp_pack4(const uint32_t (&r)[4], uint32_t lo2, uint32_t hi2) {
  uint32_t p[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    p[h] = __byte_perm(r[2 * h], r[2 * h + 1], 0x5410);
    asm("min.s16x2 %0, %0, %1;" : "+r"(p[h]) : "r"(hi2));
    if constexpr (kLow) asm("max.s16x2 %0, %0, %1;" : "+r"(p[h]) : "r"(lo2));
  }
  return __byte_perm(p[0], p[1], 0x6420);
}
// Four values' codes as the bytes of one word (byte i: v[i]), two clamps an
// instruction: RN(v·k) lands in the low half of the rounded word as an int16 (the
// word is 0x4B400000 + code, |code| < 2^15), so the halves of two words, paired,
// are clamped by min.s16x2 (and max.s16x2 for kLow) and their low bytes taken: 9
// instructions for four values (11 with the lower bound) against 11 (15) for
// scaled_round_bits and low_bytes. lo2, hi2: the bounds as int16 in both halves.
template <bool kLow>
__device__ __forceinline__ uint32_t codes4(const float (&v)[4], float k, uint32_t lo2, uint32_t hi2) {
  uint32_t r[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) r[i] = __float_as_uint(fmaf(v[i], k, 12582912.0f));
  return clamp_pack4<kLow>(r, lo2, hi2);
}
// Both bounds of the codes as int16 in both halves of a word (codes4, clamp_pack4).
__device__ __forceinline__ uint32_t int16x2_of(int v) { return (uint32_t(v) & 0xFFFFu) * 0x10001u; }
__device__ __forceinline__ uint32_t sym_round_bits(float x, float scale, float inv, float lo, float hi) {
  const float q = x * inv;
  return clamp_round_bits(fmaf(fmaf(-q, scale, x), inv, q), lo, hi);
}
// Eight values -> their codes as int8 bytes: elements 0, 2, 4, 6 in `even` (byte k =
// element 2k), 1, 3, 5, 7 in `odd`.
struct Codes8 {
  uint32_t even, odd;
};
// Byte 0 of each of four rounded words (above) as bytes 0-3 of one word: (b0, b1) ->
// bytes 0, 1; (b2, b3) -> bytes 0, 1; then both halves.
__device__ __forceinline__ uint32_t low_bytes(uint32_t b0, uint32_t b1, uint32_t b2, uint32_t b3) {
  return __byte_perm(__byte_perm(b0, b1, 0x0040), __byte_perm(b2, b3, 0x0040), 0x5410);
}
__device__ __forceinline__ Codes8 quant8_sym(const float* v, float scale, float inv, int maxq) {
  const float lo = float(-(maxq + 1)), hi = float(maxq);
  uint32_t b[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) b[i] = sym_round_bits(v[i], scale, inv, lo, hi);
  return {low_bytes(b[0], b[2], b[4], b[6]), low_bytes(b[1], b[3], b[5], b[7])};
}
// The packed word of eight codes: element i in bits 4i..4i+3.
__device__ __forceinline__ uint32_t packed_word(Codes8 c) {
  return (c.even & 0x0F0F0F0Fu) | ((c.odd << 4) & 0xF0F0F0F0u);
}

// ---- int4 -> int8 for the integer MMA ----------------------------------------------
// A packed word holds 8 nibbles. Masking keeps each nibble in the high half of its
// byte, i.e. the byte is 16 * code as a signed int8: the low nibbles of the 4 bytes
// (elements 0,2,4,6 of the word) and the high nibbles (1,3,5,7) give two int8x4
// registers. A and B are unpacked alike, so the MMA sees the same permutation of k on
// both sides and the dot product is unchanged; it comes out scaled by 256.
__device__ __forceinline__ uint32_t nib_lo(uint32_t w) { return (w << 4) & 0xF0F0F0F0u; }
__device__ __forceinline__ uint32_t nib_hi(uint32_t w) { return w & 0xF0F0F0F0u; }

// Byte offset, in its 128-byte line of the tiled layout (below), of word j's even
// (e = 0) or odd (e = 1) codes for row swizzle sw = r % 8.
__device__ __forceinline__ int tiled_line_offset(int j, int e, int sw) {
  const int jj = j & 15;
  return ((((jj & 3) * 2 + e) ^ sw) << 4) + 4 * (jj >> 2);
}

// One packed word (codes 8j..8j+7 of row r) into the activation codes: the packed
// layout, or the wgmma GEMM's tiles (kernels.h, ActCodes): as 16 * code int8, the
// four even codes to chunk 2b and the four odd ones to chunk 2b + 1 of the row's
// 128-byte line in k-tile j / 16, at byte 4a of the chunk, chunks swizzled by r % 8.
__device__ __forceinline__ void store_tiled_pair(uint8_t* codes, int64_t tile_rows, int64_t r, int j,
                                                 uint32_t even16, uint32_t odd16) {
  const int sw = int(r & 7);
  uint8_t* line = codes + (int64_t(j >> 4) * tile_rows + r) * 128;
  *reinterpret_cast<uint32_t*>(line + tiled_line_offset(j, 0, sw)) = even16;
  *reinterpret_cast<uint32_t*>(line + tiled_line_offset(j, 1, sw)) = odd16;
}
__device__ __forceinline__ void store_act_word(uint8_t* codes, int64_t tile_rows, int64_t row_bytes, int64_t r,
                                               int j, uint32_t w) {
  if (tile_rows == 0) {
    reinterpret_cast<uint32_t*>(codes + r * row_bytes)[j] = w;
    return;
  }
  store_tiled_pair(codes, tile_rows, r, j, nib_lo(w), nib_hi(w));
}
// The same from int8 codes (quant8_sym), without going through nibbles.
__device__ __forceinline__ void store_act_codes(uint8_t* codes, int64_t tile_rows, int64_t row_bytes, int64_t r,
                                                int j, Codes8 c) {
  if (tile_rows == 0) {
    reinterpret_cast<uint32_t*>(codes + r * row_bytes)[j] = packed_word(c);
    return;
  }
  store_tiled_pair(codes, tile_rows, r, j, (c.even << 4) & 0xF0F0F0F0u, (c.odd << 4) & 0xF0F0F0F0u);
}

__device__ __forceinline__ void mma_s8_16832(int (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                             uint32_t a3, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void mma_f16_16816(float (&c)[4], const uint4& a, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b0), "r"(b1));
}

// d += A·B with tf32 operands (fp32 registers whose low 13 mantissa bits the tensor
// cores do not use), fp32 accumulation: a0..a3 = A (g, t), (g + 8, t), (g, t + 4),
// (g + 8, t + 4); b0, b1 = B (t, g), (t + 4, g); d as mma_f16_16816's c.
__device__ __forceinline__ void mma_tf32_1688(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                              uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Four 8x8 b16 matrices from shared memory, transposed: lanes 8i..8i+7 give the row
// addresses of matrix i, whose fragment lands in r[i] (for an mma B operand: rows k,
// 8 contiguous columns n).
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  const uint32_t a = static_cast<uint32_t>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}

__device__ __forceinline__ uint32_t pack_half2(__half lo, __half hi) {
  return uint32_t(__half_as_ushort(lo)) | (uint32_t(__half_as_ushort(hi)) << 16);
}

// Every element of a (nested) register array to zero: the mma accumulators before a
// k-loop.
template <typename T>
__device__ __forceinline__ void zero_fill(T& v) {
  v = T(0);
}
template <typename T, int N>
__device__ __forceinline__ void zero_fill(T (&a)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) zero_fill(a[i]);
}

// ---- memory -------------------------------------------------------------------------

// Streaming 16-byte load that does not pollute L1 (weights are read once).
__device__ __forceinline__ uint4 ldg_stream(const void* p) {
  uint4 r;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
               : "l"(p));
  return r;
}

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, int src_bytes) {
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Eight consecutive values as float; p must be 16-byte aligned.
__device__ __forceinline__ void load8(const float* p, float* v) {
  const float4 a = *reinterpret_cast<const float4*>(p), b = *reinterpret_cast<const float4*>(p + 4);
  v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}
// Eight fp16 values (16 bytes as loaded) as floats.
__device__ __forceinline__ void half8_to_float(const uint4& r, float* v) {
  const uint32_t w[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&w[i]));
    v[2 * i] = f.x;
    v[2 * i + 1] = f.y;
  }
}
__device__ __forceinline__ void load8(const uint16_t* p, float* v) {
  half8_to_float(*reinterpret_cast<const uint4*>(p), v);
}

__device__ __forceinline__ float load_as_float(const float* p) { return *p; }
__device__ __forceinline__ float load_as_float(const uint16_t* p) {
  return __half2float(__ushort_as_half(*p));
}

// In-place Walsh–Hadamard butterflies over the first index of v (N a power of two):
// for each bit of it, (v[i], v[i + bit]) -> (v[i] + v[i + bit], v[i] - v[i + bit]),
// element by element along the second index. Sylvester order, unnormalized.
template <int N, int E>
__device__ __forceinline__ void butterflies(float (&v)[N][E]) {
#pragma unroll
  for (int hb = 1; hb < N; hb <<= 1)
#pragma unroll
    for (int k = 0; k < N; ++k)
      if ((k & hb) == 0)
#pragma unroll
        for (int e = 0; e < E; ++e) {
          const float a = v[k][e], b = v[k + hb][e];
          v[k][e] = a + b;
          v[k + hb][e] = a - b;
        }
}

// The same butterfly across lanes: lane l and lane l ^ mask hold the pair (the lane
// with the mask bit, `upper`, the second element). a + o on the lower lane, o - a on
// the upper: one FMA by ±1, exact like the add.
template <int N, int E>
__device__ __forceinline__ void lane_butterfly(float (&v)[N][E], int mask, bool upper) {
  const float sgn = upper ? -1.f : 1.f;
#pragma unroll
  for (int k = 0; k < N; ++k)
#pragma unroll
    for (int e = 0; e < E; ++e) v[k][e] = fmaf(sgn, v[k][e], __shfl_xor_sync(0xffffffffu, v[k][e], mask));
}

}  // namespace quarot::runner::dev
