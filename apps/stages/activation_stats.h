// Statistics of the activations each linear multiplies (after the online
// transforms, before quantization): how heavy their tails are is what decides
// whether per-token 4-bit quantization works. Rotation should bring the kurtosis
// of outlier-laden inputs (tens) down to about 3, a Gaussian's.
#pragma once

#include <map>
#include <utility>
#include <vector>

#include "lib/model/llama.h"

namespace quarot {

struct MomentStats {
  double n = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, max_abs = 0;
  void add(const at::Tensor& x);  // every element of x
  double rms() const;
  double kurtosis() const;        // E[(x-μ)^4] / σ^4 (3 for a Gaussian)
  double max_over_rms() const;
};

// Accumulates MomentStats per (layer, site) over forward passes.
class ActivationStats {
 public:
  void observe(int layer, Site site, const at::Tensor& x) { stats_[{layer, int(site)}].add(x); }
  const std::map<std::pair<int, int>, MomentStats>& all() const { return stats_; }

 private:
  std::map<std::pair<int, int>, MomentStats> stats_;
};

}  // namespace quarot
