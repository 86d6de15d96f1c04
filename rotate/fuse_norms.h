// Norm fusion: fold each RMSNorm's scale into the linears that read the norm's
// output, leaving weightless norms (scales of one). Afterwards the residual
// stream can be rotated: RMSNorm without a scale commutes with any orthogonal Q.
#pragma once

#include "lib/model/llama.h"

namespace quarot {

// Unties lm_head from the embedding first (they are rotated on different sides
// later on). Exact in exact arithmetic; run it on a float64 model.
void fuse_norms(LlamaModel& m);

// True when every RMSNorm scale is exactly one.
bool norms_are_fused(const LlamaModel& m);

}  // namespace quarot
