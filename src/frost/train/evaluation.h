// Exact distributed evaluation on data.test (invariant 5): each rank scores its contiguous
// range of the test set (data::EvalSampler: every sample exactly once, no padding
// duplicates), and the counts and sums are all-reduced once at the end, so uneven ranges need
// no per-batch collectives.
//
// Note [Classification report]
// An evaluation counts the confusion matrix M [C, C] of the head's C classes (rows = true class,
// columns = predicted class = argmax of the logits; int64 counts, summed over the ranks with one
// int64 all-reduce at the end, so it is exact at any world size) and, from M alone, per class c:
//   support_c   = sum_j M[c][j]                (samples of class c)
//   predicted_c = sum_i M[i][c]                (samples predicted as c)
//   precision_c = M[c][c] / predicted_c        (0 when predicted_c = 0)
//   recall_c    = M[c][c] / support_c          (0 when support_c = 0)
//   f1_c        = 2 M[c][c] / (support_c + predicted_c)   (= 2PR / (P + R); 0 when both are 0)
// i.e. scikit-learn's precision_recall_fscore_support with zero_division=0: a class without
// support, or never predicted, scores 0 where the quotient is undefined, without a warning.
//   macro_f1 = the mean of f1_c over the classes that occur: support_c > 0 or predicted_c > 0
//              (scikit-learn's f1_score(y_true, y_pred, average="macro", zero_division=0),
//              whose labels are those of y_true and y_pred; a head class that the test set
//              never holds and the model never predicts does not count);
//   micro_f1 = 2 sum_c M[c][c] / sum_c (support_c + predicted_c) = the accuracy, as every sample
//              has exactly one true and one predicted class.
// classification_report computes these; tests: unit train.ClassificationReport (a hand-computed
// example with an empty class), mpi Evaluation.* (1-4 ranks, uneven ranges, equal to one rank).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

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

/// Per-class scores of a confusion matrix (Note [Classification report]); every vector has
/// num_classes entries, class index order.
struct ClassReport {
  int64_t num_classes = 0;
  std::vector<int64_t> support, predicted;
  std::vector<double> precision, recall, f1;
  double macro_f1 = 0.0;  ///< mean f1 over the classes with support or predictions (0: none)
  double micro_f1 = 0.0;  ///< = accuracy (0 without samples)
};

/// The report of the row-major confusion matrix `confusion` [C, C] (rows = true class, columns =
/// predicted class; C * C non-negative counts). Throws frost::Error when confusion.size() is not
/// num_classes^2 or a count is negative.
ClassReport classification_report(const std::vector<int64_t>& confusion, int64_t num_classes);

/// Result of an exact distributed evaluation (every sample scored once, sums all-reduced).
struct EvalResult {
  int64_t samples = 0;
  int64_t correct = 0;
  double accuracy = 0.0;  ///< correct / samples
  double loss = 0.0;      ///< mean cross-entropy
  /// [C, C] row-major int64 counts (rows = true, columns = predicted), C = the head's classes;
  /// the same on every rank. Empty when samples == 0.
  std::vector<int64_t> confusion;
  ClassReport report;  ///< of `confusion` (Note [Classification report])
};

/// The logits of one batch of this rank's range: `first` is the global row (in the test file's
/// order) of logits' row 0; logits are float32 [rows, C] on the model's device. For
/// frost-predict, which writes each sample's prediction.
using LogitsSink = std::function<void(int64_t first, const at::Tensor& logits)>;

class Evaluator {
 public:
  /// Evaluates on `test_set` in batches of data.eval_batch_size per rank. With a feature cache
  /// (train.feature_cache is not off: the backbone is frozen), the backbone's features of this
  /// rank's range are computed at the first evaluate() and later calls score the head alone
  /// (Note [Feature cache] in feature_cache.h). `test_set`, `cfg` and `comm` must outlive it.
  /// `source` names the data in errors ("data.test FILE" by default).
  Evaluator(const data::H5Dataset& test_set, const Config& cfg, comm::Communicator& comm,
            std::string source = "");

  /// Scores `model` in eval mode under no-grad (the model is left in eval mode). Collective:
  /// one int64 all-reduce of the confusion matrix and one float64 all-reduce of the loss sum,
  /// at the end. `sink`, when given, is called with every batch's logits in row order (this
  /// rank's range only). Throws frost::Error "data.test FILE: sample I has a non-finite input
  /// ..." for NaN/Inf float inputs, frost::TimeoutError when a peer does not join the
  /// all-reduce.
  EvalResult evaluate(models::ClassifierImpl& model, const LogitsSink& sink = {});

 private:
  const data::H5Dataset& test_set_;
  const Config& cfg_;
  comm::Communicator& comm_;
  std::string source_;
  at::Tensor features_, labels_;  // with a feature cache: this rank's range, [range, D] and [range]
};

}  // namespace frost::train
