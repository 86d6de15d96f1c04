#include "gptq/hessian.h"

#include "lib/core/error.h"

namespace quarot {

HessianAccumulator::HessianAccumulator(int64_t columns, at::Device device, at::ScalarType dtype) {
  QUAROT_CHECK(columns > 0, "Hessian: column count must be positive, got ", columns);
  QUAROT_CHECK(dtype == at::kFloat || dtype == at::kDouble,
               "Hessian: accumulation dtype must be float32 or float64, got ", dtype);
  h_ = at::zeros({columns, columns}, at::TensorOptions().dtype(dtype).device(device));
}

void HessianAccumulator::add_batch(const at::Tensor& x) {
  const int64_t cols = h_.size(0);
  QUAROT_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == cols, "Hessian: calibration input ",
               x.defined() ? x.sizes() : at::IntArrayRef{}, " does not end in ", cols, " features");
  QUAROT_CHECK(at::isFloatingType(x.scalar_type()), "Hessian: calibration input must be floating point");
  at::Tensor r = x.reshape({-1, cols}).to(h_.device(), h_.scalar_type());
  const int64_t m = r.size(0);
  if (m == 0) return;
  const double total = double(rows_) + double(m);
  // H_new = H * n / (n + m) + 2 / (n + m) * R^T R
  h_.mul_(double(rows_) / total);
  h_.addmm_(r.t(), r, 1.0, 2.0 / total);
  rows_ += m;
}

}  // namespace quarot
