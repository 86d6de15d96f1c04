// The model rotation of QuaRot, on a norm-fused float64 model:
//  - the residual stream by an orthogonal Q (randomized Hadamard, or random
//    orthogonal): embeddings and every linear that writes the stream (o, down)
//    on their output side, every linear that reads it (q, k, v, gate, up, lm_head)
//    on their input side;
//  - a Hadamard of head_dim on each head of v_proj's output, undone inside o_proj
//    together with a Hadamard across heads that runs online on o_proj's input;
//  - a Hadamard of the intermediate size on down_proj's input: online, with its
//    transpose fused into down_proj;
//  - a Hadamard of head_dim on Q and K after RoPE (online only: it cancels in QKᵀ),
//    so the KV cache is stored rotated.
// The function the model computes is unchanged once the online transforms run.
#pragma once

#include <cstdint>
#include <string>

#include "lib/io/manifest.h"
#include "lib/model/llama.h"

namespace quarot {

struct RotationOptions {
  std::string mode = "hadamard";  // or "random"
  uint64_t seed = 0;
  bool online_down = true, online_o = true, online_qk = true;
};

// Rotates `m` (float64, fused) in place; returns the online transforms the
// evaluator must now apply.
OnlineTransforms rotate_model(LlamaModel& m, const RotationOptions& opt);

// Q itself ([hidden, hidden], float64): the stream is carried as h·Q.
at::Tensor residual_rotation(int64_t hidden, const RotationOptions& opt);

}  // namespace quarot
