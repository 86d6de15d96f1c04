// Torch-free Hadamard machinery: fields, constructions, planner, reference
// transform, reproducible randomness. Properties only: H·Hᵀ = n·I is the oracle.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "lib/core/error.h"
#include "rotate/fwht.h"
#include "rotate/hadamard.h"
#include "rotate/hadamard_gf.h"
#include "rotate/hadamard_williamson.h"
#include "rotate/orthogonal_random.h"

using namespace quarot::hadamard;

namespace {

// H·Hᵀ == n·I, in float (exact for these integer sums) so that n ~ 1000 stays fast.
bool orthogonal_pm1(const SignMatrix& h) {
  const Eigen::MatrixXf f = h.cast<float>();
  const Eigen::MatrixXf g = f * f.transpose();
  return g == Eigen::MatrixXf::Identity(h.rows(), h.rows()) * static_cast<float>(h.rows()) &&
         (h.array() * h.array() == 1).all();
}

std::vector<double> randn(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& x : v) x = u(rng);
  return v;
}

}  // namespace

TEST_CASE("prime powers are recognised", "[gf]") {
  CHECK(prime_power(27).p == 3);
  CHECK(prime_power(27).k == 3);
  CHECK(prime_power(25).p == 5);
  CHECK(prime_power(25).k == 2);
  CHECK(prime_power(43).p == 43);
  CHECK(prime_power(43).k == 1);
  CHECK(prime_power(39).p == 0);
  CHECK(prime_power(1).p == 0);
  CHECK_THROWS_AS(GaloisField(12), quarot::Error);
}

TEST_CASE("GF(p^k) is a field", "[gf]") {
  for (int64_t q : {7, 9, 25, 27, 49, 121, 125, 243}) {
    INFO("q = " << q);
    const GaloisField f(q);
    int squares = 0;
    for (int64_t a = 1; a < q; ++a) {
      squares += f.chi(a) == 1;
      int inverses = 0;
      for (int64_t b = 1; b < q; ++b) inverses += f.mul(a, b) == 1;
      REQUIRE(inverses == 1);
      REQUIRE(f.add(a, f.sub(0, a)) == 0);
    }
    CHECK(squares == (q - 1) / 2);
    std::mt19937_64 rng(q);
    for (int t = 0; t < 200; ++t) {
      const int64_t a = static_cast<int64_t>(rng() % q), b = static_cast<int64_t>(rng() % q),
                    c = static_cast<int64_t>(rng() % q);
      REQUIRE(f.mul(a, f.add(b, c)) == f.add(f.mul(a, b), f.mul(a, c)));
      REQUIRE(f.mul(a, f.mul(b, c)) == f.mul(f.mul(a, b), c));
    }
    CHECK(f.chi(0) == 0);
  }
}

TEST_CASE("Paley I and II over primes and prime powers", "[construct]") {
  for (int64_t q : {3, 7, 11, 19, 23, 27, 43, 59, 67, 83, 107, 139, 243}) {
    INFO("Paley I q = " << q);
    const SignMatrix h = paley1(q);
    REQUIRE(h.rows() == q + 1);
    CHECK(is_hadamard(h));
  }
  for (int64_t q : {5, 9, 13, 17, 25, 29, 37, 49, 61, 73, 125}) {
    INFO("Paley II q = " << q);
    const SignMatrix h = paley2(q);
    REQUIRE(h.rows() == 2 * (q + 1));
    CHECK(is_hadamard(h));
  }
  CHECK_THROWS_AS(paley1(13), quarot::Error);
  CHECK_THROWS_AS(paley2(11), quarot::Error);
  CHECK_THROWS_AS(paley1(15), quarot::Error);
}

TEST_CASE("is_hadamard rejects a broken matrix", "[construct]") {
  SignMatrix h = paley1(11);
  REQUIRE(is_hadamard(h));
  h(3, 5) = static_cast<int8_t>(-h(3, 5));
  CHECK_FALSE(is_hadamard(h));
  SignMatrix z = sylvester(2);
  z(0, 0) = 0;
  CHECK_FALSE(is_hadamard(z));
}

