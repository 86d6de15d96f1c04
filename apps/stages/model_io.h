// Writing a model back in the Hugging Face layout, with quarot.json beside it.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <string>

#include "lib/io/manifest.h"
#include "lib/model/llama.h"

namespace quarot {

// A quantized linear as the quantize stage stores it (docs/FORMAT.md).
struct QuantizedLinear {
  at::Tensor codes;  // int8 [out, in] (symmetric) or uint8 (asymmetric)
  at::Tensor scale;  // float32 [out, groups]
  at::Tensor zero;   // float32 [out, groups], asymmetric only
};
using QuantizedLinears = std::map<std::string, QuantizedLinear>;  // by linear name

struct SaveOptions {
  at::ScalarType dtype = at::kFloat;  // float tensors are stored in this type
  bool pack_int4 = false;             // store 4-bit codes packed two per byte
  uint64_t max_shard_bytes = 0;       // 0: one file
};

// The storage options a stage's --dtype flag asks for ("" = `fallback`).
SaveOptions storage_options(const std::string& dtype_flag, at::ScalarType fallback);

// Writes config.json, model.safetensors (or shards), the input's tokenizer and
// generation files, and quarot.json into `out` (a fresh temporary directory).
void save_model(const LlamaModel& m, const Manifest& manifest, const std::filesystem::path& in_dir,
                const std::filesystem::path& out, const SaveOptions& opt, const QuantizedLinears* quantized = nullptr);

}  // namespace quarot
