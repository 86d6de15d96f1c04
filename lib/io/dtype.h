// Element types of safetensors tensors and the float conversions around them.
//
// Only the types a Llama checkpoint (or our own outputs) can hold are supported;
// anything else a file names (F8_E4M3, U16, C64, ...) is refused by name rather
// than guessed at, because reinterpreting bytes of an unknown type silently
// corrupts a model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace quarot {

enum class DType : uint8_t { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

// The safetensors spelling: "F64", "F32", "F16", "BF16", "I64", ..., "BOOL".
const char* dtype_name(DType t);
size_t dtype_size(DType t);
bool dtype_is_float(DType t);

// Exact, case-sensitive safetensors name; false when unknown or unsupported.
bool dtype_from_name(std::string_view name, DType* out);
// As above, throwing quarot::Error naming `file` and `tensor` for an unknown name.
DType parse_dtype(std::string_view name, const std::string& file, const std::string& tensor);

// Conversions round to nearest, ties to even. NaN stays NaN (made quiet),
// overflow goes to infinity, and fp16 produces subnormals.
uint16_t float_to_bf16(float f);
float bf16_to_float(uint16_t h);
uint16_t float_to_fp16(float f);
float fp16_to_float(uint16_t h);

// Converts `n` elements of type `t` at `src` to float. `src` need not be aligned
// (tensors in a safetensors file only are when the writer made them so).
void convert_to_float(DType t, const void* src, size_t n, float* dst);
// Float to a floating type (F64, F32, F16, BF16); `dst` need not be aligned.
void convert_from_float(const float* src, size_t n, DType t, void* dst);

}  // namespace quarot
