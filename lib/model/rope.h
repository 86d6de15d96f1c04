// Rotary position embeddings in the rotate-half layout of transformers' Llama.
#pragma once

#include <ATen/core/Tensor.h>

#include "lib/io/config.h"

namespace quarot {

struct RopeTables {
  at::Tensor cos, sin;  // [T, head_dim], in the compute dtype
};

// The inverse frequencies and the cos/sin tables are computed in float32 (as
// transformers does, whatever the model dtype) and only then cast, so a float64
// forward agrees with transformers' float64 forward to rounding.
RopeTables rope_tables(const LlamaConfig& cfg, int64_t seqlen, at::ScalarType dtype, at::Device device);

// x: [B, heads, T, head_dim]
at::Tensor apply_rope(const at::Tensor& x, const RopeTables& t);

}  // namespace quarot
