// HadamardDevice: the K×K factor of quarot_hadamard's H_n laid out as
// mma.m16n8k16 A-operand fragments (fp16 ±1, zero-padded to a multiple of 16),
// and as plain signed bytes for the generic kernel.
// Built on the host (Eigen stays out of the .cu files).
#include <vector>

#include "lib/core/error.h"
#include "lib/runner/kernels.h"
#include "rotate/hadamard.h"

namespace quarot::runner {

HadamardDevice::HadamardDevice(int64_t n) : n_(n) {
  const hadamard::Plan plan = hadamard::factor(n);
  K_ = plan.K;
  m_ = plan.m;
  QUAROT_CHECK(K_ <= 256, "online Hadamard of size ", n, " needs a ", K_, "x", K_,
               " factor; the CUDA runner supports K <= 256");
  if (K_ == 1) return;
  const hadamard::SignMatrix& hk = hadamard::base_matrix(K_);
  // Plain ±1 bytes for the generic kernel (shapes the fragment kernel does not take).
  std::vector<int8_t> signs(size_t(K_ * K_));
  for (int64_t r = 0; r < K_; ++r)
    for (int64_t c = 0; c < K_; ++c) signs[size_t(r * K_ + c)] = hk(r, c) > 0 ? 1 : -1;
  signs_.resize(signs.size());
  signs_.upload(signs.data(), signs.size());
  // Tile (at, kt), lane (g, t) holds {(g, 2t..2t+1), (g+8, 2t..2t+1), (g, 2t+8..2t+9),
  // (g+8, 2t+8..2t+9)} of the 16×16 tile, lower column in the low half.
  const int64_t KT = (K_ + 15) / 16;
  std::vector<uint32_t> frag(size_t(KT * KT * 32 * 4));
  auto h16 = [&](int64_t r, int64_t c) -> uint32_t {
    if (r >= K_ || c >= K_) return 0;
    return hk(r, c) > 0 ? 0x3C00u : 0xBC00u;  // fp16 +1 / -1
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
  frag_.resize(frag.size());
  frag_.upload(frag.data(), frag.size());
}

}  // namespace quarot::runner
