// Torch-free fast Walsh–Hadamard transform: in place, unnormalized, Sylvester
// (natural) order, i.e. x <- S x with S[i][j] = (-1)^popcount(i & j). S is
// symmetric, so this is also x <- Sᵀ x.
#pragma once

#include <cstdint>

namespace quarot::hadamard {

// `len` must be a power of two (checked).
void fwht_inplace(double* x, int64_t len);
void fwht_inplace(float* x, int64_t len);

}  // namespace quarot::hadamard
