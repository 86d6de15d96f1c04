#include "lib/io/dtype.h"

#include <cstring>

#include "lib/core/error.h"

namespace quarot {
namespace {

struct DTypeRow {
  DType type;
  const char* name;
  size_t size;
};

constexpr DTypeRow kRows[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4}, {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I64, "I64", 8}, {DType::I32, "I32", 4},
    {DType::I16, "I16", 2}, {DType::I8, "I8", 1},   {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1},
};

const DTypeRow& row(DType t) {
  for (const auto& r : kRows)
    if (r.type == t) return r;
  QUAROT_ASSERT(false, "unknown DType value ", int(t));
}

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

template <typename T>
T load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

const char* dtype_name(DType t) { return row(t).name; }
size_t dtype_size(DType t) { return row(t).size; }

bool dtype_is_float(DType t) {
  return t == DType::F64 || t == DType::F32 || t == DType::F16 || t == DType::BF16;
}

bool dtype_from_name(std::string_view name, DType* out) {
  for (const auto& r : kRows) {
    if (name == r.name) {
      *out = r.type;
      return true;
    }
  }
  return false;
}

DType parse_dtype(std::string_view name, const std::string& file, const std::string& tensor) {
  DType t;
  QUAROT_CHECK(dtype_from_name(name, &t), file, ": tensor '", tensor, "' has dtype '",
               std::string(name),
               "', which quarot does not support (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
  return t;
}

uint16_t float_to_bf16(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x0040u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

float bf16_to_float(uint16_t h) { return bits_float(uint32_t(h) << 16); }

uint16_t float_to_fp16(float f) {
  const uint32_t x = float_bits(f);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return uint16_t(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  // 65520 is the midpoint between 65504 (largest half) and 65536; the tie goes
  // to the even side, which is infinity.
  if (ax >= 0x477ff000u) return uint16_t(sign | 0x7c00u);
  if (ax < 0x38800000u) {  // below 2^-14: half subnormal (unit 2^-24) or zero
    const uint32_t e = ax >> 23;
    if (e < 102) return sign;  // below 2^-25, or exactly it (tie to the even 0)
    const uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14..24
    uint32_t m = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (m & 1u))) ++m;  // may carry into the smallest normal
    return uint16_t(sign | m);
  }
  uint32_t h = (((ax >> 23) - 112) << 10) | ((ax >> 13) & 0x3ffu);
  const uint32_t rem = ax & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // a carry bumps the exponent, as it should
  return uint16_t(sign | h);
}

float fp16_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  int32_t e = (h >> 10) & 0x1f;
  uint32_t m = h & 0x3ffu;
  if (e == 0) {
    if (m == 0) return bits_float(sign);
    e = 1;
    while (!(m & 0x400u)) {
      m <<= 1;
      --e;
    }
    m &= 0x3ffu;
    return bits_float(sign | (uint32_t(e + 112) << 23) | (m << 13));
  }
  if (e == 31) return bits_float(sign | 0x7f800000u | (m << 13));
  return bits_float(sign | (uint32_t(e + 112) << 23) | (m << 13));
}

void convert_to_float(DType t, const void* src, size_t n, float* dst) {
  const auto* p = static_cast<const unsigned char*>(src);
  switch (t) {
    case DType::F32: std::memcpy(dst, p, n * 4); return;
    case DType::F64: for (size_t i = 0; i < n; ++i) dst[i] = float(load<double>(p + 8 * i)); return;
    case DType::F16: for (size_t i = 0; i < n; ++i) dst[i] = fp16_to_float(load<uint16_t>(p + 2 * i)); return;
    case DType::BF16: for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_float(load<uint16_t>(p + 2 * i)); return;
    case DType::I64: for (size_t i = 0; i < n; ++i) dst[i] = float(load<int64_t>(p + 8 * i)); return;
    case DType::I32: for (size_t i = 0; i < n; ++i) dst[i] = float(load<int32_t>(p + 4 * i)); return;
    case DType::I16: for (size_t i = 0; i < n; ++i) dst[i] = float(load<int16_t>(p + 2 * i)); return;
    case DType::I8: for (size_t i = 0; i < n; ++i) dst[i] = float(int8_t(p[i])); return;
    case DType::U8: for (size_t i = 0; i < n; ++i) dst[i] = float(p[i]); return;
    case DType::BOOL: for (size_t i = 0; i < n; ++i) dst[i] = p[i] ? 1.0f : 0.0f; return;
  }
  QUAROT_ASSERT(false, "unhandled DType ", int(t));
}

void convert_from_float(const float* src, size_t n, DType t, void* dst) {
  auto* p = static_cast<unsigned char*>(dst);
  switch (t) {
    case DType::F32: std::memcpy(p, src, n * 4); return;
    case DType::F64:
      for (size_t i = 0; i < n; ++i) {
        double d = src[i];
        std::memcpy(p + 8 * i, &d, 8);
      }
      return;
    case DType::F16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h = float_to_fp16(src[i]);
        std::memcpy(p + 2 * i, &h, 2);
      }
      return;
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h = float_to_bf16(src[i]);
        std::memcpy(p + 2 * i, &h, 2);
      }
      return;
    default: break;
  }
  QUAROT_ASSERT(false, "convert_from_float: ", dtype_name(t), " is not a floating type");
}

}  // namespace quarot
