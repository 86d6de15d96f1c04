// `added_tokens` of tokenizer.json: text that is cut out before normalization
// (normalized: false) or after it (normalized: true, matched in normalized form)
// and becomes one id, like Hugging Face's AddedVocabulary.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lib/tokenizer/bpe.h"
#include "lib/tokenizer/json_fields.h"
#include "lib/tokenizer/normalizer.h"

namespace quarot::tok {

struct AddedToken {
  std::string content;
  int32_t id;
  bool special;
  bool normalized;
};

class AddedTokens {
 public:
  static AddedTokens from_json(const Field& list, const BpeModel& model, const Normalizer& normalizer);

  // Consecutive pieces that tile the text: added-token matches (id >= 0) and the
  // text between them (id == -1, never empty).
  struct Piece {
    size_t begin, end;
    int32_t id;
  };
  enum class Stage { kRaw, kNormalized };
  std::vector<Piece> split(std::string_view text, Stage stage) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* find(int32_t id) const;

 private:
  struct Pattern {
    std::string text;
    int32_t id;
  };
  std::vector<AddedToken> tokens_;
  std::unordered_map<int32_t, size_t> by_id_;
  std::vector<Pattern> raw_, normalized_;
};

}  // namespace quarot::tok
