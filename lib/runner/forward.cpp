#include "lib/runner/forward.h"

#include <algorithm>
#include <cmath>

#include "lib/core/error.h"
#include "lib/runner/cuda_check.h"
#include "lib/runner/rope_tables.h"

namespace quarot::runner {

WindowForward::WindowForward(const GpuModel& model, int64_t seqlen) : m_(model), T_(int(seqlen)) {
  const ModelShape& s = m_.shape;
  QUAROT_CHECK(seqlen >= 2 && seqlen <= (int64_t(1) << 20), "--seqlen ", seqlen, " out of range");
  aq_.bits = m_.manifest.activations.bits;
  aq_.clip = m_.manifest.activations.clip_ratio;
  kv_.k_bits = m_.manifest.kv.k_bits;
  kv_.v_bits = m_.manifest.kv.v_bits;
  kv_.clip = m_.manifest.kv.clip_ratio;

  CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  CUBLAS_CHECK(cublasCreate(&cublas_));
  CUBLAS_CHECK(cublasSetStream(cublas_, stream_));

  const size_t T = size_t(T_), hd = size_t(s.heads * s.head_dim);
  // Packed activations are as wide as the padded GEMM K (ModelShape::pad32).
  const size_t widest = size_t(std::max({s.d_pad(), s.inter_pad(), s.attn_pad()}));
  ids_.resize(T);
  h_.resize(T * size_t(s.d));
  act_scale_.resize(T);
  qkv_.resize(T * size_t(s.qkv_rows()));
  q_.resize(T * hd);
  attn_.resize(T * hd);
  mlp_.resize(T * size_t(s.inter_pad()));  // SwiGLU writes the padded columns too (zeros)
  const size_t kvn = size_t(s.kv_heads) * T;
  k_codes_.resize(kvn * size_t(s.head_dim / 2));
  v_codes_.resize(kvn * size_t(s.head_dim / 2));
  k_scale_.resize(kvn);
  k_zero_.resize(kvn);
  v_scale_.resize(kvn);
  v_zero_.resize(kvn);
  x16_.resize(T * size_t(s.d));
  // Logits in chunks of rows so that a large vocabulary never needs T x V floats.
  logit_rows_ = std::max<int64_t>(1, std::min<int64_t>(T_ - 1, (int64_t(256) << 20) / (4 * s.vocab)));
  logits_.resize(size_t(logit_rows_) * size_t(s.vocab));
  nll_.resize(T);
  nll_host_.resize(T);
  // Packed codes, or the wgmma GEMM's tiled int8 codes (whichever layout is larger).
  act_packed_.resize(std::max(T * widest / 2, act_tiles_bytes((int64_t(T) + 127) / 128 * 128, int64_t(widest))));

  std::vector<float> c, sn;
  rope_tables_host(m_.config, seqlen, c, sn);
  rope_cos_.resize(c.size());
  rope_cos_.upload(c.data(), c.size());
  rope_sin_.resize(sn.size());
  rope_sin_.upload(sn.data(), sn.size());
}

WindowForward::~WindowForward() {
  if (cublas_ != nullptr) cublasDestroy(cublas_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

void WindowForward::layer(int64_t l) {
  const ModelShape& s = m_.shape;
  const LayerWeights& L = m_.layers[size_t(l)];
  const float eps = float(m_.config.rms_norm_eps);
  const int T = T_, d = int(s.d), H = int(s.heads), KV = int(s.kv_heads), D = int(s.head_dim),
            I = int(s.inter), Ip = int(s.inter_pad()), hd = H * D;
  const OnlineTransforms& on = m_.manifest.online;
  uint8_t* act = act_packed_.get();
  float* sc = act_scale_.get();
  // The layout the GEMM of W reads: tiled int8 for the wgmma kernel, where the
  // quantizer in front of it has its fast kernel (an unpadded row of whole 32-code
  // words; across heads, head_dim a power of two >= 8), else packed.
  const bool pow2_heads = D >= 8 && (D & (D - 1)) == 0;
  auto fast_quant = [&](const PackedLinear& W) {
    if (&W == &L.o) return W.K == hd && (!on.o_proj_heads || pow2_heads);
    if (&W == &L.down) return W.K == I;
    return W.K == d;
  };
  auto codes = [&](const PackedLinear& W) {
    return ActCodes(act, fast_quant(W) && W.K % 32 == 0 ? w4a4_act_tile_rows(T, W.N, W.K) : 0);
  };
  auto gemm = [&](const PackedLinear& W, void* out, int64_t ldo, OutMode mode, bool after_hadamard = false) {
    GemmArgs g;
    g.a = act;
    g.a_tile_rows = codes(W).tile_rows;
    g.a_scale = sc;
    g.w = W.w.get();
    g.w_scale = W.scale.get();
    g.bias = W.bias_or_null();
    g.out = out;
    g.ldo = ldo;
    g.M = T;
    g.N = W.N;
    g.K = W.K;
    g.mode = mode;
    g.slow_producer = after_hadamard;
    const size_t ws = w4a4_gemm_workspace_bytes(T, W.N, W.K);
    if (gemm_ws_.bytes() < ws) {
      CUDA_CHECK(cudaStreamSynchronize(stream_));  // a GEMM in flight may still use the old one
      gemm_ws_.resize(ws);
      gemm_ws_.fill_bytes(0);
    }
    g.workspace = gemm_ws_.get();
    g.workspace_bytes = gemm_ws_.bytes();
    w4a4_gemm(g, stream_);
  };

  // Attention block.
  // The quantizers write L.*.K (padded) columns of codes, zeros past the real width.
  rmsnorm_quant(h_.get(), L.in_norm.get(), eps, T, d, aq_, codes(L.qkv), sc, stream_, L.qkv.K);
  gemm(L.qkv, qkv_.get(), L.qkv.N, OutMode::F32);
  const KvCacheView cache{k_codes_.get(), k_scale_.get(), k_zero_.get(),
                          v_codes_.get(), v_scale_.get(), v_zero_.get()};
  rope_qk_kv(qkv_.get(), T, H, KV, D, rope_cos_.get(), rope_sin_.get(), on.qk_post_rope, kv_, q_.get(), cache,
             stream_);
  attention(q_.get(), cache, T, H, KV, D, attn_.get(), stream_);
  if (on.o_proj_heads)
    heads_hadamard_quant(attn_.get(), hd, T, D, m_.had_heads, aq_, codes(L.o), sc, stream_, L.o.K);
  else
    act_quant_f32(attn_.get(), hd, T, hd, aq_, codes(L.o), sc, stream_, L.o.K);
  gemm(L.o, h_.get(), d, OutMode::AddF32);

  // MLP block: gate/up in one GEMM whose epilogue applies SwiGLU.
  rmsnorm_quant(h_.get(), L.post_norm.get(), eps, T, d, aq_, codes(L.gate_up), sc, stream_, L.gate_up.K);
  gemm(L.gate_up, mlp_.get(), Ip, OutMode::SwiGLU);
  // The transform and the scale see the I real columns only (row stride Ip).
  if (on.down_proj_input)
    hadamard_quant_f32(mlp_.get(), Ip, T, m_.had_down, aq_, codes(L.down), sc, stream_, L.down.K);
  else
    act_quant_f32(mlp_.get(), Ip, T, I, aq_, codes(L.down), sc, stream_, L.down.K);
  gemm(L.down, h_.get(), d, OutMode::AddF32, on.down_proj_input);
}

double WindowForward::head() {
  const ModelShape& s = m_.shape;
  const int T = T_, d = int(s.d), V = int(s.vocab);
  rmsnorm_f16(h_.get(), m_.final_norm.get(), float(m_.config.rms_norm_eps), T, d, x16_.get(), stream_);
  const float alpha = 1.f, beta = 0.f;
  // Row r of the logits predicts ids[r + 1]; the last position predicts nothing.
  for (int r0 = 0; r0 < T - 1; r0 += int(logit_rows_)) {
    const int rows = std::min<int>(int(logit_rows_), T - 1 - r0);
    // Column-major view: logitsᵀ [V, rows] = lm_head [V, d] · xᵀ [d, rows].
    CUBLAS_CHECK(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, V, rows, d, &alpha, m_.lm_head.get(), CUDA_R_16F,
                              d, x16_.get() + size_t(r0) * size_t(d), CUDA_R_16F, d, &beta, logits_.get(),
                              CUDA_R_32F, V, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    nll_rows(logits_.get(), V, rows, V, ids_.get() + r0 + 1, nll_.get() + r0, stream_);
  }
  CUDA_CHECK(cudaMemcpyAsync(nll_host_.data(), nll_.get(), size_t(T - 1) * sizeof(double), cudaMemcpyDeviceToHost,
                             stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  double sum = 0;
  for (int r = 0; r < T - 1; ++r) sum += nll_host_[size_t(r)];
  return sum / double(T - 1);
}

double WindowForward::window_nll(const int32_t* ids) {
  const ModelShape& s = m_.shape;
  CUDA_CHECK(cudaMemcpyAsync(ids_.get(), ids, size_t(T_) * sizeof(int32_t), cudaMemcpyHostToDevice, stream_));
  embed_rows(m_.embed.get(), ids_.get(), T_, int(s.d), h_.get(), stream_);
  for (int64_t l = 0; l < s.layers; ++l) layer(l);
  return head();
}

}  // namespace quarot::runner
