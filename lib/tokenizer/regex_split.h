// Hand-written matchers for the pre-tokenizer regexes in use, chosen by their
// exact pattern string. Each reproduces Oniguruma's leftmost-first alternation
// with backtracking for its pattern; no general regex engine is involved.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quarot::tok {

enum class SplitPattern {
  kLlama3,  // (?i:'s|...|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  kQwen2,   // the same with \p{N} (single digits)
  kGpt2,    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
};

// The pattern as it is written in tokenizer.json (JSON-decoded).
std::string split_pattern_string(SplitPattern p);
std::optional<SplitPattern> split_pattern_from_string(const std::string& regex);

// The matches of `p` in `text` (valid UTF-8), as byte ranges [begin, end). The
// patterns match every character, so the ranges tile the text.
std::vector<std::pair<size_t, size_t>> regex_split(std::string_view text, SplitPattern p);

}  // namespace quarot::tok
