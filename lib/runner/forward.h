// One window's forward pass on the GPU and its mean NLL: the computation the
// LibTorch reference (lib/model/llama.cpp with QuaRot's quantizer hooks)
// simulates, done with int4 storage and integer GEMMs.
#pragma once

#include <cstdint>
#include <vector>

#include <cublas_v2.h>

#include "lib/runner/device_buffer.h"
#include "lib/runner/model.h"

namespace quarot::runner {

class WindowForward {
 public:
  WindowForward(const GpuModel& model, int64_t seqlen);
  ~WindowForward();
  WindowForward(const WindowForward&) = delete;
  WindowForward& operator=(const WindowForward&) = delete;

  // Mean NLL of ids[1..T-1] given their prefixes; ids has `seqlen` entries in [0, vocab).
  double window_nll(const int32_t* ids);

 private:
  void layer(int64_t l);
  double head();

  const GpuModel& m_;
  int T_;
  ActQuantSpec aq_;
  KvQuantParams kv_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  DeviceBuffer<int32_t> ids_;
  DeviceBuffer<float> h_, act_scale_, qkv_, q_, attn_, mlp_, rope_cos_, rope_sin_;
  DeviceBuffer<uint8_t> act_packed_, k_codes_, v_codes_, gemm_ws_;
  DeviceBuffer<float> k_scale_, k_zero_, v_scale_, v_zero_;
  DeviceBuffer<uint16_t> x16_;
  DeviceBuffer<float> logits_;
  DeviceBuffer<double> nll_;
  int64_t logit_rows_ = 0;
  std::vector<double> nll_host_;
};

}  // namespace quarot::runner
