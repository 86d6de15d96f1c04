// The Hadamard planner: which ±1 Hadamard matrix of order n quarot uses.
//
// Convention (used everywhere in quarot, torch side included): n = K·2^m and
//   H_n = H_K ⊗ S_{2^m},  i.e.  H_n[a·2^m + b][a'·2^m + b'] = H_K[a][a'] · S[b][b'],
// with H_K the base matrix of order K (base_matrix) and S the Sylvester matrix
// (S[b][b'] = (-1)^popcount(b & b')). A vector of length n is thus read as K
// rows of 2^m: the Walsh–Hadamard transform runs along each row and H_K mixes
// the rows. K is the smallest order for which quarot has a construction.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rotate/hadamard_construct.h"

namespace quarot::hadamard {

// Largest base order K built directly (Paley, Williamson, products); a K×K int8
// matrix of this order is 16 MiB.
constexpr int64_t kMaxBaseOrder = 4096;

struct Plan {
  int64_t n = 0;
  int64_t K = 1;
  int m = 0;
  // How the K×K factor is made: e.g. "Paley I over GF(27)", or for a plan from
  // factor_with_random on an unsupported size, "random orthogonal".
  std::string construction;
  bool random_block = false;  // true: the K×K factor is a random orthogonal matrix, not Hadamard
};

// How quarot builds a ±1 Hadamard matrix of order K directly: "Sylvester" for
// powers of two, "Paley I over GF(q)", "Paley II over GF(q)", "Williamson, n = ...",
// or a Kronecker product of two of those. Empty when it has none (or K > kMaxBaseOrder).
std::string base_construction(int64_t K);

// The plan for n with the smallest K, or nullopt when none of the constructions
// reaches n.
std::optional<Plan> try_factor(int64_t n);

// As try_factor, but throws quarot::Error naming n, its split and the way out.
Plan factor(int64_t n);

// As factor, but for an n that no Hadamard construction reaches, returns the
// plan with K = the odd part of n, m = the power of two, random_block = true: the
// caller then uses a random orthogonal K×K factor (times the Walsh–Hadamard part).
Plan factor_with_random(int64_t n);

// The K×K ±1 matrix with H·Hᵀ = K·I that the planner uses (built once, cached,
// thread-safe). Throws quarot::Error when base_construction(K) is empty.
const SignMatrix& base_matrix(int64_t K);

// Every K ≤ max_K (K ≤ kMaxBaseOrder) that factor() can return, ascending:
// 1 and the orders 2^j·o (o odd > 1) with a construction and no smaller one for o.
std::vector<int64_t> supported_bases(int64_t max_K);

// The dense n×n ±1 matrix H_n (n² bytes).
SignMatrix hadamard_pm1(int64_t n);

// Rows begin..begin+count-1 of H_n, without forming the whole matrix.
SignMatrix hadamard_rows(int64_t n, int64_t begin, int64_t count);

// x <- H_n x (unnormalized) for a vector of length n; the torch-free reference.
void apply_hadamard_inplace(double* x, int64_t n);

}  // namespace quarot::hadamard
