#include "lib/tokenizer/post_processor.h"

namespace quarot::tok {

PostProcessor PostProcessor::from_json(const Field& f) {
  PostProcessor p;
  if (!f.is_null()) parse(f, p.steps_);
  return p;
}

void PostProcessor::parse(const Field& f, std::vector<Template>& steps) {
  const Field type = f.at("type");
  const std::string t = type.str();
  if (t == "Sequence") {
    const Field list = f.at("processors");
    for (size_t i = 0; i < list.size(); ++i) parse(list.at(i), steps);
  } else if (t == "TemplateProcessing") {
    steps.push_back(parse_template(f));
  } else if (t != "ByteLevel") {
    type.unsupported("unsupported post_processor type (supported: Sequence, TemplateProcessing, ByteLevel)");
  }
}

PostProcessor::Template PostProcessor::parse_template(const Field& f) {
  const Field single = f.at("single");
  const Field specials = f.at("special_tokens");
  Template out;
  bool seen_sequence = false;
  for (size_t i = 0; i < single.size(); ++i) {
    const Field item = single.at(i);
    if (auto seq = item.find("Sequence")) {
      const Field id = seq->at("id");
      if (id.str() != "A") id.unsupported("a single-sequence template can only hold sequence A");
      if (seen_sequence) item.unsupported("the sequence appears twice in the template");
      seen_sequence = true;
    } else if (auto sp = item.find("SpecialToken")) {
      const std::string name = sp->at("id").str();
      auto entry = specials.find(name);
      if (!entry) sp->at("id").unsupported("not listed in the template's special_tokens");
      const Field ids = entry->at("ids");
      for (size_t k = 0; k < ids.size(); ++k) {
        const int64_t v = ids.at(k).integer();
        if (v < 0 || v > INT32_MAX) ids.at(k).unsupported("token ids must be in [0, 2^31)");
        (seen_sequence ? out.after : out.before).push_back(static_cast<int32_t>(v));
      }
    } else {
      item.unsupported("a template item must be a Sequence or a SpecialToken");
    }
  }
  if (!seen_sequence) single.unsupported("the template has no sequence A");
  return out;
}

void PostProcessor::apply(std::vector<int32_t>& ids) const {
  for (const Template& t : steps_) {
    ids.insert(ids.begin(), t.before.begin(), t.before.end());
    ids.insert(ids.end(), t.after.begin(), t.after.end());
  }
}

std::optional<int32_t> PostProcessor::bos_id() const {
  if (steps_.empty() || steps_.front().before.size() != 1) return std::nullopt;
  return steps_.front().before.front();
}

}  // namespace quarot::tok
