#include "frost/data/split.h"

#include <cmath>
#include <random>
#include <utility>

namespace frost::data {
namespace {

// Uniform integer in [0, bound), unbiased: the rejection method of TrainSampler (sampler.cpp).
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;  // == 2^64 mod bound
  for (;;) {
    const uint64_t x = rng();
    if (x >= threshold) return x % bound;
  }
}

}  // namespace

std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = i;
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  std::mt19937_64 rng(seq);
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(i) + 1));
    std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(j)]);
  }
  return p;
}

StratifiedSplit stratified_split(const std::vector<int64_t>& labels, int64_t num_classes,
                                 double test_frac, uint64_t seed) {
  const auto k = static_cast<size_t>(num_classes);
  std::vector<int64_t> per_class(k, 0);
  for (int64_t y : labels) ++per_class[static_cast<size_t>(y)];
  std::vector<int64_t> quota(k);
  for (size_t c = 0; c < k; ++c)
    quota[c] = std::llround(static_cast<double>(per_class[c]) * test_frac);
  StratifiedSplit s;
  s.train_per_class.assign(k, 0);
  s.test_per_class.assign(k, 0);
  for (int64_t r : seeded_permutation(static_cast<int64_t>(labels.size()), seed)) {
    const auto y = static_cast<size_t>(labels[static_cast<size_t>(r)]);
    if (s.test_per_class[y] < quota[y]) {
      s.test.push_back(r);
      ++s.test_per_class[y];
    } else {
      s.train.push_back(r);
      ++s.train_per_class[y];
    }
  }
  return s;
}

}  // namespace frost::data
