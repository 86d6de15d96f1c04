#include "lib/model/tensor_bridge.h"

#include <ATen/ATen.h>

#include "lib/core/error.h"

namespace quarot {

at::ScalarType to_scalar_type(DType t) {
  switch (t) {
    case DType::F64: return at::kDouble;
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::I64: return at::kLong;
    case DType::I32: return at::kInt;
    case DType::I16: return at::kShort;
    case DType::I8: return at::kChar;
    case DType::U8: return at::kByte;
    case DType::BOOL: return at::kBool;
  }
  QUAROT_ASSERT(false, "unknown DType");
  return at::kFloat;
}

DType to_dtype(at::ScalarType t) {
  switch (t) {
    case at::kDouble: return DType::F64;
    case at::kFloat: return DType::F32;
    case at::kHalf: return DType::F16;
    case at::kBFloat16: return DType::BF16;
    case at::kLong: return DType::I64;
    case at::kInt: return DType::I32;
    case at::kShort: return DType::I16;
    case at::kChar: return DType::I8;
    case at::kByte: return DType::U8;
    case at::kBool: return DType::BOOL;
    default: break;
  }
  QUAROT_FAIL("tensor type ", c10::toString(t), " cannot be stored in safetensors");
}

at::Tensor tensor_from_bytes(const void* data, DType dtype, const std::vector<int64_t>& shape) {
  // from_blob does not take ownership; clone so the mapping can go away.
  return at::from_blob(const_cast<void*>(data), shape, at::TensorOptions().dtype(to_scalar_type(dtype))).clone();
}

at::ScalarType parse_scalar_type(const std::string& s, const std::string& what) {
  if (s == "fp32" || s == "float32" || s == "float") return at::kFloat;
  if (s == "bf16" || s == "bfloat16") return at::kBFloat16;
  if (s == "fp16" || s == "float16" || s == "half") return at::kHalf;
  if (s == "fp64" || s == "float64" || s == "double") return at::kDouble;
  QUAROT_FAIL(what, ": unknown dtype '", s, "' (expected fp32, bf16, fp16 or fp64)");
}

std::string scalar_type_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    case at::kDouble: return "float64";
    default: return c10::toString(t);
  }
}

}  // namespace quarot
