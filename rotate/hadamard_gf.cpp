#include "rotate/hadamard_gf.h"

#include "lib/core/error.h"

namespace quarot::hadamard {

PrimePower prime_power(int64_t q) {
  if (q < 2) return {};
  int64_t p = 0;
  for (int64_t d = 2; d * d <= q; ++d) {
    if (q % d == 0) {
      p = d;
      break;
    }
  }
  if (p == 0) return {q, 1};
  int k = 0;
  while (q % p == 0) {
    q /= p;
    ++k;
  }
  if (q != 1) return {};
  return {p, k};
}

namespace {

using Poly = std::vector<int64_t>;  // coefficients, lowest degree first

void trim(Poly& a) {
  while (!a.empty() && a.back() == 0) a.pop_back();
}

// Remainder of a modulo the monic polynomial m over GF(p).
Poly poly_mod(Poly a, const Poly& m, int64_t p) {
  const size_t dm = m.size() - 1;
  trim(a);
  while (a.size() > dm) {
    const int64_t lead = a.back();
    const size_t shift = a.size() - 1 - dm;
    for (size_t i = 0; i <= dm; ++i) a[shift + i] = ((a[shift + i] - lead * m[i]) % p + p) % p;
    trim(a);
  }
  return a;
}

// Monic polynomial of degree `deg` whose lower coefficients are the base-p digits of `code`.
Poly monic(int deg, int64_t code, int64_t p) {
  Poly f(static_cast<size_t>(deg) + 1, 0);
  for (int i = 0; i < deg; ++i) {
    f[static_cast<size_t>(i)] = code % p;
    code /= p;
  }
  f[static_cast<size_t>(deg)] = 1;
  return f;
}

int64_t ipow(int64_t b, int e) {
  int64_t r = 1;
  for (int i = 0; i < e; ++i) r *= b;
  return r;
}

// Irreducible iff no monic divisor of degree 1..k/2.
bool irreducible(const Poly& f, int64_t p) {
  const int k = static_cast<int>(f.size()) - 1;
  for (int d = 1; 2 * d <= k; ++d) {
    const int64_t count = ipow(p, d);
    for (int64_t c = 0; c < count; ++c) {
      if (poly_mod(f, monic(d, c, p), p).empty()) return false;
    }
  }
  return true;
}

}  // namespace

GaloisField::GaloisField(int64_t q) : q_(q) {
  const PrimePower pp = prime_power(q);
  QUAROT_CHECK(pp.p != 0, "GF(q): q = ", q, " is not a prime power");
  p_ = pp.p;
  k_ = pp.k;
  if (k_ == 1) {
    modulus_ = {0, 1};
  } else {
    const int64_t count = ipow(p_, k_);
    for (int64_t c = 0; c < count && modulus_.empty(); ++c) {
      Poly f = monic(k_, c, p_);
      if (f[0] != 0 && irreducible(f, p_)) modulus_ = f;
    }
    QUAROT_ASSERT(!modulus_.empty(), "no irreducible polynomial of degree ", k_, " over GF(", p_, ")");
  }
  chi_.assign(static_cast<size_t>(q_), -1);
  chi_[0] = 0;
  for (int64_t a = 1; a < q_; ++a) chi_[static_cast<size_t>(mul(a, a))] = 1;
}

std::vector<int64_t> GaloisField::digits(int64_t a) const {
  std::vector<int64_t> d(static_cast<size_t>(k_), 0);
  for (int i = 0; i < k_; ++i) {
    d[static_cast<size_t>(i)] = a % p_;
    a /= p_;
  }
  return d;
}

int64_t GaloisField::from_digits(const std::vector<int64_t>& d) const {
  int64_t a = 0;
  for (size_t i = d.size(); i-- > 0;) a = a * p_ + d[i];
  return a;
}

int64_t GaloisField::add(int64_t a, int64_t b) const {
  if (k_ == 1) return (a + b) % p_;
  auto da = digits(a), db = digits(b);
  for (size_t i = 0; i < da.size(); ++i) da[i] = (da[i] + db[i]) % p_;
  return from_digits(da);
}

int64_t GaloisField::sub(int64_t a, int64_t b) const {
  if (k_ == 1) return ((a - b) % p_ + p_) % p_;
  auto da = digits(a), db = digits(b);
  for (size_t i = 0; i < da.size(); ++i) da[i] = ((da[i] - db[i]) % p_ + p_) % p_;
  return from_digits(da);
}

int64_t GaloisField::mul(int64_t a, int64_t b) const {
  if (k_ == 1) return a * b % p_;
  const auto da = digits(a), db = digits(b);
  Poly prod(2 * static_cast<size_t>(k_), 0);
  for (size_t i = 0; i < da.size(); ++i)
    for (size_t j = 0; j < db.size(); ++j) prod[i + j] = (prod[i + j] + da[i] * db[j]) % p_;
  Poly r = poly_mod(prod, modulus_, p_);
  r.resize(static_cast<size_t>(k_), 0);
  return from_digits(r);
}

}  // namespace quarot::hadamard
