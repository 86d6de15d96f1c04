// An owning device allocation. The runner's allocations all go through here so
// that peak_bytes() is the most the runner itself held at once (cuBLAS's
// workspace and the CUDA context are not counted).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "lib/runner/cuda_check.h"

namespace quarot::runner {

struct DeviceMemoryStats {
  static uint64_t current();
  static uint64_t peak();
  static void add(uint64_t n);
  static void sub(uint64_t n);
};

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count) { resize(count); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), count_(o.count_) {
    o.ptr_ = nullptr;
    o.count_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      std::swap(ptr_, o.ptr_);
      std::swap(count_, o.count_);
    }
    return *this;
  }

  // Discards the contents.
  void resize(size_t count) {
    if (count == count_) return;
    release();
    if (count == 0) return;
    void* p = nullptr;
    CUDA_CHECK(cudaMalloc(&p, count * sizeof(T)));
    ptr_ = static_cast<T*>(p);
    count_ = count;
    DeviceMemoryStats::add(bytes());
  }
  void release() {
    if (ptr_ != nullptr) {
      DeviceMemoryStats::sub(bytes());
      cudaFree(ptr_);  // no check: may run during unwinding
    }
    ptr_ = nullptr;
    count_ = 0;
  }
  void upload(const T* host, size_t count, size_t offset = 0) {
    if (count == 0) return;
    CUDA_CHECK(cudaMemcpy(ptr_ + offset, host, count * sizeof(T), cudaMemcpyHostToDevice));
  }
  void download(T* host, size_t count, size_t offset = 0) const {
    if (count == 0) return;
    CUDA_CHECK(cudaMemcpy(host, ptr_ + offset, count * sizeof(T), cudaMemcpyDeviceToHost));
  }
  void fill_bytes(int byte) {
    if (count_ != 0) CUDA_CHECK(cudaMemset(ptr_, byte, bytes()));
  }

  T* get() { return ptr_; }
  const T* get() const { return ptr_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }

 private:
  T* ptr_ = nullptr;
  size_t count_ = 0;
};

}  // namespace quarot::runner
