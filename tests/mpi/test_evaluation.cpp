// MPI tests of evaluation and model selection: the confusion matrix and F1 scores are exact at
// any world size with uneven ranges (Note [Classification report] in evaluation.h), the
// evaluation report files, and keeping the best model, exporting it, early stopping and their
// resume (Note [Model selection] in checkpoint.h).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>

#include "frost/core/error.h"
#include "frost/data/sampler.h"
#include "frost/train/evaluation.h"
#include "frost/train/trainer.h"
#include "mpi_test_util.h"

namespace frost::testing {
namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  return nlohmann::json::parse(in);
}

std::vector<nlohmann::json> eval_rows(const std::string& metrics) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["kind"] == "eval") rows.push_back(j);
  }
  return rows;
}

// Rank 0 writes `n` feature rows of `dim` with labels in [0, used) of `classes` and, when
// given, the label_values attribute (class names); every rank waits.
std::string write_eval_data(const std::string& path, int64_t n, int64_t dim, int64_t classes,
                            int64_t used, const std::vector<std::string>& names = {}) {
  return write_on_rank0(path, [&] {
    torch::manual_seed(29);
    auto labels = torch::randint(0, used, {n}, torch::kLong);
    auto x = torch::randn({n, dim}) + labels.to(torch::kFloat).unsqueeze(1) * 0.3;
    data::WriteOptions options;
    options.chunk_rows = 5;
    if (!names.empty()) options.string_attributes["label_values"] = nlohmann::json(names).dump();
    data::write_dataset(path, feature_info(n, dim, classes), x.contiguous().data_ptr<float>(),
                        labels.data_ptr<int64_t>(), options);
  });
}

// The confusion matrix of `model` on all `n` rows of `path`, counted here with one forward over
// the whole file: the reference that owes nothing to the Evaluator.
std::vector<int64_t> direct_confusion(models::ClassifierImpl& model, const std::string& path,
                                      int64_t classes) {
  auto ds = data::H5Dataset::open({path});
  const int64_t n = ds.size(), dim = ds.info().sample_shape[0];
  std::vector<int64_t> rows(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) rows[static_cast<size_t>(i)] = i;
  auto x = torch::empty({n, dim});
  auto y = torch::empty({n}, torch::kLong);
  ds.read(rows, x.data_ptr<float>(), y.data_ptr<int64_t>());
  torch::NoGradGuard no_grad;
  model.eval();
  const auto pred = model.forward(x).argmax(1);
  std::vector<int64_t> m(static_cast<size_t>(classes * classes), 0);
  for (int64_t i = 0; i < n; ++i) {
    ++m[static_cast<size_t>(y[i].item<int64_t>() * classes + pred[i].item<int64_t>())];
  }
  return m;
}

// 13 test rows (uneven ranges at 2, 3 and 4 ranks; 0-4 rows per rank), evaluation batches of 2
// (a short last batch), a head of 4 classes of which the data uses 3 (class 3: no support):
// the all-reduced confusion matrix equals one forward over the whole file, and the F1 scores
// equal a 1-rank evaluation's bit for bit (they are computed from equal counts).
TEST(Evaluation, ConfusionAndF1ExactWithUnevenRangesAnyWorld) {
  auto& c = world();
  const std::string dir = job_dir("eval-exact");
  const std::string data = write_eval_data(dir + "/test.h5", 13, 5, 4, 3);
  auto cfg = small_config(data, dir + "/run");
  cfg.data.test = data;
  cfg.data.eval_batch_size = 2;
  train::Trainer trainer(cfg, c);
  const train::EvalResult r = trainer.evaluate();
  EXPECT_EQ(r.samples, 13);
  const auto direct = direct_confusion(*trainer.model(), data, 4);
  EXPECT_EQ(r.confusion, direct);
  EXPECT_EQ(r.report.support[3], 0);
  int64_t correct = 0;
  for (int64_t k = 0; k < 4; ++k) correct += direct[static_cast<size_t>(k * 5)];
  EXPECT_EQ(r.correct, correct);
  EXPECT_EQ(r.accuracy, static_cast<double>(correct) / 13);
  EXPECT_EQ(r.report.micro_f1, r.accuracy);

  // One rank alone (an MPI communicator of this process), the same model.
  auto self = comm::make_communicator("mpi", comm::Scope::kSelf);
  cfg.log.dir = dir + "/one-" + std::to_string(c.rank());
  train::Trainer one(cfg, *self);
  const train::EvalResult o = one.evaluate();
  EXPECT_EQ(o.confusion, r.confusion);
  EXPECT_EQ(o.report.macro_f1, r.report.macro_f1);
  EXPECT_EQ(o.report.f1, r.report.f1);
  EXPECT_EQ(o.report.precision, r.report.precision);
  EXPECT_EQ(o.report.recall, r.report.recall);
  // Each batch's loss is a float32 sum (then added in float64): other batches, other rounding.
  EXPECT_NEAR(o.loss, r.loss, 1e-6 * std::max(1.0, o.loss));
  EXPECT_TRUE(same_on_all_ranks(static_cast<int64_t>(std::hash<std::string>()(
      nlohmann::json(r.confusion).dump() + std::to_string(r.report.macro_f1)))));
}

