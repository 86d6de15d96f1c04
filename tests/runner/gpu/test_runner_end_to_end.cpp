// runner_perplexity on a small random packed checkpoint against a float64 CPU
// forward written from the specification (QuaRot's W4A4KV4 computation), plus the
// loader's refusals of malformed checkpoints.
#include <cmath>
#include <filesystem>

#include "lib/core/error.h"
#include "lib/core/files.h"
#include "lib/io/config.h"
#include "lib/io/dtype.h"
#include "lib/io/manifest.h"
#include "lib/io/safetensors.h"
#include "lib/runner/kernels.h"
#include "lib/runner/rope_tables.h"
#include "lib/runner/runner.h"
#include "rotate/hadamard.h"
#include "tests/runner/gpu/gpu_test_util.h"

namespace fs = std::filesystem;
using namespace quarot::runner::testing;

namespace {

// A model's dimensions: the default exercises the fast kernels; Dims::stories260k()
// the shapes of tests/data/models/stories260K (head_dim 8, intermediate 172 =
// 172·2^0, hidden 64, GQA 8/4), which take the generic kernels and the padded GEMMs.
struct Dims {
  int d = 256, H = 4, KV = 2, HD = 64, I = 1376, L = 2, V = 512;
  bool bias = true;
  static Dims stories260k() { return Dims{64, 8, 4, 8, 172, 5, 512, false}; }
};

struct Linear {
  int out, in;
  std::vector<int8_t> codes;  // [out, in]
  std::vector<float> scale;   // [out]
  std::vector<float> bias;    // fp16-representable, or empty
};

struct Model {
  std::vector<float> embed, lm_head, final_norm;  // fp16-representable values
  struct Layer {
    std::vector<float> in_norm, post_norm;
    Linear q, k, v, o, gate, up, down;
  };
  std::vector<Layer> layers;
};

float f16(float v) { return quarot::fp16_to_float(quarot::float_to_fp16(v)); }

Linear random_linear(std::mt19937_64& rng, int out, int in, bool bias) {
  Linear l{out, in, std::vector<int8_t>(size_t(out) * in), std::vector<float>(static_cast<size_t>(out)), {}};
  std::uniform_real_distribution<float> sd(0.005f, 0.015f), bd(-0.2f, 0.2f);
  for (auto& c : l.codes) c = int8_t(int(rng() % 16) - 8);
  for (auto& s : l.scale) s = sd(rng);
  if (bias) {
    l.bias.resize(static_cast<size_t>(out));
    for (auto& b : l.bias) b = f16(bd(rng));
  }
  return l;
}

Model random_model(std::mt19937_64& rng, const Dims& dm) {
  const int kV = dm.V, kD = dm.d, kL = dm.L, kH = dm.H, kKV = dm.KV, kHD = dm.HD, kI = dm.I;
  std::normal_distribution<float> nd(0.f, 1.f);
  std::uniform_real_distribution<float> nw(0.8f, 1.2f);
  Model m;
  m.embed.resize(size_t(kV) * kD);
  m.lm_head.resize(size_t(kV) * kD);
  m.final_norm.resize(kD);
  for (auto& v : m.embed) v = f16(nd(rng));
  for (auto& v : m.lm_head) v = f16(0.05f * nd(rng));
  for (auto& v : m.final_norm) v = f16(nw(rng));
  for (int l = 0; l < kL; ++l) {
    Model::Layer L;
    L.in_norm.resize(kD);
    L.post_norm.resize(kD);
    for (auto& v : L.in_norm) v = f16(nw(rng));
    for (auto& v : L.post_norm) v = f16(nw(rng));
    L.q = random_linear(rng, kH * kHD, kD, dm.bias);
    L.k = random_linear(rng, kKV * kHD, kD, dm.bias);
    L.v = random_linear(rng, kKV * kHD, kD, dm.bias);
    L.o = random_linear(rng, kD, kH * kHD, dm.bias);
    L.gate = random_linear(rng, kI, kD, false);
    L.up = random_linear(rng, kI, kD, false);
    L.down = random_linear(rng, kD, kI, false);
    m.layers.push_back(std::move(L));
  }
  return m;
}

struct WriteOptions {
  std::string drop;          // a tensor to leave out
  bool grouped_scale = false;  // layer 0 q_proj gets G = 2
  int act_bits = 4;
};

void write_checkpoint(const Model& m, const Dims& dm, const fs::path& dir, const WriteOptions& opt) {
  const int kV = dm.V, kD = dm.d, kL = dm.L, kH = dm.H, kKV = dm.KV, kHD = dm.HD, kI = dm.I;
  fs::create_directories(dir);
  nlohmann::json cfg = {{"model_type", "llama"}, {"hidden_size", kD}, {"intermediate_size", kI},
                        {"num_hidden_layers", kL}, {"num_attention_heads", kH}, {"num_key_value_heads", kKV},
                        {"head_dim", kHD}, {"vocab_size", kV}, {"max_position_embeddings", 4096},
                        {"rms_norm_eps", 1e-5}, {"rope_theta", 10000.0}, {"attention_bias", dm.bias},
                        {"tie_word_embeddings", false}, {"torch_dtype", "float16"}};
  quarot::write_file_atomic(dir / "config.json", cfg.dump(2));
  quarot::Manifest man;
  man.fused = true;
  man.rotation = "hadamard";
  man.online = {true, true, true};
  man.weights.bits = 4;
  man.weights.method = "rtn";
  man.weights.format = "int4-packed";
  man.activations.bits = opt.act_bits;
  man.activations.clip_ratio = 0.9;
  man.kv.k_bits = 4;
  man.kv.v_bits = 4;
  man.kv.clip_ratio = 0.95;
  man.save(dir);

  quarot::TensorSet set;
  auto add_f16 = [&](const std::string& name, std::vector<int64_t> shape, const std::vector<float>& v) {
    if (name != opt.drop) set.add_from_float(name, quarot::DType::F16, std::move(shape), v.data());
  };
  add_f16("model.embed_tokens.weight", {kV, kD}, m.embed);
  add_f16("lm_head.weight", {kV, kD}, m.lm_head);
  add_f16("model.norm.weight", {kD}, m.final_norm);
  for (int l = 0; l < kL; ++l) {
    const auto& L = m.layers[size_t(l)];
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add_f16(p + "input_layernorm.weight", {kD}, L.in_norm);
    add_f16(p + "post_attention_layernorm.weight", {kD}, L.post_norm);
    auto add_linear = [&](const std::string& name, const Linear& lin) {
      std::vector<uint8_t> packed(size_t(lin.out) * lin.in / 2);
      for (size_t i = 0; i < packed.size(); ++i)
        packed[i] = uint8_t((lin.codes[2 * i] & 0xF) | ((lin.codes[2 * i + 1] & 0xF) << 4));
      if (p + name + ".qweight" != opt.drop)
        set.add(p + name + ".qweight", quarot::DType::U8, {lin.out, lin.in / 2}, std::move(packed));
      const bool grouped = opt.grouped_scale && l == 0 && name == "self_attn.q_proj";
      std::vector<float> sc = lin.scale;
      if (grouped) {
        sc.clear();
        for (float s : lin.scale) sc.insert(sc.end(), {s, s});
      }
      set.add_from_float(p + name + ".weight_scale", quarot::DType::F32, {lin.out, grouped ? 2 : 1}, sc.data());
      if (!lin.bias.empty()) add_f16(p + name + ".bias", {lin.out}, lin.bias);
    };
    add_linear("self_attn.q_proj", L.q);
    add_linear("self_attn.k_proj", L.k);
    add_linear("self_attn.v_proj", L.v);
    add_linear("self_attn.o_proj", L.o);
    add_linear("mlp.gate_proj", L.gate);
    add_linear("mlp.up_proj", L.up);
    add_linear("mlp.down_proj", L.down);
  }
  quarot::write_safetensors(dir / "model.safetensors", set);
}

// ---- the float64 reference forward -----------------------------------------------

using Mat = std::vector<double>;  // row-major

Mat rmsnorm(const Mat& h, int T, int d, const std::vector<float>& w) {
  Mat y(h.size());
  for (int t = 0; t < T; ++t) {
    double ss = 0;
    for (int k = 0; k < d; ++k) ss += h[size_t(t) * d + k] * h[size_t(t) * d + k];
    const double inv = 1.0 / std::sqrt(ss / d + 1e-5);
    for (int k = 0; k < d; ++k) y[size_t(t) * d + k] = h[size_t(t) * d + k] * inv * w[size_t(k)];
  }
  return y;
}

// Per-token symmetric quantization to codes + scale.
void quant_act(const Mat& x, int T, int K, std::vector<int>& codes, std::vector<double>& scale) {
  codes.assign(size_t(T) * K, 0);
  scale.assign(size_t(T), 1.0);
  for (int t = 0; t < T; ++t) {
    double amax = 0;
    for (int k = 0; k < K; ++k) amax = std::max(amax, std::abs(x[size_t(t) * K + k]));
    const double s = amax == 0 ? 1.0 : amax * 0.9 / 7;
    scale[size_t(t)] = s;
    for (int k = 0; k < K; ++k)
      codes[size_t(t) * K + k] = int(std::min(7.0, std::max(-8.0, std::nearbyint(x[size_t(t) * K + k] / s))));
  }
}

Mat qlinear(const Mat& x, int T, const Linear& W) {
  std::vector<int> codes;
  std::vector<double> sa;
  quant_act(x, T, W.in, codes, sa);
  Mat y(size_t(T) * W.out);
  for (int t = 0; t < T; ++t)
    for (int o = 0; o < W.out; ++o) {
      int64_t dot = 0;
      for (int k = 0; k < W.in; ++k) dot += int64_t(codes[size_t(t) * W.in + k]) * W.codes[size_t(o) * W.in + k];
      y[size_t(t) * W.out + o] = double(dot) * sa[size_t(t)] * W.scale[size_t(o)] + (W.bias.empty() ? 0.0 : W.bias[size_t(o)]);
    }
  return y;
}

// x ← x·Hᵀ with H = hadamard_pm1(n) / sqrt(n), on `count` vectors of stride `stride`.
void hadamard_apply(double* x, int n, int stride) {
  const quarot::hadamard::SignMatrix H = quarot::hadamard::hadamard_pm1(n);
  std::vector<double> y(static_cast<size_t>(n), 0.0);
  for (int a = 0; a < n; ++a)
    for (int c = 0; c < n; ++c) y[size_t(a)] += H(a, c) * x[size_t(c) * stride];
  for (int a = 0; a < n; ++a) x[size_t(a) * stride] = y[size_t(a)] / std::sqrt(double(n));
}

void kv_fake_quant(double* v, int D) {
  double mn = v[0], mx = v[0];
  for (int i = 1; i < D; ++i) mn = std::min(mn, v[i]), mx = std::max(mx, v[i]);
  const double lo = std::min(mn, 0.0) * 0.95, hi = std::max(mx, 0.0) * 0.95;
  double s = (hi - lo) / 15;
  if (s == 0) s = 1;
  const double z = std::nearbyint(-lo / s);
  for (int i = 0; i < D; ++i) v[i] = s * (std::min(15.0, std::max(0.0, std::nearbyint(v[i] / s) + z)) - z);
}

double reference_window_nll(const Model& m, const Dims& dm, const int32_t* ids, int T,
                            const quarot::LlamaConfig& cfg) {
  const int kV = dm.V, kD = dm.d, kH = dm.H, kKV = dm.KV, kHD = dm.HD, kI = dm.I;
  std::vector<float> cs, sn;
  quarot::runner::rope_tables_host(cfg, T, cs, sn);
  Mat h(size_t(T) * kD);
  for (int t = 0; t < T; ++t)
    for (int k = 0; k < kD; ++k) h[size_t(t) * kD + k] = m.embed[size_t(ids[t]) * kD + k];
  for (const auto& L : m.layers) {
    Mat x = rmsnorm(h, T, kD, L.in_norm);
    Mat q = qlinear(x, T, L.q), k = qlinear(x, T, L.k), v = qlinear(x, T, L.v);
    auto rope_had = [&](Mat& a, int heads) {
      for (int t = 0; t < T; ++t)
        for (int hh = 0; hh < heads; ++hh) {
          double* r = &a[(size_t(t) * heads + hh) * kHD];
          std::vector<double> o(kHD);
          for (int e = 0; e < kHD; ++e) {
            const int i = e % (kHD / 2);
            const double rot = e < kHD / 2 ? -r[e + kHD / 2] : r[e - kHD / 2];
            o[size_t(e)] = r[e] * cs[size_t(t) * (kHD / 2) + i] + rot * sn[size_t(t) * (kHD / 2) + i];
          }
          std::copy(o.begin(), o.end(), r);
          hadamard_apply(r, kHD, 1);
        }
    };
    rope_had(q, kH);
    rope_had(k, kKV);
    for (int t = 0; t < T; ++t)
      for (int hh = 0; hh < kKV; ++hh) {
        kv_fake_quant(&k[(size_t(t) * kKV + hh) * kHD], kHD);
        kv_fake_quant(&v[(size_t(t) * kKV + hh) * kHD], kHD);
      }
    Mat a(size_t(T) * kH * kHD);
    for (int hh = 0; hh < kH; ++hh) {
      const int kvh = hh / (kH / kKV);
      for (int t = 0; t < T; ++t) {
        std::vector<double> p(size_t(t) + 1);
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j <= t; ++j) {
          double s = 0;
          for (int e = 0; e < kHD; ++e) s += q[(size_t(t) * kH + hh) * kHD + e] * k[(size_t(j) * kKV + kvh) * kHD + e];
          p[size_t(j)] = s / std::sqrt(double(kHD));
          mx = std::max(mx, p[size_t(j)]);
        }
        for (auto& e : p) sum += (e = std::exp(e - mx));
        for (int e = 0; e < kHD; ++e) {
          double acc = 0;
          for (int j = 0; j <= t; ++j) acc += p[size_t(j)] * v[(size_t(j) * kKV + kvh) * kHD + e];
          a[(size_t(t) * kH + hh) * kHD + e] = acc / sum;
        }
      }
    }
    for (int t = 0; t < T; ++t)
      for (int e = 0; e < kHD; ++e) hadamard_apply(&a[size_t(t) * kH * kHD + e], kH, kHD);
    Mat o = qlinear(a, T, L.o);
    for (size_t i = 0; i < h.size(); ++i) h[i] += o[i];
    x = rmsnorm(h, T, kD, L.post_norm);
    Mat g = qlinear(x, T, L.gate), u = qlinear(x, T, L.up);
    Mat mm(g.size());
    for (size_t i = 0; i < g.size(); ++i) mm[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
    for (int t = 0; t < T; ++t) {
      std::vector<double> row(mm.begin() + int64_t(t) * kI, mm.begin() + int64_t(t + 1) * kI);
      quarot::hadamard::apply_hadamard_inplace(row.data(), kI);
      for (int i = 0; i < kI; ++i) mm[size_t(t) * kI + i] = row[size_t(i)] / std::sqrt(double(kI));
    }
    Mat dn = qlinear(mm, T, L.down);
    for (size_t i = 0; i < h.size(); ++i) h[i] += dn[i];
  }
  Mat x = rmsnorm(h, T, kD, m.final_norm);
  double total = 0;
  for (int t = 0; t + 1 < T; ++t) {
    std::vector<double> logits(kV);
    double mx = -INFINITY;
    for (int v = 0; v < kV; ++v) {
      double s = 0;
      for (int k = 0; k < kD; ++k) s += double(f16(float(x[size_t(t) * kD + k]))) * m.lm_head[size_t(v) * kD + k];
      logits[size_t(v)] = s;
      mx = std::max(mx, s);
    }
    double sum = 0;
    for (double l : logits) sum += std::exp(l - mx);
    total += std::log(sum) + mx - logits[size_t(ids[t + 1])];
  }
  return total / (T - 1);
}

fs::path temp_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() /
                     ("quarot_runner_test_" + name + "_" + std::to_string(quarot::runner::testing::test_seed()));
  fs::remove_all(p);
  return p;
}

