// The W4A4 GEMM: integer results exact, epilogues against float64.
#include <cmath>

#include "lib/io/dtype.h"
#include "lib/runner/kernels.h"
#include "tests/runner/gpu/gpu_test_util.h"

using namespace quarot::runner;
using namespace quarot::runner::testing;

namespace {

struct Problem {
  int M, N, K;
  std::vector<uint8_t> a, w;  // packed codes
  std::vector<float> sa, sw, bias;
  std::vector<int64_t> dot;   // exact reference [M, N]
};

// Codes at the ends of their range instead of random ones: Max, every code -8 (the
// largest products, 64 each), to prove that the int32 and the 16-bit partial sums
// hold; Min, activations -8 against weights 7 (the most negative products, -56).
enum class Extreme { None, Max, Min };

Problem make(std::mt19937_64& rng, int M, int N, int K, Extreme extreme) {
  Problem p{M, N, K, {}, {}, {}, {}, {}, {}};
  p.a.resize(size_t(M) * K / 2);
  p.w.resize(size_t(N) * K / 2);
  for (auto& b : p.a) b = extreme != Extreme::None ? 0x88 : uint8_t(rng());
  for (auto& b : p.w) b = extreme == Extreme::Max ? 0x88 : extreme == Extreme::Min ? 0x77 : uint8_t(rng());
  std::uniform_real_distribution<float> sd(1e-3f, 1e-1f), bd(-2.f, 2.f);
  p.sa.resize(static_cast<size_t>(M));
  p.sw.resize(static_cast<size_t>(N));
  p.bias.resize(static_cast<size_t>(N));
  for (auto& v : p.sa) v = sd(rng);
  for (auto& v : p.sw) v = sd(rng);
  for (auto& v : p.bias) v = bd(rng);
  std::vector<int8_t> ac(size_t(M) * K), wc(size_t(N) * K);
  for (size_t i = 0; i < ac.size(); ++i) ac[i] = int8_t(nibble_signed(p.a[i / 2], int(i & 1)));
  for (size_t i = 0; i < wc.size(); ++i) wc[i] = int8_t(nibble_signed(p.w[i / 2], int(i & 1)));
  p.dot.assign(size_t(M) * N, 0);
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      int64_t s = 0;
      const int8_t* x = &ac[size_t(m) * K];
      const int8_t* y = &wc[size_t(n) * K];
      for (int k = 0; k < K; ++k) s += int64_t(x[k]) * y[k];
      p.dot[size_t(m) * N + n] = s;
    }
  return p;
}

double ref_value(const Problem& p, int m, int n, bool bias) {
  return double(p.dot[size_t(m) * p.N + n]) * p.sa[size_t(m)] * p.sw[size_t(n)] + (bias ? p.bias[size_t(n)] : 0.0);
}

