#include "lib/model/rope.h"

#include <ATen/ATen.h>

#include <cmath>

#include "lib/core/error.h"

namespace quarot {
namespace {

at::Tensor inverse_frequencies(const LlamaConfig& cfg) {
  const int64_t dim = cfg.head_dim;
  auto f32 = at::TensorOptions().dtype(at::kFloat);
  at::Tensor exponent = at::arange(0, dim, 2, at::TensorOptions().dtype(at::kLong)).to(at::kFloat) / double(dim);
  // Python's `1.0 / t` is t.reciprocal() * 1.0; mirror it to the last bit.
  at::Tensor inv = at::pow(at::scalar_tensor(cfg.rope.theta, f32), exponent).reciprocal();
  const RopeConfig& s = cfg.rope;
  if (s.type == RopeType::Linear) return inv / s.factor;
  if (s.type != RopeType::Llama3) return inv;
  // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, and the band
  // between is interpolated smoothly.
  const double old_ctx = double(s.original_max_position_embeddings);
  const double low_wavelen = old_ctx / s.low_freq_factor;
  const double high_wavelen = old_ctx / s.high_freq_factor;
  at::Tensor wavelen = inv.reciprocal() * (2.0 * M_PI);
  at::Tensor scaled = at::where(wavelen > low_wavelen, inv / s.factor, inv);
  at::Tensor smooth = (wavelen.reciprocal() * old_ctx - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
  at::Tensor smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
  at::Tensor medium = at::logical_not(wavelen < high_wavelen).logical_and(at::logical_not(wavelen > low_wavelen));
  return at::where(medium, smoothed, scaled);
}

at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

}  // namespace

RopeTables rope_tables(const LlamaConfig& cfg, int64_t seqlen, at::ScalarType dtype, at::Device device) {
  at::Tensor inv = inverse_frequencies(cfg);                                  // [D/2] float32
  at::Tensor pos = at::arange(seqlen, at::TensorOptions().dtype(at::kLong)).to(at::kFloat);
  at::Tensor freqs = at::outer(pos, inv);                                     // [T, D/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  return {emb.cos().to(device, dtype), emb.sin().to(device, dtype)};
}

at::Tensor apply_rope(const at::Tensor& x, const RopeTables& t) {
  const int64_t T = x.size(2);
  QUAROT_ASSERT(t.cos.size(0) >= T);
  at::Tensor cos = t.cos.narrow(0, 0, T), sin = t.sin.narrow(0, 0, T);
  return x * cos + rotate_half(x) * sin;
}

}  // namespace quarot
