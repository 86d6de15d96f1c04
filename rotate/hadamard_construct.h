// The classical ±1 Hadamard constructions. Each returns a square matrix H of
// ±1 entries with H·Hᵀ = order·I; none of them checks its output (tests do).
#pragma once

#include <cstdint>
#include <string>

#include <Eigen/Core>

namespace quarot::hadamard {

// ±1 entries; row-major so that a row is contiguous.
using SignMatrix = Eigen::Matrix<int8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Sylvester: S_1 = [1], S_{2^(m+1)} = [[S, S], [S, -S]], so S[i][j] = (-1)^popcount(i & j).
SignMatrix sylvester(int m);

// Paley I, order q + 1, for a prime power q ≡ 3 (mod 4).
SignMatrix paley1(int64_t q);

// Paley II, order 2(q + 1), for a prime power q ≡ 1 (mod 4).
SignMatrix paley2(int64_t q);

// Williamson array, order 4n, from the first rows of four symmetric circulant ±1
// matrices A, B, C, D of order n with A² + B² + C² + D² = 4n·I. Rows are written
// with '+' and '-'. Block layout:
//   [  A  B  C  D ]
//   [ -B  A -D  C ]
//   [ -C  D  A -B ]
//   [ -D -C  B  A ]
SignMatrix williamson(const std::string& a, const std::string& b, const std::string& c,
                      const std::string& d);

// X ⊗ Y: entry (i·rows(Y) + k, j·cols(Y) + l) = X(i, j)·Y(k, l).
SignMatrix kronecker(const SignMatrix& x, const SignMatrix& y);

// True when every entry is ±1 and H·Hᵀ = order·I exactly (integer arithmetic).
bool is_hadamard(const SignMatrix& h);

}  // namespace quarot::hadamard
