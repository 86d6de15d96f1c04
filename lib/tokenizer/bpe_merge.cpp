#include "lib/tokenizer/bpe_merge.h"

#include <algorithm>

#include "lib/core/error.h"

namespace quarot::tok {

void MergeTable::grow() {
  std::vector<Slot> old = std::move(slots_);
  const size_t cap = old.empty() ? 64 : old.size() * 2;
  slots_.assign(cap, Slot{kEmpty, {0, 0}});
  mask_ = cap - 1;
  shift_ = 64 - static_cast<unsigned>(__builtin_ctzll(cap));
  size_ = 0;
  for (const Slot& s : old)
    if (s.key != kEmpty) insert(static_cast<int32_t>(s.key >> 32), static_cast<int32_t>(s.key & 0xFFFFFFFFu), s.rule);
}

void MergeTable::insert(int32_t left, int32_t right, MergeRule rule) {
  if ((size_ + 1) * 2 > slots_.size()) grow();  // load factor at most 1/2
  const uint64_t k = key(left, right);
  for (size_t i = slot(k);; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.key == k) {
      s.rule = rule;
      return;
    }
    if (s.key == kEmpty) {
      s = Slot{k, rule};
      ++size_;
      return;
    }
  }
}

namespace {

// (rank << 32 | left position): the smallest is the lowest rank, leftmost among
// equal ranks. Positions are symbol indices, which keep text order.
uint64_t candidate(int32_t rank, int32_t pos) {
  return (static_cast<uint64_t>(rank) << 32) | static_cast<uint32_t>(pos);
}

// std heaps keep the greatest on top; this ordering makes it the smallest.
struct After {
  bool operator()(uint64_t a, uint64_t b) const { return a > b; }
};

}  // namespace

void merge_symbols(std::vector<int32_t>& ids, const MergeTable& merges) {
  QUAROT_ASSERT(ids.size() < (size_t{1} << 31));
  const int32_t n = static_cast<int32_t>(ids.size());
  if (n < 2) return;
  std::vector<int32_t> prev(n), next(n);
  std::vector<uint8_t> alive(n, 1);
  std::vector<uint64_t> heap;
  heap.reserve(n);
  for (int32_t i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
    if (i + 1 < n)
      if (const MergeRule* r = merges.find(ids[i], ids[i + 1])) heap.push_back(candidate(r->rank, i));
  }
  std::make_heap(heap.begin(), heap.end(), After());
  const auto push = [&](int32_t pos) {
    if (const MergeRule* r = merges.find(ids[pos], ids[next[pos]])) {
      heap.push_back(candidate(r->rank, pos));
      std::push_heap(heap.begin(), heap.end(), After());
    }
  };
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), After());
    const uint64_t top = heap.back();
    heap.pop_back();
    const int32_t p = static_cast<int32_t>(top & 0xFFFFFFFFu);
    const int32_t rank = static_cast<int32_t>(top >> 32);
    if (!alive[p] || next[p] < 0) continue;
    const int32_t q = next[p];
    // Stale when either side has merged since the entry was pushed: then the
    // pair at p is another pair, and each pair has its own rank.
    const MergeRule* r = merges.find(ids[p], ids[q]);
    if (r == nullptr || r->rank != rank) continue;
    ids[p] = r->new_id;
    alive[q] = 0;
    next[p] = next[q];
    if (next[q] >= 0) prev[next[q]] = p;
    if (prev[p] >= 0) push(prev[p]);
    if (next[p] >= 0) push(p);
  }
  int32_t w = 0;
  for (int32_t i = 0; i < n; ++i)
    if (alive[i]) ids[w++] = ids[i];
  ids.resize(w);
}

}  // namespace quarot::tok
