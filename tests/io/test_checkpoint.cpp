#include <catch2/catch.hpp>
#include <cstring>
#include <nlohmann/json.hpp>

#include "io_test_util.h"
#include "lib/core/error.h"
#include "lib/io/checkpoint.h"
#include "lib/io/config.h"

using namespace quarot;
using namespace quarot_test;
using Catch::Contains;

namespace {

// Layers of 3 tensors of 1 KB each, plus two 4 KB tensors.
TensorSet sample_set(std::vector<std::vector<uint8_t>>* keep) {
  TensorSet set;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, size_t n) {
    keep->emplace_back(n * 4);
    for (size_t i = 0; i < keep->back().size(); ++i) keep->back()[i] = uint8_t(i * 13 + name.size());
    set.add(name, DType::F32, shape, keep->back().data());
  };
  keep->reserve(64);
  add("model.embed_tokens.weight", {16, 64}, 1024);
  for (int l = 0; l < 4; ++l)
    for (const char* t : {"a", "b", "c"})
      add("model.layers." + std::to_string(l) + "." + t + ".weight", {256}, 256);
  add("lm_head.weight", {16, 64}, 1024);
  return set;
}

void check_same(const Checkpoint& c, const TensorSet& set) {
  REQUIRE(c.names().size() == set.tensors().size());
  for (const auto& t : set.tensors()) {
    INFO(t.name);
    REQUIRE(c.has(t.name));
    CHECK(c.info(t.name).shape == t.shape);
    CHECK(c.info(t.name).dtype == t.dtype);
    REQUIRE(std::memcmp(c.data(t.name), t.data, t.nbytes) == 0);
  }
}

// Shapes a Llama checkpoint must hold, derived from its config.
std::map<std::string, std::vector<int64_t>> llama_shapes(const LlamaConfig& c) {
  std::map<std::string, std::vector<int64_t>> s;
  const int64_t h = c.hidden_size, q = c.num_attention_heads * c.head_dim,
                kv = c.num_key_value_heads * c.head_dim, f = c.intermediate_size;
  s["model.embed_tokens.weight"] = {c.vocab_size, h};
  s["model.norm.weight"] = {h};
  if (!c.tie_word_embeddings) s["lm_head.weight"] = {c.vocab_size, h};
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    s[p + "input_layernorm.weight"] = {h};
    s[p + "post_attention_layernorm.weight"] = {h};
    s[p + "self_attn.q_proj.weight"] = {q, h};
    s[p + "self_attn.k_proj.weight"] = {kv, h};
    s[p + "self_attn.v_proj.weight"] = {kv, h};
    s[p + "self_attn.o_proj.weight"] = {h, q};
    s[p + "mlp.gate_proj.weight"] = {f, h};
    s[p + "mlp.up_proj.weight"] = {f, h};
    s[p + "mlp.down_proj.weight"] = {h, f};
    if (c.qkv_bias)
      for (auto [n, d] : {std::pair{"q", q}, {"k", kv}, {"v", kv}}) s[p + "self_attn." + n + "_proj.bias"] = {d};
    if (c.o_bias) s[p + "self_attn.o_proj.bias"] = {h};
    if (c.mlp_bias) {
      s[p + "mlp.gate_proj.bias"] = {f};
      s[p + "mlp.up_proj.bias"] = {f};
      s[p + "mlp.down_proj.bias"] = {h};
    }
  }
  return s;
}

void write_index(const fs::path& dir, const nlohmann::json& weight_map) {
  nlohmann::json j = {{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}};
  write_bytes(dir / "model.safetensors.index.json", j.dump(2));
}

void write_one(const fs::path& p, const std::vector<std::string>& names) {
  TensorSet set;
  for (const auto& n : names) set.add(n, DType::U8, {2}, std::vector<uint8_t>{1, 2});
  write_safetensors(p, set);
}

}  // namespace

