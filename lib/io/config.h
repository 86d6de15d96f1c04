// config.json of a Llama-family checkpoint, as transformers reads it.
//
// model_type "llama" is the reference. "mistral" and "qwen2" are accepted where
// their modelling code is Llama's: Mistral without an effective sliding window,
// Qwen2 with its fixed q/k/v biases (and no o_proj bias). Whatever would change
// the maths in a way quarot does not implement (another activation, another
// RoPE scaling, a sliding window) is refused by field name, not ignored.
//
// Absent fields take transformers' defaults: num_key_value_heads = heads,
// head_dim = hidden_size / heads, tie_word_embeddings/attention_bias/mlp_bias
// false, rope_theta 10000, dtype float32. A field set to null counts as absent.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lib/io/dtype.h"

namespace quarot {

enum class RopeType { Default, Linear, Llama3 };
const char* rope_type_name(RopeType t);  // "default", "linear", "llama3"

struct RopeConfig {
  double theta = 10000.0;
  RopeType type = RopeType::Default;
  double factor = 1.0;           // linear and llama3
  double low_freq_factor = 1.0;  // llama3 only
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 0;
};

// RoPE from `rope_theta` at top level or inside `rope_parameters` (transformers
// 5), and scaling from `rope_parameters` or else `rope_scaling` (whose type is
// "rope_type", or "type" in older files). `source` prefixes error messages.
RopeConfig parse_rope(const nlohmann::json& cfg, const std::string& source);
// Writes `rope` into `cfg` where it came from: into rope_parameters when `cfg`
// has that object, else as rope_theta + rope_scaling. Unknown keys survive.
void write_rope(const RopeConfig& rope, nlohmann::json& cfg);

struct LlamaConfig {
  std::string model_type = "llama";
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // q_proj, k_proj, v_proj
  bool o_bias = false;    // o_proj
  bool mlp_bias = false;  // gate_proj, up_proj, down_proj
  DType dtype = DType::F32;                  // "dtype", else "torch_dtype"
  std::vector<int64_t> bos_token_ids;        // empty when null
  std::vector<int64_t> eos_token_ids;
  RopeConfig rope;

  // `path` is config.json or a directory holding it.
  static LlamaConfig load(const std::filesystem::path& path);
  // `source` (normally the file path) prefixes every error message.
  static LlamaConfig from_json(const nlohmann::json& j, const std::string& source);

  // Throws quarot::Error naming `source` and the field for an inconsistent
  // config; from_json calls it, and it is worth calling again after edits.
  void validate(const std::string& source) const;

  // The original JSON (all unknown fields kept, so transformers still loads it)
  // with the fields above written back: edit the struct, e.g. set
  // tie_word_embeddings = false after untying, then save.
  nlohmann::json to_json() const;
  // Atomically writes to_json() (indent 2) to `path`.
  void save(const std::filesystem::path& path) const;

  int64_t kv_groups() const { return num_attention_heads / num_key_value_heads; }
  const nlohmann::json& original() const { return raw_; }

 private:
  nlohmann::json raw_ = nlohmann::json::object();
  std::string source_;
};

// "float32" / "bfloat16" / "float16" / "float64" (also "float", "half",
// "double", and a "torch." prefix) to DType; throws naming `source` and `field`.
DType parse_torch_dtype(const std::string& s, const std::string& source, const std::string& field);
const char* torch_dtype_name(DType t);  // F32 -> "float32", ...

}  // namespace quarot