// Every evaluation writes its eval record (macro/micro F1, per-class scores, confusion) and
// eval_report.json with the class names of data.test; the report is the last evaluation's.
TEST(Evaluation, ReportFilesWithClassNamesAnyWorld) {
  auto& c = world();
  const std::string dir = job_dir("eval-report");
  const std::string train_data = write_features(dir + "/train.h5", 8 * c.world_size(), 5, 3);
  const std::string test_data =
      write_eval_data(dir + "/test.h5", 11, 5, 3, 3, {"cat", "dog", "eel"});
  auto cfg = small_config(train_data, dir + "/run");
  cfg.data.test = test_data;
  cfg.train.epochs = 2;
  train::Trainer trainer(cfg, c);
  trainer.run();
  const train::EvalResult last = trainer.evaluate();  // the model the last evaluation scored
  if (c.rank() != 0) return;
  const auto rows = eval_rows(dir + "/run/metrics.jsonl");
  ASSERT_EQ(rows.size(), 2u);
  for (const char* key : {"macro_f1", "micro_f1", "precision", "recall", "f1", "support",
                          "confusion", "improved", "best_epoch", "best_value"}) {
    EXPECT_TRUE(rows[1].contains(key)) << key;
  }
  EXPECT_EQ(rows[1]["macro_f1"].get<double>(), last.report.macro_f1);
  const auto report = read_json(dir + "/run/eval_report.json");
  EXPECT_EQ(report["epoch"], 2);
  EXPECT_EQ(report["samples"], 11);
  EXPECT_EQ(report["num_classes"], 3);
  EXPECT_EQ(report["zero_division"], 0);
  EXPECT_EQ(report["macro_f1"].get<double>(), last.report.macro_f1);
  std::vector<int64_t> flat;
  for (const auto& row : report["confusion"]) {
    for (const auto& v : row) flat.push_back(v.get<int64_t>());
  }
  EXPECT_EQ(flat, last.confusion);
  ASSERT_EQ(report["classes"].size(), 3u);
  EXPECT_EQ(report["classes"][1]["name"], "dog");
  EXPECT_EQ(report["classes"][2]["support"].get<int64_t>(), last.report.support[2]);
  EXPECT_FALSE(std::filesystem::exists(dir + "/run/best")) << "best/ without keep_best";
}

// Note [Model selection] needs evaluations that get worse in a known way: the test set holds
// the training rows with the labels of two classes swapped, so the better the model fits the
// training data, the higher its test loss and the lower its test accuracy: the first
// evaluation is the best one and every later one is worse (checked in each test).
struct FlippedData {
  std::string train, test;
};
FlippedData write_flipped(const std::string& dir, int64_t n) {
  FlippedData d{dir + "/train.h5", dir + "/test.h5"};
  write_on_rank0(d.train, [&] {
    torch::manual_seed(5);
    auto labels = torch::randint(0, 2, {n}, torch::kLong);
    auto x = torch::randn({n, 4}) + labels.to(torch::kFloat).unsqueeze(1) * 2.0;
    x = x.contiguous();
    data::write_dataset(d.train, feature_info(n, 4, 2), x.data_ptr<float>(),
                        labels.data_ptr<int64_t>());
    auto flipped = (1 - labels).contiguous();
    data::write_dataset(d.test, feature_info(n, 4, 2), x.data_ptr<float>(),
                        flipped.data_ptr<int64_t>());
  });
  return d;
}

