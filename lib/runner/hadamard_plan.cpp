// HadamardDevice: the K×K factor of quarot_hadamard's H_n laid out as
// mma.m16n8k16 A-operand fragments (fp16 ±1, zero-padded to a multiple of 16),
// and as plain signed bytes for the generic kernel.
// Built on the host (Eigen stays out of the .cu files).
#include <vector>

#include "lib/core/error.h"
#include "lib/runner/kernels.h"
#include "rotate/hadamard.h"

namespace quarot::runner {

namespace {

// mma.m16n8k16 A-operand fragments of an A×A ±1 matrix zero-padded to 16·KT:
// tile (at, kt), lane (g, t) holds {(g, 2t..2t+1), (g+8, 2t..2t+1), (g, 2t+8..2t+9),
// (g+8, 2t+8..2t+9)} of the 16×16 tile as fp16, lower column in the low half.
template <typename Sign>
std::vector<uint32_t> mma_fragments(int64_t A, Sign sign) {
  const int64_t KT = (A + 15) / 16;
  std::vector<uint32_t> frag(size_t(KT * KT * 32 * 4));
  auto h16 = [&](int64_t r, int64_t c) -> uint32_t {
    if (r >= A || c >= A) return 0;
    return sign(r, c) > 0 ? 0x3C00u : 0xBC00u;  // fp16 +1 / -1
  };
  for (int64_t at = 0; at < KT; ++at)
    for (int64_t kt = 0; kt < KT; ++kt)
      for (int lane = 0; lane < 32; ++lane) {
        const int64_t g = lane >> 2, t = lane & 3;
        const int64_t r0 = at * 16 + g, c0 = kt * 16 + 2 * t;
        uint32_t* f = &frag[size_t(((at * KT + kt) * 32 + lane) * 4)];
        f[0] = h16(r0, c0) | (h16(r0, c0 + 1) << 16);
        f[1] = h16(r0 + 8, c0) | (h16(r0 + 8, c0 + 1) << 16);
        f[2] = h16(r0, c0 + 8) | (h16(r0, c0 + 9) << 16);
        f[3] = h16(r0 + 8, c0 + 8) | (h16(r0 + 8, c0 + 9) << 16);
      }
  return frag;
}

int popcount64(uint64_t v) {
  int c = 0;
  for (; v != 0; v &= v - 1) ++c;
  return c;
}

}  // namespace

HadamardDevice::HadamardDevice(int64_t n) : n_(n) {
  const hadamard::Plan plan = hadamard::factor(n);
  K_ = plan.K;
  m_ = plan.m;
  QUAROT_CHECK(K_ <= 256, "online Hadamard of size ", n, " needs a ", K_, "x", K_,
               " factor; the CUDA runner supports K <= 256");
  const hadamard::SignMatrix* hk = K_ > 1 ? &hadamard::base_matrix(K_) : nullptr;
  // H_K ⊗ S_{2^j} (order K·2^j), entry (r, c) with r = r1·2^j + r2: H_K[r1][c1]·(-1)^popcount(r2 & c2).
  auto kron_sign = [&](int j) {
    return [hk, j](int64_t r, int64_t c) {
      const int64_t mask = (int64_t(1) << j) - 1;
      const int s = (popcount64(uint64_t(r & c & mask)) & 1) ? -1 : 1;
      return hk != nullptr ? s * (hk->operator()(r >> j, c >> j) > 0 ? 1 : -1) : s;
    };
  };
  auto upload = [](DeviceBuffer<uint32_t>& dst, const std::vector<uint32_t>& v) {
    dst.resize(v.size());
    dst.upload(v.data(), v.size());
  };
  // The tensor-core mix kernel (hadamard_mix.cu): rows of n = A·64 mix A = K·2^(m-6)
  // blocks of 64 (then a 64-point Walsh–Hadamard); across heads the whole H_n mixes.
  if (m_ >= 6 && K_ * (int64_t(1) << (m_ - 6)) <= 256) {
    mix_rows_order_ = K_ << (m_ - 6);
    upload(mix_rows_, mma_fragments(mix_rows_order_, kron_sign(m_ - 6)));
  }
  if (n_ <= 256) upload(mix_full_, mma_fragments(n_, kron_sign(m_)));
  if (K_ == 1) return;
  // Plain ±1 bytes for the generic kernel (shapes the fragment kernel does not take).
  std::vector<int8_t> signs(size_t(K_ * K_));
  for (int64_t r = 0; r < K_; ++r)
    for (int64_t c = 0; c < K_; ++c) signs[size_t(r * K_ + c)] = (*hk)(r, c) > 0 ? 1 : -1;
  signs_.resize(signs.size());
  signs_.upload(signs.data(), signs.size());
  upload(frag_, mma_fragments(K_, [&](int64_t r, int64_t c) { return (*hk)(r, c) > 0 ? 1 : -1; }));
}

}  // namespace quarot::runner
