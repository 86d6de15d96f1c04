// Torch-free, reproducible randomness for rotations. Everything is drawn from
// std::mt19937_64 seeded with `seed` through distributions written here (never
// std::normal_distribution or torch's generator, whose outputs differ between
// library versions), so one seed gives the same numbers everywhere.
#pragma once

#include <cstdint>
#include <vector>

namespace quarot::hadamard {

// `count` standard normal samples. Engine outputs r are mapped to
// u = ((r >> 11) + 1) · 2^-53 in (0, 1]; each pair (u1, u2) gives, by Box–Muller,
// sqrt(-2 ln u1)·cos(2π u2) then sqrt(-2 ln u1)·sin(2π u2) (an odd count drops the last).
std::vector<double> gaussian_samples(int64_t count, uint64_t seed);

// n random signs: s_i = -1 when the top bit of the i-th engine output is set, else +1.
std::vector<int8_t> random_sign_vector(int64_t n, uint64_t seed);

// A Haar-random n×n orthogonal matrix, row-major: Q of the QR decomposition of
// G (G[i][j] = gaussian_samples(n·n, seed)[i·n + j]) with the columns of Q
// multiplied by the signs of R's diagonal, i.e. the QR with diag(R) > 0. The QR
// is our own Householder code, so it does not depend on the LAPACK at hand.
// O(n³): a few seconds at n = 1024 on one core.
std::vector<double> random_orthogonal_rowmajor(int64_t n, uint64_t seed);

}  // namespace quarot::hadamard
