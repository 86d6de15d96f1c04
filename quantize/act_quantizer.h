// Fake quantization for the forward pass: quantize, then dequantize back to the
// input dtype (the arithmetic is float32). Groups are runs of `group_size`
// consecutive elements along the last dim (0 = the whole last dim), so a
// [tokens, hidden] activation gets one grid per token (and group), and keys or
// values laid out [..., heads * head_dim] or [..., head_dim] one grid per token
// and head when group_size = head_dim. Bits 16 means off: the input comes back as is.
//
//   symmetric:   maxq = 2^(b-1) - 1, scale = clip * max|x| / maxq,
//                x' = scale * clamp(round(x / scale), -(maxq + 1), maxq)
//   asymmetric, integer zero point (QuaRot's):
//                maxq = 2^b - 1, lo = clip * min(min x, 0), hi = clip * max(max x, 0),
//                scale = (hi - lo) / maxq, zero = round(-lo / scale),
//                x' = scale * (clamp(round(x / scale) + zero, 0, maxq) - zero)
//   asymmetric, float zero point (integer_zero = false):
//                lo = clip * min x, hi = clip * max x, scale = (hi - lo) / maxq,
//                x' = lo + scale * clamp(round((x - lo) / scale), 0, maxq)
//                (exact on the group's min and max when clip = 1)
//
// A group whose scale would be 0 (all zero, or constant in the float-zero form)
// gets scale 1, so nothing is NaN.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace quarot {

struct ActQuantConfig {
  int bits = 16;            // 2..16; 16 = off
  double clip_ratio = 0.9;  // QuaRot's a_clip_ratio
  int64_t group_size = 0;   // 0: per token
  bool asymmetric = false;
};

struct KvQuantConfig {
  int bits = 16;             // 2..16; 16 = off
  double clip_ratio = 0.95;  // QuaRot's k/v_clip_ratio
  int64_t group_size = 0;    // the head dim; 0: the whole last dim is one group
  bool integer_zero = true;  // false: float zero point (see above)
};

// Default clip ratios by bit width. QuaRot's 0.9 (activations) and 0.95 (KV) trade
// clipping error for finer rounding, which pays at 4 bits; at 6 and 8 bits the
// rounding step is 4-16x finer and clipping only adds error (docs/RESULTS.md, the
// 8-bit study), so the ratio is 1 there.
double default_act_clip(int bits);
double default_kv_clip(int bits);

void check_act_quant_config(const ActQuantConfig& cfg, const char* what = "activation quantizer");
void check_kv_quant_config(const KvQuantConfig& cfg, const char* what = "KV-cache quantizer");

// x: any floating tensor with at least one dim; the last dim must be a multiple of
// the group size. CPU or CUDA. Returns a new tensor in x's dtype (x itself at 16 bits).
at::Tensor fake_quant_activation(const at::Tensor& x, const ActQuantConfig& cfg);
at::Tensor fake_quant_kv(const at::Tensor& x, const KvQuantConfig& cfg);

}  // namespace quarot