void run_case(std::mt19937_64& rng, int M, int N, int K, GemmPath path, Extreme extreme = Extreme::None,
              bool slow_producer = false) {
  INFO("M " << M << " N " << N << " K " << K << " path " << int(path) << " slow_producer " << slow_producer);
  const Problem p = make(rng, M, N, K, extreme);
  // The wgmma kernel reads the tiled int8 layout; the bytes no code maps to (rows
  // past M, columns past K) are random, so that any leak of them into a stored
  // result shows.
  const int64_t tile_rows = path == GemmPath::Wgmma ? (M + 127) / 128 * 128 : 0;
  auto da = to_device(tile_rows > 0 ? act_tiles_from_packed(p.a, M, K, tile_rows, [&] { return rng(); }) : p.a);
  std::vector<uint8_t> wt(w4a4_weight_bytes(N, K));
  w4a4_tile_weights(p.w.data(), N, K, wt.data());
  auto dw = to_device(wt);
  auto dsa = to_device(p.sa), dsw = to_device(p.sw), dbias = to_device(p.bias);
  GemmArgs g;
  g.a = da.get();
  g.a_tile_rows = tile_rows;
  g.a_scale = dsa.get();
  g.w = dw.get();
  g.w_scale = dsw.get();
  g.M = M;
  g.N = N;
  g.K = K;
  g.slow_producer = slow_producer;
  // The wgmma kernel's tail split needs its workspace, zeroed once (every launch below
  // reuses it).
  DeviceBuffer<uint8_t> ws(path == GemmPath::Wgmma ? w4a4_gemm_workspace_bytes(M, N, K) : 0);
  ws.fill_bytes(0);
  g.workspace = ws.get();
  g.workspace_bytes = ws.bytes();

  // Exact integer products.
  {
    DeviceBuffer<int32_t> o(size_t(M) * N);
    g.out = o.get();
    g.ldo = N;
    g.mode = OutMode::I32;
    run_poisoned([&] { w4a4_gemm(g, nullptr, path); }, {out(o)});
    const std::vector<int32_t> got = to_host(o);
    size_t bad = 0;
    for (size_t i = 0; i < got.size(); ++i) bad += int64_t(got[i]) != p.dot[i];
    REQUIRE(bad == 0);
  }
  // float out with bias, output row stride wider than N: aligned for 16-byte
  // stores (and the wgmma kernel's bulk copies), then not.
  for (const int pad : {16, 3}) {
    INFO("ldo = N + " << pad);
    const int ldo = N + pad;
    DeviceBuffer<float> o(size_t(M) * ldo);
    g.out = o.get();
    g.ldo = ldo;
    g.bias = dbias.get();
    g.mode = OutMode::F32;
    REQUIRE(cudaMemset(o.get(), 0, o.bytes()) == cudaSuccess);
    w4a4_gemm(g, nullptr, path);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    const std::vector<float> got = to_host(o);
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n) {
        const double r = ref_value(p, m, n, true);
        const double mag = std::abs(ref_value(p, m, n, false)) + std::abs(p.bias[size_t(n)]);
        REQUIRE(std::abs(got[size_t(m) * ldo + n] - r) <= 1e-6 * mag + 1e-30);
      }
    for (int m = 0; m < M; ++m)  // the padding columns stay untouched
      for (int n = N; n < ldo; ++n) REQUIRE(got[size_t(m) * ldo + n] == 0.f);
  }
  // fp16 out, no bias.
  {
    DeviceBuffer<uint16_t> o(size_t(M) * N);
    g.out = o.get();
    g.ldo = N;
    g.bias = nullptr;
    g.mode = OutMode::F16;
    run_poisoned([&] { w4a4_gemm(g, nullptr, path); }, {out(o)});
    const std::vector<uint16_t> got = to_host(o);
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n) {
        const double r = ref_value(p, m, n, false);
        REQUIRE(std::abs(quarot::fp16_to_float(got[size_t(m) * N + n]) - r) <= 1e-3 * std::abs(r) + 1e-6);
      }
  }
  // Residual add.
  {
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> h(size_t(M) * N);
    for (auto& v : h) v = nd(rng);
    auto dh = to_device(h);
    g.out = dh.get();
    g.ldo = N;
    g.bias = dbias.get();
    g.mode = OutMode::AddF32;
    w4a4_gemm(g, nullptr, path);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    const std::vector<float> got = to_host(dh);
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n) {
        const double r = h[size_t(m) * N + n] + ref_value(p, m, n, true);
        const double mag = std::abs(h[size_t(m) * N + n]) + std::abs(ref_value(p, m, n, false)) + std::abs(p.bias[size_t(n)]);
        REQUIRE(std::abs(got[size_t(m) * N + n] - r) <= 1e-6 * mag);
      }
  }
  // SwiGLU: rows interleaved as blocks of 8 gate rows then 8 up rows.
  {
    const int I = N / 2;
    DeviceBuffer<float> o(size_t(M) * I);
    g.out = o.get();
    g.ldo = I;
    g.bias = dbias.get();
    g.mode = OutMode::SwiGLU;
    run_poisoned([&] { w4a4_gemm(g, nullptr, path); }, {out(o)});
    const std::vector<float> got = to_host(o);
    for (int m = 0; m < M; ++m)
      for (int r = 0; r < N; ++r) {
        const int64_t src = interleaved_gate_up_source(r, I);
        if (src >= I) continue;  // an up row
        const int up_row = r + 8;
        REQUIRE(interleaved_gate_up_source(up_row, I) == src + I);
        const double gv = ref_value(p, m, r, true), uv = ref_value(p, m, up_row, true);
        const double ref = gv / (1.0 + std::exp(-gv)) * uv;
        const double mag = (std::abs(ref_value(p, m, r, false)) + std::abs(p.bias[size_t(r)]) + 1e-3) *
                           (std::abs(ref_value(p, m, up_row, false)) + std::abs(p.bias[size_t(up_row)]) + 1e-3);
        REQUIRE(std::abs(got[size_t(m) * I + src] - ref) <= 4e-6 * mag);
      }
  }
}

}  // namespace

