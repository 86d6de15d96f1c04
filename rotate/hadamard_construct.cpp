#include "rotate/hadamard_construct.h"

#include <vector>

#include "lib/core/error.h"
#include "rotate/hadamard_gf.h"

namespace quarot::hadamard {

SignMatrix sylvester(int m) {
  QUAROT_CHECK(m >= 0 && m < 31, "sylvester: exponent m = ", m, " out of range");
  const int64_t n = int64_t{1} << m;
  SignMatrix h(n, n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) h(i, j) = (__builtin_popcountll(static_cast<uint64_t>(i & j)) & 1) ? -1 : 1;
  return h;
}

namespace {

// Jacobsthal matrix Q[i][j] = chi(x_i - x_j) over GF(q), elements in the field's order.
std::vector<int8_t> jacobsthal(const GaloisField& f) {
  const int64_t q = f.order();
  std::vector<int8_t> jac(static_cast<size_t>(q * q));
  for (int64_t i = 0; i < q; ++i)
    for (int64_t j = 0; j < q; ++j) jac[static_cast<size_t>(i * q + j)] = static_cast<int8_t>(f.chi(f.sub(i, j)));
  return jac;
}

}  // namespace

SignMatrix paley1(int64_t q) {
  QUAROT_CHECK(q % 4 == 3 && prime_power(q).p != 0, "paley1: q = ", q,
               " must be a prime power congruent to 3 mod 4");
  const GaloisField f(q);
  const auto jac = jacobsthal(f);
  // H = I + S with S = [[0, 1ᵀ], [-1, Q]] skew-symmetric (Q is, since -1 is a non-square).
  const int64_t n = q + 1;
  SignMatrix h(n, n);
  h(0, 0) = 1;
  for (int64_t j = 1; j < n; ++j) {
    h(0, j) = 1;
    h(j, 0) = -1;
  }
  for (int64_t i = 0; i < q; ++i)
    for (int64_t j = 0; j < q; ++j)
      h(i + 1, j + 1) = static_cast<int8_t>(i == j ? 1 : jac[static_cast<size_t>(i * q + j)]);
  return h;
}

SignMatrix paley2(int64_t q) {
  QUAROT_CHECK(q % 4 == 1 && prime_power(q).p != 0, "paley2: q = ", q,
               " must be a prime power congruent to 1 mod 4");
  const GaloisField f(q);
  const auto jac = jacobsthal(f);
  // Symmetric conference matrix C = [[0, 1ᵀ], [1, Q]]; each 0 becomes [[1,-1],[-1,-1]]
  // and each ±1 becomes ±[[1,1],[1,-1]].
  const int64_t c = q + 1;
  auto conf = [&](int64_t i, int64_t j) -> int {
    if (i == j) return 0;
    if (i == 0 || j == 0) return 1;
    return jac[static_cast<size_t>((i - 1) * q + (j - 1))];
  };
  SignMatrix h(2 * c, 2 * c);
  for (int64_t i = 0; i < c; ++i)
    for (int64_t j = 0; j < c; ++j) {
      const int v = conf(i, j);
      for (int r = 0; r < 2; ++r)
        for (int s = 0; s < 2; ++s) {
          const int sign = (r == 1 && s == 1) ? -1 : 1;
          h(2 * i + r, 2 * j + s) = static_cast<int8_t>(v == 0 ? (r == 0 && s == 0 ? 1 : -1) : v * sign);
        }
    }
  return h;
}

SignMatrix williamson(const std::string& a, const std::string& b, const std::string& c,
                      const std::string& d) {
  const int64_t n = static_cast<int64_t>(a.size());
  QUAROT_CHECK(n > 0 && b.size() == a.size() && c.size() == a.size() && d.size() == a.size(),
               "williamson: the four first rows must have one length");
  const std::string* rows[4] = {&a, &b, &c, &d};
  for (const std::string* r : rows)
    for (char ch : *r) QUAROT_CHECK(ch == '+' || ch == '-', "williamson: first row '", *r, "' must be + and -");
  // Block (R, C) of the array is sign[R][C] * circulant(which[R][C]).
  static const int which[4][4] = {{0, 1, 2, 3}, {1, 0, 3, 2}, {2, 3, 0, 1}, {3, 2, 1, 0}};
  static const int sign[4][4] = {{1, 1, 1, 1}, {-1, 1, -1, 1}, {-1, 1, 1, -1}, {-1, -1, 1, 1}};
  SignMatrix h(4 * n, 4 * n);
  for (int br = 0; br < 4; ++br)
    for (int bc = 0; bc < 4; ++bc) {
      const std::string& first = *rows[which[br][bc]];
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
          const int v = first[static_cast<size_t>(((j - i) % n + n) % n)] == '+' ? 1 : -1;
          h(br * n + i, bc * n + j) = static_cast<int8_t>(sign[br][bc] * v);
        }
    }
  return h;
}

SignMatrix kronecker(const SignMatrix& x, const SignMatrix& y) {
  SignMatrix k(x.rows() * y.rows(), x.cols() * y.cols());
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    for (Eigen::Index j = 0; j < x.cols(); ++j)
      k.block(i * y.rows(), j * y.cols(), y.rows(), y.cols()) = x(i, j) * y;
  return k;
}

bool is_hadamard(const SignMatrix& h) {
  if (h.rows() != h.cols()) return false;
  for (Eigen::Index i = 0; i < h.rows(); ++i)
    for (Eigen::Index j = 0; j < h.cols(); ++j)
      if (h(i, j) != 1 && h(i, j) != -1) return false;
  const Eigen::MatrixXi hi = h.cast<int>();
  const Eigen::MatrixXi g = hi * hi.transpose();
  return g == Eigen::MatrixXi::Identity(h.rows(), h.rows()) * static_cast<int>(h.rows());
}

}  // namespace quarot::hadamard
