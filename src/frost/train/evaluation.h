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
//
// Note [Task metrics]
// train.task = multilabel (K labels; logits [B, K]; label k is predicted when sigmoid(logit)
// >= 0.5, i.e. logit >= 0, compared on the logit so that no rounding of the sigmoid enters):
// int64 counts per label of true positives TP_k, predicted positives P_k and true positives
// in the data S_k, and the exact-match count (rows whose K predictions all equal the
// targets), all-reduced once, so exact at any world size. Per label precision_k = TP_k / P_k,
// recall_k = TP_k / S_k, f1_k = 2 TP_k / (S_k + P_k) (0 where undefined: zero_division=0);
// macro_f1 = the mean of f1_k over all K labels (scikit-learn's multilabel f1_score(average=
// "macro", zero_division=0): a label never present nor predicted counts as 0); micro_f1 =
// 2 sum TP / sum (S + P); eval_accuracy = exact-match (subset) accuracy, scikit-learn's
// accuracy_score on multilabel rows. eval_loss = binary cross-entropy with logits, mean over
// N x K.
// train.task = regression (K targets; outputs [B, K]): float64 sums per target of the squared
// error, the absolute error, y and y^2, all-reduced once; eval_loss = MSE over N x K; per
// target mae_k, rmse_k = sqrt(SSE_k / N), r2_k = 1 - SSE_k / SST_k with SST_k = sum y^2 -
// (sum y)^2 / N (scikit-learn's r2_score: 1 when SST_k = 0 and SSE_k = 0, else 0 when
// SST_k = 0); mae, rmse, r2 = their means over the K targets (multioutput="uniform_average").
// The float sums are not bitwise independent of the world size: another world size gives each
// rank other rows, so other evaluation batches (a float32 forward may round a row differently
// in another batch) and another order of the float64 additions; they agree with one rank to
// rounding (the tests use 1e-6 relative, as for classification's loss). The integer counts
// are bitwise equal at any world size (a prediction at a logit of exactly 0 could in principle
// flip with the batch; none does in the tests). Tests: unit train.TaskMetrics, mpi Evaluation.*Task* (1-4 ranks).
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
class EvalSampler;
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
  ClassReport report;  ///< of `confusion` (Note [Classification report]); multilabel: per label
                       ///< (Note [Task metrics]; support = positives, predicted = predicted
                       ///< positives); regression: empty
  data::Task task = data::Task::kClassification;
  /// Regression (Note [Task metrics]): per target, and their means over the K targets.
  std::vector<double> target_mae, target_rmse, target_r2;
  double mae = 0.0, rmse = 0.0, r2 = 0.0;
};

/// The multilabel report of the counts per label (Note [Task metrics]): tp, predicted and
/// support have K entries each. Throws frost::Error on sizes that differ or negative counts.
ClassReport multilabel_report(const std::vector<int64_t>& tp, const std::vector<int64_t>& predicted,
                              const std::vector<int64_t>& support);

/// Regression metrics from the sums over n samples, K entries each (Note [Task metrics]):
/// fills r's target_mae/rmse/r2, mae, rmse, r2 and loss (MSE over n x K).
void regression_metrics(EvalResult& r, int64_t n, const std::vector<double>& sse,
                        const std::vector<double>& sae, const std::vector<double>& sum_y,
                        const std::vector<double>& sum_y2);

/// The value of `metric` in `eval` (eval_accuracy, macro_f1, micro_f1, eval_loss, mae, rmse,
/// r2); for model selection.
double eval_metric_value(EvalMetric metric, const EvalResult& eval);

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

  /// Scores `model` in eval mode under no-grad (the model is left in eval mode), for
  /// cfg.train.task (Note [Task metrics]). Collective: one int64 all-reduce of the counts
  /// (confusion matrix, or multilabel counts) and one float64 all-reduce of the sums (loss;
  /// regression: per-target sums), at the end. `sink`, when given, is called with every batch's logits in row order (this
  /// rank's range only). Throws frost::Error "data.test FILE: sample I has a non-finite input
  /// ..." for NaN/Inf float inputs, frost::TimeoutError when a peer does not join the
  /// all-reduce.
  EvalResult evaluate(models::ClassifierImpl& model, const LogitsSink& sink = {});

 private:
  EvalResult evaluate_targets(models::ClassifierImpl& model, const data::EvalSampler& range,
                              const LogitsSink& sink);

  const data::H5Dataset& test_set_;
  const Config& cfg_;
  comm::Communicator& comm_;
  std::string source_;
  at::Tensor features_, labels_;  // with a feature cache: this rank's range, [range, D] and [range]
};

}  // namespace frost::train