TEST_CASE("checkpoint: bundled models match the shapes their configs imply", "[checkpoint]") {
  for (const char* rel : {"tests/data/models/stories260K", "tests/golden/tiny-llama3",
                          "tests/golden/tiny-gqa"}) {
    INFO(rel);
    Checkpoint ck(source_path(rel));
    LlamaConfig cfg = LlamaConfig::load(source_path(rel));
    CHECK_FALSE(ck.sharded());
    auto expect = llama_shapes(cfg);
    std::vector<std::string> names;
    for (const auto& kv : expect) names.push_back(kv.first);
    if (cfg.tie_word_embeddings && ck.has("lm_head.weight")) names.push_back("lm_head.weight");
    std::sort(names.begin(), names.end());
    CHECK(ck.names() == names);
    for (const auto& [n, shape] : expect) {
      INFO(n);
      CHECK(ck.info(n).shape == shape);
      CHECK(ck.info(n).dtype == cfg.dtype);
    }
  }
  // transformers kept lm_head and dropped its tied alias, recording it in metadata.
  Checkpoint t(source_path("tests/data/models/tinystories-656k"));
  CHECK(t.has("lm_head.weight"));
  CHECK_FALSE(t.has("model.embed_tokens.weight"));
  CHECK(t.files()[0]->metadata().at("model.embed_tokens.weight") == "lm_head.weight");
}

TEST_CASE("checkpoint: wikillama-27m (bf16) in the shared assets", "[checkpoint]") {
  const fs::path dir = fs::path(QUAROT_SHARED_DIR) / "assets/models/wikillama-27m";
  if (!fs::exists(dir / "model.safetensors")) {
    WARN("skipped: " << dir << " not present");
    return;
  }
  Checkpoint ck(dir);
  LlamaConfig cfg = LlamaConfig::load(dir);
  CHECK(cfg.dtype == DType::BF16);
  for (const auto& [n, shape] : llama_shapes(cfg)) {
    INFO(n);
    REQUIRE(ck.has(n));
    CHECK(ck.info(n).shape == shape);
    CHECK(ck.info(n).dtype == DType::BF16);
  }
  auto norm = ck.read_float("model.norm.weight");
  CHECK(norm.size() == size_t(cfg.hidden_size));
}

