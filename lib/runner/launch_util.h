// Launch helpers: raising a kernel's dynamic shared-memory limit once, and its
// occupancy asked once.
#pragma once

#include <cstddef>

#include "lib/runner/cuda_check.h"

namespace quarot::runner {

// Raises the dynamic shared-memory limit of the kernel at `func` to at least
// `bytes` where its static plus dynamic shared memory exceed the 48 KB default,
// remembering per kernel what was granted (single device). Refuses, with
// quarot::Error, sizes over the device's opt-in maximum.
void ensure_dynamic_smem_raw(const void* func, size_t bytes);

// Largest dynamic + static shared memory a block may opt in to (cached).
size_t device_smem_optin();

template <typename Kernel>
void ensure_dynamic_smem(Kernel* kernel, size_t bytes) {
  if (bytes > 0) ensure_dynamic_smem_raw(reinterpret_cast<const void*>(kernel), bytes);
}

// Blocks of `threads` threads and `smem` bytes of dynamic shared memory that fit an
// SM at once (cudaOccupancyMaxActiveBlocksPerMultiprocessor), asked once per kernel,
// block size and shared memory (single device); 0 when none fits.
int blocks_per_sm_raw(const void* func, int threads, size_t smem);

template <typename Kernel>
int blocks_per_sm(Kernel* kernel, int threads, size_t smem) {
  return blocks_per_sm_raw(reinterpret_cast<const void*>(kernel), threads, smem);
}

}  // namespace quarot::runner
