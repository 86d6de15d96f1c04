// W4A4 GEMM: packed int4 activations times packed int4 weights on INT8 tensor
// cores (mma.sync m16n8k32, int32 accumulation), scales in the epilogue.
//
// Both operands stay packed in global and shared memory; nibbles become int8 in
// registers right before the MMA (dev::nib_lo / nib_hi, a consistent permutation
// of k on both sides, products scaled by 256). Three kernels:
// - skinny (M <= 32, decode-like): weights are the MMA's A operand (16 output
//   channels per tile), tokens its N = 8 columns; each warp streams a slice of K
//   straight from global memory and the warps of a block reduce through shared
//   memory. Memory-bound on the weights.
// - tiled (the M the skinny kernel does not take, where the wgmma kernel is not
//   available or turned off): a classic cp.async multi-stage pipeline, BM x BN x
//   128 tiles, activations as A and weights as B.
// - wgmma (gemm_wgmma.cu, sm_90a, M > 16 past the skinny kernel): warpgroup MMA;
//   it reads activations that the quantizer wrote in the tiled int8 layout
//   (kernels.h, ActCodes).
// GEMMs are launched with programmatic dependent launch (PDL) so that they can
// start streaming weights while the quantization kernel before them finishes.
#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "lib/core/error.h"
#include "lib/runner/cuda_check.h"
#include "lib/runner/device_common.cuh"
#include "lib/runner/gemm_common.cuh"
#include "lib/runner/kernels.h"
#include "lib/runner/launch_util.h"

namespace quarot::runner {
namespace {

using dev::nib_hi;
using dev::nib_lo;

using gemm::Params;
using gemm::pdl_wait;
using gemm::store_one;
using gemm::store_pair;
using gemm::store_swiglu;
using gemm::word_of;

// ---- tiled ----------------------------------------------------------------------

constexpr int kRowBytes = 64;  // BK = 128 int4 elements per stage

template <int BM, int BN, int WARPS_M, int WARPS_N, int STAGES>
struct TiledConfig {
  static constexpr int kThreads = WARPS_M * WARPS_N * 32;
  static constexpr int kWarpM = BM / WARPS_M, kWarpN = BN / WARPS_N;
  static constexpr int MT = kWarpM / 16, NT = kWarpN / 8;
  static constexpr int kStageBytes = (BM + BN) * kRowBytes;
  static constexpr int kSmem = STAGES * kStageBytes;
  static_assert(MT >= 1 && NT >= 2 && NT % 2 == 0, "warp tile must pair n8 tiles for SwiGLU");
};

template <int BM, int BN, int WARPS_M, int WARPS_N, int STAGES>
__global__ void __launch_bounds__(WARPS_M * WARPS_N * 32) gemm_tiled_kernel(Params p) {
  using C = TiledConfig<BM, BN, WARPS_M, WARPS_N, STAGES>;
  extern __shared__ __align__(16) uint8_t smem[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int wm = warp / WARPS_N, wn = warp % WARPS_N;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int kbytes = p.K / 2, ktiles = (kbytes + kRowBytes - 1) / kRowBytes;
  const int64_t wkt = gemm::wtile_ktiles(p.K);

  // which: 0 both operands, 1 weights only, 2 activations only.
  auto load_stage = [&](int slot, int kt, int which) {
    uint8_t* sa = smem + slot * C::kStageBytes;
    uint8_t* sb = sa + BM * kRowBytes;
    const int kb = kt * kRowBytes;
    for (int c = threadIdx.x; c < (BM + BN) * 4; c += C::kThreads) {
      const bool is_a = c < BM * 4;
      if ((which == 1 && is_a) || (which == 2 && !is_a)) continue;
      const int r = is_a ? c >> 2 : (c - BM * 4) >> 2, part = c & 3;
      const int kk = kb + part * 16;
      const int grow = (is_a ? m0 : n0) + r;
      // Weights: the GEMM layout, zero-padded to 32 rows (so rows up to the padded N
      // read zeros from memory; rows past it are zero-filled here).
      const bool ok = kk < kbytes && grow < (is_a ? p.M : (p.N + 31) / 32 * 32);
      const uint8_t* src = !ok ? (is_a ? p.a : p.w)
                           : is_a ? p.a + int64_t(grow) * kbytes + kk
                                  : p.w + gemm::wtile_offset(grow, kk, wkt);
      dev::cp_async16((is_a ? sa : sb) + r * kRowBytes + part * 16, src, ok ? 16 : 0);
    }
  };

  int acc[C::MT][C::NT][4];
#pragma unroll
  for (int i = 0; i < C::MT; ++i)
#pragma unroll
    for (int j = 0; j < C::NT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0;

  // Weights first (independent of the previous kernel), then wait for the activations.
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s)
    if (s < ktiles) load_stage(s, s, 1);
  pdl_wait();
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < ktiles) load_stage(s, s, 2);
    dev::cp_async_commit();
  }

