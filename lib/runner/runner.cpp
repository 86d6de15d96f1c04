#include "lib/runner/runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "lib/core/error.h"
#include "lib/core/progress.h"
#include "lib/runner/forward.h"
#include "lib/runner/model.h"

namespace fs = std::filesystem;

namespace quarot {

std::vector<int32_t> read_token_ids(const fs::path& file) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  QUAROT_CHECK(in.good(), file.string(), ": cannot open the token ids file");
  const std::streamoff size = in.tellg();
  QUAROT_CHECK(size >= 0 && size % 4 == 0, file.string(), ": size ", size,
               " bytes is not a whole number of int32 token ids");
  std::vector<int32_t> ids(size_t(size / 4));
  in.seekg(0);
  // int32 little-endian; this code only builds on little-endian hosts.
  in.read(reinterpret_cast<char*>(ids.data()), size);
  QUAROT_CHECK(in.good() || ids.empty(), file.string(), ": read failed");
  return ids;
}

RunnerResult runner_perplexity(const fs::path& dir, const std::vector<int32_t>& ids, int64_t seqlen,
                               int64_t limit_windows, bool progress) {
  QUAROT_CHECK(seqlen >= 2, "--seqlen must be at least 2, got ", seqlen);
  int64_t n = int64_t(ids.size()) / seqlen;
  if (limit_windows > 0) n = std::min(n, limit_windows);
  QUAROT_CHECK(n > 0, "the token stream has ", ids.size(), " tokens, fewer than one window of --seqlen ", seqlen);

  const auto t0 = std::chrono::steady_clock::now();
  runner::GpuModel model = runner::GpuModel::load(dir, progress);
  const int64_t vocab = model.shape.vocab;
  for (int64_t i = 0; i < n * seqlen; ++i)
    QUAROT_CHECK(ids[size_t(i)] >= 0 && ids[size_t(i)] < vocab, "token id ", ids[size_t(i)], " at position ", i,
                 " is outside the vocabulary [0, ", vocab, ") of ", dir.string());
  QUAROT_CHECK(model.config.max_position_embeddings <= 0 || seqlen <= model.config.max_position_embeddings,
               "--seqlen ", seqlen, " exceeds the model's max_position_embeddings (",
               model.config.max_position_embeddings, ")");
  runner::WindowForward fwd(model, seqlen);
  RunnerResult r;
  r.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.description = model.manifest.describe();
  r.windows = n;
  r.tokens = n * seqlen;

  Progress bar("ppl", n, progress);
  double sum = 0;
  for (int64_t w = 0; w < n; ++w) {
    const double v = fwd.window_nll(ids.data() + w * seqlen);
    QUAROT_CHECK(std::isfinite(v), "window ", w, " has a non-finite NLL (", v,
                 "): the model produced NaN or Inf logits");
    r.window_nll.push_back(v);
    sum += v;
    char detail[64];
    std::snprintf(detail, sizeof detail, "ppl so far %.4f", std::exp(sum / double(w + 1)));
    bar.update(w + 1, detail);
  }
  r.seconds = bar.elapsed_seconds();
  bar.finish();
  r.ppl = std::exp(sum / double(n));
  r.tokens_per_second = r.seconds > 0 ? double(r.tokens) / r.seconds : 0;
  r.peak_gpu_bytes = runner::DeviceMemoryStats::peak();
  return r;
}

}  // namespace quarot
