#include "lib/tokenizer/tokenizer.h"

#include <unordered_map>

#include "lib/core/error.h"
#include "lib/core/files.h"
#include "lib/tokenizer/added_tokens.h"
#include "lib/tokenizer/bpe.h"
#include "lib/tokenizer/decoder.h"
#include "lib/tokenizer/json_fields.h"
#include "lib/tokenizer/normalizer.h"
#include "lib/tokenizer/post_processor.h"
#include "lib/tokenizer/pre_tokenizer.h"
#include "lib/tokenizer/unicode.h"

namespace quarot {

using tok::AddedTokens;
using tok::Field;

struct Tokenizer::Impl {
  std::string file;
  tok::Normalizer normalizer;
  tok::PreTokenizer pre_tokenizer;
  tok::BpeModel model;
  AddedTokens added;
  tok::PostProcessor post;
  tok::Family family = tok::Family::kPlain;
};

namespace {

const tok::json kNull;

Field member_or_null(const Field& root, const char* key) {
  auto f = root.find(key);
  return f ? *f : Field(kNull, root.file(), key);
}

}  // namespace

Tokenizer Tokenizer::load(const std::filesystem::path& tokenizer_json) {
  const std::string file = tokenizer_json.string();
  const std::string text = read_text_file(tokenizer_json);
  tok::json doc;
  try {
    doc = tok::json::parse(text);
  } catch (const tok::json::exception& e) {
    QUAROT_FAIL("tokenizer file ", file, ": not valid JSON: ", e.what());
  }
  const Field root(doc, file, "");
  root.expect_object();
  for (const char* key : {"truncation", "padding"}) {
    if (auto f = root.find(key)) f->unsupported("truncation and padding are not supported");
  }
  auto impl = std::make_shared<Impl>();
  impl->file = file;
  impl->normalizer = tok::Normalizer::from_json(member_or_null(root, "normalizer"));
  impl->pre_tokenizer = tok::PreTokenizer::from_json(member_or_null(root, "pre_tokenizer"));
  impl->model = tok::BpeModel::from_json(root.at("model"));
  if (auto added = root.find("added_tokens")) {
    impl->added = AddedTokens::from_json(*added, impl->model, impl->normalizer);
  }
  impl->post = tok::PostProcessor::from_json(member_or_null(root, "post_processor"));
  if (impl->pre_tokenizer.is_byte_level()) {
    impl->family = tok::Family::kByteLevel;
  } else if (impl->normalizer.replaces_space_with_metaspace()) {
    impl->family = tok::Family::kSentencePiece;
  }
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const Impl& m = *impl_;
  const size_t bad = tok::first_invalid_utf8(text);
  QUAROT_CHECK(bad == text.size(), "Tokenizer::encode (", m.file, "): the text is not valid UTF-8 at byte ", bad);
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3);
  // Byte-level words repeat a lot; SentencePiece-style text is one long word.
  std::unordered_map<std::string, std::vector<int32_t>> cache;
  std::vector<std::string> words;
  for (const auto& raw : m.added.split(text, AddedTokens::Stage::kRaw)) {
    if (raw.id >= 0) {
      ids.push_back(raw.id);
      continue;
    }
    const std::string normalized = m.normalizer.apply(std::string(text.substr(raw.begin, raw.end - raw.begin)));
    for (const auto& piece : m.added.split(normalized, AddedTokens::Stage::kNormalized)) {
      if (piece.id >= 0) {
        ids.push_back(piece.id);
        continue;
      }
      words.clear();
      m.pre_tokenizer.split(normalized.substr(piece.begin, piece.end - piece.begin), words);
      for (const std::string& w : words) {
        if (w.size() > 256) {
          m.model.tokenize(w, ids);
          continue;
        }
        auto it = cache.find(w);
        if (it == cache.end()) {
          std::vector<int32_t> word_ids;
          m.model.tokenize(w, word_ids);
          it = cache.emplace(w, std::move(word_ids)).first;
        }
        ids.insert(ids.end(), it->second.begin(), it->second.end());
      }
    }
  }
  if (add_special_tokens) m.post.apply(ids);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  const Impl& m = *impl_;
  std::vector<const std::string*> pieces;
  pieces.reserve(ids.size());
  for (int32_t id : ids) {
    if (const tok::AddedToken* a = m.added.find(id)) {
      if (!a->special) pieces.push_back(&a->content);
    } else if (const std::string* t = m.model.id_to_token(id)) {
      pieces.push_back(t);
    }
  }
  return tok::decode_tokens(pieces, m.family);
}

int64_t Tokenizer::vocab_size() const {
  int64_t top = impl_->model.max_id();
  for (const tok::AddedToken& a : impl_->added.tokens()) top = std::max<int64_t>(top, a.id);
  return top + 1;
}

std::optional<int32_t> Tokenizer::bos_id() const { return impl_->post.bos_id(); }

std::string Tokenizer::family() const { return tok::family_name(impl_->family); }

}  // namespace quarot
