// Loading any stage's output for evaluation: the weights (float, or integer codes
// and scales), and the run-time hooks its manifest asks for. Overrides let a user
// change the bit widths for experiments, e.g. W4A4KV4 RTN on an unrotated model.
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <memory>
#include <string>

#include "apps/stages/runtime_hooks.h"
#include "lib/io/manifest.h"
#include "lib/model/llama.h"

namespace quarot {

struct EvalOverrides {
  int w_bits = 0;  // 0: as stored; 2..8: RTN fake-quantize float weights (with clip search)
  int a_bits = 0, k_bits = 0, v_bits = 0;  // 0: as in the manifest; 16: off
  double a_clip = 0, kv_clip = 0;          // 0: as in the manifest
  int64_t w_groupsize = -1, a_groupsize = -1;
  bool w_clip = true;
};

void add_override_options(CLI::App& cmd, EvalOverrides& o);

struct EvalModel {
  LlamaModel model;
  Manifest manifest;  // with the overrides applied
  std::unique_ptr<QuarotHooks> hooks;
  std::string description;
};

EvalModel load_eval_model(const std::filesystem::path& dir, at::ScalarType dtype, at::Device device,
                          const EvalOverrides& o);

// RTN fake quantization of every decoder linear in place (lm_head stays).
void fake_quantize_weights(LlamaModel& m, int bits, int64_t groupsize, bool clip_search);

}  // namespace quarot
