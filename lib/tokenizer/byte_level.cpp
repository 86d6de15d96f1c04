#include "lib/tokenizer/byte_level.h"

#include <array>

#include "lib/tokenizer/unicode.h"

namespace quarot::tok {
namespace {

bool printable(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

struct Alphabet {
  std::array<uint32_t, 256> to_cp{};
  std::array<std::string, 256> to_utf8;
  Alphabet() {
    uint32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      to_cp[b] = printable(b) ? static_cast<uint32_t>(b) : next++;
      append_utf8(to_utf8[b], to_cp[b]);
    }
  }
};

const Alphabet& alphabet() {
  static const Alphabet a;
  return a;
}

}  // namespace

uint32_t byte_to_code_point(uint8_t b) { return alphabet().to_cp[b]; }

std::optional<uint8_t> code_point_to_byte(uint32_t cp) {
  if (cp < 0x100 && printable(static_cast<int>(cp))) return static_cast<uint8_t>(cp);
  if (cp >= 0x100 && cp < 0x100 + 68) {
    // The non-printable bytes, in increasing order, took U+0100.. in turn.
    uint32_t k = cp - 0x100;
    for (int b = 0; b < 256; ++b)
      if (!printable(b) && k-- == 0) return static_cast<uint8_t>(b);
  }
  return std::nullopt;
}

std::string bytes_to_alphabet(std::string_view bytes) {
  const Alphabet& a = alphabet();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += a.to_utf8[static_cast<uint8_t>(c)];
  return out;
}

std::string alphabet_to_bytes(std::string_view text) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    const uint32_t cp = next_code_point(text, pos);
    if (auto b = code_point_to_byte(cp)) {
      out += static_cast<char>(*b);
    } else {
      out.append(text.substr(start, pos - start));
    }
  }
  return out;
}

}  // namespace quarot::tok
