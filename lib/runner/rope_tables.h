// RoPE cos/sin tables computed on the host exactly as lib/model/rope.cpp does
// (inverse frequencies and angles in float32, the same operation order), so the
// runner's rotation matches the LibTorch reference to the last bit of the angle.
#pragma once

#include <cstdint>
#include <vector>

#include "lib/io/config.h"

namespace quarot::runner {

std::vector<float> rope_inverse_frequencies(const LlamaConfig& cfg);  // [head_dim / 2]
// cos and sin [seqlen, head_dim / 2] (the second half of transformers' [T, D] table repeats the first).
void rope_tables_host(const LlamaConfig& cfg, int64_t seqlen, std::vector<float>& cos_out,
                      std::vector<float>& sin_out);

}  // namespace quarot::runner
