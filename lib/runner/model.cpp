#include "lib/runner/model.h"

#include <cstring>

#include "lib/core/error.h"
#include "lib/core/progress.h"
#include "lib/io/checkpoint.h"
#include "lib/io/dtype.h"

namespace fs = std::filesystem;

namespace quarot::runner {
namespace {

const TensorInfo& expect(const Checkpoint& ck, const std::string& name, std::initializer_list<DType> dtypes,
                         const std::vector<int64_t>& shape) {
  QUAROT_CHECK(ck.has(name), ck.dir().string(), ": tensor '", name, "' is missing (the CUDA runner needs a ",
               "packed checkpoint with every weight, lm_head included)");
  const TensorInfo& info = ck.info(name);
  bool dtype_ok = false;
  for (DType d : dtypes) dtype_ok = dtype_ok || info.dtype == d;
  QUAROT_CHECK(dtype_ok, ck.dir().string(), ": tensor '", name, "' has dtype ", dtype_name(info.dtype),
               ", expected ", dtype_name(*dtypes.begin()));
  QUAROT_CHECK(info.shape == shape, ck.dir().string(), ": tensor '", name, "' has shape ", shape_str(info.shape),
               ", expected ", shape_str(shape));
  return info;
}

std::vector<float> read_vector(const Checkpoint& ck, const std::string& name, int64_t n) {
  expect(ck, name, {DType::F16, DType::F32, DType::BF16}, {n});
  return ck.read_float(name);
}

std::vector<uint16_t> read_f16_matrix(const Checkpoint& ck, const std::string& name, int64_t rows, int64_t cols) {
  const TensorInfo& info = expect(ck, name, {DType::F16, DType::F32, DType::BF16}, {rows, cols});
  std::vector<uint16_t> out(static_cast<size_t>(rows * cols));
  if (info.dtype == DType::F16) {
    std::memcpy(out.data(), ck.data(name), out.size() * sizeof(uint16_t));
  } else {
    const std::vector<float> f = ck.read_float(name);
    for (size_t i = 0; i < f.size(); ++i) out[i] = float_to_fp16(f[i]);
  }
  return out;
}

// One linear's packed codes, per-channel scales and optional bias, checked.
struct HostLinear {
  const uint8_t* codes = nullptr;  // [out, in/2], points into the mapped file
  std::vector<float> scale, bias;
};

HostLinear read_linear(const Checkpoint& ck, const std::string& prefix, int64_t out, int64_t in) {
  HostLinear h;
  const std::string qn = prefix + ".qweight", sn = prefix + ".weight_scale", bn = prefix + ".bias";
  expect(ck, qn, {DType::U8}, {out, in / 2});
  h.codes = static_cast<const uint8_t*>(ck.data(qn));
  QUAROT_CHECK(ck.has(sn), ck.dir().string(), ": tensor '", sn, "' is missing");
  const TensorInfo& si = ck.info(sn);
  QUAROT_CHECK(si.shape.size() == 2 && si.shape[0] == out, ck.dir().string(), ": tensor '", sn,
               "' has shape ", shape_str(si.shape), ", expected [", out, ", G]");
  QUAROT_CHECK(si.shape[1] == 1, ck.dir().string(), ": tensor '", sn, "' has G = ", si.shape[1],
               " weight groups per row; the CUDA runner supports only per-channel scales (G = 1)");
  expect(ck, sn, {DType::F32}, {out, 1});
  h.scale = ck.read_float(sn);
  if (ck.has(bn)) h.bias = read_vector(ck, bn, out);
  return h;
}

// Where row r of an uploaded matrix comes from: row `row` of part `part`, or a
// zero row (codes, scale and bias 0) when part < 0.
struct RowSource {
  int part;
  int64_t row;
};

// Uploads `rows` rows picked by `source` from `parts` (each [out, in]), the input
// axis padded with zero codes from `in` to `in_pad` (ModelShape::pad32): the GEMM
// then reduces over in_pad, and the quantizer's zero codes there add nothing.
template <typename SourceOf>
void upload_rows(PackedLinear& dst, const std::vector<HostLinear>& parts, int64_t rows, int64_t in, int64_t in_pad,
                 SourceOf source) {
  const int64_t rb = in / 2, rbp = in_pad / 2;
  std::vector<uint8_t> codes(static_cast<size_t>(rows * rbp), 0);
  std::vector<float> scale(static_cast<size_t>(rows), 0.f), bias;
  bool any_bias = false;
  for (const HostLinear& p : parts) any_bias = any_bias || !p.bias.empty();
  if (any_bias) bias.assign(size_t(rows), 0.f);
  for (int64_t r = 0; r < rows; ++r) {
    const RowSource src = source(r);
    if (src.part < 0) continue;
    const HostLinear& p = parts[size_t(src.part)];
    std::memcpy(&codes[size_t(r * rbp)], p.codes + src.row * rb, size_t(rb));
    scale[size_t(r)] = p.scale[size_t(src.row)];
    if (any_bias && !p.bias.empty()) bias[size_t(r)] = p.bias[size_t(src.row)];
  }
  dst.N = int(rows);
  dst.K = int(in_pad);
  std::vector<uint8_t> tiled(w4a4_weight_bytes(int(rows), int(in_pad)));
  w4a4_tile_weights(codes.data(), int(rows), int(in_pad), tiled.data());
  dst.w.resize(tiled.size());
  dst.w.upload(tiled.data(), tiled.size());
  dst.scale.resize(scale.size());
  dst.scale.upload(scale.data(), scale.size());
  if (any_bias) {
    dst.bias.resize(bias.size());
    dst.bias.upload(bias.data(), bias.size());
  }
}

void upload_vector(DeviceBuffer<float>& dst, const std::vector<float>& v) {
  dst.resize(v.size());
  dst.upload(v.data(), v.size());
}

}  // namespace

GpuModel GpuModel::load(const fs::path& dir, bool progress) {
  GpuModel g;
  g.config = LlamaConfig::load(dir);
  QUAROT_CHECK(fs::exists(dir / kManifestFile), dir.string(), ": no ", kManifestFile,
               "; the CUDA runner needs a packed QuaRot checkpoint");
  g.manifest = Manifest::load_or_default(dir);
  g.shape = check_runner_support(g.config, g.manifest, dir.string());
  const ModelShape& s = g.shape;
  Checkpoint ck(dir);

  {
    std::vector<uint16_t> e = read_f16_matrix(ck, "model.embed_tokens.weight", s.vocab, s.d);
    g.embed.resize(e.size());
    g.embed.upload(e.data(), e.size());
  }
  {
    std::vector<uint16_t> e = read_f16_matrix(ck, "lm_head.weight", s.vocab, s.d);
    g.lm_head.resize(e.size());
    g.lm_head.upload(e.data(), e.size());
  }
  upload_vector(g.final_norm, read_vector(ck, "model.norm.weight", s.d));

  const int64_t hd = s.heads * s.head_dim, kvd = s.kv_heads * s.head_dim;
  Progress bar("load", s.layers, progress);
  g.layers.resize(size_t(s.layers));
  for (int64_t l = 0; l < s.layers; ++l) {
    LayerWeights& L = g.layers[size_t(l)];
    const std::string p = "model.layers." + std::to_string(l) + ".";
    upload_vector(L.in_norm, read_vector(ck, p + "input_layernorm.weight", s.d));
    upload_vector(L.post_norm, read_vector(ck, p + "post_attention_layernorm.weight", s.d));
    // q, k, v stacked along the output axis.
    upload_rows(L.qkv,
                {read_linear(ck, p + "self_attn.q_proj", hd, s.d), read_linear(ck, p + "self_attn.k_proj", kvd, s.d),
                 read_linear(ck, p + "self_attn.v_proj", kvd, s.d)},
                hd + 2 * kvd, s.d, s.d_pad(), [hd, kvd](int64_t r) {
                  return r < hd ? RowSource{0, r} : r < hd + kvd ? RowSource{1, r - hd} : RowSource{2, r - hd - kvd};
                });
    auto single = [](int64_t r) { return RowSource{0, r}; };
    upload_rows(L.o, {read_linear(ck, p + "self_attn.o_proj", s.d, hd)}, s.d, hd, s.attn_pad(), single);
    // gate and up, each padded with zero rows to inter_pad, interleaved for the SwiGLU epilogue.
    const int64_t I = s.inter, Ip = s.inter_pad();
    upload_rows(L.gate_up,
                {read_linear(ck, p + "mlp.gate_proj", I, s.d), read_linear(ck, p + "mlp.up_proj", I, s.d)}, 2 * Ip,
                s.d, s.d_pad(), [I, Ip](int64_t r) {
                  const int64_t src = interleaved_gate_up_source(r, Ip);
                  const int part = src < Ip ? 0 : 1;
                  const int64_t row = src - part * Ip;
                  return row < I ? RowSource{part, row} : RowSource{-1, 0};
                });
    upload_rows(L.down, {read_linear(ck, p + "mlp.down_proj", s.d, I)}, s.d, I, Ip, single);
    bar.update(l + 1);
  }
  bar.finish();
  if (g.manifest.online.down_proj_input) g.had_down = HadamardDevice(s.inter);
  if (g.manifest.online.o_proj_heads) g.had_heads = HadamardDevice(s.heads);
  return g;
}

}  // namespace quarot::runner