train::Config selection_config(const FlippedData& d, const std::string& run) {
  auto cfg = small_config(d.train, run);
  cfg.data.test = d.test;
  cfg.model.mlp_hidden = "8";
  cfg.train.epochs = 4;
  cfg.optim.warmup_steps = 0;
  cfg.optim.schedule = train::LrSchedule::kConstant;
  return cfg;
}

// The precondition of the selection tests: evaluation 1 is strictly the best of `rows` on
// every metric, and each later one worse than the one before on the loss.
void expect_first_is_best(const std::vector<nlohmann::json>& rows) {
  ASSERT_GE(rows.size(), 2u);
  for (size_t i = 1; i < rows.size(); ++i) {
    ASSERT_GT(rows[i]["eval_loss"].get<double>(), rows[i - 1]["eval_loss"].get<double>())
        << "the test data no longer gets worse every epoch; the selection tests need it";
  }
}

// keep_best with eval_loss (lower is better): best/ holds epoch 1's model and best.json its
// loss; checkpoint.export = best makes model.pt (and every rank's model) that model, whose loss
// is epoch 1's; export = last keeps the last model. With eval_accuracy the same epoch wins.
TEST(ModelSelection, BestByLossIsKeptAndExportedAnyWorld) {
  auto& c = world();
  const std::string dir = job_dir("select-best");
  const auto d = write_flipped(dir, 8 * c.world_size());
  for (const auto exported : {train::ModelExport::kBest, train::ModelExport::kLast}) {
    const std::string run = dir + "/" + train::to_string(exported);
    auto cfg = selection_config(d, run);
    cfg.checkpoint.keep_best = true;
    cfg.checkpoint.export_model = exported;
    cfg.eval.metric = train::EvalMetric::kLoss;
    train::Trainer trainer(cfg, c);
    const auto epochs = trainer.run();
    ASSERT_EQ(epochs.size(), 4u);
    EXPECT_TRUE(epochs[0].improved);
    for (size_t i = 1; i < 4; ++i) EXPECT_FALSE(epochs[i].improved) << "epoch " << i + 1;
    // Every rank holds the exported model.
    EXPECT_TRUE(same_on_all_ranks(digest(*trainer.model())));
    const double exported_loss = trainer.evaluate().loss;
    const size_t expected = exported == train::ModelExport::kBest ? 0 : 3;
    EXPECT_EQ(exported_loss, epochs[expected].eval.loss) << train::to_string(exported);
    // model.pt on disk is that model: loaded by a fresh trainer through model.init.
    auto again = selection_config(d, run + "-check");
    again.model.init = run + "/model.pt";
    train::Trainer check(again, c);
    EXPECT_EQ(check.evaluate().loss, epochs[expected].eval.loss);
    if (c.rank() == 0) {
      const auto rows = eval_rows(run + "/metrics.jsonl");
      expect_first_is_best(rows);
      const auto best = read_json(run + "/best/best.json");
      EXPECT_EQ(best["metric"], "eval_loss");
      EXPECT_EQ(best["epoch"], 1);
      EXPECT_EQ(best["value"].get<double>(), rows[0]["eval_loss"].get<double>());
      EXPECT_EQ(rows[3]["best_epoch"], 1);
      EXPECT_FALSE(rows[3]["improved"].get<bool>());
      for (const auto& e : std::filesystem::directory_iterator(run + "/best")) {
        EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos)
            << "a temporary file is left: " << e.path();
      }
    }
  }
  // eval_accuracy: higher is better; the first epoch wins too (accuracy only falls here).
  auto cfg = selection_config(d, dir + "/accuracy");
  cfg.checkpoint.keep_best = true;
  train::Trainer trainer(cfg, c);
  const auto epochs = trainer.run();
  if (c.rank() == 0) {
    const auto best = read_json(dir + "/accuracy/best/best.json");
    size_t argmax = 0;
    for (size_t i = 1; i < epochs.size(); ++i) {
      if (epochs[i].eval.accuracy > epochs[argmax].eval.accuracy) argmax = i;
    }
    EXPECT_EQ(best["metric"], "eval_accuracy");
    EXPECT_EQ(best["epoch"].get<int64_t>(), static_cast<int64_t>(argmax) + 1);
  }
}

