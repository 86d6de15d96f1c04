#include "quantize/act_quantizer.h"

#include <cmath>

#include "lib/core/error.h"

namespace quarot {

double default_act_clip(int bits) { return bits <= 4 ? 0.9 : 1.0; }
double default_kv_clip(int bits) { return bits <= 4 ? 0.95 : 1.0; }

namespace {

enum class Mode { kSymmetric, kIntegerZero, kFloatZero };

void check_common(int bits, double clip, int64_t group_size, const char* what) {
  QUAROT_CHECK(bits >= 2 && bits <= 16, what, ": bits must be in 2..16, got ", bits);
  QUAROT_CHECK(clip > 0 && clip <= 1, what, ": clip ratio must be in (0, 1], got ", clip);
  QUAROT_CHECK(group_size >= 0, what, ": group size must be >= 0, got ", group_size);
}

at::Tensor fake_quant_last_dim(const at::Tensor& x, int bits, double clip, int64_t group_size,
                               Mode mode, const char* what) {
  QUAROT_CHECK(x.defined() && x.dim() >= 1, what, ": input must have at least one dim");
  QUAROT_CHECK(at::isFloatingType(x.scalar_type()), what, ": input must be floating point, got ",
               x.scalar_type());
  if (bits >= 16 || x.numel() == 0) return x;
  const int64_t last = x.size(-1);
  const int64_t gs = group_size == 0 ? last : group_size;
  QUAROT_CHECK(last % gs == 0, what, ": group size ", gs, " does not divide the last dim ", last);

  at::Tensor v = x.to(at::kFloat).reshape({-1, gs});
  at::Tensor y;
  if (mode == Mode::kSymmetric) {
    const double maxq = std::ldexp(1.0, bits - 1) - 1;
    at::Tensor s = v.abs().amax({1}, true) * (clip / maxq);
    s = at::where(s == 0, at::ones_like(s), s);
    y = s * at::clamp(at::round(v / s), -(maxq + 1), maxq);
  } else {
    const double maxq = std::ldexp(1.0, bits) - 1;
    at::Tensor lo = v.amin({1}, true), hi = v.amax({1}, true);
    if (mode == Mode::kIntegerZero) {
      lo = at::clamp_max(lo, 0);
      hi = at::clamp_min(hi, 0);
    }
    lo = lo * clip;
    hi = hi * clip;
    at::Tensor s = (hi - lo) / maxq;
    s = at::where(s == 0, at::ones_like(s), s);
    if (mode == Mode::kIntegerZero) {
      at::Tensor z = at::round(-lo / s);
      y = s * (at::clamp(at::round(v / s) + z, 0, maxq) - z);
    } else {
      y = lo + s * at::clamp(at::round((v - lo) / s), 0, maxq);
    }
  }
  return y.reshape(x.sizes()).to(x.scalar_type());
}

}  // namespace

void check_act_quant_config(const ActQuantConfig& cfg, const char* what) {
  check_common(cfg.bits, cfg.clip_ratio, cfg.group_size, what);
}

void check_kv_quant_config(const KvQuantConfig& cfg, const char* what) {
  check_common(cfg.bits, cfg.clip_ratio, cfg.group_size, what);
}

at::Tensor fake_quant_activation(const at::Tensor& x, const ActQuantConfig& cfg) {
  const char* what = "activation quantizer";
  check_act_quant_config(cfg, what);
  return fake_quant_last_dim(x, cfg.bits, cfg.clip_ratio, cfg.group_size,
                             cfg.asymmetric ? Mode::kIntegerZero : Mode::kSymmetric, what);
}

at::Tensor fake_quant_kv(const at::Tensor& x, const KvQuantConfig& cfg) {
  const char* what = "KV-cache quantizer";
  check_kv_quant_config(cfg, what);
  return fake_quant_last_dim(x, cfg.bits, cfg.clip_ratio, cfg.group_size,
                             cfg.integer_zero ? Mode::kIntegerZero : Mode::kFloatZero, what);
}

}  // namespace quarot
