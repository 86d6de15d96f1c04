// The CUDA runner's host-side logic, testable without a GPU: what it accepts,
// its RoPE tables, the gate/up interleaving and the ids file reader. The kernels
// are tested by test_runner_gpu (tests/runner/gpu/), which needs a GPU.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <utility>

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
  j["intermediate_size"] = 11000;  // 8 * 1375: no Hadamard with K <= 256 for down_proj's input
  CHECK_THAT(refusal(quarot::LlamaConfig::from_json(j, "config.json"), packed_manifest()),
             Catch::Contains("intermediate_size") && Catch::Contains("online.down_proj_input"));
  j = llama_json();
  j["intermediate_size"] = 11007;  // odd: int4 codes come in pairs
  quarot::Manifest no_had = packed_manifest();
  no_had.online = {false, false, false};
  CHECK_THAT(refusal(quarot::LlamaConfig::from_json(j, "config.json"), no_had),
             Catch::Contains("intermediate_size") && Catch::Contains("even"));
  j = llama_json();
  j["hidden_size"] = 4104;  // 8 * 513: not a multiple of the GEMM's 16-row output tile
  j["head_dim"] = 128;
  CHECK_THAT(refusal(quarot::LlamaConfig::from_json(j, "config.json"), packed_manifest()),
             Catch::Contains("hidden_size"));
  j = llama_json();
  j["head_dim"] = 300;
  CHECK_THAT(refusal(quarot::LlamaConfig::from_json(j, "config.json"), no_had), Catch::Contains("head_dim = 300"));
  j = llama_json();
  j["num_attention_heads"] = 5;  // (5 + 2) * 6 = 42 q/k/v rows
  j["num_key_value_heads"] = 1;
  j["head_dim"] = 6;
  CHECK_THAT(refusal(quarot::LlamaConfig::from_json(j, "config.json"), no_had),
             Catch::Contains("num_key_value_heads") && Catch::Contains("multiple of 16"));
  j = llama_json();
  j["num_attention_heads"] = 6;  // no Hadamard of order 6 across the heads
  j["num_key_value_heads"] = 6;
  j["head_dim"] = 64;
  CHECK_THAT(refusal(quarot::LlamaConfig::from_json(j, "config.json"), packed_manifest()),
             Catch::Contains("num_attention_heads = 6") && Catch::Contains("online.o_proj_heads"));
}

TEST_CASE("check_runner_support accepts the tiny models and pads their GEMM widths", "[runner]") {
  const fs::path models = fs::path(QUAROT_SOURCE_DIR) / "tests/data/models";
  // stories260K: hidden 64, intermediate 172 (= 172 * 2^0), 8 heads / 4 kv of 8.
  const quarot::LlamaConfig s260 = quarot::LlamaConfig::load(models / "stories260K");
  const quarot::runner::ModelShape a = check_runner_support(s260, packed_manifest(), "/ckpt");
  REQUIRE(a.head_dim == 8);
  REQUIRE(a.qkv_rows() == 128);
  REQUIRE(a.d_pad() == 64);
  REQUIRE(a.attn_pad() == 64);
  REQUIRE(a.inter == 172);
  REQUIRE(a.inter_pad() == 192);
  // tinystories-656k: hidden 128, intermediate 384, head_dim 16 (from hidden / heads).
  const quarot::LlamaConfig s656 = quarot::LlamaConfig::load(models / "tinystories-656k");
  const quarot::runner::ModelShape b = check_runner_support(s656, packed_manifest(), "/ckpt");
  REQUIRE(b.head_dim == 16);
  REQUIRE(b.inter_pad() == 384);
  REQUIRE(b.d_pad() == 128);
  // Llama shapes are multiples of 32 already: nothing is padded.
  const quarot::LlamaConfig big = quarot::LlamaConfig::from_json(llama_json(), "config.json");
  const quarot::runner::ModelShape c = check_runner_support(big, packed_manifest(), "/ckpt");
  REQUIRE((c.d_pad() == c.d && c.inter_pad() == c.inter && c.attn_pad() == c.heads * c.head_dim));
}

TEST_CASE("gate/up interleaving pairs gate and up rows when the intermediate size is padded", "[runner]") {
  // The loader interleaves 2 * inter_pad rows; rows past `inter` in each half are zeros.
  const int64_t Ip = quarot::runner::ModelShape::pad32(172);
  std::set<int64_t> seen;
  for (int64_t r = 0; r < 2 * Ip; ++r) {
    const int64_t src = quarot::runner::interleaved_gate_up_source(r, Ip);
    REQUIRE((src >= 0 && src < 2 * Ip));
    seen.insert(src);
    if (r % 16 < 8) REQUIRE(quarot::runner::interleaved_gate_up_source(r + 8, Ip) == src + Ip);
  }
  REQUIRE(seen.size() == size_t(2 * Ip));
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

TEST_CASE("w4a4_tile_weights places every packed byte where kernels.h says, zeros elsewhere", "[runner]") {
  std::mt19937_64 rng(7);
  // N and K with and without the padding to 32 rows / 128 codes.
  for (auto [N, K] : {std::pair{64, 256}, std::pair{48, 96}, std::pair{272, 1376}, std::pair{32, 11008}}) {
    INFO("N " << N << " K " << K);
    std::vector<uint8_t> packed(size_t(N) * size_t(K / 2));
    for (auto& b : packed) b = uint8_t(rng() | 1);  // never 0, so that misplaced zeros show
    const int64_t KT = (K + 127) / 128;
    REQUIRE(quarot::runner::w4a4_weight_bytes(N, K) == size_t((N + 31) / 32) * size_t(KT) * 2048);
    std::vector<uint8_t> tiled(quarot::runner::w4a4_weight_bytes(N, K), 0xEE);
    quarot::runner::w4a4_tile_weights(packed.data(), N, K, tiled.data());
    std::vector<char> hit(tiled.size(), 0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t kb = 0; kb < K / 2; ++kb) {
        // The description in kernels.h: block (n / 32, k / 128) at ((n / 32) KT + k / 128) * 2048,
        // row n % 32 of it at 64 (n % 32), byte kb % 64 of that row.
        const size_t at = size_t(((n / 32) * KT + kb / 64) * 2048 + (n % 32) * 64 + kb % 64);
        REQUIRE(tiled[at] == packed[size_t(n * (K / 2) + kb)]);
        hit[at] = 1;
      }
    size_t stray = 0;
    for (size_t i = 0; i < tiled.size(); ++i) stray += !hit[i] && tiled[i] != 0;
    REQUIRE(stray == 0);
  }
  std::vector<uint8_t> out(16);
  REQUIRE_THROWS_WITH(quarot::runner::w4a4_tile_weights(nullptr, 4, 33, out.data()), Catch::Contains("K must be even"));
}
