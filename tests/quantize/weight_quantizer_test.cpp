#include <catch2/catch.hpp>

#include <cmath>

#include "lib/core/error.h"
#include "quantize/weight_quantizer.h"
#include "tests/quantize/test_rand.h"

using namespace quarot;
using quarot_test::max_abs;
using quarot_test::randn;

namespace {

// Rows of very different magnitudes, so a shared scale would show.
at::Tensor test_weight(int64_t out, int64_t in, uint64_t seed) {
  at::Tensor w = randn({out, in}, seed);
  at::Tensor row_scale = at::pow(10.0, at::arange(out, at::kDouble) / 4.0 - 2.0).unsqueeze(1);
  return (w * row_scale).to(at::kFloat);
}

// Per-element scale / zero of a result, expanded to [out, in].
at::Tensor expand_groups(const at::Tensor& per_group, int64_t in) {
  const int64_t groups = per_group.size(1);
  return per_group.to(at::kFloat).unsqueeze(2).expand({per_group.size(0), groups, in / groups})
      .reshape({per_group.size(0), in});
}

at::Tensor clip_metric(const at::Tensor& wq, const at::Tensor& w, int64_t group) {
  at::Tensor e = (wq.to(at::kDouble) - w.to(at::kDouble)).abs().pow(2.4);
  return e.reshape({-1, group}).sum(1);
}

}  // namespace

TEST_CASE("symmetric RTN: codes in range, error at most half a step", "[weight]") {
  at::Tensor w = test_weight(12, 64, 1);
  for (int bits : {2, 3, 4, 8}) {
    for (int64_t gs : {int64_t(0), int64_t(16)}) {
      WeightQuantConfig cfg;
      cfg.bits = bits;
      cfg.group_size = gs;
      QuantizedWeight q = quantize_weight(w, cfg);
      INFO("bits " << bits << " group " << gs);
      REQUIRE(q.codes.scalar_type() == at::kChar);
      REQUIRE(q.scales.sizes() == at::IntArrayRef({12, gs == 0 ? 1 : 4}));
      REQUIRE(!q.zeros.defined());
      const double maxq = std::ldexp(1.0, bits - 1) - 1;
      REQUIRE(q.codes.min().item<int64_t>() >= -maxq - 1);
      REQUIRE(q.codes.max().item<int64_t>() <= maxq);
      // The largest magnitude of each row (group) lands on +-maxq.
      REQUIRE(q.codes.to(at::kFloat).abs().reshape({-1, gs == 0 ? 64 : gs}).amax({1}).eq(maxq).all()
                  .item<bool>());
      at::Tensor s = expand_groups(q.scales, 64);
      at::Tensor err = (q.dequantized - w).abs();
      REQUIRE((err <= s * 0.5 * (1 + 1e-5)).all().item<bool>());
      REQUIRE(at::equal(q.dequantized, s * q.codes.to(at::kFloat)));
      // scale = max|w| / maxq per row (group)
      at::Tensor expect = w.abs().reshape({-1, gs == 0 ? 64 : gs}).amax({1}) / maxq;
      REQUIRE(at::allclose(q.scales.reshape(-1), expect, 1e-6, 0));
    }
  }
}

TEST_CASE("8-bit and 4-bit RTN are exact on values already on the grid", "[weight]") {
  for (int bits : {4, 8}) {
    const int64_t maxq = (int64_t(1) << (bits - 1)) - 1;
    // The grid of a row is set by its largest magnitude, so -(maxq + 1) is not on it.
    at::Tensor k = quarot_test::randint({6, 40}, -maxq, maxq, 7 + bits);
    k.select(1, 3).fill_(maxq);  // every row reaches the top code
    at::Tensor step = at::pow(2.0, at::arange(6, at::kDouble) - 8.0).unsqueeze(1);
    at::Tensor w = (k.to(at::kDouble) * step).to(at::kFloat);
    QuantizedWeight q = quantize_weight(w, WeightQuantConfig{bits});
    REQUIRE(at::equal(q.codes, k.to(at::kChar)));
    REQUIRE(at::equal(q.dequantized, w));
    REQUIRE(at::equal(q.scales.reshape(-1), step.reshape(-1).to(at::kFloat)));
  }
}

