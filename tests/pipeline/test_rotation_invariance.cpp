// Norm fusion and rotation leave the model's function unchanged (float64, so
// the tolerance can be tight), provided the evaluator applies the online
// transforms the rotation records.
#include <ATen/ATen.h>


#include "apps/stages/runtime_hooks.h"
#include "lib/model/llama.h"
#include "rotate/fuse_norms.h"
#include "rotate/rotate_model.h"

// Last: ATen defines its own CHECK, which must not replace Catch2's.
#include <catch2/catch.hpp>

using namespace quarot;

namespace {
const std::string kGolden = std::string(QUAROT_SOURCE_DIR) + "/tests/golden/";

double rel_err(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

at::Tensor sample_ids(const LlamaConfig& c) {
  return at::arange(0, 2 * 40, at::kLong).view({2, 40}).mul(37).remainder(c.vocab_size);
}

at::Tensor run(const LlamaModel& m, const OnlineTransforms& online, const at::Tensor& ids) {
  QuarotHooks hooks(m.config, online, ActQuant{}, KvQuant{});
  return m.forward(ids, hooks);
}
}  // namespace

TEST_CASE("fusing norms keeps the logits", "[rotate]") {
  for (const char* name : {"tiny-gqa", "tiny-llama3"}) {
    DYNAMIC_SECTION(name) {
      LlamaModel m = load_llama(kGolden + name, at::kDouble, at::kCPU);
      const at::Tensor ids = sample_ids(m.config);
      const at::Tensor ref = m.forward(ids);
      REQUIRE_FALSE(norms_are_fused(m));
      fuse_norms(m);
      CHECK(norms_are_fused(m));
      CHECK_FALSE(m.tied());
      CHECK(rel_err(m.forward(ids), ref) < 1e-12);
    }
  }
}

TEST_CASE("rotation keeps the logits with the online transforms", "[rotate]") {
  for (const char* name : {"tiny-gqa", "tiny-llama3"}) {
    for (const char* mode : {"hadamard", "random"}) {
      DYNAMIC_SECTION(name << " " << mode) {
        LlamaModel m = load_llama(kGolden + name, at::kDouble, at::kCPU);
        const at::Tensor ids = sample_ids(m.config);
        const at::Tensor ref = m.forward(ids);
        fuse_norms(m);
        const at::Tensor v_before = m.layers[0].v.weight.clone();
        RotationOptions opt;
        opt.mode = mode;
        opt.seed = 7;
        OnlineTransforms online = rotate_model(m, opt);
        CHECK(online.down_proj_input);
        CHECK(online.o_proj_heads);
        CHECK(online.qk_post_rope);
        CHECK_FALSE(at::allclose(m.layers[0].v.weight, v_before));
        CHECK(rel_err(run(m, online, ids), ref) < 1e-10);
        // Without the online transforms the rotated model computes something else:
        // the check above is not vacuous.
        CHECK(rel_err(run(m, OnlineTransforms{}, ids), ref) > 1e-3);
      }
    }
  }
}

TEST_CASE("each online transform can be left out on its own", "[rotate]") {
  LlamaModel base = load_llama(kGolden + "tiny-gqa", at::kDouble, at::kCPU);
  const at::Tensor ids = sample_ids(base.config);
  const at::Tensor ref = base.forward(ids);
  for (int drop = 0; drop < 3; ++drop) {
    DYNAMIC_SECTION("drop " << drop) {
      LlamaModel m = load_llama(kGolden + "tiny-gqa", at::kDouble, at::kCPU);
      fuse_norms(m);
      RotationOptions opt;
      opt.online_down = drop != 0;
      opt.online_o = drop != 1;
      opt.online_qk = drop != 2;
      OnlineTransforms online = rotate_model(m, opt);
      CHECK(rel_err(run(m, online, ids), ref) < 1e-10);
    }
  }
}

TEST_CASE("the same seed gives the same weights", "[rotate]") {
  auto rotated = [](uint64_t seed) {
    LlamaModel m = load_llama(kGolden + "tiny-gqa", at::kDouble, at::kCPU);
    fuse_norms(m);
    RotationOptions opt;
    opt.seed = seed;
    rotate_model(m, opt);
    return m;
  };
  LlamaModel a = rotated(3), b = rotated(3), c = rotated(4);
  CHECK(at::equal(a.embed, b.embed));
  CHECK(at::equal(a.layers[1].down.weight, b.layers[1].down.weight));
  CHECK_FALSE(at::equal(a.embed, c.embed));
}

TEST_CASE("rotation refuses an unfused model", "[rotate]") {
  LlamaModel m = load_llama(kGolden + "tiny-gqa", at::kDouble, at::kCPU);
  CHECK_THROWS_WITH(rotate_model(m, RotationOptions{}), Catch::Contains("fuse"));
}
