#include "quantize/stored_weights.h"

#include <ATen/ATen.h>

#include "lib/core/error.h"
#include "quantize/pack.h"
#include "lib/model/tensor_bridge.h"

namespace quarot {
namespace {

at::Tensor read(const Checkpoint& ck, const std::string& name) {
  const TensorInfo& i = ck.info(name);
  return tensor_from_bytes(ck.data(name), i.dtype, i.shape);
}

void expect_shape(const Checkpoint& ck, const std::string& name, const std::vector<int64_t>& shape) {
  QUAROT_CHECK(ck.has(name), ck.dir().string(), ": tensor ", name, " is missing");
  const TensorInfo& i = ck.info(name);
  QUAROT_CHECK(i.shape == shape, ck.dir().string(), ": tensor ", name, " has shape ", shape_str(i.shape),
               ", expected ", shape_str(shape));
}

}  // namespace

at::Tensor read_stored_linear_weight(const Checkpoint& ck, const std::string& linear, int64_t out, int64_t in) {
  const std::string dense = linear + ".weight", codes_name = linear + ".weight_int",
                    packed_name = linear + ".qweight", scale_name = linear + ".weight_scale",
                    zero_name = linear + ".weight_zero";
  if (ck.has(dense)) {
    expect_shape(ck, dense, {out, in});
    QUAROT_CHECK(dtype_is_float(ck.info(dense).dtype), ck.dir().string(), ": tensor ", dense,
                 " has non-float dtype ", dtype_name(ck.info(dense).dtype));
    return read(ck, dense);
  }
  at::Tensor codes;
  if (ck.has(codes_name)) {
    expect_shape(ck, codes_name, {out, in});
    const DType t = ck.info(codes_name).dtype;
    QUAROT_CHECK(t == DType::I8 || t == DType::U8, ck.dir().string(), ": tensor ", codes_name,
                 " must be I8 (symmetric) or U8 (asymmetric), is ", dtype_name(t));
    codes = read(ck, codes_name);
  } else if (ck.has(packed_name)) {
    QUAROT_CHECK(in % 2 == 0, ck.dir().string(), ": ", packed_name, ": 4-bit packing needs an even input size, got ", in);
    expect_shape(ck, packed_name, {out, in / 2});
    QUAROT_CHECK(ck.info(packed_name).dtype == DType::U8, ck.dir().string(), ": tensor ", packed_name,
                 " must be U8, is ", dtype_name(ck.info(packed_name).dtype));
    codes = unpack_int4(read(ck, packed_name), /*is_signed=*/true, packed_name.c_str());
  } else {
    QUAROT_FAIL(ck.dir().string(), ": linear ", linear, " has none of ", dense, ", ", codes_name, " or ", packed_name);
  }
  QUAROT_CHECK(ck.has(scale_name), ck.dir().string(), ": tensor ", scale_name, " is missing (quantized ", linear, ")");
  const TensorInfo& si = ck.info(scale_name);
  QUAROT_CHECK(si.shape.size() == 2 && si.shape[0] == out && si.shape[1] >= 1 && in % si.shape[1] == 0,
               ck.dir().string(), ": tensor ", scale_name, " has shape ", shape_str(si.shape), ", expected [", out,
               ", G] with G dividing ", in);
  const int64_t groups = si.shape[1];
  at::Tensor scale = read(ck, scale_name).to(at::kDouble);
  at::Tensor w = codes.to(at::kDouble).view({out, groups, in / groups});
  if (ck.has(zero_name)) {
    expect_shape(ck, zero_name, {out, groups});
    w = w - read(ck, zero_name).to(at::kDouble).unsqueeze(-1);
  }
  QUAROT_CHECK(at::isfinite(scale).all().item<bool>(), ck.dir().string(), ": tensor ", scale_name,
               " holds NaN or Inf");
  return (w * scale.unsqueeze(-1)).view({out, in}).to(at::kFloat);
}

}  // namespace quarot