TEST_CASE("w4a4_gemm skinny path (M <= 32)", "[gpu][gemm]") {
  require_gpu();
  auto rng = rng_for("gemm_skinny");
  run_case(rng, 1, 64, 128, GemmPath::Skinny);
  run_case(rng, 5, 48, 96, GemmPath::Skinny);    // K tail inside one 128-wide step
  run_case(rng, 8, 272, 1376, GemmPath::Skinny); // N not a multiple of the 32-row block
  run_case(rng, 9, 128, 4096, GemmPath::Skinny);
  run_case(rng, 16, 4096, 4096, GemmPath::Skinny);
  run_case(rng, 3, 64, 11008, GemmPath::Skinny);
  run_case(rng, 16, 32, 14336, GemmPath::Skinny, Extreme::Max);
  run_case(rng, 4, 4352, 1376, GemmPath::Skinny);   // 136 block rows, more than SMs: half-row blocks
  run_case(rng, 1, 6144, 4096, GemmPath::Skinny);   // Llama-3's fused qkv: 192 block rows, half a row a block
  run_case(rng, 10, 4368, 1376, GemmPath::Skinny);  // 137 block rows, the last one half past N: 273 half-row blocks
  run_case(rng, 6, 8704, 1376, GemmPath::Skinny);   // 272 blocks, past two an SM: two register stages
  run_case(rng, 12, 8192, 512, GemmPath::Skinny);   // 256 blocks: two register stages
  run_case(rng, 14, 13312, 256, GemmPath::Skinny);  // 416 blocks, past three an SM: 208 of 64 rows
  run_case(rng, 15, 13344, 256, GemmPath::Skinny);  // 417, N % 64 == 32: 32 rows, three stages
  // The 16-bit partial sums of 9-16 tokens (skinny::Partials16) at their bound, 512
  // products a warp of the largest magnitude of either sign; past it (K = 8320) the
  // int32 ones.
  run_case(rng, 16, 4096, 8192, GemmPath::Skinny, Extreme::Max);  // one wave: 16 warps of 4 steps
  run_case(rng, 9, 4096, 8192, GemmPath::Skinny, Extreme::Min);
  run_case(rng, 12, 4096, 8320, GemmPath::Skinny, Extreme::Max);
  run_case(rng, 11, 6144, 4096, GemmPath::Skinny, Extreme::Max);  // half-row blocks: 8 warps of 4 steps
  run_case(rng, 13, 6144, 4096, GemmPath::Skinny, Extreme::Min);
  // 4 token tiles (M up to 32).
  run_case(rng, 17, 272, 1376, GemmPath::Skinny);
  run_case(rng, 32, 4096, 4096, GemmPath::Skinny);
  run_case(rng, 24, 128, 11008, GemmPath::Skinny);
  run_case(rng, 31, 4352, 1376, GemmPath::Skinny);
  run_case(rng, 20, 32, 14336, GemmPath::Skinny, Extreme::Max);
  REQUIRE(std::string(w4a4_gemm_path_name(32, 4096, 4096)) == "skinny");
  REQUIRE(w4a4_act_tile_rows(32, 4096, 4096) == 0);
  REQUIRE(std::string(w4a4_gemm_path_name(33, 4096, 4096)) == "wgmma64x64");
  // Past one wave of its blocks (11008 / 32 = 344 > 132 SMs) only up to 16 tokens.
  REQUIRE(std::string(w4a4_gemm_path_name(16, 11008, 4096)) == "skinny");
  REQUIRE(std::string(w4a4_gemm_path_name(32, 11008, 4096)) == "wgmma64x64");
  REQUIRE(std::string(w4a4_gemm_path_name(256, 11008, 4096)) == "wgmma128x128");
}

