// bench_w4a4: the W4A4 linear (activation quantization, plus the layer's online
// Hadamard where it has one, plus the int4 GEMM) against a cuBLAS BF16 GEMM on
// Llama layer shapes. cudaEvent timing after warm-up, median of many batches,
// inputs and weights rotated over several copies so that no run is served from L2.
//
//   bench_w4a4 [--m 1,16,256,2048,8192] [--shapes all|SUBSTRING] [--reps 15] [--extra KxN,...]
//              [--settle-ms 2000] [--tail-split 1]
// --settle-ms: an idle pause before timing an M smaller than the one timed before it
// (each shape's M = 1 after the previous shape's M = 8192). Timed right after the large
// GEMMs, the small ones ran 0.4-0.8 us slower, cuBLAS's by 5-7% too, with the SM
// clock unchanged (nvidia-smi: 1980 MHz); still slower on the next run, and back to
// normal 3 s later (docs/RESULTS.md section 5, session 11).
// --tail-split 0: no workspace for the wgmma GEMM, so no split of its last partial
// round of tiles along K (GemmArgs::workspace), for comparison.
// --extra adds plain linears (no online Hadamard) named "extra KxN", for probing a
// kernel's behaviour between the Llama shapes (e.g. grids of exactly two or three
// skinny blocks an SM); `--shapes extra` runs only those.
// Each timing replays a CUDA graph of many calls (host launch cost excluded, as in
// a decoder that replays graphs). QUAROT_RUNNER_WGMMA=0 / QUAROT_RUNNER_PDL=0 /
// QUAROT_RUNNER_HEADS_WHT=0 turn those features off for comparison. Built with
// -DQUAROT_GEMM_TIMELINE=ON, QUAROT_TIMELINE_DIR=DIR writes the wgmma GEMM's
// per-block stamps for each shape and M there (gemm_timeline.cuh).
#include <cublas_v2.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lib/io/dtype.h"
#include "lib/runner/cuda_check.h"
#include "lib/runner/device_buffer.h"
#include "lib/runner/kernels.h"

using namespace quarot::runner;

#if defined(QUAROT_GEMM_TIMELINE)
namespace quarot::runner::detail {
bool wgmma_timeline_dump(const char* path);  // gemm_wgmma.cu, diagnostic builds only
}
#endif

