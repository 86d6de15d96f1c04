// A packed checkpoint on the GPU: int4 weights, rearranged into the GEMM layout (q/k/v and
// gate/up concatenated so each pair of sites is one GEMM), fp16 embeddings and
// lm_head, norm scales as float.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "lib/io/config.h"
#include "lib/io/manifest.h"
#include "lib/runner/device_buffer.h"
#include "lib/runner/kernels.h"
#include "lib/runner/support.h"

namespace quarot::runner {

// K is the input size padded to a multiple of 32 (ModelShape::pad32; zero codes in
// the padding); N counts the rows as uploaded (gate_up: 2 * inter_pad).
struct PackedLinear {
  DeviceBuffer<uint8_t> w;    // the GEMM layout of [N, K/2] (kernels.h, w4a4_tile_weights)
  DeviceBuffer<float> scale;  // [N]
  DeviceBuffer<float> bias;   // [N] or empty
  int N = 0, K = 0;
  const float* bias_or_null() const { return bias.size() ? bias.get() : nullptr; }
};

struct LayerWeights {
  DeviceBuffer<float> in_norm, post_norm;
  PackedLinear qkv;      // rows: q, then k, then v
  PackedLinear o;
  PackedLinear gate_up;  // gate and up padded to inter_pad rows each, interleaved (interleaved_gate_up_source)
  PackedLinear down;
};

struct GpuModel {
  LlamaConfig config;
  Manifest manifest;
  ModelShape shape;
  DeviceBuffer<uint16_t> embed;    // fp16 [vocab, d]
  DeviceBuffer<uint16_t> lm_head;  // fp16 [vocab, d]
  DeviceBuffer<float> final_norm;
  std::vector<LayerWeights> layers;
  HadamardDevice had_down;   // intermediate size, when online.down_proj_input
  HadamardDevice had_heads;  // num_attention_heads, when online.o_proj_heads

  // Reads config.json, quarot.json and the weights of `dir`, checks every tensor's
  // dtype and shape, and uploads. Throws quarot::Error naming the file and tensor.
  static GpuModel load(const std::filesystem::path& dir, bool progress);
};

}  // namespace quarot::runner
