// The online Hadamard across 32 heads of 128 (o_proj's input in Llama-2-7B and
// Llama-3-8B) + activation quantization of fp16 rows, the transform as a 32-point
// Walsh–Hadamard: for many rows a warp a row, in registers; for few rows a block a
// row (below). Between the two (65-511 rows) the mix kernel stays.
//
// Why a kernel of its own: across heads the mix kernel (hadamard_mix.cu) multiplies
// each row by a 32 x 32 ±1 matrix on tensor cores, with ldmatrix reads of the row
// from shared memory, a block barrier for the row maximum and an image of the codes;
// for 2048 rows it took 13.7 us, against 8.2 for the row quantizer moving the same
// bytes (NOTES.md history 29). Here lane c + 16·hg loads chunk c (8 columns) of each
// head h = 16·hg + k, k < 16: 16 loads of 16 bytes, the two half-warps reading two
// heads' 256 contiguous bytes per load. The heads index's bits 0-3 are the lane's k
// (butterflies in registers), bit 4 its half-warp (one shuffle per value). The sums
// are fp32 additions of fp16 values, the codes the mix kernel's formula
// (RN(sum · norm / s), s from the row maximum of the raw sums); the sums differ from
// the mix kernel's by fp32 reassociation only. The row maximum is a warp reduction:
// no block barrier, no shared memory.
#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "lib/runner/cuda_check.h"
#include "lib/runner/device_common.cuh"
#include "lib/runner/gemm_common.cuh"
#include "lib/runner/hadamard_mix.h"

namespace quarot::runner::detail {
namespace {

constexpr int kHeads = 32, kHeadDim = 128;
constexpr int kChunksPerHead = kHeadDim / 8;  // 16: a half-warp's lanes
constexpr int kHeadsPerLane = kHeads / 2;      // 16: bits 0-3 of the head index
constexpr int kWarps = 4;                      // rows in flight per block
constexpr int64_t kRowBytes = kHeads * kHeadDim / 2;  // a row of codes, packed layout
// Fewer rows go to the kernels below, which split a row over several warps (a warp a
// row is one row's latency chain: o_proj's linear at M = 1 5.24 -> 6.10 us against
// the mix kernel, at 16 6.47 -> 7.55). The whole linear is the same at 256-384 rows
// either way and faster here from 512 (22.5 -> 21.9 us; NOTES.md history 29).
constexpr int kMinRows = 512;

// The mix kernel's code formula for one chunk of 8 transformed sums: RN(sum · k_code)
// clamped to [lo, hi], k_code = norm / s.
__device__ __forceinline__ dev::Codes8 chunk_codes(const float (&v)[8], float k_code, float lo, float hi) {
  uint32_t b[8];
#pragma unroll
  for (int e = 0; e < 8; ++e) b[e] = dev::clamp_round_bits(v[e] * k_code, lo, hi);
  return {dev::low_bytes(b[0], b[2], b[4], b[6]), dev::low_bytes(b[1], b[3], b[5], b[7])};
}

__global__ void __launch_bounds__(32 * kWarps)
    heads_wht_quant_kernel(const uint16_t* __restrict__ x, int64_t ldx, int M, float norm, int maxq,
                           float c_over_maxq, ActCodes codes, float* __restrict__ scale) {
  gemm::pdl_trigger();  // the GEMM after this kernel may start streaming its weights
  gemm::pdl_wait();     // the rows are the previous kernel's output
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, c = lane & 15, hg = lane >> 4;
  const float lo = float(-(maxq + 1)), hi = float(maxq);
  for (int64_t r = int64_t(blockIdx.x) * kWarps + warp; r < M; r += int64_t(gridDim.x) * kWarps) {
    const uint16_t* xr = x + r * ldx + (kHeadsPerLane * hg * kChunksPerHead + c) * 8;
    uint4 raw[kHeadsPerLane];
#pragma unroll
    for (int k = 0; k < kHeadsPerLane; ++k) raw[k] = __ldg(reinterpret_cast<const uint4*>(xr + k * kHeadDim));
    float v[kHeadsPerLane][8];
#pragma unroll
    for (int k = 0; k < kHeadsPerLane; ++k) dev::half8_to_float(raw[k], v[k]);
    dev::butterflies(v);  // bits 0-3 of the head index: the lane's k
    // Bit 4: heads h and h + 16 sit in lanes c and c + 16 (dev::lane_butterfly's step,
    // written out here so that the row maximum is taken in the same pass).
    const float sgn = hg ? -1.f : 1.f;
    float amax = 0.f;
#pragma unroll
    for (int k = 0; k < kHeadsPerLane; ++k)
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        v[k][e] = fmaf(sgn, v[k][e], __shfl_xor_sync(0xffffffffu, v[k][e], 16));
        amax = fmaxf(amax, fabsf(v[k][e]));
      }
    // Rounding is monotone, so max |RN(sum · norm)| = RN(max |sum| · norm): the
    // scale of the normalized values (as in the mix kernel).
    amax = dev::warp_max(amax);
    const float s = dev::sym_scale(amax * norm, c_over_maxq), k_code = norm / s;
#pragma unroll
    for (int k = 0; k < kHeadsPerLane; ++k)
      dev::store_act_codes(codes.data, codes.tile_rows, kRowBytes, r, (kHeadsPerLane * hg + k) * kChunksPerHead + c,
                           chunk_codes(v[k], k_code, lo, hi));
    if (lane == 0) scale[r] = s;
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

enum class Pick { Mix, Block, Warp };

// Which kernel takes M rows. QUAROT_RUNNER_HEADS_WHT=0: the mix kernel for every M;
// 1: the warp-a-row kernel for every M; unset: the block-a-row kernel up to
// kSmallMaxRows rows, the warp-a-row kernel from kMinRows, the mix kernel between.
Pick pick(int M) {
  static const char* const forced = std::getenv("QUAROT_RUNNER_HEADS_WHT");
  if (forced != nullptr && std::strcmp(forced, "0") == 0) return Pick::Mix;
  if (forced != nullptr && std::strcmp(forced, "1") == 0) return Pick::Warp;
  if (M <= kSmallMaxRows) return Pick::Block;
  return M >= kMinRows ? Pick::Warp : Pick::Mix;
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
  static std::atomic<int> per_sm{0};  // blocks an SM, asked once (single device)
  if (per_sm.load() == 0) {
    int n = 0;
    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, heads_wht_quant_kernel, 32 * kWarps, 0));
    per_sm.store(std::max(n, 1));
  }
  const int64_t blocks = (int64_t(a.M) + kWarps - 1) / kWarps;
  const int grid = int(std::min<int64_t>(blocks, int64_t(per_sm.load()) * device_sm_count()));
  gemm::launch_pdl(heads_wht_quant_kernel, dim3(grid), dim3(32 * kWarps), 0, stream, a.x, a.ldx, a.M, a.norm,
                   a.maxq, a.c_over_maxq, a.codes, a.scale);
}

}  // namespace quarot::runner::detail
