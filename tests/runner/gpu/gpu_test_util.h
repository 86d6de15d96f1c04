// Helpers of the CUDA runner's GPU tests: a fresh seed per run (printed; set
// QUAROT_TEST_SEED to replay one), a hard failure when there is no GPU, poisoned
// outputs, and the float64 reference quantizers.
#pragma once

#include <catch2/catch.hpp>
#include <cuda_runtime.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "lib/runner/device_buffer.h"

namespace quarot::runner::testing {

inline uint64_t test_seed() {
  static const uint64_t seed = [] {
    const char* env = std::getenv("QUAROT_TEST_SEED");
    const uint64_t s = env != nullptr ? std::strtoull(env, nullptr, 10)
                                      : uint64_t(std::chrono::system_clock::now().time_since_epoch().count());
    std::printf("test_runner_gpu: seed %llu (QUAROT_TEST_SEED=%llu replays it)\n", (unsigned long long)s,
                (unsigned long long)s);
    return s;
  }();
  return seed;
}

// A generator per test case, derived from the run's seed and the test's name.
inline std::mt19937_64 rng_for(const std::string& name) {
  return std::mt19937_64(test_seed() ^ std::hash<std::string>{}(name));
}

// Fails loudly (never skips) without a usable GPU.
inline void require_gpu() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0)
    FAIL("test_runner_gpu needs a CUDA GPU; cudaGetDeviceCount says " << cudaGetErrorString(e) << ", " << n
                                                                      << " devices");
}

template <typename T>
DeviceBuffer<T> to_device(const std::vector<T>& v) {
  DeviceBuffer<T> b(v.size());
  b.upload(v.data(), v.size());
  return b;
}
template <typename T>
std::vector<T> to_host(const DeviceBuffer<T>& b) {
  std::vector<T> v(b.size());
  b.download(v.data(), v.size());
  return v;
}

struct Out {
  void* ptr;
  size_t bytes;
};
template <typename T>
Out out(DeviceBuffer<T>& b) {
  return {b.get(), b.bytes()};
}

// Runs `launch` twice, the outputs filled with 0xFF bytes (NaN for floats) before
// the first run and 0x00 before the second, and requires both results byte for byte
// equal: every output byte was written, and deterministically. The buffers keep the
// second run's result.
inline void run_poisoned(const std::function<void()>& launch, const std::vector<Out>& outs) {
  std::vector<std::vector<uint8_t>> first;
  for (int pass = 0; pass < 2; ++pass) {
    for (const Out& o : outs) REQUIRE(cudaMemset(o.ptr, pass == 0 ? 0xFF : 0x00, o.bytes) == cudaSuccess);
    launch();
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    for (size_t i = 0; i < outs.size(); ++i) {
      std::vector<uint8_t> bytes(outs[i].bytes);
      REQUIRE(cudaMemcpy(bytes.data(), outs[i].ptr, bytes.size(), cudaMemcpyDeviceToHost) == cudaSuccess);
      if (pass == 0) {
        first.push_back(std::move(bytes));
      } else {
        size_t diff = 0;
        for (size_t j = 0; j < bytes.size(); ++j) diff += bytes[j] != first[i][j];
        INFO("output " << i << ": " << diff << " of " << bytes.size()
                       << " bytes differ between the 0xFF- and 0x00-poisoned runs (unwritten or racy)");
        REQUIRE(diff == 0);
      }
    }
  }
}

// Relative L2 error ||a - b|| / ||b||.
inline double rel_l2(const std::vector<double>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

inline int nibble_signed(uint8_t byte, int hi) {
  const int v = hi ? (byte >> 4) : (byte & 0xF);
  return v >= 8 ? v - 16 : v;
}
inline int nibble_unsigned(uint8_t byte, int hi) { return hi ? (byte >> 4) : (byte & 0xF); }

// The tiled activation layout of kernels.h (ActCodes), from its description: byte
// offset of code k of row r (k = 32a + 8b + 2c + h within a k-tile of 128).
inline size_t act_tile_offset(int64_t tile_rows, int64_t r, int k) {
  const int kt = k / 128, kk = k % 128;
  const int a = kk / 32, b = (kk / 8) % 4, c = (kk / 2) % 4, h = kk % 2;
  const int pos = 32 * b + 16 * h + 4 * a + c;
  const int chunk = (pos / 16) ^ int(r % 8);
  return (size_t(kt) * size_t(tile_rows) + size_t(r)) * 128 + size_t(chunk) * 16 + size_t(pos % 16);
}
// Packed codes [M, cols/2] in that layout (16 * code per byte); bytes no code maps to
// (rows past M, the last tile's columns past cols) get `filler()`.
template <typename Filler>
std::vector<uint8_t> act_tiles_from_packed(const std::vector<uint8_t>& packed, int M, int cols, int64_t tile_rows,
                                           Filler filler) {
  std::vector<uint8_t> t(size_t((cols + 127) / 128) * size_t(tile_rows) * 128);
  for (auto& b : t) b = uint8_t(filler());
  for (int r = 0; r < M; ++r)
    for (int k = 0; k < cols; ++k) {
      const int code = nibble_signed(packed[size_t(r) * size_t(cols / 2) + size_t(k / 2)], k & 1);
      t[act_tile_offset(tile_rows, r, k)] = uint8_t(int8_t(16 * code));
    }
  return t;
}

// Checks one quantized code against the float64 reference q = value / scale: equal
// to the nearest integer (ties to even, clamped to [lo, hi]), or off by one only when
// q is within `tie_tol` of a rounding boundary. Returns false on a real mismatch;
// counts boundary cases in `ties`.
inline bool code_ok(int code, double q, int lo, int hi, double tie_tol, int& ties) {
  const int ref = int(std::min<double>(hi, std::max<double>(lo, std::nearbyint(q))));
  if (code == ref) return true;
  const double frac = q - std::floor(q);
  if (std::abs(code - ref) == 1 && std::abs(frac - 0.5) < tie_tol) {
    ++ties;
    return true;
  }
  return false;
}

}  // namespace quarot::runner::testing
