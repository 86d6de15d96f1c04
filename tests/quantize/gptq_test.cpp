#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "gptq/gptq.h"
#include "gptq/hessian.h"
#include "lib/core/error.h"
#include "quantize/weight_quantizer.h"
#include "tests/quantize/test_rand.h"

using namespace quarot;
using quarot_test::randn;

namespace {

// Calibration inputs with strongly correlated features and a few loud channels,
// like a transformer's hidden states.
at::Tensor calib_inputs(int64_t rows, int64_t in, uint64_t seed) {
  at::Tensor z = randn({rows, in}, seed);
  at::Tensor mix = randn({in, in}, seed + 1) / std::sqrt(double(in)) + at::eye(in, at::kDouble) * 0.3;
  at::Tensor loud = at::ones({in}, at::kDouble);
  loud.narrow(0, 0, 4).fill_(6.0);
  return (z.matmul(mix) * loud).to(at::kFloat);
}

at::Tensor hessian_of(const at::Tensor& x) {
  HessianAccumulator acc(x.size(1));
  acc.add_batch(x);
  return acc.hessian();
}

double output_error(const at::Tensor& x, const at::Tensor& w, const at::Tensor& wq) {
  at::Tensor xd = x.to(at::kDouble);
  return (xd.matmul(w.to(at::kDouble).t()) - xd.matmul(wq.to(at::kDouble).t())).norm().item<double>();
}

// GPTQ the slow way, in float64: one column at a time with the whole remaining
// matrix updated at once and H^-1 updated by eliminating each quantized column
// (the OBS form; no Cholesky, no blocks, no lazy updates). Symmetric RTN grid
// without clip search, scales stored as float32 like the library's.
struct SlowResult {
  at::Tensor codes, deq;
  double loss = 0;
};

SlowResult slow_gptq(const at::Tensor& W, const at::Tensor& H, int bits, double percdamp,
                     int64_t gs, bool act_order, bool static_groups) {
  const int64_t out = W.size(0), in = W.size(1);
  at::Tensor w = W.to(at::kDouble).clone();
  at::Tensor h = H.to(at::kDouble).clone();
  for (int64_t j = 0; j < in; ++j) {
    if (h[j][j].item<double>() == 0) {
      h[j][j] = 1.0;
      w.select(1, j).zero_();
    }
  }
  const double maxq = std::ldexp(1.0, bits - 1) - 1;
  auto scale_of = [&](const at::Tensor& cols) {
    at::Tensor s = cols.abs().amax({1}) / maxq;
    s = at::where(s == 0, at::ones_like(s), s);
    return s.to(at::kFloat).to(at::kDouble);
  };
  at::Tensor static_scales;  // [out, groups] from the original columns
  if (static_groups)
    static_scales = scale_of(w.reshape({out * (in / gs), gs})).reshape({out, in / gs});

  std::vector<int64_t> perm(in);
  std::iota(perm.begin(), perm.end(), 0);
  if (act_order) {
    std::vector<double> d(in);
    for (int64_t j = 0; j < in; ++j) d[j] = h[j][j].item<double>();
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return d[a] > d[b]; });
  }
  at::Tensor p = at::tensor(perm, at::kLong);
  w = w.index_select(1, p);
  h = h.index_select(0, p).index_select(1, p);
  h = h + at::eye(in, at::kDouble) * (percdamp * h.diagonal().mean().item<double>());
  at::Tensor hinv = at::inverse(h);

  at::Tensor s = gs == 0 ? scale_of(w) : at::Tensor();
  at::Tensor codes = at::zeros({out, in}, at::kDouble), deq = at::zeros({out, in}, at::kDouble);
  double loss = 0;
  for (int64_t j = 0; j < in; ++j) {
    if (static_groups) s = static_scales.select(1, perm[j] / gs);
    else if (gs > 0 && j % gs == 0) s = scale_of(w.narrow(1, j, gs));
    const double d = hinv[j][j].item<double>();
    at::Tensor col = w.select(1, j).clone();
    at::Tensor q = at::clamp(at::round(col / s), -maxq - 1, maxq);
    at::Tensor e = col - s * q;
    codes.select(1, j).copy_(q);
    deq.select(1, j).copy_(s * q);
    loss += (e * e).sum().item<double>() / (2 * d);
    for (int64_t k = j + 1; k < in; ++k)
      w.select(1, k).sub_(e * (hinv[j][k].item<double>() / d));
    hinv = hinv - at::outer(hinv.select(1, j), hinv.select(0, j)) / d;
  }
  at::Tensor inv = at::argsort(p);
  return {codes.index_select(1, inv), deq.index_select(1, inv), loss};
}

}  // namespace

