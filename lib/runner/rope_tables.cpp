#include "lib/runner/rope_tables.h"

#include <cmath>

namespace quarot::runner {

std::vector<float> rope_inverse_frequencies(const LlamaConfig& cfg) {
  const int64_t dim = cfg.head_dim, half = dim / 2;
  const RopeConfig& s = cfg.rope;
  std::vector<float> inv(static_cast<size_t>(half));
  const float theta = float(s.theta);
  for (int64_t i = 0; i < half; ++i) {
    const float expo = float(2 * i) / float(dim);
    inv[size_t(i)] = 1.0f / std::pow(theta, expo);
  }
  if (s.type == RopeType::Linear) {
    for (float& v : inv) v = v / float(s.factor);
  } else if (s.type == RopeType::Llama3) {
    const double old_ctx = double(s.original_max_position_embeddings);
    const float low_wavelen = float(old_ctx / s.low_freq_factor);
    const float high_wavelen = float(old_ctx / s.high_freq_factor);
    const float two_pi = float(2.0 * M_PI), factor = float(s.factor);
    for (float& v : inv) {
      const float wavelen = (1.0f / v) * two_pi;
      const float scaled = wavelen > low_wavelen ? v / factor : v;
      const float smooth = ((1.0f / wavelen) * float(old_ctx) - float(s.low_freq_factor)) /
                           float(s.high_freq_factor - s.low_freq_factor);
      const float smoothed = (1.0f - smooth) * scaled / factor + smooth * scaled;
      const bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
      v = medium ? smoothed : scaled;
    }
  }
  return inv;
}

void rope_tables_host(const LlamaConfig& cfg, int64_t seqlen, std::vector<float>& cos_out,
                      std::vector<float>& sin_out) {
  const std::vector<float> inv = rope_inverse_frequencies(cfg);
  const size_t half = inv.size();
  cos_out.resize(size_t(seqlen) * half);
  sin_out.resize(size_t(seqlen) * half);
  for (int64_t t = 0; t < seqlen; ++t)
    for (size_t i = 0; i < half; ++i) {
      const float angle = float(t) * inv[i];
      cos_out[size_t(t) * half + i] = float(std::cos(double(angle)));
      sin_out[size_t(t) * half + i] = float(std::sin(double(angle)));
    }
}

}  // namespace quarot::runner
