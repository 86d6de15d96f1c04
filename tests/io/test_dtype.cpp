#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "lib/core/error.h"
#include "lib/io/dtype.h"

using namespace quarot;

namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Independent reference: the nearest of the (exactly representable) finite
// positive halves, ties to the even code, overflow past the 65520 midpoint to inf.
struct HalfTable {
  std::vector<double> v;  // v[code] for codes 0..0x7bff, increasing
  HalfTable() {
    for (uint32_t c = 0; c <= 0x7bff; ++c) {
      int e = int(c >> 10), m = int(c & 0x3ff);
      v.push_back(e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25));
    }
  }
  uint16_t round(float f) const {
    double a = std::fabs(double(f));
    uint16_t sign = std::signbit(f) ? 0x8000 : 0;
    if (a >= 65520.0) return sign | 0x7c00;
    auto it = std::lower_bound(v.begin(), v.end(), a);
    size_t hi = size_t(it - v.begin());
    if (hi < v.size() && v[hi] == a) return uint16_t(sign | hi);
    if (hi == v.size()) return uint16_t(sign | 0x7bff);
    size_t lo = hi - 1;
    double dl = a - v[lo], dh = v[hi] - a;
    size_t pick = dl < dh ? lo : dh < dl ? hi : ((lo & 1) ? hi : lo);
    return uint16_t(sign | pick);
  }
};

uint16_t bf16_reference(float f) {
  uint32_t u = bits(f);
  uint16_t lo = uint16_t(u >> 16), hi = uint16_t(lo + 1);
  double x = std::fabs(double(f));
  double vl = std::fabs(double(from_bits(uint32_t(lo) << 16)));
  double vh = std::fabs(double(from_bits(uint32_t(hi) << 16)));  // may be inf: then dh is inf
  double dl = x - vl, dh = vh - x;
  if ((hi & 0x7fff) == 0x7f80) {  // next code is infinity: the midpoint is 2^128 * (1 - 2^-9)
    double mid = std::ldexp(1.0, 128) - std::ldexp(1.0, 128 - 9);
    return x >= mid ? hi : lo;
  }
  return dl < dh ? lo : dh < dl ? hi : ((lo & 1) ? hi : lo);
}

}  // namespace

TEST_CASE("dtype names and sizes", "[dtype]") {
  const std::pair<DType, size_t> all[] = {{DType::F64, 8}, {DType::F32, 4}, {DType::F16, 2},
                                          {DType::BF16, 2}, {DType::I64, 8}, {DType::I32, 4},
                                          {DType::I16, 2}, {DType::I8, 1},   {DType::U8, 1},
                                          {DType::BOOL, 1}};
  for (auto [t, size] : all) {
    DType back;
    REQUIRE(dtype_from_name(dtype_name(t), &back));
    CHECK(back == t);
    CHECK(dtype_size(t) == size);
  }
  CHECK(std::string(dtype_name(DType::BF16)) == "BF16");
  DType t;
  CHECK_FALSE(dtype_from_name("F8_E4M3", &t));
  CHECK_FALSE(dtype_from_name("f32", &t));
  REQUIRE_THROWS_AS(parse_dtype("F8_E4M3", "/x/model.safetensors", "model.layers.3.mlp"), Error);
  REQUIRE_THROWS_WITH(parse_dtype("F8_E4M3", "/x/model.safetensors", "model.layers.3.mlp"),
                      Catch::Contains("F8_E4M3") && Catch::Contains("/x/model.safetensors") &&
                          Catch::Contains("model.layers.3.mlp"));
}

TEST_CASE("fp16: every half converts to float and back unchanged", "[dtype]") {
  for (uint32_t c = 0; c < 0x10000; ++c) {
    float f = fp16_to_float(uint16_t(c));
    bool nan = (c & 0x7c00) == 0x7c00 && (c & 0x3ff);
    if (nan) {
      REQUIRE(std::isnan(f));
      REQUIRE(std::isnan(fp16_to_float(float_to_fp16(f))));
    } else {
      REQUIRE(float_to_fp16(f) == c);
    }
  }
  CHECK(fp16_to_float(0x3c00) == 1.0f);
  CHECK(fp16_to_float(0x0001) == std::ldexp(1.0f, -24));
  CHECK(fp16_to_float(0x7bff) == 65504.0f);
  CHECK(std::isinf(fp16_to_float(0xfc00)));
}

