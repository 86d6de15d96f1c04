// The CUDA runner's host-side logic, testable without a GPU: what it accepts,
// its RoPE tables, the gate/up interleaving and the ids file reader. The kernels
// are tested by test_runner_gpu (tests/runner/gpu/), which needs a GPU.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "lib/core/error.h"
#include "lib/runner/kernels.h"
#include "lib/runner/rope_tables.h"
#include "lib/runner/runner.h"
#include "lib/runner/support.h"

namespace fs = std::filesystem;
using quarot::runner::check_runner_support;

namespace {

nlohmann::json llama_json() {
  return {{"model_type", "llama"}, {"hidden_size", 4096}, {"intermediate_size", 11008},
          {"num_hidden_layers", 32}, {"num_attention_heads", 32}, {"num_key_value_heads", 32},
          {"vocab_size", 32000}, {"max_position_embeddings", 4096}, {"rms_norm_eps", 1e-5},
          {"rope_theta", 10000.0}};
}

quarot::Manifest packed_manifest() {
  quarot::Manifest m;
  m.online = {true, true, true};
  m.weights.bits = 4;
  m.weights.format = "int4-packed";
  m.activations.bits = 4;
  m.kv.k_bits = 4;
  m.kv.v_bits = 4;
  return m;
}

std::string refusal(const quarot::LlamaConfig& c, const quarot::Manifest& m) {
  try {
    check_runner_support(c, m, "/ckpt");
  } catch (const quarot::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("check_runner_support accepts Llama W4A4KV4 and names what it refuses", "[runner]") {
  const quarot::LlamaConfig cfg = quarot::LlamaConfig::from_json(llama_json(), "config.json");
  const quarot::runner::ModelShape s = check_runner_support(cfg, packed_manifest(), "/ckpt");
  REQUIRE(s.qkv_rows() == 3 * 4096);
  REQUIRE(s.inter == 11008);

  quarot::Manifest m = packed_manifest();
  m.weights.format = "int8-codes";
  CHECK_THAT(refusal(cfg, m), Catch::Contains("/ckpt/quarot.json") && Catch::Contains("weights.format"));
  m = packed_manifest();
  m.weights.groupsize = 128;
  CHECK_THAT(refusal(cfg, m), Catch::Contains("weights.groupsize"));
  m = packed_manifest();
  m.activations.bits = 16;
  CHECK_THAT(refusal(cfg, m), Catch::Contains("activations.bits"));
  m = packed_manifest();
  m.activations.groupsize = 64;
  CHECK_THAT(refusal(cfg, m), Catch::Contains("activations.groupsize"));
  m = packed_manifest();
  m.kv.v_bits = 8;
  CHECK_THAT(refusal(cfg, m), Catch::Contains("kv_cache.v_bits"));
  m = packed_manifest();
  m.kv.symmetric = true;
  CHECK_THAT(refusal(cfg, m), Catch::Contains("kv_cache.symmetric"));

  nlohmann::json j = llama_json();
  j["head_dim"] = 96;
  j["hidden_size"] = 96 * 32;
  CHECK_THAT(refusal(quarot::LlamaConfig::from_json(j, "config.json"), packed_manifest()),
             Catch::Contains("/ckpt/config.json") && Catch::Contains("head_dim"));
  j = llama_json();
  j["intermediate_size"] = 11000;  // not a multiple of 32
  CHECK_THAT(refusal(quarot::LlamaConfig::from_json(j, "config.json"), packed_manifest()),
             Catch::Contains("intermediate_size"));
}

TEST_CASE("runner RoPE tables follow lib/model/rope.cpp's float32 recipe", "[runner]") {
  nlohmann::json j = llama_json();
  const quarot::LlamaConfig plain = quarot::LlamaConfig::from_json(j, "config.json");
  std::vector<float> c, s;
  quarot::runner::rope_tables_host(plain, 100, c, s);
  REQUIRE(c.size() == size_t(100 * 64));
  for (int t : {0, 1, 57, 99})
    for (int i : {0, 1, 31, 63}) {
      const double inv = 1.0 / std::pow(10000.0, 2.0 * i / 128.0);
      const double angle = t * inv;
      // float32 inverse frequencies and angles: agreement to float rounding of the angle.
      REQUIRE(std::abs(c[size_t(t) * 64 + i] - std::cos(angle)) <= 1e-6 * (1 + angle));
      REQUIRE(std::abs(s[size_t(t) * 64 + i] - std::sin(angle)) <= 1e-6 * (1 + angle));
    }
  // Llama 3.1 scaling: long wavelengths are divided by the factor, short ones kept.
  j["rope_theta"] = 500000.0;
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  const quarot::LlamaConfig l3 = quarot::LlamaConfig::from_json(j, "config.json");
  const std::vector<float> inv = quarot::runner::rope_inverse_frequencies(l3);
  const double base0 = 1.0, base63 = 1.0 / std::pow(500000.0, 126.0 / 128.0);
  REQUIRE(std::abs(inv[0] - base0) <= 1e-6);
  REQUIRE(std::abs(inv[63] - base63 / 8.0) <= 1e-6 * base63);
}

TEST_CASE("gate/up interleaving is a permutation pairing gate row i with up row i", "[runner]") {
  const int64_t I = 1376;
  std::set<int64_t> seen;
  for (int64_t r = 0; r < 2 * I; ++r) {
    const int64_t src = quarot::runner::interleaved_gate_up_source(r, I);
    REQUIRE(seen.insert(src).second);
    if (r % 16 < 8) REQUIRE(quarot::runner::interleaved_gate_up_source(r + 8, I) == src + I);
  }
  REQUIRE(seen.size() == size_t(2 * I));
}

TEST_CASE("read_token_ids reads int32 little-endian and names bad files", "[runner]") {
  const fs::path p = fs::temp_directory_path() / "quarot_runner_ids_test.bin";
  const std::vector<int32_t> ids = {1, 2, 32000, 7};
  {
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(ids.data()), 16);
  }
  REQUIRE(quarot::read_token_ids(p) == ids);
  {
    std::ofstream f(p, std::ios::binary);
    f.write("abcde", 5);
  }
  CHECK_THROWS_WITH(quarot::read_token_ids(p), Catch::Contains(p.string()) && Catch::Contains("int32"));
  fs::remove(p);
  CHECK_THROWS_WITH(quarot::read_token_ids(p), Catch::Contains(p.string()));
}
