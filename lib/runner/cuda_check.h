// Checked CUDA and cuBLAS calls. Every runtime call goes through CUDA_CHECK and
// every kernel launch is followed by CUDA_CHECK_LAUNCH(), so a failure is reported
// with the file and line of the call that saw it. A CUDA failure is a runtime
// failure (exit 1), not bad input: it throws CudaError, not quarot::Error.
//
// QUAROT_RUNNER_SYNC=1 in the environment makes CUDA_CHECK_LAUNCH synchronize
// the device, so an asynchronous fault is pinned on the launch that caused it.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace quarot::runner {

class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void cuda_fail(cudaError_t e, const char* call, const char* file, int line);
[[noreturn]] void cublas_fail(cublasStatus_t s, const char* call, const char* file, int line);
void check_launch(const char* file, int line);

}  // namespace quarot::runner

#define CUDA_CHECK(call)                                                              \
  do {                                                                                \
    const cudaError_t quarot_e_ = (call);                                             \
    if (quarot_e_ != cudaSuccess) ::quarot::runner::cuda_fail(quarot_e_, #call, __FILE__, __LINE__); \
  } while (0)

#define CUBLAS_CHECK(call)                                                            \
  do {                                                                                \
    const cublasStatus_t quarot_s_ = (call);                                          \
    if (quarot_s_ != CUBLAS_STATUS_SUCCESS)                                           \
      ::quarot::runner::cublas_fail(quarot_s_, #call, __FILE__, __LINE__);            \
  } while (0)

#define CUDA_CHECK_LAUNCH() ::quarot::runner::check_launch(__FILE__, __LINE__)
