#include "lib/io/manifest.h"

#include "lib/core/error.h"
#include "lib/core/files.h"
#include "lib/io/json_fields.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace quarot {
namespace {

void check_bits(int bits, const std::string& file, const std::string& field, int lo) {
  QUAROT_CHECK((bits >= lo && bits <= 8) || bits == 16, file, ": field ", field, " = ", bits,
               " is not a supported bit width (", lo, "..8 or 16)");
}

}  // namespace

Manifest Manifest::load_or_default(const fs::path& dir) {
  const fs::path p = dir / kManifestFile;
  if (!fs::exists(p)) return Manifest{};
  json j;
  try {
    j = json::parse(read_text_file(p));
  } catch (const json::parse_error& e) {
    QUAROT_FAIL(p.string(), ": malformed JSON: ", e.what());
  }
  return from_json(j, p.string());
}

Manifest Manifest::from_json(const json& j, const std::string& file) {
  QUAROT_CHECK(j.is_object(), file, ": the manifest must be a JSON object");
  Manifest m;
  const JsonFields top(j, file);
  m.version = top.string("version", m.version);
  QUAROT_CHECK(m.version == "1", file, ": field version = ", m.version, " is not a manifest version this build reads (1)");
  m.fused = top.boolean("fused", m.fused);
  m.rotation = top.string("rotation", m.rotation);
  QUAROT_CHECK(m.rotation.empty() || m.rotation == "hadamard" || m.rotation == "random", file,
               ": field rotation = '", m.rotation, "' (expected hadamard or random)");
  m.seed = uint64_t(top.integer("seed", int64_t(m.seed)));
  if (top.has("online")) {
    const JsonFields o(top.at("online"), file, "online");
    m.online.down_proj_input = o.boolean("down_proj_input", false);
    m.online.o_proj_heads = o.boolean("o_proj_heads", false);
    m.online.qk_post_rope = o.boolean("qk_post_rope", false);
  }
  if (top.has("weights")) {
    const JsonFields w(top.at("weights"), file, "weights");
    m.weights.bits = int(w.integer("bits", m.weights.bits));
    m.weights.method = w.string("method", m.weights.method);
    m.weights.symmetric = w.boolean("symmetric", m.weights.symmetric);
    m.weights.groupsize = w.integer("groupsize", m.weights.groupsize);
    m.weights.clip_search = w.boolean("clip_search", m.weights.clip_search);
    m.weights.format = w.string("format", m.weights.format);
    check_bits(m.weights.bits, file, "weights.bits", 2);
  }
  if (top.has("activations")) {
    const JsonFields a(top.at("activations"), file, "activations");
    m.activations.bits = int(a.integer("bits", m.activations.bits));
    m.activations.clip_ratio = a.number("clip_ratio", m.activations.clip_ratio);
    m.activations.groupsize = a.integer("groupsize", m.activations.groupsize);
    m.activations.symmetric = a.boolean("symmetric", m.activations.symmetric);
    check_bits(m.activations.bits, file, "activations.bits", 2);
  }
  if (top.has("kv_cache")) {
    const JsonFields k(top.at("kv_cache"), file, "kv_cache");
    m.kv.k_bits = int(k.integer("k_bits", m.kv.k_bits));
    m.kv.v_bits = int(k.integer("v_bits", m.kv.v_bits));
    m.kv.clip_ratio = k.number("clip_ratio", m.kv.clip_ratio);
    m.kv.symmetric = k.boolean("symmetric", m.kv.symmetric);
    check_bits(m.kv.k_bits, file, "kv_cache.k_bits", 2);
    check_bits(m.kv.v_bits, file, "kv_cache.v_bits", 2);
  }
  for (double r : {m.activations.clip_ratio, m.kv.clip_ratio})
    QUAROT_CHECK(r > 0 && r <= 1, file, ": a clip_ratio of ", r, " is outside (0, 1]");
  if (j.contains("calibration")) m.calibration = j["calibration"];
  if (j.contains("history")) {
    QUAROT_CHECK(j["history"].is_array(), file, ": field history must be an array");
    for (const json& h : j["history"]) m.history.push_back(h);
  }
  return m;
}

json Manifest::to_json() const {
  json j;
  j["version"] = version;
  j["fused"] = fused;
  j["rotation"] = rotation;
  j["seed"] = seed;
  j["online"] = {{"down_proj_input", online.down_proj_input},
                 {"o_proj_heads", online.o_proj_heads},
                 {"qk_post_rope", online.qk_post_rope}};
  j["weights"] = {{"bits", weights.bits},         {"method", weights.method},
                  {"symmetric", weights.symmetric}, {"groupsize", weights.groupsize},
                  {"clip_search", weights.clip_search}, {"format", weights.format}};
  j["activations"] = {{"bits", activations.bits},
                      {"clip_ratio", activations.clip_ratio},
                      {"groupsize", activations.groupsize},
                      {"symmetric", activations.symmetric}};
  j["kv_cache"] = {{"k_bits", kv.k_bits},
                   {"v_bits", kv.v_bits},
                   {"clip_ratio", kv.clip_ratio},
                   {"symmetric", kv.symmetric}};
  if (!calibration.is_null()) j["calibration"] = calibration;
  j["history"] = history;
  return j;
}

void Manifest::save(const fs::path& dir) const { write_file_atomic(dir / kManifestFile, to_json().dump(2) + "\n"); }

bool Manifest::has_stage(const std::string& stage) const {
  for (const json& h : history)
    if (h.value("stage", "") == stage) return true;
  return false;
}

std::string Manifest::describe() const {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : ", ") + part; };
  if (fused) add("fused");
  if (!rotation.empty()) add(rotation + "-rotated");
  if (weights.bits < 16) add("W" + std::to_string(weights.bits) + " " + weights.method);
  if (activations.bits < 16) add("A" + std::to_string(activations.bits));
  if (kv.k_bits < 16 || kv.v_bits < 16)
    add(kv.k_bits == kv.v_bits ? "KV" + std::to_string(kv.k_bits)
                               : "K" + std::to_string(kv.k_bits) + "V" + std::to_string(kv.v_bits));
  return s.empty() ? "original" : s;
}

}  // namespace quarot
