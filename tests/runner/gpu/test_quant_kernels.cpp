// Activation quantization (+ RMSNorm) kernels against float64 references.
#include <cmath>
#include <utility>
#include <vector>

#include "lib/io/dtype.h"
#include "lib/runner/kernels.h"
#include "tests/runner/gpu/gpu_test_util.h"

using namespace quarot::runner;
using namespace quarot::runner::testing;

namespace {

// Rows of mixed magnitudes, one all-zero row, one with a single outlier.
std::vector<float> random_rows(std::mt19937_64& rng, int M, int K) {
  std::normal_distribution<float> nd(0.f, 1.f);
  std::uniform_real_distribution<float> mag(-3.f, 3.f);
  std::vector<float> x(size_t(M) * K);
  for (int r = 0; r < M; ++r) {
    const float s = std::pow(10.f, mag(rng));
    for (int k = 0; k < K; ++k) x[size_t(r) * K + k] = r == 1 ? 0.f : s * nd(rng);
    if (r == 2) x[size_t(r) * K + size_t(rng() % K)] = 1000.f * s;
  }
  return x;
}

// Checks packed codes and scales against the reference values y (float64) of each row.
// row_bytes: the packed row stride (0: K / 2).
void check_quantized(const std::vector<double>& y, int M, int K, int bits, double clip,
                     const std::vector<uint8_t>& packed, const std::vector<float>& scale, double tie_tol,
                     double scale_tol, int row_bytes = 0) {
  const int maxq = (1 << (bits - 1)) - 1;
  const int rb = row_bytes > 0 ? row_bytes : K / 2;
  int ties = 0, bad = 0;
  for (int r = 0; r < M; ++r) {
    double amax = 0;
    for (int k = 0; k < K; ++k) amax = std::max(amax, std::abs(y[size_t(r) * K + k]));
    const double s_ref = amax == 0 ? 1.0 : amax * clip / maxq;
    INFO("row " << r << " scale " << scale[size_t(r)] << " reference " << s_ref);
    REQUIRE(std::abs(scale[size_t(r)] - s_ref) <= scale_tol * s_ref);
    for (int k = 0; k < K; ++k) {
      const int code = nibble_signed(packed[size_t(r) * rb + k / 2], k & 1);
      const double q = y[size_t(r) * K + k] / double(scale[size_t(r)]);
      if (!code_ok(code, q, -(maxq + 1), maxq, tie_tol, ties) && bad++ < 5)
        UNSCOPED_INFO("row " << r << " col " << k << ": code " << code << ", value/scale " << q);
    }
  }
  REQUIRE(bad == 0);
  REQUIRE(ties <= M * K / 1000 + 2);
}

// Codes past the row's K values (the GEMM's padded K) must be zero.
void check_zero_padding(const std::vector<uint8_t>& packed, int M, int K, int cols) {
  int nonzero = 0;
  for (int r = 0; r < M; ++r)
    for (int k = K; k < cols; ++k) nonzero += nibble_signed(packed[size_t(r) * (cols / 2) + k / 2], k & 1) != 0;
  REQUIRE(nonzero == 0);
}

}  // namespace

TEST_CASE("act_quant packs per-token symmetric int4 codes", "[gpu][quant]") {
  require_gpu();
  auto rng = rng_for("act_quant");
  for (int K : {32, 4096, 11008, 28672}) {
    // 2000 rows: more than fit on the GPU at once, so that blocks take several rows
    // (grid-stride, the next row loaded before this one is stored).
    // Clip ratios whose codes reach the upper bound only (0.9, 1.0), both bounds
    // (0.6), and quotients far past the range (2e-5 at 2 bits: up to 5e4).
    const std::pair<int, double> specs[] = {{4, 0.9}, {3, 1.0}, {4, 0.6}, {2, 2e-5}};
    for (const auto& [bits, clip] : specs) {
      const int M = K == 4096 && bits == 4 && clip == 0.9 ? 2000 : 7;
      std::vector<float> x = random_rows(rng, M, K);
      auto dx = to_device(x);
      DeviceBuffer<uint8_t> packed(size_t(M) * K / 2);
      DeviceBuffer<float> scale(static_cast<size_t>(M));
      const ActQuantSpec q{bits, clip};
      run_poisoned([&] { act_quant_f32(dx.get(), K, M, K, q, packed.get(), scale.get(), nullptr); },
                   {out(packed), out(scale)});
      std::vector<double> y(x.begin(), x.end());
      check_quantized(y, M, K, bits, clip, to_host(packed), to_host(scale), 1e-6, 2e-6);

      // fp16 input, row stride larger than K.
      const int ld = K + 32;
      std::vector<uint16_t> h(size_t(M) * ld, quarot::float_to_fp16(12345.f));
      for (int r = 0; r < M; ++r) {
        float amax = 0.f;  // keep the row within fp16's range
        for (int k = 0; k < K; ++k) amax = std::max(amax, std::abs(x[size_t(r) * K + k]));
        const float shrink = amax > 3e4f ? 3e4f / amax : 1.f;
        for (int k = 0; k < K; ++k) h[size_t(r) * ld + k] = quarot::float_to_fp16(x[size_t(r) * K + k] * shrink);
      }
      auto dh = to_device(h);
      run_poisoned([&] { act_quant_f16(dh.get(), ld, M, K, q, packed.get(), scale.get(), nullptr); },
                   {out(packed), out(scale)});
      for (int r = 0; r < M; ++r)
        for (int k = 0; k < K; ++k) y[size_t(r) * K + k] = quarot::fp16_to_float(h[size_t(r) * ld + k]);
      check_quantized(y, M, K, bits, clip, to_host(packed), to_host(scale), 1e-6, 2e-6);
    }
  }
}

