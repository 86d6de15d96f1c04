// Per-token negative log-likelihood from fp32 logits, accumulated in fp64.
#include <cmath>

#include "lib/runner/cuda_check.h"
#include "lib/runner/device_common.cuh"
#include "lib/runner/kernels.h"

namespace quarot::runner {
namespace {

__device__ __forceinline__ double warp_sum_d(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__global__ void __launch_bounds__(512)
    nll_kernel(const float* __restrict__ logits, int64_t ld, int V, const int32_t* __restrict__ targets,
               double* __restrict__ nll) {
  __shared__ float scratch[32];
  __shared__ double dscratch[32];
  const int r = blockIdx.x;
  const float* x = logits + int64_t(r) * ld;
  float mx = -INFINITY;
  for (int i = threadIdx.x; i < V; i += blockDim.x) mx = fmaxf(mx, x[i]);
  mx = dev::block_max(mx, scratch);
  double sum = 0.0;
  for (int i = threadIdx.x; i < V; i += blockDim.x) sum += exp(double(x[i]) - double(mx));
  sum = warp_sum_d(sum);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  if (lane == 0) dscratch[warp] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0.0;
    for (int w = 0; w < nw; ++w) total += dscratch[w];
    nll[r] = log(total) + double(mx) - double(x[targets[r]]);
  }
}

}  // namespace

void nll_rows(const float* logits, int64_t ld, int rows, int V, const int32_t* targets, double* nll,
              cudaStream_t stream) {
  if (rows == 0) return;
  nll_kernel<<<rows, 512, 0, stream>>>(logits, ld, V, targets, nll);
  CUDA_CHECK_LAUNCH();
}

}  // namespace quarot::runner
