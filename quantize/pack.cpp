#include "quantize/pack.h"

#include <vector>

#include "lib/core/error.h"

namespace quarot {

at::Tensor pack_int4(const at::Tensor& codes, const char* name) {
  QUAROT_CHECK(codes.defined() && codes.dim() >= 1, name, ": need at least one dim to pack");
  const bool is_signed = codes.scalar_type() == at::kChar;
  QUAROT_CHECK(is_signed || codes.scalar_type() == at::kByte, name,
               ": INT4 packing wants int8 or uint8 codes, got ", codes.scalar_type());
  const int64_t cols = codes.size(-1);
  QUAROT_CHECK(cols % 2 == 0, name, ": INT4 packing needs an even last dim, got ", cols);
  at::Tensor c = codes.to(at::kInt);
  if (codes.numel() > 0) {
    const int lo = is_signed ? -8 : 0, hi = is_signed ? 7 : 15;
    const bool in_range = at::logical_and(c >= lo, c <= hi).all().item<bool>();
    QUAROT_CHECK(in_range, name, ": codes outside [", lo, ", ", hi, "] cannot be packed into 4 bits");
  }
  // Low four bits of the 32-bit value = the 4-bit two's complement pattern.
  c = at::bitwise_and(c, 15);
  at::Tensor even = c.slice(-1, 0, cols, 2);
  at::Tensor odd = c.slice(-1, 1, cols, 2);
  return (even + odd * 16).to(at::kByte);
}

at::Tensor unpack_int4(const at::Tensor& packed, bool is_signed, const char* name) {
  QUAROT_CHECK(packed.defined() && packed.dim() >= 1 && packed.scalar_type() == at::kByte, name,
               ": INT4 unpacking wants a uint8 tensor with at least one dim");
  at::Tensor p = packed.to(at::kInt);
  at::Tensor lo = at::bitwise_and(p, 15);
  at::Tensor hi = at::div(p - lo, 16, "floor");
  if (is_signed) {
    lo = at::where(lo >= 8, lo - 16, lo);
    hi = at::where(hi >= 8, hi - 16, hi);
  }
  std::vector<int64_t> shape = packed.sizes().vec();
  shape.back() *= 2;
  return at::stack({lo, hi}, -1).reshape(shape).to(is_signed ? at::kChar : at::kByte);
}

}  // namespace quarot
