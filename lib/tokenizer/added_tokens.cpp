#include "lib/tokenizer/added_tokens.h"

namespace quarot::tok {

AddedTokens AddedTokens::from_json(const Field& list, const BpeModel& model, const Normalizer& normalizer) {
  AddedTokens a;
  std::vector<AddedToken> special, plain;
  for (size_t i = 0; i < list.size(); ++i) {
    const Field t = list.at(i);
    AddedToken tok;
    tok.content = t.at("content").str();
    tok.special = t.bool_or("special", false);
    tok.normalized = t.bool_or("normalized", !tok.special);
    for (const char* key : {"single_word", "lstrip", "rstrip"}) {
      if (auto f = t.find(key); f && f->boolean()) f->unsupported("not supported for added tokens");
    }
    // The model's id wins, as in Hugging Face; the file's id serves tokens outside the model.
    const int64_t file_id = t.at("id").integer();
    if (auto id = model.token_to_id(tok.content)) {
      tok.id = *id;
    } else {
      if (file_id < 0 || file_id > INT32_MAX) t.at("id").unsupported("token ids must be in [0, 2^31)");
      tok.id = static_cast<int32_t>(file_id);
    }
    if (tok.content.empty()) continue;  // Hugging Face ignores empty added tokens
    a.by_id_[tok.id] = a.tokens_.size();
    a.tokens_.push_back(tok);
    (tok.special ? special : plain).push_back(tok);
  }
  // Special tokens come first in the match order (it only matters for equal contents).
  for (const auto* group : {&special, &plain}) {
    for (const AddedToken& tok : *group) {
      if (tok.normalized) {
        std::string pattern = normalizer.apply(tok.content);
        if (!pattern.empty()) a.normalized_.push_back({std::move(pattern), tok.id});
      } else {
        a.raw_.push_back({tok.content, tok.id});
      }
    }
  }
  return a;
}

const AddedToken* AddedTokens::find(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

std::vector<AddedTokens::Piece> AddedTokens::split(std::string_view text, Stage stage) const {
  const std::vector<Pattern>& patterns = stage == Stage::kRaw ? raw_ : normalized_;
  std::vector<Piece> out;
  if (text.empty()) return out;
  bool first_byte[256] = {};
  for (const Pattern& p : patterns) first_byte[static_cast<uint8_t>(p.text[0])] = true;
  size_t plain_start = 0;
  size_t i = 0;
  // Leftmost-longest, non-overlapping: the earliest start, then the longest pattern there.
  while (i < text.size()) {
    const Pattern* best = nullptr;
    if (first_byte[static_cast<uint8_t>(text[i])]) {
      for (const Pattern& p : patterns) {
        if ((best == nullptr || p.text.size() > best->text.size()) && text.compare(i, p.text.size(), p.text) == 0)
          best = &p;
      }
    }
    if (best == nullptr) {
      ++i;
      continue;
    }
    if (plain_start < i) out.push_back({plain_start, i, -1});
    out.push_back({i, i + best->text.size(), best->id});
    i += best->text.size();
    plain_start = i;
  }
  if (plain_start < text.size()) out.push_back({plain_start, text.size(), -1});
  return out;
}

}  // namespace quarot::tok
