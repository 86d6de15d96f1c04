#include "lib/runner/device_buffer.h"

#include <algorithm>
#include <atomic>

namespace quarot::runner {
namespace {
std::atomic<uint64_t> g_current{0}, g_peak{0};
}

uint64_t DeviceMemoryStats::current() { return g_current.load(); }
uint64_t DeviceMemoryStats::peak() { return g_peak.load(); }
void DeviceMemoryStats::add(uint64_t n) {
  const uint64_t now = g_current.fetch_add(n) + n;
  uint64_t p = g_peak.load();
  while (now > p && !g_peak.compare_exchange_weak(p, now)) {
  }
}
void DeviceMemoryStats::sub(uint64_t n) { g_current.fetch_sub(n); }

}  // namespace quarot::runner
