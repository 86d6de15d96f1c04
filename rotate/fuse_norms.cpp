#include "rotate/fuse_norms.h"

#include <ATen/ATen.h>

namespace quarot {
namespace {

// y = (x̂ ⊙ g) Wᵀ = x̂ (W diag g)ᵀ: scale the input columns of W.
void fold(at::Tensor& norm, std::initializer_list<Linear*> readers) {
  for (Linear* l : readers) l->weight = l->weight * norm.unsqueeze(0);
  norm = at::ones_like(norm);
}

}  // namespace

void fuse_norms(LlamaModel& m) {
  if (m.tied()) m.lm_head.weight = m.embed.clone();
  m.config.tie_word_embeddings = false;
  for (DecoderLayer& L : m.layers) {
    fold(L.input_norm, {&L.q, &L.k, &L.v});
    fold(L.post_norm, {&L.gate, &L.up});
  }
  fold(m.final_norm, {&m.lm_head});
}

bool norms_are_fused(const LlamaModel& m) {
  auto ones = [](const at::Tensor& t) { return at::equal(t, at::ones_like(t)); };
  if (!ones(m.final_norm)) return false;
  for (const DecoderLayer& L : m.layers)
    if (!ones(L.input_norm) || !ones(L.post_norm)) return false;
  return true;
}

}  // namespace quarot
