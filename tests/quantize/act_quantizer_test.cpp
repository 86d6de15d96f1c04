#include <catch2/catch.hpp>

#include <cmath>

#include "lib/core/error.h"
#include "quantize/act_quantizer.h"
#include "tests/quantize/test_rand.h"

using namespace quarot;
using quarot_test::randn;

namespace {

// The symmetric per-row formula, written out in float64 one row at a time.
at::Tensor sym_reference(const at::Tensor& x, int bits, double clip) {
  const double maxq = std::ldexp(1.0, bits - 1) - 1;
  at::Tensor x2 = x.to(at::kDouble).reshape({-1, x.size(-1)});
  at::Tensor y = at::empty_like(x2);
  for (int64_t r = 0; r < x2.size(0); ++r) {
    double s = x2[r].abs().max().item<double>() * clip / maxq;
    if (s == 0) s = 1;
    for (int64_t c = 0; c < x2.size(1); ++c) {
      const double q = std::nearbyint(x2[r][c].item<double>() / s);
      y[r][c] = s * std::min(std::max(q, -maxq - 1), maxq);
    }
  }
  return y.reshape(x.sizes());
}

}  // namespace

TEST_CASE("activation fake quant is per token and matches the formula", "[act]") {
  at::Tensor x = randn({5, 32}, 11);
  x = x * at::pow(10.0, at::arange(5, at::kDouble) - 2).unsqueeze(1);
  x = x.to(at::kFloat);
  for (int bits : {4, 8}) {
    for (double clip : {1.0, 0.9}) {
      ActQuantConfig cfg;
      cfg.bits = bits;
      cfg.clip_ratio = clip;
      at::Tensor y = fake_quant_activation(x, cfg);
      INFO("bits " << bits << " clip " << clip);
      REQUIRE(y.scalar_type() == at::kFloat);
      REQUIRE(at::allclose(y.to(at::kDouble), sym_reference(x, bits, clip), 1e-6, 0));
      // Each row on its own gives the same values: rows are independent.
      for (int64_t r = 0; r < 5; ++r)
        REQUIRE(at::equal(fake_quant_activation(x.narrow(0, r, 1), cfg), y.narrow(0, r, 1)));
      if (clip == 1.0) {
        const double maxq = std::ldexp(1.0, bits - 1) - 1;
        at::Tensor step = x.abs().amax({1}, true) / maxq;
        REQUIRE(((y - x).abs() <= step * 0.5 * (1 + 1e-5)).all().item<bool>());
      }
    }
  }
}

TEST_CASE("activation fake quant: 16 bits is the identity, dtype is kept", "[act]") {
  at::Tensor x = randn({2, 3, 16}, 12).to(at::kHalf);
  ActQuantConfig cfg;  // 16 bits by default
  at::Tensor y = fake_quant_activation(x, cfg);
  REQUIRE(at::equal(y, x));
  cfg.bits = 4;
  at::Tensor y4 = fake_quant_activation(x, cfg);
  REQUIRE(y4.scalar_type() == at::kHalf);
  REQUIRE(y4.sizes() == x.sizes());
  REQUIRE(!at::equal(y4, x));
  // Computed in float32, rounded to float16 once at the end.
  REQUIRE(at::equal(y4, fake_quant_activation(x.to(at::kFloat), cfg).to(at::kHalf)));
  at::Tensor xb = x.to(at::kBFloat16);
  REQUIRE(fake_quant_activation(xb, cfg).scalar_type() == at::kBFloat16);
}

