// Exact distributed evaluation on data.test (invariant 5): each rank scores its contiguous
// range of the test set (data::EvalSampler: every sample exactly once, no padding
// duplicates), and the counts and sums are all-reduced once at the end, so uneven ranges need
// no per-batch collectives.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "frost/train/config.h"

namespace frost::comm {
class Communicator;
}
namespace frost::data {
class H5Dataset;
}
namespace frost::models {
class ClassifierImpl;
}

namespace frost::train {

/// Result of an exact distributed evaluation (every sample scored once, sums all-reduced).
struct EvalResult {
  int64_t samples = 0;
  int64_t correct = 0;
  double accuracy = 0.0;  ///< correct / samples
  double loss = 0.0;      ///< mean cross-entropy
};

class Evaluator {
 public:
  /// Evaluates on `test_set` in batches of data.eval_batch_size per rank. With a feature cache
  /// (train.feature_cache is not off: the backbone is frozen), the backbone's features of this
  /// rank's range are computed at the first evaluate() and later calls score the head alone
  /// (Note [Feature cache] in feature_cache.h). `test_set`, `cfg` and `comm` must outlive it.
  Evaluator(const data::H5Dataset& test_set, const Config& cfg, comm::Communicator& comm);

  /// Scores `model` in eval mode under no-grad (the model is left in eval mode). Collective.
  /// Throws frost::Error "data.test FILE: sample I has a non-finite input ..." for NaN/Inf
  /// float inputs, frost::TimeoutError when a peer does not join the all-reduce.
  EvalResult evaluate(models::ClassifierImpl& model);

 private:
  const data::H5Dataset& test_set_;
  const Config& cfg_;
  comm::Communicator& comm_;
  at::Tensor features_, labels_;  // with a feature cache: this rank's range, [range, D] and [range]
};

}  // namespace frost::train
