#include "lib/tokenizer/pre_tokenizer.h"

#include "lib/tokenizer/byte_level.h"

namespace quarot::tok {

PreTokenizer PreTokenizer::from_json(const Field& f) {
  PreTokenizer p;
  if (!f.is_null()) parse(f, p.steps_);
  return p;
}

void PreTokenizer::parse(const Field& f, std::vector<Step>& steps) {
  const Field type = f.at("type");
  const std::string t = type.str();
  if (t == "Sequence") {
    const Field list = f.at("pretokenizers");
    for (size_t i = 0; i < list.size(); ++i) parse(list.at(i), steps);
  } else if (t == "Split") {
    const Field pattern = f.at("pattern");
    auto regex = pattern.find("Regex");
    if (!regex) pattern.unsupported("unsupported Split pattern (only known {\"Regex\": ...} patterns are supported)");
    auto known = split_pattern_from_string(regex->str());
    if (!known) regex->unsupported("unsupported pre-tokenizer regex (supported: the Llama-3, Qwen2 and GPT-2 patterns)");
    const Field behavior = f.at("behavior");
    if (behavior.str() != "Isolated") behavior.unsupported("unsupported Split behavior (only Isolated is supported)");
    if (auto inv = f.find("invert"); inv && inv->boolean()) inv->unsupported("an inverted Split is not supported");
    Step s{Step::kSplit};
    s.pattern = *known;
    steps.push_back(s);
  } else if (t == "ByteLevel") {
    Step s{Step::kByteLevel};
    s.add_prefix_space = f.bool_or("add_prefix_space", true);
    s.use_regex = f.bool_or("use_regex", true);
    steps.push_back(s);
  } else {
    type.unsupported("unsupported pre_tokenizer type (supported: Sequence, Split, ByteLevel)");
  }
}

bool PreTokenizer::is_byte_level() const {
  for (const Step& s : steps_)
    if (s.kind == Step::kByteLevel) return true;
  return false;
}

void PreTokenizer::split(std::string text, std::vector<std::string>& words) const {
  if (text.empty()) return;
  std::vector<std::string> cur;
  cur.push_back(std::move(text));
  std::vector<std::string> next;
  for (const Step& s : steps_) {
    next.clear();
    for (std::string& piece : cur) {
      if (s.kind == Step::kByteLevel && s.add_prefix_space && piece.front() != ' ') piece.insert(0, " ");
      const bool regex = s.kind == Step::kSplit || s.use_regex;
      const SplitPattern pattern = s.kind == Step::kSplit ? s.pattern : SplitPattern::kGpt2;
      if (!regex) {
        next.push_back(s.kind == Step::kByteLevel ? bytes_to_alphabet(piece) : std::move(piece));
        continue;
      }
      for (const auto& [b, e] : regex_split(piece, pattern)) {
        std::string_view w(piece.data() + b, e - b);
        next.push_back(s.kind == Step::kByteLevel ? bytes_to_alphabet(w) : std::string(w));
      }
    }
    cur.swap(next);
  }
  for (std::string& w : cur)
    if (!w.empty()) words.push_back(std::move(w));
}

}  // namespace quarot::tok
