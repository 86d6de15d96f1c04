#include "lib/io/config.h"

#include "lib/core/error.h"
#include "lib/core/files.h"
#include "lib/io/json_fields.h"

namespace fs = std::filesystem;

namespace quarot {
namespace {

using json = nlohmann::json;

// bos/eos ids: null, one integer, or a list of integers.
std::vector<int64_t> parse_ids(const JsonFields& f, const json& j, const char* key) {
  std::vector<int64_t> ids;
  if (!f.has(key)) return ids;
  const json& v = j[key];
  if (v.is_array()) {
    for (const json& e : v) {
      QUAROT_CHECK(e.is_number_integer(), f.where(key), " holds ", e.dump(), ", not a token id");
      ids.push_back(e.get<int64_t>());
    }
  } else {
    ids.push_back(f.integer(key));
  }
  return ids;
}

void put_ids(json& j, const json& raw, const char* key, const std::vector<int64_t>& ids) {
  const bool had = raw.contains(key);
  if (ids.empty()) {
    if (had) j[key] = nullptr;
  } else if (ids.size() == 1 && !(had && raw[key].is_array())) {
    j[key] = ids[0];
  } else {
    j[key] = ids;
  }
}

std::string field(const std::string& source, const char* name) {
  return source + ": field '" + name + "'";
}

}  // namespace

DType parse_torch_dtype(const std::string& s, const std::string& source, const std::string& fname) {
  std::string n = s.rfind("torch.", 0) == 0 ? s.substr(6) : s;
  if (n == "float32" || n == "float") return DType::F32;
  if (n == "bfloat16") return DType::BF16;
  if (n == "float16" || n == "half") return DType::F16;
  if (n == "float64" || n == "double") return DType::F64;
  QUAROT_FAIL(source, ": field '", fname, "' is '", s,
              "'; quarot reads float32, bfloat16, float16 or float64 checkpoints");
}

const char* torch_dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::BF16: return "bfloat16";
    case DType::F16: return "float16";
    case DType::F64: return "float64";
    default: break;
  }
  QUAROT_ASSERT(false, "no torch dtype name for ", dtype_name(t));
  return "";
}

LlamaConfig LlamaConfig::load(const fs::path& path) {
  const fs::path file = fs::is_directory(path) ? path / "config.json" : path;
  const std::string text = read_text_file(file);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    QUAROT_FAIL(file.string(), ": malformed JSON: ", e.what());
  }
  return from_json(j, file.string());
}