TEST_CASE("checkpoint: single-file write and read", "[checkpoint]") {
  TempDir tmp;
  std::vector<std::vector<uint8_t>> keep;
  TensorSet set = sample_set(&keep);
  auto written = write_checkpoint_weights(tmp.path(), set);
  CHECK(written == std::vector<std::string>{"model.safetensors"});
  Checkpoint ck(tmp.path());
  CHECK_FALSE(ck.sharded());
  check_same(ck, set);
  // Sharding limit larger than everything: still one file, as transformers does.
  TempDir tmp2;
  CHECK(write_checkpoint_weights(tmp2.path(), set, set.total_bytes()) ==
        std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("checkpoint: sharded write and read", "[checkpoint]") {
  TempDir tmp;
  std::vector<std::vector<uint8_t>> keep;
  TensorSet set = sample_set(&keep);
  set.set_metadata("quarot", "1");
  const uint64_t limit = 4096 + 1024;  // an embedding-sized tensor plus one layer tensor
  auto written = write_checkpoint_weights(tmp.path(), set, limit);
  REQUIRE(written.size() >= 4);
  CHECK(written.back() == "model.safetensors.index.json");
  CHECK(written.front() == "model-00001-of-0000" + std::to_string(written.size() - 1) + ".safetensors");
  for (const auto& f : written) CHECK(fs::exists(tmp / f));

  auto index = nlohmann::json::parse(read_bytes(tmp / "model.safetensors.index.json"));
  CHECK(index["metadata"]["total_size"] == set.total_bytes());
  CHECK(index["weight_map"].size() == set.tensors().size());

  Checkpoint ck(tmp.path());
  CHECK(ck.sharded());
  CHECK(ck.files().size() == written.size() - 1);
  check_same(ck, set);
  for (const auto& f : ck.files()) {
    uint64_t bytes = 0;
    for (const auto& n : f->names()) bytes += f->info(n).nbytes;
    CHECK(bytes <= limit);
    CHECK(f->metadata().at("quarot") == "1");
  }
  // A tensor larger than the limit gets a shard of its own.
  TempDir tmp2;
  auto w2 = write_checkpoint_weights(tmp2.path(), set, 2048);
  Checkpoint ck2(tmp2.path());
  CHECK(ck2.file_of("lm_head.weight").names() == std::vector<std::string>{"lm_head.weight"});
  check_same(ck2, set);
}

TEST_CASE("checkpoint: writer refuses a directory that already holds weights", "[checkpoint]") {
  TempDir tmp;
  std::vector<std::vector<uint8_t>> keep;
  TensorSet set = sample_set(&keep);
  write_checkpoint_weights(tmp.path(), set, 8192);
  CHECK_THROWS_WITH(write_checkpoint_weights(tmp.path(), set),
                    Contains(tmp.path().string()) && Contains("already holds weights"));
  CHECK_THROWS_WITH(write_checkpoint_weights(tmp / "missing", set), Contains("missing"));
}

TEST_CASE("checkpoint: missing weights", "[checkpoint]") {
  TempDir tmp;
  CHECK_THROWS_WITH(Checkpoint(tmp.path()), Contains(tmp.path().string()) &&
                                                Contains("model.safetensors"));
  write_bytes(tmp / "pytorch_model.bin", "x");
  CHECK_THROWS_WITH(Checkpoint(tmp.path()), Contains("pytorch_model.bin"));
  CHECK_THROWS_WITH(Checkpoint(tmp / "nodir"), Contains("nodir"));
}

TEST_CASE("checkpoint: index naming a missing file", "[checkpoint][bad]") {
  TempDir tmp;
  write_one(tmp / "model-00001-of-00002.safetensors", {"model.norm.weight"});
  write_index(tmp.path(), {{"model.norm.weight", "model-00001-of-00002.safetensors"},
                           {"model.layers.1.mlp.up_proj.weight", "model-00002-of-00002.safetensors"}});
  CHECK_THROWS_WITH(Checkpoint(tmp.path()),
                    Contains("model.safetensors.index.json") && Contains("model.layers.1.mlp.up_proj.weight") &&
                        Contains("model-00002-of-00002.safetensors") && Contains("does not exist"));
}

TEST_CASE("checkpoint: index naming a tensor its shard lacks", "[checkpoint][bad]") {
  TempDir tmp;
  write_one(tmp / "a.safetensors", {"model.norm.weight"});
  write_index(tmp.path(), {{"model.norm.weight", "a.safetensors"},
                           {"model.layers.0.self_attn.q_proj.weight", "a.safetensors"}});
  CHECK_THROWS_WITH(Checkpoint(tmp.path()),
                    Contains("model.safetensors.index.json") && Contains("model.layers.0.self_attn.q_proj.weight") &&
                        Contains("a.safetensors") && Contains("no such tensor"));
}

TEST_CASE("checkpoint: the same tensor in two shards", "[checkpoint][bad]") {
  TempDir tmp;
  write_one(tmp / "a.safetensors", {"model.norm.weight", "model.layers.0.mlp.down_proj.weight"});
  write_one(tmp / "b.safetensors", {"model.layers.0.mlp.down_proj.weight", "lm_head.weight"});
  write_index(tmp.path(), {{"model.norm.weight", "a.safetensors"},
                           {"model.layers.0.mlp.down_proj.weight", "a.safetensors"},
                           {"lm_head.weight", "b.safetensors"}});
  CHECK_THROWS_WITH(Checkpoint(tmp.path()), Contains("model.layers.0.mlp.down_proj.weight") &&
                                                Contains("a.safetensors") && Contains("b.safetensors") &&
                                                Contains("twice"));
}

TEST_CASE("checkpoint: a shard holding a tensor the index does not list", "[checkpoint][bad]") {
  TempDir tmp;
  write_one(tmp / "a.safetensors", {"model.norm.weight", "extra.weight"});
  write_index(tmp.path(), {{"model.norm.weight", "a.safetensors"}});
  CHECK_THROWS_WITH(Checkpoint(tmp.path()), Contains("a.safetensors") && Contains("extra.weight") &&
                                                Contains("does not list"));
}

TEST_CASE("checkpoint: malformed index", "[checkpoint][bad]") {
  TempDir tmp;
  const auto idx = tmp / "model.safetensors.index.json";
  write_bytes(idx, "{\"weight_map\": {");
  CHECK_THROWS_WITH(Checkpoint(tmp.path()), Contains("index.json") && Contains("malformed JSON"));
  write_bytes(idx, "{\"metadata\": {}}");
  CHECK_THROWS_WITH(Checkpoint(tmp.path()), Contains("index.json") && Contains("'weight_map'"));
  write_bytes(idx, "{\"weight_map\": {\"model.norm.weight\": 3}}");
  CHECK_THROWS_WITH(Checkpoint(tmp.path()), Contains("index.json") && Contains("model.norm.weight"));
  write_bytes(idx, "{\"weight_map\": {\"model.norm.weight\": \"../x.safetensors\"}}");
  CHECK_THROWS_WITH(Checkpoint(tmp.path()), Contains("model.norm.weight") && Contains("../x.safetensors"));
  write_bytes(idx, "{\"weight_map\": {}}");
  CHECK_THROWS_WITH(Checkpoint(tmp.path()), Contains("index.json") && Contains("empty"));
}

TEST_CASE("checkpoint: a corrupt shard is reported by its file name", "[checkpoint][bad]") {
  TempDir tmp;
  write_bytes(tmp / "a.safetensors", "short");
  write_index(tmp.path(), {{"model.norm.weight", "a.safetensors"}});
  CHECK_THROWS_WITH(Checkpoint(tmp.path()), Contains("a.safetensors") && Contains("shorter"));
}

TEST_CASE("checkpoint: lookups of absent tensors name the directory and tensor", "[checkpoint]") {
  Checkpoint ck(source_path("tests/data/models/stories260K"));
  CHECK_THROWS_WITH(ck.info("model.layers.9.mlp.up_proj.weight"),
                    Contains("stories260K") && Contains("model.layers.9.mlp.up_proj.weight"));
  CHECK_THROWS_WITH(ck.data("nope"), Contains("nope"));
}

TEST_CASE("checkpoint: copy_side_files copies tokenizer and generation files only", "[checkpoint]") {
  TempDir tmp;
  auto copied = copy_side_files(source_path("tests/data/models/tinystories-656k"), tmp.path());
  std::sort(copied.begin(), copied.end());
  CHECK(copied == std::vector<std::string>{"generation_config.json", "special_tokens_map.json",
                                           "tokenizer.json", "tokenizer_config.json"});
  for (const auto& f : copied)
    CHECK(read_bytes(tmp / f) == read_bytes(source_path("tests/data/models/tinystories-656k/" + f)));
  CHECK_FALSE(fs::exists(tmp / "config.json"));
  CHECK_FALSE(fs::exists(tmp / "model.safetensors"));
  size_t n = 0;
  for (auto& e : fs::directory_iterator(tmp.path())) n += e.is_regular_file();
  CHECK(n == 4);  // nothing temporary left

  TempDir src, dst;
  write_bytes(src / "tokenizer.model", "spm");
  write_bytes(src / "quarot.json", "{}");
  write_bytes(src / "config.json", "{}");
  CHECK(copy_side_files(src.path(), dst.path()) == std::vector<std::string>{"tokenizer.model"});
  CHECK(read_bytes(dst / "tokenizer.model") == "spm");
}
