// Round-to-nearest weight quantization of a linear layer's W [out, in]: one scale
// (and, asymmetric, one zero point) per output row, or per row and group of
// `group_size` consecutive input columns.
//
//   symmetric:  maxq = 2^(b-1) - 1, scale = r * max|w| / maxq,
//               code = clamp(round(w / scale), -(maxq + 1), maxq)        (int8)
//               w'   = scale * code
//   asymmetric: maxq = 2^b - 1, lo = r * min(min w, 0), hi = r * max(max w, 0),
//               scale = (hi - lo) / maxq, zero = round(-lo / scale)      (integer)
//               code = clamp(round(w / scale) + zero, 0, maxq)           (uint8)
//               w'   = scale * (code - zero)
//
// r is the clip ratio: 1 without clip search; with it, each row (group) takes the
// ratio of the grid 1, 1 - 1/grid, ... (floor(max_shrink * grid) candidates) that
// minimises sum |w' - w|^norm, ties going to the larger ratio. Rows (groups) that
// are all zero get scale 1 and zero point 0, so their codes are 0 and nothing is
// NaN. Scales are rounded to `scale_dtype` before the codes are computed, so codes,
// scales and the dequantized weight always agree exactly.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace quarot {

struct WeightQuantConfig {
  int bits = 4;                // 2..8
  int64_t group_size = 0;      // 0: one group per row; else must divide `in`
  bool asymmetric = false;
  bool clip_search = false;    // QuaRot's w_clip / GPTQ's "mse" search
  int clip_grid = 100;
  double clip_max_shrink = 0.8;  // ratios from 1.0 down to 1 - 0.79 = 0.21 at grid 100
  double clip_norm = 2.4;
  at::ScalarType scale_dtype = at::kFloat;  // kFloat or kHalf
};

// Validates cfg; `what` names the option set in messages (e.g. "--w-bits").
void check_weight_quant_config(const WeightQuantConfig& cfg, const char* what = "weight quantizer");

// Per-row quantization grid in the compute dtype, shapes [rows, 1]. `zero` is
// integer valued and only defined for asymmetric grids.
struct RowGrid {
  at::Tensor scale;
  at::Tensor zero;
};

// Finds the grid of every row of x [rows, n] (float32 or float64) under cfg
// (bits, asymmetric, clip search, scale_dtype; group_size is ignored: the caller
// reshapes groups into rows).
RowGrid find_row_grid(const at::Tensor& x, const WeightQuantConfig& cfg);

// Integer codes (in x's dtype) of x [rows, n] on the grid (broadcast over columns).
at::Tensor quantize_on_grid(const at::Tensor& x, const RowGrid& g, int bits, bool asymmetric);
// Values of codes q on the grid, in q's dtype.
at::Tensor dequantize_on_grid(const at::Tensor& q, const RowGrid& g, bool asymmetric);
// Both at once: the value of x rounded onto the grid.
at::Tensor fake_quantize_on_grid(const at::Tensor& x, const RowGrid& g, int bits, bool asymmetric);

struct QuantizedWeight {
  at::Tensor codes;        // [out, in]: int8 (symmetric) or uint8 (asymmetric)
  at::Tensor scales;       // [out, groups] in cfg.scale_dtype (groups = 1 when ungrouped)
  at::Tensor zeros;        // [out, groups] uint8, asymmetric only
  at::Tensor g_idx;        // [in] int64 group of each column; undefined: column / group_size
  at::Tensor dequantized;  // [out, in] in the input weight's dtype
  int bits = 0;
  int64_t group_size = 0;  // 0: ungrouped
  bool asymmetric = false;
};

// Quantizes W [out, in] (any floating dtype, CPU or CUDA); computes in float32.
// `name` names the tensor in error messages.
QuantizedWeight quantize_weight(const at::Tensor& W, const WeightQuantConfig& cfg,
                                const char* name = "weight");

// Rebuilds W' from codes, scales, zeros (undefined when symmetric) and the column
// groups (g_idx, or contiguous runs of group_size; 0 = one group), in `dtype`.
at::Tensor dequantize_weight(const at::Tensor& codes, const at::Tensor& scales,
                             const at::Tensor& zeros, int64_t group_size,
                             const at::Tensor& g_idx, at::ScalarType dtype);

}  // namespace quarot
