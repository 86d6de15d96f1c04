// LibTorch side of the Hadamard machinery: dense matrices, the fast transform,
// random orthogonal and randomized Hadamard matrices.
// ATen (through c10 logging) defines a CHECK macro; catch.hpp must come last so
// that CHECK is Catch's.
#include <cstring>
#include <string>

#include <ATen/ATen.h>

#include "lib/core/error.h"
#include "rotate/hadamard.h"
#include "rotate/hadamard_torch.h"
#include "rotate/orthogonal.h"

#include <catch2/catch.hpp>

using namespace quarot;

namespace {

at::Tensor randn64(at::IntArrayRef shape, uint64_t seed) {
  // Test inputs only; reproducibility across versions does not matter here.
  at::manual_seed(static_cast<int64_t>(seed));
  return at::randn(shape, at::TensorOptions().dtype(at::kDouble));
}

double maxabs(const at::Tensor& t) { return t.abs().max().item<double>(); }

bool same_bytes(const at::Tensor& a, const at::Tensor& b) {
  return a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() &&
         std::memcmp(a.contiguous().data_ptr(), b.contiguous().data_ptr(), a.numel() * a.element_size()) == 0;
}

at::Tensor eye(int64_t n) { return at::eye(n, at::TensorOptions().dtype(at::kDouble)); }

}  // namespace

TEST_CASE("hadamard_matrix is orthogonal and matches the ±1 matrix", "[rotate]") {
  for (int64_t n : {1, 2, 12, 28, 52, 64, 156, 172, 1376}) {
    INFO("n = " << n);
    const at::Tensor h = hadamard_matrix(n);
    CHECK(h.scalar_type() == at::kDouble);
    CHECK(maxabs(at::matmul(h, h.t()) - eye(n)) < 1e-12);
    if (n <= 172) {
      const hadamard::SignMatrix pm = hadamard::hadamard_pm1(n);
      const at::Tensor scaled = h * std::sqrt(static_cast<double>(n));
      const double* p = scaled.data_ptr<double>();
      bool equal = true;
      for (int64_t i = 0; i < n * n; ++i) equal &= std::abs(p[i] - pm(i / n, i % n)) < 1e-12;
      CHECK(equal);
    }
  }
  CHECK(hadamard_matrix(12, at::kFloat).scalar_type() == at::kFloat);
  CHECK(hadamard_matrix(12, at::kBFloat16).scalar_type() == at::kBFloat16);
}

TEST_CASE("apply_hadamard equals x @ Hᵀ in float64", "[rotate]") {
  for (int64_t n : {1, 2, 12, 20, 28, 40, 44, 52, 60, 64, 76, 108, 140, 156, 172, 512, 1376}) {
    INFO("n = " << n);
    const at::Tensor x = randn64({3, 5, n}, static_cast<uint64_t>(n));
    const at::Tensor keep = x.clone();
    const at::Tensor h = hadamard_matrix(n);
    const at::Tensor y = apply_hadamard(x);
    CHECK(y.sizes() == x.sizes());
    CHECK(y.scalar_type() == at::kDouble);
    CHECK(maxabs(y - at::matmul(x, h.t())) < 1e-12);
    CHECK(maxabs(apply_hadamard(x, /*transpose=*/true) - at::matmul(x, h)) < 1e-12);
    CHECK(same_bytes(x, keep));  // the input is untouched
  }
}

TEST_CASE("apply_hadamard in float32 and bfloat16", "[rotate]") {
  for (int64_t n : {28, 172, 1376}) {
    INFO("n = " << n);
    const at::Tensor x = randn64({7, n}, 3);
    const at::Tensor want = at::matmul(x, hadamard_matrix(n).t());
    const at::Tensor y32 = apply_hadamard(x.to(at::kFloat));
    CHECK(y32.scalar_type() == at::kFloat);
    CHECK(maxabs(y32.to(at::kDouble) - want) < 1e-5);
    const at::Tensor y16 = apply_hadamard(x.to(at::kBFloat16));
    CHECK(y16.scalar_type() == at::kBFloat16);
    // bfloat16 input and output rounding only (8 bits of mantissa), not accumulation error.
    CHECK(maxabs(y16.to(at::kDouble) - at::matmul(x.to(at::kBFloat16).to(at::kDouble), hadamard_matrix(n).t())) <
          0.05);
  }
  // Non-contiguous input.
  const at::Tensor x = randn64({40, 6}, 4).t();
  CHECK(maxabs(apply_hadamard(x) - at::matmul(x, hadamard_matrix(40).t())) < 1e-12);
}