TEST_CASE("Hessian accumulator keeps the running mean of 2 X^T X", "[gptq]") {
  at::Tensor a = randn({2, 50, 16}, 31).to(at::kFloat);
  at::Tensor b = randn({30, 16}, 32).to(at::kHalf);
  at::Tensor all = at::cat({a.reshape({100, 16}).to(at::kDouble), b.to(at::kDouble)});
  at::Tensor expect = all.t().matmul(all) * (2.0 / 130);
  for (at::ScalarType t : {at::kDouble, at::kFloat}) {
    HessianAccumulator acc(16, at::kCPU, t);
    acc.add_batch(a);
    acc.add_batch(b);
    acc.add_batch(at::zeros({0, 16}));
    REQUIRE(acc.rows() == 130);
    REQUIRE(acc.hessian().scalar_type() == t);
    REQUIRE(at::allclose(acc.hessian().to(at::kDouble), expect, t == at::kDouble ? 1e-12 : 1e-5, 1e-6));
  }
  HessianAccumulator acc(16);
  REQUIRE_THROWS_AS(acc.add_batch(at::ones({4, 15})), quarot::Error);
}

TEST_CASE("GPTQ matches a slow float64 column-by-column reference", "[gptq]") {
  const int64_t out = 6, in = 12;
  at::Tensor x = calib_inputs(40, in, 41);
  x.select(1, 7).zero_();  // a dead input feature
  at::Tensor W = randn({out, in}, 42).to(at::kFloat);
  at::Tensor H = hessian_of(x);
  struct Case {
    int64_t gs;
    bool act_order, static_groups;
    int64_t block;
  };
  for (Case c : {Case{0, false, false, 5}, Case{0, true, false, 5}, Case{4, false, false, 5},
                 Case{4, true, false, 3}, Case{4, true, true, 5}, Case{6, false, false, 128}}) {
    GptqConfig cfg;
    cfg.quant.bits = 3;
    cfg.quant.group_size = c.gs;
    cfg.act_order = c.act_order;
    cfg.static_groups = c.static_groups;
    cfg.block_size = c.block;  // several blocks: the lazy updates are exercised
    cfg.compute_dtype = at::kDouble;
    GptqResult r = gptq_quantize(W, H, cfg, "tiny");
    SlowResult ref = slow_gptq(W, H, 3, cfg.percdamp, c.gs, c.act_order, c.static_groups);
    INFO("group " << c.gs << " act_order " << c.act_order << " static " << c.static_groups);
    REQUIRE(r.dead_columns == 1);
    REQUIRE(r.damp_retries == 0);
    REQUIRE(at::equal(r.weight.codes.to(at::kDouble), ref.codes));
    REQUIRE(at::allclose(r.weight.dequantized.to(at::kDouble), ref.deq, 1e-6, 1e-7));
    REQUIRE(r.error == Approx(ref.loss).epsilon(1e-9));
    REQUIRE(r.weight.dequantized.select(1, 7).eq(0).all().item<bool>());
    REQUIRE(r.weight.g_idx.defined() == (c.gs > 0 && c.act_order && !c.static_groups));
  }
}

