// Hadamard rotations on tensors (LibTorch). All matrices are normalized
// (orthogonal): hadamard_matrix(n) = H_n / √n with H_n the ±1 matrix of
// rotate/hadamard.h, H_n = H_K ⊗ S_{2^m}.
//
// apply_hadamard(x) == x @ hadamard_matrix(n)ᵀ exactly up to rounding, i.e. each
// row vector v along the last dimension becomes H_n v / √n. H_n is symmetric only
// when K = 1 or the base is symmetric, so the transpose matters: apply_hadamard(x,
// /*transpose=*/true) == x @ hadamard_matrix(n).
//
// Arithmetic is float64 for float64 inputs and float32 otherwise (half/bfloat16 are
// widened, the result cast back to x's dtype). Works on any device ATen supports.
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

#include "rotate/hadamard.h"

namespace quarot {

// H_n / √n as an n×n tensor (computed in float64 or float32, then cast to dtype).
at::Tensor hadamard_matrix(int64_t n, at::ScalarType dtype = at::kDouble, at::Device device = at::kCPU);

// x @ hadamard_matrix(n)ᵀ (or x @ hadamard_matrix(n) when transpose), n = x.size(-1):
// a fast Walsh–Hadamard transform over the 2^m factor and a K×K matmul for H_K.
// Throws quarot::Error for an n the planner refuses.
at::Tensor apply_hadamard(const at::Tensor& x, bool transpose = false);

// The general form: x @ (B ⊗ S_M/√M)ᵀ (transpose: x @ (B ⊗ S_M/√M)) where B = block
// is any K×K matrix and x.size(-1) = K·M with M a power of two. With B = H_K/√K it
// is apply_hadamard; with a random orthogonal B it is the way out for sizes with no
// Hadamard matrix (see hadamard::factor_with_random and rotation_block).
at::Tensor apply_kron_fwht(const at::Tensor& x, const at::Tensor& block, bool transpose = false);

// The dense n×n matrix B ⊗ S_M/√M that apply_kron_fwht multiplies by, in float64.
at::Tensor kron_fwht_matrix(const at::Tensor& block, int64_t n);

// The K×K factor of a plan, float64 CPU: H_K/√K, or random_orthogonal(K, seed)
// when plan.random_block.
at::Tensor rotation_block(const hadamard::Plan& plan, uint64_t seed);

}  // namespace quarot
