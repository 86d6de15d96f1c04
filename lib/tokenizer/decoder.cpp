#include "lib/tokenizer/decoder.h"

#include "lib/tokenizer/byte_level.h"

namespace quarot::tok {
namespace {

// "<0xAB>" -> 0xAB.
int byte_token(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
  const int hi = hex(t[3]), lo = hex(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

}  // namespace

std::string family_name(Family f) {
  switch (f) {
    case Family::kSentencePiece: return "sentencepiece";
    case Family::kByteLevel: return "byte_level";
    case Family::kPlain: return "bpe";
  }
  return "bpe";
}

std::string decode_tokens(const std::vector<const std::string*>& tokens, Family family) {
  std::string out;
  if (family == Family::kByteLevel) {
    for (const std::string* t : tokens) out += alphabet_to_bytes(*t);
    return out;
  }
  if (family == Family::kPlain) {
    for (const std::string* t : tokens) out += *t;
    return out;
  }
  static const std::string kMeta = "\xE2\x96\x81";
  for (const std::string* t : tokens) {
    const int b = byte_token(*t);
    if (b >= 0) {
      out += static_cast<char>(b);
      continue;
    }
    size_t pos = 0;
    while (true) {
      const size_t hit = t->find(kMeta, pos);
      out.append(*t, pos, hit == std::string::npos ? std::string::npos : hit - pos);
      if (hit == std::string::npos) break;
      out += ' ';
      pos = hit + kMeta.size();
    }
  }
  // The normalizer's prepended "▁" is not part of the text.
  if (!out.empty() && out[0] == ' ') out.erase(0, 1);
  return out;
}

}  // namespace quarot::tok
