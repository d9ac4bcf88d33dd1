// Unit tests of the classification report (Note [Classification report] in evaluation.h) and of
// the model selection's comparison (Note [Model selection] in checkpoint.h), on hand-computed
// cases.
#include <gtest/gtest.h>

#include <cmath>

#include <string>
#include <utility>
#include <vector>

#include "frost/core/error.h"
#include "frost/train/checkpoint.h"
#include "frost/train/config.h"
#include "frost/train/evaluation.h"

namespace frost::train {
namespace {

// Six samples, five classes, (true, predicted):
//   (0,0) (0,0) (0,1) (1,1) (1,3) (2,0)
// class 0: support 3, predicted 3, tp 2 -> P = R = F1 = 2/3
// class 1: support 2, predicted 2, tp 1 -> P = R = F1 = 1/2
// class 2: support 1, never predicted   -> P = 0 (zero_division), R = 0, F1 = 0
// class 3: no support, predicted once   -> P = 0, R = 0 (zero_division), F1 = 0
// class 4: no support, never predicted  -> all 0, and left out of the macro mean
// macro F1 = (2/3 + 1/2 + 0 + 0) / 4 = 7/24 (scikit-learn: f1_score([0,0,0,1,1,2],
// [0,0,1,1,3,0], average="macro", zero_division=0)); micro F1 = accuracy = 3/6.
TEST(ClassificationReport, HandComputedWithEmptyClasses) {
  const std::vector<int64_t> m = {2, 1, 0, 0, 0,  //
                                  0, 1, 0, 1, 0,  //
                                  1, 0, 0, 0, 0,  //
                                  0, 0, 0, 0, 0,  //
                                  0, 0, 0, 0, 0};
  const ClassReport r = classification_report(m, 5);
  EXPECT_EQ(r.support, (std::vector<int64_t>{3, 2, 1, 0, 0}));
  EXPECT_EQ(r.predicted, (std::vector<int64_t>{3, 2, 0, 1, 0}));
  const std::vector<double> p = {2.0 / 3, 0.5, 0, 0, 0}, f1 = {2.0 / 3, 0.5, 0, 0, 0};
  for (size_t c = 0; c < 5; ++c) {
    EXPECT_DOUBLE_EQ(r.precision[c], p[c]) << "class " << c;
    EXPECT_DOUBLE_EQ(r.recall[c], p[c]) << "class " << c;
    EXPECT_DOUBLE_EQ(r.f1[c], f1[c]) << "class " << c;
  }
  EXPECT_DOUBLE_EQ(r.macro_f1, 7.0 / 24);
  EXPECT_DOUBLE_EQ(r.micro_f1, 0.5);
}

// Precision and recall differ: class 0 is predicted for every sample.
TEST(ClassificationReport, PrecisionAndRecallOfAClassPredictedEverywhere) {
  const std::vector<int64_t> m = {3, 0,  //
                                  1, 0};
  const ClassReport r = classification_report(m, 2);
  EXPECT_DOUBLE_EQ(r.precision[0], 0.75);
  EXPECT_DOUBLE_EQ(r.recall[0], 1.0);
  EXPECT_DOUBLE_EQ(r.f1[0], 6.0 / 7);  // 2PR / (P + R) = 1.5 / 1.75
  EXPECT_DOUBLE_EQ(r.f1[1], 0.0);
  EXPECT_DOUBLE_EQ(r.macro_f1, 3.0 / 7);
  EXPECT_DOUBLE_EQ(r.micro_f1, 0.75);
}

TEST(ClassificationReport, NoSamplesAndBadInput) {
  const ClassReport r = classification_report(std::vector<int64_t>(9, 0), 3);
  EXPECT_EQ(r.macro_f1, 0.0);
  EXPECT_EQ(r.micro_f1, 0.0);
  EXPECT_THROW(classification_report({1, 2, 3}, 2), Error);
  EXPECT_THROW(classification_report({1, -1, 0, 0}, 2), Error);
}

// Loss: lower is better; accuracy: higher is better; a tie is no improvement.
TEST(ModelSelection, LossLowerIsBetterAccuracyHigherAndTiesAreStale) {
  ModelSelection loss;
  loss.metric = EvalMetric::kLoss;
  EXPECT_TRUE(loss.update(0.5, 1, 10));
  EXPECT_TRUE(loss.update(0.3, 2, 20));
  EXPECT_FALSE(loss.update(0.4, 3, 30));
  EXPECT_FALSE(loss.update(0.3, 4, 40));
  EXPECT_EQ(loss.best_epoch, 2);
  EXPECT_EQ(loss.best_step, 20);
  EXPECT_EQ(loss.best_value, 0.3);
  EXPECT_EQ(loss.stale_evals, 2);
  EXPECT_TRUE(loss.exhausted(2));
  EXPECT_FALSE(loss.exhausted(3));
  EXPECT_FALSE(loss.exhausted(0));  // off
  EXPECT_TRUE(loss.update(0.1, 5, 50));
  EXPECT_EQ(loss.stale_evals, 0);

  ModelSelection acc;  // eval_accuracy by default
  EXPECT_TRUE(acc.update(0.5, 1, 1));
  EXPECT_FALSE(acc.update(0.4, 2, 2));
  EXPECT_FALSE(acc.update(0.5, 3, 3));
  EXPECT_TRUE(acc.update(0.6, 4, 4));
  EXPECT_EQ(acc.best_epoch, 4);
  EXPECT_EQ(metric_value(EvalMetric::kMacroF1, 0.9, 0.7, 0.1), 0.7);
  EXPECT_EQ(metric_value(EvalMetric::kLoss, 0.9, 0.7, 0.1), 0.1);
  EXPECT_EQ(metric_value(EvalMetric::kAccuracy, 0.9, 0.7, 0.1), 0.9);
}

}  // namespace
}  // namespace frost::train

