// quarot.json: what the stages did to a checkpoint, and what must happen at run
// time for it to compute the right function (online transforms, activation and
// KV-cache quantizers). Every stage reads its input's manifest, appends itself,
// and writes the result next to the weights. The CUDA runner reads it too, so it
// is torch-free. The schema is in docs/FORMAT.md.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace quarot {

// An online Hadamard transform applied to an activation at run time.
struct OnlineTransforms {
  bool down_proj_input = false;  // Hadamard of the intermediate size on down_proj's input
  bool o_proj_heads = false;     // Hadamard across heads on o_proj's input (head_dim part is fused)
  bool qk_post_rope = false;     // Hadamard of head_dim on Q and K after RoPE
  bool any() const { return down_proj_input || o_proj_heads || qk_post_rope; }
};

struct WeightQuant {
  int bits = 16;  // 16: float weights
  std::string method;  // "rtn" or "gptq"
  bool symmetric = true;
  int64_t groupsize = 0;  // 0: per output channel
  bool clip_search = true;
  std::string format;  // "int8-codes" (quantize stage) or "int4-packed" (pack stage)
};

struct ActQuant {
  int bits = 16;  // 16: off
  double clip_ratio = 0.9;
  int64_t groupsize = 0;
  bool symmetric = true;
};

struct KvQuant {
  int k_bits = 16, v_bits = 16;
  double clip_ratio = 0.95;
  bool symmetric = false;  // asymmetric, one scale/zero per (token, head)
};

struct Manifest {
  std::string version = "1";
  bool fused = false;
  std::string rotation;  // "", "hadamard" or "random"
  uint64_t seed = 0;
  OnlineTransforms online;
  WeightQuant weights;
  ActQuant activations;
  KvQuant kv;
  nlohmann::json calibration;           // source, file, sha256, windows, seqlen, seed
  std::vector<nlohmann::json> history;  // one entry per stage: {"stage", "options", "seconds", ...}

  // No quarot.json means an untouched Hugging Face checkpoint.
  static Manifest load_or_default(const std::filesystem::path& dir);
  static Manifest from_json(const nlohmann::json& j, const std::string& file);
  nlohmann::json to_json() const;
  void save(const std::filesystem::path& dir) const;  // atomic
  bool has_stage(const std::string& stage) const;
  std::string describe() const;  // "fused, hadamard-rotated, W4 gptq, A4, KV4"
};

inline constexpr const char* kManifestFile = "quarot.json";

}  // namespace quarot
