// Short tricky strings against Hugging Face `tokenizers` (data in hf_cases_data.cpp):
// whitespace runs and newlines, contractions in any case (and U+017F), digit runs,
// non-ASCII spaces, byte fallback, unk fusion, added tokens, empty text.
//
// The data was made on the GPU machine (tokenizers 0.23.2) by, in essence:
//   for name, p in {"llama3": ..., "qwen2": ..., "gpt2": ...}.items():
//       pt = pre_tokenizers.Split(Regex(p), behavior="isolated")
//       split[name] = [[w for w, _ in pt.pre_tokenize_str(c)] for c in cases]
//   bl = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
//   split["bytelevel_prefix"] = [[w for w, _ in bl.pre_tokenize_str(c)] for c in cases]
//   for name, path in tokenizers: t = Tokenizer.from_file(path)
//       ids[name] = [t.encode(c).ids for c in cases]
//       ids_nospecial[name] = [t.encode(c, add_special_tokens=False).ids for c in cases]
// and stored with json.dump(..., ensure_ascii=True).
#include <catch2/catch.hpp>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "lib/tokenizer/json_fields.h"
#include "lib/tokenizer/pre_tokenizer.h"
#include "lib/tokenizer/regex_split.h"
#include "lib/tokenizer/tokenizer.h"

extern const char* const kHfCasesJson;

namespace fs = std::filesystem;
using quarot::tok::SplitPattern;

namespace {

const nlohmann::json& data() {
  static const nlohmann::json d = nlohmann::json::parse(kHfCasesJson);
  return d;
}

std::string show(const std::string& s) { return nlohmann::json(s).dump(); }

std::vector<std::string> pieces(const std::string& text, SplitPattern p) {
  std::vector<std::string> out;
  for (const auto& [b, e] : quarot::tok::regex_split(text, p)) out.push_back(text.substr(b, e - b));
  return out;
}

void check_ids(const std::string& name, const fs::path& file) {
  if (!fs::exists(file)) {
    WARN("skipped: " << file.string() << " is absent (../shared is optional)");
    return;
  }
  const quarot::Tokenizer tok = quarot::Tokenizer::load(file);
  const auto& cases = data().at("cases");
  CHECK(tok.vocab_size() == data().at("vocab_size").at(name).get<int64_t>());
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string text = cases[i].get<std::string>();
    INFO(name << " case " << i << ": " << show(text));
    CHECK(tok.encode(text) == data().at("ids").at(name)[i].get<std::vector<int32_t>>());
    CHECK(tok.encode(text, false) == data().at("ids_nospecial").at(name)[i].get<std::vector<int32_t>>());
  }
}

}  // namespace

TEST_CASE("regex splits match Oniguruma for the Llama-3, Qwen2 and GPT-2 patterns", "[tokenizer][regex]") {
  const auto& cases = data().at("cases");
  REQUIRE(cases.size() > 50);
  for (const auto& [name, p] : {std::pair<const char*, SplitPattern>{"llama3", SplitPattern::kLlama3},
                                {"qwen2", SplitPattern::kQwen2},
                                {"gpt2", SplitPattern::kGpt2}}) {
    for (size_t i = 0; i < cases.size(); ++i) {
      const std::string text = cases[i].get<std::string>();
      INFO(name << " case " << i << ": " << show(text));
      CHECK(pieces(text, p) == data().at("split").at(name)[i].get<std::vector<std::string>>());
    }
  }
}

TEST_CASE("ByteLevel pre-tokenizer with add_prefix_space and its regex matches Hugging Face", "[tokenizer][regex]") {
  const nlohmann::json cfg = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  const auto pre = quarot::tok::PreTokenizer::from_json(quarot::tok::Field(cfg, "<test>", "pre_tokenizer"));
  const auto& cases = data().at("cases");
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string text = cases[i].get<std::string>();
    INFO("case " << i << ": " << show(text));
    std::vector<std::string> words;
    pre.split(text, words);
    CHECK(words == data().at("split").at("bytelevel_prefix")[i].get<std::vector<std::string>>());
  }
}

TEST_CASE("tricky strings give Hugging Face's ids: stories260K", "[tokenizer]") {
  check_ids("stories260K", fs::path(QUAROT_SOURCE_DIR) / "tests/data/models/stories260K/tokenizer.json");
}

TEST_CASE("tricky strings give Hugging Face's ids: tinystories-656k", "[tokenizer]") {
  check_ids("tinystories-656k", fs::path(QUAROT_SOURCE_DIR) / "tests/data/models/tinystories-656k/tokenizer.json");
}

TEST_CASE("tricky strings give Hugging Face's ids: llama2 (shared)", "[tokenizer]") {
  check_ids("llama2", fs::path(QUAROT_SHARED_DIR) / "assets/tokenizers/llama2/tokenizer.json");
}

TEST_CASE("tricky strings give Hugging Face's ids: wikillama-27m (shared)", "[tokenizer]") {
  check_ids("wikillama-27m", fs::path(QUAROT_SHARED_DIR) / "assets/models/wikillama-27m/tokenizer.json");
}
