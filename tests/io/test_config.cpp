#include <catch2/catch.hpp>

#include "io_test_util.h"
#include "lib/core/error.h"
#include "lib/io/config.h"

using namespace quarot;
using namespace quarot_test;
using Catch::Contains;
using json = nlohmann::json;

namespace {

json base() {
  return json::parse(R"({
    "model_type": "llama", "hidden_act": "silu", "hidden_size": 64, "intermediate_size": 172,
    "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 4,
    "vocab_size": 512, "max_position_embeddings": 512, "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0, "tie_word_embeddings": false, "torch_dtype": "float32",
    "bos_token_id": 1, "eos_token_id": 2, "architectures": ["LlamaForCausalLM"],
    "some_future_field": {"x": [1, 2]}})");
}

LlamaConfig parse(const json& j) { return LlamaConfig::from_json(j, "/m/config.json"); }

// Expects from_json to fail with a message naming the file and `field`.
void refuses(const json& j, const std::string& field, const std::string& also = "") {
  INFO(j.dump());
  CHECK_THROWS_WITH(parse(j), Contains("/m/config.json") && Contains("'" + field + "'") &&
                                  Contains(also));
}

}  // namespace

TEST_CASE("config: the bundled real configs", "[config]") {
  auto s = LlamaConfig::load(source_path("tests/data/models/stories260K/config.json"));
  CHECK(s.model_type == "llama");
  CHECK(s.hidden_size == 64);
  CHECK(s.intermediate_size == 172);
  CHECK(s.num_hidden_layers == 5);
  CHECK(s.num_attention_heads == 8);
  CHECK(s.num_key_value_heads == 4);
  CHECK(s.kv_groups() == 2);
  CHECK(s.head_dim == 8);
  CHECK(s.vocab_size == 512);
  CHECK(s.max_position_embeddings == 512);
  CHECK(s.rms_norm_eps == 1e-5);
  CHECK(s.tie_word_embeddings);
  CHECK_FALSE(s.qkv_bias);
  CHECK_FALSE(s.o_bias);
  CHECK_FALSE(s.mlp_bias);
  CHECK(s.dtype == DType::F32);
  CHECK(s.bos_token_ids == std::vector<int64_t>{1});
  CHECK(s.eos_token_ids == std::vector<int64_t>{2});
  CHECK(s.rope.theta == 10000.0);
  CHECK(s.rope.type == RopeType::Default);

  auto t = LlamaConfig::load(source_path("tests/data/models/tinystories-656k"));  // a directory
  CHECK(t.hidden_size == 128);
  CHECK(t.head_dim == 16);  // defaulted
  CHECK(t.rms_norm_eps == 1e-6);
  CHECK(t.dtype == DType::F32);  // from torch_dtype
  CHECK(t.rope.type == RopeType::Default);

  auto l3 = LlamaConfig::load(source_path("tests/golden/tiny-llama3/config.json"));
  CHECK(l3.head_dim == 24);
  CHECK(l3.num_key_value_heads == 1);
  CHECK(l3.qkv_bias);
  CHECK(l3.o_bias);
  CHECK(l3.mlp_bias);
  CHECK(l3.rope.type == RopeType::Llama3);
  CHECK(l3.rope.theta == 500000.0);
  CHECK(l3.rope.factor == 8.0);
  CHECK(l3.rope.low_freq_factor == 1.0);
  CHECK(l3.rope.high_freq_factor == 4.0);
  CHECK(l3.rope.original_max_position_embeddings == 32);

  const fs::path wiki = fs::path(QUAROT_SHARED_DIR) / "assets/models/wikillama-27m/config.json";
  if (fs::exists(wiki)) {
    auto w = LlamaConfig::load(wiki);
    CHECK(w.dtype == DType::BF16);
    CHECK(w.hidden_size == 512);
    CHECK(w.head_dim == 64);
    CHECK(w.bos_token_ids == std::vector<int64_t>{0});
  } else {
    WARN("skipped: " << wiki << " not present");
  }
}