TEST_CASE("rmsnorm_quant normalizes, scales and quantizes each token", "[gpu][quant]") {
  require_gpu();
  auto rng = rng_for("rmsnorm_quant");
  std::uniform_real_distribution<float> wd(0.5f, 1.5f);
  for (int K : {64, 4096, 5120}) {
    const int M = K == 4096 ? 2000 : 5;  // 2000: blocks take several rows, as above
    const float eps = 1e-5f;
    std::vector<float> x = random_rows(rng, M, K), w(static_cast<size_t>(K));
    for (auto& v : w) v = wd(rng);
    auto dx = to_device(x);
    auto dw = to_device(w);
    DeviceBuffer<uint8_t> packed(size_t(M) * K / 2);
    DeviceBuffer<float> scale(static_cast<size_t>(M));
    const ActQuantSpec q{4, 0.9};
    run_poisoned([&] { rmsnorm_quant(dx.get(), dw.get(), eps, M, K, q, packed.get(), scale.get(), nullptr); },
                 {out(packed), out(scale)});
    std::vector<double> y(x.size());
    for (int r = 0; r < M; ++r) {
      double ss = 0;
      for (int k = 0; k < K; ++k) ss += double(x[size_t(r) * K + k]) * x[size_t(r) * K + k];
      const double inv = 1.0 / std::sqrt(ss / K + eps);
      for (int k = 0; k < K; ++k) y[size_t(r) * K + k] = x[size_t(r) * K + k] * inv * w[size_t(k)];
    }
    // fp32 statistics: the reference quotient can move by ~1e-6 relative.
    check_quantized(y, M, K, 4, 0.9, to_host(packed), to_host(scale), 5e-5, 5e-5);

    DeviceBuffer<uint16_t> h16(size_t(M) * K);
    run_poisoned([&] { rmsnorm_f16(dx.get(), dw.get(), eps, M, K, h16.get(), nullptr); }, {out(h16)});
    const std::vector<uint16_t> got = to_host(h16);
    for (size_t i = 0; i < got.size(); ++i) {
      const double g = quarot::fp16_to_float(got[i]);
      REQUIRE(std::abs(g - y[i]) <= 1e-3 * std::abs(y[i]) + 1e-7);
    }
  }
}

TEST_CASE("embed_rows gathers fp16 rows as float", "[gpu][quant]") {
  require_gpu();
  auto rng = rng_for("embed");
  const int V = 300, K = 96, M = 40;
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<uint16_t> table(size_t(V) * K);
  for (auto& v : table) v = quarot::float_to_fp16(nd(rng));
  std::vector<int32_t> ids(static_cast<size_t>(M));
  for (auto& i : ids) i = int32_t(rng() % V);
  auto dt = to_device(table);
  auto di = to_device(ids);
  DeviceBuffer<float> o(size_t(M) * K);
  run_poisoned([&] { embed_rows(dt.get(), di.get(), M, K, o.get(), nullptr); }, {out(o)});
  const std::vector<float> got = to_host(o);
  for (int r = 0; r < M; ++r)
    for (int k = 0; k < K; ++k)
      REQUIRE(got[size_t(r) * K + k] == quarot::fp16_to_float(table[size_t(ids[size_t(r)]) * K + k]));
}