// The hint that the kernel before is long: up to 16 tokens on a grid of one block an
// SM whose weight run fits in shared memory, the kernel with that run staged there.
TEST_CASE("w4a4_gemm skinny path, weights staged in shared memory", "[gpu][gemm]") {
  require_gpu();
  auto rng = rng_for("gemm_skinny_staged");
  const auto staged = [&](int M, int N, int K, Extreme extreme = Extreme::None) {
    run_case(rng, M, N, K, GemmPath::Skinny, extreme, /*slow_producer=*/true);
  };
  staged(1, 64, 128);
  staged(5, 48, 96);     // K tail inside one 128-wide step; fewer steps than warps
  staged(8, 272, 1376);  // N not a multiple of the 32-row block
  staged(9, 128, 4096);
  staged(16, 4096, 4096);
  staged(1, 4096, 11008);                   // Llama-2 down_proj: 172 KB a block
  staged(16, 32, 14336, Extreme::Max);  // 224 KB a block, seven steps a warp
  staged(8, 64, 14336, Extreme::Max);   // up to 8 tokens: all seven steps' codes loaded at once
  // Where it does not apply the register kernels run: more blocks than SMs, M > 16,
  // and a run past shared memory (K = 16384: 256 KB).
  staged(4, 4352, 1376);
  staged(20, 128, 4096);
  staged(2, 64, 16384);
}

TEST_CASE("w4a4_gemm tiled path", "[gpu][gemm]") {
  require_gpu();
  auto rng = rng_for("gemm_tiled");
  run_case(rng, 1, 64, 128, GemmPath::Tiled);
  run_case(rng, 16, 80, 96, GemmPath::Tiled);
  run_case(rng, 17, 272, 1376, GemmPath::Tiled);
  run_case(rng, 130, 96, 4096, GemmPath::Tiled);
  run_case(rng, 300, 384, 1376, GemmPath::Tiled);
  run_case(rng, 64, 48, 14336, GemmPath::Tiled, Extreme::Max);
  // On a 132-SM GPU these take the 64x128 and the 128x128 tiles.
  run_case(rng, 1088, 1024, 256, GemmPath::Tiled);
  run_case(rng, 2048, 2176, 256, GemmPath::Tiled);
}

