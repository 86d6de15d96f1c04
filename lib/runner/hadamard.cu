// Online Hadamard transforms fused with activation quantization.
//
// H_n = H_K ⊗ S_{2^m} (rotate/hadamard.h): a row is read as K blocks of 2^m
// (times an inner stride of 1 for down_proj's input, or head_dim for the
// transform across heads). The Walsh–Hadamard part runs in shared memory in
// passes of up to 4 index bits; the K×K part is a small matrix product per row on
// tensor cores (fp16 inputs split into hi + lo halves, fp32 accumulation, so the
// product is as accurate as fp32 arithmetic: the K×K entries are ±1, exact in fp16).
// fp16 rows whose mix matrix has order <= 256 go to the tensor-core kernel of
// hadamard_mix.cu instead (dispatch below), 3-4x faster; this one serves fp32
// rows (the runner's), the float outputs of the tests, and the other shapes.
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <type_traits>
#include <vector>

#include "lib/core/error.h"
#include "lib/runner/cuda_check.h"
#include "lib/runner/device_common.cuh"
#include "lib/runner/gemm_common.cuh"
#include "lib/runner/generic_kernels.h"
#include "lib/runner/hadamard_mix.h"
#include "lib/runner/kernels.h"
#include "lib/runner/launch_util.h"

