// quarot-convert quantize / pack.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>

#include "apps/common/cli.h"
#include "apps/stages/eval_model.h"
#include "apps/stages/model_quantize.h"
#include "apps/stages/model_io.h"
#include "apps/stages/stages.h"
#include "calib/calibration.h"
#include "lib/core/error.h"
#include "lib/core/files.h"
#include "lib/core/progress.h"
#include "lib/io/checkpoint.h"
#include "lib/model/tensor_bridge.h"
#include "quantize/act_quantizer.h"
#include "quantize/stored_weights.h"
#include "quantize/weight_quantizer.h"

namespace fs = std::filesystem;

namespace quarot {
namespace {

WeightQuantConfig weight_config(const QuantizeOptions& o) {
  WeightQuantConfig c;
  c.bits = o.w_bits;
  c.group_size = o.groupsize;
  c.asymmetric = o.asymmetric;
  c.clip_search = o.w_clip;
  check_weight_quant_config(c, "--w-bits/--groupsize");
  return c;
}

}  // namespace

StageSummary run_quantize(const StageIO& io, const QuantizeOptions& o) {
  c10::InferenceMode guard;
  auto t0 = std::chrono::steady_clock::now();
  Manifest man = Manifest::load_or_default(io.in);
  QUAROT_CHECK(man.weights.bits >= 16, "quantize: ", io.in.string(), " is already quantized (W", man.weights.bits, ")");
  const WeightQuantConfig wcfg = weight_config(o);
  QUAROT_CHECK(!(o.act_order && o.groupsize > 0), "--act-order with --groupsize is not supported by the stored format");
  if (!io.overwrite) QUAROT_CHECK(!fs::exists(io.out), "--out ", io.out.string(), " already exists (pass --overwrite to replace it)");
  const at::Device device = parse_device(io.device);
  LlamaModel m = load_llama(io.in, at::kFloat, device);

  QuantizedLinears q;
  std::string detail;
  if (o.method == "rtn") {
    q = rtn_model(m, wcfg);
    detail = "RTN";
  } else {
    QUAROT_CHECK(!o.calib.empty(), "--method gptq needs --calib wikitext2:DIR or text:FILE");
    const int64_t seqlen = std::min(o.calib_seqlen, m.config.max_position_embeddings);
    Tokenizer tok = Tokenizer::load(io.in / "tokenizer.json");
    CalibrationSet cal = load_calibration(o.calib, tok, o.calib_windows, seqlen, o.calib_seed);
    log_info("calibration: " + std::to_string(cal.windows) + " windows of " + std::to_string(seqlen) + " tokens from " +
             cal.file);
    GptqRunOptions g;
    g.gptq.quant = wcfg;
    g.gptq.percdamp = o.damp;
    g.gptq.act_order = o.act_order;
    g.batch = o.calib_batch;
    q = gptq_model(m, man.online, cal.ids.to(device), g);
    man.calibration = cal.to_json();
    detail = "GPTQ on " + std::to_string(cal.windows) + "x" + std::to_string(seqlen) + " tokens";
  }
  man.weights.bits = o.w_bits;
  man.weights.method = o.method;
  man.weights.symmetric = !o.asymmetric;
  man.weights.groupsize = o.groupsize;
  man.weights.clip_search = o.w_clip;
  man.weights.format = "int8-codes";
  man.activations.bits = o.a_bits;
  man.activations.clip_ratio = o.a_clip > 0 ? o.a_clip : default_act_clip(o.a_bits);
  man.kv.k_bits = man.kv.v_bits = o.kv_bits;
  man.kv.clip_ratio = o.kv_clip > 0 ? o.kv_clip : default_kv_clip(o.kv_bits);
  man.history.push_back({{"stage", "quantize"}, {"method", o.method}, {"w_bits", o.w_bits}, {"groupsize", o.groupsize},
                         {"w_clip", o.w_clip}, {"a_bits", o.a_bits}, {"kv_bits", o.kv_bits},
                         {"seconds", seconds_since(t0)}});
  SaveOptions so = storage_options(io.store_dtype, at::kFloat);
  write_dir_atomic(io.out, io.overwrite, [&](const fs::path& tmp) { save_model(m, man, io.in, tmp, so, &q); }, io.in);
  return {"quantize", seconds_since(t0),
          "W" + std::to_string(o.w_bits) + " " + detail + ", runtime A" + std::to_string(o.a_bits) + " KV" +
              std::to_string(o.kv_bits)};
}

StageSummary run_pack(const StageIO& io) {
  c10::InferenceMode guard;
  auto t0 = std::chrono::steady_clock::now();
  Manifest man = Manifest::load_or_default(io.in);
  QUAROT_CHECK(man.weights.bits == 4 && man.weights.format == "int8-codes", "pack: ", io.in.string(),
               " does not hold 4-bit integer codes (quarot.json weights.bits = ", man.weights.bits,
               ", format '", man.weights.format, "'); run `quarot-convert quantize --w-bits 4` first");
  QUAROT_CHECK(man.weights.symmetric, "pack: only symmetric 4-bit weights can be packed");
  Checkpoint ck(io.in);
  LlamaModel m = load_llama(io.in, at::kFloat, at::kCPU, read_stored_linear_weight);
  QuantizedLinears q;
  for (const NamedLinear& nl : decoder_linears(m)) {
    auto read = [&](const std::string& name) {
      QUAROT_CHECK(ck.has(name), io.in.string(), ": tensor ", name, " is missing");
      const TensorInfo& i = ck.info(name);
      return tensor_from_bytes(ck.data(name), i.dtype, i.shape);
    };
    QuantizedLinear s;
    s.codes = read(nl.name + ".weight_int");
    s.scale = read(nl.name + ".weight_scale");
    QUAROT_CHECK(s.codes.scalar_type() == at::kChar, io.in.string(), ": ", nl.name, ".weight_int must be I8");
    q[nl.name] = s;
  }
  man.weights.format = "int4-packed";
  man.history.push_back({{"stage", "pack"}});
  SaveOptions so = storage_options(io.store_dtype, at::kHalf);
  so.pack_int4 = true;
  m.config.tie_word_embeddings = false;  // the runner reads lm_head.weight
  if (m.tied()) m.lm_head.weight = m.embed.clone();
  write_dir_atomic(io.out, io.overwrite, [&](const fs::path& tmp) { save_model(m, man, io.in, tmp, so, &q); }, io.in);
  return {"pack", seconds_since(t0), "INT4 codes two per byte, 16-bit embeddings and lm_head"};
}

}  // namespace quarot
