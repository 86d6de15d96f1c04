// Loading a Hugging Face Llama checkpoint into LlamaModel.
#include <ATen/ATen.h>

#include "lib/core/error.h"
#include "lib/io/checkpoint.h"
#include "lib/model/llama.h"
#include "lib/model/tensor_bridge.h"

namespace fs = std::filesystem;

namespace quarot {
namespace {

class Loader {
 public:
  Loader(const fs::path& dir, at::ScalarType dtype, at::Device device, const LinearWeightReader& reader)
      : ck_(dir), dtype_(dtype), device_(device), reader_(reader) {}

  const Checkpoint& checkpoint() const { return ck_; }

  at::Tensor get(const std::string& name, std::vector<int64_t> shape) {
    QUAROT_CHECK(ck_.has(name), ck_.dir().string(), ": tensor ", name, " is missing");
    const TensorInfo& i = ck_.info(name);
    QUAROT_CHECK(i.shape == shape, ck_.dir().string(), ": tensor ", name, " has shape ", shape_str(i.shape),
                 ", the config implies ", shape_str(shape));
    QUAROT_CHECK(dtype_is_float(i.dtype), ck_.dir().string(), ": tensor ", name, " has non-float dtype ",
                 dtype_name(i.dtype));
    return tensor_from_bytes(ck_.data(name), i.dtype, i.shape).to(device_, dtype_);
  }

  at::Tensor get_if(bool present, const std::string& name, std::vector<int64_t> shape) {
    return present ? get(name, std::move(shape)) : at::Tensor();
  }

  Linear linear(const std::string& name, int64_t out, int64_t in, bool bias) {
    Linear l;
    l.weight = reader_(ck_, name, out, in).to(device_, dtype_);
    QUAROT_ASSERT(l.weight.sizes() == at::IntArrayRef({out, in}), "reader returned the wrong shape for ", name);
    l.bias = get_if(bias, name + ".bias", {out});
    return l;
  }

 private:
  Checkpoint ck_;
  at::ScalarType dtype_;
  at::Device device_;
  const LinearWeightReader& reader_;
};

}  // namespace

at::Tensor read_dense_linear_weight(const Checkpoint& ck, const std::string& name, int64_t out, int64_t in) {
  const std::string w = name + ".weight";
  QUAROT_CHECK(ck.has(w), ck.dir().string(), ": tensor ", w, " is missing",
               ck.has(name + ".qweight") || ck.has(name + ".weight_int") ? " (this checkpoint is quantized)" : "");
  const TensorInfo& i = ck.info(w);
  QUAROT_CHECK(i.shape == std::vector<int64_t>({out, in}), ck.dir().string(), ": tensor ", w, " has shape ",
               shape_str(i.shape), ", the config implies [", out, ", ", in, "]");
  QUAROT_CHECK(dtype_is_float(i.dtype), ck.dir().string(), ": tensor ", w, " has non-float dtype ", dtype_name(i.dtype));
  return tensor_from_bytes(ck.data(w), i.dtype, i.shape);
}

LlamaModel load_llama(const fs::path& dir, at::ScalarType dtype, at::Device device, const LinearWeightReader& reader) {
  LlamaModel m;
  m.config = LlamaConfig::load(dir / "config.json");
  const LlamaConfig& c = m.config;
  Loader ld(dir, dtype, device, reader);
  const int64_t d = c.hidden_size, f = c.intermediate_size, qd = c.num_attention_heads * c.head_dim,
                kvd = c.num_key_value_heads * c.head_dim;
  // Tied checkpoints normally keep only the embedding, but some writers keep only
  // lm_head.weight instead (tinystories-656k does): either one is the shared matrix.
  const bool embed_from_head = c.tie_word_embeddings && !ld.checkpoint().has("model.embed_tokens.weight") &&
                               ld.checkpoint().has("lm_head.weight");
  m.embed = ld.get(embed_from_head ? "lm_head.weight" : "model.embed_tokens.weight", {c.vocab_size, d});
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = layer_prefix(i);
    DecoderLayer L;
    L.input_norm = ld.get(p + "input_layernorm.weight", {d});
    L.post_norm = ld.get(p + "post_attention_layernorm.weight", {d});
    L.q = ld.linear(p + "self_attn.q_proj", qd, d, c.qkv_bias);
    L.k = ld.linear(p + "self_attn.k_proj", kvd, d, c.qkv_bias);
    L.v = ld.linear(p + "self_attn.v_proj", kvd, d, c.qkv_bias);
    L.o = ld.linear(p + "self_attn.o_proj", d, qd, c.o_bias);
    L.gate = ld.linear(p + "mlp.gate_proj", f, d, c.mlp_bias);
    L.up = ld.linear(p + "mlp.up_proj", f, d, c.mlp_bias);
    L.down = ld.linear(p + "mlp.down_proj", d, f, c.mlp_bias);
    m.layers.push_back(std::move(L));
  }
  m.final_norm = ld.get("model.norm.weight", {d});
  if (c.tie_word_embeddings) {
    // A tied checkpoint has no lm_head tensor; some writers include one anyway.
    m.lm_head.weight = m.embed;
  } else {
    m.lm_head = ld.linear("lm_head", c.vocab_size, d, false);
  }
  return m;
}

}  // namespace quarot
