// Random orthogonal and randomized Hadamard matrices (LibTorch), reproducible
// across LibTorch versions: the randomness is std::mt19937_64 through our own
// distributions (rotate/orthogonal_random.h), never torch's generator.
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

namespace quarot {

// Haar-random n×n orthogonal matrix, float64 CPU: Q of the QR of a seeded Gaussian
// matrix, columns sign-fixed so that diag(R) > 0 (hadamard::random_orthogonal_rowmajor).
at::Tensor random_orthogonal(int64_t n, uint64_t seed);

// The n random ±1 signs s of randomized_hadamard(n, seed), float64 CPU.
at::Tensor random_signs(int64_t n, uint64_t seed);

// Q = hadamard_matrix(n) · diag(s), s = random_signs(n, seed): the signs scale the
// COLUMNS (Q[i][j] = H[i][j]·s_j / √n), float64 CPU. Applying it online needs no
// dense matrix:
//   x @ Q  == apply_hadamard(x, /*transpose=*/true) * s
//   x @ Qᵀ == apply_hadamard(x * s)
at::Tensor randomized_hadamard(int64_t n, uint64_t seed);

}  // namespace quarot
