// The CUDA runner's public API: perplexity of a packed QuaRot checkpoint computed
// with real 4-bit storage and integer GEMMs. No CUDA or LibTorch types here, so
// any front end (quarot-run, quarot-eval ppl --backend cuda) can call it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace quarot {

struct RunnerResult {
  double ppl = 0;
  int64_t windows = 0;
  int64_t tokens = 0;              // windows * seqlen
  double seconds = 0;              // the evaluation loop (model loading excluded)
  double tokens_per_second = 0;
  double load_seconds = 0;         // reading and uploading the checkpoint
  uint64_t peak_gpu_bytes = 0;     // most device memory the runner's own buffers held at once
  std::vector<double> window_nll;  // mean NLL of each window
  std::string description;         // quarot.json's summary, e.g. "fused, hadamard-rotated, W4 gptq, A4, KV4"
};

// The GPTQ/QuaRot protocol of lib/eval/perplexity.h: `ids` cut into windows of
// `seqlen` (tail dropped, at most `limit_windows` when > 0), ppl = exp(mean over
// windows of each window's mean NLL). Throws quarot::Error for bad input (the
// message names the file, tensor or field), runner::CudaError (a std::runtime_error)
// when CUDA fails. Progress on stderr when `progress`.
RunnerResult runner_perplexity(const std::filesystem::path& dir, const std::vector<int32_t>& ids,
                               int64_t seqlen, int64_t limit_windows, bool progress);

// Token ids as quarot-eval ppl --dump-ids writes them: int32 little-endian.
std::vector<int32_t> read_token_ids(const std::filesystem::path& file);

}  // namespace quarot
