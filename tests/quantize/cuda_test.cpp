// The quantizers on CUDA give what they give on the CPU. Skipped without a GPU.
#include <catch2/catch.hpp>

#include <chrono>

#include "gptq/gptq.h"
#include "gptq/hessian.h"
#include "quantize/act_quantizer.h"
#include "quantize/pack.h"
#include "quantize/weight_quantizer.h"
#include "tests/quantize/test_rand.h"

using namespace quarot;
using quarot_test::randn;

TEST_CASE("quantizers on CUDA match the CPU", "[cuda]") {
  if (!at::hasCUDA()) {
    WARN("no CUDA device: skipped");
    return;
  }
  at::Tensor w = randn({64, 256}, 101).to(at::kFloat);
  for (bool asym : {false, true}) {
    WeightQuantConfig cfg;
    cfg.asymmetric = asym;
    cfg.group_size = 64;
    QuantizedWeight c = quantize_weight(w, cfg);
    QuantizedWeight g = quantize_weight(w.cuda(), cfg);
    REQUIRE(g.codes.is_cuda());
    // ATen may divide by a scalar through its reciprocal on one device and not the
    // other, so the last bit can differ.
    REQUIRE(at::allclose(g.scales.cpu(), c.scales, 1e-6, 0));
    REQUIRE(g.codes.cpu().eq(c.codes).to(at::kDouble).mean().item<double>() > 0.999);
    REQUIRE(at::allclose(g.dequantized.cpu(), c.dequantized, 1e-5, 1e-6));
    cfg.clip_search = true;
    c = quantize_weight(w, cfg);
    g = quantize_weight(w.cuda(), cfg);
    // pow() may round differently on the GPU, which can flip a near tie in the search.
    at::Tensor same = (g.scales.cpu() - c.scales).abs() <= c.scales * 1e-6;
    REQUIRE(same.to(at::kDouble).mean().item<double>() > 0.97);
  }
  at::Tensor x = randn({4, 7, 128}, 102).to(at::kHalf);
  ActQuantConfig a;
  a.bits = 4;
  REQUIRE(at::allclose(fake_quant_activation(x.cuda(), a).cpu().to(at::kFloat),
                       fake_quant_activation(x, a).to(at::kFloat), 1e-3, 1e-3));
  KvQuantConfig k;
  k.bits = 4;
  k.group_size = 32;
  REQUIRE(at::allclose(fake_quant_kv(x.cuda(), k).cpu().to(at::kFloat),
                       fake_quant_kv(x, k).to(at::kFloat), 1e-3, 1e-3));
  at::Tensor codes = quarot_test::randint({32, 64}, -8, 7, 103).to(at::kChar);
  at::Tensor p = pack_int4(codes.cuda());
  REQUIRE(p.is_cuda());
  REQUIRE(at::equal(p.cpu(), pack_int4(codes)));
  REQUIRE(at::equal(unpack_int4(p).cpu(), codes));
}

TEST_CASE("GPTQ timing on a Llama-7B-sized layer", "[.][bench]") {
  if (!at::hasCUDA()) return;
  for (int64_t in : {int64_t(4096), int64_t(11008)}) {
    const int64_t out = 4096;
    at::Tensor w = at::randn({out, in}, at::TensorOptions().device(at::kCUDA)) * 0.02;
    HessianAccumulator acc(in, at::kCUDA);
    at::Tensor x = at::randn({2048, in}, at::TensorOptions().device(at::kCUDA));
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 16; ++i) acc.add_batch(x);
    at::Tensor h = acc.hessian();
    h.sum().item<double>();
    auto t1 = std::chrono::steady_clock::now();
    for (bool act_order : {false, true}) {
      for (int64_t gs : {int64_t(0), int64_t(128)}) {
        GptqConfig cfg;
        cfg.quant.clip_search = true;
        cfg.quant.group_size = gs;
        cfg.act_order = act_order;
        auto t2 = std::chrono::steady_clock::now();
        GptqResult r = gptq_quantize(w, h, cfg, "bench");
        auto t3 = std::chrono::steady_clock::now();
        WARN(out << "x" << in << " ao " << act_order << " g " << gs << ": H(32k rows) "
                  << std::chrono::duration<double>(t1 - t0).count() << " s, gptq "
                  << std::chrono::duration<double>(t3 - t2).count() << " s");
      }
    }
  }
}