void check_against_reference(const Dims& dm, const std::string& name, int T, int windows) {
  auto rng = rng_for(name);
  const Model m = random_model(rng, dm);
  const fs::path dir = temp_dir(name);
  write_checkpoint(m, dm, dir, {});
  std::vector<int32_t> ids(size_t(T) * windows + 17);
  for (auto& i : ids) i = int32_t(rng() % dm.V);

  const quarot::RunnerResult r = quarot::runner_perplexity(dir, ids, T, 0, false);
  REQUIRE(r.windows == windows);
  REQUIRE(r.tokens == T * windows);
  REQUIRE(r.window_nll.size() == size_t(windows));
  const quarot::LlamaConfig cfg = quarot::LlamaConfig::load(dir);
  // fp32 (runner) and fp64 (reference) may round a value that lies on a code
  // boundary to neighbouring codes, which moves one window. Over 82 runs of these
  // tests 3 of ~800 windows were past 2e-3 (relative), by up to 4.2e-3, each alone in
  // its check and replaying to the same NLL (seeds 1796155244905342332,
  // 1796155325132480544). A bug moves every window: so every window within 1e-2 and
  // all but one within 2e-3.
  double sum = 0, allowed = 0;
  int loose = 0;
  for (int w = 0; w < windows; ++w) {
    const double ref = reference_window_nll(m, dm, ids.data() + size_t(w) * T, T, cfg);
    const double diff = std::abs(r.window_nll[size_t(w)] - ref);
    INFO("window " << w << " runner NLL " << r.window_nll[size_t(w)] << " reference " << ref);
    REQUIRE(diff <= 1e-2 * ref);
    if (diff > 2e-3 * ref) ++loose;
    allowed += (diff > 2e-3 * ref ? 1e-2 : 2e-3) * ref;
    sum += ref;
  }
  REQUIRE(loose <= 1);
  // log ppl is the mean window NLL: exactly the runner's own windows', and within
  // the windows' bounds of the reference's. (A bound of 3e-3 on the ppl itself, i.e.
  // on the mean NLL to 3e-3 absolute, was 4x tighter than the windows' 2e-3
  // relative and failed for seed 1796143430869279296: 0.0037 with PDL on or off.)
  double own = 0;
  for (double l : r.window_nll) own += l;
  REQUIRE(std::abs(std::log(r.ppl) - own / windows) <= 1e-12 * (own / windows));
  REQUIRE(std::abs(std::log(r.ppl) - sum / windows) <= allowed / windows);
  REQUIRE(r.peak_gpu_bytes > 0);

  const quarot::RunnerResult one = quarot::runner_perplexity(dir, ids, T, 1, false);
  REQUIRE(one.windows == 1);
  REQUIRE(one.window_nll[0] == r.window_nll[0]);  // deterministic
  fs::remove_all(dir);
}

}  // namespace

