#include "lib/tokenizer/bpe.h"

#include <cstdio>

#include "lib/core/error.h"
#include "lib/tokenizer/unicode.h"

namespace quarot::tok {

BpeModel BpeModel::from_json(const Field& model) {
  BpeModel m;
  if (auto type = model.find("type"); type && type->str() != "BPE")
    type->unsupported("unsupported model type (only BPE is supported)");
  if (auto d = model.find("dropout")) {
    if (!d->value().is_number() || d->value().get<double>() != 0.0)
      d->unsupported("BPE dropout is not supported (it makes tokenization random)");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (auto f = model.find(key); f && !f->str().empty()) f->unsupported("not supported");
  }
  m.fuse_unk_ = model.bool_or("fuse_unk", false);
  m.byte_fallback_ = model.bool_or("byte_fallback", false);
  m.ignore_merges_ = model.bool_or("ignore_merges", false);

  const Field vocab = model.at("vocab");
  vocab.expect_object();
  m.vocab_.reserve(vocab.value().size());
  int64_t max_id = -1;
  for (auto it = vocab.value().begin(); it != vocab.value().end(); ++it) {
    const Field id(it.value(), vocab.file(), vocab.path() + "[\"" + it.key() + "\"]");
    const int64_t v = id.integer();
    if (v < 0 || v > INT32_MAX) id.unsupported("token ids must be in [0, 2^31)");
    m.vocab_[it.key()] = static_cast<int32_t>(v);
    max_id = std::max(max_id, v);
  }
  m.tokens_.assign(static_cast<size_t>(max_id + 1), std::string());
  m.has_token_.assign(static_cast<size_t>(max_id + 1), 0);
  m.bmp_ids_.assign(0x10000, -1);
  m.byte_ids_.fill(-1);
  for (const auto& [tok, id] : m.vocab_) {
    m.tokens_[id] = tok;
    m.has_token_[id] = 1;
    if (!tok.empty() && first_invalid_utf8(tok) == tok.size()) {
      size_t pos = 0;
      const uint32_t cp = next_code_point(tok, pos);
      if (pos == tok.size()) (cp < 0x10000 ? m.bmp_ids_[cp] : m.astral_ids_[cp]) = id;
    }
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    auto it = m.vocab_.find(name);
    if (it != m.vocab_.end()) m.byte_ids_[b] = it->second;
  }
  if (auto unk = model.find("unk_token")) {
    auto it = m.vocab_.find(unk->str());
    if (it == m.vocab_.end()) unk->unsupported("the unk_token is not in model.vocab");
    m.unk_id_ = it->second;
  }
  m.read_merges(model.at("merges"));
  return m;
}

void BpeModel::read_merges(const Field& merges) {
  const size_t n = merges.size();
  for (size_t rank = 0; rank < n; ++rank) {
    const Field line = merges.at(rank);
    std::string a, b;
    if (line.value().is_string()) {
      // The older "a b" form: exactly one space, as Hugging Face requires.
      const std::string s = line.str();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
        line.unsupported("a merge string must be two tokens separated by one space");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (line.value().is_array() && line.value().size() == 2) {
      a = line.at(0).str();
      b = line.at(1).str();
    } else {
      line.unsupported("a merge must be [\"left\", \"right\"] or \"left right\"");
    }
    auto ia = vocab_.find(a), ib = vocab_.find(b), inew = vocab_.find(a + b);
    if (ia == vocab_.end()) line.unsupported("merge token \"" + a + "\" is not in model.vocab");
    if (ib == vocab_.end()) line.unsupported("merge token \"" + b + "\" is not in model.vocab");
    if (inew == vocab_.end()) line.unsupported("merged token \"" + a + b + "\" is not in model.vocab");
    merges_.insert(ia->second, ib->second, {static_cast<int32_t>(rank), inew->second});
  }
}

std::optional<int32_t> BpeModel::token_to_id(const std::string& token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || id > max_id() || !has_token_[id]) return nullptr;
  return &tokens_[id];
}

int32_t BpeModel::char_id(uint32_t cp) const {
  if (cp < 0x10000) return bmp_ids_[cp];
  auto it = astral_ids_.find(cp);
  return it == astral_ids_.end() ? -1 : it->second;
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    auto it = vocab_.find(std::string(word));
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::vector<int32_t> symbols;
  symbols.reserve(word.size());
  bool pending_unk = false;  // an unk not yet emitted, so that the next can fuse into it
  size_t pos = 0;
  while (pos < word.size()) {
    const size_t start = pos;
    const int32_t id = char_id(next_code_point(word, pos));
    if (id >= 0) {
      if (pending_unk) symbols.push_back(*unk_id_), pending_unk = false;
      symbols.push_back(id);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (size_t k = start; k < pos; ++k) all = all && byte_ids_[static_cast<uint8_t>(word[k])] >= 0;
      if (all) {
        // Hugging Face emits these before a pending unk (it flushes unks only
        // on a known character or at the end); kept for identical ids.
        for (size_t k = start; k < pos; ++k) symbols.push_back(byte_ids_[static_cast<uint8_t>(word[k])]);
        continue;
      }
    }
    if (unk_id_) {
      if (pending_unk && !fuse_unk_) symbols.push_back(*unk_id_);
      pending_unk = true;
    }
    // Without an unk token, Hugging Face drops the character.
  }
  if (pending_unk) symbols.push_back(*unk_id_);
  merge_symbols(symbols, merges_);
  out.insert(out.end(), symbols.begin(), symbols.end());
}

}  // namespace quarot::tok