namespace quarot::runner {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxGroupRows = 16;  // rows per group (Transform::rows) at most

struct Transform {
  int n;            // row length (K * 2^m * inner)
  int inner_log2;   // log2 of the inner stride (0, or log2(head_dim))
  int m;            // Walsh–Hadamard bits
  int K;            // K×K factor (1: none)
  const uint4* frag;
  float norm;       // 1 / sqrt(K * 2^m)
  int rows = 1;     // rows per group: transformed together, their columns side by side in the K×K mix
};

template <int P>
__device__ __forceinline__ void fwht_regs(float* v) {
#pragma unroll
  for (int h = 1; h < (1 << P); h <<= 1)
#pragma unroll
    for (int i = 0; i < (1 << P); ++i)
      if ((i & h) == 0) {
        const float a = v[i], b = v[i + h];
        v[i] = a + b;
        v[i + h] = a - b;
      }
}

// The row lives in shared memory padded by 4 floats after every group of S = n / K
// elements (when S >= 8): logical element i sits at i + pad * (i >> sl). The K×K
// mix reads and writes whole columns with stride S, which for a power of two S
// would put a warp's accesses into a few banks.
struct Pad {
  int sl;   // log2(S)
  int pad;  // 4, or 0 when S < 8
  __device__ __forceinline__ int operator()(int i) const { return i + pad * (i >> sl); }
};

// Walsh–Hadamard over index bits [s, s + P) of the n logical elements.
template <int P>
__device__ void fwht_pass(float* x, int n, int s, Pad ph) {
  const int lines = n >> P, lo_mask = (1 << s) - 1;
  for (int L = threadIdx.x; L < lines; L += blockDim.x) {
    const int base = ((L >> s) << (s + P)) + (L & lo_mask);
    float v[1 << P];
#pragma unroll
    for (int j = 0; j < (1 << P); ++j) v[j] = x[ph(base + (j << s))];
    fwht_regs<P>(v);
#pragma unroll
    for (int j = 0; j < (1 << P); ++j) x[ph(base + (j << s))] = v[j];
  }
}

__device__ void fwht_bits(float* x, int n, int s, int count, Pad ph) {
  while (count > 0) {
    const int p = count >= 4 ? 4 : count;
    switch (p) {
      case 1: fwht_pass<1>(x, n, s, ph); break;
      case 2: fwht_pass<2>(x, n, s, ph); break;
      case 3: fwht_pass<3>(x, n, s, ph); break;
      default: fwht_pass<4>(x, n, s, ph); break;
    }
    __syncthreads();
    s += p;
    count -= p;
  }
}

// y[a·S + col] = Σ_c H_K[a][c] · x[c·S + col] in place, S = n / K, for each of the
// group's R rows: the columns of all rows side by side, column b = (row b / S,
// col b % S) (in shared memory, a row's K blocks are SP >= S apart and rows RS
// apart; sl = log2(S)). A task is 16 columns (two n8 tiles, so each H_K fragment
// read from shared memory feeds four MMAs) times a group of AH a-tiles of the
// output. Each column group is read by its two tasks before either writes it back
// (a block barrier separates the phases), so the product is computed from the
// original values. in_scale: per row of the group.
struct MixCols {
  int S, sl, SP, RS, cols;  // cols = R * S
  __device__ __forceinline__ int at(int c, int b) const { return (b >> sl) * RS + c * SP + (b & (S - 1)); }
};

template <int KT, int AH>
__device__ void kmix(float* x, MixCols mc, int K, const uint4* frag, const float* in_scale) {
  constexpr int AG = (KT + AH - 1) / AH;  // groups of AH a-tiles
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int nw = blockDim.x >> 5, groups = (mc.cols + 15) / 16;
  // A round takes whole column groups (all AG tasks of a group in the same round):
  // a group's columns are read by all its tasks before any of them writes. Every
  // warp runs every round so that the barriers below are uniform.
  const int per_round = nw / AG > 0 ? nw / AG : 1;
  const int rounds = (groups + per_round - 1) / per_round;
  for (int round = 0; round < rounds; ++round) {
    const int grp = round * per_round + warp / AG, half = warp % AG;
    const bool active = warp < per_round * AG && grp < groups;
    float acc[2][AH][4];
    dev::zero_fill(acc);
    if (active) {
      float sc[2];  // the input scale of each n8 tile's row (a tile never straddles rows: S >= 8 or R = 1)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int b = grp * 16 + h * 8 + g;
        sc[h] = b < mc.cols ? in_scale[b >> mc.sl] : 0.f;
      }
#pragma unroll
      for (int kt = 0; kt < KT; ++kt) {
        const int c0 = kt * 16 + 2 * t;
        const int cs[4] = {c0, c0 + 1, c0 + 8, c0 + 9};
        uint32_t bh[2][2], bl[2][2];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int b = grp * 16 + h * 8 + g;
          __half hi[4], lo[4];
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const float v = (b < mc.cols && cs[e] < K) ? x[mc.at(cs[e], b)] * sc[h] : 0.f;
            hi[e] = __float2half_rn(v);
            lo[e] = __float2half_rn(v - __half2float(hi[e]));
          }
          bh[h][0] = dev::pack_half2(hi[0], hi[1]);
          bh[h][1] = dev::pack_half2(hi[2], hi[3]);
          bl[h][0] = dev::pack_half2(lo[0], lo[1]);
          bl[h][1] = dev::pack_half2(lo[2], lo[3]);
        }
#pragma unroll
        for (int i = 0; i < AH; ++i) {
          const int at = half * AH + i;
          if (at >= KT) continue;
          const uint4 af = frag[(at * KT + kt) * 32 + lane];
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            dev::mma_f16_16816(acc[h][i], af, bh[h][0], bh[h][1]);
            dev::mma_f16_16816(acc[h][i], af, bl[h][0], bl[h][1]);
          }
        }
      }
    }
    __syncthreads();  // all reads of this round's columns are done
    if (active) {
#pragma unroll
      for (int h = 0; h < 2; ++h)
#pragma unroll
        for (int i = 0; i < AH; ++i) {
          const int at = half * AH + i;
          const int col = grp * 16 + h * 8 + 2 * t;
#pragma unroll
          for (int hh = 0; hh < 2; ++hh) {
            const int a = at * 16 + g + 8 * hh;
            if (at >= KT || a >= K) continue;
            if (col < mc.cols) x[mc.at(a, col)] = acc[h][i][2 * hh];
            if (col + 1 < mc.cols) x[mc.at(a, col + 1)] = acc[h][i][2 * hh + 1];
          }
        }
    }
    __syncthreads();  // written before the next round reads
  }
}

