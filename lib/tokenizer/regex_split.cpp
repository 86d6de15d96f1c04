#include "lib/tokenizer/regex_split.h"

#include <cstdint>

#include "lib/core/error.h"
#include "lib/tokenizer/unicode.h"

namespace quarot::tok {
namespace {

// Per-character classes; "other" is whatever is none of letter, number, space.
enum : uint8_t { kL = 1, kN = 2, kS = 4, kNewline = 8 /* \r or \n */ };

struct Chars {
  std::vector<uint32_t> cp;
  std::vector<uint8_t> cls;
  std::vector<size_t> offset;  // byte offset of each character, plus the end
};

Chars classify(std::string_view text) {
  Chars c;
  c.cp.reserve(text.size());
  c.cls.reserve(text.size());
  c.offset.reserve(text.size() + 1);
  size_t pos = 0;
  while (pos < text.size()) {
    c.offset.push_back(pos);
    const uint32_t cp = next_code_point(text, pos);
    uint8_t k = 0;
    if (is_letter(cp)) k |= kL;
    if (is_number(cp)) k |= kN;
    if (is_whitespace(cp)) k |= kS;
    if (cp == '\r' || cp == '\n') k |= kNewline;
    c.cp.push_back(cp);
    c.cls.push_back(k);
  }
  c.offset.push_back(text.size());
  return c;
}

class Matcher {
 public:
  explicit Matcher(const Chars& c) : cp_(c.cp), cls_(c.cls), n_(c.cp.size()) {}

  // End of the match that starts at i, or i when nothing matches.
  size_t llama3(size_t i, size_t max_digits) const {
    if (size_t e = contraction(i, /*ignore_case=*/true)) return e;
    // [^\r\n\p{L}\p{N}]?\p{L}+ : a letter cannot be the optional character, so
    // the optional one is taken exactly when the run starts one later.
    {
      size_t j = i;
      if (!is(i, kL) && !is(i, kNewline | kN)) j = i + 1;
      if (is(j, kL)) return run(j, kL);
    }
    if (is(i, kN)) {
      size_t j = i;
      while (j < n_ && j - i < max_digits && is(j, kN)) ++j;
      return j;
    }
    //  ?[^\s\p{L}\p{N}]+[\r\n]*
    {
      size_t j = (cp_[i] == ' ' && other(i + 1)) ? i + 1 : i;
      if (other(j)) {
        while (other(j)) ++j;
        while (is(j, kNewline)) ++j;
        return j;
      }
    }
    if (!is(i, kS)) return i;
    const size_t e = run(i, kS);
    // \s*[\r\n]+ : \s* gives characters back until a newline follows, so the
    // match ends right after the last newline of the whitespace run.
    for (size_t k = e; k > i; --k)
      if (is(k - 1, kNewline)) return k;
    return space_tail(i, e);
  }

  size_t gpt2(size_t i) const {
    if (size_t e = contraction(i, /*ignore_case=*/false)) return e;
    const size_t j = cp_[i] == ' ' ? i + 1 : i;
    if (is(j, kL)) return run(j, kL);
    if (is(i, kL)) return run(i, kL);
    if (is(j, kN)) return run(j, kN);
    if (is(i, kN)) return run(i, kN);
    if (other(j)) {
      size_t k = j;
      while (other(k)) ++k;
      return k;
    }
    if (!is(i, kS)) return i;
    return space_tail(i, run(i, kS));
  }

 private:
  bool is(size_t k, uint8_t mask) const { return k < n_ && (cls_[k] & mask); }
  bool other(size_t k) const { return k < n_ && !(cls_[k] & (kL | kN | kS)); }
  size_t run(size_t k, uint8_t mask) const {
    while (k < n_ && (cls_[k] & mask)) ++k;
    return k;
  }

  // \s+(?!\S)|\s+ over the whitespace run [i, e): the lookahead fails before a
  // non-space, so a run followed by text leaves its last character to that text
  // (unless the run is a single character, which \s+ then takes alone).
  size_t space_tail(size_t i, size_t e) const {
    if (e == n_) return e;
    if (e - i >= 2) return e - 1;
    return e;
  }

  uint32_t fold(uint32_t c, bool ignore_case) const {
    if (!ignore_case) return c;
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c == 0x017F) return 's';  // LATIN SMALL LETTER LONG S case-folds to s
    return c;
  }

  // '(s|t|re|ve|m|ll|d): the alternatives differ in their first letter, so
  // their order does not matter.
  size_t contraction(size_t i, bool ignore_case) const {
    if (cp_[i] != '\'' || i + 1 >= n_) return 0;
    const uint32_t a = fold(cp_[i + 1], ignore_case);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if (i + 2 >= n_) return 0;
    const uint32_t b = fold(cp_[i + 2], ignore_case);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    return 0;
  }

  const std::vector<uint32_t>& cp_;
  const std::vector<uint8_t>& cls_;
  size_t n_;
};

const char* const kLlama3 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kQwen2 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kGpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

}  // namespace

std::string split_pattern_string(SplitPattern p) {
  switch (p) {
    case SplitPattern::kLlama3: return kLlama3;
    case SplitPattern::kQwen2: return kQwen2;
    case SplitPattern::kGpt2: return kGpt2;
  }
  QUAROT_ASSERT(false, "bad SplitPattern");
  return {};
}

std::optional<SplitPattern> split_pattern_from_string(const std::string& regex) {
  for (SplitPattern p : {SplitPattern::kLlama3, SplitPattern::kQwen2, SplitPattern::kGpt2})
    if (regex == split_pattern_string(p)) return p;
  return std::nullopt;
}

std::vector<std::pair<size_t, size_t>> regex_split(std::string_view text, SplitPattern p) {
  const Chars chars = classify(text);
  const Matcher m(chars);
  std::vector<std::pair<size_t, size_t>> out;
  const size_t n = chars.cp.size();
  size_t i = 0;
  while (i < n) {
    size_t e = 0;
    switch (p) {
      case SplitPattern::kLlama3: e = m.llama3(i, 3); break;
      case SplitPattern::kQwen2: e = m.llama3(i, 1); break;
      case SplitPattern::kGpt2: e = m.gpt2(i); break;
    }
    QUAROT_ASSERT(e > i, "pre-tokenizer pattern matched nothing at character ", i);
    out.emplace_back(chars.offset[i], chars.offset[e]);
    i = e;
  }
  return out;
}

}  // namespace quarot::tok