namespace frost::train {
namespace {

std::string config_error(std::vector<std::string> args) {
  args.insert(args.begin(), "frost-train");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  try {
    parse_args(static_cast<int>(argv.size()), argv.data());
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// keep_best and early stopping need data.test; export = best needs keep_best; the choices.
// A non-finite metric (a diverged run's NaN loss) is never the best, not even the first one,
// and counts as a stale evaluation; a later finite value then becomes the best.
TEST(ModelSelection, NanIsNeverTheBest) {
  ModelSelection loss;
  loss.metric = EvalMetric::kLoss;
  EXPECT_FALSE(loss.update(std::nan(""), 1, 10));
  EXPECT_FALSE(loss.has_best);
  EXPECT_EQ(loss.stale_evals, 1);
  EXPECT_TRUE(loss.update(0.7, 2, 20));
  EXPECT_FALSE(loss.update(std::nan(""), 3, 30));
  EXPECT_EQ(loss.best_epoch, 2);
  ModelSelection acc;
  EXPECT_FALSE(acc.update(std::nan(""), 1, 1));
  EXPECT_FALSE(acc.has_best);
}

TEST(ModelSelection, ConfigKeysAndTheirChecks) {
  auto has = [](const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  };
  std::string e = config_error({"--data.train", "x", "--checkpoint.keep_best", "true"});
  EXPECT_TRUE(has(e, "checkpoint.keep_best = true needs data.test")) << e;
  e = config_error({"--data.train", "x", "--train.early_stopping_patience", "2"});
  EXPECT_TRUE(has(e, "train.early_stopping_patience = 2 needs data.test")) << e;
  e = config_error({"--data.train", "x", "--data.test", "t", "--checkpoint.export", "best"});
  EXPECT_TRUE(has(e, "checkpoint.export = best needs checkpoint.keep_best = true")) << e;
  e = config_error({"--data.train", "x", "--data.test", "t", "--train.early_stopping_patience",
                    "-1"});
  EXPECT_TRUE(has(e, "train.early_stopping_patience must be >= 0")) << e;
  e = config_error({"--data.train", "x", "--eval.metric", "f1"});
  EXPECT_TRUE(has(e, "eval.metric = 'f1' is not one of: eval_accuracy | macro_f1 | eval_loss"))
      << e;
  EXPECT_EQ(config_error({"--data.train", "x", "--data.test", "t", "--checkpoint.keep_best",
                          "true", "--checkpoint.export", "best", "--eval.metric", "eval_loss",
                          "--train.early_stopping_patience", "3"}),
            "(no error)");
  Config c;
  EXPECT_NE(c.to_ini().find("[eval]\nmetric = eval_accuracy\n"), std::string::npos);
  EXPECT_NE(c.to_ini().find("export = last\n"), std::string::npos);
  EXPECT_NE(c.to_ini().find("keep_best = false\n"), std::string::npos);
}

// Note [Task metrics], multilabel, three labels over four rows (truth / predicted):
//   label 0: tp 2, predicted 3, support 2 -> P 2/3, R 1, F1 4/5
//   label 1: tp 0, predicted 0, support 1 -> P 0, R 0, F1 0
//   label 2: tp 0, predicted 0, support 0 -> all 0 (zero_division), counted in the macro mean
// macro F1 = (4/5 + 0 + 0) / 3; micro F1 = 2 x 2 / (3 + 3) = 2/3.
TEST(TaskMetrics, MultilabelHandComputed) {
  const ClassReport r = multilabel_report({2, 0, 0}, {3, 0, 0}, {2, 1, 0});
  EXPECT_EQ(r.num_classes, 3);
  EXPECT_DOUBLE_EQ(r.precision[0], 2.0 / 3);
  EXPECT_DOUBLE_EQ(r.recall[0], 1.0);
  EXPECT_DOUBLE_EQ(r.f1[0], 0.8);
  EXPECT_EQ(r.f1[1], 0.0);
  EXPECT_EQ(r.f1[2], 0.0);
  EXPECT_DOUBLE_EQ(r.macro_f1, 0.8 / 3);
  EXPECT_DOUBLE_EQ(r.micro_f1, 2.0 / 3);
  EXPECT_THROW(multilabel_report({2}, {1}, {2}), Error);  // more true positives than predicted
  EXPECT_THROW(multilabel_report({1, 1}, {1}, {1}), Error);
}

// Regression, two targets over n = 4: y0 = {1, 2, 3, 4} predicted {1, 2, 3, 6} (errors 0, 0,
// 0, 2); y1 = 5 everywhere, predicted exactly: SST 0 and SSE 0 -> R2 1 (scikit-learn).
//   target 0: SSE 4, SAE 2, sum y 10, sum y^2 30 -> SST 30 - 100/4 = 5, R2 1 - 4/5 = 0.2,
//             MAE 0.5, RMSE 1; target 1: MAE 0, RMSE 0, R2 1. MSE = 4 / 8.
TEST(TaskMetrics, RegressionHandComputed) {
  EvalResult r;
  regression_metrics(r, 4, {4, 0}, {2, 0}, {10, 20}, {30, 100});
  EXPECT_DOUBLE_EQ(r.target_r2[0], 0.2);
  EXPECT_DOUBLE_EQ(r.target_r2[1], 1.0);
  EXPECT_DOUBLE_EQ(r.target_mae[0], 0.5);
  EXPECT_DOUBLE_EQ(r.target_rmse[0], 1.0);
  EXPECT_DOUBLE_EQ(r.mae, 0.25);
  EXPECT_DOUBLE_EQ(r.rmse, 0.5);
  EXPECT_DOUBLE_EQ(r.r2, 0.6);
  EXPECT_DOUBLE_EQ(r.loss, 0.5);
  // A constant target predicted wrongly scores 0.
  regression_metrics(r, 4, {1, 0}, {1, 0}, {8, 20}, {16, 100});
  EXPECT_EQ(r.target_r2[0], 0.0);
  EXPECT_EQ(eval_metric_value(EvalMetric::kR2, r), r.r2);
  EXPECT_EQ(eval_metric_value(EvalMetric::kRmse, r), r.rmse);
  EXPECT_EQ(eval_metric_value(EvalMetric::kMae, r), r.mae);
  EXPECT_EQ(eval_metric_value(EvalMetric::kLoss, r), r.loss);
}

// eval.metric: the new names, their direction, and the task check.
TEST(TaskMetrics, EvalMetricDirectionAndTask) {
  for (const auto m : {EvalMetric::kAccuracy, EvalMetric::kMacroF1, EvalMetric::kMicroF1,
                       EvalMetric::kR2})
    EXPECT_TRUE(higher_is_better(m)) << to_string(m);
  for (const auto m : {EvalMetric::kLoss, EvalMetric::kMae, EvalMetric::kRmse})
    EXPECT_FALSE(higher_is_better(m)) << to_string(m);
  ModelSelection rmse;
  rmse.metric = EvalMetric::kRmse;
  EXPECT_TRUE(rmse.update(2.0, 1, 1));
  EXPECT_TRUE(rmse.update(1.0, 2, 2));
  EXPECT_FALSE(rmse.update(1.5, 3, 3));
  ModelSelection r2;
  r2.metric = EvalMetric::kR2;
  EXPECT_TRUE(r2.update(0.5, 1, 1));
  EXPECT_FALSE(r2.update(0.4, 2, 2));

  auto has = [](const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  };
  // Not given: each task's own default (regression: eval_loss), in the config.ini of the run.
  for (const auto& [task, metric] :
       std::vector<std::pair<std::string, EvalMetric>>{{"classification", EvalMetric::kAccuracy},
                                                       {"multilabel", EvalMetric::kAccuracy},
                                                       {"regression", EvalMetric::kLoss}}) {
    const char* argv[] = {"frost-train", "--data.train", "x", "--train.task", task.c_str()};
    const Config parsed = parse_args(5, argv).config;
    EXPECT_EQ(parsed.eval.metric, metric) << task;
    EXPECT_NE(parsed.to_ini().find(std::string("metric = ") + to_string(metric) + "\n"),
              std::string::npos)
        << task;
  }
  // Given: checked against the task.
  std::string e = config_error(
      {"--data.train", "x", "--train.task", "regression", "--eval.metric", "eval_accuracy"});
  EXPECT_TRUE(has(e, "config key eval.metric = eval_accuracy is not a metric of train.task = "
                     "regression; use one of: eval_loss | mae | rmse | r2"))
      << e;
  e = config_error({"--data.train", "x", "--train.task", "multilabel", "--eval.metric", "rmse"});
  EXPECT_TRUE(has(e, "eval.metric = rmse is not a metric of train.task = multilabel")) << e;
  e = config_error({"--data.train", "x", "--eval.metric", "r2"});
  EXPECT_TRUE(has(e, "eval.metric = r2 is not a metric of train.task = classification")) << e;
  e = config_error({"--data.train", "x", "--train.task", "regresion"});
  EXPECT_TRUE(has(e, "train.task = 'regresion' is not one of: classification | multilabel | "
                     "regression"))
      << e;
  e = config_error({"--data.train", "x", "--train.task", "multilabel", "--optim.label_smoothing",
                    "0.1"});
  EXPECT_TRUE(has(e, "optim.label_smoothing = 0.1 smooths class labels")) << e;
  EXPECT_EQ(config_error({"--data.train", "x", "--train.task", "regression", "--eval.metric",
                          "r2"}),
            "(no error)");
  EXPECT_EQ(config_error({"--data.train", "x", "--train.task", "multilabel"}), "(no error)");
  Config c;
  EXPECT_NE(c.to_ini().find("task = classification\n"), std::string::npos);
}

}  // namespace
}  // namespace frost::train