TEST_CASE("runner_perplexity matches a float64 reference of the W4A4KV4 forward", "[gpu][runner]") {
  require_gpu();
  check_against_reference(Dims{}, "end_to_end", 64, 2);     // wgmma on sm_90
  check_against_reference(Dims{}, "end_to_end_32", 32, 2);  // GEMMs of 32 tokens: the skinny kernel
}

TEST_CASE("runner_perplexity through the mma.sync GEMMs (packed activation codes) matches too", "[gpu][runner]") {
  require_gpu();
  REQUIRE(quarot::runner::w4a4_wgmma_available());
  // On sm_90 Auto sends every GEMM with M > 32 through wgmma (tiled activation
  // codes); Never keeps them on the mma.sync kernels, which other GPUs run.
  struct Reset {
    ~Reset() { quarot::runner::set_wgmma_policy(quarot::runner::WgmmaPolicy::Auto); }
  } reset;
  REQUIRE(quarot::runner::w4a4_act_tile_rows(65, 256, 256) == 128);
  quarot::runner::set_wgmma_policy(quarot::runner::WgmmaPolicy::Never);
  REQUIRE(quarot::runner::w4a4_act_tile_rows(65, 256, 256) == 0);
  check_against_reference(Dims{}, "end_to_end_mma_sync", 96, 2);
  check_against_reference(Dims::stories260k(), "end_to_end_mma_sync_stories260k", 80, 2);
}

