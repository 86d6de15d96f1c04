// Online Hadamard kernels against rotate/'s float64 reference transform.
#include <algorithm>
#include <cmath>

#include "lib/io/dtype.h"
#include "lib/runner/kernels.h"
#include "rotate/hadamard.h"
#include "tests/runner/gpu/gpu_test_util.h"

using namespace quarot::runner;
using namespace quarot::runner::testing;

namespace {

std::vector<float> random_rows(std::mt19937_64& rng, int M, int n) {
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(size_t(M) * n);
  for (int r = 0; r < M; ++r) {
    const float s = r == 0 ? 3e4f : (r == 1 ? 1e-3f : 1.f);  // fp16 overflow / underflow risks
    for (int k = 0; k < n; ++k) x[size_t(r) * n + k] = s * nd(rng);
    x[size_t(r) * n + size_t(rng() % n)] *= 50.f;  // an outlier
  }
  return x;
}

// y = H_n x / sqrt(n), the convention of rotate/hadamard.h.
std::vector<double> ref_rows(const std::vector<float>& x, int M, int n) {
  std::vector<double> y(x.begin(), x.end());
  for (int r = 0; r < M; ++r) {
    quarot::hadamard::apply_hadamard_inplace(&y[size_t(r) * n], n);
    for (int k = 0; k < n; ++k) y[size_t(r) * n + k] /= std::sqrt(double(n));
  }
  return y;
}

// Transform across heads: rows are [H, D]; each column d gets H_H.
std::vector<double> ref_heads(const std::vector<float>& x, int M, int H, int D) {
  std::vector<double> y(x.size()), col(static_cast<size_t>(H));
  for (int r = 0; r < M; ++r)
    for (int d = 0; d < D; ++d) {
      for (int h = 0; h < H; ++h) col[size_t(h)] = x[size_t(r) * H * D + size_t(h) * D + d];
      quarot::hadamard::apply_hadamard_inplace(col.data(), H);
      for (int h = 0; h < H; ++h) y[size_t(r) * H * D + size_t(h) * D + d] = col[size_t(h)] / std::sqrt(double(H));
    }
  return y;
}

void check_float(const std::vector<float>& got, const std::vector<double>& ref, int M, int n) {
  for (int r = 0; r < M; ++r) {
    std::vector<double> g(got.begin() + int64_t(r) * n, got.begin() + int64_t(r + 1) * n);
    std::vector<double> e(ref.begin() + int64_t(r) * n, ref.begin() + int64_t(r + 1) * n);
    const double err = rel_l2(g, e);
    INFO("row " << r << " relative L2 error " << err);
    REQUIRE(err < 2e-6);
  }
}

// row_bytes: the packed row stride (0: n / 2); codes past n must then be zero.
// The tie tolerance is in units of the scale: the fp32 sums' rounding (~1e-5 of a
// row's maximum) over s = max · clip / 7 grows as 1 / clip.
void check_codes(const std::vector<double>& y, int M, int n, const std::vector<uint8_t>& packed,
                 const std::vector<float>& scale, int row_bytes = 0, double clip = 0.9) {
  const double tie_tol = std::min(0.45, 1e-4 * 0.9 / clip);
  const int rb = row_bytes > 0 ? row_bytes : n / 2;
  int ties = 0, bad = 0, pad_nonzero = 0;
  for (int r = 0; r < M; ++r)
    for (int k = n; k < 2 * rb; ++k) pad_nonzero += nibble_signed(packed[size_t(r) * rb + k / 2], k & 1) != 0;
  REQUIRE(pad_nonzero == 0);
  for (int r = 0; r < M; ++r) {
    double amax = 0;
    for (int k = 0; k < n; ++k) amax = std::max(amax, std::abs(y[size_t(r) * n + k]));
    const double s_ref = amax * clip / 7;
    INFO("row " << r << " scale " << scale[size_t(r)] << " reference " << s_ref);
    REQUIRE(std::abs(scale[size_t(r)] - s_ref) <= 1e-5 * s_ref);
    for (int k = 0; k < n; ++k) {
      const int code = nibble_signed(packed[size_t(r) * rb + k / 2], k & 1);
      if (!code_ok(code, y[size_t(r) * n + k] / double(scale[size_t(r)]), -8, 7, tie_tol, ties)) ++bad;
    }
  }
  REQUIRE(bad == 0);
  REQUIRE(ties <= M * n / 500 + 2);
}

}  // namespace

