#include "apps/stages/model_io.h"

#include <ATen/ATen.h>

#include <memory>

#include "lib/core/error.h"
#include "lib/io/checkpoint.h"
#include "quantize/pack.h"
#include "lib/model/tensor_bridge.h"

namespace fs = std::filesystem;

namespace quarot {
namespace {

// Adds a tensor the set keeps alive through a shared copy.
void add(TensorSet& set, const std::string& name, at::Tensor t) {
  auto owned = std::make_shared<at::Tensor>(t.to(at::kCPU).contiguous());
  std::vector<int64_t> shape(owned->sizes().begin(), owned->sizes().end());
  set.add(name, to_dtype(owned->scalar_type()), shape, owned->data_ptr(), std::shared_ptr<const void>(owned, owned.get()));
}

}  // namespace

SaveOptions storage_options(const std::string& dtype_flag, at::ScalarType fallback) {
  SaveOptions s;
  s.dtype = dtype_flag.empty() ? fallback : parse_scalar_type(dtype_flag, "--dtype");
  return s;
}

void save_model(const LlamaModel& m, const Manifest& manifest, const fs::path& in_dir, const fs::path& out,
                const SaveOptions& opt, const QuantizedLinears* quantized) {
  LlamaConfig cfg = m.config;
  cfg.dtype = to_dtype(opt.dtype);
  cfg.save(out / "config.json");

  TensorSet set;
  auto store = [&](const std::string& name, const at::Tensor& t) {
    if (t.defined()) add(set, name, t.to(opt.dtype));
  };
  store("model.embed_tokens.weight", m.embed);
  store("model.norm.weight", m.final_norm);
  if (!m.config.tie_word_embeddings) store("lm_head.weight", m.lm_head.weight);
  for (int i = 0; i < int(m.layers.size()); ++i) {
    store(layer_prefix(i) + "input_layernorm.weight", m.layers[size_t(i)].input_norm);
    store(layer_prefix(i) + "post_attention_layernorm.weight", m.layers[size_t(i)].post_norm);
  }
  for (const NamedLinear& nl : decoder_linears(const_cast<LlamaModel&>(m))) {
    store(nl.name + ".bias", nl.linear->bias);
    auto q = quantized ? quantized->find(nl.name) : QuantizedLinears::const_iterator();
    if (!quantized || q == quantized->end()) {
      store(nl.name + ".weight", nl.linear->weight);
      continue;
    }
    if (opt.pack_int4) {
      QUAROT_CHECK(q->second.codes.scalar_type() == at::kChar && !q->second.zero.defined(), "pack: ", nl.name,
                   ": only symmetric int8 codes can be packed to INT4");
      add(set, nl.name + ".qweight", pack_int4(q->second.codes.to(at::kCPU), nl.name.c_str()));
    } else {
      add(set, nl.name + ".weight_int", q->second.codes);
    }
    add(set, nl.name + ".weight_scale", q->second.scale.to(at::kFloat));
    if (q->second.zero.defined()) add(set, nl.name + ".weight_zero", q->second.zero.to(at::kFloat));
  }
  set.set_metadata("producer", "quarot");
  write_checkpoint_weights(out, set, opt.max_shard_bytes);
  copy_side_files(in_dir, out);
  manifest.save(out);
}

}  // namespace quarot
