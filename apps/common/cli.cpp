#include "apps/common/cli.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <malloc.h>

#include <cstdio>
#include <exception>

#include "lib/core/error.h"

namespace quarot {

namespace {
// The forward pass allocates and frees tensors of a few MB to a few tens of MB per
// layer. Above glibc's default mmap threshold each of those is a fresh mmap whose
// pages the kernel must zero: on a 2-core machine that system time was a third
// of an evaluation. Keep them on the heap and do not hand freed memory back.
void tune_allocator() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}
}  // namespace

int run_guarded(const char* program, const std::function<int()>& body) {
  tune_allocator();
  try {
    return body();
  } catch (const Error& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return kExitUsage;
  } catch (const InternalError& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return kExitInternal;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: error: out of memory\n", program);
    return kExitFailure;
  } catch (const std::exception& e) {
    // LibTorch errors (c10::Error) carry a long backtrace; the first line says it.
    std::string msg = e.what();
    auto nl = msg.find('\n');
    std::fprintf(stderr, "%s: error: %s\n", program, msg.substr(0, nl).c_str());
    return kExitFailure;
  }
}

at::Device parse_device(const std::string& s) {
  QUAROT_CHECK(s == "cpu" || s.rfind("cuda", 0) == 0, "--device: unknown device '", s, "' (expected cpu or cuda)");
  if (s == "cpu") return at::Device(at::kCPU);
  QUAROT_CHECK(at::hasCUDA(), "--device ", s,
               ": this LibTorch has no CUDA support or no GPU is visible (use --device cpu)");
  return at::Device(s);
}

}  // namespace quarot
