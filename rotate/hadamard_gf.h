// Arithmetic in the finite field GF(p^k), enough for the Paley constructions:
// elements are the integers 0..q-1 read as base-p digit vectors (polynomials in
// x of degree < k, digit i = coefficient of x^i), reduced modulo a monic
// irreducible polynomial found by trial division. Fields here are small (q up to
// a few thousand), so clarity wins over speed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace quarot::hadamard {

// Returns (p, k) with q = p^k, or (0, 0) when q is not a prime power (q >= 2).
struct PrimePower {
  int64_t p = 0;
  int k = 0;
};
PrimePower prime_power(int64_t q);

class GaloisField {
 public:
  // Throws quarot::Error when q is not a prime power.
  explicit GaloisField(int64_t q);

  int64_t order() const { return q_; }
  int64_t characteristic() const { return p_; }
  int degree() const { return k_; }
  // Coefficients c_0..c_k (c_k = 1) of the modulus; for k = 1 it is x.
  const std::vector<int64_t>& modulus() const { return modulus_; }

  int64_t add(int64_t a, int64_t b) const;
  int64_t sub(int64_t a, int64_t b) const;
  int64_t mul(int64_t a, int64_t b) const;

  // Quadratic character: 0 for 0, +1 for a nonzero square, -1 otherwise.
  int chi(int64_t a) const { return chi_[static_cast<size_t>(a)]; }

 private:
  std::vector<int64_t> digits(int64_t a) const;
  int64_t from_digits(const std::vector<int64_t>& d) const;

  int64_t q_, p_;
  int k_;
  std::vector<int64_t> modulus_;
  std::vector<int8_t> chi_;
};

}  // namespace quarot::hadamard