TEST_CASE("hadamard_f32 and hadamard_quant match H_K ⊗ S_2^m", "[gpu][hadamard]") {
  require_gpu();
  auto rng = rng_for("hadamard_rows");
  // 1376 = 172·8, 11008 = 172·64, 14336 = 28·512, 160 = 20·8, 96 = 12·8, powers of two.
  for (int n : {1376, 11008, 14336, 160, 96, 4096, 8192, 64}) {
    INFO("n = " << n);
    const HadamardDevice had(n);
    const int M = 4;
    std::vector<float> x = random_rows(rng, M, n);
    const std::vector<double> ref = ref_rows(x, M, n);
    auto dx = to_device(x);
    DeviceBuffer<float> y(size_t(M) * n);
    run_poisoned([&] { hadamard_f32(dx.get(), n, M, had, y.get(), nullptr); }, {out(y)});
    check_float(to_host(y), ref, M, n);

    DeviceBuffer<uint8_t> packed(size_t(M) * n / 2);
    DeviceBuffer<float> scale(static_cast<size_t>(M));
    const ActQuantSpec q{4, 0.9};
    run_poisoned([&] { hadamard_quant_f32(dx.get(), n, M, had, q, packed.get(), scale.get(), nullptr); },
                 {out(packed), out(scale)});
    check_codes(ref, M, n, to_host(packed), to_host(scale));

    // fp16 input (the benchmark's), with a wider row stride.
    const int ld = n + 8;
    std::vector<uint16_t> h(size_t(M) * ld, quarot::float_to_fp16(-7.f));
    std::vector<float> xr(x.size());
    for (int r = 0; r < M; ++r)
      for (int k = 0; k < n; ++k) {
        // Row 0 is 3e4·N(0,1) with a 50x outlier: /256 keeps even a 5-sigma outlier
        // (3e4·5·50/256 = 29K) inside fp16 (a /64 overflowed to inf for some seeds).
        const float v = r == 0 ? x[size_t(r) * n + k] / 256.f : x[size_t(r) * n + k];
        h[size_t(r) * ld + k] = quarot::float_to_fp16(v);
        xr[size_t(r) * n + k] = quarot::fp16_to_float(h[size_t(r) * ld + k]);
      }
    auto dh = to_device(h);
    run_poisoned([&] { hadamard_quant_f16(dh.get(), ld, M, had, q, packed.get(), scale.get(), nullptr); },
                 {out(packed), out(scale)});
    check_codes(ref_rows(xr, M, n), M, n, to_host(packed), to_host(scale));
  }
}

TEST_CASE("heads_hadamard transforms across the heads axis", "[gpu][hadamard]") {
  require_gpu();
  auto rng = rng_for("hadamard_heads");
  struct Case { int H, D; };
  // 32 = Sylvester, 40 = 20·2 (Paley, not symmetric), 12 = 12·1, 64 with head_dim 64.
  for (const Case c : {Case{32, 128}, Case{40, 64}, Case{12, 64}, Case{64, 64}}) {
    INFO("heads " << c.H << " head_dim " << c.D);
    const HadamardDevice had(c.H);
    const int M = 3, n = c.H * c.D;
    std::vector<float> x = random_rows(rng, M, n);
    const std::vector<double> ref = ref_heads(x, M, c.H, c.D);
    auto dx = to_device(x);
    DeviceBuffer<float> y(size_t(M) * n);
    run_poisoned([&] { heads_hadamard_f32(dx.get(), n, M, c.D, had, y.get(), nullptr); }, {out(y)});
    check_float(to_host(y), ref, M, n);
    DeviceBuffer<uint8_t> packed(size_t(M) * n / 2);
    DeviceBuffer<float> scale(static_cast<size_t>(M));
    const ActQuantSpec q{4, 0.9};
    run_poisoned([&] { heads_hadamard_quant(dx.get(), n, M, c.D, had, q, packed.get(), scale.get(), nullptr); },
                 {out(packed), out(scale)});
    check_codes(ref, M, n, to_host(packed), to_host(scale));
  }
}

