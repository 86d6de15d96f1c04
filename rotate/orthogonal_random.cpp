#include "rotate/orthogonal_random.h"

#include <cmath>
#include <random>

#include "lib/core/error.h"

namespace quarot::hadamard {

namespace {

double uniform_open0(std::mt19937_64& rng) {
  return static_cast<double>((rng() >> 11) + 1) * 0x1p-53;
}

}  // namespace

std::vector<double> gaussian_samples(int64_t count, uint64_t seed) {
  QUAROT_CHECK(count >= 0, "gaussian_samples: count = ", count, " is negative");
  std::mt19937_64 rng(seed);
  std::vector<double> out(static_cast<size_t>(count));
  const double two_pi = 6.283185307179586476925286766559;
  for (int64_t i = 0; i < count; i += 2) {
    const double u1 = uniform_open0(rng), u2 = uniform_open0(rng);
    const double r = std::sqrt(-2.0 * std::log(u1));
    out[static_cast<size_t>(i)] = r * std::cos(two_pi * u2);
    if (i + 1 < count) out[static_cast<size_t>(i + 1)] = r * std::sin(two_pi * u2);
  }
  return out;
}

std::vector<int8_t> random_sign_vector(int64_t n, uint64_t seed) {
  QUAROT_CHECK(n >= 0, "random_sign_vector: n = ", n, " is negative");
  std::mt19937_64 rng(seed);
  std::vector<int8_t> s(static_cast<size_t>(n));
  for (auto& v : s) v = (rng() >> 63) ? -1 : 1;
  return s;
}

std::vector<double> random_orthogonal_rowmajor(int64_t n, uint64_t seed) {
  QUAROT_CHECK(n >= 1, "random_orthogonal: n = ", n, " must be positive");
  const size_t N = static_cast<size_t>(n);
  std::vector<double> a = gaussian_samples(n * n, seed);  // becomes R in its upper triangle
  std::vector<std::vector<double>> refl(N);               // Householder vectors v_k (length n-k)
  std::vector<double> beta(N, 0.0), rdiag(N, 0.0), w(N);
  // Reflector H_k = I - beta_k v_k v_kᵀ acting on rows k..n-1; rows are contiguous,
  // so both passes below stream along rows.
  auto reflect = [&](std::vector<double>& m, size_t k, size_t col0) {
    const auto& v = refl[k];
    if (beta[k] == 0.0) return;
    std::fill(w.begin() + col0, w.end(), 0.0);
    for (size_t i = 0; i < v.size(); ++i) {
      const double vi = v[i];
      const double* row = &m[(k + i) * N];
      for (size_t j = col0; j < N; ++j) w[j] += vi * row[j];
    }
    for (size_t i = 0; i < v.size(); ++i) {
      const double f = beta[k] * v[i];
      double* row = &m[(k + i) * N];
      for (size_t j = col0; j < N; ++j) row[j] -= f * w[j];
    }
  };
  for (size_t k = 0; k < N; ++k) {
    double norm2 = 0.0;
    for (size_t i = k; i < N; ++i) norm2 += a[i * N + k] * a[i * N + k];
    const double x0 = a[k * N + k];
    const double alpha = (x0 >= 0 ? -1.0 : 1.0) * std::sqrt(norm2);
    auto& v = refl[k];
    v.resize(N - k);
    for (size_t i = k; i < N; ++i) v[i - k] = a[i * N + k];
    v[0] -= alpha;
    double vn2 = 0.0;
    for (double t : v) vn2 += t * t;
    beta[k] = vn2 > 0.0 ? 2.0 / vn2 : 0.0;
    reflect(a, k, k);
    rdiag[k] = beta[k] == 0.0 ? x0 : alpha;
  }
  // Q = H_0 H_1 ... H_{n-1}, accumulated from the right end onto the identity.
  std::vector<double> q(N * N, 0.0);
  for (size_t i = 0; i < N; ++i) q[i * N + i] = 1.0;
  for (size_t k = N; k-- > 0;) reflect(q, k, k);
  for (size_t j = 0; j < N; ++j)
    if (rdiag[j] < 0)
      for (size_t i = 0; i < N; ++i) q[i * N + j] = -q[i * N + j];
  return q;
}

}  // namespace quarot::hadamard
