// A linear layer's weight as stored in a checkpoint: a float tensor `<name>.weight`,
// or the integer codes and scales that quarot's quantize and pack stages write
// (docs/FORMAT.md). Either way the caller gets the float weight [out, in].
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "lib/io/checkpoint.h"

namespace quarot {

// Matches lib/model's LinearWeightReader: pass it to load_llama for quantized checkpoints.
at::Tensor read_stored_linear_weight(const Checkpoint& ck, const std::string& linear, int64_t out, int64_t in);

}  // namespace quarot
