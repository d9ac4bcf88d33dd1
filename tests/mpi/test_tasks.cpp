// MPI tests of train.task = multilabel and regression (Note [Tasks] in step.h, Note [Task
// metrics] in evaluation.h): the evaluation's integer counts are equal at any world size with
// uneven ranges and equal to one forward over the whole file, its float sums agree to rounding;
// a run learns (a linear regression reaches a small MSE, multilabel beats the trivial
// predictor); a file of another task is refused naming the file, its task and the key.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "frost/train/evaluation.h"
#include "frost/train/trainer.h"
#include "mpi_test_util.h"

namespace frost::testing {
namespace {

// Rank 0 writes n rows of `dim` features with K targets: multilabel target k = x_k > 0.3 x_{k+1}
// (learnable), regression y = x W with a fixed W [dim, K] (exactly linear); every rank waits.
std::string write_task_data(const std::string& path, data::Task task, int64_t n, int64_t dim,
                            int64_t k, uint64_t seed = 11) {
  return write_on_rank0(path, [&] {
    torch::manual_seed(static_cast<int64_t>(seed));
    const auto x = torch::randn({n, dim});
    torch::Tensor y;
    if (task == data::Task::kMultilabel) {
      y = x.narrow(1, 0, k).gt(x.narrow(1, 1, k) * 0.3).to(torch::kFloat);
    } else {
      torch::manual_seed(1);  // the same W for every file
      y = x.matmul(torch::randn({dim, k}));
    }
    data::DatasetInfo info = feature_info(n, dim, k);
    info.task = data::task_name(task);
    info.num_targets = k;
    data::WriteOptions options;
    options.chunk_rows = 5;
    const auto yc = y.contiguous();
    options.targets = yc.data_ptr<float>();
    data::write_dataset(path, info, x.contiguous().data_ptr<float>(), nullptr, options);
  });
}

train::Config task_config(const std::string& train, const std::string& test,
                          const std::string& run, data::Task task) {
  auto cfg = small_config(train, run);
  cfg.data.test = test;
  cfg.train.task = task;
  cfg.eval.metric =
      task == data::Task::kRegression ? train::EvalMetric::kRmse : train::EvalMetric::kMicroF1;
  return cfg;
}

// The outputs of `model` for all rows of `path` in one forward, and the targets.
std::pair<torch::Tensor, torch::Tensor> direct_outputs(models::ClassifierImpl& model,
                                                       const std::string& path) {
  auto ds = data::H5Dataset::open({path});
  const int64_t n = ds.size(), dim = ds.info().sample_shape[0], k = ds.info().num_targets;
  std::vector<int64_t> rows(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) rows[static_cast<size_t>(i)] = i;
  auto x = torch::empty({n, dim});
  auto y = torch::empty({n, k});
  ds.read(rows, x.data_ptr<float>(), nullptr);
  ds.read_targets(rows, y.data_ptr<float>());
  torch::NoGradGuard no_grad;
  model.eval();
  return {model.forward(x), y};
}

// 13 rows (uneven ranges at 2-4 ranks), evaluation batches of 2: every count equals the direct
// count and a 1-rank evaluation's, bit for bit; the loss agrees to rounding.
TEST(TaskEvaluation, MultilabelCountsExactAnyWorld) {
  auto& c = world();
  const std::string dir = job_dir("task-ml-eval");
  const std::string file = write_task_data(dir + "/m.h5", data::Task::kMultilabel, 13, 5, 3);
  auto cfg = task_config(file, file, dir + "/run", data::Task::kMultilabel);
  cfg.data.eval_batch_size = 2;
  train::Trainer trainer(cfg, c);
  const train::EvalResult r = trainer.evaluate();
  EXPECT_EQ(r.samples, 13);
  EXPECT_EQ(r.task, data::Task::kMultilabel);
  const auto [out, y] = direct_outputs(*trainer.model(), file);
  const auto pred = out.ge(0), truth = y.gt(0.5);
  for (int64_t k = 0; k < 3; ++k) {
    EXPECT_EQ(r.report.support[static_cast<size_t>(k)], truth.select(1, k).sum().item<int64_t>());
    EXPECT_EQ(r.report.predicted[static_cast<size_t>(k)], pred.select(1, k).sum().item<int64_t>());
  }
  EXPECT_EQ(r.correct, pred.eq(truth).all(1).sum().item<int64_t>());
  const double bce = torch::binary_cross_entropy_with_logits(out.to(torch::kDouble),
                                                             y.to(torch::kDouble))
                         .item<double>();
  EXPECT_NEAR(r.loss, bce, 1e-6);

  auto self = comm::make_communicator("mpi", comm::Scope::kSelf);
  cfg.log.dir = dir + "/one-" + std::to_string(c.rank());
  train::Trainer one(cfg, *self);
  const train::EvalResult o = one.evaluate();
  EXPECT_EQ(o.correct, r.correct);
  EXPECT_EQ(o.report.support, r.report.support);
  EXPECT_EQ(o.report.predicted, r.report.predicted);
  EXPECT_EQ(o.report.f1, r.report.f1);
  EXPECT_EQ(o.report.macro_f1, r.report.macro_f1);
  EXPECT_EQ(o.report.micro_f1, r.report.micro_f1);
  // Float sums: other ranges, other batches (float32 forward) and another order of the float64
  // additions; they agree to rounding, as classification's loss (test_evaluation.cpp).
  EXPECT_NEAR(o.loss, r.loss, 1e-6 * std::max(1.0, o.loss));
}

TEST(TaskEvaluation, RegressionSumsAgreeAnyWorld) {
  auto& c = world();
  const std::string dir = job_dir("task-reg-eval");
  const std::string file = write_task_data(dir + "/r.h5", data::Task::kRegression, 13, 5, 2);
  auto cfg = task_config(file, file, dir + "/run", data::Task::kRegression);
  cfg.data.eval_batch_size = 2;
  train::Trainer trainer(cfg, c);
  const train::EvalResult r = trainer.evaluate();
  EXPECT_EQ(r.samples, 13);
  const auto [out, y] = direct_outputs(*trainer.model(), file);
  // The direct forward takes all rows at once: float32 outputs may differ in the last bits.
  const auto e = out.to(torch::kDouble) - y.to(torch::kDouble);
  EXPECT_NEAR(r.loss, e.square().mean().item<double>(), 1e-5 * r.loss);
  EXPECT_NEAR(r.mae, e.abs().mean(0).mean().item<double>(), 1e-5 * r.mae);
  EXPECT_NEAR(r.rmse, e.square().mean(0).sqrt().mean().item<double>(), 1e-5 * r.rmse);
  const auto yd = y.to(torch::kDouble);
  const auto sst = (yd - yd.mean(0)).square().sum(0);
  const double r2 = (1 - e.square().sum(0) / sst).mean().item<double>();
  EXPECT_NEAR(r.r2, r2, 1e-5);

  auto self = comm::make_communicator("mpi", comm::Scope::kSelf);
  cfg.log.dir = dir + "/one-" + std::to_string(c.rank());
  train::Trainer one(cfg, *self);
  const train::EvalResult o = one.evaluate();
  for (const auto& [a, b] : {std::pair<double, double>{o.loss, r.loss}, {o.mae, r.mae},
                             {o.rmse, r.rmse}, {o.r2, r.r2}})
    EXPECT_NEAR(a, b, 1e-6 * std::max(1.0, std::abs(a)));
}

// A linear target through the MLP (ReLU, 32-16) with AdamW: the test MSE falls from the first
// evaluation to well under 5 % of the targets' variance (R2 > 0.95); rmse selects the best.
TEST(TaskTraining, RegressionLearnsWorld2) {
  const std::string dir = job_dir("task-reg-train");
  const std::string train_data = write_task_data(dir + "/train.h5", data::Task::kRegression,
                                                 512, 4, 2, 5);
  const std::string test_data = write_task_data(dir + "/test.h5", data::Task::kRegression, 64,
                                                4, 2, 6);
  auto cfg = task_config(train_data, test_data, dir + "/run", data::Task::kRegression);
  cfg.train.epochs = 8;
  cfg.data.batch_size = 16;
  cfg.optim.name = train::OptimizerKind::kAdamW;
  cfg.optim.lr = 0.01;
  cfg.optim.weight_decay = 0;
  cfg.checkpoint.keep_best = true;
  train::Trainer trainer(cfg, world());
  const train::EvalResult before = trainer.evaluate();
  const auto epochs = trainer.run();
  ASSERT_EQ(epochs.size(), 8u);
  const train::EvalResult& last = epochs.back().eval;
  EXPECT_LT(last.loss, 0.2 * before.loss);
  EXPECT_GT(last.r2, 0.95);
  EXPECT_LT(epochs.back().train_loss, epochs.front().train_loss);
  EXPECT_TRUE(epochs.back().tracked);
  EXPECT_LE(epochs.back().best_value, last.rmse);  // rmse: lower is better
}

// Multilabel: micro F1 and exact match beat the best constant predictor's after training.
TEST(TaskTraining, MultilabelLearnsWorld2) {
  const std::string dir = job_dir("task-ml-train");
  const std::string train_data = write_task_data(dir + "/train.h5", data::Task::kMultilabel,
                                                 512, 5, 3, 5);
  const std::string test_data = write_task_data(dir + "/test.h5", data::Task::kMultilabel, 64,
                                                5, 3, 6);
  auto cfg = task_config(train_data, test_data, dir + "/run", data::Task::kMultilabel);
  cfg.train.epochs = 6;
  cfg.data.batch_size = 16;
  cfg.optim.name = train::OptimizerKind::kAdamW;
  cfg.optim.lr = 0.01;
  cfg.optim.weight_decay = 0;
  train::Trainer trainer(cfg, world());
  const auto epochs = trainer.run();
  const train::EvalResult& last = epochs.back().eval;
  // The trivial predictors: all labels on gives micro F1 2P / (P + N K) <= 2/3 for about half
  // positives; the exact match of a constant row is at most the most frequent row's share.
  EXPECT_GT(last.report.micro_f1, 0.85);
  EXPECT_GT(last.accuracy, 0.6);
  EXPECT_LT(last.loss, 0.35);  // log 2 = 0.69 for a predictor that knows nothing
}

// A data file whose task is not train.task is refused naming the file, its task and the key.
TEST(TaskTraining, TaskMismatchNamesFileAndKeyAnyWorld) {
  const std::string dir = job_dir("task-mismatch");
  const std::string reg = write_task_data(dir + "/reg.h5", data::Task::kRegression, 16, 4, 2);
  auto cfg = small_config(reg, dir + "/run");  // train.task = classification
  try {
    train::Trainer trainer(cfg, world());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_CONTAINS(std::string(e.what()),
                    "data.train " + reg + " has task = regression but train.task = "
                    "classification; set train.task = regression to train on it");
  }
  const std::string cls = write_features(dir + "/cls.h5", 16, 4, 2);
  cfg = task_config(reg, cls, dir + "/run", data::Task::kRegression);
  try {
    train::Trainer trainer(cfg, world());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_CONTAINS(std::string(e.what()), "data.test " + cls + " has task = classification but "
                                           "train.task = regression");
  }
}

}  // namespace
}  // namespace frost::testing
