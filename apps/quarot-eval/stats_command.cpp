// quarot-eval stats: per layer, the max/RMS ratio and kurtosis of each linear's
// input, for one model or side by side for two (e.g. fused vs rotated).
#include "apps/quarot-eval/stats_command.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "apps/common/cli.h"
#include "apps/stages/activation_stats.h"
#include "apps/stages/eval_model.h"
#include "lib/core/error.h"
#include "lib/core/progress.h"
#include "lib/data/wikitext.h"
#include "lib/tokenizer/tokenizer.h"

namespace fs = std::filesystem;

namespace quarot {
namespace {

struct StatsArgs {
  std::vector<std::string> models;
  std::string data, split = "test", device = "cpu";
  int64_t seqlen = 512, windows = 4;
  bool json = false;
};

ActivationStats collect(const std::string& dir, const StatsArgs& a) {
  EvalModel em = load_eval_model(dir, at::kFloat, parse_device(a.device), EvalOverrides{});
  em.hooks = std::make_unique<QuarotHooks>(em.model.config, em.manifest.online, ActQuant{}, KvQuant{});
  ActivationStats stats;
  em.hooks->observer = [&](int layer, Site site, const at::Tensor& x) { stats.observe(layer, site, x); };
  Tokenizer tok = Tokenizer::load(fs::path(dir) / "tokenizer.json");
  std::vector<int32_t> ids = tok.encode(wikitext_joined(wikitext_file(a.data, a.split)));
  const int64_t n = std::min<int64_t>(a.windows, int64_t(ids.size()) / a.seqlen);
  QUAROT_CHECK(n > 0, "--seqlen ", a.seqlen, " is longer than the text");
  at::Tensor x = at::from_blob(ids.data(), {n * a.seqlen}, at::kInt).to(at::kLong).view({n, a.seqlen});
  for (int64_t w = 0; w < n; ++w) em.model.forward(x.narrow(0, w, 1), *em.hooks);
  return stats;
}

int run_stats(const StatsArgs& a) {
  c10::InferenceMode inference;
  if (a.json) Progress::set_enabled(false);
  std::vector<ActivationStats> all;
  for (const std::string& m : a.models) all.push_back(collect(m, a));
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (size_t k = 0; k < all.size(); ++k)
      for (const auto& [key, s] : all[k].all())
        j.push_back({{"model", a.models[k]}, {"layer", key.first}, {"site", site_name(Site(key.second))},
                     {"max_over_rms", s.max_over_rms()}, {"kurtosis", s.kurtosis()}});
    std::printf("%s\n", j.dump().c_str());
    return kExitOk;
  }
  for (size_t k = 0; k < all.size(); ++k) std::printf("[%zu] %s\n", k, a.models[k].c_str());
  std::printf("%-5s %-9s", "layer", "input");
  for (size_t k = 0; k < all.size(); ++k) std::printf(" | [%zu] max/rms  kurtosis", k);
  std::printf("\n");
  for (const auto& [key, s0] : all[0].all()) {
    if (Site(key.second) == Site::LmHead) continue;
    std::printf("%-5d %-9s", key.first, site_name(Site(key.second)));
    for (const ActivationStats& st : all) {
      auto it = st.all().find(key);
      if (it == st.all().end()) {
        std::printf(" | %20s", "-");
        continue;
      }
      std::printf(" | %11.1f %9.2f", it->second.max_over_rms(), it->second.kurtosis());
    }
    std::printf("\n");
  }
  return kExitOk;
}

}  // namespace

std::function<int()> add_stats_command(CLI::App& app) {
  auto a = std::make_shared<StatsArgs>();
  CLI::App* c = app.add_subcommand("stats", "Activation statistics at each linear's input (max/RMS, kurtosis)");
  c->add_option("--model", a->models, "Model directory; give it twice to compare (e.g. fused and rotated)")
      ->required()->expected(1, 4);
  c->add_option("--data", a->data, "WikiText-2 directory or .raw file")->required();
  c->add_option("--split", a->split, "Split when --data is a directory");
  c->add_option("--seqlen", a->seqlen, "Window length")->check(CLI::PositiveNumber);
  c->add_option("--windows", a->windows, "Windows to run")->check(CLI::PositiveNumber);
  c->add_option("--device", a->device, "cpu or cuda");
  c->add_flag("--json", a->json, "One JSON array on stdout");
  return [a] { return run_stats(*a); };
}

}  // namespace quarot
