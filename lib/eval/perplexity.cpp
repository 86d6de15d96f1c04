#include "lib/eval/perplexity.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <cstdio>

#include "lib/core/error.h"
#include "lib/core/progress.h"

namespace quarot {

int64_t count_windows(int64_t n_ids, const PerplexityOptions& opt) {
  QUAROT_CHECK(opt.seqlen >= 2, "--seqlen must be at least 2, got ", opt.seqlen);
  int64_t n = n_ids / opt.seqlen;
  if (opt.limit_windows > 0) n = std::min(n, opt.limit_windows);
  return n;
}

std::vector<double> mean_window_nll(const at::Tensor& logits, const at::Tensor& ids) {
  const int64_t B = logits.size(0), T = logits.size(1);
  at::Tensor lp = at::log_softmax(logits.narrow(1, 0, T - 1).to(at::kCPU, at::kDouble), -1);
  at::Tensor target = ids.narrow(1, 1, T - 1).to(at::kCPU, at::kLong).unsqueeze(-1);
  at::Tensor nll = -lp.gather(-1, target).squeeze(-1).mean(1);
  std::vector<double> out(static_cast<size_t>(B));
  auto acc = nll.accessor<double, 1>();
  for (int64_t b = 0; b < B; ++b) out[size_t(b)] = acc[b];
  return out;
}

PerplexityResult perplexity(const LlamaModel& model, const std::vector<int32_t>& ids,
                            const PerplexityOptions& opt, ForwardHooks& hooks) {
  const int64_t n = count_windows(int64_t(ids.size()), opt);
  QUAROT_CHECK(n > 0, "the text has ", ids.size(), " tokens, fewer than one window of --seqlen ", opt.seqlen);
  QUAROT_CHECK(opt.batch >= 1, "--batch must be at least 1, got ", opt.batch);
  at::Tensor all = at::from_blob(const_cast<int32_t*>(ids.data()), {n * opt.seqlen}, at::kInt)
                       .to(at::kLong)
                       .view({n, opt.seqlen});
  PerplexityResult r;
  r.windows = n;
  r.tokens = n * opt.seqlen;
  Progress progress("ppl", n, opt.progress);
  c10::InferenceMode no_grad;
  double sum = 0;
  for (int64_t w = 0; w < n; w += opt.batch) {
    const int64_t b = std::min(opt.batch, n - w);
    at::Tensor x = all.narrow(0, w, b).to(model.device());
    at::Tensor logits = model.forward(x, hooks);
    for (double v : mean_window_nll(logits, x)) {
      QUAROT_CHECK(std::isfinite(v), "window ", r.window_nll.size(), " has a non-finite NLL (", v,
                   "): the model produced NaN or Inf logits");
      r.window_nll.push_back(v);
      sum += v;
    }
    char detail[64];
    std::snprintf(detail, sizeof detail, "ppl so far %.4f", std::exp(sum / double(r.window_nll.size())));
    progress.update(w + b, detail);
  }
  r.seconds = progress.elapsed_seconds();
  r.ppl = std::exp(sum / double(n));
  progress.finish();
  return r;
}

}  // namespace quarot
