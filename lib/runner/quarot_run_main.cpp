// quarot-run: the CUDA runner's command line (no LibTorch).
//   quarot-run ppl --model PACKED_DIR --ids IDS.bin --seqlen N [--limit-windows K] [--json]
#include <CLI/CLI.hpp>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "lib/core/error.h"
#include "lib/core/progress.h"
#include "lib/runner/runner.h"

namespace {

struct PplArgs {
  std::string model, ids;
  int64_t seqlen = 2048, limit = 0;
  bool json = false;
};

int run_ppl(const PplArgs& a) {
  if (a.json) quarot::Progress::set_enabled(false);
  const std::vector<int32_t> ids = quarot::read_token_ids(a.ids);
  const quarot::RunnerResult r = quarot::runner_perplexity(a.model, ids, a.seqlen, a.limit, !a.json);
  if (a.json) {
    nlohmann::json j = {{"ppl", r.ppl},
                        {"windows", r.windows},
                        {"tokens", r.tokens},
                        {"seconds", r.seconds},
                        {"tokens_per_second", r.tokens_per_second},
                        {"load_seconds", r.load_seconds},
                        {"peak_gpu_bytes", r.peak_gpu_bytes},
                        {"seqlen", a.seqlen},
                        {"model", a.model},
                        {"quantization", r.description},
                        {"window_nll", r.window_nll}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("ppl %.6f  windows %lld  tokens %lld  seconds %.2f  (%s, %.0f tokens/s)\n", r.ppl,
                (long long)r.windows, (long long)r.tokens, r.seconds, r.description.c_str(), r.tokens_per_second);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"quarot-run: W4A4KV4 inference of packed QuaRot checkpoints on a CUDA GPU"};
  app.require_subcommand(1);
  PplArgs a;
  CLI::App* ppl = app.add_subcommand("ppl", "Perplexity of a packed checkpoint on pre-tokenized ids");
  ppl->add_option("--model", a.model, "Packed checkpoint directory (config.json, quarot.json, model.safetensors)")
      ->required();
  ppl->add_option("--ids", a.ids, "Token ids, int32 little-endian (quarot-eval ppl --dump-ids)")->required();
  ppl->add_option("--seqlen", a.seqlen, "Window length in tokens")->check(CLI::PositiveNumber);
  ppl->add_option("--limit-windows", a.limit, "Evaluate only the first K windows")->check(CLI::NonNegativeNumber);
  ppl->add_flag("--json", a.json, "Print one JSON object on stdout (no progress)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  try {
    return run_ppl(a);
  } catch (const quarot::Error& e) {
    std::fprintf(stderr, "quarot-run: error: %s\n", e.what());
    return 2;
  } catch (const quarot::InternalError& e) {
    std::fprintf(stderr, "quarot-run: internal error: %s\n", e.what());
    return 3;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "quarot-run: failure: %s\n", e.what());
    return 1;
  }
}
