// The BPE `model` of tokenizer.json: vocabulary, merges, unknown characters
// (byte fallback to <0xXX> tokens, else the unk token, fused when fuse_unk).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lib/tokenizer/bpe_merge.h"
#include "lib/tokenizer/json_fields.h"

namespace quarot::tok {

class BpeModel {
 public:
  static BpeModel from_json(const Field& model);

  // Appends the ids of one pre-tokenized word (valid UTF-8).
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(const std::string& token) const;
  const std::string* id_to_token(int32_t id) const;  // nullptr when no token has it
  int32_t max_id() const { return static_cast<int32_t>(tokens_.size()) - 1; }
  bool byte_fallback() const { return byte_fallback_; }

 private:
  int32_t char_id(uint32_t cp) const;
  void read_merges(const Field& merges);

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> tokens_;  // by id; ids with no token hold ""
  std::vector<uint8_t> has_token_;
  MergeTable merges_;
  std::vector<int32_t> bmp_ids_;                      // single-character tokens below U+10000, -1 if none
  std::unordered_map<uint32_t, int32_t> astral_ids_;  // and above
  std::array<int32_t, 256> byte_ids_{};               // <0xXX> tokens, -1 if none
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
};

}  // namespace quarot::tok