TEST_CASE("all-zero and constant rows give no NaN and are exact", "[weight]") {
  at::Tensor w = at::zeros({4, 32});
  w[1].fill_(0.3);
  w[2].fill_(-2.0);
  w[3].fill_(1e-30);
  for (bool asym : {false, true}) {
    for (bool clip : {false, true}) {
      for (at::ScalarType sd : {at::kFloat, at::kHalf}) {
        WeightQuantConfig cfg;
        cfg.asymmetric = asym;
        cfg.clip_search = clip;
        cfg.scale_dtype = sd;
        QuantizedWeight q = quantize_weight(w, cfg);
        INFO("asym " << asym << " clip " << clip << " scale dtype " << sd);
        REQUIRE(at::isfinite(q.dequantized).all().item<bool>());
        REQUIRE(at::isfinite(q.scales.to(at::kFloat)).all().item<bool>());
        REQUIRE((q.scales.to(at::kFloat) > 0).all().item<bool>());
        REQUIRE(q.scales[0][0].item<float>() == 1.0f);
        REQUIRE(q.codes[0].eq(0).all().item<bool>());
        if (asym) REQUIRE(q.zeros[0][0].item<int>() == 0);
        REQUIRE(q.dequantized[0].eq(0).all().item<bool>());
        REQUIRE(at::allclose(q.dequantized.narrow(0, 1, 2), w.narrow(0, 1, 2), 1e-3, 0));
        if (sd == at::kFloat) REQUIRE(at::allclose(q.dequantized[3], w[3], 1e-5, 0));
      }
    }
  }
}

TEST_CASE("clip search is never worse than no clipping in its own metric", "[weight]") {
  // Heavy tails: a few outliers per row make shrinking pay off.
  at::Tensor w = test_weight(16, 128, 3);
  at::Tensor u = randn({16, 128}, 4).to(at::kFloat);
  w = w + at::where(u.abs() > 2.3, w.abs().amax({1}, true) * 4 * u.sign(), at::zeros_like(w));
  for (bool asym : {false, true}) {
    for (int64_t gs : {int64_t(0), int64_t(32)}) {
      for (int bits : {3, 4}) {
        WeightQuantConfig cfg;
        cfg.bits = bits;
        cfg.asymmetric = asym;
        cfg.group_size = gs;
        QuantizedWeight plain = quantize_weight(w, cfg);
        cfg.clip_search = true;
        QuantizedWeight clipped = quantize_weight(w, cfg);
        const int64_t g = gs == 0 ? 128 : gs;
        at::Tensor e_plain = clip_metric(plain.dequantized, w, g);
        at::Tensor e_clip = clip_metric(clipped.dequantized, w, g);
        INFO("asym " << asym << " group " << gs << " bits " << bits);
        REQUIRE((e_clip <= e_plain * (1 + 1e-5)).all().item<bool>());
        REQUIRE((e_clip < e_plain * 0.99).any().item<bool>());
        // Clipping only ever shrinks the scale.
        REQUIRE((clipped.scales <= plain.scales * (1 + 1e-6)).all().item<bool>());
        REQUIRE(at::allclose(clipped.dequantized,
                             dequantize_weight(clipped.codes, clipped.scales, clipped.zeros, gs,
                                               at::Tensor(), at::kFloat)));
      }
    }
  }
}

