// Host-callable wrappers of the runner's CUDA kernels. Everything is asynchronous
// on `stream`; each wrapper checks its launch (CUDA_CHECK_LAUNCH). No LibTorch
// and no device types here, so plain C++ (tests, benchmarks) can call them.
//
// Layouts shared by every kernel:
// - Packed int4 ("codes"): row-major [rows, cols / 2] bytes, element 2j in the low
//   nibble and 2j+1 in the high nibble of byte j, two's complement (as
//   lib/model/int4.h). KV-cache codes use the same nibble order, unsigned 0..15.
// - fp16 data is passed as uint16_t bit patterns.
// - Activation quantization (per row, symmetric): maxq = 2^(bits-1) - 1,
//   scale = absmax * float(clip / maxq) (1 for a zero row),
//   code = clamp(rint(x / scale), -(maxq + 1), maxq).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "lib/runner/device_buffer.h"

namespace quarot::runner {

// ---- activation codes ----------------------------------------------------------

// Where a quantizer writes its codes and where the GEMM reads them. Two layouts:
// - packed (tile_rows == 0): [M, P/2] bytes as above.
// - tiles (tile_rows > 0; the input of the wgmma GEMM, see w4a4_act_tile_rows):
//   one byte per code, holding 16 * code (the int8 the tensor cores multiply; the
//   GEMM shifts the product back). k-tiles of 128 codes: tile t holds rows
//   [0, tile_rows) of 128 bytes each, tile after tile, so that the GEMM copies a
//   block of rows of one k-tile in one bulk transfer. Within a row, the code of
//   k = 32a + 8b + 2c + h (a, b, c < 4; h < 2) sits at byte 32b + 16h + 4a + c
//   (the order in which the GEMM's register operand meets the packed weights), and
//   16-byte chunk i of row r is stored at chunk i ^ (r % 8) (the 128-byte swizzle
//   the tensor cores read without bank conflicts). Rows past M are never written;
//   their products land in output rows that are not stored.
// A plain pointer converts to the packed layout, so packed callers read as before.
struct ActCodes {
  uint8_t* data = nullptr;
  int64_t tile_rows = 0;
  ActCodes(uint8_t* d) : data(d) {}  // NOLINT(google-explicit-constructor): the packed layout
  ActCodes(uint8_t* d, int64_t rows) : data(d), tile_rows(rows) {}
};
// Bytes of the tiled layout for `cols` codes per row.
inline size_t act_tiles_bytes(int64_t tile_rows, int64_t cols) {
  return size_t((cols + 127) / 128) * size_t(tile_rows) * 128;
}

// ---- activation quantization -------------------------------------------------

struct ActQuantSpec {
  int bits = 4;        // 2..4 (the codes must fit a nibble)
  double clip = 0.9;   // clip ratio
};

// x [M, K] (row stride ldx elements) -> packed [M, P/2], scale [M], where P =
// packed_cols (0: P = K). P > K pads each row with zero codes, so that the row can
// feed a GEMM whose K was padded to a multiple of 32 (model.cpp pads the weights
// alike). K % 32 == 0, P == K and ldx % 8 == 0 take the fast kernels; any other
// K >= 1 (P even, >= K) a generic one, made for the tiny models.
void act_quant_f32(const float* x, int64_t ldx, int M, int K, const ActQuantSpec& q, ActCodes codes,
                   float* scale, cudaStream_t stream, int packed_cols = 0);
void act_quant_f16(const uint16_t* x, int64_t ldx, int M, int K, const ActQuantSpec& q, ActCodes codes,
                   float* scale, cudaStream_t stream, int packed_cols = 0);
// RMSNorm (fp32 statistics) times `weight`, then quantized as above.
void rmsnorm_quant(const float* h, const float* weight, float eps, int M, int K, const ActQuantSpec& q,
                   ActCodes codes, float* scale, cudaStream_t stream, int packed_cols = 0);
// RMSNorm times `weight`, written as fp16 (the lm_head input).
void rmsnorm_f16(const float* h, const float* weight, float eps, int M, int K, uint16_t* out,
                 cudaStream_t stream);
// out[m, :] = float(table[ids[m], :]); ids are trusted (checked on the host).
void embed_rows(const uint16_t* table, const int32_t* ids, int M, int K, float* out, cudaStream_t stream);

// ---- W4A4 GEMM -----------------------------------------------------------------

enum class OutMode : int {
  F32 = 0,     // out[m, n] = acc * sa[m] * sw[n] (+ bias[n]), float
  F16 = 1,     // same, fp16
  AddF32 = 2,  // out[m, n] += same (residual add)
  I32 = 3,     // out[m, n] = the exact integer dot product (tests)
  SwiGLU = 4,  // weights interleaved [gate 8 rows, up 8 rows]*: out[m, o] = silu(gate) * up, float,
               // N/2 columns (see interleave_gate_up)
};
enum class GemmPath : int { Auto = 0, Skinny = 1, Tiled = 2, Wgmma = 3 };
// The skinny GEMM takes up to this many tokens (Auto: from 17 on only where its
// blocks fit in one wave, see skinny_auto in gemm_w4a4.cu).
constexpr int kSkinnyMaxRows = 32;

// Weights in the GEMM layout. The checkpoint's packed [N, K/2] rows, rearranged at
// load time into blocks of 32 rows x 128 codes (2 KB, row-major inside: row r of
// the block at byte 64 r): block (n / 32, k / 128) at byte ((n / 32) KT + k / 128)
// * 2048, KT = ceil(K / 128), zero codes padding N to a multiple of 32 and K to one
// of 128. Why: a block is what one k-step of every GEMM kernel reads for 32
// channels, so the skinny kernel's warps read 2 KB contiguous pieces (the row-major
// layout gave them 64 bytes of each of 32 rows 2 KB apart, ~2 TB/s) and the wgmma
// kernel's producer moves a k-tile with 8 bulk copies instead of 2048 16-byte ones.
// Still 4 bits per weight, the same bytes as on disk plus the padding.
size_t w4a4_weight_bytes(int N, int K);
// packed: [N, K/2] bytes (checkpoint layout, K even); out: w4a4_weight_bytes(N, K).
void w4a4_tile_weights(const uint8_t* packed, int N, int K, uint8_t* out);

struct GemmArgs {
  const uint8_t* a = nullptr;       // activation codes: packed [M, K/2], or tiles (below)
  int64_t a_tile_rows = 0;          // > 0: `a` is in the tiled layout of ActCodes (wgmma path)
  const float* a_scale = nullptr;   // [M]
  const uint8_t* w = nullptr;       // weight codes in the GEMM layout (w4a4_tile_weights)
  const float* w_scale = nullptr;   // [N]
  const float* bias = nullptr;      // [N] or null
  void* out = nullptr;
  int64_t ldo = 0;                  // row stride of out, elements
  int M = 0, N = 0, K = 0;
  OutMode mode = OutMode::F32;
  // The kernel that writes `a` runs for microseconds (the down_proj Hadamard at 1-16
  // rows): the skinny GEMM then copies its whole weight run into shared memory while
  // it runs (gemm_skinny_staged.cu). Only a hint: results are the same either way.
  bool slow_producer = false;
  // Scratch for the wgmma kernel's split of its last round of tiles along K where
  // that round is at most half the GPU (Llama-2 up at 2048 tokens 3.5% faster;
  // gemm_wgmma.cu): at least w4a4_gemm_workspace_bytes(M, N, K) bytes, zeroed once
  // before its first use (the kernel leaves it zeroed), not shared by GEMMs that may
  // run at the same time. Null: no split; the results are the same bits either way.
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

// C = A_codes · W_codesᵀ in int32 on INT8 tensor cores, scales in the epilogue.
// Needs K % 32 == 0, K <= 131072, N % 16 == 0. Tiled activations (a_tile_rows > 0)
// take the wgmma kernel (sm_90); packed ones the skinny kernel for small M under
// Auto, else the mma.sync tiled one. Launched with programmatic dependent launch
// unless QUAROT_RUNNER_PDL=0.
void w4a4_gemm(const GemmArgs& g, cudaStream_t stream, GemmPath path = GemmPath::Auto);
// The activation layout the caller should quantize into for an M x N x K GEMM: the
// tiled layout's row count (M rounded up to 128) when the wgmma kernel takes it
// (sm_90, M > 16 and not the skinny kernel's, unless QUAROT_RUNNER_WGMMA=0), else
// 0 (packed).
int64_t w4a4_act_tile_rows(int M, int N, int K);
// GemmArgs::workspace for an M x N x K GEMM on the wgmma path (the block it would
// take): 0 where that kernel does not split, or without one.
size_t w4a4_gemm_workspace_bytes(int M, int N, int K);
// When w4a4_act_tile_rows picks the wgmma kernel: Auto as described there, Never
// (also QUAROT_RUNNER_WGMMA=0: the mma.sync kernels, for comparison), Always (also
// QUAROT_RUNNER_WGMMA=1) for any M > 16 on sm_90 (tests, benchmarks).
enum class WgmmaPolicy : int { Auto = 0, Never = 1, Always = 2 };
void set_wgmma_policy(WgmmaPolicy policy);
// The wgmma kernel's block, channels x tokens: 256 x 128 (one block per SM), 128 x
// 128, 128 x 64 or 64 x 64 (two per SM). Auto picks by shape;
// QUAROT_RUNNER_WGMMA_TILE (256x128, 128x128, 128x64, 64x64) and the setter force
// one (tests, benchmarks).
enum class WgmmaTile : int { Auto = 0, C256x128 = 1, C128x128 = 2, C128x64 = 3, C64x64 = 4 };
void set_wgmma_tile(WgmmaTile tile);
struct WgmmaBlock {
  int channels, tokens;
};
WgmmaBlock w4a4_wgmma_block(int M, int N);
// The path taken for M x N x K with the layout w4a4_act_tile_rows picks (benchmarks, notes).
const char* w4a4_gemm_path_name(int M, int N, int K);
// Whether this GPU runs the wgmma (sm_90a) kernel.
bool w4a4_wgmma_available();

// Row order the SwiGLU epilogue expects: blocks of 8 gate rows then 8 up rows.
// Returns the source row (in [gate; up] order, 2*I rows) of interleaved row r.
inline int64_t interleaved_gate_up_source(int64_t r, int64_t I) {
  const int64_t block = r / 16, within = r % 16;
  return within < 8 ? block * 8 + within : I + block * 8 + (within - 8);
}

// ---- online Hadamard transforms -----------------------------------------------

// The normalized Hadamard H_n = (H_K ⊗ S_{2^m}) / sqrt(n) of quarot_hadamard
// (rotate/hadamard.h), on the device: the K×K factor as tensor-core fragments.
class HadamardDevice {
 public:
  HadamardDevice() = default;
  explicit HadamardDevice(int64_t n);  // throws quarot::Error when n has no construction
  int64_t n() const { return n_; }
  int64_t K() const { return K_; }
  int m() const { return m_; }
  const void* fragments() const { return frag_.get(); }  // null when K == 1
  const int8_t* signs() const { return signs_.get(); }    // H_K row-major ±1 (generic kernel); null when K == 1
  // The tensor-core mix kernel's matrices, as mma fragments (null when absent): for
  // rows, H_K ⊗ S_{2^(m-6)} of order mix_rows_order() = n / 64 (needs m >= 6 and an
  // order <= 256); across heads, H_n itself (n <= 256).
  const void* mix_rows() const { return mix_rows_.get(); }
  int64_t mix_rows_order() const { return mix_rows_order_; }
  const void* mix_full() const { return mix_full_.get(); }

