#include "apps/stages/model_quantize.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <map>

#include "apps/stages/runtime_hooks.h"
#include "gptq/hessian.h"
#include "lib/core/error.h"
#include "lib/core/progress.h"

namespace quarot {
namespace {

// Calibration activations of one kind, kept as a list of batches.
using Batches = std::vector<at::Tensor>;

QuantizedLinear to_stored(const QuantizedWeight& q) {
  QuantizedLinear s;
  s.codes = q.codes.to(at::kCPU);
  s.scale = q.scales.to(at::kCPU, at::kFloat);
  if (q.zeros.defined()) s.zero = q.zeros.to(at::kCPU, at::kFloat);
  return s;
}

class LayerQuantizer {
 public:
  LayerQuantizer(LlamaModel& m, const GptqRunOptions& opt, QuantizedLinears& out, Progress& progress)
      : m_(m), opt_(opt), out_(out), progress_(progress) {}

  // Quantizes the linears of `site` in layer i from the inputs in `xs`.
  void quantize(int i, Site site, const Batches& xs) {
    std::vector<NamedLinear> group;
    for (const NamedLinear& nl : all_) if (nl.layer == i && nl.site == site) group.push_back(nl);
    QUAROT_ASSERT(!group.empty());
    HessianAccumulator hess(xs.front().size(-1), xs.front().device());
    for (const at::Tensor& x : xs) hess.add_batch(x);
    for (NamedLinear& nl : group) {
      GptqResult r = gptq_quantize(nl.linear->weight, hess.hessian(), opt_.gptq, nl.name);
      if (!r.warning.empty()) log_warn(r.warning);
      nl.linear->weight = r.weight.dequantized.to(nl.linear->weight.scalar_type());
      out_[nl.name] = to_stored(r.weight);
      char detail[160];
      std::snprintf(detail, sizeof detail, "%s error %.4g%s", nl.name.c_str(), r.error,
                    r.damp_retries ? " (extra damping)" : "");
      progress_.update(++done_, detail);
    }
  }

  void set_linears(std::vector<NamedLinear> all) { all_ = std::move(all); }

 private:
  LlamaModel& m_;
  const GptqRunOptions& opt_;
  QuantizedLinears& out_;
  Progress& progress_;
  std::vector<NamedLinear> all_;
  int64_t done_ = 0;
};

}  // namespace

QuantizedLinears rtn_model(LlamaModel& m, const WeightQuantConfig& cfg) {
  QuantizedLinears out;
  auto linears = decoder_linears(m);
  Progress p("rtn", int64_t(linears.size()));
  int64_t done = 0;
  for (NamedLinear& nl : linears) {
    QuantizedWeight q = quantize_weight(nl.linear->weight, cfg, nl.name.c_str());
    nl.linear->weight = q.dequantized;
    out[nl.name] = to_stored(q);
    p.update(++done, nl.name);
  }
  p.finish();
  return out;
}

QuantizedLinears gptq_model(LlamaModel& m, const OnlineTransforms& online, const at::Tensor& calib_ids,
                            const GptqRunOptions& opt) {
  QuantizedLinears out;
  ActQuant no_act;  // calibration runs with activations and KV in full precision
  KvQuant no_kv;
  QuarotHooks hooks(m.config, online, no_act, no_kv);
  const double eps = m.config.rms_norm_eps;
  auto linears = decoder_linears(m);
  Progress progress("gptq", int64_t(linears.size()));
  LayerQuantizer lq(m, opt, out, progress);
  lq.set_linears(linears);

  Batches h;  // the residual stream entering the current layer, per batch
  for (int64_t s = 0; s < calib_ids.size(0); s += opt.batch)
    h.push_back(m.embed_tokens(calib_ids.narrow(0, s, std::min(opt.batch, calib_ids.size(0) - s))));

  for (int i = 0; i < int(m.layers.size()); ++i) {
    const DecoderLayer& L = m.layers[size_t(i)];
    Batches xs, heads, h2s, downs;
    for (const at::Tensor& hb : h) xs.push_back(hooks.linear_input(i, Site::QKV, rms_norm(hb, L.input_norm, eps)));
    lq.quantize(i, Site::QKV, xs);
    for (size_t b = 0; b < h.size(); ++b)
      heads.push_back(hooks.linear_input(i, Site::O, m.attention_heads(i, xs[b], hooks)));
    xs.clear();
    lq.quantize(i, Site::O, heads);
    for (size_t b = 0; b < h.size(); ++b) {
      h2s.push_back(h[b] + L.o(heads[b]));
      xs.push_back(hooks.linear_input(i, Site::GateUp, rms_norm(h2s[b], L.post_norm, eps)));
    }
    heads.clear();
    lq.quantize(i, Site::GateUp, xs);
    for (size_t b = 0; b < h.size(); ++b)
      downs.push_back(hooks.linear_input(i, Site::Down, at::silu(L.gate(xs[b])) * L.up(xs[b])));
    xs.clear();
    lq.quantize(i, Site::Down, downs);
    for (size_t b = 0; b < h.size(); ++b) h[b] = h2s[b] + L.down(downs[b]);
  }
  progress.finish();
  return out;
}

}  // namespace quarot
