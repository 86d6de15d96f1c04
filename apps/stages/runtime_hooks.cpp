#include "apps/stages/runtime_hooks.h"

#include <ATen/ATen.h>

#include "quantize/act_quantizer.h"
#include "rotate/hadamard_torch.h"

namespace quarot {

at::Tensor online_transform(const OnlineTransforms& online, const LlamaConfig& cfg, Site site, const at::Tensor& x) {
  if (site == Site::Down && online.down_proj_input) return apply_hadamard(x);
  if (site == Site::O && online.o_proj_heads) {
    // The head_dim half of o_proj's Hadamard rides on v_proj (fused offline); only
    // the mix across heads is left for run time.
    const int64_t H = cfg.num_attention_heads, D = cfg.head_dim;
    std::vector<int64_t> split(x.sizes().begin(), x.sizes().end() - 1);
    split.push_back(H);
    split.push_back(D);
    at::Tensor t = apply_hadamard(x.reshape(split).transpose(-1, -2).contiguous());
    return t.transpose(-1, -2).reshape(x.sizes());
  }
  return x;
}

QuarotHooks::QuarotHooks(const LlamaConfig& cfg, const OnlineTransforms& online, const ActQuant& act, const KvQuant& kv)
    : cfg_(cfg), online_(online), act_(act), kv_(kv) {}

at::Tensor QuarotHooks::linear_input(int layer, Site site, const at::Tensor& x) {
  at::Tensor t = online_transform(online_, cfg_, site, x);
  if (observer) observer(layer, site, t);
  // QuaRot keeps lm_head's input in 16 bits.
  if (site == Site::LmHead || act_.bits >= 16) return t;
  ActQuantConfig c;
  c.bits = act_.bits;
  c.clip_ratio = act_.clip_ratio;
  c.group_size = act_.groupsize;
  c.asymmetric = !act_.symmetric;
  return fake_quant_activation(t, c);
}

void QuarotHooks::attention(int layer, at::Tensor& q, at::Tensor& k, at::Tensor& v) {
  if (online_.qk_post_rope) {
    q = apply_hadamard(q);
    k = apply_hadamard(k);
  }
  // [B, KV, T, D]: the last dim is one head of one token, so group = head_dim.
  auto quant = [&](at::Tensor& t, int bits) {
    if (bits >= 16) return;
    KvQuantConfig c;
    c.bits = bits;
    c.clip_ratio = kv_.clip_ratio;
    c.group_size = 0;
    t = fake_quant_kv(t, c);
  };
  quant(k, kv_.k_bits);
  quant(v, kv_.v_bits);
}

}  // namespace quarot
