// The GPTQ proxy Hessian of one linear layer, H = 2 X^T X / n over all calibration
// rows seen so far, kept as a running mean so that it stays O(1) in magnitude
// however many batches arrive. Only its direction matters to GPTQ (damping is
// relative), but the running mean keeps float32 accumulation well scaled.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace quarot {

class HessianAccumulator {
 public:
  // columns: the layer's input features. dtype: kFloat (GPTQ's choice) or kDouble.
  HessianAccumulator(int64_t columns, at::Device device = at::kCPU,
                     at::ScalarType dtype = at::kFloat);

  // x: [..., columns], any floating dtype and device; flattened to rows (tokens).
  void add_batch(const at::Tensor& x);

  const at::Tensor& hessian() const { return h_; }
  int64_t rows() const { return rows_; }
  int64_t columns() const { return h_.size(0); }

 private:
  at::Tensor h_;
  int64_t rows_ = 0;
};

}  // namespace quarot
