// The stages of quarot-convert. Each reads a checkpoint directory and writes a
// new one (never touching its input), appending itself to quarot.json.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "rotate/rotate_model.h"

namespace quarot {

struct StageIO {
  std::filesystem::path in, out;
  bool overwrite = false;
  std::string device = "cpu";
  std::string store_dtype;  // float tensors are written in this dtype ("" = float32)
};

struct StageSummary {
  std::string stage;
  double seconds = 0;
  std::string detail;
};

StageSummary run_fuse(const StageIO& io);
StageSummary run_rotate(const StageIO& io, const RotationOptions& opt);

struct QuantizeOptions {
  std::string method = "rtn";  // or "gptq"
  int w_bits = 4;
  int64_t groupsize = 0;
  bool w_clip = true;
  bool asymmetric = false;
  // Run-time quantizers recorded in the manifest.
  int a_bits = 4, kv_bits = 4;  // the KV cache: K and V alike
  double a_clip = 0, kv_clip = 0;  // 0: by bit width (default_act_clip / default_kv_clip)
  // GPTQ.
  std::string calib = "";  // wikitext2:DIR | text:FILE
  int64_t calib_windows = 128, calib_seqlen = 2048;
  uint64_t calib_seed = 0;
  double damp = 0.01;
  bool act_order = false;
  int64_t calib_batch = 8;
};
StageSummary run_quantize(const StageIO& io, const QuantizeOptions& opt);

StageSummary run_pack(const StageIO& io);

}  // namespace quarot
