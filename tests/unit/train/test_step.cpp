// Unit tests of the parts of a training step that keep the host out of the step path (Note [One
// synchronisation per logged step] in frost/train/step.h): clip_grad_norm, micro-batch widths
// from Batch::row_widths, and PendingSteps (frost/train/metrics.h).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "frost/train/metrics.h"
#include "frost/train/step.h"

namespace frost::train {
namespace {

std::vector<torch::Tensor> grads_with_norm_above(double scale) {
  torch::manual_seed(7);
  return {torch::randn({5, 3}) * scale, torch::randn({3}) * scale, torch::randn({2, 2, 2}) * scale};
}

// The same gradients clipped by LibTorch's clip_grad_norm_ (which reads the norm on the host)
// and by clip_grad_norm (which does not) are bitwise equal, above and below the threshold.
TEST(ClipGradNorm, BitwiseAsLibTorchAboveAndBelowTheMaxNorm) {
  for (const double scale : {10.0, 1e-3}) {
    for (const size_t count : {size_t{1}, size_t{3}}) {
      auto grads = grads_with_norm_above(scale);
      grads.resize(count);
      std::vector<torch::Tensor> params;
      std::vector<torch::Tensor> mine;
      for (const auto& g : grads) {
        auto p = torch::zeros_like(g).requires_grad_(true);
        p.mutable_grad() = g.clone();
        params.push_back(p);
        mine.push_back(g.clone());
      }
      torch::nn::utils::clip_grad_norm_(params, 0.5);
      clip_grad_norm(mine, 0.5);
      for (size_t i = 0; i < count; ++i) {
        EXPECT_TRUE(torch::equal(params[i].grad(), mine[i]))
            << "scale " << scale << ", " << count << " gradients, gradient " << i;
      }
      if (scale > 1) {  // clipped: the global norm is now the max norm (up to the 1e-6)
        double sq = 0;
        for (const auto& g : mine) sq += g.pow(2).sum().item<double>();
        EXPECT_NEAR(std::sqrt(sq), 0.5, 1e-5);
      } else {  // below: unchanged
        for (size_t i = 0; i < count; ++i) EXPECT_TRUE(torch::equal(mine[i], grads[i]));
      }
    }
  }
}

TEST(ClipGradNorm, NoGradientsIsANoOp) { EXPECT_NO_THROW(clip_grad_norm({}, 1.0)); }

// A token batch with its mask and the row widths the loader computes for it.
Batch token_batch(bool with_row_widths) {
  Batch b;
  b.inputs = torch::arange(20, torch::kInt64).view({4, 5});
  b.attention_mask = torch::tensor({1, 1, 0, 0, 0,   // width 2
                                    1, 0, 0, 1, 0,   // 4: a gap is kept
                                    0, 0, 0, 0, 0,   // 1: never narrower than one column
                                    1, 1, 1, 0, 0},  // 3
                                   torch::kInt64)
                         .to(torch::kUInt8)
                         .view({4, 5});
  b.labels = torch::tensor({0, 1, 0, 1}, torch::kInt64);
  b.indices = {10, 11, 12, 13};
  if (with_row_widths) b.row_widths = {2, 4, 1, 3};
  return b;
}

// micro_batch cuts token inputs to the micro-batch's own width; from the host-side row widths
// (no read of the mask) it cuts exactly as from the mask.
TEST(MicroBatch, RowWidthsCutAsTheMaskDoes) {
  struct Case {
    int64_t begin, rows, width;
  };
  for (const Case c : {Case{0, 1, 2}, Case{0, 2, 4}, Case{2, 1, 1}, Case{2, 2, 3}, Case{1, 3, 4}}) {
    const Batch from_mask = micro_batch(token_batch(false), c.begin, c.rows);
    const Batch from_widths = micro_batch(token_batch(true), c.begin, c.rows);
    const std::string where = "rows [" + std::to_string(c.begin) + ", " +
                              std::to_string(c.begin + c.rows) + ")";
    EXPECT_EQ(from_mask.inputs.size(1), c.width) << where;
    EXPECT_TRUE(torch::equal(from_mask.inputs, from_widths.inputs)) << where;
    EXPECT_TRUE(torch::equal(from_mask.attention_mask, from_widths.attention_mask)) << where;
    EXPECT_EQ(from_widths.row_widths.size(), static_cast<size_t>(c.rows)) << where;
    const std::vector<int64_t> all = token_batch(true).indices;
    EXPECT_EQ(from_widths.indices,
              std::vector<int64_t>(all.begin() + c.begin, all.begin() + c.begin + c.rows))
        << where;
  }
}

// Token types are cut with the mask: the same rows and columns.
TEST(MicroBatch, TokenTypesFollowTheMask) {
  for (const bool widths : {false, true}) {
    Batch b = token_batch(widths);
    b.token_type_ids = (torch::arange(20, torch::kInt64).view({4, 5}) % 2).to(torch::kUInt8);
    const Batch mb = micro_batch(b, 1, 2);
    ASSERT_TRUE(mb.token_type_ids.defined());
    EXPECT_EQ(mb.token_type_ids.sizes(), mb.attention_mask.sizes());
    EXPECT_TRUE(torch::equal(mb.token_type_ids, b.token_type_ids.narrow(0, 1, 2).narrow(1, 0, 4)));
    EXPECT_FALSE(micro_batch(token_batch(widths), 1, 2).token_type_ids.defined());
  }
}

StepReport report(int64_t step, double loss, bool skipped = false) {
  StepReport r;
  r.step = step;
  r.epoch = 1;
  r.stats.loss_t = torch::scalar_tensor(loss, torch::kDouble);
  r.stats.skipped = skipped;
  return r;
}

TEST(PendingSteps, ReadsEveryQueuedLossInStepOrderAndEmpties) {
  PendingSteps pending(NonfiniteLoss::kStop);
  EXPECT_TRUE(pending.empty());
  for (int64_t s = 1; s <= 3; ++s) pending.add(report(s, 0.25 * static_cast<double>(s)));
  EXPECT_EQ(pending.size(), 3u);
  std::vector<std::pair<int64_t, double>> seen;
  pending.read([&](StepReport& r) { seen.emplace_back(r.step, r.stats.loss); });
  const std::vector<std::pair<int64_t, double>> want{{1, 0.25}, {2, 0.5}, {3, 0.75}};
  EXPECT_EQ(seen, want);
  EXPECT_TRUE(pending.empty());
  seen.clear();
  pending.read([&](StepReport& r) { seen.emplace_back(r.step, r.stats.loss); });
  EXPECT_TRUE(seen.empty()) << "an empty queue hands out nothing";
}

// stop: the first non-finite loss of the window ends the run, naming its step; the steps before
// it were handed out, the ones after it are not.
TEST(PendingSteps, StopNamesTheFirstNonFiniteStepOfTheWindow) {
  for (const double bad : {std::numeric_limits<double>::quiet_NaN(),
                           std::numeric_limits<double>::infinity()}) {
    PendingSteps pending(NonfiniteLoss::kStop);
    pending.add(report(4, 1.0));
    pending.add(report(5, bad));
    pending.add(report(6, std::numeric_limits<double>::quiet_NaN()));
    std::vector<int64_t> seen;
    try {
      pending.read([&](StepReport& r) { seen.push_back(r.step); });
      ADD_FAILURE() << "no error for loss " << bad;
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(std::string("loss is ") + (std::isnan(bad) ? "nan" : "inf") +
                          " at step 5 (epoch 1)"),
                std::string::npos)
          << what;
      EXPECT_NE(what.find("train.nonfinite_loss = skip"), std::string::npos) << what;
    }
    EXPECT_EQ(seen, std::vector<int64_t>{4});
  }
}

// skip: steps that were skipped carry their non-finite loss without an error.
TEST(PendingSteps, SkippedStepsNeverThrow) {
  for (const auto mode : {NonfiniteLoss::kStop, NonfiniteLoss::kSkip}) {
    PendingSteps pending(mode);
    pending.add(report(1, std::numeric_limits<double>::quiet_NaN(), /*skipped=*/true));
    pending.add(report(2, 2.0));
    std::vector<int64_t> seen;
    EXPECT_NO_THROW(pending.read([&](StepReport& r) { seen.push_back(r.step); }));
    EXPECT_EQ(seen, (std::vector<int64_t>{1, 2}));
  }
}

TEST(PendingSteps, AReportWithoutALossTensorIsABug) {
  PendingSteps pending(NonfiniteLoss::kStop);
  StepReport r;
  r.step = 3;
  EXPECT_THROW(pending.add(r), InternalError);
}

}  // namespace
// optim.label_smoothing: the training loss is PyTorch's cross_entropy(label_smoothing=eps),
// (1 - eps) x NLL of the label + eps x the mean over classes of -log p_c, here by hand in
// float64; eps 0 is plain cross-entropy.
TEST(TrainingLoss, LabelSmoothingAsTheHandFormula) {
  torch::manual_seed(3);
  const auto logits = torch::randn({5, 4});
  const auto labels = torch::tensor({0, 3, 1, 1, 2}, torch::kInt64);
  const auto logp = torch::log_softmax(logits.to(torch::kDouble), 1);
  for (const double eps : {0.0, 0.1, 0.5}) {
    double expected = 0;
    for (int64_t i = 0; i < 5; ++i) {
      const double nll = -logp[i][labels[i].item<int64_t>()].item<double>();
      const double uniform = -logp[i].mean().item<double>();
      expected += ((1 - eps) * nll + eps * uniform) / 5;
    }
    const auto loss = training_loss(logits, labels, eps);
    EXPECT_EQ(loss.dim(), 0);
    EXPECT_NEAR(loss.item<double>(), expected, 1e-6) << "eps " << eps;
  }
  EXPECT_NE(training_loss(logits, labels, 0.1).item<double>(),
            training_loss(logits, labels, 0.0).item<double>());
}

