// The LibTorch forward pass against logits that transformers computed (float64)
// for small random Llamas (scripts/make_golden.py): GQA, MQA, biases, llama3
// RoPE scaling, tied embeddings, head_dim != hidden/heads.
#include <ATen/ATen.h>


#include "lib/io/safetensors.h"
#include "lib/model/llama.h"
#include "lib/model/tensor_bridge.h"

// Last: ATen defines its own CHECK, which must not replace Catch2's.
#include <catch2/catch.hpp>

using namespace quarot;

namespace {
const std::string kGolden = std::string(QUAROT_SOURCE_DIR) + "/tests/golden/";

struct Golden {
  at::Tensor ids, logits;
};

Golden read_golden(const std::string& name) {
  SafetensorsFile f(kGolden + name + "/logits.safetensors");
  auto get = [&](const std::string& t) {
    const TensorInfo& i = f.info(t);
    return tensor_from_bytes(f.data(t), i.dtype, i.shape);
  };
  return {get("input_ids"), get("logits")};
}

// max |a - b| / max |b|: one number that says how many digits agree.
double rel_err(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor bd = b.to(at::kDouble);
  return (a.to(at::kDouble) - bd).abs().max().item<double>() / bd.abs().max().item<double>();
}
}  // namespace

TEST_CASE("forward matches transformers logits", "[model]") {
  for (const char* name : {"tiny-gqa", "tiny-llama3"}) {
    DYNAMIC_SECTION(name) {
      Golden g = read_golden(name);
      LlamaModel m = load_llama(kGolden + name, at::kDouble, at::kCPU);
      at::Tensor logits = m.forward(g.ids);
      REQUIRE(logits.sizes() == g.logits.sizes());
      // transformers runs softmax in float32 even for float64 models: agreement to
      // ~1e-7 is all that float64 can show here, and a wrong RoPE/GQA/bias is off by >1e-2.
      CHECK(rel_err(logits, g.logits) < 2e-6);

      m.to(at::kCPU, at::kFloat);
      CHECK(rel_err(m.forward(g.ids), g.logits) < 1e-4);
    }
  }
}

TEST_CASE("layer-by-layer forward equals the whole forward", "[model]") {
  Golden g = read_golden("tiny-gqa");
  LlamaModel m = load_llama(kGolden + "tiny-gqa", at::kDouble, at::kCPU);
  ForwardHooks none;
  at::Tensor h = m.embed_tokens(g.ids);
  for (int i = 0; i < int(m.layers.size()); ++i) h = m.layer_forward(i, h, none);
  CHECK(at::equal(m.head(h, none), m.forward(g.ids)));
}

TEST_CASE("tied checkpoints alias lm_head to the embedding", "[model]") {
  LlamaModel m = load_llama(kGolden + "tiny-llama3", at::kFloat, at::kCPU);
  CHECK(m.config.tie_word_embeddings);
  CHECK(m.tied());
  LlamaModel u = load_llama(kGolden + "tiny-gqa", at::kFloat, at::kCPU);
  CHECK_FALSE(u.tied());
}
