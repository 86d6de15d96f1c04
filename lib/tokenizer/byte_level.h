// The GPT-2 byte-level alphabet: every byte is shown as one printable code point
// (printable Latin-1 bytes as themselves, the others as U+0100 onwards), so that
// byte-level vocabularies are plain strings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace quarot::tok {

uint32_t byte_to_code_point(uint8_t b);
std::optional<uint8_t> code_point_to_byte(uint32_t cp);

// Each byte of `bytes` as its alphabet character, UTF-8 encoded.
std::string bytes_to_alphabet(std::string_view bytes);
// The inverse; characters outside the alphabet are kept as they are.
std::string alphabet_to_bytes(std::string_view text);

}  // namespace quarot::tok