// Row groups are spread over the blocks (each loads the K×K fragments once and
// keeps them): load (with the first up-to-3 Walsh–Hadamard bits in registers when
// the inner stride is 1), remaining Walsh–Hadamard bits, K×K mix, then either
// quantize into the codes (y == null) or write the float result (y != null).
// A group is tf.rows rows, side by side in shared memory, so that short rows still
// give the mix enough columns and a block's barriers serve several rows (1376 =
// 172 x 8, wikillama's down_proj, one row at a time: 7 us a row, latency-bound).
// kWide: 512 threads and one a-tile per task, for few rows (latency); otherwise
// 256 threads, two blocks per SM where registers and shared memory allow, halves
// of the a-tiles per task (throughput).
template <typename In, int KT, bool kWide>
__global__ void __launch_bounds__(kWide ? 512 : kThreads, kWide ? 1 : (KT <= 8 ? 2 : 1))
    transform_kernel(const In* __restrict__ x, int64_t ldx, int M, Transform tf, int maxq, float c_over_maxq,
                     ActCodes packed, float* __restrict__ scale, float* __restrict__ y) {
  constexpr int AH = kWide || KT < 2 ? 1 : (KT + 1) / 2;
  gemm::pdl_trigger();  // the GEMM after this kernel may start streaming its weights
  extern __shared__ __align__(16) float row[];
  __shared__ float scratch[32];
  __shared__ float in_scale[kMaxGroupRows], post[kMaxGroupRows];
  const int n = tf.n, S = n / tf.K, R = tf.rows;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
  int sl = 0;
  while ((1 << sl) < S) ++sl;
  const Pad ph{sl, S >= 8 ? 4 : 0};
  const int padded = n + ph.pad * tf.K;  // one row in shared memory
  // The K×K fragments live after the group; a block loads them once and keeps them
  // for all the rows it transforms.
  uint4* frag = reinterpret_cast<uint4*>(row + R * padded);
  if (KT > 0) {  // asynchronous: it overlaps the first group's load and Walsh–Hadamard passes
    for (int i = threadIdx.x; i < KT * KT * 32; i += blockDim.x) dev::cp_async16(frag + i, tf.frag + i, 16);
    dev::cp_async_commit();
  }
  const int first = tf.inner_log2 == 0 ? (tf.m < 3 ? tf.m : 3) : 0;
  // Who works on one row's maximum and codes: the whole block when the group is a
  // single row, a warp per row otherwise (rows row0, row0 + row_step, ...; this
  // thread is number `me` of `team`).
  const bool whole = R == 1;
  const int row0 = whole ? 0 : warp, row_step = whole ? 1 : nw;
  const int me = whole ? int(threadIdx.x) : lane, team = whole ? int(blockDim.x) : 32;
  auto row_max = [&](int rr, auto value) {
    float amax = 0.f;
    for (int i = me; i < n; i += team) amax = fmaxf(amax, fabsf(value(rr * n + i)));
    return whole ? dev::block_max(amax, scratch) : dev::warp_max(amax);
  };
  for (int r0 = blockIdx.x * R; r0 < M; r0 += gridDim.x * R) {
    const int rows = min(R, M - r0);
    __syncthreads();  // the previous group is fully written out (and the fragments are in place)
    // Loads in batches of two chunks per thread, both issued before either is used;
    // the rows past M of a last, short group are zeros.
    const int chunks = R * (n / 8);
    for (int q0 = 0; q0 < chunks; q0 += 2 * blockDim.x) {
      float v[2][8];
#pragma unroll
      for (int u = 0; u < 2; ++u) {
        const int q = q0 + u * blockDim.x + threadIdx.x, rr = q / (n / 8);
        if (q >= chunks) continue;
        if (rr < rows) {
          dev::load8(x + int64_t(r0 + rr) * ldx + 8 * (q % (n / 8)), v[u]);
        } else {
#pragma unroll
          for (int e = 0; e < 8; ++e) v[u][e] = 0.f;
        }
      }
#pragma unroll
      for (int u = 0; u < 2; ++u) {
        const int q = q0 + u * blockDim.x + threadIdx.x;
        if (q >= chunks) continue;
        if (first == 3) fwht_regs<3>(v[u]);
        if (first == 2) {
          fwht_regs<2>(v[u]);
          fwht_regs<2>(v[u] + 4);
        }
        if (first == 1) {
#pragma unroll
          for (int i = 0; i < 8; i += 2) fwht_regs<1>(v[u] + i);
        }
        float* dst = row + ph(8 * q);  // a chunk never straddles a padded group (nor a row)
        *reinterpret_cast<float4*>(dst) = make_float4(v[u][0], v[u][1], v[u][2], v[u][3]);
        *reinterpret_cast<float4*>(dst + 4) = make_float4(v[u][4], v[u][5], v[u][6], v[u][7]);
      }
    }
    __syncthreads();
    // The group is R·K blocks of S: the Walsh–Hadamard bits act within blocks.
    fwht_bits(row, R * n, tf.inner_log2 + first, tf.m - first, ph);

    if (KT > 0) {
      // fp16 has 5 exponent bits: bring each row's maximum into [2^12, 2^13) by an
      // exact power-of-two scaling (undone after the product), so that neither the hi
      // nor the lo half overflows or goes subnormal where it matters.
      for (int rr = row0; rr < R; rr += row_step) {
        const float amax = row_max(rr, [&](int i) { return row[ph(i)]; });
        int e = 0;
        if (amax > 0.f) frexpf(amax, &e);
        const int shift = amax > 0.f ? 13 - e : 0;
        if (me == 0) {
          in_scale[rr] = ldexpf(1.f, shift);
          post[rr] = tf.norm * ldexpf(1.f, -shift);
        }
      }
      dev::cp_async_wait<0>();  // this thread's fragment copies (a no-op after the first group)
      __syncthreads();          // everyone's, and the scales
      const MixCols mc{S, sl, S + ph.pad, padded, R * S};
      kmix<(KT > 0 ? KT : 1), AH>(row, mc, tf.K, frag, in_scale);
    }
    auto post_of = [&](int rr) { return KT > 0 ? post[rr] : tf.norm; };

    if (y != nullptr) {
      for (int i = threadIdx.x; i < rows * n; i += blockDim.x)
        y[int64_t(r0) * n + i] = row[ph(i)] * post_of(i / n);
      continue;
    }
    for (int rr = row0; rr < rows; rr += row_step) {
      const float p = post_of(rr);
      const float amax = row_max(rr, [&](int i) { return row[ph(i)] * p; });
      const float s = dev::sym_scale(amax, c_over_maxq), inv = 1.f / s;
      for (int w = me; w < n / 8; w += team) {
        float v[8];
        dev::load8(row + ph(rr * n + 8 * w), v);
#pragma unroll
        for (int e = 0; e < 8; ++e) v[e] *= p;
        dev::store_act_codes(packed.data, packed.tile_rows, n / 2, r0 + rr, w, dev::quant8_sym(v, s, inv, maxq));
      }
      if (me == 0) scale[r0 + rr] = s;
    }
  }
}

