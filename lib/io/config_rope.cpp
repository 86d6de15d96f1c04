#include <cmath>

#include "lib/core/error.h"
#include "lib/io/config.h"
#include "lib/io/json_fields.h"

namespace quarot {
namespace {

using json = nlohmann::json;

const char* const kScalingKeys[] = {"factor", "low_freq_factor", "high_freq_factor",
                                    "original_max_position_embeddings"};

void check_partial_rotary(const JsonFields& f) {
  if (f.has("partial_rotary_factor"))
    QUAROT_CHECK(f.number("partial_rotary_factor") == 1.0, f.where("partial_rotary_factor"),
                 " is ", f.number("partial_rotary_factor"),
                 "; Llama rotates the whole head (only 1.0 is supported)");
}

void parse_scaling(const JsonFields& f, RopeConfig& r) {
  const char* type_key = f.has("rope_type") || !f.has("type") ? "rope_type" : "type";
  const std::string type = f.string(type_key, "default");
  check_partial_rotary(f);
  if (type == "default") {
    r.type = RopeType::Default;
  } else if (type == "linear") {
    r.type = RopeType::Linear;
    r.factor = f.number("factor");
    QUAROT_CHECK(r.factor > 0, f.where("factor"), " is ", r.factor, "; it must be positive");
  } else if (type == "llama3") {
    r.type = RopeType::Llama3;
    r.factor = f.number("factor");
    r.low_freq_factor = f.number("low_freq_factor");
    r.high_freq_factor = f.number("high_freq_factor");
    r.original_max_position_embeddings = f.integer("original_max_position_embeddings");
    QUAROT_CHECK(r.factor > 0, f.where("factor"), " is ", r.factor, "; it must be positive");
    QUAROT_CHECK(r.low_freq_factor > 0, f.where("low_freq_factor"), " is ", r.low_freq_factor,
                 "; it must be positive");
    // The llama3 ramp divides by high - low.
    QUAROT_CHECK(r.high_freq_factor > r.low_freq_factor, f.where("high_freq_factor"), " is ",
                 r.high_freq_factor, "; it must exceed low_freq_factor (", r.low_freq_factor, ")");
    QUAROT_CHECK(r.original_max_position_embeddings > 0,
                 f.where("original_max_position_embeddings"), " is ",
                 r.original_max_position_embeddings, "; it must be positive");
  } else {
    QUAROT_FAIL(f.where(type_key), " is '", type,
                "', a RoPE scaling quarot does not implement (supported: default, linear, llama3)");
  }
}

void put_scaling(const RopeConfig& r, json& s) {
  for (const char* k : kScalingKeys) s.erase(k);
  s["rope_type"] = rope_type_name(r.type);
  if (s.contains("type")) s["type"] = rope_type_name(r.type);
  if (r.type == RopeType::Linear || r.type == RopeType::Llama3) s["factor"] = r.factor;
  if (r.type == RopeType::Llama3) {
    s["low_freq_factor"] = r.low_freq_factor;
    s["high_freq_factor"] = r.high_freq_factor;
    s["original_max_position_embeddings"] = r.original_max_position_embeddings;
  }
}

}  // namespace

const char* rope_type_name(RopeType t) {
  switch (t) {
    case RopeType::Default: return "default";
    case RopeType::Linear: return "linear";
    case RopeType::Llama3: return "llama3";
  }
  QUAROT_ASSERT(false, "unknown RopeType ", int(t));
  return "";
}

RopeConfig parse_rope(const json& cfg, const std::string& source) {
  const JsonFields top(cfg, source);
  check_partial_rotary(top);
  RopeConfig r;
  if (top.has("rope_parameters")) {
    const JsonFields p(cfg["rope_parameters"], source, "rope_parameters");
    if (p.has("rope_theta") && top.has("rope_theta"))
      QUAROT_CHECK(p.number("rope_theta") == top.number("rope_theta"), top.where("rope_theta"),
                   " is ", top.number("rope_theta"), " but ", p.where("rope_theta"), " is ",
                   p.number("rope_theta"));
    r.theta = p.has("rope_theta") ? p.number("rope_theta") : top.number("rope_theta", r.theta);
    QUAROT_CHECK(r.theta > 0, p.has("rope_theta") ? p.where("rope_theta") : top.where("rope_theta"),
                 " is ", r.theta, "; it must be positive");
    parse_scaling(p, r);
    if (top.has("rope_scaling")) {  // transformers 5 ignores it; make sure nothing is lost
      RopeConfig old;
      parse_scaling(JsonFields(cfg["rope_scaling"], source, "rope_scaling"), old);
      QUAROT_CHECK(old.type == r.type && old.factor == r.factor, top.where("rope_scaling"),
                   " (", rope_type_name(old.type), ") disagrees with field 'rope_parameters' (",
                   rope_type_name(r.type), ")");
    }
  } else {
    r.theta = top.number("rope_theta", r.theta);
    QUAROT_CHECK(r.theta > 0, top.where("rope_theta"), " is ", r.theta, "; it must be positive");
    if (top.has("rope_scaling")) parse_scaling(JsonFields(cfg["rope_scaling"], source, "rope_scaling"), r);
  }
  return r;
}

void write_rope(const RopeConfig& r, json& cfg) {
  QUAROT_ASSERT(cfg.is_object());
  auto params = cfg.find("rope_parameters");
  if (params != cfg.end() && params->is_object()) {
    (*params)["rope_theta"] = r.theta;
    put_scaling(r, *params);
    if (cfg.contains("rope_theta") && !cfg["rope_theta"].is_null()) cfg["rope_theta"] = r.theta;
    return;
  }
  cfg["rope_theta"] = r.theta;
  auto scaling = cfg.find("rope_scaling");
  const bool had = scaling != cfg.end() && scaling->is_object();
  if (r.type == RopeType::Default) {
    if (scaling != cfg.end()) cfg["rope_scaling"] = nullptr;
    return;
  }
  json s = had ? *scaling : json::object();
  put_scaling(r, s);
  cfg["rope_scaling"] = std::move(s);
}

}  // namespace quarot
