// Perplexity the WikiText-2 way (GPTQ/QuaRot protocol): one token stream cut into
// non-overlapping windows of `seqlen`, tail dropped, ppl = exp(mean over windows
// of each window's mean token NLL). NLLs are accumulated in float64 from a
// float64 log-softmax of the logits, whatever the model dtype.
#pragma once

#include <cstdint>
#include <vector>

#include "lib/model/llama.h"

namespace quarot {

struct PerplexityOptions {
  int64_t seqlen = 2048;
  int64_t batch = 1;
  int64_t limit_windows = 0;  // 0: all
  bool progress = true;
};

struct PerplexityResult {
  double ppl = 0;
  int64_t windows = 0;
  int64_t tokens = 0;  // windows * seqlen
  double seconds = 0;
  std::vector<double> window_nll;  // mean NLL of each window
};

// Windows the stream will be cut into (after the limit).
int64_t count_windows(int64_t n_ids, const PerplexityOptions& opt);

PerplexityResult perplexity(const LlamaModel& model, const std::vector<int32_t>& ids,
                            const PerplexityOptions& opt, ForwardHooks& hooks);

// Mean NLL of each row of `logits` [B, T, V] predicting ids[:, 1:] ([B, T]).
std::vector<double> mean_window_nll(const at::Tensor& logits, const at::Tensor& ids);

}  // namespace quarot