 private:
  int64_t n_ = 0, K_ = 1, mix_rows_order_ = 0;
  int m_ = 0;
  DeviceBuffer<uint32_t> frag_, mix_rows_, mix_full_;
  DeviceBuffer<int8_t> signs_;
};

// y = x·Hᵀ on each row of x [M, n] (n = had.n()), then per-row quantization into
// packed [M, P/2] (P = packed_cols, 0: n; codes past n are zero, as for act_quant).
// n % 32 == 0, P == n and ldx % 8 == 0 take the fast tensor-core kernel; other
// shapes (e.g. n = 172 = 172·2^0) a generic fp32 one, made for the tiny models.
void hadamard_quant_f32(const float* x, int64_t ldx, int M, const HadamardDevice& had, const ActQuantSpec& q,
                        ActCodes codes, float* scale, cudaStream_t stream, int packed_cols = 0);
void hadamard_quant_f16(const uint16_t* x, int64_t ldx, int M, const HadamardDevice& had,
                        const ActQuantSpec& q, ActCodes codes, float* scale, cudaStream_t stream,
                        int packed_cols = 0);
// Rows of x viewed as [heads, head_dim]: the Hadamard of size heads (had.n()) across
// the heads axis for each column, then per-row quantization of the whole row. The
// fast kernel needs head_dim a power of two >= 8 and heads·head_dim % 32 == 0; other
// head_dim >= 1 take the generic kernel.
void heads_hadamard_quant(const float* x, int64_t ldx, int M, int head_dim, const HadamardDevice& had,
                          const ActQuantSpec& q, ActCodes codes, float* scale, cudaStream_t stream,
                          int packed_cols = 0);
void heads_hadamard_quant_f16(const uint16_t* x, int64_t ldx, int M, int head_dim, const HadamardDevice& had,
                              const ActQuantSpec& q, ActCodes codes, float* scale, cudaStream_t stream,
                              int packed_cols = 0);
// The transforms alone, float out (tests): y [M, n or heads*head_dim], row stride = width.
void hadamard_f32(const float* x, int64_t ldx, int M, const HadamardDevice& had, float* y,
                  cudaStream_t stream);
void heads_hadamard_f32(const float* x, int64_t ldx, int M, int head_dim, const HadamardDevice& had,
                        float* y, cudaStream_t stream);

// ---- attention -------------------------------------------------------------------

struct KvQuantParams {
  int k_bits = 4, v_bits = 4;  // 2..4
  double clip = 0.95;
};

// The quantized KV cache of one window: codes [KV, T, D/2] (natural nibble order,
// unsigned), scale and zero [KV, T]; value = scale * (code - zero). The zero points
// are integers (the quantizers round them): the attention kernel relies on
// code - zero being exact in tf32.
struct KvCacheView {
  uint8_t* k_codes = nullptr;
  float* k_scale = nullptr;
  float* k_zero = nullptr;
  uint8_t* v_codes = nullptr;
  float* v_scale = nullptr;
  float* v_zero = nullptr;
};

// qkv [T, (H + 2 KV) D] (q heads, then k heads, then v heads) -> RoPE on q and k
// (cos/sin tables [T, D/2]), optionally the Hadamard of D on q and k, q written as
// float [H, T, D], k and v quantized into the cache. D in {64, 128, 256} run the
// register kernel; any other even D <= 256 a generic one (the Hadamard then needs D
// a power of two).
void rope_qk_kv(const float* qkv, int T, int H, int KV, int D, const float* cos_table,
                const float* sin_table, bool qk_hadamard, const KvQuantParams& kv, float* q_out,
                const KvCacheView& cache, cudaStream_t stream);
// Causal GQA attention over the dequantized cache, softmax in fp32. q [H, T, D],
// out [T, H*D]. D in {64, 128}: the tensor-core kernel (tf32 MMA on the integer
// codes, q and the probabilities split into two tf32 parts: fp32 accuracy); any
// other even D <= 256: a generic warp-per-query kernel (same semantics, for the
// tiny models).
void attention(const float* q, const KvCacheView& cache, int T, int H, int KV, int D, float* out,
               cudaStream_t stream);

// ---- loss ---------------------------------------------------------------------------

// nll[r] = logsumexp(logits[r, :]) - logits[r, targets[r]], logits fp32 [rows, V] (row
// stride ld), accumulated in fp64.
void nll_rows(const float* logits, int64_t ld, int rows, int V, const int32_t* targets, double* nll,
              cudaStream_t stream);

// Number of multiprocessors of the current device (cached).
int device_sm_count();

}  // namespace quarot::runner
