// A torch-free reader of Hugging Face tokenizer.json (BPE models) that gives the
// same ids as the Rust `tokenizers` library's Tokenizer::encode, special tokens
// added, for the two Llama families: SentencePiece-style BPE with byte fallback
// (Llama 1/2, llama2.c models) and byte-level BPE with a regex pre-tokenizer
// (Llama 3, GPT-2, Qwen2). Components outside that are refused at load.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quarot {

class Tokenizer {
 public:
  // Errors (quarot::Error) name the file and the JSON field at fault.
  static Tokenizer load(const std::filesystem::path& tokenizer_json);

  // `text` must be valid UTF-8.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // Best effort, for display: special tokens are skipped.
  std::string decode(const std::vector<int32_t>& ids) const;

  int64_t vocab_size() const;  // largest id + 1, added tokens included
  std::optional<int32_t> bos_id() const;
  std::string family() const;  // "sentencepiece", "byte_level" or "bpe"

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace quarot