TEST_CASE("activation fake quant: groups, zero rows, asymmetric", "[act]") {
  at::Tensor x = randn({3, 64}, 13).to(at::kFloat);
  x[1].zero_();
  ActQuantConfig cfg;
  cfg.bits = 4;
  cfg.group_size = 16;
  at::Tensor y = fake_quant_activation(x, cfg);
  ActQuantConfig whole = cfg;
  whole.group_size = 0;
  REQUIRE(at::equal(y.reshape({12, 16}), fake_quant_activation(x.reshape({12, 16}), whole)));
  REQUIRE(at::isfinite(y).all().item<bool>());
  REQUIRE(y[1].eq(0).all().item<bool>());

  cfg.asymmetric = true;
  cfg.clip_ratio = 1.0;
  at::Tensor ya = fake_quant_activation(x, cfg);
  REQUIRE(ya[1].eq(0).all().item<bool>());
  at::Tensor g = x.reshape({12, 16});
  at::Tensor step = (at::clamp_min(g.amax({1}, true), 0) - at::clamp_max(g.amin({1}, true), 0)) / 15;
  REQUIRE(((ya.reshape({12, 16}) - g).abs() <= step * 0.5 * (1 + 1e-5) + 1e-7).all().item<bool>());

  ActQuantConfig bad;
  bad.bits = 4;
  bad.group_size = 24;
  REQUIRE_THROWS_AS(fake_quant_activation(x, bad), quarot::Error);
  bad.group_size = 0;
  bad.bits = 17;
  REQUIRE_THROWS_AS(fake_quant_activation(x, bad), quarot::Error);
}

TEST_CASE("KV fake quant: one asymmetric grid per token and head", "[kv]") {
  const int64_t tokens = 6, heads = 4, hd = 8;
  at::Tensor x = randn({tokens, heads * hd}, 14).to(at::kFloat);
  x = x * at::pow(3.0, at::arange(heads, at::kDouble)).repeat_interleave(hd).to(at::kFloat);
  KvQuantConfig cfg;
  cfg.bits = 4;
  cfg.group_size = hd;
  at::Tensor y = fake_quant_kv(x, cfg);
  // Per head = the same as quantizing each [head_dim] vector alone.
  KvQuantConfig one = cfg;
  one.group_size = 0;
  REQUIRE(at::equal(y.reshape({tokens * heads, hd}), fake_quant_kv(x.reshape({tokens * heads, hd}), one)));
  // Against the formula in float64 for one group.
  at::Tensor g = x.reshape({-1, hd})[5].to(at::kDouble);
  const double lo = std::min(g.min().item<double>(), 0.0) * 0.95;
  const double hi = std::max(g.max().item<double>(), 0.0) * 0.95;
  const double s = (hi - lo) / 15, z = std::nearbyint(-lo / s);
  for (int64_t c = 0; c < hd; ++c) {
    const double q = std::min(std::max(std::nearbyint(g[c].item<double>() / s) + z, 0.0), 15.0);
    REQUIRE(y.reshape({-1, hd})[5][c].item<float>() == Approx(s * (q - z)).epsilon(1e-5).margin(1e-6));
  }
  cfg.bits = 16;
  REQUIRE(at::equal(fake_quant_kv(x, cfg), x));
}

TEST_CASE("KV fake quant is exact for two distinct values per group", "[kv]") {
  // Integer zero point: exact when the range includes 0 as one of the values, or
  // when the values sit on the grid.
  at::Tensor x = at::tensor({0.0f, 1.7f, 1.7f, 0.0f,    // {0, b}
                             -0.3f, 0.0f, -0.3f, -0.3f,  // {a, 0}
                             -1.0f, 2.0f, 2.0f, -1.0f},  // 2-bit grid step 1, zero 1
                            at::kFloat).reshape({1, 12});
  KvQuantConfig cfg;
  cfg.bits = 2;
  cfg.clip_ratio = 1.0;
  cfg.group_size = 4;
  REQUIRE(at::allclose(fake_quant_kv(x, cfg), x, 1e-6, 1e-7));
  // Float zero point: any two values, any bits.
  at::Tensor pairs = randn({16, 2}, 15).to(at::kFloat) * 3;
  at::Tensor pick = quarot_test::randint({16, 32}, 0, 1, 16);
  pick.select(1, 0).fill_(0);
  pick.select(1, 1).fill_(1);
  at::Tensor v = at::gather(pairs, 1, pick).reshape({2, 8, 32});
  cfg.integer_zero = false;
  for (int bits : {2, 4}) {
    cfg.bits = bits;
    cfg.group_size = 32;
    REQUIRE(at::allclose(fake_quant_kv(v, cfg), v, 1e-5, 1e-6));
  }
  at::Tensor c = at::full({2, 8}, 0.7f);
  cfg.group_size = 0;
  REQUIRE(at::allclose(fake_quant_kv(c, cfg), c, 1e-6, 0));
}
