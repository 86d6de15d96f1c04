// The `pre_tokenizer` of tokenizer.json. Supported: null (the whole normalized
// text is one word), Sequence, Split with a known Regex and Isolated behaviour,
// and ByteLevel.
#pragma once

#include <string>
#include <vector>

#include "lib/tokenizer/json_fields.h"
#include "lib/tokenizer/regex_split.h"

namespace quarot::tok {

class PreTokenizer {
 public:
  static PreTokenizer from_json(const Field& f);  // f may be null

  // Appends the words of `text` (empty words are dropped).
  void split(std::string text, std::vector<std::string>& words) const;
  bool is_byte_level() const;

 private:
  struct Step {
    enum Kind { kSplit, kByteLevel } kind;
    SplitPattern pattern = SplitPattern::kGpt2;
    bool add_prefix_space = false;
    bool use_regex = false;
  };
  static void parse(const Field& f, std::vector<Step>& steps);
  std::vector<Step> steps_;
};

}  // namespace quarot::tok