// Note [Tasks]: multilabel is PyTorch's binary_cross_entropy_with_logits and regression its
// mse_loss, each a mean over B x K; the values are torch 2.11's on the same tensors (and by
// hand: BCE = mean of max(x, 0) - x y + log(1 + exp(-|x|)) = 5.674151 / 6).
TEST(TaskLoss, MultilabelAndRegressionAsPyTorch) {
  const auto x = torch::tensor({{2.0f, -1.0f, 0.5f}, {-3.0f, 0.0f, 4.0f}});
  const auto y = torch::tensor({{1.0f, 0.0f, 1.0f}, {0.0f, 1.0f, 0.0f}});
  const auto bce = task_loss(data::Task::kMultilabel, x, y);
  EXPECT_EQ(bce.dim(), 0);
  EXPECT_NEAR(bce.item<double>(), 0.9456918239593506, 1e-7);
  const auto r = torch::tensor({{0.5f, 1.5f}, {-2.0f, 3.0f}});
  const auto t = torch::tensor({{1.0f, 1.0f}, {0.0f, 0.0f}});
  EXPECT_EQ(task_loss(data::Task::kRegression, r, t).item<double>(), 3.375);  // (.25+.25+4+9)/4
  // The head's K must be the data's K.
  EXPECT_THROW(task_loss(data::Task::kRegression, r, torch::zeros({2, 3})), Error);
}