TEST_CASE("fp16: rounding matches a nearest-value search", "[dtype]") {
  HalfTable table;
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<uint32_t> any;
  for (int i = 0; i < 400000; ++i) {
    uint32_t u = any(rng);
    // Concentrate on the half range: exponents 2^-26 .. 2^17.
    u = (u & 0x807fffffu) | (uint32_t(101 + (u >> 23) % 44) << 23);
    float f = from_bits(u);
    REQUIRE(float_to_fp16(f) == table.round(f));
  }
  // Exact ties, subnormal boundaries, overflow.
  const float edge[] = {1.0f + std::ldexp(1.0f, -11),  // tie between 1 and 1+2^-10 -> 1
                        1.0f + 3 * std::ldexp(1.0f, -11),
                        std::ldexp(1.0f, -25),          // tie between 0 and 2^-24 -> 0
                        std::ldexp(1.5f, -25),          // above the tie -> 2^-24
                        std::ldexp(3.0f, -25),          // tie between 1 and 2 units -> 2
                        std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26),  // rounds up to smallest normal
                        65504.0f, 65519.99f, 65520.0f, 1e10f, -65520.0f, 0.0f, -0.0f};
  for (float f : edge) CHECK(float_to_fp16(f) == table.round(f));
  CHECK(float_to_fp16(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);
  CHECK(float_to_fp16(65520.0f) == 0x7c00);
  CHECK(float_to_fp16(-0.0f) == 0x8000);
  CHECK(std::isnan(fp16_to_float(float_to_fp16(std::numeric_limits<float>::quiet_NaN()))));
#ifdef __FLT16_MAX__
  for (int i = 0; i < 100000; ++i) {  // and the compiler's own conversion
    float f = from_bits(any(rng));
    if (std::isnan(f)) continue;
    _Float16 h = static_cast<_Float16>(f);
    uint16_t hb;
    std::memcpy(&hb, &h, 2);
    REQUIRE(float_to_fp16(f) == hb);
  }
#endif
}

TEST_CASE("bf16: rounding to nearest even", "[dtype]") {
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<uint32_t> any;
  for (int i = 0; i < 400000; ++i) {
    float f = from_bits(any(rng));
    if (std::isnan(f)) {
      REQUIRE(std::isnan(bf16_to_float(float_to_bf16(f))));
      continue;
    }
    REQUIRE(float_to_bf16(f) == bf16_reference(f));
  }
  CHECK(float_to_bf16(1.0f + std::ldexp(1.0f, -8)) == 0x3f80);  // tie, even is 1.0
  CHECK(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3f82);  // tie, even is up
  CHECK(float_to_bf16(std::numeric_limits<float>::max()) == 0x7f80);
  CHECK(bf16_to_float(0x3f80) == 1.0f);
  for (uint32_t c = 0; c < 0x10000; ++c) {
    float f = bf16_to_float(uint16_t(c));
    if (!std::isnan(f)) REQUIRE(float_to_bf16(f) == c);
  }
}

TEST_CASE("convert_to_float and convert_from_float cover every dtype", "[dtype]") {
  const float src[] = {1.5f, -2.0f, 0.0f, 3.0f};
  for (DType t : {DType::F64, DType::F32, DType::F16, DType::BF16}) {
    std::vector<unsigned char> buf(4 * dtype_size(t) + 1);
    convert_from_float(src, 4, t, buf.data() + 1);  // deliberately misaligned
    float back[4];
    convert_to_float(t, buf.data() + 1, 4, back);
    for (int i = 0; i < 4; ++i) CHECK(back[i] == src[i]);
  }
  const int64_t i64[] = {-3, 7};
  const int32_t i32[] = {-3, 7};
  const int16_t i16[] = {-3, 7};
  const int8_t i8[] = {-3, 7};
  const uint8_t u8[] = {250, 7};
  const uint8_t b[] = {0, 1};
  float out[2];
  convert_to_float(DType::I64, i64, 2, out);
  CHECK((out[0] == -3 && out[1] == 7));
  convert_to_float(DType::I32, i32, 2, out);
  CHECK((out[0] == -3 && out[1] == 7));
  convert_to_float(DType::I16, i16, 2, out);
  CHECK((out[0] == -3 && out[1] == 7));
  convert_to_float(DType::I8, i8, 2, out);
  CHECK((out[0] == -3 && out[1] == 7));
  convert_to_float(DType::U8, u8, 2, out);
  CHECK((out[0] == 250 && out[1] == 7));
  convert_to_float(DType::BOOL, b, 2, out);
  CHECK((out[0] == 0 && out[1] == 1));
  CHECK_THROWS_AS(convert_from_float(src, 1, DType::I32, out), InternalError);
}
