// Calibration sets for GPTQ, the GPTQ/QuaRot way: tokenize a text once, then draw
// `windows` random windows of `seqlen` tokens from the stream with a seeded
// generator. The text's sha256 goes into the manifest so a run can be repeated.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lib/tokenizer/tokenizer.h"

namespace quarot {

struct CalibrationSet {
  at::Tensor ids;  // [windows, seqlen] int64
  std::string spec, file, sha256;
  int64_t windows = 0, seqlen = 0;
  uint64_t seed = 0;
  nlohmann::json to_json() const;
};

// spec: "wikitext2:DIR" (wiki.train.raw, else wiki.valid.raw with a notice; never
// the test split) or "text:FILE".
std::string resolve_calibration_file(const std::string& spec);

// Start offsets of the windows, uniform over [0, n_tokens - seqlen], reproducible by seed
// on any platform (our own integer sampling over std::mt19937_64).
std::vector<int64_t> sample_window_starts(int64_t n_tokens, int64_t seqlen, int64_t windows, uint64_t seed);

CalibrationSet load_calibration(const std::string& spec, const Tokenizer& tok, int64_t windows, int64_t seqlen,
                                uint64_t seed);

}  // namespace quarot
