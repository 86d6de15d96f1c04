// W4A4 GEMM on Hopper's warpgroup MMA (wgmma, sm_90a): int4 codes unpacked to
// int8 in shared memory, s8·s8 -> s32 tensor-core products, scales in the epilogue.
//
// Block: 128 tokens x 256 output channels, three warpgroups. Warpgroup 0 is the
// producer: it copies packed int4 rows of both operands into a ring of three
// k-tiles (128 codes each) with cp.async, so two k-tiles of loads are always in
// flight, then turns each 16-byte packed chunk (32 codes) into two 16-byte int8
// chunks (low nibbles, then high nibbles: a permutation of k that both operands
// share, so the dot product is unchanged, scaled by 256) stored in the
// 128-byte-swizzled K-major layout wgmma reads (three such stages). Each producer
// thread unpacks exactly the chunks it copied, so its own cp.async.wait_group is
// the only synchronization the ring needs. Warpgroups 1 and 2 are consumers: each
// multiplies its 64 tokens by all 256 channels with m64n256k32 instructions,
// operands from shared memory; full/empty mbarriers hand the unpacked stages over.
// Built for sm_90a only (this file has its own -gencode).
#include <cuda_fp16.h>

#include <cstring>

#include "lib/core/error.h"
#include "lib/runner/cuda_check.h"
#include "lib/runner/device_common.cuh"
#include "lib/runner/gemm_common.cuh"
#include "lib/runner/launch_util.h"

namespace quarot::runner::detail {
namespace {

using gemm::Params;

constexpr int kBM = 128, kBN = 256, kStages = 3, kRing = 3;
constexpr int kRow = 128;                       // unpacked bytes of one row per k-tile
constexpr int kTileA = kBM * kRow, kTileB = kBN * kRow;
constexpr int kStageBytes = kTileA + kTileB;    // 48 KB
constexpr int kThreads = 384;
constexpr int kItems = (kBM + kBN) * 4 / 128;   // packed 16-byte chunks per producer thread
constexpr int kRingBytes = (kBM + kBN) * 64;    // one packed k-tile of both operands
constexpr size_t kSmem = size_t(kStages) * kStageBytes + size_t(kRing) * kRingBytes +
                         2 * kStages * sizeof(uint64_t) + 1024;

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("{\n.reg .b64 st;\nmbarrier.arrive.shared::cta.b64 st, [%0];\n}\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  } while (done == 0);
}

// Shared-memory matrix descriptor: K-major, 128-byte swizzle, 8-row groups 1024 bytes apart.
__device__ __forceinline__ uint64_t desc_sw128(uint32_t addr) {
  uint64_t d = uint64_t((addr & 0x3FFFF) >> 4);
  d |= uint64_t(16 >> 4) << 16;    // leading byte offset (unused for swizzled K-major)
  d |= uint64_t(1024 >> 4) << 32;  // stride byte offset
  d |= uint64_t(1) << 62;          // 128-byte swizzle
  return d;
}

__device__ __forceinline__ void wgmma_m64n256k32(int (&d)[128], uint64_t desc_a, uint64_t desc_b,
                                                 int accumulate) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k32.s32.s8.s8 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, %128, %129, p;\n}\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]), "+r"(d[6]), "+r"(d[7]), "+r"(d[8]), "+r"(d[9]), "+r"(d[10]), "+r"(d[11]), "+r"(d[12]), "+r"(d[13]), "+r"(d[14]), "+r"(d[15]), "+r"(d[16]), "+r"(d[17]), "+r"(d[18]), "+r"(d[19]), "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), "+r"(d[23]), "+r"(d[24]), "+r"(d[25]), "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]), "+r"(d[30]), "+r"(d[31]), "+r"(d[32]), "+r"(d[33]), "+r"(d[34]), "+r"(d[35]), "+r"(d[36]), "+r"(d[37]), "+r"(d[38]), "+r"(d[39]), "+r"(d[40]), "+r"(d[41]), "+r"(d[42]), "+r"(d[43]), "+r"(d[44]), "+r"(d[45]), "+r"(d[46]), "+r"(d[47]), "+r"(d[48]), "+r"(d[49]), "+r"(d[50]), "+r"(d[51]), "+r"(d[52]), "+r"(d[53]), "+r"(d[54]), "+r"(d[55]), "+r"(d[56]), "+r"(d[57]), "+r"(d[58]), "+r"(d[59]), "+r"(d[60]), "+r"(d[61]), "+r"(d[62]), "+r"(d[63]), "+r"(d[64]), "+r"(d[65]), "+r"(d[66]), "+r"(d[67]), "+r"(d[68]), "+r"(d[69]), "+r"(d[70]), "+r"(d[71]), "+r"(d[72]), "+r"(d[73]), "+r"(d[74]), "+r"(d[75]), "+r"(d[76]), "+r"(d[77]), "+r"(d[78]), "+r"(d[79]), "+r"(d[80]), "+r"(d[81]), "+r"(d[82]), "+r"(d[83]), "+r"(d[84]), "+r"(d[85]), "+r"(d[86]), "+r"(d[87]), "+r"(d[88]), "+r"(d[89]), "+r"(d[90]), "+r"(d[91]), "+r"(d[92]), "+r"(d[93]), "+r"(d[94]), "+r"(d[95]), "+r"(d[96]), "+r"(d[97]), "+r"(d[98]), "+r"(d[99]), "+r"(d[100]), "+r"(d[101]), "+r"(d[102]), "+r"(d[103]), "+r"(d[104]), "+r"(d[105]), "+r"(d[106]), "+r"(d[107]), "+r"(d[108]), "+r"(d[109]), "+r"(d[110]), "+r"(d[111]), "+r"(d[112]), "+r"(d[113]), "+r"(d[114]), "+r"(d[115]), "+r"(d[116]), "+r"(d[117]), "+r"(d[118]), "+r"(d[119]), "+r"(d[120]), "+r"(d[121]), "+r"(d[122]), "+r"(d[123]), "+r"(d[124]), "+r"(d[125]), "+r"(d[126]), "+r"(d[127])
      : "l"(desc_a), "l"(desc_b), "r"(accumulate));
