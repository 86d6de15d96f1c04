// First rows of Williamson matrices (four symmetric circulant ±1 matrices
// A, B, C, D of odd order n with A² + B² + C² + D² = 4n·I) for the orders that
// the Paley constructions cannot reach: 4·23 = 92, 4·29 = 116, 4·39 = 156,
// 4·43 = 172. They are data, found by rotate/hadamard_williamson_search.cpp
// (see there how) and checked by tests/hadamard.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace quarot::hadamard {

struct WilliamsonRows {
  int64_t n;  // order of each circulant block; the Hadamard matrix has order 4n
  std::string a, b, c, d;
};

// The stored sets, one per order.
const std::vector<WilliamsonRows>& williamson_table();

// The set for order n, or nullptr.
const WilliamsonRows* williamson_rows(int64_t n);

}  // namespace quarot::hadamard