LlamaConfig LlamaConfig::from_json(const json& j, const std::string& source) {
  const JsonFields f(j, source);
  LlamaConfig c;
  c.raw_ = j;
  c.source_ = source;
  c.model_type = f.string("model_type");
  QUAROT_CHECK(c.model_type == "llama" || c.model_type == "mistral" || c.model_type == "qwen2",
               f.where("model_type"), " is '", c.model_type,
               "'; quarot supports llama (and mistral, qwen2 where Llama-compatible)");
  const std::string act = f.string("hidden_act", "silu");
  QUAROT_CHECK(act == "silu", f.where("hidden_act"), " is '", act, "'; Llama's MLP uses silu");

  c.hidden_size = f.integer("hidden_size");
  c.intermediate_size = f.integer("intermediate_size");
  c.num_hidden_layers = f.integer("num_hidden_layers");
  c.num_attention_heads = f.integer("num_attention_heads");
  c.num_key_value_heads = f.integer("num_key_value_heads", c.num_attention_heads);
  if (f.has("head_dim")) {
    c.head_dim = f.integer("head_dim");
  } else {
    QUAROT_CHECK(c.num_attention_heads > 0 && c.hidden_size % c.num_attention_heads == 0,
                 f.where("hidden_size"), " (", c.hidden_size,
                 ") is not a multiple of num_attention_heads (", c.num_attention_heads,
                 ") and head_dim is not given");
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  c.vocab_size = f.integer("vocab_size");
  c.max_position_embeddings = f.integer("max_position_embeddings");
  c.rms_norm_eps = f.number("rms_norm_eps");
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", false);

  // Which projections carry a bias is fixed by each architecture's modelling code.
  if (c.model_type == "llama") {
    c.qkv_bias = c.o_bias = f.boolean("attention_bias", false);
    c.mlp_bias = f.boolean("mlp_bias", false);
  } else if (c.model_type == "qwen2") {
    c.qkv_bias = true;
  }

  const char* dkey = f.has("dtype") ? "dtype" : "torch_dtype";
  if (f.has(dkey)) c.dtype = parse_torch_dtype(f.string(dkey), source, dkey);
  c.bos_token_ids = parse_ids(f, j, "bos_token_id");
  c.eos_token_ids = parse_ids(f, j, "eos_token_id");
  c.rope = parse_rope(j, source);

  // A sliding window shorter than the context changes attention; quarot does not model it.
  if (c.model_type == "mistral" && f.has("sliding_window")) {
    const int64_t w = f.integer("sliding_window");
    QUAROT_CHECK(w >= c.max_position_embeddings, f.where("sliding_window"), " is ", w,
                 ", shorter than max_position_embeddings (", c.max_position_embeddings,
                 "); sliding-window attention is not supported");
  }
  if (c.model_type == "qwen2" && f.boolean("use_sliding_window", false) && f.has("sliding_window")) {
    const int64_t w = f.integer("sliding_window");
    QUAROT_CHECK(w >= c.max_position_embeddings, f.where("use_sliding_window"),
                 " is true with sliding_window ", w, " < max_position_embeddings (",
                 c.max_position_embeddings, "); sliding-window attention is not supported");
  }
  if (f.has("layer_types")) {
    const json& lt = j["layer_types"];
    QUAROT_CHECK(lt.is_array(), f.where("layer_types"), " is not a list");
    for (const json& t : lt)
      QUAROT_CHECK(t == "full_attention", f.where("layer_types"), " holds ", t.dump(),
                   "; only full_attention layers are supported");
  }
  c.validate(source);
  return c;
}

void LlamaConfig::validate(const std::string& source) const {
  const std::pair<const char*, int64_t> sizes[] = {
      {"hidden_size", hidden_size},
      {"intermediate_size", intermediate_size},
      {"num_hidden_layers", num_hidden_layers},
      {"num_attention_heads", num_attention_heads},
      {"num_key_value_heads", num_key_value_heads},
      {"head_dim", head_dim},
      {"vocab_size", vocab_size},
      {"max_position_embeddings", max_position_embeddings}};
  for (const auto& [name, v] : sizes)
    QUAROT_CHECK(v > 0, field(source, name), " is ", v, "; it must be positive");
  QUAROT_CHECK(num_attention_heads % num_key_value_heads == 0, field(source, "num_key_value_heads"),
               " (", num_key_value_heads, ") does not divide num_attention_heads (",
               num_attention_heads, ")");
  QUAROT_CHECK(head_dim % 2 == 0, field(source, "head_dim"), " is ", head_dim,
               "; RoPE needs an even head dimension");
  QUAROT_CHECK(rms_norm_eps > 0, field(source, "rms_norm_eps"), " is ", rms_norm_eps,
               "; it must be positive");
  QUAROT_CHECK(dtype_is_float(dtype), field(source, "dtype"), " is ", dtype_name(dtype),
               ", not a floating type");
  QUAROT_CHECK(rope.theta > 0, field(source, "rope_theta"), " is ", rope.theta,
               "; it must be positive");
  if (model_type == "llama") {
    QUAROT_CHECK(qkv_bias == o_bias, field(source, "attention_bias"),
                 ": llama puts a bias on all of q/k/v/o_proj or none; qkv_bias=", qkv_bias,
                 " with o_bias=", o_bias, " cannot be expressed");
  } else if (model_type == "mistral") {
    QUAROT_CHECK(!qkv_bias && !o_bias && !mlp_bias, field(source, "model_type"),
                 ": mistral has no biases, but the config asks for some");
  } else if (model_type == "qwen2") {
    QUAROT_CHECK(qkv_bias && !o_bias && !mlp_bias, field(source, "model_type"),
                 ": qwen2 always has q/k/v biases and none on o_proj or the MLP");
  } else {
    QUAROT_FAIL(field(source, "model_type"), " is '", model_type, "', not llama, mistral or qwen2");
  }
}

json LlamaConfig::to_json() const {
  validate(source_.empty() ? std::string("config") : source_);
  json j = raw_.is_object() ? raw_ : json::object();
  j["model_type"] = model_type;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  if (raw_.contains("head_dim") || head_dim * num_attention_heads != hidden_size)
    j["head_dim"] = head_dim;
  j["vocab_size"] = vocab_size;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["tie_word_embeddings"] = tie_word_embeddings;
  if (model_type == "llama") {
    j["attention_bias"] = qkv_bias;
    j["mlp_bias"] = mlp_bias;
  }
  bool wrote_dtype = false;
  for (const char* key : {"dtype", "torch_dtype"}) {
    if (raw_.contains(key)) {
      j[key] = torch_dtype_name(dtype);
      wrote_dtype = true;
    }
  }
  if (!wrote_dtype) j["torch_dtype"] = torch_dtype_name(dtype);
  put_ids(j, raw_, "bos_token_id", bos_token_ids);
  put_ids(j, raw_, "eos_token_id", eos_token_ids);
  write_rope(rope, j);
  return j;
}

void LlamaConfig::save(const fs::path& path) const {
  write_file_atomic(path, to_json().dump(2) + "\n");
}

}  // namespace quarot
