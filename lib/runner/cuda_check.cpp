#include "lib/runner/cuda_check.h"

#include <cstdlib>
#include <cstring>

namespace quarot::runner {

void cuda_fail(cudaError_t e, const char* call, const char* file, int line) {
  // A failed call also sets the runtime's last error; clear it (when it is not a
  // sticky fault) so that the next, unrelated launch check does not report it again.
  cudaGetLastError();
  throw CudaError(std::string("CUDA error ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) +
                  ") at " + file + ":" + std::to_string(line) + " in " + call);
}

void cublas_fail(cublasStatus_t s, const char* call, const char* file, int line) {
  throw CudaError(std::string("cuBLAS error ") + cublasGetStatusString(s) + " at " + file + ":" +
                  std::to_string(line) + " in " + call);
}

void check_launch(const char* file, int line) {
  static const bool sync = [] {
    const char* v = std::getenv("QUAROT_RUNNER_SYNC");
    return v != nullptr && std::strcmp(v, "0") != 0;
  }();
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) cuda_fail(e, "kernel launch", file, line);
  if (sync) {
    const cudaError_t s = cudaDeviceSynchronize();
    if (s != cudaSuccess) cuda_fail(s, "kernel execution (QUAROT_RUNNER_SYNC)", file, line);
  }
}

}  // namespace quarot::runner
