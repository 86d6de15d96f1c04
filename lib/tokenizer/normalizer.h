// The `normalizer` of tokenizer.json. Supported: null, Sequence, Prepend and
// Replace with a String pattern (the SentencePiece-style Llama layout).
#pragma once

#include <string>
#include <vector>

#include "lib/tokenizer/json_fields.h"

namespace quarot::tok {

class Normalizer {
 public:
  static Normalizer from_json(const Field& f);  // f may be null: the identity

  std::string apply(std::string text) const;
  bool is_identity() const { return steps_.empty(); }
  // Whether spaces become "▁" (the SentencePiece family).
  bool replaces_space_with_metaspace() const;

 private:
  struct Step {
    enum Kind { kPrepend, kReplace } kind;
    std::string a;  // Prepend: the prefix. Replace: the pattern.
    std::string b;  // Replace: the content.
  };
  static void parse(const Field& f, std::vector<Step>& steps);
  std::vector<Step> steps_;
};

}  // namespace quarot::tok