TEST_CASE("asymmetric RTN: unsigned codes, integer zero point, half-step error", "[weight]") {
  at::Tensor w = test_weight(10, 48, 5);
  w[0] = w[0].abs() + 0.5;  // all positive: zero point 0
  w[1] = -w[1].abs() - 0.5;  // all negative: zero point maxq
  for (int bits : {2, 4, 8}) {
    WeightQuantConfig cfg;
    cfg.bits = bits;
    cfg.asymmetric = true;
    cfg.group_size = 16;
    QuantizedWeight q = quantize_weight(w, cfg);
    const int64_t maxq = (int64_t(1) << bits) - 1;
    INFO("bits " << bits);
    REQUIRE(q.codes.scalar_type() == at::kByte);
    REQUIRE(q.zeros.scalar_type() == at::kByte);
    REQUIRE(q.zeros.sizes() == at::IntArrayRef({10, 3}));
    REQUIRE(q.codes.to(at::kLong).max().item<int64_t>() <= maxq);
    REQUIRE(q.zeros[0].eq(0).all().item<bool>());
    REQUIRE(q.zeros[1].to(at::kLong).eq(maxq).all().item<bool>());
    at::Tensor s = expand_groups(q.scales, 48);
    REQUIRE(((q.dequantized - w).abs() <= s * 0.5 * (1 + 1e-5)).all().item<bool>());
    at::Tensor z = expand_groups(q.zeros, 48);
    REQUIRE(at::equal(q.dequantized, s * (q.codes.to(at::kFloat) - z)));
    // The range [min(w, 0), max(w, 0)] maps onto [0, maxq].
    at::Tensor lo = at::clamp_max(w.reshape({-1, 16}).amin({1}), 0);
    at::Tensor hi = at::clamp_min(w.reshape({-1, 16}).amax({1}), 0);
    REQUIRE(at::allclose(q.scales.reshape(-1), (hi - lo) / double(maxq), 1e-6, 0));
  }
}

TEST_CASE("float16 scales and weights stay consistent", "[weight]") {
  at::Tensor w = test_weight(8, 32, 6).to(at::kHalf);
  WeightQuantConfig cfg;
  cfg.scale_dtype = at::kHalf;
  cfg.clip_search = true;
  QuantizedWeight q = quantize_weight(w, cfg);
  REQUIRE(q.scales.scalar_type() == at::kHalf);
  REQUIRE(q.dequantized.scalar_type() == at::kHalf);
  at::Tensor expect = (q.scales.to(at::kFloat) * q.codes.to(at::kFloat)).to(at::kHalf);
  REQUIRE(at::equal(q.dequantized, expect));
  REQUIRE(at::equal(q.dequantized, dequantize_weight(q.codes, q.scales, {}, 0, {}, at::kHalf)));
}

TEST_CASE("dequantize_weight honours a column-to-group map", "[weight]") {
  at::Tensor codes = quarot_test::randint({3, 8}, -8, 7, 9).to(at::kChar);
  at::Tensor scales = at::tensor({1.0f, 2.0f, 0.5f, 4.0f, 3.0f, 0.25f}).reshape({3, 2});
  at::Tensor g_idx = at::tensor({1, 0, 0, 1, 1, 0, 1, 0}, at::kLong);
  at::Tensor w = dequantize_weight(codes, scales, {}, 4, g_idx, at::kFloat);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 8; ++c)
      REQUIRE(w[r][c].item<float>() ==
              scales[r][g_idx[c].item<int64_t>()].item<float>() * codes[r][c].item<float>());
}

TEST_CASE("weight quantizer rejects bad input", "[weight]") {
  at::Tensor w = at::ones({4, 30});
  WeightQuantConfig cfg;
  cfg.bits = 1;
  REQUIRE_THROWS_AS(quantize_weight(w, cfg), quarot::Error);
  cfg.bits = 4;
  cfg.group_size = 16;
  REQUIRE_THROWS_AS(quantize_weight(w, cfg), quarot::Error);
  cfg.group_size = 0;
  w[1][2] = NAN;
  REQUIRE_THROWS_WITH(quantize_weight(w, cfg, "layers.0.q_proj"),
                      Catch::Contains("layers.0.q_proj") && Catch::Contains("NaN"));
  REQUIRE_THROWS_AS(quantize_weight(at::ones({4}), cfg), quarot::Error);
}
