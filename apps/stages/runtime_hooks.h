// The run-time half of QuaRot in the LibTorch simulation: the online Hadamard
// transforms the manifest records, then fake quantization of each linear's
// input (per token) and of K/V (per token and head), exactly where the CUDA
// runner quantizes for real.
#pragma once

#include <functional>

#include "lib/io/manifest.h"
#include "lib/model/llama.h"

namespace quarot {

// Applies the online transform of `site` (none for QKV, GateUp, LmHead).
at::Tensor online_transform(const OnlineTransforms& online, const LlamaConfig& cfg, Site site, const at::Tensor& x);

class QuarotHooks : public ForwardHooks {
 public:
  QuarotHooks(const LlamaConfig& cfg, const OnlineTransforms& online, const ActQuant& act, const KvQuant& kv);

  at::Tensor linear_input(int layer, Site site, const at::Tensor& x) override;
  void attention(int layer, at::Tensor& q, at::Tensor& k, at::Tensor& v) override;

  // Sees each linear input after its online transform and before quantization
  // (what GPTQ's Hessians are built from).
  std::function<void(int layer, Site site, const at::Tensor& x)> observer;

 private:
  LlamaConfig cfg_;  // a copy: the hooks outlive moves of the model
  OnlineTransforms online_;
  ActQuant act_;
  KvQuant kv_;
};

}  // namespace quarot