TEST_CASE("Sylvester and Kronecker", "[construct]") {
  for (int m = 0; m <= 7; ++m) CHECK(is_hadamard(sylvester(m)));
  const SignMatrix k = kronecker(paley1(11), sylvester(2));
  CHECK(k.rows() == 48);
  CHECK(is_hadamard(k));
  CHECK(k(4 * 3 + 1, 4 * 5 + 2) == paley1(11)(3, 5) * sylvester(2)(1, 2));
}

TEST_CASE("Williamson rows are symmetric and complementary", "[williamson]") {
  REQUIRE(williamson_rows(39) != nullptr);
  REQUIRE(williamson_rows(43) != nullptr);
  for (const WilliamsonRows& w : williamson_table()) {
    INFO("n = " << w.n);
    const std::string* rows[4] = {&w.a, &w.b, &w.c, &w.d};
    std::vector<std::vector<int>> x;
    for (const std::string* r : rows) {
      REQUIRE(static_cast<int64_t>(r->size()) == w.n);
      std::vector<int> v;
      for (char c : *r) v.push_back(c == '+' ? 1 : -1);
      for (int64_t i = 1; i < w.n; ++i) REQUIRE(v[i] == v[w.n - i]);
      x.push_back(v);
    }
    for (int64_t s = 1; s < w.n; ++s) {
      int paf = 0;
      for (const auto& v : x)
        for (int64_t i = 0; i < w.n; ++i) paf += v[i] * v[(i + s) % w.n];
      REQUIRE(paf == 0);
    }
    const SignMatrix h = williamson(w.a, w.b, w.c, w.d);
    REQUIRE(h.rows() == 4 * w.n);
    CHECK(is_hadamard(h));
  }
}

TEST_CASE("every required base order K is Hadamard", "[planner]") {
  for (int64_t k : {1, 12, 20, 28, 36, 40, 44, 52, 60, 76, 108, 140, 156, 172}) {
    INFO("K = " << k);
    const Plan p = factor(k);
    CHECK(p.n == k);
    CHECK(p.K << p.m == k);
    CHECK_FALSE(p.random_block);
    CHECK(orthogonal_pm1(hadamard_pm1(k)));
  }
  CHECK(factor(28).construction == "Paley I over GF(27)");
  CHECK(factor(52).construction == "Paley II over GF(25)");
  CHECK(factor(156).construction == "Williamson, n = 39");
  CHECK(factor(172).construction == "Williamson, n = 43");
}

TEST_CASE("every base up to 400 is Hadamard", "[planner]") {
  const std::vector<int64_t> bases = supported_bases(400);
  CHECK(bases.front() == 1);
  for (int64_t k : bases) {
    INFO("K = " << k << " built as " << base_construction(k));
    CHECK(is_hadamard(base_matrix(k)));
  }
  // 188 = 4·47 has no construction here; every other 4·odd up to 228 does.
  for (int64_t k = 12; k <= 228; k += 8) {
    INFO("K = " << k);
    CHECK((std::find(bases.begin(), bases.end(), k) != bases.end()) == (k != 188));
  }
}

TEST_CASE("factor picks the smallest K", "[planner]") {
  struct Want {
    int64_t n, k;
    int m;
  };
  for (Want w : {Want{1, 1, 0}, Want{2, 1, 1}, Want{64, 1, 6}, Want{4096, 1, 12}, Want{40, 20, 1},
                 Want{512, 1, 9}, Want{1376, 172, 3}, Want{11008, 172, 6}, Want{14336, 28, 9},
                 Want{5632, 44, 7}, Want{13824, 108, 7}, Want{18944, 148, 7}, Want{8960, 140, 6},
                 Want{4864, 76, 6}, Want{29568, 924, 5}, Want{3072, 12, 8}}) {
    INFO("n = " << w.n);
    const Plan p = factor(w.n);
    CHECK(p.K == w.k);
    CHECK(p.m == w.m);
  }
}

