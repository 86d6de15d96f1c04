// The BPE merge engine: which adjacent pairs merge, and in which order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace quarot::tok {

struct MergeRule {
  int32_t rank;    // the line of the merge list; lower merges first
  int32_t new_id;  // the token that the pair becomes
};

// (left id, right id) -> rule, in an open-addressing table: lookups dominate
// the merge loop, which touches the table a few times per character.
class MergeTable {
 public:
  // A pair listed twice keeps its later rank, as Hugging Face's map does.
  void insert(int32_t left, int32_t right, MergeRule rule);
  const MergeRule* find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    const uint64_t k = key(left, right);
    for (size_t i = slot(k);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == k) return &s.rule;
      if (s.key == kEmpty) return nullptr;
    }
  }
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t key;
    MergeRule rule;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are non-negative, so no pair has this key
  static uint64_t key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  size_t slot(uint64_t k) const { return static_cast<size_t>((k * 0x9E3779B97F4A7C15ull) >> shift_) & mask_; }
  void grow();

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  unsigned shift_ = 64;
  size_t size_ = 0;
};

// Merges `ids` in place in Hugging Face's order: repeatedly the adjacent pair of
// lowest rank, the leftmost one among equal ranks. O(n log n) through a heap of
// candidate pairs whose stale entries are skipped when popped.
void merge_symbols(std::vector<int32_t>& ids, const MergeTable& merges);

}  // namespace quarot::tok
