#include "apps/stages/eval_model.h"

#include "apps/stages/model_quantize.h"

#include <ATen/ATen.h>

#include "lib/core/error.h"
#include "lib/core/progress.h"
#include "quantize/act_quantizer.h"
#include "quantize/stored_weights.h"
#include "quantize/weight_quantizer.h"

namespace quarot {

void add_override_options(CLI::App& c, EvalOverrides& o) {
  c.add_option("--w-bits", o.w_bits, "Fake-quantize float weights with RTN to this many bits (2..8)")
      ->check(CLI::Range(2, 8));
  c.add_option("--w-groupsize", o.w_groupsize, "Group size for --w-bits (0: per channel)");
  c.add_flag("!--no-w-clip", o.w_clip, "Disable the clipping-ratio search of --w-bits");
  c.add_option("--a-bits", o.a_bits, "Activation bits (2..8, 16 = off); overrides the manifest")
      ->check(CLI::Range(2, 16));
  c.add_option("--a-groupsize", o.a_groupsize, "Activation quantization group size (0: per token)");
  c.add_option("--a-clip", o.a_clip, "Activation clip ratio (default: the manifest's; with --a-bits, 0.9 at <= 4 bits, else 1)")->check(CLI::Range(0.01, 1.0));
  c.add_option("--k-bits", o.k_bits, "K-cache bits (2..8, 16 = off)")->check(CLI::Range(2, 16));
  c.add_option("--v-bits", o.v_bits, "V-cache bits (2..8, 16 = off)")->check(CLI::Range(2, 16));
  c.add_option("--kv-clip", o.kv_clip, "KV-cache clip ratio (default: the manifest's; with --k/v-bits, 0.95 at <= 4 bits, else 1)")->check(CLI::Range(0.01, 1.0));
}

void fake_quantize_weights(LlamaModel& m, int bits, int64_t groupsize, bool clip_search) {
  WeightQuantConfig cfg;
  cfg.bits = bits;
  cfg.group_size = groupsize;
  cfg.clip_search = clip_search;
  check_weight_quant_config(cfg, "--w-bits");
  rtn_model(m, cfg);
}

EvalModel load_eval_model(const std::filesystem::path& dir, at::ScalarType dtype, at::Device device,
                          const EvalOverrides& o) {
  EvalModel em;
  em.manifest = Manifest::load_or_default(dir);
  Manifest& man = em.manifest;
  em.model = load_llama(dir, dtype, device, read_stored_linear_weight);
  if (o.w_bits > 0) {
    QUAROT_CHECK(man.weights.bits >= 16, "--w-bits: ", dir.string(), " already holds ", man.weights.bits,
                 "-bit weights");
    fake_quantize_weights(em.model, o.w_bits, std::max<int64_t>(o.w_groupsize, 0), o.w_clip);
    man.weights.bits = o.w_bits;
    man.weights.method = "rtn";
  }
  if (o.a_bits > 0) {
    man.activations.bits = o.a_bits;
    man.activations.clip_ratio = default_act_clip(o.a_bits);
  }
  if (o.a_clip > 0) man.activations.clip_ratio = o.a_clip;
  if (o.a_groupsize >= 0) man.activations.groupsize = o.a_groupsize;
  if (o.k_bits > 0) man.kv.k_bits = o.k_bits;
  if (o.v_bits > 0) man.kv.v_bits = o.v_bits;
  if (o.k_bits > 0 || o.v_bits > 0) man.kv.clip_ratio = default_kv_clip(std::min(man.kv.k_bits, man.kv.v_bits));
  if (o.kv_clip > 0) man.kv.clip_ratio = o.kv_clip;
  em.hooks = std::make_unique<QuarotHooks>(em.model.config, man.online, man.activations, man.kv);
  em.description = man.describe();
  return em;
}

}  // namespace quarot
