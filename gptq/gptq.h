// GPTQ (Frantar et al. 2022) for one linear layer: quantizes the columns of
// W [out, in] one at a time in the order of the proxy Hessian H (gptq/hessian.h),
// spreading each column's rounding error over the columns not yet quantized
// through the upper Cholesky factor of H^-1. Columns are processed in blocks with
// lazy updates of the rest of W. The grids come from the weight quantizer
// (quantize/weight_quantizer.h, clip search included):
//   ungrouped:      one grid per row, from the whole W before the loop;
//   grouped:        one grid per row and group, from the group's columns as they
//                   stand (already updated) when the loop reaches the group's first
//                   column; with act_order a group is `group_size` consecutive
//                   columns in processing order, so the result carries g_idx;
//   static_groups:  grids from the original W's contiguous groups before the loop.
// Blocks never straddle a group (the block size is rounded to a multiple of the
// group size), so every grid sees fully updated columns, as the unblocked
// algorithm would.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>

#include "quantize/weight_quantizer.h"

namespace quarot {

struct GptqConfig {
  WeightQuantConfig quant;
  double percdamp = 0.01;      // damping = percdamp * mean(diag H)
  int max_damp_retries = 3;    // each retry multiplies the damping by 10
  int64_t block_size = 128;
  bool act_order = false;      // columns by descending diag(H)
  bool static_groups = false;
  at::ScalarType compute_dtype = at::kFloat;  // kDouble for reference checks
};

struct GptqResult {
  QuantizedWeight weight;  // in the original column order
  // GPTQ's loss: sum over columns j of |w_j - q_j|^2 / (2 U_jj^2), U the factor of H^-1.
  double error = 0;
  double damp = 0;         // damping used, as a fraction of mean(diag H)
  int damp_retries = 0;    // > 0 when H needed more damping than asked for
  std::string warning;     // says so, naming the layer; empty otherwise
  int64_t dead_columns = 0;  // columns with H_jj = 0 (never active), quantized as 0
  at::Tensor perm;         // act_order: processing position -> original column
};

// W: [out, in] floating, CPU or CUDA (the work runs on W's device). H: [in, in]
// (any floating dtype/device), e.g. HessianAccumulator::hessian(). `name` names
// the layer in messages. Throws quarot::Error on bad shapes/config, non-finite
// input, or when H stays singular after all damping retries.
GptqResult gptq_quantize(const at::Tensor& W, const at::Tensor& H, const GptqConfig& cfg,
                         const std::string& name = "weight");

}  // namespace quarot
