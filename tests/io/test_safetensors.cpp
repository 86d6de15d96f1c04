#include <catch2/catch.hpp>
#include <cstring>
#include <nlohmann/json.hpp>

#include "io_test_util.h"
#include "lib/core/error.h"
#include "lib/io/safetensors.h"

using namespace quarot;
using namespace quarot_test;

namespace {

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(seed * 31 + i * 7 + (i >> 8));
  return v;
}

const DType kAll[] = {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64,
                      DType::I32, DType::I16, DType::I8,  DType::U8,   DType::BOOL};

}  // namespace

TEST_CASE("safetensors: every dtype round-trips with metadata", "[safetensors]") {
  TempDir tmp;
  TensorSet set;
  std::map<std::string, std::vector<uint8_t>> expect;
  uint8_t seed = 1;
  for (DType t : kAll) {
    // Odd element counts so that a name-only order would misalign the next tensor.
    std::vector<int64_t> shape = {3, 5};
    auto bytes = pattern(15 * dtype_size(t), seed++);
    if (t == DType::BOOL)
      for (auto& b : bytes) b &= 1;
    std::string name = std::string("t.") + dtype_name(t);
    expect[name] = bytes;
    set.add(name, t, shape, bytes);
  }
  set.add("scalar", DType::F32, {}, std::vector<uint8_t>{0, 0, 128, 63});
  set.add("empty", DType::F16, {0, 4}, std::vector<uint8_t>{});
  set.set_metadata("quarot", "yes \"quoted\" \xc3\xa9");
  const auto path = tmp / "x.safetensors";
  write_safetensors(path, set);

  SafetensorsFile f(path);
  CHECK(f.names().size() == 12);
  CHECK(std::is_sorted(f.names().begin(), f.names().end()));
  CHECK(f.metadata().at("format") == "pt");
  CHECK(f.metadata().at("quarot") == "yes \"quoted\" \xc3\xa9");
  for (DType t : kAll) {
    std::string name = std::string("t.") + dtype_name(t);
    const TensorInfo& ti = f.info(name);
    CHECK(ti.dtype == t);
    CHECK(ti.shape == std::vector<int64_t>{3, 5});
    CHECK(ti.numel() == 15);
    CHECK(ti.nbytes == 15 * dtype_size(t));
    CHECK(ti.file_offset % dtype_size(t) == 0);  // natural alignment in the file
    REQUIRE(std::memcmp(f.data(name), expect[name].data(), ti.nbytes) == 0);
  }
  CHECK(f.info("scalar").shape.empty());
  CHECK(f.read_float("scalar") == std::vector<float>{1.0f});
  CHECK(f.info("empty").nbytes == 0);
  CHECK(f.info("empty").shape == std::vector<int64_t>{0, 4});

  // Header: length a multiple of 8, compact JSON, metadata first, padded with spaces.
  const std::string raw = read_bytes(path);
  uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  CHECK(n % 8 == 0);
  CHECK(raw.compare(8, 16, "{\"__metadata__\":") == 0);
  auto header = nlohmann::json::parse(raw.substr(8, n));
  CHECK(header["t.F64"]["data_offsets"][0] == 0);
  // No temporary file left behind.
  int entries = 0;
  for (auto& e : fs::directory_iterator(tmp.path())) entries += e.is_regular_file();
  CHECK(entries == 1);
}

TEST_CASE("safetensors: rewriting Hugging Face files reproduces them byte for byte", "[safetensors]") {
  // These were written by the Python safetensors library; the same tensors and
  // metadata must give the same bytes, which pins header layout, ordering and padding.
  TempDir tmp;
  for (const char* rel : {"tests/data/models/stories260K/model.safetensors",
                          "tests/data/models/tinystories-656k/model.safetensors",
                          "tests/golden/tiny-llama3/model.safetensors",
                          "tests/golden/tiny-llama3/logits.safetensors",
                          "tests/golden/tiny-gqa/logits.safetensors"}) {
    INFO(rel);
    SafetensorsFile in(source_path(rel));
    TensorSet set;
    set.clear_metadata();
    for (const auto& kv : in.metadata()) set.set_metadata(kv.first, kv.second);
    for (const auto& name : in.names()) set.add_from(in, name);
    const auto out = tmp / "copy.safetensors";
    write_safetensors(out, set);
    CHECK(read_bytes(out) == read_bytes(source_path(rel)));
  }
}

