#include "apps/stages/activation_stats.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace quarot {

void MomentStats::add(const at::Tensor& x) {
  at::Tensor d = x.to(at::kDouble).flatten();
  n += double(d.numel());
  s1 += d.sum().item<double>();
  at::Tensor d2 = d * d;
  s2 += d2.sum().item<double>();
  s3 += (d2 * d).sum().item<double>();
  s4 += (d2 * d2).sum().item<double>();
  max_abs = std::max(max_abs, d.abs().max().item<double>());
}

double MomentStats::rms() const { return n > 0 ? std::sqrt(s2 / n) : 0; }

double MomentStats::kurtosis() const {
  if (n == 0) return 0;
  const double m = s1 / n, e2 = s2 / n, e3 = s3 / n, e4 = s4 / n;
  const double var = e2 - m * m;
  // Central fourth moment from raw moments.
  const double c4 = e4 - 4 * m * e3 + 6 * m * m * e2 - 3 * m * m * m * m;
  return var > 0 ? c4 / (var * var) : 0;
}

double MomentStats::max_over_rms() const { return rms() > 0 ? max_abs / rms() : 0; }

}  // namespace quarot
