#include "rotate/orthogonal.h"

#include <cstring>

#include "lib/core/error.h"
#include "rotate/hadamard_torch.h"
#include "rotate/orthogonal_random.h"

namespace quarot {

at::Tensor random_orthogonal(int64_t n, uint64_t seed) {
  QUAROT_CHECK(n >= 1, "random_orthogonal: n = ", n, " must be positive");
  const std::vector<double> q = hadamard::random_orthogonal_rowmajor(n, seed);
  at::Tensor t = at::empty({n, n}, at::TensorOptions().dtype(at::kDouble));
  std::memcpy(t.data_ptr<double>(), q.data(), q.size() * sizeof(double));
  return t;
}

at::Tensor random_signs(int64_t n, uint64_t seed) {
  QUAROT_CHECK(n >= 1, "random_signs: n = ", n, " must be positive");
  const std::vector<int8_t> s = hadamard::random_sign_vector(n, seed);
  at::Tensor t = at::empty({n}, at::TensorOptions().dtype(at::kDouble));
  double* p = t.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) p[i] = s[static_cast<size_t>(i)];
  return t;
}

at::Tensor randomized_hadamard(int64_t n, uint64_t seed) {
  return hadamard_matrix(n, at::kDouble, at::kCPU) * random_signs(n, seed).unsqueeze(0);
}

}  // namespace quarot
