// The quantizers' tiled output (the wgmma GEMM's input, kernels.h ActCodes): the
// same codes and scales as their packed output (checked against float64 elsewhere),
// placed where the layout's description says, and no other byte touched.
#include <cmath>

#include "lib/io/dtype.h"
#include "lib/runner/kernels.h"
#include "tests/runner/gpu/gpu_test_util.h"

using namespace quarot::runner;
using namespace quarot::runner::testing;

namespace {

constexpr uint8_t kUntouched = 0xAB;

// Runs `quantize(codes)` into a packed buffer and into a tiled one with spare rows,
// and compares the two byte for byte through the host reference of the layout.
void check_tiled(int M, int cols, const std::function<void(ActCodes, float*)>& quantize) {
  INFO("M " << M << " cols " << cols);
  DeviceBuffer<uint8_t> packed(size_t(M) * size_t(cols) / 2);
  DeviceBuffer<float> s_packed(static_cast<size_t>(M)), s_tiled(static_cast<size_t>(M));
  run_poisoned([&] { quantize(packed.get(), s_packed.get()); }, {out(packed), out(s_packed)});

  const int64_t rows = (M + 127) / 128 * 128 + 128;  // a whole spare block of rows
  DeviceBuffer<uint8_t> tiles(act_tiles_bytes(rows, cols));
  REQUIRE(cudaMemset(tiles.get(), kUntouched, tiles.bytes()) == cudaSuccess);
  quantize(ActCodes(tiles.get(), rows), s_tiled.get());
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);

  const std::vector<uint8_t> want = act_tiles_from_packed(to_host(packed), M, cols, rows, [] { return kUntouched; });
  const std::vector<uint8_t> got = to_host(tiles);
  REQUIRE(got.size() == want.size());
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) bad += got[i] != want[i];
  REQUIRE(bad == 0);
  REQUIRE(to_host(s_tiled) == to_host(s_packed));
}

std::vector<float> normal(std::mt19937_64& rng, size_t n, float sd) {
  std::normal_distribution<float> nd(0.f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

}  // namespace

TEST_CASE("quantizers write the tiled code layout of the wgmma GEMM", "[gpu][quant]") {
  require_gpu();
  auto rng = rng_for("act_tiles");
  const ActQuantSpec q{4, 0.9};
  // 5 rows: the latency variants; 300: the throughput ones, three tile blocks; 1500:
  // more rows than fit on the GPU at once (row kernels' blocks take several).
  for (int M : {5, 300, 1500}) {
    for (int K : {4096, 11008, 160}) {  // 160: a k-tile cut short
      if (M == 1500 && K != 4096) continue;
      const auto x = normal(rng, size_t(M) * K, 2.f);
      auto dx = to_device(x);
      check_tiled(M, K, [&](ActCodes c, float* s) { act_quant_f32(dx.get(), K, M, K, q, c, s, nullptr); });
      std::vector<uint16_t> h(x.size());
      for (size_t i = 0; i < x.size(); ++i) h[i] = quarot::float_to_fp16(x[i]);
      auto dh = to_device(h);
      check_tiled(M, K, [&](ActCodes c, float* s) { act_quant_f16(dh.get(), K, M, K, q, c, s, nullptr); });
      const auto w = normal(rng, size_t(K), 1.f);
      auto dw = to_device(w);
      check_tiled(M, K,
                  [&](ActCodes c, float* s) { rmsnorm_quant(dx.get(), dw.get(), 1e-5f, M, K, q, c, s, nullptr); });
    }
    auto f16 = [](const std::vector<float>& v) {
      std::vector<uint16_t> h(v.size());
      for (size_t i = 0; i < v.size(); ++i) h[i] = quarot::float_to_fp16(v[i]);
      return h;
    };
    // 64: one block a row (A = 1), for 1500 rows the many-rows mix kernel's half line.
    for (int n : {11008, 4096, 14336, 64}) {
      const HadamardDevice had(n);
      const auto x = normal(rng, size_t(M) * n, 1.f);
      auto dx = to_device(x);
      check_tiled(M, n, [&](ActCodes c, float* s) { hadamard_quant_f32(dx.get(), n, M, had, q, c, s, nullptr); });
      auto dh = to_device(f16(x));  // the tensor-core mix kernel
      check_tiled(M, n, [&](ActCodes c, float* s) { hadamard_quant_f16(dh.get(), n, M, had, q, c, s, nullptr); });
    }
    const HadamardDevice heads(32);
    const auto x = normal(rng, size_t(M) * 4096, 1.f);
    auto dx = to_device(x);
    check_tiled(M, 4096,
                [&](ActCodes c, float* s) { heads_hadamard_quant(dx.get(), 4096, M, 128, heads, q, c, s, nullptr); });
    auto dh = to_device(f16(x));
    check_tiled(M, 4096, [&](ActCodes c, float* s) {
      heads_hadamard_quant_f16(dh.get(), 4096, M, 128, heads, q, c, s, nullptr);
    });
  }
}

TEST_CASE("the tiled code layout is refused where only the generic kernels apply", "[gpu][quant]") {
  require_gpu();
  const ActQuantSpec q{4, 0.9};
  DeviceBuffer<float> x(size_t(128) * 100), s(128);
  DeviceBuffer<uint8_t> tiles(act_tiles_bytes(128, 128));
  REQUIRE_THROWS_WITH(act_quant_f32(x.get(), 100, 128, 100, q, ActCodes(tiles.get(), 128), s.get(), nullptr),
                      Catch::Contains("tiled"));
  REQUIRE_THROWS_WITH(act_quant_f32(x.get(), 128, 100, 96, q, ActCodes(tiles.get(), 100), s.get(), nullptr),
                      Catch::Contains("tile_rows"));
  const HadamardDevice had(172);
  REQUIRE_THROWS_WITH(
      hadamard_quant_f32(x.get(), 172, 8, had, q, ActCodes(tiles.get(), 128), s.get(), nullptr, 192),
      Catch::Contains("tiled"));
}
