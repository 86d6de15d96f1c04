#include "rotate/hadamard_torch.h"

#include <cmath>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "lib/core/error.h"
#include "rotate/orthogonal.h"

namespace quarot {

namespace {

at::ScalarType compute_type(at::ScalarType t) { return t == at::kDouble ? at::kDouble : at::kFloat; }

bool is_pow2(int64_t k) { return k >= 1 && (k & (k - 1)) == 0; }

// H_K / √K in float64 on the CPU.
at::Tensor normalized_base(int64_t k) {
  const hadamard::SignMatrix& hk = hadamard::base_matrix(k);
  at::Tensor t = at::empty({k, k}, at::TensorOptions().dtype(at::kDouble));
  double* p = t.data_ptr<double>();
  const double s = 1.0 / std::sqrt(static_cast<double>(k));
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j) p[i * k + j] = hk(i, j) * s;
  return t;
}

// H_K/√K converted to (dtype, device), cached: online use must not rebuild or re-upload it.
at::Tensor cached_base(int64_t k, at::ScalarType dtype, const at::Device& device) {
  static std::mutex mu;
  static std::map<std::tuple<int64_t, int, std::string>, at::Tensor> cache;
  const auto key = std::make_tuple(k, static_cast<int>(dtype), device.str());
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  at::Tensor t = normalized_base(k).to(device, dtype);
  cache.emplace(key, t);
  return t;
}

// Unnormalized Walsh–Hadamard transform along the last dimension of a contiguous
// (rows, M) tensor: radix-2 butterflies, each stage one read and one write of the
// whole tensor, ping-ponging between two fresh buffers: the input (which may be
// the caller's tensor) is only ever read.
at::Tensor fwht_lastdim(at::Tensor y) {
  const int64_t rows = y.size(0), mm = y.size(1);
  at::Tensor z = at::empty_like(y);
  for (int64_t h = 1; h < mm; h *= 2) {
    if (h == 2) z = at::empty_like(y);  // after stage one, z is the input: never write it
    const at::Tensor src = y.view({rows, mm / (2 * h), 2, h});
    at::Tensor dst = z.view({rows, mm / (2 * h), 2, h});
    const at::Tensor a = src.select(2, 0), b = src.select(2, 1);
    at::Tensor lo = dst.select(2, 0), hi = dst.select(2, 1);
    at::add_out(lo, a, b);
    at::sub_out(hi, a, b);
    std::swap(y, z);
  }
  return y;
}

}  // namespace

at::Tensor apply_kron_fwht(const at::Tensor& x, const at::Tensor& block, bool transpose) {
  QUAROT_CHECK(x.defined() && x.dim() >= 1, "apply_kron_fwht: tensor x must have at least one dimension");
  QUAROT_CHECK(at::isFloatingType(x.scalar_type()), "apply_kron_fwht: tensor x must be floating point, got ",
               x.scalar_type());
  QUAROT_CHECK(block.dim() == 2 && block.size(0) == block.size(1), "apply_kron_fwht: block must be square, got ",
               block.sizes());
  const int64_t n = x.size(-1), k = block.size(0);
  QUAROT_CHECK(k >= 1 && n % k == 0 && is_pow2(n / k), "apply_kron_fwht: last dimension ", n,
               " of x is not ", k, " times a power of two");
  const int64_t mm = n / k;
  const at::ScalarType ct = compute_type(x.scalar_type());
  const int64_t rows = n == 0 ? 0 : x.numel() / n;
  // fwht_lastdim writes to fresh buffers (or returns y itself when M = 1), so x is never modified.
  at::Tensor y = fwht_lastdim(x.to(ct).contiguous().reshape({rows * k, mm}));
  const double scale = 1.0 / std::sqrt(static_cast<double>(mm));
  if (k == 1) {
    y = y.mul(block.to(y.device(), ct).item<double>() * scale);
  } else {
    at::Tensor b = block.to(y.device(), ct);
    if (transpose) b = b.t();
    // y viewed (rows, K, M): row block a becomes Σ_c B[a][c]·(block c).
    y = at::matmul(b * scale, y.view({rows, k, mm}));
  }
  return y.reshape(x.sizes()).to(x.scalar_type());
}

at::Tensor apply_hadamard(const at::Tensor& x, bool transpose) {
  QUAROT_CHECK(x.defined() && x.dim() >= 1, "apply_hadamard: tensor x must have at least one dimension");
  QUAROT_CHECK(at::isFloatingType(x.scalar_type()), "apply_hadamard: tensor x must be floating point, got ",
               x.scalar_type());
  const hadamard::Plan p = hadamard::factor(x.size(-1));
  return apply_kron_fwht(x, cached_base(p.K, compute_type(x.scalar_type()), x.device()), transpose);
}

at::Tensor kron_fwht_matrix(const at::Tensor& block, int64_t n) {
  QUAROT_CHECK(block.dim() == 2 && block.size(0) == block.size(1), "kron_fwht_matrix: block must be square, got ",
               block.sizes());
  const int64_t k = block.size(0);
  QUAROT_CHECK(k >= 1 && n % k == 0 && is_pow2(n / k), "kron_fwht_matrix: n = ", n, " is not ", k,
               " times a power of two");
  const int64_t mm = n / k;
  const auto opts = at::TensorOptions().dtype(at::kDouble).device(block.device());
  at::Tensor s = at::ones({1, 1}, opts);
  while (s.size(0) < mm) s = at::cat({at::cat({s, s}, 1), at::cat({s, -s}, 1)}, 0);
  s = s / std::sqrt(static_cast<double>(mm));
  at::Tensor b = block.to(at::kDouble);
  return (b.view({k, 1, k, 1}) * s.view({1, mm, 1, mm})).reshape({n, n});
}

at::Tensor hadamard_matrix(int64_t n, at::ScalarType dtype, at::Device device) {
  const hadamard::Plan p = hadamard::factor(n);
  QUAROT_CHECK(at::isFloatingType(dtype), "hadamard_matrix: dtype must be floating point, got ", dtype);
  at::Tensor h = kron_fwht_matrix(normalized_base(p.K).to(device), n);
  if (compute_type(dtype) != at::kDouble) h = h.to(at::kFloat);
  return h.to(dtype);
}

at::Tensor rotation_block(const hadamard::Plan& plan, uint64_t seed) {
  if (plan.random_block) return random_orthogonal(plan.K, seed);
  return normalized_base(plan.K);
}

}  // namespace quarot
