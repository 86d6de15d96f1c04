// Hand-checked behaviour on small synthetic tokenizer.json files: merge order,
// byte fallback, unk fusion, added-token splitting, refusals that name the field.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "lib/core/error.h"
#include "lib/tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::json;
using Ids = std::vector<int32_t>;

namespace {

// Writes `doc` to a fresh temporary file and returns its path.
fs::path write_temp(const json& doc) {
  static std::atomic<int> counter{0};
  const fs::path dir = fs::temp_directory_path() / "quarot_tokenizer_test";
  fs::create_directories(dir);
  const fs::path p = dir / ("tok_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".json");
  std::ofstream(p) << doc.dump();
  return p;
}

quarot::Tokenizer load(const json& doc) { return quarot::Tokenizer::load(write_temp(doc)); }

json bpe(json vocab, json merges) {
  return {{"type", "BPE"},        {"dropout", nullptr},   {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
          {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false}, {"vocab", vocab},
          {"merges", merges}};
}

// Merges as [["left", "right"], ...] (a braced list would read as a JSON object).
json pairs(const std::vector<std::pair<std::string, std::string>>& ps) {
  json out = json::array();
  for (const auto& [l, r] : ps) out.push_back(json::array({l, r}));
  return out;
}

json doc(json model) {
  return {{"version", "1.0"},      {"truncation", nullptr},    {"padding", nullptr}, {"added_tokens", json::array()},
          {"normalizer", nullptr}, {"pre_tokenizer", nullptr}, {"post_processor", nullptr}, {"decoder", nullptr},
          {"model", model}};
}

// The error message of loading `d`, or "" when it loads.
std::string load_error(const json& d) {
  try {
    load(d);
  } catch (const quarot::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("BPE applies the lowest-rank pair first, leftmost among equals", "[tokenizer][bpe]") {
  const json vocab = {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"bc", 4}, {"abc", 5}, {"aa", 6}, {"aaaa", 7}};
  SECTION("b c before a b") {
    const auto t = load(doc(bpe(vocab, pairs({{"b", "c"}, {"a", "b"}, {"a", "bc"}}))));
    CHECK(t.encode("abc") == Ids{5});                             // a|bc -> abc
    CHECK(t.encode("abab") == Ids{3, 3});                          // no bc pair: ab ab
    CHECK(t.encode("abcbc") == Ids{5, 4});                         // bc bc first, then a bc
  }
  SECTION("a b before b c, legacy \"x y\" merges") {
    const auto t = load(doc(bpe(vocab, json::array({"a b", "b c", "ab c"}))));
    CHECK(t.encode("abc") == Ids{5});
    CHECK(t.encode("bcab") == Ids{4, 3});
  }
  SECTION("equal ranks merge left to right") {
    const auto t = load(doc(bpe(vocab, pairs({{"a", "a"}, {"aa", "aa"}}))));
    CHECK(t.encode("aaa") == Ids{6, 0});
    CHECK(t.encode("aaaaa") == Ids{7, 0});
    CHECK(t.encode("aaaaaaa") == Ids{7, 6, 0});
  }
  SECTION("a pair listed twice keeps its later rank") {
    // Ranks: a b = 0 then 2 (the later one wins), b c = 1: so b c goes first.
    const auto t = load(doc(bpe(vocab, pairs({{"a", "b"}, {"b", "c"}, {"a", "b"}}))));
    CHECK(t.encode("abc") == Ids{0, 4});
  }
  SECTION("one long word is fast and exact") {
    const auto t = load(doc(bpe(vocab, pairs({{"a", "a"}, {"aa", "aa"}, {"b", "c"}, {"a", "bc"}}))));
    std::string text;
    for (int i = 0; i < 300000; ++i) text += "aaaabc";  // 1.8 MB, one word
    const auto t0 = std::chrono::steady_clock::now();
    const Ids ids = t.encode(text);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    Ids expected;
    for (int i = 0; i < 300000; ++i) expected.insert(expected.end(), {7, 4});  // aaaa bc
    CHECK(ids == expected);
    CHECK(secs < 5.0);
  }
}

TEST_CASE("byte fallback and unk fusion", "[tokenizer][bpe]") {
  // é is C3 A9 (both byte tokens present); € is E2 82 AC (none present).
  const json vocab = {{"<unk>", 0}, {"a", 1}, {"b", 2}, {"<0xC3>", 3}, {"<0xA9>", 4}};
  json m = bpe(vocab, json::array());
  m["unk_token"] = "<unk>";
  m["byte_fallback"] = true;
  SECTION("fuse_unk false") {
    const auto t = load(doc(m));
    CHECK(t.encode("a\xC3\xA9" "b") == Ids{1, 3, 4, 2});
    CHECK(t.encode("a\xE2\x82\xAC" "b") == Ids{1, 0, 2});
    CHECK(t.encode("a\xE2\x82\xAC\xE2\x82\xAC" "b") == Ids{1, 0, 0, 2});
  }
  SECTION("fuse_unk true") {
    m["fuse_unk"] = true;
    const auto t = load(doc(m));
    CHECK(t.encode("a\xE2\x82\xAC\xE2\x82\xAC" "b") == Ids{1, 0, 2});
    CHECK(t.encode("\xE2\x82\xAC" "a\xE2\x82\xAC") == Ids{0, 1, 0});
    // Hugging Face holds an unk back until a known character or the end, and
    // byte-fallback tokens do not flush it: they come out first.
    CHECK(t.encode("\xE2\x82\xAC\xC3\xA9") == Ids{3, 4, 0});
  }
  SECTION("no unk token: unknown characters vanish") {
    m["unk_token"] = nullptr;
    const auto t = load(doc(m));
    CHECK(t.encode("a\xE2\x82\xAC" "b") == Ids{1, 2});
  }
  SECTION("no byte fallback") {
    m["byte_fallback"] = false;
    const auto t = load(doc(m));
    CHECK(t.encode("a\xC3\xA9" "b") == Ids{1, 0, 2});
  }
}

TEST_CASE("added tokens split the text first, longest match; the normalizer runs per piece", "[tokenizer]") {
  const std::string meta = "\xE2\x96\x81";
  const json vocab = {{"<s>", 0}, {"<s>x", 1}, {meta, 2}, {"a", 3}, {"b", 4}, {"<", 5}, {"s", 6}, {">", 7}, {"x", 8}};
  json d = doc(bpe(vocab, json::array()));
  d["normalizer"] = {{"type", "Sequence"},
                     {"normalizers",
                      {{{"type", "Prepend"}, {"prepend", meta}},
                       {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", meta}}}}};
  d["added_tokens"] = {{{"id", 0}, {"content", "<s>"}, {"special", true}, {"normalized", false}},
                       {{"id", 1}, {"content", "<s>x"}, {"special", false}, {"normalized", false}}};
  d["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                         {"pair", json::array()},
                         {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {0}}, {"tokens", {"<s>"}}}}}}};
  const auto t = load(d);
  CHECK(t.bos_id() == 0);
  CHECK(t.family() == "sentencepiece");
  CHECK(t.encode("") == Ids{0});
  CHECK(t.encode("", false).empty());
  CHECK(t.encode("a b", false) == Ids{2, 3, 2, 4});
  // Each piece between added tokens gets its own "▁"; "<s>x" beats "<s>".
  CHECK(t.encode("a<s>b<s>x", false) == Ids{2, 3, 0, 2, 4, 1});
  CHECK(t.encode("<s><s>", false) == Ids{0, 0});
  CHECK(t.encode("a<s>b") == Ids{0, 2, 3, 0, 2, 4});
  CHECK(t.decode(t.encode("a b")) == "a b");
}

TEST_CASE("normalized added tokens match the normalized text", "[tokenizer]") {
  // Like tinystories-656k: the pattern is the token's normalized form ("▁<u>").
  const std::string meta = "\xE2\x96\x81";
  const json vocab = {{"<u>", 0}, {meta, 1}, {"a", 2}, {"<", 3}, {"u", 4}, {">", 5}};
  json d = doc(bpe(vocab, json::array()));
  d["normalizer"] = {{"type", "Sequence"},
                     {"normalizers",
                      {{{"type", "Prepend"}, {"prepend", meta}},
                       {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", meta}}}}};
  d["added_tokens"] = {{{"id", 0}, {"content", "<u>"}, {"special", true}, {"normalized", true}}};
  const auto t = load(d);
  CHECK(t.encode("<u>") == Ids{0});
  CHECK(t.encode("a <u>") == Ids{1, 2, 0});
  CHECK(t.encode("a<u>") == Ids{1, 2, 3, 4, 5});
}

TEST_CASE("unsupported components are refused, naming the file and the field", "[tokenizer]") {
  const json base = doc(bpe({{"a", 0}}, json::array()));
  auto refused = [&](const json& d, const std::string& field, const std::string& value) {
    const std::string msg = load_error(d);
    INFO(msg);
    CHECK(msg.find("tok_") != std::string::npos);  // the file
    CHECK(msg.find("'" + field + "'") != std::string::npos);
    CHECK(msg.find(value) != std::string::npos);
  };
  json d = base;
  d["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "x"}, {"prepend_scheme", "first"}, {"split", false}};
  refused(d, "pre_tokenizer.type", "Metaspace");

  d = base;
  d["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         {{{"type", "Split"}, {"pattern", {{"Regex", "\\s+|\\w+"}}}, {"behavior", "Isolated"}, {"invert", false}}}}};
  refused(d, "pre_tokenizer.pretokenizers[0].pattern.Regex", "\\\\s+|\\\\w+");

  d = base;
  d["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"}}},
                        {"behavior", "Removed"}, {"invert", false}};
  refused(d, "pre_tokenizer.behavior", "Removed");

  d = base;
  d["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}}}};
  refused(d, "normalizer.normalizers[0].type", "NFC");

  d = base;
  d["model"]["type"] = "Unigram";
  refused(d, "model.type", "Unigram");

  d = base;
  d["model"]["merges"] = pairs({{"a", "b"}});
  refused(d, "model.merges[0]", "not in model.vocab");

  d = base;
  d["post_processor"] = {{"type", "BertProcessing"}};
  refused(d, "post_processor.type", "BertProcessing");

  d = base;
  d.erase("model");
  refused(d, "model", "missing");
}

TEST_CASE("invalid UTF-8 input is refused", "[tokenizer]") {
  const auto t = load(doc(bpe({{"a", 0}}, json::array())));
  CHECK_THROWS_AS(t.encode("a\xC3"), quarot::Error);
  CHECK_THROWS_AS(t.encode("\xED\xA0\x80"), quarot::Error);  // a UTF-16 surrogate
  CHECK(t.encode("a") == Ids{0});
}

TEST_CASE("bundled tokenizers: family, BOS, vocabulary, decode", "[tokenizer]") {
  const fs::path models = fs::path(QUAROT_SOURCE_DIR) / "tests/data/models";
  const auto s = quarot::Tokenizer::load(models / "stories260K/tokenizer.json");
  CHECK(s.family() == "sentencepiece");
  CHECK(s.bos_id() == 1);
  CHECK(s.vocab_size() == 512);
  const std::string text = "Once upon a time, \xE6\x97\xA5 there was\na cat.";  // 日 goes through byte fallback
  CHECK(s.decode(s.encode(text)) == text);

  const auto t = quarot::Tokenizer::load(models / "tinystories-656k/tokenizer.json");
  CHECK(t.bos_id() == 1);
  CHECK(t.vocab_size() == 2048);
  CHECK(t.decode(t.encode("Lily was happy.")) == "Lily was happy.");

  const fs::path wl = fs::path(QUAROT_SHARED_DIR) / "assets/models/wikillama-27m/tokenizer.json";
  if (fs::exists(wl)) {
    const auto w = quarot::Tokenizer::load(wl);
    CHECK(w.family() == "byte_level");
    CHECK(w.bos_id() == 0);
    const std::string u = " = Senj\xC5\x8D no Valkyria 3 = \n\n It's 1,234 \xF0\x9F\x98\x80 ";
    CHECK(w.decode(w.encode(u)) == u);
  }
}