TEST_CASE("runner_perplexity on stories260K shapes (head_dim 8, intermediate 172, GQA 8/4)", "[gpu][runner]") {
  require_gpu();
  // Generic attention / RoPE (head_dim 8), o_proj's Hadamard over 8 heads of 8, the
  // K = 172, m = 0 Hadamard of down_proj's input, gate/up padded to 192 rows and
  // down_proj's K padded to 192 with zero codes. T = 80 > 64 crosses a key chunk.
  check_against_reference(Dims::stories260k(), "end_to_end_stories260k", 80, 2);
}

TEST_CASE("runner_perplexity on tinystories-656k shapes (head_dim 16, intermediate 384)", "[gpu][runner]") {
  require_gpu();
  check_against_reference(Dims{128, 8, 4, 16, 384, 2, 2048, false}, "end_to_end_656k", 48, 2);
}

TEST_CASE("the runner refuses malformed packed checkpoints by name", "[gpu][runner]") {
  require_gpu();
  auto rng = rng_for("refusals");
  const Dims dm;
  const Model m = random_model(rng, dm);
  std::vector<int32_t> ids(128, 1);
  auto error_of = [&](const WriteOptions& opt, const std::vector<int32_t>& use_ids) -> std::string {
    const fs::path dir = temp_dir("bad");
    write_checkpoint(m, dm, dir, opt);
    std::string msg;
    try {
      quarot::runner_perplexity(dir, use_ids, 64, 0, false);
    } catch (const quarot::Error& e) {
      msg = e.what();
    }
    fs::remove_all(dir);
    return msg;
  };
  CHECK_THAT(error_of({"model.layers.1.mlp.up_proj.qweight", false, 4}, ids),
             Catch::Contains("model.layers.1.mlp.up_proj.qweight"));
  CHECK_THAT(error_of({"lm_head.weight", false, 4}, ids), Catch::Contains("lm_head.weight"));
  CHECK_THAT(error_of({"", true, 4}, ids), Catch::Contains("model.layers.0.self_attn.q_proj.weight_scale"));
  CHECK_THAT(error_of({"", false, 8}, ids), Catch::Contains("activations.bits"));
  std::vector<int32_t> bad_ids = ids;
  bad_ids[70] = dm.V;
  CHECK_THAT(error_of({}, bad_ids), Catch::Contains("position 70"));
}