#endif
}

__device__ __forceinline__ void fence_operands(int (&d)[128]) {
#pragma unroll
  for (int i = 0; i < 128; ++i) asm volatile("" : "+r"(d[i])::"memory");
}

__global__ void __launch_bounds__(kThreads, 1) gemm_wgmma_kernel(Params p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ uint8_t smem_raw[];
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;  // swizzle atoms are 1024-byte aligned
  uint8_t* smem = smem_raw + (base - raw);
  uint8_t* ring = smem + kStages * kStageBytes;
  const uint32_t bars = base + kStages * kStageBytes + kRing * kRingBytes;  // full[s], then empty[s]
  const int wg = threadIdx.x >> 7, lt = threadIdx.x & 127;
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbar_init(bars + 8 * s, 128);               // the producer warpgroup fills a stage
      mbar_init(bars + 8 * (kStages + s), 256);   // both consumer warpgroups drain it
    }
  }
  __syncthreads();

  const int m0 = blockIdx.y * kBM, n0 = blockIdx.x * kBN;
  const int kbytes = p.K / 2, ktiles = (kbytes + 63) / 64;

  if (wg == 0) {
    // Weights first: they do not depend on the kernel before this one.
    auto copy = [&](int kt, bool weights) {
      uint8_t* slot = ring + (kt % kRing) * kRingBytes;
#pragma unroll
      for (int r = 0; r < kItems; ++r) {
        const int item = lt + 128 * r, row = item >> 2, j = item & 3;
        const bool is_a = row < kBM;
        if (is_a == weights) continue;
        const int kk = kt * 64 + j * 16;
        const int grow = is_a ? m0 + row : n0 + row - kBM;
        const bool ok = kk < kbytes && grow < (is_a ? p.M : p.N);
        const uint8_t* src = is_a ? p.a : p.w;
        if (ok) src += int64_t(grow) * kbytes + kk;
        dev::cp_async16(slot + row * 64 + j * 16, src, ok ? 16 : 0);
      }
    };
    for (int kt = 0; kt < kRing - 1; ++kt)
      if (kt < ktiles) copy(kt, true);
    gemm::pdl_wait();
    for (int kt = 0; kt < kRing - 1; ++kt) {
      if (kt < ktiles) copy(kt, false);
      dev::cp_async_commit();
    }
    for (int kt = 0; kt < ktiles; ++kt) {
      dev::cp_async_wait<kRing - 2>();  // this thread's chunks of k-tile kt have landed
      const int pre = kt + kRing - 1;   // its ring slot was unpacked in the previous iteration
      if (pre < ktiles) {
        copy(pre, true);
        copy(pre, false);
      }
      dev::cp_async_commit();
      const int s = kt % kStages, use = kt / kStages;
      if (use > 0) mbar_wait(bars + 8 * (kStages + s), (use - 1) & 1);
      const uint8_t* slot = ring + (kt % kRing) * kRingBytes;
      uint8_t* st = smem + s * kStageBytes;
#pragma unroll
      for (int r = 0; r < kItems; ++r) {
        const int item = lt + 128 * r, row = item >> 2, j = item & 3;
        const uint4 v = *reinterpret_cast<const uint4*>(slot + row * 64 + j * 16);
        uint8_t* line = row < kBM ? st + row * kRow : st + kTileA + (row - kBM) * kRow;
        const int sw = row & 7;
        const uint4 lo = make_uint4(dev::nib_lo(v.x), dev::nib_lo(v.y), dev::nib_lo(v.z), dev::nib_lo(v.w));
        const uint4 hi = make_uint4(dev::nib_hi(v.x), dev::nib_hi(v.y), dev::nib_hi(v.z), dev::nib_hi(v.w));
        *reinterpret_cast<uint4*>(line + (((2 * j) ^ sw) << 4)) = lo;
        *reinterpret_cast<uint4*>(line + (((2 * j + 1) ^ sw) << 4)) = hi;
      }
      // The tensor cores read shared memory through the async proxy.
      asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
      mbar_arrive(bars + 8 * s);
    }
    dev::cp_async_wait<0>();
  } else {
    gemm::pdl_wait();
    const int c = wg - 1;
    int d[128];
#pragma unroll
    for (int i = 0; i < 128; ++i) d[i] = 0;
    fence_operands(d);
    for (int kt = 0; kt < ktiles; ++kt) {
      const int s = kt % kStages, use = kt / kStages;
      mbar_wait(bars + 8 * s, use & 1);
      const uint32_t a_addr = base + s * kStageBytes + c * 64 * kRow;
      const uint32_t b_addr = base + s * kStageBytes + kTileA;
      asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
      for (int k = 0; k < 4; ++k) wgmma_m64n256k32(d, desc_sw128(a_addr + 32 * k), desc_sw128(b_addr + 32 * k), 1);
      asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
      asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");
      fence_operands(d);
      if (kt > 0) mbar_arrive(bars + 8 * (kStages + (kt - 1) % kStages));
    }
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
    fence_operands(d);

    // Accumulator layout: warp w of the warpgroup owns rows 16w..16w+15; for each n8
    // chunk j, d[4j..4j+1] = (row g, cols 8j+2t, +1), d[4j+2..4j+3] = row g+8.
    const int warp = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int m = m0 + c * 64 + warp * 16 + g + 8 * h;
      if (m >= p.M) continue;
#pragma unroll
      for (int j = 0; j < 32; ++j) {
        const int n = n0 + 8 * j + 2 * t;
        if (n >= p.N) continue;
        if (p.mode == int(OutMode::SwiGLU)) {
          if (j % 2 == 0) {
            gemm::store_swiglu(p, m, n, d[4 * j + 2 * h], d[4 * (j + 1) + 2 * h]);
            gemm::store_swiglu(p, m, n + 1, d[4 * j + 2 * h + 1], d[4 * (j + 1) + 2 * h + 1]);
          }
        } else {
          gemm::store_pair(p, m, n, d[4 * j + 2 * h], d[4 * j + 2 * h + 1]);
        }
      }
    }
  }
#endif
}

}  // namespace

bool wgmma_supported() {
  static const bool ok = [] {
    int dev = 0;
    cudaDeviceProp prop{};
    if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&prop, dev) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    if (prop.major != 9 || prop.minor != 0) return false;
    cudaFuncAttributes attr{};
    const bool loads = cudaFuncGetAttributes(&attr, gemm_wgmma_kernel) == cudaSuccess;
    cudaGetLastError();
    return loads;
  }();
  return ok;
}

void launch_gemm_wgmma(const Params& p, cudaStream_t stream, bool pdl) {
  ensure_dynamic_smem(gemm_wgmma_kernel, kSmem);
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3((p.N + kBN - 1) / kBN, (p.M + kBM - 1) / kBM);
  cfg.blockDim = dim3(kThreads);
  cfg.dynamicSmemBytes = kSmem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl ? 1 : 0;
  CUDA_CHECK(cudaLaunchKernelEx(&cfg, gemm_wgmma_kernel, p));
  CUDA_CHECK_LAUNCH();
}

}  // namespace quarot::runner::detail