TEST_CASE("GPTQ beats round-to-nearest on correlated inputs", "[gptq]") {
  const int64_t out = 64, in = 128;
  at::Tensor x = calib_inputs(1024, in, 51);
  at::Tensor W = (randn({out, in}, 52) * 0.05).to(at::kFloat);
  at::Tensor H = hessian_of(x);
  for (int bits : {3, 4}) {
    for (int64_t gs : {int64_t(0), int64_t(32)}) {
      for (bool act_order : {false, true}) {
        for (bool clip : {false, true}) {
          GptqConfig cfg;
          cfg.quant.bits = bits;
          cfg.quant.group_size = gs;
          cfg.quant.clip_search = clip;
          cfg.act_order = act_order;
          cfg.block_size = 48;
          GptqResult r = gptq_quantize(W, H, cfg, "layer");
          QuantizedWeight rtn = quantize_weight(W, cfg.quant);
          const double e_gptq = output_error(x, W, r.weight.dequantized);
          const double e_rtn = output_error(x, W, rtn.dequantized);
          INFO("bits " << bits << " group " << gs << " act_order " << act_order << " clip " << clip
                       << ": gptq " << e_gptq << " rtn " << e_rtn);
          REQUIRE(e_gptq < 0.7 * e_rtn);
          REQUIRE(std::isfinite(r.error));
          REQUIRE(r.error > 0);
          const int64_t maxq = (int64_t(1) << (bits - 1)) - 1;
          REQUIRE(r.weight.codes.min().item<int64_t>() >= -maxq - 1);
          REQUIRE(r.weight.codes.max().item<int64_t>() <= maxq);
          REQUIRE(r.weight.scales.sizes() == at::IntArrayRef({out, gs == 0 ? 1 : in / gs}));
          REQUIRE(at::equal(r.weight.dequantized,
                            dequantize_weight(r.weight.codes, r.weight.scales, r.weight.zeros, gs,
                                              r.weight.g_idx, at::kFloat)));
          if (gs > 0 && act_order) {
            // Each group holds gs columns.
            at::Tensor counts = at::bincount(r.weight.g_idx);
            REQUIRE(counts.eq(gs).all().item<bool>());
          }
        }
      }
    }
  }
}

TEST_CASE("GPTQ asymmetric and float16 weights", "[gptq]") {
  const int64_t out = 16, in = 64;
  at::Tensor x = calib_inputs(256, in, 61);
  at::Tensor W = (randn({out, in}, 62) * 0.05 + 0.02).to(at::kHalf);
  GptqConfig cfg;
  cfg.quant.asymmetric = true;
  cfg.quant.group_size = 16;
  cfg.quant.scale_dtype = at::kHalf;
  cfg.act_order = true;
  GptqResult r = gptq_quantize(W, hessian_of(x), cfg, "asym");
  REQUIRE(r.weight.codes.scalar_type() == at::kByte);
  REQUIRE(r.weight.zeros.scalar_type() == at::kByte);
  REQUIRE(r.weight.scales.scalar_type() == at::kHalf);
  REQUIRE(r.weight.dequantized.scalar_type() == at::kHalf);
  REQUIRE(r.weight.codes.to(at::kInt).max().item<int>() <= 15);
  QuantizedWeight rtn = quantize_weight(W, cfg.quant);
  REQUIRE(output_error(x, W, r.weight.dequantized) < output_error(x, W, rtn.dequantized));
}

