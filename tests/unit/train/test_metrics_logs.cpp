// What people watch (metrics.h): the progress line's percent and ETA (Note [Progress ETA]) on
// hand-computed step times, and the CSV files of log.csv (Note [CSV logs]) against the
// metrics.jsonl records they are cut from, on a fresh start and a resume.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "frost/train/metrics.h"
#include "test_util.h"

namespace frost::train {
namespace {

// Step `step` (global) = step `i` of an epoch of `n` steps, which took `step_s` seconds.
StepReport report(int64_t step, int64_t i, int64_t n, double step_s, int64_t epoch = 1) {
  StepReport r;
  r.strategy = "full";
  r.epoch = epoch;
  r.step = step;
  r.step_in_epoch = i;
  r.epoch_steps = n;
  r.step_s = step_s;
  r.lr = 0.05;
  r.world_size = 2;
  r.stats.rows = 4;
  r.stats.loss = 0.6931;
  return r;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

std::vector<std::string> split_csv(const std::string& row) {  // no quoted cells here
  std::vector<std::string> cells;
  std::stringstream ss(row);
  for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
  if (!row.empty() && row.back() == ',') cells.emplace_back();
  return cells;
}

TEST(ProgressEta, DurationsForPeople) {
  EXPECT_EQ(format_duration(0), "0:00:00");
  EXPECT_EQ(format_duration(59.4), "0:00:59");
  EXPECT_EQ(format_duration(59.6), "0:01:00");
  EXPECT_EQ(format_duration(3599), "0:59:59");
  EXPECT_EQ(format_duration(27 * 3600 + 3 * 60 + 9), "27:03:09");  // hours are not capped
  EXPECT_EQ(format_duration(std::numeric_limits<double>::quiet_NaN()), "n/a");
  EXPECT_EQ(format_duration(std::numeric_limits<double>::infinity()), "n/a");
  EXPECT_EQ(format_duration(-1), "n/a");
}

TEST(ProgressEta, LoggedEveryStepsAndAtTheEpochsLastStep) {
  const ProgressMeter p(/*every=*/2, /*total_steps=*/10, /*steps_per_epoch=*/5, false);
  std::vector<int64_t> logged;
  for (int64_t i = 1; i <= 5; ++i) {
    if (p.logged(report(i, i, 5, 0.1))) logged.push_back(i);
  }
  EXPECT_EQ(logged, (std::vector<int64_t>{2, 4, 5}));
}

// every 2, epochs of 10 steps, 25 steps in all (train.max_steps cuts the third epoch to 5),
// with evaluation. Windows: steps 1-2 (0.1 s, 0.3 s) -> S = 0.2; steps 3-4 (0.5 s each) ->
// S = 0.3 x 0.5 + 0.7 x 0.2 = 0.29.
TEST(ProgressEta, SmoothedStepTimeAndEstimatesHandComputed) {
  ProgressMeter p(/*every=*/2, /*total_steps=*/25, /*steps_per_epoch=*/10, /*evaluates=*/true);
  EXPECT_TRUE(std::isnan(p.step_s()));
  p.step(report(1, 1, 10, 0.1));
  EXPECT_TRUE(std::isnan(p.step_s())) << "no progress line yet, nothing folded in";
  p.step(report(2, 2, 10, 0.3));
  EXPECT_DOUBLE_EQ(p.step_s(), 0.2);
  p.step(report(3, 3, 10, 0.5));
  const StepReport r4 = report(4, 4, 10, 0.5);
  p.step(r4);
  EXPECT_NEAR(p.step_s(), 0.29, 1e-12);
  EXPECT_DOUBLE_EQ(p.run_fraction(r4), 4.0 / 25);
  EXPECT_NEAR(p.epoch_eta_s(r4), 6 * 0.29, 1e-12);  // 6 steps left in the epoch
  // No evaluation measured yet: the 21 steps left alone.
  EXPECT_NEAR(p.run_eta_s(r4), 21 * 0.29, 1e-12);
  // An evaluation took 2 s: this epoch's, the second's and the cut third's are ahead (the 15
  // steps after this epoch span ceil(15 / 10) = 2 epochs).
  p.evaluated(2.0);
  EXPECT_NEAR(p.run_eta_s(r4), 21 * 0.29 + 3 * 2.0, 1e-12);
  // At the epoch's last step its evaluation is still ahead.
  const StepReport r10 = report(10, 10, 10, 0.29);
  EXPECT_DOUBLE_EQ(p.epoch_eta_s(r10), 0.0);
  EXPECT_NEAR(p.run_eta_s(r10), 15 * 0.29 + 3 * 2.0, 1e-12);
  // The last step: nothing but the last evaluation left.
  const StepReport r25 = report(25, 5, 5, 0.29, 3);
  EXPECT_DOUBLE_EQ(p.run_fraction(r25), 1.0);
  EXPECT_DOUBLE_EQ(p.run_eta_s(r25), 2.0);
}

TEST(ProgressEta, WithoutEvaluationTheStepsAlone) {
  ProgressMeter p(/*every=*/1, /*total_steps=*/30, /*steps_per_epoch=*/10, /*evaluates=*/false);
  p.step(report(1, 1, 10, 0.5));
  p.evaluated(100.0);  // not counted: the run evaluates nothing
  EXPECT_DOUBLE_EQ(p.run_eta_s(report(1, 1, 10, 0.5)), 29 * 0.5);
}

// Skipped steps (train.nonfinite_loss = skip) take no time of their own in the estimate.
TEST(ProgressEta, SkippedStepsAreNotTimed) {
  ProgressMeter p(/*every=*/3, /*total_steps=*/9, /*steps_per_epoch=*/9, false);
  p.step(report(1, 1, 9, 0.4));
  StepReport skipped = report(2, 2, 9, 0.0);
  skipped.stats.skipped = true;
  p.step(skipped);
  p.step(report(3, 3, 9, 0.6));
  EXPECT_DOUBLE_EQ(p.step_s(), 0.5);
}

// A resumed run: the percent is of the whole run, from the checkpoint's step on.
TEST(ProgressEta, ResumedRunCountsFromItsGlobalStep) {
  ProgressMeter p(/*every=*/1, /*total_steps=*/40, /*steps_per_epoch=*/20, false);
  const StepReport r = report(31, 11, 20, 1.0, 2);  // epoch 2, step 11 of 20, global 31
  p.step(r);
  EXPECT_DOUBLE_EQ(p.run_fraction(r), 31.0 / 40);
  EXPECT_DOUBLE_EQ(p.epoch_eta_s(r), 9.0);
  EXPECT_DOUBLE_EQ(p.run_eta_s(r), 9.0);
}

TEST(ProgressEta, TheLine) {
  ProgressMeter p(/*every=*/1, /*total_steps=*/200, /*steps_per_epoch=*/100, true);
  const StepReport r = report(32, 32, 100, 0.0125);
  p.step(r);
  p.evaluated(4.0);
  // 2 x 4 / 0.0125 = 640 samples/s; 168 x 0.0125 + 2 x 4 = 10.1 s; 68 x 0.0125 = 0.85 s.
  EXPECT_EQ(p.line(r),
            "epoch 1 | step 32/100 | loss 0.6931 | lr 0.05000 | 640 samples/s | comm 0.000 MB | "
            "12.5 ms | run 16.0%, ETA 0:00:10 (epoch 0:00:01)");
  const ProgressMeter fresh(1, 200, 100, true);
  EXPECT_NE(fresh.line(r).find("run 16.0%, ETA n/a (epoch n/a)"), std::string::npos)
      << fresh.line(r);
}

// ---------------------------------------------------------------------------- log.csv

StepReport taken_step(int64_t step, double loss) {
  StepReport r = report(step, step, 4, 0.012345);
  r.stats.loss = loss;
  r.stats.loss_t = torch::scalar_tensor(loss, torch::kDouble);
  r.data_s = 0.001;
  r.stats.forward_s = 0.0031;
  return r;
}

EpochSummary classification_epoch() {
  EpochSummary s;
  s.epoch = 1;
  s.steps = 4;
  s.train_loss = 0.5;
  s.wall_s = 1.25;
  s.samples_per_s = 1.0 / 3;
  s.trainable_params = 99;
  s.eval.samples = 30;
  s.eval.accuracy = 0.7;
  s.eval.loss = 0.61;
  s.eval.confusion = {1, 0, 0, 1};
  s.eval.report = classification_report(s.eval.confusion, 2);
  s.tracked = true;
  s.improved = true;
  s.best_epoch = 1;
  s.best_value = 0.7;
  return s;
}

// Every CSV row holds, column by column, the JSON text of the same key in the metrics.jsonl
// record written with it (empty where the record has none).
void expect_rows_match_records(const std::string& csv, const std::string& jsonl,
                               const std::string& kind) {
  const auto rows = lines_of(csv);
  std::vector<nlohmann::json> records;
  for (const auto& l : lines_of(jsonl)) {
    auto j = nlohmann::json::parse(l);
    if (j["kind"] == kind) records.push_back(j);
  }
  ASSERT_EQ(rows.size(), records.size() + 1) << csv;
  const auto header = split_csv(rows[0]);
  for (size_t k = 0; k < records.size(); ++k) {
    const auto cells = split_csv(rows[k + 1]);
    ASSERT_EQ(cells.size(), header.size()) << rows[k + 1];
    for (size_t c = 0; c < header.size(); ++c) {
      const auto it = records[k].find(header[c]);
      const std::string expected = it == records[k].end() || it->is_null() ? ""
                                   : it->is_string()                       ? it->get<std::string>()
                                                                           : it->dump();
      EXPECT_EQ(cells[c], expected) << csv << " row " << k + 1 << " column " << header[c];
    }
  }
}

TEST(CsvLogs, RowsAreTheRecordsScalars) {
  const std::string dir = frost::testing::test_dir();
  {
    MetricsLog log;
    log.open(dir + "/metrics.jsonl", false);
    log.open_csv(dir, false, /*enabled=*/true, data::Task::kClassification, /*with_eval=*/true);
    log.step(taken_step(1, 1.0986122886681098));
    StepReport skipped = report(2, 2, 4, 0.0);
    skipped.stats.skipped = true;
    log.step(skipped);
    log.epoch("full", classification_epoch(), 2);
  }
  const auto train = lines_of(dir + "/train.csv");
  ASSERT_EQ(train.size(), 3u);
  EXPECT_EQ(train[0],
            "step,epoch,strategy,loss,lr,samples,samples_per_s,comm_bytes,collectives,step_ms,"
            "data_wait_ms,h2d_ms,forward_ms,backward_ms,comm_wait_ms,allreduce_ms,optimizer_ms,"
            "timing,skipped,loss_scale,overflow");
  EXPECT_EQ(train[1].substr(0, train[1].find(",0.05,")), "1,1,full,1.0986122886681098");
  EXPECT_EQ(train[2], "2,1,full,,0.05,0,,0,,,,,,,,,,,true,,");  // skipped: loss null
  expect_rows_match_records(dir + "/train.csv", dir + "/metrics.jsonl", "train");
  expect_rows_match_records(dir + "/epoch.csv", dir + "/metrics.jsonl", "epoch");
  expect_rows_match_records(dir + "/eval.csv", dir + "/metrics.jsonl", "eval");
  EXPECT_EQ(lines_of(dir + "/eval.csv")[0],
            "epoch,step,strategy,task,eval_loss,eval_samples,eval_accuracy,macro_f1,micro_f1,"
            "improved,best_epoch,best_value");
  EXPECT_EQ(lines_of(dir + "/eval.csv")[1],
            "1,2,full,classification,0.61,30,0.7,1.0,1.0,true,1,0.7");
  EXPECT_EQ(lines_of(dir + "/epoch.csv")[1], "1,2,full,4,0.5,1.25,0.3333333333333333,99,,");
}

TEST(CsvLogs, RegressionEvalColumns) {
  const std::string dir = frost::testing::test_dir();
  {
    MetricsLog log;
    log.open_csv(dir, false, true, data::Task::kRegression, true);
    EpochSummary s;
    s.epoch = 2;
    s.eval.task = data::Task::kRegression;
    s.eval.samples = 8;
    s.eval.loss = 0.25;
    s.eval.mae = 0.4;
    s.eval.rmse = 0.5;
    s.eval.r2 = -0.125;
    log.epoch("head", s, 10);
  }
  EXPECT_EQ(lines_of(dir + "/eval.csv"),
            (std::vector<std::string>{"epoch,step,strategy,task,eval_loss,eval_samples,mae,rmse,"
                                      "r2,improved,best_epoch,best_value",
                                      "2,10,head,regression,0.25,8,0.4,0.5,-0.125,,,"}));
}

// Without data.test there is no eval.csv; without log.csv no CSV at all, and a fresh run
// removes those an earlier run left (they would contradict the new metrics.jsonl).
TEST(CsvLogs, OnlyTheFilesAskedFor) {
  const std::string dir = frost::testing::test_dir();
  MetricsLog().open_csv(dir, false, true, data::Task::kClassification, /*with_eval=*/false);
  EXPECT_TRUE(fs::exists(dir + "/train.csv"));
  EXPECT_TRUE(fs::exists(dir + "/epoch.csv"));
  EXPECT_FALSE(fs::exists(dir + "/eval.csv"));
  frost::testing::write_file(dir + "/eval.csv", "old\n");
  // A resume without log.csv keeps what is there.
  MetricsLog().open_csv(dir, /*append=*/true, /*enabled=*/false, data::Task::kClassification, true);
  EXPECT_TRUE(fs::exists(dir + "/train.csv"));
  EXPECT_TRUE(fs::exists(dir + "/eval.csv"));
  MetricsLog().open_csv(dir, /*append=*/false, /*enabled=*/false, data::Task::kClassification,
                        true);
  EXPECT_FALSE(fs::exists(dir + "/train.csv"));
  EXPECT_FALSE(fs::exists(dir + "/epoch.csv"));
  EXPECT_FALSE(fs::exists(dir + "/eval.csv"));
}

// A resume appends as metrics.jsonl does: one header, the rows of both runs in order; a fresh
// start truncates.
TEST(CsvLogs, ResumeAppendsWithoutASecondHeader) {
  const std::string dir = frost::testing::test_dir();
  for (const bool append : {false, true}) {
    MetricsLog log;
    log.open(dir + "/metrics.jsonl", append);
    log.open_csv(dir, append, true, data::Task::kClassification, true);
    log.step(taken_step(append ? 2 : 1, append ? 0.5 : 0.75));
    log.epoch("full", classification_epoch(), 2);
  }
  const auto train = lines_of(dir + "/train.csv");
  ASSERT_EQ(train.size(), 3u);
  EXPECT_EQ(train[1].substr(0, 2), "1,");
  EXPECT_EQ(train[2].substr(0, 2), "2,");
  EXPECT_EQ(lines_of(dir + "/eval.csv").size(), 3u);
  expect_rows_match_records(dir + "/train.csv", dir + "/metrics.jsonl", "train");
  expect_rows_match_records(dir + "/eval.csv", dir + "/metrics.jsonl", "eval");
  {
    MetricsLog log;
    log.open_csv(dir, /*append=*/false, true, data::Task::kClassification, true);
  }
  EXPECT_EQ(lines_of(dir + "/train.csv").size(), 1u) << "a fresh run keeps no old rows";
}

// A row cut short by a kill stays one row: the resumed run's rows start on a line of their own.
TEST(CsvLogs, ResumeAfterARowCutShort) {
  const std::string dir = frost::testing::test_dir();
  {
    MetricsLog log;
    log.open_csv(dir, false, true, data::Task::kClassification, false);
    log.step(taken_step(1, 0.75));
  }
  std::ofstream(dir + "/train.csv", std::ios::app) << "2,1,fu";
  {
    MetricsLog log;
    log.open_csv(dir, true, true, data::Task::kClassification, false);
    log.step(taken_step(2, 0.5));
  }
  const auto train = lines_of(dir + "/train.csv");
  ASSERT_EQ(train.size(), 4u);
  EXPECT_EQ(train[2], "2,1,fu");
  EXPECT_EQ(train[3].substr(0, 9), "2,1,full,");
}

// A CSV of other columns (a run of another task in this log.dir) is refused, not mixed.
TEST(CsvLogs, ResumeRefusesOtherColumns) {
  const std::string dir = frost::testing::test_dir();
  MetricsLog().open_csv(dir, false, true, data::Task::kRegression, true);
  frost::testing::expect_error(
      [&] { MetricsLog().open_csv(dir, true, true, data::Task::kClassification, true); },
      {dir + "/eval.csv has the columns 'epoch,step,strategy,task,eval_loss,eval_samples,mae,",
       "but this run writes 'epoch,step,strategy,task,eval_loss,eval_samples,eval_accuracy,",
       "move the file away"});
}

TEST(CsvLogs, CellsQuotedOnlyWhenNeeded) {
  const std::string dir = frost::testing::test_dir();
  {
    CsvLog csv;
    csv.open(dir + "/x.csv", {"a", "b", "c", "d"}, false);
    csv.write({{"a", "x,y"}, {"b", "say \"hi\""}, {"c", std::nan("")}, {"d", false}});
  }
  EXPECT_EQ(lines_of(dir + "/x.csv"),
            (std::vector<std::string>{"a,b,c,d", "\"x,y\",\"say \"\"hi\"\"\",,false"}));
}

}  // namespace
}  // namespace frost::train