TEST_CASE("act_quant and rmsnorm_quant take any width and pad with zero codes", "[gpu][quant]") {
  require_gpu();
  auto rng = rng_for("act_quant_generic");
  std::uniform_real_distribution<float> wd(0.5f, 1.5f);
  struct Case { int K, cols; };
  // 172: stories260K's intermediate size (padded to 192); 64 into a wider packed row;
  // 8 and 5: tiny and odd rows; 40: a multiple of 8 that is not one of 32.
  for (const Case c : {Case{172, 192}, Case{64, 96}, Case{8, 32}, Case{5, 32}, Case{40, 64}}) {
    for (int bits : {4, 3}) {
      INFO("K " << c.K << " packed width " << c.cols << " bits " << bits);
      const int M = 7, K = c.K, ld = K + 3;  // an odd row stride
      const double clip = bits == 4 ? 0.9 : 1.0;
      const std::vector<float> rows = random_rows(rng, M, K);
      std::vector<float> x(size_t(M) * ld, 1e6f);  // what lies past K would dominate if read
      for (int r = 0; r < M; ++r)
        for (int k = 0; k < K; ++k) x[size_t(r) * ld + k] = rows[size_t(r) * K + k];
      auto dx = to_device(x);
      DeviceBuffer<uint8_t> packed(size_t(M) * c.cols / 2);
      DeviceBuffer<float> scale(static_cast<size_t>(M));
      const ActQuantSpec q{bits, clip};
      run_poisoned([&] { act_quant_f32(dx.get(), ld, M, K, q, packed.get(), scale.get(), nullptr, c.cols); },
                   {out(packed), out(scale)});
      std::vector<double> y(rows.begin(), rows.end());
      check_quantized(y, M, K, bits, clip, to_host(packed), to_host(scale), 1e-6, 2e-6, c.cols / 2);
      check_zero_padding(to_host(packed), M, K, c.cols);

      std::vector<uint16_t> h(size_t(M) * ld, quarot::float_to_fp16(12345.f));
      for (int r = 0; r < M; ++r) {
        float amax = 0.f;
        for (int k = 0; k < K; ++k) amax = std::max(amax, std::abs(rows[size_t(r) * K + k]));
        const float shrink = amax > 3e4f ? 3e4f / amax : 1.f;
        for (int k = 0; k < K; ++k) h[size_t(r) * ld + k] = quarot::float_to_fp16(rows[size_t(r) * K + k] * shrink);
      }
      auto dh = to_device(h);
      run_poisoned([&] { act_quant_f16(dh.get(), ld, M, K, q, packed.get(), scale.get(), nullptr, c.cols); },
                   {out(packed), out(scale)});
      for (int r = 0; r < M; ++r)
        for (int k = 0; k < K; ++k) y[size_t(r) * K + k] = quarot::fp16_to_float(h[size_t(r) * ld + k]);
      check_quantized(y, M, K, bits, clip, to_host(packed), to_host(scale), 1e-6, 2e-6, c.cols / 2);
      check_zero_padding(to_host(packed), M, K, c.cols);
    }

    // RMSNorm + quantization (row stride K, as in the runner).
    const int M = 5, K = c.K;
    const float eps = 1e-5f;
    std::vector<float> x = random_rows(rng, M, K), w(static_cast<size_t>(K));
    for (auto& v : w) v = wd(rng);
    auto dx = to_device(x);
    auto dw = to_device(w);
    DeviceBuffer<uint8_t> packed(size_t(M) * c.cols / 2);
    DeviceBuffer<float> scale(static_cast<size_t>(M));
    const ActQuantSpec q{4, 0.9};
    run_poisoned(
        [&] { rmsnorm_quant(dx.get(), dw.get(), eps, M, K, q, packed.get(), scale.get(), nullptr, c.cols); },
        {out(packed), out(scale)});
    std::vector<double> y(x.size());
    for (int r = 0; r < M; ++r) {
      double ss = 0;
      for (int k = 0; k < K; ++k) ss += double(x[size_t(r) * K + k]) * x[size_t(r) * K + k];
      const double inv = 1.0 / std::sqrt(ss / K + eps);
      for (int k = 0; k < K; ++k) y[size_t(r) * K + k] = x[size_t(r) * K + k] * inv * w[size_t(k)];
    }
    check_quantized(y, M, K, 4, 0.9, to_host(packed), to_host(scale), 5e-5, 5e-5, c.cols / 2);
    check_zero_padding(to_host(packed), M, K, c.cols);
  }
}