TEST_CASE("GPTQ raises the damping when H is not positive definite", "[gptq]") {
  at::Tensor W = randn({4, 16}, 71).to(at::kFloat);
  at::Tensor H = at::eye(16, at::kFloat);
  H[15][15] = -0.5;  // needs damping >= 0.5 / mean diag = 0.55
  GptqConfig cfg;
  GptqResult r = gptq_quantize(W, H, cfg, "model.layers.3.mlp.down_proj");
  REQUIRE(r.damp_retries == 2);
  REQUIRE(r.damp == Approx(1.0));
  REQUIRE_THAT(r.warning, Catch::Contains("model.layers.3.mlp.down_proj"));
  REQUIRE(at::isfinite(r.weight.dequantized).all().item<bool>());
  cfg.max_damp_retries = 1;
  REQUIRE_THROWS_WITH(gptq_quantize(W, H, cfg, "model.layers.3.mlp.down_proj"),
                      Catch::Contains("model.layers.3.mlp.down_proj") &&
                          Catch::Contains("positive definite"));
  // Fewer calibration rows than features: singular H, which the default damping fixes.
  GptqResult few = gptq_quantize(W, hessian_of(calib_inputs(4, 16, 72)), GptqConfig{}, "few");
  REQUIRE(few.damp_retries == 0);
  REQUIRE(few.warning.empty());
  REQUIRE(at::isfinite(few.weight.dequantized).all().item<bool>());
}

TEST_CASE("GPTQ is deterministic and leaves its inputs alone", "[gptq]") {
  at::Tensor x = calib_inputs(128, 32, 81);
  at::Tensor W = randn({8, 32}, 82).to(at::kFloat);
  at::Tensor H = hessian_of(x);
  at::Tensor W0 = W.clone(), H0 = H.clone();
  GptqConfig cfg;
  cfg.quant.group_size = 8;
  cfg.quant.clip_search = true;
  cfg.act_order = true;
  GptqResult a = gptq_quantize(W, H, cfg);
  GptqResult b = gptq_quantize(W, H, cfg);
  REQUIRE(at::equal(a.weight.codes, b.weight.codes));
  REQUIRE(at::equal(a.weight.scales, b.weight.scales));
  REQUIRE(at::equal(a.weight.g_idx, b.weight.g_idx));
  REQUIRE(a.error == b.error);
  REQUIRE(at::equal(W, W0));
  REQUIRE(at::equal(H, H0));
}

TEST_CASE("GPTQ rejects bad input", "[gptq]") {
  at::Tensor W = at::ones({4, 16});
  GptqConfig cfg;
  REQUIRE_THROWS_AS(gptq_quantize(W, at::eye(15), cfg), quarot::Error);
  cfg.quant.group_size = 5;
  REQUIRE_THROWS_AS(gptq_quantize(W, at::eye(16), cfg), quarot::Error);
  cfg.quant.group_size = 0;
  at::Tensor Hn = at::eye(16);
  Hn[2][3] = NAN;
  REQUIRE_THROWS_AS(gptq_quantize(W, Hn, cfg), quarot::Error);
}

TEST_CASE("GPTQ on CUDA agrees with the CPU", "[gptq][cuda]") {
  if (!at::hasCUDA()) {
    WARN("no CUDA device: skipped");
    return;
  }
  at::Tensor x = calib_inputs(512, 128, 91);
  at::Tensor W = (randn({64, 128}, 92) * 0.05).to(at::kFloat);
  at::Tensor H = hessian_of(x);
  GptqConfig cfg;
  cfg.quant.group_size = 32;
  cfg.quant.clip_search = true;
  cfg.act_order = true;
  GptqResult cpu = gptq_quantize(W, H, cfg);
  GptqResult gpu = gptq_quantize(W.cuda(), H.cuda(), cfg);
  REQUIRE(gpu.weight.codes.is_cuda());
  const double agree = gpu.weight.codes.cpu().eq(cpu.weight.codes).to(at::kDouble).mean().item<double>();
  REQUIRE(agree > 0.95);
  REQUIRE(gpu.error == Approx(cpu.error).epsilon(0.05));
  HessianAccumulator acc(128, at::kCUDA);
  acc.add_batch(x.cuda());
  REQUIRE(at::allclose(acc.hessian().cpu(), H, 1e-4, 1e-5));
}
