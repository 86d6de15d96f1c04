#include "lib/runner/launch_util.h"

#include <map>
#include <mutex>
#include <tuple>

#include "lib/core/error.h"

namespace quarot::runner {

void ensure_dynamic_smem_raw(const void* func, size_t bytes) {
  static std::mutex mu;
  static std::map<const void*, size_t> granted;
  std::lock_guard<std::mutex> lock(mu);
  auto it = granted.find(func);
  if (it != granted.end() && it->second >= bytes) return;
  const size_t max_optin = device_smem_optin();
  // The 48 KB default covers static plus dynamic shared memory.
  cudaFuncAttributes attr{};
  CUDA_CHECK(cudaFuncGetAttributes(&attr, func));
  const size_t total = attr.sharedSizeBytes + bytes;
  QUAROT_CHECK(total <= max_optin, "a kernel needs ", total,
               " bytes of shared memory per block, more than this GPU allows (", max_optin,
               "): the model's dimensions are too large for the CUDA runner");
  if (total > 48 * 1024)
    CUDA_CHECK(cudaFuncSetAttribute(func, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
  granted[func] = bytes;
}

int blocks_per_sm_raw(const void* func, int threads, size_t smem) {
  static std::mutex mu;
  static std::map<std::tuple<const void*, int, size_t>, int> asked;
  std::lock_guard<std::mutex> lock(mu);
  const auto key = std::make_tuple(func, threads, smem);
  auto it = asked.find(key);
  if (it != asked.end()) return it->second;
  int n = 0;
  CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, func, threads, smem));
  asked.emplace(key, n);
  return n;
}

size_t device_smem_optin() {
  static const size_t bytes = [] {
    int dev = 0, n = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    return size_t(n);
  }();
  return bytes;
}

}  // namespace quarot::runner