TEST_CASE("safetensors: borrowed data outlives the reader through keep_alive", "[safetensors]") {
  TempDir tmp;
  TensorSet set;
  std::vector<float> v = {1.0f, -2.5f, 3.25f};
  set.add_from_float("w", DType::BF16, {3}, v.data());
  write_safetensors(tmp / "a.safetensors", set);
  TensorSet copy;
  {
    SafetensorsFile f(tmp / "a.safetensors");
    copy.add_from(f, "w", "renamed");
  }
  write_safetensors(tmp / "b.safetensors", copy);
  SafetensorsFile g(tmp / "b.safetensors");
  CHECK(g.names() == std::vector<std::string>{"renamed"});
  CHECK(g.info("renamed").dtype == DType::BF16);
  CHECK(g.read_float("renamed") == v);
}

TEST_CASE("safetensors: writing over an existing file replaces it", "[safetensors]") {
  TempDir tmp;
  const auto p = tmp / "x.safetensors";
  TensorSet a, b;
  a.add("a", DType::U8, {1}, std::vector<uint8_t>{1});
  b.add("b", DType::U8, {2}, std::vector<uint8_t>{2, 3});
  write_safetensors(p, a);
  write_safetensors(p, b);
  SafetensorsFile f(p);
  CHECK(f.names() == std::vector<std::string>{"b"});
}

TEST_CASE("safetensors: a file without metadata has none", "[safetensors]") {
  TempDir tmp;
  TensorSet set;
  set.clear_metadata();
  set.add("a", DType::I32, {2}, std::vector<uint8_t>(8, 9));
  write_safetensors(tmp / "x.safetensors", set);
  SafetensorsFile f(tmp / "x.safetensors");
  CHECK(f.metadata().empty());
  CHECK(read_bytes(tmp / "x.safetensors").find("__metadata__") == std::string::npos);
}

TEST_CASE("safetensors: the writer refuses inconsistent tensors by name", "[safetensors]") {
  TensorSet set;
  set.add("model.a", DType::F32, {2}, std::vector<uint8_t>(8));
  CHECK_THROWS_WITH(set.add("model.a", DType::F32, {2}, std::vector<uint8_t>(8)),
                    Catch::Contains("model.a") && Catch::Contains("twice"));
  CHECK_THROWS_WITH(set.add("model.b", DType::F32, {3}, std::vector<uint8_t>(8)),
                    Catch::Contains("model.b") && Catch::Contains("12 bytes"));
  CHECK_THROWS_WITH(set.add("model.c", DType::F32, {-1}, std::vector<uint8_t>{}),
                    Catch::Contains("model.c"));
  CHECK_THROWS_WITH(set.add("__metadata__", DType::F32, {0}, std::vector<uint8_t>{}),
                    Catch::Contains("__metadata__"));
  const float one = 1.0f;
  CHECK_THROWS_WITH(set.add_from_float("model.d", DType::I8, {1}, &one), Catch::Contains("model.d"));
  CHECK_THROWS_WITH(set.get("model.zzz"), Catch::Contains("model.zzz"));
}

TEST_CASE("safetensors: reads the bundled stories260K checkpoint", "[safetensors]") {
  SafetensorsFile f(source_path("tests/data/models/stories260K/model.safetensors"));
  CHECK(f.metadata().at("format") == "pt");
  CHECK(f.names().size() == 5 * 9 + 2);
  CHECK(f.info("model.embed_tokens.weight").shape == std::vector<int64_t>{512, 64});
  CHECK(f.info("model.layers.4.self_attn.k_proj.weight").shape == std::vector<int64_t>{32, 64});
  auto norm = f.read_float("model.norm.weight");
  CHECK(norm.size() == 64);
  CHECK_FALSE(f.has("lm_head.weight"));  // tied
  CHECK_THROWS_WITH(f.info("lm_head.weight"),
                    Catch::Contains("lm_head.weight") && Catch::Contains("stories260K"));
  CHECK_THROWS_WITH(f.data("lm_head.weight"), Catch::Contains("lm_head.weight"));
}
