// The seeded stratified train/test split of frost-prep's converters (no LibTorch).
#pragma once

#include <cstdint>
#include <vector>

namespace frost::data {

/// A permutation of 0..n-1: Fisher-Yates with std::mt19937_64 seeded by
/// std::seed_seq{seed_lo, seed_hi} and an unbiased bounded draw (as TrainSampler), so the same
/// (n, seed) gives the same permutation with every standard library.
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed);

/// Rows of each side of a stratified split.
struct StratifiedSplit {
  std::vector<int64_t> train, test;  ///< row indices, in the permuted order
  std::vector<int64_t> train_per_class, test_per_class;
};

/// Splits rows 0..n-1 with labels[i] in [0, num_classes): in the order of
/// seeded_permutation(n, seed), the first round(n_c * test_frac) rows of each class c go to
/// test, the others to train (the rule of frost-prep text, text_prep.h). Either side may be
/// empty; the caller checks.
StratifiedSplit stratified_split(const std::vector<int64_t>& labels, int64_t num_classes,
                                 double test_frac, uint64_t seed);

}  // namespace frost::data