TEST_CASE("w4a4_gemm wgmma path (sm_90a)", "[gpu][gemm]") {
  require_gpu();
  REQUIRE(w4a4_wgmma_available());
  // Every block shape (256 x 128, one block per SM; 128 x 128, 128 x 64, 64 x 64, two).
  struct Reset {
    ~Reset() { set_wgmma_tile(WgmmaTile::Auto); }
  } reset;
  for (const WgmmaTile tile :
       {WgmmaTile::C256x128, WgmmaTile::C128x128, WgmmaTile::C128x64, WgmmaTile::C64x64}) {
    set_wgmma_tile(tile);
    const WgmmaBlock b = w4a4_wgmma_block(2048, 4096);
    INFO("wgmma block " << b.channels << " x " << b.tokens);
    auto rng = rng_for("gemm_wgmma" + std::to_string(b.channels) + "x" + std::to_string(b.tokens));
    run_case(rng, 1, 64, 128, GemmPath::Wgmma);
    run_case(rng, 16, 80, 96, GemmPath::Wgmma);
    run_case(rng, 130, 272, 1376, GemmPath::Wgmma);  // row, channel and k tails
    run_case(rng, 300, 512, 4096, GemmPath::Wgmma);
    run_case(rng, 129, 4112, 256, GemmPath::Wgmma);
    run_case(rng, 256, 256, 11008, GemmPath::Wgmma);
    run_case(rng, 64, 48, 14336, GemmPath::Wgmma, Extreme::Max);
    run_case(rng, 520, 1024, 2048, GemmPath::Wgmma);  // 5 token tiles x 4-8 channel tiles, 16 k-tiles
    run_case(rng, 2100, 2320, 128, GemmPath::Wgmma);  // > 1 wave, row and channel tails
  }
  // The last round's split along K (TailSplit, gemm_wgmma.cu): 2 x SMs + 20 or + 22
  // tiles of 128 x 128 leave a last round of 20 or 22, split into 8 K ranges (32
  // k-tiles) or 2 (11 k-tiles: 5 and 6); the second case also has a token tile past
  // the first and a channel tail. Each case launches five times, so a tile counter
  // left unreset would show as a wrong sum.
  {
    set_wgmma_tile(WgmmaTile::C128x128);
    int sms = 0;
    REQUIRE(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0) == cudaSuccess);
    auto rng = rng_for("gemm_wgmma_tail_split");
    const int n1 = 128 * (2 * sms + 20), n2 = 64 * (2 * sms + 20) + 16;
    // The counters, then 20 x 8 and 22 x 2 partial tiles of 64 KB.
    REQUIRE(w4a4_gemm_workspace_bytes(17, n1, 4096) == 256 + size_t(20 * 8) * 65536);
    REQUIRE(w4a4_gemm_workspace_bytes(129, n2, 1376) == 256 + size_t(22 * 2) * 65536);
    REQUIRE(w4a4_gemm_workspace_bytes(17, 128 * 2 * sms, 4096) == 0);          // no partial last round
    REQUIRE(w4a4_gemm_workspace_bytes(17, 128 * (2 * sms + 200), 4096) == 0);  // a last round of 200
    run_case(rng, 17, n1, 4096, GemmPath::Wgmma);
    run_case(rng, 129, n2, 1376, GemmPath::Wgmma);
    GemmArgs g;
    g.M = 17;
    g.N = n1;
    g.K = 4096;
    g.ldo = n1;
    g.a_tile_rows = 128;
    uint8_t too_small = 0;
    g.workspace = &too_small;
    g.workspace_bytes = 1;
    REQUIRE_THROWS_WITH(w4a4_gemm(g, nullptr, GemmPath::Wgmma), Catch::Contains("workspace_bytes"));
  }
  set_wgmma_tile(WgmmaTile::Auto);
  // Auto's block by shape (w4a4_wgmma_block), only with tiled activations.
  REQUIRE(std::string(w4a4_gemm_path_name(2048, 4096, 4096)) == "wgmma128x128");
  // 64-token blocks while they fit in one wave of two per SM (132 SMs: 264), 64
  // channels too below one block per SM.
  REQUIRE(std::string(w4a4_gemm_path_name(512, 4096, 4096)) == "wgmma128x64");
  REQUIRE(std::string(w4a4_gemm_path_name(256, 4096, 4096)) == "wgmma64x64");
  REQUIRE(std::string(w4a4_gemm_path_name(256, 11008, 4096)) == "wgmma128x128");
  REQUIRE(std::string(w4a4_gemm_path_name(65, 512, 512)) == "wgmma64x64");
  REQUIRE(w4a4_act_tile_rows(2048, 4096, 4096) == 2048);
  REQUIRE(w4a4_act_tile_rows(2001, 4096, 4096) == 2048);
  REQUIRE(w4a4_act_tile_rows(16, 4096, 4096) == 0);
  GemmArgs g;
  g.M = 256;
  g.N = 256;
  g.K = 256;
  g.ldo = 256;
  REQUIRE_THROWS_WITH(w4a4_gemm(g, nullptr, GemmPath::Wgmma), Catch::Contains("a_tile_rows"));
  g.a_tile_rows = 256;
  REQUIRE_THROWS_WITH(w4a4_gemm(g, nullptr, GemmPath::Tiled), Catch::Contains("a_tile_rows"));
  g.a_tile_rows = 200;
  REQUIRE_THROWS_WITH(w4a4_gemm(g, nullptr, GemmPath::Wgmma), Catch::Contains("multiple of 128"));
}