template <typename In, int KT, bool kWide>
void launch_kt_variant(const In* x, int64_t ldx, int M, const Transform& tf, int maxq, float c, ActCodes packed,
                       float* scale, float* y, cudaStream_t stream) {
  auto* kernel = transform_kernel<In, KT, kWide>;
  const int threads = kWide ? 512 : kThreads;
  const int S = tf.n / tf.K;
  const size_t row_bytes = size_t(tf.n + (S >= 8 ? 4 * tf.K : 0)) * sizeof(float);
  const size_t frag_bytes = size_t(KT) * KT * 32 * sizeof(uint4);
  // Throughput: rows of fewer than 64 columns per block of the mix go in groups (as
  // many as fit next to the fragments in 100 KB); the n8 tiles of the mix must not
  // straddle rows, hence S >= 8.
  Transform g = tf;
  g.rows = 1;
  if (!kWide && S >= 8 && S < 64) {
    g.rows = std::min(kMaxGroupRows, 64 / S);
    while (g.rows > 1 && g.rows * row_bytes + frag_bytes > 100 * 1024) --g.rows;
  }
  const size_t smem = g.rows * row_bytes + frag_bytes;
  ensure_dynamic_smem(kernel, smem);
  const int per_sm = blocks_per_sm(kernel, threads, smem);
  QUAROT_CHECK(per_sm > 0, "online Hadamard of size ", tf.n, " does not fit in shared memory");
  const int64_t groups = (int64_t(M) + g.rows - 1) / g.rows;
  const int grid = int(std::min<int64_t>(groups, int64_t(per_sm) * device_sm_count()));
  kernel<<<grid, threads, smem, stream>>>(x, ldx, M, g, maxq, c, packed, scale, y);
  CUDA_CHECK_LAUNCH();
}

// Few rows: one wide block per row, for latency; many rows: narrower blocks, for throughput.
template <typename In, int KT>
void launch_kt(const In* x, int64_t ldx, int M, const Transform& tf, int maxq, float c, ActCodes packed,
               float* scale, float* y, cudaStream_t stream) {
  if (M <= device_sm_count())
    launch_kt_variant<In, KT, true>(x, ldx, M, tf, maxq, c, packed, scale, y, stream);
  else
    launch_kt_variant<In, KT, false>(x, ldx, M, tf, maxq, c, packed, scale, y, stream);
}