// train.early_stopping_patience = 2: epoch 1 is the best, epochs 2 and 3 are stale, so every
// rank stops after epoch 3 of 6, having taken the steps of 3 epochs, and model.pt is saved.
TEST(ModelSelection, EarlyStoppingStopsAtTheSameEpochOnEveryRankAnyWorld) {
  auto& c = world();
  const std::string dir = job_dir("early-stop");
  const auto d = write_flipped(dir, 8 * c.world_size());
  auto cfg = selection_config(d, dir + "/run");
  cfg.train.epochs = 6;
  cfg.train.early_stopping_patience = 2;
  cfg.eval.metric = train::EvalMetric::kLoss;
  train::Trainer trainer(cfg, c);
  const auto epochs = trainer.run();
  EXPECT_EQ(epochs.size(), 3u);
  EXPECT_TRUE(same_on_all_ranks(static_cast<int64_t>(epochs.size())));
  EXPECT_EQ(trainer.global_step(), 3 * trainer.steps_per_epoch());
  EXPECT_TRUE(same_on_all_ranks(trainer.global_step()));
  if (c.rank() == 0) {
    EXPECT_TRUE(std::filesystem::exists(dir + "/run/model.pt"));
    expect_first_is_best(eval_rows(dir + "/run/metrics.jsonl"));
  }
}

// Runs the selection job (eval_loss, patience 3, keep_best, export = best) uninterrupted in
// dir/a, and in dir/b with `checkpoints` applied, killed at the first step of epoch 3 and resumed:
// the resumed run must keep the best (epoch 1) and the stale count, so it stops after epoch 4
// like the uninterrupted run, with the same best.json and best model. A resume that lost them
// would take epoch 3 as its best and run on.
void expect_resume_keeps_the_best(const std::string& dir,
                                  const std::function<void(train::Config&, int64_t)>& checkpoints) {
  auto& c = world();
  const auto d = write_flipped(dir, 8 * c.world_size());
  auto cfg = selection_config(d, dir + "/a");
  cfg.train.epochs = 6;
  cfg.train.early_stopping_patience = 3;
  cfg.checkpoint.keep_best = true;
  cfg.checkpoint.export_model = train::ModelExport::kBest;
  cfg.eval.metric = train::EvalMetric::kLoss;
  train::Trainer a(cfg, c);
  const auto ea = a.run();
  ASSERT_EQ(ea.size(), 4u);
  const int64_t spe = a.steps_per_epoch();

  cfg.log.dir = dir + "/b";
  checkpoints(cfg, spe);
  const std::string at = "rank=*,at=step:" + std::to_string(2 * spe + 1);
  ::setenv("FROST_FAULT_INJECT", at.c_str(), 1);
  {
    train::Trainer b1(cfg, c);
    EXPECT_THROW(b1.run(), Error);
  }
  ::unsetenv("FROST_FAULT_INJECT");
  c.barrier();
  cfg.resume = "auto";
  train::Trainer b2(cfg, c);
  const auto eb = b2.run();
  ASSERT_EQ(eb.size(), 2u) << "the resumed run ran epochs 3.." << 2 + eb.size();
  EXPECT_EQ(b2.global_step(), a.global_step());
  EXPECT_EQ(eb.back().best_epoch, 1);
  EXPECT_EQ(digest(*b2.model()), digest(*a.model())) << "the exported best models differ";
  if (c.rank() == 0) {
    const auto ba = read_json(dir + "/a/best/best.json"), bb = read_json(dir + "/b/best/best.json");
    EXPECT_EQ(ba, bb);
    EXPECT_EQ(bb["epoch"], 1);
    expect_first_is_best(eval_rows(dir + "/a/metrics.jsonl"));
  }
}

// Resumed from the end-of-epoch checkpoint of epoch 2 (checkpoint.every_epoch).
TEST(ModelSelection, ResumeKeepsTheBestAndThePatienceAnyWorld) {
  expect_resume_keeps_the_best(job_dir("select-resume"),
                               [](train::Config& cfg, int64_t) { cfg.checkpoint.every_epoch = true; });
}

// A step checkpoint that falls on an epoch's last step is written after that epoch's
// evaluation, so it holds the evaluation's selection (best, patience) as well.
TEST(ModelSelection, StepCheckpointAtAnEpochEndHoldsItsEvaluationAnyWorld) {
  expect_resume_keeps_the_best(job_dir("select-step-ckpt"), [](train::Config& cfg, int64_t spe) {
    cfg.checkpoint.every_steps = spe;  // every checkpoint at an epoch's last step
  });
}

}  // namespace
}  // namespace frost::testing
