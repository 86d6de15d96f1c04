#include "apps/common/cli.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <cstdio>
#include <exception>

#include "lib/core/error.h"

namespace quarot {

int run_guarded(const char* program, const std::function<int()>& body) {
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