TEST_CASE("unsupported sizes are refused with the size and the way out", "[planner]") {
  for (int64_t n : {188, 6, 94, 376, 3 * 5 * 7}) {
    INFO("n = " << n);
    CHECK_FALSE(try_factor(n).has_value());
    try {
      factor(n);
      FAIL("factor accepted n = " << n);
    } catch (const quarot::Error& e) {
      const std::string msg = e.what();
      CHECK(msg.find("n = " + std::to_string(n)) != std::string::npos);
      CHECK(msg.find("random orthogonal") != std::string::npos);
    }
  }
  CHECK_THROWS_AS(factor(0), quarot::Error);
  const Plan r = factor_with_random(188);
  CHECK(r.random_block);
  CHECK(r.K == 47);
  CHECK(r.m == 2);
  CHECK_FALSE(factor_with_random(172).random_block);
  // 47·16 is reached by Paley I over GF(751), so 188·2^j is supported from j = 2 on.
  CHECK(factor(752).K == 752);
  CHECK(factor(188 * 1024).K == 752);
}

TEST_CASE("K·2^m sizes are orthogonal", "[planner]") {
  for (int64_t n : {64, 512, 48, 80, 688, 1376}) {
    INFO("n = " << n);
    CHECK(orthogonal_pm1(hadamard_pm1(n)));
  }
}

TEST_CASE("hadamard_rows matches the dense matrix", "[planner]") {
  const SignMatrix h = hadamard_pm1(344);
  CHECK(hadamard_rows(344, 40, 70) == h.middleRows(40, 70));
  CHECK_THROWS_AS(hadamard_rows(344, 300, 45), quarot::Error);
}

TEST_CASE("fwht equals the Sylvester product", "[fwht]") {
  for (int m = 0; m <= 8; ++m) {
    const int64_t len = int64_t{1} << m;
    std::vector<double> x = randn(len, 7 + m);
    const Eigen::VectorXd want = sylvester(m).cast<double>() * Eigen::Map<Eigen::VectorXd>(x.data(), len);
    fwht_inplace(x.data(), len);
    CHECK((Eigen::Map<Eigen::VectorXd>(x.data(), len) - want).cwiseAbs().maxCoeff() < 1e-12);
  }
  std::vector<double> bad(12);
  CHECK_THROWS_AS(fwht_inplace(bad.data(), 12), quarot::Error);
}

TEST_CASE("apply_hadamard_inplace equals the dense product", "[fwht]") {
  for (int64_t n : {1, 12, 40, 156, 688, 1376}) {
    INFO("n = " << n);
    std::vector<double> x = randn(n, static_cast<uint64_t>(n));
    const Eigen::VectorXd want = hadamard_pm1(n).cast<double>() * Eigen::Map<Eigen::VectorXd>(x.data(), n);
    apply_hadamard_inplace(x.data(), n);
    CHECK((Eigen::Map<Eigen::VectorXd>(x.data(), n) - want).cwiseAbs().maxCoeff() < 1e-9);
  }
}

TEST_CASE("large sizes: norms, inner products and row strips", "[fwht]") {
  // The dense matrices would be 121M/205M entries; check H on random vectors
  // instead: <Hx, Hy> = n<x, y> for a few vectors, and strips of rows against
  // the transform and against each other.
  for (int64_t n : {11008, 14336}) {
    INFO("n = " << n);
    const int nv = 4;
    std::vector<std::vector<double>> xs, ys;
    for (int v = 0; v < nv; ++v) {
      xs.push_back(randn(n, 100 + v));
      ys.push_back(xs.back());
      apply_hadamard_inplace(ys.back().data(), n);
    }
    for (int a = 0; a < nv; ++a)
      for (int b = 0; b < nv; ++b) {
        double xx = 0, yy = 0;
        for (int64_t i = 0; i < n; ++i) {
          xx += xs[a][i] * xs[b][i];
          yy += ys[a][i] * ys[b][i];
        }
        CHECK(std::abs(yy / n - xx) < 1e-9 * n);
      }
    for (int64_t r0 : {int64_t{0}, n / 2 - 37, n - 64}) {
      const Eigen::MatrixXd strip = hadamard_rows(n, r0, 64).cast<double>();
      const Eigen::VectorXd got = strip * Eigen::Map<Eigen::VectorXd>(xs[0].data(), n);
      CHECK((got - Eigen::Map<Eigen::VectorXd>(ys[0].data() + r0, 64)).cwiseAbs().maxCoeff() < 1e-9);
      const Eigen::MatrixXd far = hadamard_rows(n, (r0 + n / 3) % (n - 64), 64).cast<double>();
      CHECK((strip * strip.transpose() - n * Eigen::MatrixXd::Identity(64, 64)).cwiseAbs().maxCoeff() == 0);
      if ((r0 + n / 3) % (n - 64) >= r0 + 64 || (r0 + n / 3) % (n - 64) + 64 <= r0)
        CHECK((strip * far.transpose()).cwiseAbs().maxCoeff() == 0);
    }
  }
}