// Gradient accumulation weights each micro-batch's mean loss by its share of the rows: for a
// mean over B x K that gives the gradient of the whole batch's mean, as for cross-entropy.
TEST(TaskLoss, MicroBatchSharesGiveTheWholeBatchGradient) {
  torch::manual_seed(5);
  for (const auto task : {data::Task::kMultilabel, data::Task::kRegression}) {
    const auto w = torch::randn({4, 3}, torch::requires_grad());
    const auto x = torch::randn({5, 4});
    const auto y = task == data::Task::kMultilabel ? torch::randint(0, 2, {5, 3}).to(torch::kFloat)
                                                   : torch::randn({5, 3});
    task_loss(task, x.matmul(w), y).backward();
    const auto whole = w.grad().clone();
    w.grad().zero_();
    for (const auto& [begin, rows] : {std::pair<int64_t, int64_t>{0, 2}, {2, 2}, {4, 1}}) {
      const auto loss = task_loss(task, x.narrow(0, begin, rows).matmul(w), y.narrow(0, begin, rows));
      (loss * (static_cast<double>(rows) / 5.0)).backward();
    }
    EXPECT_TRUE(torch::allclose(w.grad(), whole, 1e-6, 1e-6)) << data::task_name(task);
  }
}

// micro_batch carries the targets with the rows.
TEST(MicroBatch, CarriesTargets) {
  Batch b;
  b.inputs = torch::arange(12, torch::kFloat).view({6, 2});
  b.targets = torch::arange(18, torch::kFloat).view({6, 3});
  b.indices = {0, 1, 2, 3, 4, 5};
  const Batch mb = micro_batch(b, 2, 3);
  EXPECT_FALSE(mb.labels.defined());
  EXPECT_TRUE(torch::equal(mb.targets, b.targets.narrow(0, 2, 3)));
  EXPECT_EQ(mb.rows(), 3);
  const Batch on = b.to(torch::kCPU);
  EXPECT_TRUE(torch::equal(on.targets, b.targets));
}

}  // namespace frost::train