  for (int kt = 0; kt < ktiles; ++kt) {
    dev::cp_async_wait<STAGES - 2>();
    __syncthreads();  // stage kt landed for all threads; stage kt-1 fully consumed
    const int pre = kt + STAGES - 1;
    if (pre < ktiles) load_stage(pre % STAGES, pre, 0);
    dev::cp_async_commit();

    const uint8_t* sa = smem + (kt % STAGES) * C::kStageBytes;
    const uint8_t* sb = sa + BM * kRowBytes;
    uint4 af[C::MT][2], bf[C::NT];
#pragma unroll
    for (int i = 0; i < C::MT; ++i) {
      const int r = wm * C::kWarpM + 16 * i + g;
      af[i][0] = *reinterpret_cast<const uint4*>(sa + r * kRowBytes + t * 16);
      af[i][1] = *reinterpret_cast<const uint4*>(sa + (r + 8) * kRowBytes + t * 16);
    }
#pragma unroll
    for (int j = 0; j < C::NT; ++j) {
      const int r = wn * C::kWarpN + 8 * j + g;
      bf[j] = *reinterpret_cast<const uint4*>(sb + r * kRowBytes + t * 16);
    }
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      uint32_t b[C::NT][2];
#pragma unroll
      for (int j = 0; j < C::NT; ++j) {
        const uint32_t x = word_of(bf[j], c);
        b[j][0] = nib_lo(x);
        b[j][1] = nib_hi(x);
      }
#pragma unroll
      for (int i = 0; i < C::MT; ++i) {
        const uint32_t x0 = word_of(af[i][0], c), x1 = word_of(af[i][1], c);
        const uint32_t a0 = nib_lo(x0), a1 = nib_lo(x1), a2 = nib_hi(x0), a3 = nib_hi(x1);
#pragma unroll
        for (int j = 0; j < C::NT; ++j) dev::mma_s8_16832(acc[i][j], a0, a1, a2, a3, b[j][0], b[j][1]);
      }
    }
  }
  dev::cp_async_wait<0>();

  // C fragment: c0/c1 = (row g, cols 2t, 2t+1), c2/c3 = row g + 8.
#pragma unroll
  for (int i = 0; i < C::MT; ++i) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int m = m0 + wm * C::kWarpM + 16 * i + 8 * h + g;
      if (m >= p.M) continue;
#pragma unroll
      for (int j = 0; j < C::NT; ++j) {
        const int n = n0 + wn * C::kWarpN + 8 * j + 2 * t;
        if (p.mode == int(OutMode::SwiGLU)) {
          // n8 tiles 2j' (gate rows) and 2j'+1 (their up rows) sit in this thread.
          if (j % 2 == 0 && n < p.N) {
            store_swiglu(p, m, n, acc[i][j][2 * h], acc[i][j + 1][2 * h]);
            store_swiglu(p, m, n + 1, acc[i][j][2 * h + 1], acc[i][j + 1][2 * h + 1]);
          }
        } else if (n < p.N) {
          store_pair(p, m, n, acc[i][j][2 * h], acc[i][j][2 * h + 1]);
        }
      }
    }
  }
}

template <int BM, int BN, int WARPS_M, int WARPS_N, int STAGES>
void launch_tiled(const Params& p, cudaStream_t stream) {
  using C = TiledConfig<BM, BN, WARPS_M, WARPS_N, STAGES>;
  auto* kernel = gemm_tiled_kernel<BM, BN, WARPS_M, WARPS_N, STAGES>;
  ensure_dynamic_smem(kernel, C::kSmem);
  const dim3 grid((p.N + BN - 1) / BN, (p.M + BM - 1) / BM);
  gemm::launch_pdl(kernel, grid, dim3(C::kThreads), C::kSmem, stream, p);
}

enum class TileChoice { Skinny, T128x128, T64x128, T64x64 };

std::atomic<int>& wgmma_policy() {
  static std::atomic<int> policy{[] {
    const char* v = std::getenv("QUAROT_RUNNER_WGMMA");
    if (v != nullptr && std::strcmp(v, "0") == 0) return int(WgmmaPolicy::Never);
    if (v != nullptr && std::strcmp(v, "1") == 0) return int(WgmmaPolicy::Always);
    return int(WgmmaPolicy::Auto);
  }()};
  return policy;
}

// The wgmma block shape (WgmmaTile); QUAROT_RUNNER_WGMMA_TILE=256x128, 128x128,
// 128x64 or 64x64 sets it.
std::atomic<int>& wgmma_tile() {
  static std::atomic<int> tile{[] {
    const char* v = std::getenv("QUAROT_RUNNER_WGMMA_TILE");
    const std::string s = v != nullptr ? v : "";
    if (s == "256x128") return int(WgmmaTile::C256x128);
    if (s == "128x128") return int(WgmmaTile::C128x128);
    if (s == "128x64") return int(WgmmaTile::C128x64);
    if (s == "64x64") return int(WgmmaTile::C64x64);
    return int(WgmmaTile::Auto);
  }()};
  return tile;
}

