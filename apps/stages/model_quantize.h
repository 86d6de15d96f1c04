// Quantizing every decoder linear of a model (lm_head stays in floating point,
// as in QuaRot): round-to-nearest, or GPTQ over calibration data.
//
// GPTQ runs layer by layer (the "true sequential" order of GPTQ
// and QuaRot): within a layer, q/k/v are quantized from their inputs first, then
// o_proj sees the attention computed with the quantized q/k/v, then gate/up, then
// down. The quantized layer's outputs are the next layer's inputs. Online
// Hadamards are active throughout (the Hessians are of what the linears will
// really multiply); activation quantization is not, as in QuaRot.
#pragma once

#include <ATen/core/Tensor.h>

#include "apps/stages/model_io.h"
#include "gptq/gptq.h"
#include "lib/io/manifest.h"
#include "lib/model/llama.h"

namespace quarot {

struct GptqRunOptions {
  GptqConfig gptq;
  int64_t batch = 8;  // calibration windows per forward pass
};

// RTN with the weight quantizer's clip search; replaces the weights of `m` by their
// dequantized values and returns the codes and scales of each linear.
QuantizedLinears rtn_model(LlamaModel& m, const WeightQuantConfig& cfg);

// Quantizes every decoder linear of `m` in place (weights become their dequantized
// values) and returns the codes and scales of each.
QuantizedLinears gptq_model(LlamaModel& m, const OnlineTransforms& online, const at::Tensor& calib_ids,
                            const GptqRunOptions& opt);

}  // namespace quarot
