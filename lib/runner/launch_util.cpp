#include "lib/runner/launch_util.h"

#include <map>
#include <mutex>

#include "lib/core/error.h"

namespace quarot::runner {

void ensure_dynamic_smem_raw(const void* func, size_t bytes) {
  static std::mutex mu;
  static std::map<const void*, size_t> granted;
  std::lock_guard<std::mutex> lock(mu);
  auto it = granted.find(func);
  if (it != granted.end() && it->second >= bytes) return;
  int dev = 0, max_optin = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  CUDA_CHECK(cudaDeviceGetAttribute(&max_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  QUAROT_CHECK(bytes <= size_t(max_optin), "a kernel needs ", bytes,
               " bytes of shared memory per block, more than this GPU allows (", max_optin,
               "): the model's dimensions are too large for the CUDA runner");
  CUDA_CHECK(cudaFuncSetAttribute(func, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
  granted[func] = bytes;
}

}  // namespace quarot::runner