int64_t tile_count(int M, int N, int bm, int bn) { return int64_t((M + bm - 1) / bm) * ((N + bn - 1) / bn); }

// Auto's choice of the skinny kernel: always up to 16 tokens; up to kSkinnyMaxRows
// while its 32-channel blocks fit in one wave (one block per SM from 17 tokens on,
// for registers). Past one wave the wgmma kernel was faster from 17 tokens on
// (4096 -> 11008 at M = 17: 20.7 us against 16.4 on 128 x 64 blocks, 13.0 on 64 x
// 64), within it the skinny one (4096 -> 4096 at M = 32: 10.1 vs 16.0 us on 128 x
// 64 blocks). With 8 token tiles (M <= 64) it lost to the 64 x 64 blocks on
// 4096 -> 4096 (14.5 vs 11.7 us) and won on 11008 -> 4096 (25.0 vs 27.4): dropped.
// NOTES.md, history 19.
bool skinny_auto(int M, int N) {
  return M <= 16 || (M <= kSkinnyMaxRows && (int64_t(N) + 31) / 32 <= device_sm_count());
}

// The kernels that read packed activations.
TileChoice choose(int M, int N, GemmPath path) {
  if (path == GemmPath::Skinny || (path == GemmPath::Auto && skinny_auto(M, N))) return TileChoice::Skinny;
  const int64_t sms = device_sm_count();
  auto blocks = [&](int bm, int bn) { return tile_count(M, N, bm, bn); };
  if (blocks(128, 128) >= 2 * sms) return TileChoice::T128x128;
  if (blocks(64, 128) >= sms) return TileChoice::T64x128;
  return TileChoice::T64x64;
}

}  // namespace

namespace detail {
bool pdl_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("QUAROT_RUNNER_PDL");
    return !(v != nullptr && std::strcmp(v, "0") == 0);
  }();
  return on;
}
}  // namespace detail

size_t w4a4_weight_bytes(int N, int K) {
  return size_t((int64_t(N) + 31) / 32) * size_t(gemm::wtile_ktiles(K)) * 2048;
}

void w4a4_tile_weights(const uint8_t* packed, int N, int K, uint8_t* out) {
  QUAROT_CHECK(N >= 0 && K >= 0 && K % 2 == 0, "w4a4_tile_weights: N = ", N, ", K = ", K, " (K must be even)");
  std::memset(out, 0, w4a4_weight_bytes(N, K));
  const int64_t kt = gemm::wtile_ktiles(K), rb = K / 2;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t kb = 0; kb < rb; kb += 64)
      std::memcpy(out + gemm::wtile_offset(n, kb, kt), packed + n * rb + kb, size_t(std::min<int64_t>(64, rb - kb)));
}

int64_t w4a4_act_tile_rows(int M, int N, int K) {
  // With its 128 x 64 blocks the wgmma kernel is 1.5-3x faster than the mma.sync
  // tiled one for every Llama-2/3 shape measured at M = 32 ... 1024 (NOTES.md,
  // history 19): Auto takes it for every M > 16 the skinny kernel does not take,
  // Always for every M > 16.
  const auto policy = WgmmaPolicy(wgmma_policy().load());
  if (M <= 16 || K % 32 != 0 || policy == WgmmaPolicy::Never || !detail::wgmma_supported()) return 0;
  if (policy == WgmmaPolicy::Auto && skinny_auto(M, N)) return 0;
  return (int64_t(M) + 127) / 128 * 128;
}

size_t w4a4_gemm_workspace_bytes(int M, int N, int K) {
  if (M <= 0 || !detail::wgmma_supported()) return 0;
  const WgmmaBlock b = w4a4_wgmma_block(M, N);
  return b.channels == 128 && b.tokens == 128 ? detail::wgmma_tail_workspace_bytes(M, N, K) : 0;
}

void set_wgmma_policy(WgmmaPolicy policy) { wgmma_policy().store(int(policy)); }
void set_wgmma_tile(WgmmaTile tile) { wgmma_tile().store(int(tile)); }

