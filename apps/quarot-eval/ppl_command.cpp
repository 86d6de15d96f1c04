// quarot-eval ppl: perplexity of any stage's output on WikiText-2 or a text file.
#include "apps/quarot-eval/ppl_command.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "apps/common/cli.h"
#include "apps/stages/eval_model.h"
#include "lib/core/error.h"
#include "lib/core/files.h"
#include "lib/core/progress.h"
#include "lib/data/wikitext.h"
#include "lib/eval/perplexity.h"
#include "lib/model/tensor_bridge.h"
#include "lib/tokenizer/tokenizer.h"
#ifdef QUAROT_HAVE_RUNNER
#include "lib/runner/runner.h"
#endif

namespace fs = std::filesystem;

namespace quarot {
namespace {

struct PplArgs {
  std::string model, dataset = "wikitext2", data, split = "test", device = "cpu", dtype = "fp32", dump_ids;
  std::string backend = "torch";
  int64_t seqlen = 2048, batch = 1, limit = 0;
  bool json = false;
  EvalOverrides overrides;
};

std::string load_text(const PplArgs& a) {
  if (a.dataset == "wikitext2") return wikitext_joined(wikitext_file(a.data, a.split));
  QUAROT_CHECK(fs::is_regular_file(a.data), "--data ", a.data, ": not a file (--dataset text takes a text file)");
  return read_text_file(a.data);
}

void dump_ids(const std::string& path, const std::vector<int32_t>& ids) {
  // int32 little-endian; this code only builds on little-endian hosts.
  std::string bytes(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(int32_t));
  write_file_atomic(path, bytes);
}

void print_result(const PplArgs& a, double ppl, int64_t windows, int64_t tokens, double seconds, double tok_seconds,
                  const std::string& dtype, const std::string& description, const std::vector<double>& nll,
                  const nlohmann::json& extra) {
  if (a.json) {
    nlohmann::json j = {{"ppl", ppl},         {"windows", windows},        {"tokens", tokens},
                        {"seconds", seconds}, {"tokenize_seconds", tok_seconds}, {"seqlen", a.seqlen},
                        {"model", a.model},   {"dataset", a.dataset},
                        {"device", a.backend == "cuda" ? std::string("cuda") : a.device},
                        {"backend", a.backend}, {"dtype", dtype},          {"quantization", description},
                        {"window_nll", nll}};
    j.update(extra);
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("ppl %.6f  windows %lld  tokens %lld  seconds %.2f  (%s)\n", ppl, (long long)windows,
                (long long)tokens, seconds, description.c_str());
  }
}

int run_cuda_backend(const PplArgs& a, const std::vector<int32_t>& ids, double tok_seconds) {
#ifdef QUAROT_HAVE_RUNNER
  RunnerResult r = runner_perplexity(a.model, ids, a.seqlen, a.limit, !a.json);
  print_result(a, r.ppl, r.windows, r.tokens, r.seconds, tok_seconds, "int4", r.description, r.window_nll,
               {{"tokens_per_second", r.tokens_per_second}, {"peak_gpu_bytes", r.peak_gpu_bytes},
                {"load_seconds", r.load_seconds}});
  return kExitOk;
#else
  (void)ids;
  (void)tok_seconds;
  QUAROT_FAIL("--backend cuda: this build has no CUDA runner (configure with nvcc available, QUAROT_CUDA=ON)");
#endif
}

int run_ppl(const PplArgs& a) {
  c10::InferenceMode inference;
  if (a.json) Progress::set_enabled(false);
  const at::Device device = parse_device(a.device);
  const at::ScalarType dtype = parse_scalar_type(a.dtype, "--dtype");
  QUAROT_CHECK(!(dtype == at::kHalf && device.is_cpu()),
               "--dtype fp16 needs --device cuda (LibTorch's CPU kernels have no fp16 matmul; use bf16 or fp32)");

  const fs::path tok_path = fs::path(a.model) / "tokenizer.json";
  QUAROT_CHECK(fs::exists(tok_path), "--model ", a.model, ": no tokenizer.json");
  Tokenizer tok = Tokenizer::load(tok_path);
  const std::string text = load_text(a);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<int32_t> ids = tok.encode(text);
  const double tok_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log_info("tokenized " + std::to_string(text.size()) + " bytes into " + std::to_string(ids.size()) +
           " tokens in " + format_duration(tok_seconds));
  if (!a.dump_ids.empty()) dump_ids(a.dump_ids, ids);

  if (a.backend == "cuda") return run_cuda_backend(a, ids, tok_seconds);
  EvalModel em = load_eval_model(a.model, dtype, device, a.overrides);
  log_info("model: " + em.description);
  PerplexityOptions opt;
  opt.seqlen = a.seqlen;
  opt.batch = a.batch;
  opt.limit_windows = a.limit;
  opt.progress = !a.json;
  QUAROT_CHECK(a.seqlen <= em.model.config.max_position_embeddings || a.seqlen <= 0,
               "--seqlen ", a.seqlen, " exceeds the model's max_position_embeddings (",
               em.model.config.max_position_embeddings, ")");
  PerplexityResult r = perplexity(em.model, ids, opt, *em.hooks);

  print_result(a, r.ppl, r.windows, r.tokens, r.seconds, tok_seconds, scalar_type_name(dtype), em.description,
               r.window_nll, nlohmann::json::object());
  return kExitOk;
}

}  // namespace

std::function<int()> add_ppl_command(CLI::App& app) {
  auto a = std::make_shared<PplArgs>();
  CLI::App* c = app.add_subcommand("ppl", "Perplexity on WikiText-2 (GPTQ/QuaRot protocol) or any text file");
  c->add_option("--model", a->model, "Model directory (HF layout, any quarot stage output)")->required();
  c->add_option("--dataset", a->dataset, "wikitext2 or text")->check(CLI::IsMember({"wikitext2", "text"}));
  c->add_option("--data", a->data, "wikitext2: directory with wiki.<split>.raw, or the file; text: a file")->required();
  c->add_option("--split", a->split, "WikiText-2 split when --data is a directory")->check(CLI::IsMember({"test", "valid", "train"}));
  c->add_option("--seqlen", a->seqlen, "Window length in tokens")->check(CLI::PositiveNumber);
  c->add_option("--device", a->device, "cpu or cuda (LibTorch backend)");
  c->add_option("--backend", a->backend, "torch: LibTorch fake-quant simulation; cuda: the INT4 CUDA runner "
                "(packed checkpoints)")->check(CLI::IsMember({"torch", "cuda"}));
  c->add_option("--dtype", a->dtype, "Compute dtype: fp32, bf16, fp16 (fp64 for checks)");
  c->add_option("--batch", a->batch, "Windows per forward pass")->check(CLI::PositiveNumber);
  c->add_option("--limit-windows", a->limit, "Evaluate only the first K windows")->check(CLI::NonNegativeNumber);
  c->add_option("--dump-ids", a->dump_ids, "Write the token ids (int32 little-endian) to this file");
  c->add_flag("--json", a->json, "Print one JSON object on stdout (no progress)");
  add_override_options(*c, a->overrides);
  return [a] { return run_ppl(*a); };
}

}  // namespace quarot