TEST_CASE("gaussian and sign streams are reproducible", "[random]") {
  const auto g1 = gaussian_samples(1001, 42), g2 = gaussian_samples(1001, 42), g3 = gaussian_samples(1001, 43);
  CHECK(g1 == g2);
  CHECK(g1 != g3);
  const auto big = gaussian_samples(200000, 1);
  double mean = 0, var = 0;
  for (double v : big) mean += v;
  mean /= big.size();
  for (double v : big) var += (v - mean) * (v - mean);
  var /= big.size();
  CHECK(std::abs(mean) < 0.01);
  CHECK(std::abs(var - 1) < 0.02);
  const auto s1 = random_sign_vector(4096, 9), s2 = random_sign_vector(4096, 9), s3 = random_sign_vector(4096, 10);
  CHECK(s1 == s2);
  CHECK(s1 != s3);
  int plus = 0;
  for (int8_t v : s1) plus += v == 1;
  CHECK(std::abs(plus - 2048) < 200);
}

TEST_CASE("random streams are pinned", "[random]") {
  // Values recorded once from this code; they must not change between builds,
  // machines or LibTorch versions (a rotation seed names one rotation forever).
  const std::vector<int8_t> signs = {-1, -1, 1, 1, 1, 1, -1, -1, 1, -1, -1, -1,
                                     -1, -1, 1, 1, 1, -1, -1, 1, -1, 1, 1, -1};
  CHECK(random_sign_vector(24, 2024) == signs);
  const std::vector<double> g = {0.2744641256093151, -0.9510413297347573, -0.82263406378141068,
                                 1.4051230168654116, 2.029408117834647};
  const std::vector<double> got = gaussian_samples(5, 2024);
  for (size_t i = 0; i < g.size(); ++i) CHECK(std::abs(got[i] - g[i]) < 1e-15);
  const std::vector<double> q = {0.18678379281801338,  -0.95408492730980143, -0.23416610818128369,
                                 0.95624229900121849,  0.2312089851238226,   -0.17928488725733793,
                                 -0.22519431684965305, 0.19043202639856327,  -0.95552245550816595};
  const std::vector<double> qgot = random_orthogonal_rowmajor(3, 2024);
  for (size_t i = 0; i < q.size(); ++i) CHECK(std::abs(qgot[i] - q[i]) < 1e-14);
}

TEST_CASE("random_orthogonal_rowmajor is the positive-diagonal QR factor", "[random]") {
  const int64_t n = 96;
  const std::vector<double> qv = random_orthogonal_rowmajor(n, 5);
  const Eigen::MatrixXd q = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(qv.data(), n, n);
  CHECK((q.transpose() * q - Eigen::MatrixXd::Identity(n, n)).cwiseAbs().maxCoeff() < 1e-12);
  const std::vector<double> gv = gaussian_samples(n * n, 5);
  const Eigen::MatrixXd g = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(gv.data(), n, n);
  const Eigen::MatrixXd r = q.transpose() * g;
  for (int64_t i = 0; i < n; ++i) {
    CHECK(r(i, i) > 0);
    for (int64_t j = 0; j < i; ++j) REQUIRE(std::abs(r(i, j)) < 1e-10);
  }
  CHECK(random_orthogonal_rowmajor(n, 5) == qv);
  CHECK(random_orthogonal_rowmajor(n, 6) != qv);
}