TEST_CASE("config: to_json keeps unknown fields and reproduces real configs", "[config]") {
  for (const char* rel : {"tests/data/models/stories260K/config.json",
                          "tests/data/models/tinystories-656k/config.json",
                          "tests/golden/tiny-llama3/config.json", "tests/golden/tiny-gqa/config.json"}) {
    INFO(rel);
    auto c = LlamaConfig::load(source_path(rel));
    json orig = json::parse(read_bytes(source_path(rel)));
    json out = c.to_json();
    // Unchanged configs come back unchanged, except for a torch_dtype/num_key_value_heads
    // spelled out where the original left the default.
    for (auto it = orig.begin(); it != orig.end(); ++it) CHECK(out[it.key()] == it.value());
    for (auto it = out.begin(); it != out.end(); ++it)
      if (!orig.contains(it.key())) CHECK((it.key() == "torch_dtype" || it.key() == "head_dim"));
  }
}

TEST_CASE("config: edits are written back, save re-loads", "[config]") {
  TempDir tmp;
  auto c = LlamaConfig::load(source_path("tests/data/models/stories260K/config.json"));
  c.tie_word_embeddings = false;
  c.dtype = DType::F16;
  c.rope.theta = 20000;
  c.eos_token_ids = {2, 7};
  c.save(tmp / "config.json");
  json j = json::parse(read_bytes(tmp / "config.json"));
  CHECK(j["tie_word_embeddings"] == false);
  CHECK(j["dtype"] == "float16");
  CHECK(j["rope_parameters"]["rope_theta"] == 20000.0);
  CHECK_FALSE(j.contains("rope_theta"));  // stays where it was
  CHECK(j["eos_token_id"] == json::array({2, 7}));
  CHECK(j["transformers_version"] == "5.17.0");
  auto back = LlamaConfig::load(tmp / "config.json");
  CHECK_FALSE(back.tie_word_embeddings);
  CHECK(back.dtype == DType::F16);
  CHECK(back.eos_token_ids == std::vector<int64_t>{2, 7});

  // Llama can only express q/k/v/o biases together.
  c.qkv_bias = true;
  CHECK_THROWS_WITH(c.to_json(), Contains("attention_bias"));
}

TEST_CASE("config: rope scaling written back in the legacy layout", "[config]") {
  auto j = base();
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  auto c = parse(j);
  CHECK(c.rope.type == RopeType::Linear);
  CHECK(c.rope.factor == 2.0);
  c.rope.type = RopeType::Llama3;
  c.rope.factor = 8;
  c.rope.low_freq_factor = 1;
  c.rope.high_freq_factor = 4;
  c.rope.original_max_position_embeddings = 256;
  json out = c.to_json();
  CHECK(out["rope_scaling"]["rope_type"] == "llama3");
  CHECK(out["rope_scaling"]["type"] == "llama3");
  CHECK(out["rope_scaling"]["original_max_position_embeddings"] == 256);
  auto back = parse(out);
  CHECK(back.rope.type == RopeType::Llama3);
  CHECK(back.rope.original_max_position_embeddings == 256);
  back.rope.type = RopeType::Default;
  CHECK(back.to_json()["rope_scaling"].is_null());
}

TEST_CASE("config: defaults and alternative spellings", "[config]") {
  auto j = base();
  j.erase("num_key_value_heads");
  j.erase("tie_word_embeddings");
  j.erase("torch_dtype");
  j["dtype"] = "bfloat16";
  j["bos_token_id"] = nullptr;
  j["eos_token_id"] = {128001, 128009};
  auto c = parse(j);
  CHECK(c.num_key_value_heads == 8);
  CHECK(c.head_dim == 8);
  CHECK_FALSE(c.tie_word_embeddings);
  CHECK(c.dtype == DType::BF16);
  CHECK(c.bos_token_ids.empty());
  CHECK(c.eos_token_ids == std::vector<int64_t>{128001, 128009});
  json out = c.to_json();
  CHECK(out["bos_token_id"].is_null());
  CHECK(out["eos_token_id"] == json::array({128001, 128009}));

  j = base();
  j["torch_dtype"] = "torch.float16";
  CHECK(parse(j).dtype == DType::F16);
  j.erase("rope_theta");
  CHECK(parse(j).rope.theta == 10000.0);
  j["rope_parameters"] = {{"rope_type", "linear"}, {"factor", 4.0}, {"rope_theta", 1e6}};
  auto p = parse(j);
  CHECK(p.rope.theta == 1e6);
  CHECK(p.rope.type == RopeType::Linear);
  CHECK(p.rope.factor == 4.0);
}

