#include "lib/tokenizer/normalizer.h"

namespace quarot::tok {

Normalizer Normalizer::from_json(const Field& f) {
  Normalizer n;
  if (!f.is_null()) parse(f, n.steps_);
  return n;
}

void Normalizer::parse(const Field& f, std::vector<Step>& steps) {
  const Field type = f.at("type");
  const std::string t = type.str();
  if (t == "Sequence") {
    const Field list = f.at("normalizers");
    for (size_t i = 0; i < list.size(); ++i) parse(list.at(i), steps);
  } else if (t == "Prepend") {
    steps.push_back({Step::kPrepend, f.at("prepend").str(), {}});
  } else if (t == "Replace") {
    const Field pattern = f.at("pattern");
    auto s = pattern.find("String");
    if (!s) pattern.unsupported("unsupported Replace pattern (only {\"String\": ...} is supported)");
    const std::string p = s->str();
    if (p.empty()) s->unsupported("an empty Replace pattern is not supported");
    steps.push_back({Step::kReplace, p, f.at("content").str()});
  } else {
    type.unsupported("unsupported normalizer type (supported: Sequence, Prepend, Replace)");
  }
}

std::string Normalizer::apply(std::string text) const {
  for (const Step& s : steps_) {
    if (s.kind == Step::kPrepend) {
      // Like Hugging Face, an empty string gets no prefix.
      if (!text.empty()) text.insert(0, s.a);
    } else {
      std::string out;
      out.reserve(text.size() + text.size() / 4);
      size_t pos = 0;
      while (true) {
        const size_t hit = text.find(s.a, pos);
        if (hit == std::string::npos) break;
        out.append(text, pos, hit - pos);
        out += s.b;
        pos = hit + s.a.size();
      }
      out.append(text, pos, std::string::npos);
      text = std::move(out);
    }
  }
  return text;
}

bool Normalizer::replaces_space_with_metaspace() const {
  for (const Step& s : steps_)
    if (s.kind == Step::kReplace && s.a == " " && s.b == "\xE2\x96\x81") return true;
  return false;
}

}  // namespace quarot::tok