WgmmaBlock w4a4_wgmma_block(int M, int N) {
  switch (WgmmaTile(wgmma_tile().load())) {
    case WgmmaTile::C256x128: return {256, 128};
    case WgmmaTile::C128x128: return {128, 128};
    case WgmmaTile::C128x64: return {128, 64};
    case WgmmaTile::C64x64: return {64, 64};
    case WgmmaTile::Auto: break;
  }
  // Two blocks per SM. 64-token blocks while they fit in one such wave (more SMs
  // busy when M is a few hundred), else 128 tokens (half the weight traffic per
  // token); 64 channels too where 128 x 64 blocks would not give every SM one. The
  // 256 x 128 block (one per SM) measured 5-7% slower than 128 x 128 on every large
  // shape (NOTES.md, history 19).
  const int64_t sms = device_sm_count(), blocks64 = tile_count(M, N, 64, 128);
  if (blocks64 <= sms) return {64, 64};
  if (blocks64 <= 2 * sms) return {128, 64};
  return {128, 128};
}

const char* w4a4_gemm_path_name(int M, int N, int K) {
  if (w4a4_act_tile_rows(M, N, K) > 0) {
    const WgmmaBlock b = w4a4_wgmma_block(M, N);
    if (b.channels == 256) return "wgmma256x128";
    if (b.channels == 64) return "wgmma64x64";
    return b.tokens == 128 ? "wgmma128x128" : "wgmma128x64";
  }
  switch (choose(M, N, GemmPath::Auto)) {
    case TileChoice::Skinny: return "skinny";
    case TileChoice::T128x128: return "tiled128x128";
    case TileChoice::T64x128: return "tiled64x128";
    case TileChoice::T64x64: return "tiled64x64";
  }
  return "?";
}

bool w4a4_wgmma_available() { return detail::wgmma_supported(); }

void w4a4_gemm(const GemmArgs& g, cudaStream_t stream, GemmPath path) {
  QUAROT_CHECK(g.K > 0 && g.K % 32 == 0 && g.K <= 131072, "w4a4_gemm: K = ", g.K,
               " must be a positive multiple of 32, at most 131072");
  QUAROT_CHECK(g.N > 0 && g.N % 16 == 0, "w4a4_gemm: N = ", g.N, " must be a positive multiple of 16");
  QUAROT_CHECK(g.M >= 0, "w4a4_gemm: M = ", g.M);
  QUAROT_CHECK(path != GemmPath::Skinny || g.M <= kSkinnyMaxRows, "w4a4_gemm: the skinny path takes M <= ",
               kSkinnyMaxRows, ", got ", g.M);
  QUAROT_CHECK(path != GemmPath::Wgmma || detail::wgmma_supported(),
               "w4a4_gemm: the wgmma path needs an sm_90 GPU (H100/H200)");
  QUAROT_CHECK((g.a_tile_rows > 0) == (path == GemmPath::Wgmma) || (g.a_tile_rows > 0 && path == GemmPath::Auto),
               "w4a4_gemm: tiled activations (a_tile_rows = ", g.a_tile_rows,
               ") go with the wgmma path and only with it, got path ", int(path));
  QUAROT_CHECK(g.a_tile_rows == 0 || (g.a_tile_rows >= g.M && g.a_tile_rows % 128 == 0), "w4a4_gemm: a_tile_rows ",
               g.a_tile_rows, " must be a multiple of 128 and at least M = ", g.M);
  QUAROT_CHECK(g.a_tile_rows == 0 || detail::wgmma_supported(),
               "w4a4_gemm: tiled activations need the wgmma kernel, i.e. an sm_90 GPU (H100/H200)");
  QUAROT_CHECK(g.ldo >= (g.mode == OutMode::SwiGLU ? g.N / 2 : g.N), "w4a4_gemm: ldo = ", g.ldo,
               " is smaller than the output width");
  QUAROT_CHECK(g.workspace == nullptr || g.workspace_bytes >= w4a4_gemm_workspace_bytes(g.M, g.N, g.K),
               "w4a4_gemm: workspace_bytes ", g.workspace_bytes, " < w4a4_gemm_workspace_bytes = ",
               w4a4_gemm_workspace_bytes(g.M, g.N, g.K));
  if (g.M == 0) return;
  const Params p{g.a, g.a_tile_rows, g.a_scale, g.w, g.w_scale, g.bias, g.out, g.ldo, g.M, g.N, g.K, int(g.mode),
                 g.workspace, g.workspace_bytes};
  if (g.a_tile_rows > 0) {
    const WgmmaBlock b = w4a4_wgmma_block(g.M, g.N);
    detail::launch_gemm_wgmma(p, b.channels, b.tokens, stream);
    return;
  }
  switch (choose(g.M, g.N, path)) {
    case TileChoice::Skinny: detail::launch_skinny(p, g.slow_producer, stream); break;
    case TileChoice::T128x128: launch_tiled<128, 128, 2, 4, 4>(p, stream); break;
    case TileChoice::T64x128: launch_tiled<64, 128, 1, 4, 4>(p, stream); break;
    case TileChoice::T64x64: launch_tiled<64, 64, 2, 2, 4>(p, stream); break;
  }
}

}  // namespace quarot::runner
