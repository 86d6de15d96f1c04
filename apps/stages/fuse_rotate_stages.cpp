// quarot-convert fuse / rotate.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>

#include "apps/common/cli.h"
#include "apps/stages/model_io.h"
#include "apps/stages/stages.h"
#include "lib/core/error.h"
#include "lib/core/files.h"
#include "lib/core/progress.h"
#include "lib/model/tensor_bridge.h"
#include "rotate/fuse_norms.h"

namespace quarot {

StageSummary run_fuse(const StageIO& io) {
  c10::InferenceMode guard;
  auto t0 = std::chrono::steady_clock::now();
  Manifest man = Manifest::load_or_default(io.in);
  QUAROT_CHECK(!man.fused, "fuse: ", io.in.string(), " is already fused (quarot.json says so)");
  LlamaModel m = load_llama(io.in, at::kDouble, parse_device(io.device));
  const bool was_tied = m.tied();
  fuse_norms(m);
  man.fused = true;
  man.history.push_back({{"stage", "fuse"}, {"untied_embeddings", was_tied}});
  write_dir_atomic(io.out, io.overwrite, [&](const std::filesystem::path& tmp) {
    save_model(m, man, io.in, tmp, storage_options(io.store_dtype, at::kFloat));
  }, io.in);
  return {"fuse", seconds_since(t0),
          std::to_string(m.layers.size() * 2 + 1) + " norms folded" + (was_tied ? ", embeddings untied" : "")};
}

StageSummary run_rotate(const StageIO& io, const RotationOptions& opt) {
  c10::InferenceMode guard;
  auto t0 = std::chrono::steady_clock::now();
  Manifest man = Manifest::load_or_default(io.in);
  QUAROT_CHECK(man.fused, "rotate: ", io.in.string(), " is not norm-fused (run `quarot-convert fuse` first)");
  QUAROT_CHECK(man.rotation.empty(), "rotate: ", io.in.string(), " is already rotated (", man.rotation, ")");
  QUAROT_CHECK(man.weights.bits >= 16, "rotate: ", io.in.string(), " is already quantized; rotate before quantizing");
  LlamaModel m = load_llama(io.in, at::kDouble, parse_device(io.device));
  man.online = rotate_model(m, opt);
  man.rotation = opt.mode;
  man.seed = opt.seed;
  man.history.push_back({{"stage", "rotate"}, {"mode", opt.mode}, {"seed", opt.seed}});
  write_dir_atomic(io.out, io.overwrite, [&](const std::filesystem::path& tmp) {
    save_model(m, man, io.in, tmp, storage_options(io.store_dtype, at::kFloat));
  }, io.in);
  return {"rotate", seconds_since(t0), opt.mode + " rotation, seed " + std::to_string(opt.seed)};
}

}  // namespace quarot
