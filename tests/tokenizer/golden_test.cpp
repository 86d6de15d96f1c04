// WikiText-2 ids against Hugging Face `tokenizers` (scripts/make_golden.py): the
// count and sha256 of the int32-LE ids must match; a mismatch reports the first
// differing chunk and, where the reference ids are at hand, the first index.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "lib/core/files.h"
#include "lib/core/sha256.h"
#include "lib/data/wikitext.h"
#include "lib/tokenizer/tokenizer.h"

namespace fs = std::filesystem;

namespace {

std::string digest(const int32_t* p, size_t n) {
  // The ids as int32 little-endian; this host is little-endian like the reference's.
  return quarot::sha256_hex(p, n * sizeof(int32_t));
}

fs::path golden_file(const std::string& name, const std::string& split) {
  const std::string leaf = name + "." + split + ".json";
  return fs::path(QUAROT_SOURCE_DIR) / "tests/golden/tokenizer" / leaf;
}

// Full reference ids, present only where the golden run's output was unpacked.
std::vector<int32_t> reference_ids(const std::string& name, const std::string& split) {
  const fs::path p = fs::path(QUAROT_SOURCE_DIR) / ".device-out/golden/ids" / (name + "." + split + ".bin");
  std::vector<int32_t> ids;
  std::ifstream f(p, std::ios::binary);
  if (!f) return ids;
  f.seekg(0, std::ios::end);
  ids.resize(static_cast<size_t>(f.tellg()) / 4);
  f.seekg(0);
  f.read(reinterpret_cast<char*>(ids.data()), static_cast<std::streamsize>(ids.size() * 4));
  return ids;
}

std::string window(const std::vector<int32_t>& ids, size_t at) {
  std::ostringstream os;
  const size_t lo = at >= 5 ? at - 5 : 0;
  for (size_t i = lo; i < std::min(ids.size(), at + 6); ++i) os << (i == at ? " [" : " ") << ids[i] << (i == at ? "]" : "");
  return os.str();
}

void check_golden(const std::string& name, const fs::path& tokenizer_json) {
  for (const std::string split : {"test", "valid"}) {
    DYNAMIC_SECTION(name << " " << split) {
      const fs::path gfile = golden_file(name, split);
      INFO("golden " << gfile.string());
      REQUIRE(fs::exists(gfile));
      const auto golden = nlohmann::json::parse(quarot::read_text_file(gfile));
      const std::string text =
          quarot::wikitext_joined(fs::path(QUAROT_SOURCE_DIR) / "tests/data/wikitext-2-raw" / ("wiki." + split + ".raw"));

      const auto t0 = std::chrono::steady_clock::now();
      const quarot::Tokenizer tok = quarot::Tokenizer::load(tokenizer_json);
      const auto t1 = std::chrono::steady_clock::now();
      const std::vector<int32_t> ids = tok.encode(text);
      const auto t2 = std::chrono::steady_clock::now();
      const double load_s = std::chrono::duration<double>(t1 - t0).count();
      const double enc_s = std::chrono::duration<double>(t2 - t1).count();
      std::printf("tokenizer %-17s %-5s %7zu ids  load %.3f s  encode %.3f s  (HF %.3f s)\n", name.c_str(),
                  split.c_str(), ids.size(), load_s, enc_s, golden.at("hf_seconds").get<double>());

      const size_t count = golden.at("count").get<size_t>();
      const std::string sha = golden.at("sha256").get<std::string>();
      const std::string ours = digest(ids.data(), ids.size());
      if (ids.size() != count || ours != sha) {
        // Localise: first chunk whose digest differs, then the first index if possible.
        const size_t chunk = golden.at("chunk").get<size_t>();
        const auto& chunks = golden.at("chunk_sha256");
        size_t bad = chunks.size();
        for (size_t c = 0; c < chunks.size(); ++c) {
          const size_t b = c * chunk;
          const size_t n = b >= ids.size() ? 0 : std::min(chunk, ids.size() - b);
          if (n == 0 || digest(ids.data() + b, n) != chunks[c].get<std::string>()) {
            bad = c;
            break;
          }
        }
        std::ostringstream msg;
        msg << name << " " << split << ": " << ids.size() << " ids, expected " << count << "; first differing chunk "
            << bad << " (ids " << bad * chunk << "..)";
        std::vector<int32_t> ref = reference_ids(name, split);
        const auto& head = golden.at("head");
        if (ref.empty())
          for (const auto& v : head) ref.push_back(v.get<int32_t>());
        size_t i = 0;
        while (i < ids.size() && i < ref.size() && ids[i] == ref[i]) ++i;
        if (i < ref.size() || ref.size() == count) {
          msg << "; first differing index " << i << ": ours" << window(ids, i) << " vs reference" << window(ref, i)
              << "; ours decodes to \"" << tok.decode(std::vector<int32_t>(ids.begin() + std::min(i, ids.size()),
                                                                          ids.begin() + std::min(i + 6, ids.size())))
              << "\"";
        }
        FAIL(msg.str());
      }
      CHECK(ids.size() == count);
      CHECK(ours == sha);
    }
  }
}

bool shared_present(const fs::path& p) {
  if (fs::exists(p)) return true;
  WARN("skipped: " << p.string() << " is absent (../shared is optional)");
  return false;
}

}  // namespace

TEST_CASE("WikiText-2 ids match Hugging Face: stories260K", "[tokenizer][golden]") {
  check_golden("stories260K", fs::path(QUAROT_SOURCE_DIR) / "tests/data/models/stories260K/tokenizer.json");
}

TEST_CASE("WikiText-2 ids match Hugging Face: tinystories-656k", "[tokenizer][golden]") {
  check_golden("tinystories-656k", fs::path(QUAROT_SOURCE_DIR) / "tests/data/models/tinystories-656k/tokenizer.json");
}

TEST_CASE("WikiText-2 ids match Hugging Face: llama2 (shared)", "[tokenizer][golden]") {
  const fs::path p = fs::path(QUAROT_SHARED_DIR) / "assets/tokenizers/llama2/tokenizer.json";
  if (shared_present(p)) check_golden("llama2", p);
}

TEST_CASE("WikiText-2 ids match Hugging Face: wikillama-27m (shared)", "[tokenizer][golden]") {
  const fs::path p = fs::path(QUAROT_SHARED_DIR) / "assets/models/wikillama-27m/tokenizer.json";
  if (shared_present(p)) check_golden("wikillama-27m", p);
}
