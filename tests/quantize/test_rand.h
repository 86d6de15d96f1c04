// Test inputs from our own generator (std::mt19937_64 + Box-Muller), so that they
// are the same with every LibTorch version.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace quarot_test {

inline at::Tensor randn(std::vector<int64_t> shape, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto uniform = [&] { return (double(rng() >> 11) + 0.5) * 0x1.0p-53; };  // (0, 1)
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; i += 2) {
    const double r = std::sqrt(-2 * std::log(uniform())), t = 2 * M_PI * uniform();
    v[i] = r * std::cos(t);
    if (i + 1 < n) v[i + 1] = r * std::sin(t);
  }
  return at::from_blob(v.data(), {n}, at::kDouble).clone().reshape(shape);
}

// Integers uniform in [lo, hi].
inline at::Tensor randint(std::vector<int64_t> shape, int64_t lo, int64_t hi, uint64_t seed) {
  std::mt19937_64 rng(seed);
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<int64_t> v(n);
  for (auto& x : v) x = lo + int64_t(rng() % uint64_t(hi - lo + 1));
  return at::from_blob(v.data(), {n}, at::kLong).clone().reshape(shape);
}

inline double max_abs(const at::Tensor& t) { return t.abs().max().item<double>(); }

}  // namespace quarot_test
