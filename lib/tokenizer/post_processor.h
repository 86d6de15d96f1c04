// The `post_processor` of tokenizer.json, for a single sequence with special
// tokens added. Supported: null, Sequence, TemplateProcessing, and ByteLevel
// (which only adjusts offsets, so it leaves ids alone).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "lib/tokenizer/json_fields.h"

namespace quarot::tok {

class PostProcessor {
 public:
  static PostProcessor from_json(const Field& f);  // f may be null

  void apply(std::vector<int32_t>& ids) const;
  // The single id the first template puts before the sequence, if it is one.
  std::optional<int32_t> bos_id() const;

 private:
  struct Template {
    std::vector<int32_t> before, after;
  };
  static void parse(const Field& f, std::vector<Template>& steps);
  static Template parse_template(const Field& f);
  std::vector<Template> steps_;
};

}  // namespace quarot::tok