TEST_CASE("hadamard_quant over many rows (throughput configuration)", "[gpu][hadamard]") {
  require_gpu();
  auto rng = rng_for("hadamard_many_rows");
  // More rows than multiprocessors selects the narrow, persistent-block kernel;
  // 1376 = 172 x 8 (wikillama-27m's down_proj), 2752 = 172 x 16 and 160 = 5 x 32 go
  // in groups of 8, 4 and 2 rows (300 rows: the last group short).
  for (int n : {11008, 160, 4096, 1376, 2752}) {
    INFO("n = " << n);
    const HadamardDevice had(n);
    const int M = 300;
    std::vector<float> x = random_rows(rng, M, n);
    const std::vector<double> ref = ref_rows(x, M, n);
    auto dx = to_device(x);
    DeviceBuffer<float> y(size_t(M) * n);
    run_poisoned([&] { hadamard_f32(dx.get(), n, M, had, y.get(), nullptr); }, {out(y)});
    check_float(to_host(y), ref, M, n);
    DeviceBuffer<uint8_t> packed(size_t(M) * n / 2);
    DeviceBuffer<float> scale(static_cast<size_t>(M));
    const ActQuantSpec q{4, 0.9};
    run_poisoned([&] { hadamard_quant_f32(dx.get(), n, M, had, q, packed.get(), scale.get(), nullptr); },
                 {out(packed), out(scale)});
    check_codes(ref, M, n, to_host(packed), to_host(scale));
  }
  // Heads: 40 heads (K = 20) of 64 over many tokens.
  const HadamardDevice had(40);
  const int M = 200, D = 64, n = 40 * D;
  std::vector<float> x = random_rows(rng, M, n);
  const std::vector<double> ref = ref_heads(x, M, 40, D);
  auto dx = to_device(x);
  DeviceBuffer<float> y(size_t(M) * n);
  run_poisoned([&] { heads_hadamard_f32(dx.get(), n, M, D, had, y.get(), nullptr); }, {out(y)});
  check_float(to_host(y), ref, M, n);
}

TEST_CASE("online Hadamard of small and odd sizes (generic kernel, padded codes)", "[gpu][hadamard]") {
  require_gpu();
  auto rng = rng_for("hadamard_generic");
  // 172 = 172·2^0 (stories260K's intermediate size: the K×K factor alone), 20 = 20·1,
  // 40 = 20·2, 12 = 12·1, 2 and 8 (m only, no K×K factor), 344 = 172·2.
  for (int n : {172, 20, 40, 12, 2, 8, 344}) {
    const int cols = (n + 31) / 32 * 32, ld = n + 3;  // padded packed rows, odd input stride
    for (int M : {5, 300}) {  // 300 rows: blocks loop over rows
      INFO("n = " << n << " rows " << M);
      const HadamardDevice had(n);
      const std::vector<float> rows = random_rows(rng, M, n);
      std::vector<float> x(size_t(M) * ld, 1e30f);  // what lies past n would dominate if read
      for (int r = 0; r < M; ++r)
        for (int k = 0; k < n; ++k) x[size_t(r) * ld + k] = rows[size_t(r) * n + k];
      const std::vector<double> ref = ref_rows(rows, M, n);
      auto dx = to_device(x);
      DeviceBuffer<float> y(size_t(M) * n);
      run_poisoned([&] { hadamard_f32(dx.get(), ld, M, had, y.get(), nullptr); }, {out(y)});
      check_float(to_host(y), ref, M, n);
      DeviceBuffer<uint8_t> packed(size_t(M) * cols / 2);
      DeviceBuffer<float> scale(static_cast<size_t>(M));
      const ActQuantSpec q{4, 0.9};
      run_poisoned(
          [&] { hadamard_quant_f32(dx.get(), ld, M, had, q, packed.get(), scale.get(), nullptr, cols); },
          {out(packed), out(scale)});
      check_codes(ref, M, n, to_host(packed), to_host(scale), cols / 2);
    }
  }
}