TEST_CASE("large sizes: inverse, norms and a strip of the dense product", "[rotate]") {
  for (int64_t n : {11008, 14336}) {
    INFO("n = " << n);
    const at::Tensor x = randn64({4, n}, static_cast<uint64_t>(n));
    const at::Tensor y = apply_hadamard(x);
    // Hᵀ(H x) = x for random x: orthogonality on the whole space, probabilistically.
    CHECK(maxabs(apply_hadamard(y, /*transpose=*/true) - x) < 1e-12);
    CHECK(maxabs(y.norm(2, {1}) - x.norm(2, {1})) < 1e-10);
    for (int64_t r0 : {int64_t{0}, n / 2 + 5, n - 128}) {
      const hadamard::SignMatrix rows = hadamard::hadamard_rows(n, r0, 128);
      at::Tensor strip = at::empty({128, n}, at::TensorOptions().dtype(at::kDouble));
      double* p = strip.data_ptr<double>();
      for (int64_t i = 0; i < 128 * n; ++i) p[i] = rows(i / n, i % n);
      strip = strip / std::sqrt(static_cast<double>(n));
      CHECK(maxabs(y.narrow(1, r0, 128) - at::matmul(x, strip.t())) < 1e-12);
    }
    const at::Tensor y32 = apply_hadamard(x.to(at::kFloat));
    CHECK(maxabs(y32.to(at::kDouble) - y) < 1e-5);
  }
}

TEST_CASE("unsupported sizes are refused naming the size", "[rotate]") {
  for (int64_t n : {188, 6, 376}) {
    INFO("n = " << n);
    const at::Tensor x = randn64({2, n}, 1);
    try {
      apply_hadamard(x);
      FAIL("accepted n = " << n);
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("n = " + std::to_string(n)) != std::string::npos);
    }
    CHECK_THROWS_AS(hadamard_matrix(n), Error);
  }
  CHECK_THROWS_AS(apply_hadamard(at::ones({3, 12}, at::TensorOptions().dtype(at::kInt))), Error);
}

TEST_CASE("the way out: a random orthogonal factor for the unsupported part", "[rotate]") {
  const hadamard::Plan plan = hadamard::factor_with_random(188);
  REQUIRE(plan.random_block);
  const at::Tensor block = rotation_block(plan, 11);
  CHECK(block.size(0) == 47);
  const at::Tensor dense = kron_fwht_matrix(block, 188);
  CHECK(maxabs(at::matmul(dense, dense.t()) - eye(188)) < 1e-12);
  const at::Tensor x = randn64({3, 188}, 2);
  CHECK(maxabs(apply_kron_fwht(x, block) - at::matmul(x, dense.t())) < 1e-12);
  CHECK(maxabs(apply_kron_fwht(x, block, true) - at::matmul(x, dense)) < 1e-12);
  // With the Hadamard block it is apply_hadamard.
  const hadamard::Plan hp = hadamard::factor(1376);
  const at::Tensor x2 = randn64({2, 1376}, 3);
  CHECK(maxabs(apply_kron_fwht(x2, rotation_block(hp, 0)) - apply_hadamard(x2)) < 1e-12);
}

TEST_CASE("random_orthogonal: orthogonal, reproducible, seed-dependent", "[rotate]") {
  for (int64_t n : {1, 7, 100, 172}) {
    INFO("n = " << n);
    const at::Tensor q = random_orthogonal(n, 1234);
    CHECK(q.scalar_type() == at::kDouble);
    CHECK(maxabs(at::matmul(q, q.t()) - eye(n)) < 1e-12);
    CHECK(maxabs(at::matmul(q.t(), q) - eye(n)) < 1e-12);
    CHECK(same_bytes(q, random_orthogonal(n, 1234)));
    if (n > 1) CHECK_FALSE(same_bytes(q, random_orthogonal(n, 1235)));
  }
}

TEST_CASE("randomized_hadamard: signs on the columns, cheap online forms", "[rotate]") {
  for (int64_t n : {64, 172, 1376}) {
    INFO("n = " << n);
    const at::Tensor q = randomized_hadamard(n, 77);
    const at::Tensor s = random_signs(n, 77);
    CHECK(same_bytes(q, randomized_hadamard(n, 77)));
    CHECK_FALSE(same_bytes(q, randomized_hadamard(n, 78)));
    CHECK(same_bytes(s, random_signs(n, 77)));
    CHECK(maxabs(s.abs() - 1) == 0);
    CHECK(maxabs(at::matmul(q, q.t()) - eye(n)) < 1e-12);
    CHECK(maxabs(q - hadamard_matrix(n) * s.unsqueeze(0)) == 0);
    const at::Tensor x = randn64({5, n}, 8);
    CHECK(maxabs(at::matmul(x, q) - apply_hadamard(x, /*transpose=*/true) * s) < 1e-12);
    CHECK(maxabs(at::matmul(x, q.t()) - apply_hadamard(x * s)) < 1e-12);
  }
}

TEST_CASE("apply_hadamard on CUDA matches the CPU", "[rotate][cuda]") {
  if (!at::hasCUDA()) {
    WARN("no CUDA device: skipped");
    return;
  }
  for (int64_t n : {172, 14336}) {
    INFO("n = " << n);
    const at::Tensor x = randn64({9, n}, 5);
    const at::Tensor cpu = apply_hadamard(x);
    const at::Tensor gpu = apply_hadamard(x.to(at::kCUDA));
    CHECK(gpu.device().is_cuda());
    CHECK(maxabs(gpu.cpu() - cpu) < 1e-12);
    CHECK(maxabs(apply_hadamard(x.to(at::kCUDA).to(at::kFloat)).cpu().to(at::kDouble) - cpu) < 1e-5);
    const at::Tensor hg = hadamard_matrix(n == 172 ? 172 : 1376, at::kDouble, at::kCUDA);
    CHECK(hg.device().is_cuda());
  }
}