TEST_CASE("config: mistral and qwen2", "[config]") {
  auto j = base();
  j["model_type"] = "mistral";
  j["sliding_window"] = nullptr;
  auto m = parse(j);
  CHECK_FALSE(m.qkv_bias);
  j["sliding_window"] = 512;
  CHECK_NOTHROW(parse(j));
  j["sliding_window"] = 128;
  refuses(j, "sliding_window", "128");

  j = base();
  j["model_type"] = "qwen2";
  j["use_sliding_window"] = false;
  j["sliding_window"] = 64;
  j["layer_types"] = {"full_attention", "full_attention"};
  auto q = parse(j);
  CHECK(q.qkv_bias);
  CHECK_FALSE(q.o_bias);
  CHECK_FALSE(q.mlp_bias);
  CHECK_FALSE(q.to_json().contains("attention_bias"));
  j["use_sliding_window"] = true;
  refuses(j, "use_sliding_window");
  j["use_sliding_window"] = false;
  j["layer_types"] = {"full_attention", "sliding_attention"};
  refuses(j, "layer_types", "sliding_attention");
}

TEST_CASE("config: refusals name the file and the field", "[config]") {
  auto with = [](const char* key, json v) {
    auto j = base();
    j[key] = std::move(v);
    return j;
  };
  auto without = [](const char* key) {
    auto j = base();
    j.erase(key);
    return j;
  };
  refuses(with("model_type", "gpt2"), "model_type", "gpt2");
  refuses(without("model_type"), "model_type", "missing");
  refuses(with("hidden_act", "gelu"), "hidden_act", "gelu");
  for (const char* f : {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                        "vocab_size", "max_position_embeddings", "rms_norm_eps"})
    refuses(without(f), f, "missing");
  refuses(with("hidden_size", 0), "hidden_size", "positive");
  refuses(with("hidden_size", -64), "hidden_size");
  refuses(with("hidden_size", 64.5), "hidden_size", "not an integer");
  refuses(with("vocab_size", "512"), "vocab_size", "not an integer");
  refuses(with("intermediate_size", -1), "intermediate_size", "positive");
  refuses(with("num_key_value_heads", 3), "num_key_value_heads", "does not divide");
  refuses(with("num_key_value_heads", 0), "num_key_value_heads");
  refuses(with("head_dim", 7), "head_dim", "even");
  refuses(with("num_attention_heads", 6), "hidden_size", "multiple");  // 64 % 6, no head_dim
  refuses(with("rms_norm_eps", 0), "rms_norm_eps", "positive");
  refuses(with("tie_word_embeddings", "yes"), "tie_word_embeddings");
  refuses(with("attention_bias", 1), "attention_bias");
  refuses(with("torch_dtype", "int8"), "torch_dtype", "int8");
  refuses(with("bos_token_id", "<s>"), "bos_token_id");
  refuses(with("eos_token_id", json::array({2, "x"})), "eos_token_id");
  refuses(with("rope_theta", -1.0), "rope_theta", "positive");
  refuses(with("rope_scaling", {{"rope_type", "dynamic"}, {"factor", 2.0}}), "rope_scaling.rope_type", "dynamic");
  refuses(with("rope_scaling", {{"type", "yarn"}, {"factor", 2.0}}), "rope_scaling.type", "yarn");
  refuses(with("rope_scaling", {{"rope_type", "linear"}}), "rope_scaling.factor", "missing");
  refuses(with("rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                                {"high_freq_factor", 4.0}}),
          "rope_scaling.original_max_position_embeddings", "missing");
  refuses(with("rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 4.0},
                                {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}}),
          "rope_scaling.high_freq_factor");
  refuses(with("rope_scaling", "linear"), "rope_scaling", "not an object");
  refuses(with("rope_parameters", {{"rope_type", "longrope"}}), "rope_parameters.rope_type", "longrope");
  refuses(with("rope_parameters", {{"rope_type", "default"}, {"rope_theta", 500.0}}), "rope_theta", "500");
  refuses(with("rope_parameters", {{"rope_type", "default"}, {"partial_rotary_factor", 0.5}}),
          "rope_parameters.partial_rotary_factor");
  CHECK_THROWS_WITH(LlamaConfig::load("/nonexistent/config.json"), Contains("/nonexistent/config.json"));
  TempDir tmp;
  write_bytes(tmp / "config.json", "{\"model_type\": ");
  CHECK_THROWS_WITH(LlamaConfig::load(tmp.path()), Contains("config.json") && Contains("malformed JSON"));
  write_bytes(tmp / "config.json", "[]");
  CHECK_THROWS_WITH(LlamaConfig::load(tmp.path()), Contains("config.json") && Contains("not an object"));
}