namespace {

enum class Online { None, Heads, Rows };

struct Shape {
  std::string name;
  int K, N;
  Online online;
};

const Shape kShapes[] = {
    {"l2-7b.qkv/o 4096->4096", 4096, 4096, Online::None},
    {"l2-7b.o+had 4096->4096", 4096, 4096, Online::Heads},
    {"l2-7b.up 4096->11008", 4096, 11008, Online::None},
    {"l2-7b.down+had 11008->4096", 11008, 4096, Online::Rows},
    {"l3-8b.up 4096->14336", 4096, 14336, Online::None},
    {"l3-8b.down+had 14336->4096", 14336, 4096, Online::Rows},
    // The runner's own projections: q, k and v in one GEMM, gate and up in one
    // (interleaved rows; plain fp16 output here, SwiGLU in the runner).
    {"l2-7b.qkv fused 4096->12288", 4096, 12288, Online::None},
    {"l2-7b.gate+up fused 4096->22016", 4096, 22016, Online::None},
    {"l3-8b.qkv fused 4096->6144", 4096, 6144, Online::None},
    {"l3-8b.gate+up fused 4096->28672", 4096, 28672, Online::None},
};

// A pool of random bytes / valid fp16 / bf16 values, tiled into device buffers.
struct Pool {
  std::vector<uint16_t> f16, bf16;
  std::vector<uint8_t> bytes;
  explicit Pool(uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> nd(0.f, 1.f);
    const size_t n = size_t(1) << 22;
    f16.resize(n);
    bf16.resize(n);
    bytes.resize(2 * n);
    for (size_t i = 0; i < n; ++i) {
      const float v = nd(rng);
      f16[i] = quarot::float_to_fp16(v);
      bf16[i] = quarot::float_to_bf16(v);
    }
    for (auto& b : bytes) b = uint8_t(rng());
  }
};

template <typename T>
void fill_from(DeviceBuffer<T>& buf, const std::vector<T>& pool, size_t shift) {
  for (size_t off = 0; off < buf.size(); off += pool.size()) {
    const size_t n = std::min(pool.size(), buf.size() - off);
    const size_t s = shift % (pool.size() - n + 1);
    buf.upload(pool.data() + s, n, off);
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median time of one call in microseconds. `inner` calls (rotating buffers) are
// captured into a CUDA graph, replayed between events, so that host launch
// overhead is not measured; the batch is sized to about 0.5 ms.
double time_us(const std::function<void(int)>& call, int reps, cudaStream_t stream) {
  cudaEvent_t a, b;
  CUDA_CHECK(cudaEventCreate(&a));
  CUDA_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 5; ++i) call(i);  // warm-up outside the graph (module load, attributes)
  CUDA_CHECK(cudaStreamSynchronize(stream));
  CUDA_CHECK(cudaEventRecord(a, stream));
  for (int i = 0; i < 5; ++i) call(i);
  CUDA_CHECK(cudaEventRecord(b, stream));
  CUDA_CHECK(cudaEventSynchronize(b));
  float ms = 0;
  CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
  const int inner = std::clamp(int(0.5 / std::max(ms / 5, 1e-4f)), 4, 400);
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < inner; ++i) call(i);
  CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  for (int i = 0; i < 2; ++i) CUDA_CHECK(cudaGraphLaunch(exec, stream));
  std::vector<double> samples;
  for (int r = 0; r < reps; ++r) {
    CUDA_CHECK(cudaEventRecord(a, stream));
    CUDA_CHECK(cudaGraphLaunch(exec, stream));
    CUDA_CHECK(cudaEventRecord(b, stream));
    CUDA_CHECK(cudaEventSynchronize(b));
    CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    samples.push_back(1000.0 * ms / inner);
  }
  CUDA_CHECK(cudaGraphExecDestroy(exec));
  CUDA_CHECK(cudaGraphDestroy(graph));
  CUDA_CHECK(cudaEventDestroy(a));
  CUDA_CHECK(cudaEventDestroy(b));
  return median(samples);
}

// "4096x8448,4096x12672" -> plain shapes; false (with a message) on a malformed item.
bool parse_extra(const std::string& s, std::vector<Shape>& out) {
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    int K = 0, N = 0;
    char x = 0, rest = 0;
    if (std::sscanf(item.c_str(), "%d%c%d%c", &K, &x, &N, &rest) != 3 || x != 'x' || K <= 0 || N <= 0 ||
        K % 32 != 0 || N % 16 != 0) {
      std::fprintf(stderr, "bench_w4a4: --extra item '%s' must be KxN with K %% 32 == 0 and N %% 16 == 0\n",
                   item.c_str());
      return false;
    }
    out.push_back({"extra " + std::to_string(K) + "x" + std::to_string(N), K, N, Online::None});
  }
  return true;
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoi(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> ms = {1, 16, 256, 2048, 8192};
  std::string shapes = "all";
  int reps = 15, settle_ms = 2000, tail_split = 1;
  std::vector<Shape> all(std::begin(kShapes), std::end(kShapes));
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--m") ms = parse_list(v);
    else if (k == "--shapes") shapes = v;
    else if (k == "--reps") reps = std::stoi(v);
    else if (k == "--settle-ms") settle_ms = std::stoi(v);
    else if (k == "--tail-split") tail_split = std::stoi(v);
    else if (k == "--extra") {
      if (!parse_extra(v, all)) return 2;
    } else {
      std::fprintf(stderr,
                   "usage: bench_w4a4 [--m 1,16,...] [--shapes all|substring] [--reps N] [--extra KxN,...] "
                   "[--settle-ms MS] [--tail-split 0|1]\n");
      return 2;
    }
  }
  try {
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    std::printf("device: %s, %d SMs, L2 %d MB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);
    cudaStream_t stream;
    CUDA_CHECK(cudaStreamCreate(&stream));
    cublasHandle_t cublas;
    CUBLAS_CHECK(cublasCreate(&cublas));
    CUBLAS_CHECK(cublasSetStream(cublas, stream));
    DeviceBuffer<uint8_t> workspace(size_t(64) << 20);  // so that graph capture never allocates
    CUBLAS_CHECK(cublasSetWorkspace(cublas, workspace.get(), workspace.bytes()));
    Pool pool(12345);
    int last_m = 0;  // the M timed last (--settle-ms)

    std::printf("%-28s %6s %10s %9s %9s %10s %8s %9s %s\n", "shape", "M", "w4a4_us", "quant_us", "gemm_us",
                "bf16_us", "speedup", "w4a4_TOPS", "path");
    for (const Shape& sh : all) {
      if (shapes != "all" && sh.name.find(shapes) == std::string::npos) continue;
      const int K = sh.K, N = sh.N;
      const int64_t heads = 32, head_dim = K / heads;
      HadamardDevice had;
      if (sh.online == Online::Rows) had = HadamardDevice(K);
      if (sh.online == Online::Heads) had = HadamardDevice(heads);
      // Enough copies that one rotation's weights + inputs exceed L2 several times.
      const size_t w4_bytes = w4a4_weight_bytes(N, K), bf_bytes = size_t(N) * K * 2;
      const int rw4 = int(std::clamp<size_t>((size_t(256) << 20) / w4_bytes + 1, 2, 16));
      const int rbf = int(std::clamp<size_t>((size_t(256) << 20) / bf_bytes + 1, 2, 16));
      std::vector<DeviceBuffer<uint8_t>> w4(rw4);
      std::vector<DeviceBuffer<float>> w4s(rw4);
      std::vector<DeviceBuffer<uint16_t>> wbf(rbf);
      std::vector<float> scales(static_cast<size_t>(N));
      for (int i = 0; i < N; ++i) scales[size_t(i)] = 1e-3f * float(1 + i % 7);
      for (int r = 0; r < rw4; ++r) {
        w4[r].resize(w4_bytes);
        fill_from(w4[r], pool.bytes, size_t(r) * 7919);
        w4s[r].resize(size_t(N));
        w4s[r].upload(scales.data(), scales.size());
      }
      for (int r = 0; r < rbf; ++r) {
        wbf[r].resize(size_t(N) * K);
        fill_from(wbf[r], pool.bf16, size_t(r) * 7919);
      }
      for (int M : ms) {
        if (M < last_m && settle_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(settle_ms));
        last_m = M;
        const size_t x_elems = size_t(M) * K;
        const int rx = int(std::clamp<size_t>((size_t(256) << 20) / (x_elems * 2) + 1, 2, 8));
        std::vector<DeviceBuffer<uint16_t>> x16(rx), xbf(rx);
        for (int r = 0; r < rx; ++r) {
          x16[r].resize(x_elems);
          fill_from(x16[r], pool.f16, size_t(r) * 104729);
          xbf[r].resize(x_elems);
          fill_from(xbf[r], pool.bf16, size_t(r) * 104729);
        }
        // The layout the runner would quantize into for this GEMM (tiled int8 for wgmma).
        const int64_t tile_rows = w4a4_act_tile_rows(M, N, K);
        DeviceBuffer<uint8_t> packed(tile_rows > 0 ? act_tiles_bytes(tile_rows, K) : x_elems / 2);
        const ActCodes codes(packed.get(), tile_rows);
        DeviceBuffer<float> ascale(static_cast<size_t>(M));
        DeviceBuffer<uint8_t> gemm_ws(tail_split != 0 ? w4a4_gemm_workspace_bytes(M, N, K) : 0);
        gemm_ws.fill_bytes(0);
        DeviceBuffer<uint16_t> out(size_t(M) * N), outbf(size_t(M) * N);
        const ActQuantSpec aq{4, 0.9};

        auto quant = [&](int i) {
          const uint16_t* x = x16[i % rx].get();
          if (sh.online == Online::Rows)
            hadamard_quant_f16(x, K, M, had, aq, codes, ascale.get(), stream);
          else if (sh.online == Online::Heads)
            heads_hadamard_quant_f16(x, K, M, int(head_dim), had, aq, codes, ascale.get(), stream);
          else
            act_quant_f16(x, K, M, K, aq, codes, ascale.get(), stream);
        };
        auto args = [&](int i) {
          GemmArgs g;
          g.a = packed.get();
          g.a_tile_rows = tile_rows;
          g.a_scale = ascale.get();
          g.w = w4[i % rw4].get();
          g.w_scale = w4s[i % rw4].get();
          g.out = out.get();
          g.ldo = N;
          g.M = M;
          g.N = N;
          g.K = K;
          g.mode = OutMode::F16;
          g.slow_producer = sh.online == Online::Rows;  // as the runner's down_proj
          g.workspace = gemm_ws.get();
          g.workspace_bytes = gemm_ws.bytes();
          return g;
        };
        auto gemm = [&](int i) { w4a4_gemm(args(i), stream); };
        auto both = [&](int i) {
          quant(i);
          gemm(i);
        };
        auto bf16 = [&](int i) {
          const float alpha = 1.f, beta = 0.f;
          CUBLAS_CHECK(cublasGemmEx(cublas, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &alpha, wbf[i % rbf].get(),
                                    CUDA_R_16BF, K, xbf[i % rx].get(), CUDA_R_16BF, K, &beta, outbf.get(),
                                    CUDA_R_16BF, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        };
        const double t_both = time_us(both, reps, stream);
        const double t_quant = time_us(quant, reps, stream);
        const double t_gemm = time_us(gemm, reps, stream);
#if defined(QUAROT_GEMM_TIMELINE)
        // The GEMM's graph ran last: the stamps are its final launch's.
        if (const char* dir = std::getenv("QUAROT_TIMELINE_DIR"); dir != nullptr && t_gemm > 0) {
          std::string name = sh.name.substr(0, sh.name.find(' '));
          for (char& ch : name)
            if (ch == '/' || ch == '+') ch = '_';
          const std::string path = std::string(dir) + "/" + name + "_M" + std::to_string(M) + ".csv";
          if (std::strstr(w4a4_gemm_path_name(M, N, K), "wgmma") != nullptr && !detail::wgmma_timeline_dump(path.c_str()))
            std::fprintf(stderr, "bench_w4a4: cannot write %s\n", path.c_str());
        }
#endif
        const double t_bf = time_us(bf16, reps, stream);
        const double tops = 2.0 * M * double(N) * K / (t_both * 1e-6) / 1e12;
        std::printf("%-28s %6d %10.2f %9.2f %9.2f %10.2f %7.2fx %9.1f %s\n", sh.name.c_str(), M, t_both, t_quant,
                    t_gemm, t_bf, t_bf / t_both, tops, w4a4_gemm_path_name(M, N, K));
        std::fflush(stdout);
      }
    }
    CUBLAS_CHECK(cublasDestroy(cublas));
    CUDA_CHECK(cudaStreamDestroy(stream));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_w4a4: %s\n", e.what());
    return 1;
  }
  return 0;
}