// The quantizer's integer range and clip / maxq (zeros for the float-output transforms).
struct QuantParams {
  int maxq = 0;
  float c = 0.f;
};
QuantParams quant_params(const ActQuantSpec* q) {
  QuantParams p;
  if (q == nullptr) return p;
  QUAROT_CHECK(q->bits >= 2 && q->bits <= 4, "online Hadamard: activation bits must be 2..4, got ", q->bits);
  p.maxq = (1 << (q->bits - 1)) - 1;
  p.c = float(q->clip / double(p.maxq));
  return p;
}

template <typename In>
void launch_transform(const In* x, int64_t ldx, int M, const Transform& tf, QuantParams qp, ActCodes packed,
                      float* scale, float* y, cudaStream_t stream) {
  QUAROT_CHECK(tf.n % 32 == 0, "online Hadamard: row length ", tf.n, " must be a multiple of 32");
  QUAROT_CHECK(ldx % 8 == 0, "online Hadamard: input row stride ", ldx, " must be a multiple of 8");
  const int maxq = qp.maxq;
  const float c = qp.c;
  if (M == 0) return;
  const int KT = tf.K == 1 ? 0 : (tf.K + 15) / 16;
#define QUAROT_KT_CASE(N) \
  case N: launch_kt<In, N>(x, ldx, M, tf, maxq, c, packed, scale, y, stream); break;
  switch (KT) {
    QUAROT_KT_CASE(0) QUAROT_KT_CASE(1) QUAROT_KT_CASE(2) QUAROT_KT_CASE(3) QUAROT_KT_CASE(4)
    QUAROT_KT_CASE(5) QUAROT_KT_CASE(6) QUAROT_KT_CASE(7) QUAROT_KT_CASE(8) QUAROT_KT_CASE(9)
    QUAROT_KT_CASE(10) QUAROT_KT_CASE(11) QUAROT_KT_CASE(12) QUAROT_KT_CASE(13) QUAROT_KT_CASE(14)
    QUAROT_KT_CASE(15) QUAROT_KT_CASE(16)
    default: QUAROT_FAIL("online Hadamard: K = ", tf.K, " > 256 is not supported");
  }
#undef QUAROT_KT_CASE
}

Transform row_transform(const HadamardDevice& had) {
  Transform tf{};
  tf.n = int(had.n());
  tf.inner_log2 = 0;
  tf.m = had.m();
  tf.K = int(had.K());
  tf.frag = static_cast<const uint4*>(had.fragments());
  tf.norm = float(1.0 / std::sqrt(double(had.n())));
  return tf;
}

Transform heads_transform(const HadamardDevice& had, int head_dim) {
  QUAROT_CHECK(head_dim >= 8 && (head_dim & (head_dim - 1)) == 0, "Hadamard across heads: head_dim ",
               head_dim, " must be a power of two >= 8");
  Transform tf = row_transform(had);
  tf.n = int(had.n()) * head_dim;
  int l = 0;
  while ((1 << l) < head_dim) ++l;
  tf.inner_log2 = l;
  return tf;
}

