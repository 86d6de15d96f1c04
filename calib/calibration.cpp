#include "calib/calibration.h"

#include <ATen/ATen.h>

#include <random>

#include "lib/core/error.h"
#include "lib/core/files.h"
#include "lib/core/progress.h"
#include "lib/core/sha256.h"
#include "lib/data/wikitext.h"

namespace fs = std::filesystem;

namespace quarot {

nlohmann::json CalibrationSet::to_json() const {
  return {{"source", spec}, {"file", file}, {"sha256", sha256}, {"windows", windows}, {"seqlen", seqlen}, {"seed", seed}};
}

std::string resolve_calibration_file(const std::string& spec) {
  const auto colon = spec.find(':');
  QUAROT_CHECK(colon != std::string::npos, "--calib '", spec, "': expected wikitext2:DIR or text:FILE");
  const std::string kind = spec.substr(0, colon), path = spec.substr(colon + 1);
  if (kind == "text") {
    QUAROT_CHECK(fs::is_regular_file(path), "--calib ", spec, ": ", path, " is not a file");
    return path;
  }
  QUAROT_CHECK(kind == "wikitext2", "--calib '", spec, "': unknown source '", kind, "' (expected wikitext2 or text)");
  if (fs::is_regular_file(path)) {
    QUAROT_CHECK(fs::path(path).filename() != "wiki.test.raw",
                 "--calib ", spec, ": refusing to calibrate on the test split");
    return path;
  }
  QUAROT_CHECK(fs::is_directory(path), "--calib ", spec, ": ", path, " is neither a directory nor a file");
  if (fs::exists(fs::path(path) / "wiki.train.raw")) return (fs::path(path) / "wiki.train.raw").string();
  QUAROT_CHECK(fs::exists(fs::path(path) / "wiki.valid.raw"), "--calib ", spec, ": ", path,
               " has neither wiki.train.raw nor wiki.valid.raw");
  log_warn("--calib " + spec + ": no wiki.train.raw there; calibrating on wiki.valid.raw instead");
  return (fs::path(path) / "wiki.valid.raw").string();
}

std::vector<int64_t> sample_window_starts(int64_t n_tokens, int64_t seqlen, int64_t windows, uint64_t seed) {
  QUAROT_CHECK(n_tokens > seqlen, "calibration text has ", n_tokens, " tokens, not more than one window of ", seqlen);
  std::mt19937_64 rng(seed);
  const uint64_t range = uint64_t(n_tokens - seqlen) + 1;
  // Rejection sampling: unbiased, and unlike std::uniform_int_distribution the same
  // on every standard library.
  const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % range;
  std::vector<int64_t> starts;
  for (int64_t i = 0; i < windows; ++i) {
    uint64_t r;
    do r = rng(); while (r >= limit);
    starts.push_back(int64_t(r % range));
  }
  return starts;
}

CalibrationSet load_calibration(const std::string& spec, const Tokenizer& tok, int64_t windows, int64_t seqlen,
                                uint64_t seed) {
  CalibrationSet c;
  c.spec = spec;
  c.file = resolve_calibration_file(spec);
  const std::string kind = spec.substr(0, spec.find(':'));
  const std::string text = kind == "wikitext2" ? wikitext_joined(c.file) : read_text_file(c.file);
  c.sha256 = sha256_file(c.file);
  const std::vector<int32_t> ids = tok.encode(text);
  c.windows = windows;
  c.seqlen = seqlen;
  c.seed = seed;
  c.ids = at::empty({windows, seqlen}, at::kLong);
  auto acc = c.ids.accessor<int64_t, 2>();
  const auto starts = sample_window_starts(int64_t(ids.size()), seqlen, windows, seed);
  for (int64_t w = 0; w < windows; ++w)
    for (int64_t t = 0; t < seqlen; ++t) acc[w][t] = ids[size_t(starts[size_t(w)] + t)];
  return c;
}

}  // namespace quarot
