// UTF-8 walking and the Unicode classes that the tokenizer needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace quarot::tok {

bool is_letter(uint32_t cp);      // general category L*
bool is_number(uint32_t cp);      // general category N*
bool is_whitespace(uint32_t cp);  // White_Space property

// Decodes the code point at s[pos] and advances pos. `s` must be valid UTF-8.
uint32_t next_code_point(std::string_view s, size_t& pos);

// Byte length of the UTF-8 sequence that starts with `lead`.
inline size_t utf8_length(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

void append_utf8(std::string& out, uint32_t cp);

// Offset of the first byte that is not part of well-formed UTF-8, or s.size().
size_t first_invalid_utf8(std::string_view s);

}  // namespace quarot::tok
