// Best-effort detokenization for display (not used for evaluation).
#pragma once

#include <string>
#include <vector>

namespace quarot::tok {

enum class Family {
  kSentencePiece,  // "▁" for spaces, <0xXX> byte-fallback tokens
  kByteLevel,      // GPT-2 byte alphabet
  kPlain,
};

std::string family_name(Family f);

// Joins token strings (special tokens already removed) into text.
std::string decode_tokens(const std::vector<const std::string*>& tokens, Family family);

}  // namespace quarot::tok
