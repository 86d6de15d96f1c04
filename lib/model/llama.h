// A Llama-family decoder in LibTorch, shaped for what the QuaRot stages need:
// weights are plain tensors that stages replace; each linear's input, and Q/K/V
// after RoPE, pass through ForwardHooks (online Hadamards, fake quantizers,
// GPTQ's input capture); and a decoder layer can run alone on captured inputs.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "lib/io/config.h"

namespace quarot {

struct Linear {
  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined
  at::Tensor operator()(const at::Tensor& x) const;
};

struct DecoderLayer {
  at::Tensor input_norm, post_norm;  // RMSNorm scales [hidden]
  Linear q, k, v, o, gate, up, down;
};

// Where a hook sees an activation. q/k/v share one input, as do gate/up.
enum class Site { QKV, O, GateUp, Down, LmHead };
const char* site_name(Site s);

class ForwardHooks {
 public:
  virtual ~ForwardHooks() = default;
  // The input of the linear(s) at `site`, after RMSNorm where there is one. Returns what the
  // linear actually multiplies: an online transform and/or a fake quantizer may apply here.
  virtual at::Tensor linear_input(int layer, Site site, const at::Tensor& x) { return x; }
  // Q [B, H, T, D] and K, V [B, KV, T, D], Q and K after RoPE: what is stored in (and read
  // back from) the KV cache.
  virtual void attention(int layer, at::Tensor& q, at::Tensor& k, at::Tensor& v) {}
};

struct LlamaModel {
  LlamaConfig config;
  at::Tensor embed;       // [vocab, hidden]
  std::vector<DecoderLayer> layers;
  at::Tensor final_norm;  // [hidden]
  Linear lm_head;         // weight aliases `embed` while tied
  bool tied() const { return lm_head.weight.is_same(embed); }

  at::ScalarType dtype() const;
  at::Device device() const;
  void to(at::Device device, at::ScalarType dtype);

  // Pieces of the forward pass, so calibration can run one layer at a time.
  at::Tensor embed_tokens(const at::Tensor& ids) const;  // [B, T] int64 -> [B, T, hidden]
  at::Tensor layer_forward(int i, const at::Tensor& h, ForwardHooks& hooks) const;
  // Layer i's attention from its (normalized, hooked) input x to the concatenated
  // heads [B, T, H*D] that o_proj reads; GPTQ steps through a layer with it.
  at::Tensor attention_heads(int i, const at::Tensor& x, ForwardHooks& hooks) const;
  at::Tensor head(const at::Tensor& h, ForwardHooks& hooks) const;  // final norm + lm_head
  at::Tensor forward(const at::Tensor& ids, ForwardHooks& hooks) const;
  at::Tensor forward(const at::Tensor& ids) const;
};

// RMSNorm as transformers computes it: statistics in float32, result cast back,
// then scaled (an undefined `weight` skips the scale).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

class Checkpoint;
// Reads the float weight [out, in] of linear `name` ("model.layers.0.mlp.up_proj").
using LinearWeightReader =
    std::function<at::Tensor(const Checkpoint& ck, const std::string& name, int64_t out, int64_t in)>;
// The Hugging Face way: the float tensor `<name>.weight`.
at::Tensor read_dense_linear_weight(const Checkpoint& ck, const std::string& name, int64_t out, int64_t in);

// Loads a Hugging Face checkpoint directory (config.json + safetensors, sharded or
// not) converting every tensor to `dtype` on `device`. Quantized checkpoints pass
// quantize/'s reader of integer codes and scales.
LlamaModel load_llama(const std::filesystem::path& dir, at::ScalarType dtype, at::Device device,
                      const LinearWeightReader& reader = read_dense_linear_weight);

// Standard tensor names of the Hugging Face layout.
std::string layer_prefix(int layer);

// The decoder's linears with their checkpoint names ("model.layers.3.mlp.down_proj"),
// in execution order; lm_head is not among them (QuaRot keeps it in 16 bits).
struct NamedLinear {
  std::string name;
  int layer;
  Site site;
  Linear* linear;
};
std::vector<NamedLinear> decoder_linears(LlamaModel& m);

}  // namespace quarot
