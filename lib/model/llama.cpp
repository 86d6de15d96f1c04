#include "lib/model/llama.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "lib/core/error.h"
#include "lib/model/rope.h"

namespace quarot {

const char* site_name(Site s) {
  switch (s) {
    case Site::QKV: return "qkv";
    case Site::O: return "o_proj";
    case Site::GateUp: return "gate_up";
    case Site::Down: return "down_proj";
    case Site::LmHead: return "lm_head";
  }
  return "?";
}

std::string layer_prefix(int layer) { return "model.layers." + std::to_string(layer) + "."; }

std::vector<NamedLinear> decoder_linears(LlamaModel& m) {
  std::vector<NamedLinear> out;
  for (int i = 0; i < int(m.layers.size()); ++i) {
    DecoderLayer& L = m.layers[size_t(i)];
    const std::string p = layer_prefix(i);
    out.push_back({p + "self_attn.q_proj", i, Site::QKV, &L.q});
    out.push_back({p + "self_attn.k_proj", i, Site::QKV, &L.k});
    out.push_back({p + "self_attn.v_proj", i, Site::QKV, &L.v});
    out.push_back({p + "self_attn.o_proj", i, Site::O, &L.o});
    out.push_back({p + "mlp.gate_proj", i, Site::GateUp, &L.gate});
    out.push_back({p + "mlp.up_proj", i, Site::GateUp, &L.up});
    out.push_back({p + "mlp.down_proj", i, Site::Down, &L.down});
  }
  return out;
}

at::Tensor Linear::operator()(const at::Tensor& x) const {
  return bias.defined() ? at::linear(x, weight, bias) : at::linear(x, weight);
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  if (x.scalar_type() == at::kDouble) xf = x;
  at::Tensor var = xf.pow(2).mean(-1, /*keepdim=*/true);
  at::Tensor y = (xf * at::rsqrt(var + eps)).to(x.scalar_type());
  return weight.defined() ? weight * y : y;
}

at::ScalarType LlamaModel::dtype() const { return embed.scalar_type(); }
at::Device LlamaModel::device() const { return embed.device(); }

void LlamaModel::to(at::Device device, at::ScalarType dtype) {
  const bool was_tied = tied();
  auto conv = [&](at::Tensor& t) {
    if (t.defined()) t = t.to(device, dtype);
  };
  conv(embed);
  conv(final_norm);
  for (auto& l : layers) {
    for (at::Tensor* t : {&l.input_norm, &l.post_norm}) conv(*t);
    for (Linear* lin : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) {
      conv(lin->weight);
      conv(lin->bias);
    }
  }
  if (was_tied) {
    lm_head.weight = embed;
  } else {
    conv(lm_head.weight);
  }
  conv(lm_head.bias);
}

at::Tensor LlamaModel::embed_tokens(const at::Tensor& ids) const {
  QUAROT_CHECK(ids.dim() == 2, "token ids must be [batch, seq], got ", ids.dim(), " dims");
  QUAROT_CHECK(ids.numel() == 0 || (ids.min().item<int64_t>() >= 0 && ids.max().item<int64_t>() < config.vocab_size),
               "token id out of range [0, ", config.vocab_size, ")");
  return at::embedding(embed, ids.to(embed.device()));
}

namespace {

// Causal attention with GQA. Scores and softmax in float32 (float64 for float64
// models), as transformers' eager attention does. Two savings that change no
// result beyond rounding: the query heads that share a KV head are stacked into
// one matmul against that head (no copies of K and V), and queries go in blocks
// so that keys in the future of a whole block are never multiplied.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t groups) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3), KV = H / groups;
  const double scale = 1.0 / std::sqrt(double(D));
  const auto acc = q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  constexpr int64_t kBlock = 256;
  const at::Tensor qg = q.reshape({B, KV, groups, T, D});
  at::Tensor out = at::empty({B, KV, groups, T, D}, q.options());
  for (int64_t qs = 0; qs < T; qs += kBlock) {
    const int64_t L = std::min(kBlock, T - qs), keys = qs + L;
    at::Tensor qb = qg.narrow(3, qs, L).reshape({B, KV, groups * L, D});
    at::Tensor scores = at::matmul(qb, k.narrow(2, 0, keys).transpose(-2, -1)).mul_(scale).to(acc);
    // Query qs+i sees keys 0..qs+i.
    at::Tensor future = at::arange(keys, q.options().dtype(at::kLong)).unsqueeze(0) >
                        at::arange(qs, keys, q.options().dtype(at::kLong)).unsqueeze(1);
    scores.view({B, KV, groups, L, keys}).masked_fill_(future, -std::numeric_limits<double>::infinity());
    at::Tensor probs = at::softmax(scores, -1).to(q.scalar_type());
    out.narrow(3, qs, L).copy_(at::matmul(probs, v.narrow(2, 0, keys)).view({B, KV, groups, L, D}));
  }
  return out.view({B, H, T, D});
}

}  // namespace

at::Tensor LlamaModel::attention_heads(int i, const at::Tensor& x, ForwardHooks& hooks) const {
  const DecoderLayer& L = layers.at(size_t(i));
  const LlamaConfig& c = config;
  const int64_t B = x.size(0), T = x.size(1), H = c.num_attention_heads, KV = c.num_key_value_heads,
                D = c.head_dim;
  const RopeTables rope = rope_tables(c, T, x.scalar_type(), x.device());
  at::Tensor q = apply_rope(L.q(x).view({B, T, H, D}).transpose(1, 2), rope);
  at::Tensor k = apply_rope(L.k(x).view({B, T, KV, D}).transpose(1, 2), rope);
  at::Tensor v = L.v(x).view({B, T, KV, D}).transpose(1, 2);
  hooks.attention(i, q, k, v);
  return attention(q, k, v, H / KV).transpose(1, 2).reshape({B, T, H * D});
}

at::Tensor LlamaModel::layer_forward(int i, const at::Tensor& h, ForwardHooks& hooks) const {
  const DecoderLayer& L = layers.at(size_t(i));
  const double eps = config.rms_norm_eps;
  at::Tensor x = hooks.linear_input(i, Site::QKV, rms_norm(h, L.input_norm, eps));
  at::Tensor h2 = h + L.o(hooks.linear_input(i, Site::O, attention_heads(i, x, hooks)));
  x = hooks.linear_input(i, Site::GateUp, rms_norm(h2, L.post_norm, eps));
  at::Tensor m = at::silu(L.gate(x)) * L.up(x);
  return h2 + L.down(hooks.linear_input(i, Site::Down, m));
}

at::Tensor LlamaModel::head(const at::Tensor& h, ForwardHooks& hooks) const {
  const int last = int(layers.size());
  return lm_head(hooks.linear_input(last, Site::LmHead, rms_norm(h, final_norm, config.rms_norm_eps)));
}

at::Tensor LlamaModel::forward(const at::Tensor& ids, ForwardHooks& hooks) const {
  at::Tensor h = embed_tokens(ids);
  for (int i = 0; i < int(layers.size()); ++i) h = layer_forward(i, h, hooks);
  return head(h, hooks);
}

at::Tensor LlamaModel::forward(const at::Tensor& ids) const {
  ForwardHooks none;
  return forward(ids, none);
}

}  // namespace quarot