// The fast kernel for the shapes it was made for; every other shape (n not a
// multiple of 32, a padded packed row, an odd row stride, head_dim not a power of
// two >= 8) goes to the generic kernel (generic_quant.cu).
template <typename In>
void dispatch(const In* x, int64_t ldx, int M, const HadamardDevice& had, int head_dim, const ActQuantSpec* q,
              int packed_cols, ActCodes packed, float* scale, float* y, cudaStream_t stream) {
  QUAROT_CHECK(had.n() >= 1, "online Hadamard: no transform (size 0)");
  QUAROT_CHECK(head_dim >= 0, "Hadamard across heads: head_dim ", head_dim, " must be positive");
  const int64_t inner = head_dim > 0 ? head_dim : 1, n = had.n() * inner;
  QUAROT_CHECK(n <= INT32_MAX, "online Hadamard: row length ", n, " is too large");
  const int cols = packed_cols > 0 ? packed_cols : int(n);
  const QuantParams qp = quant_params(q);
  QUAROT_CHECK(packed.tile_rows == 0 || (packed.tile_rows >= M && packed.tile_rows % 128 == 0),
               "online Hadamard: tile_rows ", packed.tile_rows, " must be a multiple of 128 and at least M = ", M);
  // fp16 rows with a mix matrix of order <= 256: the tensor-core kernel (hadamard_mix.cu),
  // where its int16 clamps hold the codes (tinier clip ratios take the kernels below).
  if constexpr (std::is_same_v<In, uint16_t>) {
    const int A = head_dim > 0 ? int(had.n()) : int(had.mix_rows_order());
    const int B = head_dim > 0 ? head_dim : 64;
    const void* frag = head_dim > 0 ? had.mix_full() : had.mix_rows();
    if (q != nullptr && y == nullptr && frag != nullptr && cols == n && detail::int16_codes_fit(qp.c) &&
        detail::hadamard_mix_supported(A, B, head_dim == 0, ldx, x)) {
      detail::MixArgs a;
      a.x = x;
      a.ldx = ldx;
      a.M = M;
      a.A = A;
      a.B = B;
      a.fwht = head_dim == 0;
      a.frag = frag;
      a.norm = float(1.0 / std::sqrt(double(had.n())));  // across heads: 1/sqrt(heads)
      a.maxq = qp.maxq;
      a.c_over_maxq = qp.c;
      a.codes = packed;
      a.scale = scale;
      if (head_dim > 0 && detail::heads_wht_supported(a))
        detail::heads_wht_quant(a, stream);
      else
        detail::hadamard_mix_quant(a, stream);
      return;
    }
  }
  const bool fast_inner = head_dim == 0 || (head_dim >= 8 && (head_dim & (head_dim - 1)) == 0);
  if (n % 32 == 0 && cols == n && ldx % 8 == 0 && fast_inner) {
    launch_transform(x, ldx, M, head_dim > 0 ? heads_transform(had, head_dim) : row_transform(had), qp, packed,
                     scale, y, stream);
    return;
  }
  QUAROT_CHECK(packed.tile_rows == 0, "online Hadamard: the tiled code layout needs the fast kernel (n ", n,
               " a multiple of 32, no padding, head_dim a power of two >= 8)");
  detail::GenericTransform tf;
  tf.n = int(n);
  tf.K = int(had.K());
  tf.P = 1 << had.m();
  tf.inner = int(inner);
  tf.signs = had.signs();
  tf.norm = float(1.0 / std::sqrt(double(had.n())));
  detail::generic_transform(x, ldx, M, tf, qp.maxq, qp.c, cols, packed.data, scale, y, stream);
}

}  // namespace

void hadamard_quant_f32(const float* x, int64_t ldx, int M, const HadamardDevice& had, const ActQuantSpec& q,
                        ActCodes packed, float* scale, cudaStream_t stream, int packed_cols) {
  dispatch(x, ldx, M, had, 0, &q, packed_cols, packed, scale, nullptr, stream);
}
void hadamard_quant_f16(const uint16_t* x, int64_t ldx, int M, const HadamardDevice& had,
                        const ActQuantSpec& q, ActCodes packed, float* scale, cudaStream_t stream,
                        int packed_cols) {
  dispatch(x, ldx, M, had, 0, &q, packed_cols, packed, scale, nullptr, stream);
}
void heads_hadamard_quant(const float* x, int64_t ldx, int M, int head_dim, const HadamardDevice& had,
                          const ActQuantSpec& q, ActCodes packed, float* scale, cudaStream_t stream,
                          int packed_cols) {
  QUAROT_CHECK(head_dim >= 1, "Hadamard across heads: head_dim ", head_dim, " must be positive");
  dispatch(x, ldx, M, had, head_dim, &q, packed_cols, packed, scale, nullptr, stream);
}
void heads_hadamard_quant_f16(const uint16_t* x, int64_t ldx, int M, int head_dim, const HadamardDevice& had,
                              const ActQuantSpec& q, ActCodes packed, float* scale, cudaStream_t stream,
                              int packed_cols) {
  QUAROT_CHECK(head_dim >= 1, "Hadamard across heads: head_dim ", head_dim, " must be positive");
  dispatch(x, ldx, M, had, head_dim, &q, packed_cols, packed, scale, nullptr, stream);
}
void hadamard_f32(const float* x, int64_t ldx, int M, const HadamardDevice& had, float* y,
                  cudaStream_t stream) {
  dispatch(x, ldx, M, had, 0, nullptr, 0, nullptr, nullptr, y, stream);
}
void heads_hadamard_f32(const float* x, int64_t ldx, int M, int head_dim, const HadamardDevice& had,
                        float* y, cudaStream_t stream) {
  QUAROT_CHECK(head_dim >= 1, "Hadamard across heads: head_dim ", head_dim, " must be positive");
  dispatch(x, ldx, M, had, head_dim, nullptr, 0, nullptr, nullptr, y, stream);
}

}  // namespace quarot::runner