TEST_CASE("heads_hadamard with small head_dim (stories260K: 8 heads of 8)", "[gpu][hadamard]") {
  require_gpu();
  auto rng = rng_for("hadamard_heads_small");
  struct Case { int H, D; };
  // 8x8 and 8x16 (n = 64, 128: the fast kernel), 4x8 (n = 32), 12x4 (K = 12, inner 4),
  // 20x6 (head_dim not a power of two), 8x2, 12x8 (n = 96 = 12·8).
  for (const Case c : {Case{8, 8}, Case{8, 16}, Case{4, 8}, Case{12, 4}, Case{20, 6}, Case{8, 2}, Case{12, 8}}) {
    INFO("heads " << c.H << " head_dim " << c.D);
    const HadamardDevice had(c.H);
    const int M = 6, n = c.H * c.D, cols = (n + 31) / 32 * 32;
    const std::vector<float> x = random_rows(rng, M, n);
    const std::vector<double> ref = ref_heads(x, M, c.H, c.D);
    auto dx = to_device(x);
    DeviceBuffer<float> y(size_t(M) * n);
    run_poisoned([&] { heads_hadamard_f32(dx.get(), n, M, c.D, had, y.get(), nullptr); }, {out(y)});
    check_float(to_host(y), ref, M, n);
    DeviceBuffer<uint8_t> packed(size_t(M) * cols / 2);
    DeviceBuffer<float> scale(static_cast<size_t>(M));
    const ActQuantSpec q{4, 0.9};
    run_poisoned(
        [&] { heads_hadamard_quant(dx.get(), n, M, c.D, had, q, packed.get(), scale.get(), nullptr, cols); },
        {out(packed), out(scale)});
    check_codes(ref, M, n, to_host(packed), to_host(scale), cols / 2);
  }
}

