// What every front end shares: exit codes, error reporting, and parsing of the
// flags that name devices and dtypes.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>

namespace quarot {

// Exit codes: 0 success, 1 runtime failure (I/O, out of memory, a NaN in the
// model), 2 bad input or usage (the message names the flag, file or field),
// 3 internal error (a bug: please report it).
enum ExitCode { kExitOk = 0, kExitFailure = 1, kExitUsage = 2, kExitInternal = 3 };

// Runs `body`, turning exceptions into a one-line "quarot-xxx: error: ..." on stderr
// and the matching exit code.
int run_guarded(const char* program, const std::function<int()>& body);

// "cpu", "cuda", "cuda:N"; refuses CUDA when this LibTorch build or machine has none.
at::Device parse_device(const std::string& s);

}  // namespace quarot
