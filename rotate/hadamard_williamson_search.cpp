// Finds Williamson matrices of odd order n: four symmetric ±1 sequences
// A, B, C, D of length n (x_i = x_{n-i}) whose periodic autocorrelations sum to
// zero at every nonzero shift, i.e. circulants with A² + B² + C² + D² = 4n·I.
// This is how the rows in hadamard_williamson.cpp were found:
//   hadamard_williamson_search 23 3 3 5 7      hadamard_williamson_search 29 1 3 5 9
//   hadamard_williamson_search 39 5 9 5 5      hadamard_williamson_search 43 5 7 7 7 6
// Arguments: n, the absolute row sums s1..s4 (s1² + ... + s4² = 4n), and optionally
// a multiplier g: then only sequences with x_{g·i mod n} = x_i are tried.
//
// Method: every sequence is normalized to x_0 = +1 (negating a matrix keeps the
// property). Candidates of each row sum are kept only when their power spectral
// density |DFT|² is at most 4n at every frequency (the four PSDs sum to 4n). The
// search meets in the middle: pairs (C, D) whose PSDs still sum to at most 4n are
// sorted by a hash of their negated autocorrelation vector, and pairs (A, B) look
// theirs up. A is restricted to the lexicographically smallest member of its class
// under the multipliers i -> u·i (u a unit mod n), which map solutions to solutions.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

int n, half;

struct Cand {
  uint64_t mask;  // bit i-1 set: x_i = x_{n-i} = -1 (i = 1..half)
  int sum;
  std::vector<float> psd;
  std::vector<int8_t> paf;  // shifts 1..half (the rest are mirror images)
};

void expand(uint64_t mask, std::vector<int>& x) {
  x.assign(static_cast<size_t>(n), 1);
  for (int i = 1; i <= half; ++i) x[i] = x[n - i] = (mask >> (i - 1) & 1) ? -1 : 1;
}

uint64_t mask_of(const std::vector<int>& x) {
  uint64_t m = 0;
  for (int i = 1; i <= half; ++i)
    if (x[i] < 0) m |= uint64_t{1} << (i - 1);
  return m;
}

uint64_t key(const Cand& p, const Cand& q, int sign) {
  uint64_t h = 1469598103934665603ULL;
  for (int i = 0; i < half; ++i) {
    h ^= static_cast<uint8_t>(static_cast<int8_t>(sign * (p.paf[i] + q.paf[i])));
    h *= 1099511628211ULL;
    h ^= h >> 29;
  }
  return h;
}

int gcd(int a, int b) { return b == 0 ? a : gcd(b, a % b); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s n s1 s2 s3 s4 [g]\n", argv[0]);
    return 2;
  }
  n = std::atoi(argv[1]);
  half = (n - 1) / 2;
  const int s[4] = {std::atoi(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]), std::atoi(argv[5])};
  const int g = argc > 6 ? std::atoi(argv[6]) : 1;
  if (n < 3 || n % 2 == 0 || half > 40 || s[0] * s[0] + s[1] * s[1] + s[2] * s[2] + s[3] * s[3] != 4 * n) {
    std::fprintf(stderr, "need odd n in [3, 81] and s1^2+..+s4^2 = 4n\n");
    return 2;
  }
  std::vector<double> cosv(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) cosv[i] = std::cos(2 * M_PI * i / n);
  std::vector<int> units;
  for (int u = 2; u < n; ++u)
    if (gcd(u, n) == 1) units.push_back(u);

  std::vector<Cand> lists[4];
  std::vector<int> x, y;
  const double limit = 4.0 * n + 1e-6;
  for (uint64_t mask = 0; mask < (uint64_t{1} << half); ++mask) {
    expand(mask, x);
    if (g != 1) {
      bool fixed = true;
      for (int i = 1; i < n && fixed; ++i) fixed = x[static_cast<size_t>(1LL * g * i % n)] == x[i];
      if (!fixed) continue;
    }
    int sum = 0;
    for (int v : x) sum += v;
    bool wanted = false;
    for (int t = 0; t < 4; ++t) wanted |= std::abs(sum) == s[t];
    if (!wanted) continue;
    Cand c{mask, sum, std::vector<float>(half), std::vector<int8_t>(half)};
    bool ok = true;
    for (int k = 1; k <= half && ok; ++k) {
      double f = 1;
      for (int i = 1; i <= half; ++i) f += 2 * x[i] * cosv[static_cast<size_t>(1LL * k * i % n)];
      c.psd[k - 1] = static_cast<float>(f * f);
      ok = f * f <= limit;
    }
    if (!ok) continue;
    for (int k = 1; k <= half; ++k) {
      int t = 0;
      for (int i = 0; i < n; ++i) t += x[i] * x[(i + k) % n];
      c.paf[k - 1] = static_cast<int8_t>(t);
    }
    for (int t = 0; t < 4; ++t) {
      if (std::abs(sum) != s[t]) continue;
      bool canonical = true;
      if (t == 0)
        for (int u : units) {
          y.assign(static_cast<size_t>(n), 0);
          for (int i = 0; i < n; ++i) y[i] = x[static_cast<size_t>(1LL * u * i % n)];
          if (mask_of(y) < mask) {
            canonical = false;
            break;
          }
        }
      if (canonical) lists[t].push_back(c);
    }
  }
  std::fprintf(stderr, "candidates: %zu %zu %zu %zu\n", lists[0].size(), lists[1].size(), lists[2].size(),
               lists[3].size());

  const float flim = static_cast<float>(4.0 * n + 1e-3);
  auto fits = [&](const Cand& p, const Cand& q) {
    for (int k = 0; k < half; ++k)
      if (p.psd[k] + q.psd[k] > flim) return false;
    return true;
  };
  std::vector<std::pair<uint64_t, uint64_t>> cd;
  const bool same = s[2] == s[3];
  for (size_t i = 0; i < lists[2].size(); ++i)
    for (size_t j = same ? i : 0; j < lists[3].size(); ++j)
      if (fits(lists[2][i], lists[3][j])) cd.push_back({key(lists[2][i], lists[3][j], -1), i << 32 | j});
  std::sort(cd.begin(), cd.end());
  std::fprintf(stderr, "(C, D) pairs: %zu\n", cd.size());

  for (const Cand& a : lists[0])
    for (const Cand& b : lists[1]) {
      if (!fits(a, b)) continue;
      const uint64_t k = key(a, b, 1);
      for (auto it = std::lower_bound(cd.begin(), cd.end(), std::make_pair(k, uint64_t{0}));
           it != cd.end() && it->first == k; ++it) {
        const Cand& c = lists[2][it->second >> 32];
        const Cand& d = lists[3][it->second & 0xffffffffu];
        bool good = true;
        for (int t = 0; t < half && good; ++t) good = a.paf[t] + b.paf[t] + c.paf[t] + d.paf[t] == 0;
        if (!good) continue;
        std::printf("n=%d row sums %d %d %d %d\n", n, a.sum, b.sum, c.sum, d.sum);
        for (const Cand* q : {&a, &b, &c, &d}) {
          expand(q->mask, x);
          for (int v : x) std::putchar(v > 0 ? '+' : '-');
          std::putchar('\n');
        }
        return 0;
      }
    }
  std::fprintf(stderr, "none\n");
  return 1;
}
