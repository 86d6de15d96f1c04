// The heap-based merge engine against the definition: repeatedly merge the
// adjacent pair of lowest rank, leftmost among equals (a quadratic reference).
#include <catch2/catch.hpp>

#include <random>

#include "lib/tokenizer/bpe_merge.h"

using quarot::tok::MergeRule;
using quarot::tok::MergeTable;

namespace {

std::vector<int32_t> reference_merge(std::vector<int32_t> ids, const MergeTable& merges) {
  while (true) {
    size_t best = ids.size();
    int32_t best_rank = 0;
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      const MergeRule* r = merges.find(ids[i], ids[i + 1]);
      if (r && (best == ids.size() || r->rank < best_rank)) best = i, best_rank = r->rank;
    }
    if (best == ids.size()) return ids;
    ids[best] = merges.find(ids[best], ids[best + 1])->new_id;
    ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
}

}  // namespace

TEST_CASE("merge order equals the lowest-rank-leftmost definition on random inputs", "[tokenizer][bpe]") {
  std::mt19937_64 rng(1234);
  for (int trial = 0; trial < 200; ++trial) {
    // A few base symbols, and merges over base and merged symbols with arbitrary
    // ranks: merged tokens may take part in pairs of lower rank than their own.
    const int32_t base = 2 + static_cast<int32_t>(rng() % 4);
    MergeTable merges;
    int32_t next_id = base;
    const int n_merges = 1 + static_cast<int>(rng() % 12);
    std::vector<int32_t> ranks(n_merges);
    for (int k = 0; k < n_merges; ++k) ranks[k] = k;
    std::shuffle(ranks.begin(), ranks.end(), rng);
    for (int k = 0; k < n_merges; ++k) {
      const int32_t a = static_cast<int32_t>(rng() % next_id), b = static_cast<int32_t>(rng() % next_id);
      merges.insert(a, b, MergeRule{ranks[k], next_id++});
    }
    std::vector<int32_t> ids(static_cast<size_t>(rng() % 60));
    for (auto& v : ids) v = static_cast<int32_t>(rng() % base);
    std::vector<int32_t> fast = ids;
    quarot::tok::merge_symbols(fast, merges);
    INFO("trial " << trial);
    REQUIRE(fast == reference_merge(ids, merges));
  }
}

TEST_CASE("MergeTable: later insert of a pair replaces it", "[tokenizer][bpe]") {
  MergeTable t;
  for (int32_t i = 0; i < 1000; ++i) t.insert(i, i + 1, {i, i + 2});
  t.insert(5, 6, {7000, 42});
  CHECK(t.size() == 1000);
  REQUIRE(t.find(5, 6) != nullptr);
  CHECK(t.find(5, 6)->rank == 7000);
  CHECK(t.find(5, 6)->new_id == 42);
  CHECK(t.find(999, 1000)->rank == 999);
  CHECK(t.find(6, 5) == nullptr);
}
