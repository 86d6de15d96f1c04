#include "lib/runner/support.h"

#include <optional>

#include "lib/core/error.h"
#include "rotate/hadamard.h"

namespace quarot::runner {

std::string packed_linear_name(int64_t layer, const std::string& linear) {
  return "model.layers." + std::to_string(layer) + "." + linear;
}

ModelShape check_runner_support(const LlamaConfig& cfg, const Manifest& man, const std::string& dir) {
  const std::string mf = dir + "/quarot.json", cf = dir + "/config.json";
  const WeightQuant& w = man.weights;
  QUAROT_CHECK(w.format == "int4-packed", mf, ": weights.format is '", w.format,
               "'; the CUDA runner reads only 'int4-packed' checkpoints (the output of the pack stage)");
  QUAROT_CHECK(w.bits >= 2 && w.bits <= 4, mf, ": weights.bits = ", w.bits, " does not fit int4 codes (2..4)");
  QUAROT_CHECK(w.symmetric, mf, ": weights.symmetric = false; the CUDA runner needs symmetric weights");
  QUAROT_CHECK(w.groupsize == 0, mf, ": weights.groupsize = ", w.groupsize,
               "; the CUDA runner supports only per-channel weight scales (groupsize 0)");
  const quarot::ActQuant& a = man.activations;
  QUAROT_CHECK(a.bits >= 2 && a.bits <= 4, mf, ": activations.bits = ", a.bits,
               "; the CUDA runner computes W4A4 and needs activations.bits in 2..4");
  QUAROT_CHECK(a.groupsize == 0, mf, ": activations.groupsize = ", a.groupsize,
               "; the CUDA runner quantizes activations per token only (groupsize 0)");
  QUAROT_CHECK(a.symmetric, mf, ": activations.symmetric = false; the CUDA runner needs symmetric activations");
  const quarot::KvQuant& kv = man.kv;
  QUAROT_CHECK(kv.k_bits >= 2 && kv.k_bits <= 4, mf, ": kv_cache.k_bits = ", kv.k_bits,
               "; the CUDA runner's KV cache holds 2..4-bit codes");
  QUAROT_CHECK(kv.v_bits >= 2 && kv.v_bits <= 4, mf, ": kv_cache.v_bits = ", kv.v_bits,
               "; the CUDA runner's KV cache holds 2..4-bit codes");
  QUAROT_CHECK(!kv.symmetric, mf, ": kv_cache.symmetric = true; the CUDA runner implements the asymmetric "
               "(integer zero point) KV quantizer only");

  ModelShape s;
  s.d = cfg.hidden_size;
  s.heads = cfg.num_attention_heads;
  s.kv_heads = cfg.num_key_value_heads;
  s.head_dim = cfg.head_dim;
  s.inter = cfg.intermediate_size;
  s.layers = cfg.num_hidden_layers;
  s.vocab = cfg.vocab_size;
  QUAROT_CHECK(s.head_dim >= 2 && s.head_dim <= 256 && s.head_dim % 2 == 0, cf, ": head_dim = ", s.head_dim,
               "; the CUDA runner supports even head_dim from 2 to 256");
  QUAROT_CHECK(!man.online.qk_post_rope || (s.head_dim & (s.head_dim - 1)) == 0, cf, ": head_dim = ", s.head_dim,
               " is not a power of two, but online.qk_post_rope in ", mf,
               " asks for the Hadamard of head_dim on Q and K; the CUDA runner applies only the Walsh-Hadamard "
               "transform (powers of two) there");
  QUAROT_CHECK(s.kv_heads >= 1 && s.heads % s.kv_heads == 0, cf, ": num_attention_heads = ", s.heads,
               " is not a multiple of num_key_value_heads = ", s.kv_heads);
  QUAROT_CHECK(s.d % 16 == 0, cf, ": hidden_size = ", s.d,
               " must be a multiple of 16 (the output tile of the int4 GEMMs)");
  QUAROT_CHECK(s.qkv_rows() % 16 == 0, cf, ": (num_attention_heads + 2 * num_key_value_heads) * head_dim = ",
               s.qkv_rows(), " must be a multiple of 16 (the output tile of the int4 GEMMs)");
  QUAROT_CHECK(s.inter >= 2 && s.inter % 2 == 0, cf, ": intermediate_size = ", s.inter,
               " must be even (int4 codes are packed in pairs)");
  QUAROT_CHECK(s.layers >= 1 && s.vocab >= 1, cf, ": needs at least one layer and one vocabulary entry");
  if (man.online.down_proj_input) {
    const std::optional<hadamard::Plan> p = hadamard::try_factor(s.inter);
    QUAROT_CHECK(p.has_value(), cf, ": intermediate_size = ", s.inter, " has no Hadamard construction, which ",
                 "online.down_proj_input in ", mf, " needs");
    QUAROT_CHECK(p->K <= 256, cf, ": intermediate_size = ", s.inter, " = ", p->K, " * 2^", p->m,
                 ": online.down_proj_input in ", mf, " needs this Hadamard; the CUDA runner supports K <= 256");
  }
  if (man.online.o_proj_heads) {
    const std::optional<hadamard::Plan> p = hadamard::try_factor(s.heads);
    QUAROT_CHECK(p.has_value() && p->K <= 256, cf, ": num_attention_heads = ", s.heads,
                 ": online.o_proj_heads in ", mf, " needs a Hadamard of that size with K <= 256 (K * 2^m)");
  }
  return s;
}

}  // namespace quarot::runner
