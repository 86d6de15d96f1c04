#include "rotate/hadamard.h"

#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include "lib/core/error.h"
#include "rotate/fwht.h"
#include "rotate/hadamard_gf.h"
#include "rotate/hadamard_williamson.h"

namespace quarot::hadamard {

namespace {

bool is_pow2(int64_t k) { return k >= 1 && (k & (k - 1)) == 0; }

int log2_exact(int64_t k) {
  int m = 0;
  while ((int64_t{1} << m) < k) ++m;
  return m;
}

// One of the direct constructions (no products), in order of preference.
std::string direct_construction(int64_t k) {
  if (k < 12 || k % 4 != 0 || k > kMaxBaseOrder) return {};
  if (prime_power(k - 1).p != 0) return "Paley I over GF(" + std::to_string(k - 1) + ")";
  const int64_t q2 = k / 2 - 1;
  if (q2 % 4 == 1 && prime_power(q2).p != 0) return "Paley II over GF(" + std::to_string(q2) + ")";
  if (williamson_rows(k / 4) != nullptr) return "Williamson, n = " + std::to_string(k / 4);
  return {};
}

// A split k = k1·k2 into two direct constructions, k1 <= k2; (0, 0) if none.
std::pair<int64_t, int64_t> product_split(int64_t k) {
  for (int64_t k1 = 12; k1 * k1 <= k; k1 += 4)
    if (k % k1 == 0 && !direct_construction(k1).empty() && !direct_construction(k / k1).empty())
      return {k1, k / k1};
  return {0, 0};
}

SignMatrix build_base(int64_t k) {
  if (is_pow2(k)) return sylvester(log2_exact(k));
  if (k < 12 || k % 4 != 0) QUAROT_FAIL("no Hadamard construction of order ", k);
  if (prime_power(k - 1).p != 0) return paley1(k - 1);
  const int64_t q2 = k / 2 - 1;
  if (q2 % 4 == 1 && prime_power(q2).p != 0) return paley2(q2);
  if (const WilliamsonRows* w = williamson_rows(k / 4)) return williamson(w->a, w->b, w->c, w->d);
  const auto [k1, k2] = product_split(k);
  QUAROT_CHECK(k1 != 0, "no Hadamard construction of order ", k);
  return kronecker(base_matrix(k1), base_matrix(k2));
}

}  // namespace

std::string base_construction(int64_t k) {
  if (k < 1 || k > kMaxBaseOrder) return {};
  if (is_pow2(k)) return "Sylvester";
  std::string d = direct_construction(k);
  if (!d.empty()) return d;
  if (k % 16 != 0) return {};
  const auto [k1, k2] = product_split(k);
  if (k1 == 0) return {};
  return "(" + direct_construction(k1) + ") x (" + direct_construction(k2) + ")";
}

std::optional<Plan> try_factor(int64_t n) {
  if (n < 1) return std::nullopt;
  int e = 0;
  while (((n >> e) & 1) == 0) ++e;
  const int64_t odd = n >> e;
  if (odd == 1) return Plan{n, 1, e, "Sylvester", false};
  for (int j = 2; j <= e; ++j) {
    const int64_t k = odd << j;
    if (k > kMaxBaseOrder) break;
    std::string how = base_construction(k);
    if (!how.empty()) return Plan{n, k, e - j, how, false};
  }
  return std::nullopt;
}

Plan factor(int64_t n) {
  QUAROT_CHECK(n >= 1, "Hadamard size must be positive, got n = ", n);
  if (auto p = try_factor(n)) return *p;
  int e = 0;
  while (((n >> e) & 1) == 0) ++e;
  const int64_t odd = n >> e;
  std::ostringstream why;
  why << "Hadamard rotation of size n = " << n << " (= " << odd << " * 2^" << e << ") is not supported: ";
  if (e < 2)
    why << "a Hadamard matrix of order > 2 needs n divisible by 4";
  else
    why << "quarot has no Hadamard matrix of order " << odd << " * 2^j for 2 <= j <= " << e
        << " (it builds Sylvester, Paley I/II over GF(q), Williamson for 4*{23,29,39,43} and their"
        << " Kronecker products, up to order " << kMaxBaseOrder << ")";
  why << ". Way out: allow a random orthogonal factor for that part (factor_with_random): the "
      << odd << "x" << odd << " factor becomes a seeded random orthogonal matrix and the 2^" << e
      << " part stays Walsh-Hadamard.";
  throw Error(why.str());
}

Plan factor_with_random(int64_t n) {
  QUAROT_CHECK(n >= 1, "rotation size must be positive, got n = ", n);
  if (auto p = try_factor(n)) return *p;
  int e = 0;
  while (((n >> e) & 1) == 0) ++e;
  return Plan{n, n >> e, e, "random orthogonal", true};
}

const SignMatrix& base_matrix(int64_t k) {
  QUAROT_CHECK(!base_construction(k).empty(), "no Hadamard construction of order K = ", k,
               " (base_construction is empty)");
  static std::mutex mu;
  static std::map<int64_t, std::shared_ptr<const SignMatrix>> cache;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(k);
    if (it != cache.end()) return *it->second;
  }
  // Built outside the lock: a product construction recurses into base_matrix.
  auto built = std::make_shared<const SignMatrix>(build_base(k));
  std::lock_guard<std::mutex> lock(mu);
  auto [it, inserted] = cache.emplace(k, std::move(built));
  return *it->second;
}

std::vector<int64_t> supported_bases(int64_t max_k) {
  std::vector<int64_t> out;
  for (int64_t k = 1; k <= max_k && k <= kMaxBaseOrder; ++k) {
    auto p = try_factor(k);
    if (p && p->K == k) out.push_back(k);
  }
  return out;
}

SignMatrix hadamard_pm1(int64_t n) {
  const Plan p = factor(n);
  return kronecker(base_matrix(p.K), sylvester(p.m));
}

SignMatrix hadamard_rows(int64_t n, int64_t begin, int64_t count) {
  const Plan p = factor(n);
  QUAROT_CHECK(begin >= 0 && count >= 0 && begin + count <= n, "hadamard_rows: rows [", begin, ", ",
               begin + count, ") out of range for n = ", n);
  const SignMatrix& hk = base_matrix(p.K);
  const int64_t mm = int64_t{1} << p.m;
  SignMatrix rows(count, n);
  for (int64_t r = 0; r < count; ++r) {
    const int64_t i = begin + r, a = i / mm, b = i % mm;
    for (int64_t j = 0; j < n; ++j) {
      const int s = (__builtin_popcountll(static_cast<uint64_t>(b & (j % mm))) & 1) ? -1 : 1;
      rows(r, j) = static_cast<int8_t>(hk(a, j / mm) * s);
    }
  }
  return rows;
}

void apply_hadamard_inplace(double* x, int64_t n) {
  const Plan p = factor(n);
  const int64_t mm = int64_t{1} << p.m;
  for (int64_t a = 0; a < p.K; ++a) fwht_inplace(x + a * mm, mm);
  if (p.K == 1) return;
  const SignMatrix& hk = base_matrix(p.K);
  std::vector<double> y(static_cast<size_t>(n), 0.0);
  for (int64_t a = 0; a < p.K; ++a)
    for (int64_t c = 0; c < p.K; ++c) {
      const double s = hk(a, c);
      const double* src = x + c * mm;
      double* dst = y.data() + a * mm;
      for (int64_t b = 0; b < mm; ++b) dst[b] += s * src[b];
    }
  std::copy(y.begin(), y.end(), x);
}

}  // namespace quarot::hadamard
