#include "rotate/rotate_model.h"

#include <ATen/ATen.h>

#include "lib/core/error.h"
#include "rotate/fuse_norms.h"
#include "rotate/hadamard_torch.h"
#include "rotate/orthogonal.h"

namespace quarot {
namespace {

// Applies the normalized Hadamard (x·Hᵀ) to each `block`-sized run of the last dim.
at::Tensor hadamard_blocks(const at::Tensor& x, int64_t block) {
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() /= block;
  shape.push_back(block);
  return apply_hadamard(x.reshape(shape)).reshape(x.sizes());
}

// Across heads: x [..., H*D] viewed as [..., H, D], Hadamard of size H on the H axis.
at::Tensor hadamard_across_heads(const at::Tensor& x, int64_t H, int64_t D) {
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end() - 1);
  shape.push_back(H);
  shape.push_back(D);
  return apply_hadamard(x.reshape(shape).transpose(-1, -2).contiguous()).transpose(-1, -2).reshape(x.sizes());
}

}  // namespace

at::Tensor residual_rotation(int64_t hidden, const RotationOptions& opt) {
  if (opt.mode == "hadamard") return randomized_hadamard(hidden, opt.seed);
  QUAROT_CHECK(opt.mode == "random", "--mode: unknown rotation '", opt.mode, "' (expected hadamard or random)");
  return random_orthogonal(hidden, opt.seed);
}

OnlineTransforms rotate_model(LlamaModel& m, const RotationOptions& opt) {
  QUAROT_CHECK(m.dtype() == at::kDouble, "rotate_model: the model must be float64 while it is rotated");
  QUAROT_CHECK(norms_are_fused(m), "rotate: the RMSNorm scales are not fused (run `quarot-convert fuse` first)");
  const LlamaConfig& c = m.config;
  const int64_t H = c.num_attention_heads, D = c.head_dim;
  const at::Tensor Q = residual_rotation(c.hidden_size, opt).to(m.device());

  // Readers of the stream: W' = W·Q. Writers: W' = Qᵀ·W, b' = b·Q.
  m.embed = at::matmul(m.embed, Q);
  auto read = [&](Linear& l) { l.weight = at::matmul(l.weight, Q); };
  auto write = [&](Linear& l) {
    l.weight = at::matmul(Q.t(), l.weight);
    if (l.bias.defined()) l.bias = at::matmul(l.bias, Q);
  };
  for (DecoderLayer& L : m.layers) {
    for (Linear* l : {&L.q, &L.k, &L.v, &L.gate, &L.up}) read(*l);
    write(L.o);
    write(L.down);
    if (opt.online_o) {
      // v' = v·H_Dᵀ per head: W_v' = (W_vᵀ per-head-rotated)ᵀ, b_v likewise.
      L.v.weight = hadamard_blocks(L.v.weight.t(), D).t().contiguous();
      if (L.v.bias.defined()) L.v.bias = hadamard_blocks(L.v.bias, D);
      // o_proj's input now arrives as f(a) = heads(a·H_Dᵀ); W_o' = W_o·M has rows f(w).
      L.o.weight = hadamard_across_heads(hadamard_blocks(L.o.weight, D), H, D);
    }
    if (opt.online_down) L.down.weight = apply_hadamard(L.down.weight);
  }
  read(m.lm_head);
  OnlineTransforms online;
  online.o_proj_heads = opt.online_o;
  online.down_proj_input = opt.online_down;
  online.qk_post_rope = opt.online_qk;
  return online;
}

}  // namespace quarot
