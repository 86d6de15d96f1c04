// Between safetensors bytes (lib/io, torch-free) and ATen tensors.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "lib/io/dtype.h"

namespace quarot {

at::ScalarType to_scalar_type(DType t);
DType to_dtype(at::ScalarType t);  // refuses types safetensors cannot hold

// A CPU tensor that owns a copy of `nbytes` at `data`.
at::Tensor tensor_from_bytes(const void* data, DType dtype, const std::vector<int64_t>& shape);

// Parses "fp32|float32|bf16|bfloat16|fp16|float16|fp64|float64"; `what` names the flag or field.
at::ScalarType parse_scalar_type(const std::string& s, const std::string& what);
std::string scalar_type_name(at::ScalarType t);  // the config.json spelling: "float32", ...

}  // namespace quarot
