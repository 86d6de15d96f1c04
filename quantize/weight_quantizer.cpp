#include "quantize/weight_quantizer.h"

#include <cmath>
#include <limits>

#include "lib/core/error.h"

namespace quarot {
namespace {

double max_code(int bits, bool asymmetric) {
  return asymmetric ? std::ldexp(1.0, bits) - 1 : std::ldexp(1.0, bits - 1) - 1;
}

// Smallest normal of the scale dtype: a scale that rounds to 0 there would make
// 0/0 codes. Normal rather than subnormal because devices may flush subnormals.
double tiny_scale(at::ScalarType t) {
  return t == at::kHalf ? 6.103515625e-05 : double(std::numeric_limits<float>::min());
}

// Rounds a positive scale to the storage dtype and back to the compute dtype.
at::Tensor store_scale(const at::Tensor& s, at::ScalarType scale_dtype) {
  at::Tensor r = s.to(scale_dtype).to(s.scalar_type());
  return at::where(r == 0, at::full({}, tiny_scale(scale_dtype), r.options()), r);
}

// The grid of each row at clip ratio p, given the row extremes.
RowGrid grid_at(const at::Tensor& lo, const at::Tensor& hi, double p, int bits, bool asymmetric,
                at::ScalarType scale_dtype) {
  const double maxq = max_code(bits, asymmetric);
  RowGrid g;
  if (!asymmetric) {
    // hi is max|x| here.
    at::Tensor s = hi * (p / maxq);
    s = at::where(hi == 0, at::ones_like(s), s);
    g.scale = store_scale(s, scale_dtype);
    return g;
  }
  at::Tensor lo1 = lo * p, hi1 = hi * p;
  at::Tensor s = (hi1 - lo1) / maxq;
  s = at::where(hi == lo, at::ones_like(s), s);  // lo <= 0 <= hi, so only all-zero rows
  g.scale = store_scale(s, scale_dtype);
  // The clamp matters only when the stored scale rounded down.
  g.zero = at::clamp(at::round(-lo1 / g.scale), 0, maxq);
  return g;
}

}  // namespace

void check_weight_quant_config(const WeightQuantConfig& cfg, const char* what) {
  QUAROT_CHECK(cfg.bits >= 2 && cfg.bits <= 8, what, ": bits must be in 2..8, got ", cfg.bits);
  QUAROT_CHECK(cfg.group_size >= 0, what, ": group size must be >= 0, got ", cfg.group_size);
  QUAROT_CHECK(cfg.clip_grid >= 1, what, ": clip grid must be >= 1, got ", cfg.clip_grid);
  QUAROT_CHECK(cfg.clip_max_shrink > 0 && cfg.clip_max_shrink < 1, what,
               ": clip max shrink must be in (0, 1), got ", cfg.clip_max_shrink);
  QUAROT_CHECK(cfg.clip_norm > 0, what, ": clip norm must be > 0, got ", cfg.clip_norm);
  QUAROT_CHECK(cfg.scale_dtype == at::kFloat || cfg.scale_dtype == at::kHalf, what,
               ": scale dtype must be float32 or float16, got ", cfg.scale_dtype);
}

RowGrid find_row_grid(const at::Tensor& x, const WeightQuantConfig& cfg) {
  QUAROT_ASSERT(x.dim() == 2 && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble),
                "find_row_grid wants [rows, n] float32/64, got ", x.sizes(), " ", x.scalar_type());
  at::Tensor lo, hi;
  if (cfg.asymmetric) {
    lo = at::clamp_max(x.amin({1}, true), 0);
    hi = at::clamp_min(x.amax({1}, true), 0);
  } else {
    hi = x.abs().amax({1}, true);
  }
  if (!cfg.clip_search)
    return grid_at(lo, hi, 1.0, cfg.bits, cfg.asymmetric, cfg.scale_dtype);

  // Python's int(max_shrink * grid), with a nudge so 0.8 * 100 is 80 however it rounds.
  const int candidates = static_cast<int>(std::floor(cfg.clip_max_shrink * cfg.clip_grid + 1e-9));
  RowGrid best;
  at::Tensor best_err;
  for (int i = 0; i < std::max(candidates, 1); ++i) {
    const double p = 1.0 - double(i) / cfg.clip_grid;
    RowGrid g = grid_at(lo, hi, p, cfg.bits, cfg.asymmetric, cfg.scale_dtype);
    at::Tensor err = (fake_quantize_on_grid(x, g, cfg.bits, cfg.asymmetric) - x)
                         .abs_()
                         .pow_(cfg.clip_norm)
                         .sum({1}, true);
    if (i == 0) {
      best = g;
      best_err = err;
      continue;
    }
    at::Tensor better = err < best_err;
    best_err = at::where(better, err, best_err);
    best.scale = at::where(better, g.scale, best.scale);
    if (cfg.asymmetric) best.zero = at::where(better, g.zero, best.zero);
  }
  return best;
}

