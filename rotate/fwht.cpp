#include "rotate/fwht.h"

#include "lib/core/error.h"

namespace quarot::hadamard {

namespace {

template <typename T>
void fwht_impl(T* x, int64_t len) {
  QUAROT_CHECK(len >= 1 && (len & (len - 1)) == 0, "fwht: length ", len, " is not a power of two");
  for (int64_t h = 1; h < len; h *= 2)
    for (int64_t i = 0; i < len; i += 2 * h)
      for (int64_t j = i; j < i + h; ++j) {
        const T a = x[j], b = x[j + h];
        x[j] = a + b;
        x[j + h] = a - b;
      }
}

}  // namespace

void fwht_inplace(double* x, int64_t len) { fwht_impl(x, len); }
void fwht_inplace(float* x, int64_t len) { fwht_impl(x, len); }

}  // namespace quarot::hadamard
