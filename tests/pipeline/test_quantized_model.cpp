// Model-level quantization: the GPTQ driver against RTN, W8A8KV8 near-losslessness
// after rotation, stored codes that load back to the same weights, and
// calibration sampling that is reproducible by seed.
#include <ATen/ATen.h>

#include <unistd.h>

#include <filesystem>

#include "apps/stages/eval_model.h"
#include "apps/stages/model_quantize.h"
#include "apps/stages/model_io.h"
#include "apps/stages/runtime_hooks.h"
#include "calib/calibration.h"
#include "lib/core/files.h"
#include "quantize/stored_weights.h"
#include "quantize/weight_quantizer.h"
#include "rotate/fuse_norms.h"
#include "rotate/rotate_model.h"

// Last: ATen defines its own CHECK, which must not replace Catch2's.
#include <catch2/catch.hpp>

using namespace quarot;
namespace fs = std::filesystem;

namespace {
const std::string kGolden = std::string(QUAROT_SOURCE_DIR) + "/tests/golden/";

LlamaModel rotated_tiny(OnlineTransforms* online) {
  LlamaModel m = load_llama(kGolden + "tiny-gqa", at::kDouble, at::kCPU);
  fuse_norms(m);
  *online = rotate_model(m, RotationOptions{});
  m.to(at::kCPU, at::kFloat);
  return m;
}

// Token ids with some structure (repeats), so calibration and evaluation see related inputs.
at::Tensor token_ids(int64_t n, int64_t T, int64_t vocab, int64_t salt) {
  return (at::arange(n * T, at::kLong).view({n, T}).remainder(17) * 13 + salt).remainder(vocab);
}

double logits_mse(const LlamaModel& a, const LlamaModel& b, const OnlineTransforms& online, const at::Tensor& ids) {
  QuarotHooks h(a.config, online, ActQuant{}, KvQuant{});
  return (a.forward(ids, h) - b.forward(ids, h)).pow(2).mean().item<double>();
}
}  // namespace

TEST_CASE("GPTQ over the model beats RTN on the calibration data", "[gptq]") {
  OnlineTransforms online;
  const LlamaModel fp = rotated_tiny(&online);
  const at::Tensor calib = at::randint(0, fp.config.vocab_size, {16, 32}, at::TensorOptions().dtype(at::kLong));

  LlamaModel g = fp;  // tensors are shared, but the driver replaces them rather than writing into them
  GptqRunOptions opt;
  opt.gptq.quant.bits = 3;
  opt.batch = 4;
  QuantizedLinears q = gptq_model(g, online, calib, opt);
  CHECK(q.size() == 14);  // 7 linears x 2 layers
  CHECK(q.count("model.layers.1.mlp.down_proj") == 1);

  LlamaModel r = fp;
  WeightQuantConfig wc;
  wc.bits = 3;
  for (NamedLinear& nl : decoder_linears(r)) nl.linear->weight = quantize_weight(nl.linear->weight, wc).dequantized;

  const double gptq_err = logits_mse(g, fp, online, calib), rtn_err = logits_mse(r, fp, online, calib);
  INFO("gptq " << gptq_err << " rtn " << rtn_err);
  CHECK(gptq_err < rtn_err);
  // The stored codes reproduce the weights the model now holds.
  const QuantizedLinear& d = q.at("model.layers.0.self_attn.q_proj");
  at::Tensor w = d.codes.to(at::kFloat) * d.scale;
  CHECK(at::allclose(w, g.layers[0].q.weight, 1e-6, 1e-7));
}

// A random 64-wide model amplifies every rounding (1-2% logit error per 8-bit site
// here), so the property checked is the ordering the bit widths must produce;
// perplexity on a real model is checked in tests/apps/cli_test.sh.
TEST_CASE("logit error shrinks with more bits", "[quantize]") {
  OnlineTransforms online;
  const LlamaModel fp = rotated_tiny(&online);
  const at::Tensor ids = token_ids(2, 40, fp.config.vocab_size, 3);
  QuarotHooks h16(fp.config, online, ActQuant{}, KvQuant{});
  const at::Tensor ref = fp.forward(ids, h16);
  auto rel_err = [&](int bits) {
    LlamaModel q = fp;
    fake_quantize_weights(q, bits, 0, true);
    ActQuant a;
    a.bits = bits;
    KvQuant kv;
    kv.k_bits = kv.v_bits = bits;
    QuarotHooks h(q.config, online, a, kv);
    return (q.forward(ids, h) - ref).norm().item<double>() / ref.norm().item<double>();
  };
  const double e8 = rel_err(8), e6 = rel_err(6), e4 = rel_err(4);
  INFO("W8A8KV8 " << e8 << ", W6A6KV6 " << e6 << ", W4A4KV4 " << e4);
  CHECK(e8 > 0);  // the quantizers really ran
  CHECK(e8 < e6);
  CHECK(e6 < e4);
  CHECK(e8 < 0.15);
}

TEST_CASE("quantized checkpoints load back to the same weights", "[quantize]") {
  OnlineTransforms online;
  LlamaModel m = rotated_tiny(&online);
  QuantizedLinears q;
  WeightQuantConfig wc;
  wc.bits = 4;
  wc.clip_search = true;
  for (NamedLinear& nl : decoder_linears(m)) {
    QuantizedWeight w = quantize_weight(nl.linear->weight, wc, nl.name.c_str());
    nl.linear->weight = w.dequantized;
    q[nl.name] = {w.codes, w.scales, at::Tensor()};
  }
  const fs::path tmp = fs::temp_directory_path() / ("quarot-test-" + std::to_string(::getpid()));
  for (bool pack : {false, true}) {
    DYNAMIC_SECTION((pack ? "packed" : "int8 codes")) {
      remove_tree(tmp);
      SaveOptions so;
      so.pack_int4 = pack;
      write_dir_atomic(tmp, false, [&](const fs::path& d) { save_model(m, Manifest{}, kGolden + "tiny-gqa", d, so, &q); });
      LlamaModel back = load_llama(tmp, at::kFloat, at::kCPU, read_stored_linear_weight);
      for (int i = 0; i < 2; ++i) {
        CHECK(at::equal(back.layers[size_t(i)].down.weight, m.layers[size_t(i)].down.weight));
        CHECK(at::equal(back.layers[size_t(i)].k.weight, m.layers[size_t(i)].k.weight));
      }
      remove_tree(tmp);
    }
  }
}

TEST_CASE("calibration windows are reproducible by seed", "[calib]") {
  auto a = sample_window_starts(10000, 512, 64, 7), b = sample_window_starts(10000, 512, 64, 7),
       c = sample_window_starts(10000, 512, 64, 8);
  CHECK(a == b);
  CHECK(a != c);
  for (int64_t s : a) {
    CHECK(s >= 0);
    CHECK(s + 512 <= 10000);
  }
  CHECK_THROWS_WITH(sample_window_starts(100, 512, 1, 0), Catch::Contains("512"));
  CHECK_THROWS_WITH(resolve_calibration_file("wikitext2:" + std::string(QUAROT_SOURCE_DIR) +
                                             "/tests/data/wikitext-2-raw/wiki.test.raw"),
                    Catch::Contains("test split"));
  CHECK_THROWS_WITH(resolve_calibration_file("books:/x"), Catch::Contains("unknown source"));
}