at::Tensor quantize_on_grid(const at::Tensor& x, const RowGrid& g, int bits, bool asymmetric) {
  const double maxq = max_code(bits, asymmetric);
  if (asymmetric) return at::clamp(at::round(x / g.scale) + g.zero, 0, maxq);
  return at::clamp(at::round(x / g.scale), -(maxq + 1), maxq);
}

at::Tensor dequantize_on_grid(const at::Tensor& q, const RowGrid& g, bool asymmetric) {
  return asymmetric ? g.scale * (q - g.zero) : g.scale * q;
}

at::Tensor fake_quantize_on_grid(const at::Tensor& x, const RowGrid& g, int bits, bool asymmetric) {
  return dequantize_on_grid(quantize_on_grid(x, g, bits, asymmetric), g, asymmetric);
}

QuantizedWeight quantize_weight(const at::Tensor& W, const WeightQuantConfig& cfg, const char* name) {
  check_weight_quant_config(cfg);
  QUAROT_CHECK(W.defined() && W.dim() == 2, name, ": weight must be 2-D [out, in], got ",
               W.defined() ? W.sizes() : at::IntArrayRef{});
  QUAROT_CHECK(at::isFloatingType(W.scalar_type()), name, ": weight must be floating point, got ",
               W.scalar_type());
  const int64_t out = W.size(0), in = W.size(1);
  const int64_t gs = cfg.group_size;
  QUAROT_CHECK(gs == 0 || in % gs == 0, name, ": group size ", gs, " does not divide the ", in,
               " input columns");
  QUAROT_CHECK(W.numel() == 0 || at::isfinite(W).all().item<bool>(), name,
               ": weight has NaN or Inf entries");
  const int64_t groups = gs == 0 ? 1 : in / gs;

  at::Tensor x = W.to(at::kFloat).contiguous().reshape({out * groups, in / groups});
  RowGrid grid = find_row_grid(x, cfg);
  at::Tensor q = quantize_on_grid(x, grid, cfg.bits, cfg.asymmetric);

  QuantizedWeight r;
  r.bits = cfg.bits;
  r.group_size = gs;
  r.asymmetric = cfg.asymmetric;
  r.codes = q.reshape({out, in}).to(cfg.asymmetric ? at::kByte : at::kChar);
  r.scales = grid.scale.reshape({out, groups}).to(cfg.scale_dtype);
  if (cfg.asymmetric) r.zeros = grid.zero.reshape({out, groups}).to(at::kByte);
  r.dequantized = dequantize_weight(r.codes, r.scales, r.zeros, gs, at::Tensor(), W.scalar_type());
  return r;
}

at::Tensor dequantize_weight(const at::Tensor& codes, const at::Tensor& scales,
                             const at::Tensor& zeros, int64_t group_size, const at::Tensor& g_idx,
                             at::ScalarType dtype) {
  QUAROT_CHECK(codes.defined() && codes.dim() == 2, "dequantize: codes must be 2-D");
  const int64_t out = codes.size(0), in = codes.size(1);
  QUAROT_CHECK(scales.defined() && scales.dim() == 2 && scales.size(0) == out, "dequantize: scales ",
               scales.sizes(), " do not match codes ", codes.sizes());
  QUAROT_CHECK(!zeros.defined() || zeros.sizes() == scales.sizes(), "dequantize: zeros ",
               zeros.sizes(), " do not match scales ", scales.sizes());
  const int64_t groups = scales.size(1);
  at::Tensor q = codes.to(at::kFloat);
  at::Tensor s = scales.to(at::kFloat);
  at::Tensor z = zeros.defined() ? zeros.to(at::kFloat) : at::Tensor();
  at::Tensor w;
  if (g_idx.defined()) {
    QUAROT_CHECK(g_idx.dim() == 1 && g_idx.size(0) == in, "dequantize: g_idx ", g_idx.sizes(),
                 " does not match ", in, " columns");
    at::Tensor gi = g_idx.to(codes.device(), at::kLong);
    s = s.index_select(1, gi);
    w = z.defined() ? s * (q - z.index_select(1, gi)) : s * q;
  } else {
    const int64_t gs = group_size == 0 ? in : group_size;
    QUAROT_CHECK(in % gs == 0 && in / gs == groups, "dequantize: ", groups, " scale groups for ", in,
                 " columns with group size ", group_size);
    // Grouped view [out, groups, gs] against [out, groups, 1]: the same elementwise
    // expression as the quantizer's, hence bitwise the same values.
    at::Tensor qg = q.reshape({out, groups, gs});
    at::Tensor sg = s.unsqueeze(2);
    w = z.defined() ? sg * (qg - z.unsqueeze(2)) : sg * qg;
    w = w.reshape({out, in});
  }
  return w.to(dtype);
}

}  // namespace quarot
