// What the CUDA runner can run, decided on the CPU from config.json and
// quarot.json alone (so it is testable without a GPU).
#pragma once

#include <cstdint>
#include <string>

#include "lib/io/config.h"
#include "lib/io/manifest.h"

namespace quarot::runner {

struct ModelShape {
  int64_t d = 0, heads = 0, kv_heads = 0, head_dim = 0, inter = 0, layers = 0, vocab = 0;
  int64_t qkv_rows() const { return (heads + 2 * kv_heads) * head_dim; }
};

// Throws quarot::Error naming `dir`'s config.json or quarot.json and the field
// when the checkpoint is not a packed W4A4 checkpoint the runner supports.
ModelShape check_runner_support(const LlamaConfig& cfg, const Manifest& man, const std::string& dir);

// The tensor names of the packed layout.
std::string packed_linear_name(int64_t layer, const std::string& linear);  // "model.layers.3.self_attn.q_proj"

}  // namespace quarot::runner