TEST_CASE("fp16 rows on the tensor-core mix kernel: rows and heads, few and many rows", "[gpu][hadamard]") {
  require_gpu();
  auto rng = rng_for("hadamard_mix");
  // fp16 inputs (row 0 scaled toward the fp16 maximum, row 1 toward subnormals), the
  // reference on the same fp16 values; ld > n so that rows do not touch.
  auto to_f16_rows = [&](const std::vector<float>& x, int M, int n, int ld, std::vector<float>& xr) {
    std::vector<uint16_t> h(size_t(M) * ld, quarot::float_to_fp16(-7.f));
    xr.assign(size_t(M) * n, 0.f);
    for (int r = 0; r < M; ++r)
      for (int k = 0; k < n; ++k) {
        const float v = r == 0 ? x[size_t(r) * n + k] / 256.f : x[size_t(r) * n + k];  // inside fp16, as above
        h[size_t(r) * ld + k] = quarot::float_to_fp16(v);
        xr[size_t(r) * n + k] = quarot::fp16_to_float(h[size_t(r) * ld + k]);
      }
    return h;
  };
  // M fresh rows of n (stride ld) through quantize(x, spec, packed, scale), the codes
  // checked against reference(xr), the float64 transform of the same fp16 values.
  auto check_f16 = [&](int M, int n, int ld, double clip, const auto& quantize, const auto& reference) {
    std::vector<float> xr;
    auto dh = to_device(to_f16_rows(random_rows(rng, M, n), M, n, ld, xr));
    DeviceBuffer<uint8_t> packed(size_t(M) * n / 2);
    DeviceBuffer<float> scale(static_cast<size_t>(M));
    run_poisoned([&] { quantize(dh.get(), ActQuantSpec{4, clip}, packed.get(), scale.get()); },
                 {out(packed), out(scale)});
    check_codes(reference(xr), M, n, to_host(packed), to_host(scale), 0, clip);
  };
  // 11008 = 172·64 (order 172), 14336 = 28·512 (order 224), 4096 (order 64), 64 (order
  // 1); 10240 = 20·512 (order 160) and 13312 = 52·256 (order 208): the wgmma kernel's
  // last warpgroup with two and one live tiles (the other warps multiply padding).
  for (int n : {11008, 14336, 4096, 64, 10240, 13312}) {
    const HadamardDevice had(n);
    REQUIRE(had.mix_rows() != nullptr);
    // 1, 5: fewer row groups than SMs (mix fragments in registers); 140, 300: more
    // (for n = 11008 the wgmma kernel, a block an SM: 140 rows leave most blocks one
    // row, 300 two or three; else two blocks per SM, fragments from L1), but for n = 64
    // (8 rows a group).
    for (int M : {1, 5, 140, 300}) {
      INFO("rows: n = " << n << ", M = " << M);
      const int ld = n + 8;
      check_f16(
          M, n, ld, 0.9,
          [&](const uint16_t* x, ActQuantSpec q, uint8_t* p, float* s) {
            hadamard_quant_f16(x, ld, M, had, q, p, s, nullptr);
          },
          [&](const std::vector<float>& xr) { return ref_rows(xr, M, n); });
    }
  }
  struct Case { int H, D; };
  for (const Case c : {Case{32, 128}, Case{40, 64}, Case{64, 64}, Case{12, 128}}) {
    const HadamardDevice had(c.H);
    REQUIRE(had.mix_full() != nullptr);
    const int n = c.H * c.D;
    // 7: a partial group of the several rows a block takes at once; 1200: more
    // groups than SMs (the configuration for many rows); 2701: 32 heads of 128 on
    // blocks of 3 rows each (a prefetched row), the last block one row.
    for (int M : {1, 7, 300, 1200, 2701}) {
      INFO("heads " << c.H << " x " << c.D << ", M = " << M);
      check_f16(
          M, n, n, 0.9,
          [&](const uint16_t* x, ActQuantSpec q, uint8_t* p, float* s) {
            heads_hadamard_quant_f16(x, n, M, c.D, had, q, p, s, nullptr);
          },
          [&](const std::vector<float>& xr) { return ref_heads(xr, M, c.H, c.D); });
    }
  }
  // Clip 0.75: codes past both bounds (|sum| / s up to 7 / 0.75), the lower clamp that
  // clip 0.9 never needs (the kLowClamp of heads_wht.cu and hadamard_mix.cu), on many
  // rows: rows of 11008 and 14336 (the Walsh–Hadamard on tensor cores), and across heads.
  for (int n : {11008, 14336}) {
    INFO("clip 0.75, n = " << n);
    const HadamardDevice had(n);
    const int M = 300, ld = n + 8;
    check_f16(
        M, n, ld, 0.75,
        [&](const uint16_t* x, ActQuantSpec q, uint8_t* p, float* s) {
          hadamard_quant_f16(x, ld, M, had, q, p, s, nullptr);
        },
        [&](const std::vector<float>& xr) { return ref_rows(xr, M, n); });
  }
  // Clip 1e-4: quotients up to 7e4, past the int16 clamps of the mix kernels (rows of
  // 11008 then take the fp32 transform kernel instead; in the mix kernels the codes of
  // |sum| / s >= 2^15 would wrap to the other end of the range).
  for (int M : {5, 300}) {
    INFO("clip 1e-4, n = 11008, M = " << M);
    const HadamardDevice had(11008);
    const int n = 11008, ld = n + 8;
    check_f16(
        M, n, ld, 1e-4,
        [&](const uint16_t* x, ActQuantSpec q, uint8_t* p, float* s) {
          hadamard_quant_f16(x, ld, M, had, q, p, s, nullptr);
        },
        [&](const std::vector<float>& xr) { return ref_rows(xr, M, n); });
  }
  {
    const HadamardDevice had(32);
    const int M = 1200, n = 32 * 128;
    check_f16(
        M, n, n, 0.75,
        [&](const uint16_t* x, ActQuantSpec q, uint8_t* p, float* s) {
          heads_hadamard_quant_f16(x, n, M, 128, had, q, p, s, nullptr);
        },
        [&](const std::vector<float>& xr) { return ref_heads(xr, M, 32, 128); });
  }
}

