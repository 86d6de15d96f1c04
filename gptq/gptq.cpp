#include "gptq/gptq.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <tuple>
#include <vector>

#include "lib/core/error.h"

namespace quarot {
namespace {

// Upper Cholesky factor U of (H + damp I)^-1 (so H^-1 = U^T U), float64, or an
// undefined tensor when either factorisation fails.
at::Tensor inverse_upper_factor(const at::Tensor& h, double damp_frac) {
  at::Tensor hd = h.clone();
  hd.diagonal().add_(h.diagonal().mean() * damp_frac);
  at::Tensor lower, info;
  std::tie(lower, info) = at::linalg_cholesky_ex(hd);
  if (info.item<int64_t>() != 0) return {};
  at::Tensor hinv = at::cholesky_inverse(lower);
  at::Tensor upper;
  std::tie(upper, info) = at::linalg_cholesky_ex(hinv, /*upper=*/true);
  if (info.item<int64_t>() != 0) return {};
  return upper;
}

void check_inputs(const at::Tensor& W, const at::Tensor& H, const GptqConfig& cfg,
                  const std::string& name) {
  const std::string what = "gptq: " + name;
  check_weight_quant_config(cfg.quant, what.c_str());
  QUAROT_CHECK(cfg.percdamp >= 0, what, ": percdamp must be >= 0, got ", cfg.percdamp);
  QUAROT_CHECK(cfg.max_damp_retries >= 0, what, ": damping retries must be >= 0");
  QUAROT_CHECK(cfg.block_size >= 1, what, ": block size must be >= 1, got ", cfg.block_size);
  QUAROT_CHECK(cfg.compute_dtype == at::kFloat || cfg.compute_dtype == at::kDouble, what,
               ": compute dtype must be float32 or float64");
  QUAROT_CHECK(W.defined() && W.dim() == 2 && at::isFloatingType(W.scalar_type()), what,
               ": weight must be a 2-D floating tensor [out, in]");
  const int64_t in = W.size(1);
  QUAROT_CHECK(H.defined() && H.dim() == 2 && H.size(0) == in && H.size(1) == in &&
                   at::isFloatingType(H.scalar_type()),
               what, ": Hessian ", H.defined() ? H.sizes() : at::IntArrayRef{},
               " must be floating [", in, ", ", in, "] for weight ", W.sizes());
  QUAROT_CHECK(cfg.quant.group_size == 0 || in % cfg.quant.group_size == 0, what, ": group size ",
               cfg.quant.group_size, " does not divide the ", in, " input columns");
  QUAROT_CHECK(in > 0 && W.size(0) > 0, what, ": empty weight ", W.sizes());
  QUAROT_CHECK(at::isfinite(W).all().item<bool>(), what, ": weight has NaN or Inf entries");
  QUAROT_CHECK(at::isfinite(H).all().item<bool>(), what, ": Hessian has NaN or Inf entries");
}

}  // namespace

GptqResult gptq_quantize(const at::Tensor& W, const at::Tensor& H, const GptqConfig& cfg,
                         const std::string& name) {
  check_inputs(W, H, cfg, name);
  const WeightQuantConfig& qc = cfg.quant;
  const int64_t out = W.size(0), in = W.size(1), gs = qc.group_size;
  const int64_t groups = gs == 0 ? 1 : in / gs;
  const bool dynamic_groups = gs > 0 && !cfg.static_groups;
  GptqResult r;

  at::Tensor w = W.to(W.device(), cfg.compute_dtype, false, /*copy=*/true).contiguous();
  at::Tensor h = H.to(W.device(), at::kDouble, false, /*copy=*/true);
  // An input feature that never fired carries no information: its weights cannot
  // change the output on the calibration data, so they become 0 and H_jj = 1
  // keeps the factorisation defined.
  at::Tensor dead = h.diagonal() == 0;
  r.dead_columns = dead.sum().item<int64_t>();
  h.diagonal().masked_fill_(dead, 1.0);
  w.masked_fill_(dead.unsqueeze(0), 0.0);

  RowGrid fixed;  // ungrouped: [out, 1]; static groups: [out, groups]
  if (gs == 0) {
    fixed = find_row_grid(w, qc);
  } else if (cfg.static_groups) {
    RowGrid g = find_row_grid(w.reshape({out * groups, gs}), qc);
    fixed.scale = g.scale.reshape({out, groups});
    if (qc.asymmetric) fixed.zero = g.zero.reshape({out, groups});
  }

  std::vector<int64_t> perm_host;
  if (cfg.act_order) {
    // Stable, so ties keep their order on every device and version.
    r.perm = std::get<1>(at::sort(h.diagonal(), /*stable=*/true, /*dim=*/0, /*descending=*/true));
    w = w.index_select(1, r.perm);
    h = h.index_select(0, r.perm).index_select(1, r.perm);
    at::Tensor pc = r.perm.to(at::kCPU).contiguous();
    perm_host.assign(pc.data_ptr<int64_t>(), pc.data_ptr<int64_t>() + in);
  }

  at::Tensor hinv;
  double frac = cfg.percdamp;
  for (int attempt = 0;; ++attempt) {
    hinv = inverse_upper_factor(h, frac);
    if (hinv.defined()) break;
    QUAROT_CHECK(attempt < cfg.max_damp_retries, "gptq: ", name,
                 ": Hessian is not positive definite even with damping ", frac,
                 " x mean diagonal (after ", attempt, " retries); more or different calibration "
                 "data is needed");
    frac = (frac > 0 ? frac : 1e-3) * 10;
    r.damp_retries = attempt + 1;
  }
  r.damp = frac;
  if (r.damp_retries > 0) {
    std::ostringstream os;
    os << "gptq: " << name << ": Hessian not positive definite with damping " << cfg.percdamp
       << " x mean diagonal; used " << frac;
    r.warning = os.str();
  }
  hinv = hinv.to(cfg.compute_dtype);

  // A block holds whole groups, so a group's grid sees its columns fully updated.
  int64_t bs = cfg.block_size;
  if (gs > 0) bs = std::max<int64_t>(1, bs / gs) * gs;

  at::Tensor codes = at::empty({out, in}, w.options());
  std::vector<at::Tensor> group_scale(groups), group_zero(groups);
  at::Tensor loss = at::zeros({}, w.options());
  RowGrid cur = fixed;
  for (int64_t i1 = 0; i1 < in; i1 += bs) {
    const int64_t count = std::min(bs, in - i1);
    at::Tensor w1 = w.narrow(1, i1, count).clone();
    at::Tensor err1 = at::empty({out, count}, w.options());
    at::Tensor hinv1 = hinv.narrow(0, i1, count).narrow(1, i1, count);
    for (int64_t i = 0; i < count; ++i) {
      const int64_t col = i1 + i;
      if (dynamic_groups && col % gs == 0) {
        cur = find_row_grid(w1.narrow(1, i, gs), qc);
        group_scale[col / gs] = cur.scale;
        group_zero[col / gs] = cur.zero;
      } else if (gs > 0 && cfg.static_groups) {
        const int64_t g = (cfg.act_order ? perm_host[col] : col) / gs;
        cur.scale = fixed.scale.narrow(1, g, 1);
        if (qc.asymmetric) cur.zero = fixed.zero.narrow(1, g, 1);
      }
      at::Tensor wc = w1.narrow(1, i, 1);
      at::Tensor q = quantize_on_grid(wc, cur, qc.bits, qc.asymmetric);
      codes.narrow(1, col, 1).copy_(q);
      at::Tensor err = (wc - dequantize_on_grid(q, cur, qc.asymmetric)) / hinv1[i][i];
      loss.add_(err.square().sum(), 0.5);
      // Columns i.. of the block absorb the error (column i itself becomes q).
      w1.narrow(1, i, count - i).sub_(err * hinv1[i].narrow(0, i, count - i).unsqueeze(0));
      err1.narrow(1, i, 1).copy_(err);
    }
    if (i1 + count < in) {
      const int64_t rest = in - i1 - count;
      w.narrow(1, i1 + count, rest).sub_(err1.matmul(hinv.narrow(0, i1, count).narrow(1, i1 + count, rest)));
    }
  }

  at::Tensor scales, zeros;
  if (dynamic_groups) {
    scales = at::cat(group_scale, 1);
    if (qc.asymmetric) zeros = at::cat(group_zero, 1);
  } else {
    scales = fixed.scale;
    zeros = fixed.zero;
  }
  QuantizedWeight& qw = r.weight;
  qw.bits = qc.bits;
  qw.group_size = gs;
  qw.asymmetric = qc.asymmetric;
  if (cfg.act_order) {
    at::Tensor inv = at::argsort(r.perm);
    codes = codes.index_select(1, inv);
    if (dynamic_groups) qw.g_idx = at::div(inv, gs, "floor");
  }
  qw.codes = codes.to(qc.asymmetric ? at::kByte : at::kChar);
  qw.scales = scales.to(qc.scale_dtype);
  if (qc.asymmetric) qw.zeros = zeros.to(at::kByte);
  qw.dequantized = dequantize_weight(qw.codes, qw.scales, qw.zeros, gs, qw.g_idx, W.scalar_type());
  r.error = loss.item<double>();
  return r;
}

}  // namespace quarot
