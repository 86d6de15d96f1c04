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
  // The int4 GEMMs reduce over multiples of 32: the loader pads each weight's input
  // axis with zero codes to these widths, and the quantizers write zero codes there
  // (the integer dot product is unchanged). The intermediate size is padded alike on
  // gate/up's output axis (zero rows, so SwiGLU gives 0 there). Equal to the sizes
  // themselves when they are multiples of 32 (every model the fast paths were made for).
  static int64_t pad32(int64_t v) { return (v + 31) / 32 * 32; }
  int64_t d_pad() const { return pad32(d); }
  int64_t attn_pad() const { return pad32(heads * head_dim); }
  int64_t inter_pad() const { return pad32(inter); }
};

// Throws quarot::Error naming `dir`'s config.json or quarot.json and the field
// when the checkpoint is not a packed W4A4 checkpoint the runner supports.
ModelShape check_runner_support(const LlamaConfig& cfg, const Manifest& man, const std::string& dir);

// The tensor names of the packed layout.
std::string packed_linear_name(int64_t layer, const std::string& linear);  // "model.layers.3.self_attn.q_proj"

}  // namespace quarot::runner
