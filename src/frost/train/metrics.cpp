#include "frost/train/metrics.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "frost/comm/communicator.h"
#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "frost/train/device_stats.h"

namespace frost::train {
namespace {

// Global samples per second of a step: every rank trains on as many rows as this one.
double samples_per_s(const StepReport& r) {
  return static_cast<double>(r.world_size) * static_cast<double>(r.stats.rows) / r.step_s;
}

// One record per line, flushed; nothing on a rank whose log is not open.
void write(std::ofstream& out, const nlohmann::json& j) {
  if (!out.is_open()) return;
  out << j.dump() << "\n";
  out.flush();
}

// The confusion matrix as C rows of C counts.
nlohmann::json confusion_rows(const EvalResult& eval) {
  const int64_t n = eval.report.num_classes;
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t i = 0; i < n && !eval.confusion.empty(); ++i) {
    rows.push_back(std::vector<int64_t>(eval.confusion.begin() + i * n,
                                        eval.confusion.begin() + (i + 1) * n));
  }
  return rows;
}

// The metrics of the evaluation's task (Note [Task metrics] in evaluation.h): classification
// and multilabel eval_accuracy (multilabel: exact match), macro_f1, micro_f1 and per class or
// label precision, recall, f1, support (classification also the confusion matrix); regression
// mae, rmse, r2 and per target target_mae, target_rmse, target_r2. Besides, "task".
void add_task_metrics(nlohmann::json& record, const EvalResult& eval) {
  record["task"] = data::task_name(eval.task);
  if (eval.task == data::Task::kRegression) {
    record["mae"] = eval.mae;
    record["rmse"] = eval.rmse;
    record["r2"] = eval.r2;
    record["target_mae"] = eval.target_mae;
    record["target_rmse"] = eval.target_rmse;
    record["target_r2"] = eval.target_r2;
    return;
  }
  const ClassReport& rep = eval.report;
  record["eval_accuracy"] = eval.accuracy;
  record["macro_f1"] = rep.macro_f1;
  record["micro_f1"] = rep.micro_f1;
  record["precision"] = rep.precision;
  record["recall"] = rep.recall;
  record["f1"] = rep.f1;
  record["support"] = rep.support;
  if (eval.task == data::Task::kClassification) record["confusion"] = confusion_rows(eval);
}

// Note [CSV logs]: the columns of log.dir/train.csv, epoch.csv and eval.csv (keys of the
// records above and in metrics.h; docs/design.md lists them).
const std::vector<std::string> kTrainCsvColumns = {
    "step",          "epoch",       "strategy",     "loss",         "lr",           "samples",
    "samples_per_s", "comm_bytes",  "collectives",  "step_ms",      "data_wait_ms", "h2d_ms",
    "forward_ms",    "backward_ms", "comm_wait_ms", "allreduce_ms", "optimizer_ms", "timing",
    "skipped",       "loss_scale",  "overflow"};
const std::vector<std::string> kEpochCsvColumns = {"epoch",
                                                   "step",
                                                   "strategy",
                                                   "steps",
                                                   "train_loss",
                                                   "wall_s",
                                                   "samples_per_s",
                                                   "trainable_params",
                                                   "gpu_mem_peak_mib",
                                                   "gpu_mem_reserved_peak_mib"};
std::vector<std::string> eval_csv_columns(data::Task task) {
  std::vector<std::string> c = {"epoch", "step", "strategy", "task", "eval_loss", "eval_samples"};
  if (task == data::Task::kRegression) {
    c.insert(c.end(), {"mae", "rmse", "r2"});
  } else {
    c.insert(c.end(), {"eval_accuracy", "macro_f1", "micro_f1"});
  }
  c.insert(c.end(), {"improved", "best_epoch", "best_value"});
  return c;
}
const char* const kCsvFiles[] = {"train.csv", "epoch.csv", "eval.csv"};

// One CSV cell (RFC 4180): quoted when it holds a comma, a quote or a line break.
std::string csv_cell(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

std::string csv_row(const std::vector<std::string>& cells) {
  std::string row;
  for (size_t i = 0; i < cells.size(); ++i) row += (i ? "," : "") + csv_cell(cells[i]);
  return row + "\n";
}

}  // namespace

void CsvLog::open(const std::string& path, std::vector<std::string> columns, bool append) {
  columns_ = std::move(columns);
  const std::string header = csv_row(columns_);
  bool needs_header = true, needs_newline = false;
  if (append) {
    std::ifstream in(path, std::ios::binary);
    std::string first;
    if (in && std::getline(in, first)) {
      needs_header = false;
      FROST_CHECK(first + "\n" == header, path, " has the columns '", first,
                  "' but this run writes '", header.substr(0, header.size() - 1),
                  "' (another train.task or Frost version): move the file away to resume with "
                  "log.csv = true, or resume with log.csv = false");
      in.clear();
      in.seekg(-1, std::ios::end);
      char last = '\n';
      in.get(last);
      needs_newline = last != '\n';  // a row cut short by a kill stays one (bad) row
    }
  }
  out_.open(path, append ? std::ios::app : std::ios::trunc);
  FROST_CHECK(out_.good(), "cannot write ", path);
  if (needs_newline) out_ << "\n";
  if (needs_header) out_ << header;
  out_.flush();
  FROST_CHECK(out_.good(), "cannot write ", path);
}

void CsvLog::write(const nlohmann::json& record) {
  if (!out_.is_open()) return;
  std::vector<std::string> cells;
  cells.reserve(columns_.size());
  for (const auto& key : columns_) {
    const auto it = record.find(key);
    if (it == record.end() || it->is_null()) {
      cells.emplace_back();
    } else if (it->is_string()) {
      cells.push_back(it->get<std::string>());
    } else {
      cells.push_back(it->dump());  // numbers as metrics.jsonl has them; NaN/Inf dump as null
      if (cells.back() == "null") cells.back().clear();
    }
  }
  out_ << csv_row(cells);
  out_.flush();
}

void MetricsLog::open(const std::string& path, bool append) {
  out_.open(path, append ? std::ios::app : std::ios::trunc);
  FROST_CHECK(out_.good(), "cannot write ", path);
}

void MetricsLog::open_csv(const std::string& dir, bool append, bool enabled, data::Task task,
                          bool with_eval) {
  if (!enabled) {
    if (!append) {
      for (const char* name : kCsvFiles) fs::remove_tree(dir + "/" + name);
    }
    return;
  }
  train_csv_.open(dir + "/train.csv", kTrainCsvColumns, append);
  epoch_csv_.open(dir + "/epoch.csv", kEpochCsvColumns, append);
  if (with_eval) {
    eval_csv_.open(dir + "/eval.csv", eval_csv_columns(task), append);
  } else if (!append) {
    fs::remove_tree(dir + "/eval.csv");
  }
}

void MetricsLog::step(const StepReport& r) {
  if (r.stats.skipped) {
    const nlohmann::json record = {{"kind", "train"}, {"strategy", r.strategy}, {"epoch", r.epoch},
                                   {"step", r.step},  {"skipped", true},        {"loss", nullptr},
                                   {"lr", r.lr},      {"samples", 0},           {"comm_bytes", 0}};
    write(out_, record);
    train_csv_.write(record);
    return;
  }
  const auto& rs = r.stats.reduce;
  nlohmann::json record = {{"kind", "train"},
               {"strategy", r.strategy},
               {"epoch", r.epoch},
               {"step", r.step},
               {"loss", r.stats.loss},
               {"lr", r.lr},
               {"samples", r.stats.rows * r.world_size},
               {"samples_per_s", samples_per_s(r)},
               {"comm_bytes", rs.all_reduce_bytes},
               {"collectives", rs.collectives},
               {"step_ms", r.step_s * 1e3},
               {"data_wait_ms", r.data_s * 1e3},
               {"h2d_ms", r.h2d_s * 1e3},
               {"forward_ms", r.stats.forward_s * 1e3},
               {"backward_ms", r.stats.backward_s * 1e3},
               {"comm_wait_ms", r.stats.comm_wait_s * 1e3},
               {"allreduce_ms", rs.all_reduce_s * 1e3},
               {"optimizer_ms", r.stats.optimizer_s * 1e3},
               {"timing", r.stats.device_timed ? "cuda_events" : "host"}};
  if (r.stats.loss_scale > 0) {  // fp16 (Note [Mixed precision])
    record["loss_scale"] = r.stats.loss_scale;
    record["overflow"] = r.stats.overflow;
  }
  write(out_, record);
  train_csv_.write(record);
}

void MetricsLog::epoch(const char* strategy, const EpochSummary& sum, int64_t step) {
  nlohmann::json record = {{"kind", "epoch"},
                           {"strategy", strategy},
                           {"epoch", sum.epoch},
                           {"step", step},
                           {"steps", sum.steps},
                           {"train_loss", sum.train_loss},
                           {"wall_s", sum.wall_s},
                           {"samples_per_s", sum.samples_per_s}};
  if (sum.trainable_params >= 0) record["trainable_params"] = sum.trainable_params;
  if (sum.has_gpu_mem) {
    record["gpu_mem_peak_mib"] = sum.gpu_mem_peak_mib;
    record["gpu_mem_reserved_peak_mib"] = sum.gpu_mem_reserved_peak_mib;
  }
  write(out_, record);
  epoch_csv_.write(record);
  if (sum.eval.samples > 0) {
    nlohmann::json record = {{"kind", "eval"},
                             {"strategy", strategy},
                             {"epoch", sum.epoch},
                             {"step", step},
                             {"eval_loss", sum.eval.loss},
                             {"eval_samples", sum.eval.samples}};
    add_task_metrics(record, sum.eval);
    if (sum.tracked) {
      record["improved"] = sum.improved;
      record["best_epoch"] = sum.best_epoch;
      record["best_value"] = sum.best_value;
    }
    write(out_, record);
    eval_csv_.write(record);
  }
}

void write_eval_report(const std::string& path, const EvalResult& eval, int64_t epoch,
                       int64_t step, const std::vector<std::string>& class_names) {
  if (eval.task != data::Task::kClassification) {
    // Note [Task metrics]: the eval record's keys; multilabel adds a "labels" array as
    // "classes" below (no confusion matrix).
    nlohmann::json report = {{"epoch", epoch}, {"step", step}, {"samples", eval.samples},
                             {"loss", eval.loss}};
    add_task_metrics(report, eval);
    if (eval.task == data::Task::kMultilabel) {
      report["accuracy"] = eval.accuracy;
      report.erase("eval_accuracy");
      report["threshold"] = 0.5;
      report["num_labels"] = eval.report.num_classes;
      report["zero_division"] = 0;
      nlohmann::json labels = nlohmann::json::array();
      for (int64_t c = 0; c < eval.report.num_classes; ++c) {
        const auto i = static_cast<size_t>(c);
        labels.push_back({{"index", c},
                          {"name", i < class_names.size() ? nlohmann::json(class_names[i])
                                                          : nlohmann::json(nullptr)},
                          {"support", eval.report.support[i]},
                          {"predicted", eval.report.predicted[i]},
                          {"precision", eval.report.precision[i]},
                          {"recall", eval.report.recall[i]},
                          {"f1", eval.report.f1[i]}});
      }
      report["labels"] = labels;
    } else {
      report["num_targets"] = static_cast<int64_t>(eval.target_mae.size());
    }
    with_error_context("eval_report.json",
                       [&] { fs::write_file_atomic(path, report.dump(1) + "\n"); });
    return;
  }
  const ClassReport& rep = eval.report;
  nlohmann::json classes = nlohmann::json::array();
  for (int64_t c = 0; c < rep.num_classes; ++c) {
    const auto i = static_cast<size_t>(c);
    classes.push_back({{"index", c},
                       {"name", i < class_names.size() ? nlohmann::json(class_names[i])
                                                       : nlohmann::json(nullptr)},
                       {"support", rep.support[i]},
                       {"predicted", rep.predicted[i]},
                       {"precision", rep.precision[i]},
                       {"recall", rep.recall[i]},
                       {"f1", rep.f1[i]}});
  }
  const nlohmann::json report = {{"epoch", epoch},
                                 {"step", step},
                                 {"samples", eval.samples},
                                 {"accuracy", eval.accuracy},
                                 {"loss", eval.loss},
                                 {"macro_f1", rep.macro_f1},
                                 {"micro_f1", rep.micro_f1},
                                 {"num_classes", rep.num_classes},
                                 {"zero_division", 0},
                                 {"confusion_axes", "rows = true class, columns = predicted class"},
                                 {"confusion", confusion_rows(eval)},
                                 {"classes", classes}};
  with_error_context("eval_report.json", [&] { fs::write_file_atomic(path, report.dump(1) + "\n"); });
}

void MetricsLog::buckets(int64_t step, distributed::ReduceStats stats) {
  if (!out_.is_open()) return;
  distributed::resolve_timeline(stats);
  if (std::isnan(stats.timeline_backward_s)) return;  // no timeline recorded
  nlohmann::json bytes = nlohmann::json::array(), ready = nlohmann::json::array(),
                 allreduce = nlohmann::json::array();
  for (const auto& b : stats.buckets) {
    bytes.push_back(b.bytes);
    ready.push_back(b.ready_s * 1e3);
    if (std::isnan(b.allreduce_s)) {
      allreduce.push_back(nullptr);
    } else {
      allreduce.push_back(b.allreduce_s * 1e3);
    }
  }
  write(out_, {{"kind", "buckets"},
               {"step", step},
               {"backward_ms", stats.timeline_backward_s * 1e3},
               {"bytes", bytes},
               {"ready_ms", ready},
               {"allreduce_ms", allreduce}});
}

void MetricsLog::feature_cache(const char* mode, int64_t rows, int64_t dim, double extraction_s) {
  write(out_, {{"kind", "feature_cache"},
               {"mode", mode},
               {"rows", rows},
               {"dim", dim},
               {"extraction_s", extraction_s}});
}

void EpochMeter::add(const StepStats& stats) {
  const double n = static_cast<double>(stats.rows);
  loss_sum_ += stats.loss * n;
  samples_ += n;
  comm_bytes_ += stats.reduce.all_reduce_bytes;
}

EpochSummary EpochMeter::summary(int64_t epoch, int64_t steps, double wall_s,
                                 comm::Communicator& comm) const {
  EpochSummary sum;
  sum.epoch = epoch;
  sum.steps = steps;
  sum.wall_s = wall_s;
  auto totals = torch::tensor({loss_sum_, samples_}, torch::kDouble);
  comm.all_reduce(totals, comm::ReduceOp::kSum);
  sum.train_loss = totals[0].item<double>() / std::max(1.0, totals[1].item<double>());
  sum.samples_per_s = totals[1].item<double>() / sum.wall_s;
  sum.comm_mb_per_step = steps > 0 ? comm_bytes_ / 1e6 / steps : 0.0;
  return sum;
}

ProgressMeter::ProgressMeter(int64_t every, int64_t total_steps, int64_t steps_per_epoch,
                             bool evaluates)
    : every_(every),
      total_steps_(total_steps),
      steps_per_epoch_(steps_per_epoch),
      evaluates_(evaluates),
      smoothed_s_(std::numeric_limits<double>::quiet_NaN()) {
  FROST_ASSERT(every >= 1 && total_steps >= 1 && steps_per_epoch >= 1, "ProgressMeter(every ",
               every, ", total_steps ", total_steps, ", steps_per_epoch ", steps_per_epoch, ")");
}

bool ProgressMeter::logged(const StepReport& r) const {
  return r.step_in_epoch % every_ == 0 || r.step_in_epoch == r.epoch_steps;
}

void ProgressMeter::step(const StepReport& r) {
  if (!r.stats.skipped) {
    window_s_ += r.step_s;
    ++window_steps_;
  }
  if (!logged(r)) return;
  if (window_steps_ > 0) {  // Note [Progress ETA]
    const double mean_s = window_s_ / static_cast<double>(window_steps_);
    smoothed_s_ = std::isnan(smoothed_s_)
                      ? mean_s
                      : kEtaSmoothing * mean_s + (1.0 - kEtaSmoothing) * smoothed_s_;
    window_s_ = 0.0;
    window_steps_ = 0;
  }
  spdlog::info("{}", line(r));
}

double ProgressMeter::run_fraction(const StepReport& r) const {
  return std::clamp(static_cast<double>(r.step) / static_cast<double>(total_steps_), 0.0, 1.0);
}

double ProgressMeter::epoch_eta_s(const StepReport& r) const {
  return static_cast<double>(std::max<int64_t>(r.epoch_steps - r.step_in_epoch, 0)) * smoothed_s_;
}

double ProgressMeter::run_eta_s(const StepReport& r) const {
  const int64_t steps_left = std::max<int64_t>(total_steps_ - r.step, 0);
  int64_t evals_left = 0;
  if (evaluates_) {  // this epoch's, and one per later epoch that has steps left
    const int64_t after_epoch =
        std::max<int64_t>(steps_left - std::max<int64_t>(r.epoch_steps - r.step_in_epoch, 0), 0);
    evals_left = 1 + (after_epoch + steps_per_epoch_ - 1) / steps_per_epoch_;
  }
  return static_cast<double>(steps_left) * smoothed_s_ + static_cast<double>(evals_left) * eval_s_;
}

std::string ProgressMeter::line(const StepReport& r) const {
  return fmt::format(
      "epoch {} | step {}/{} | loss {:.4f} | lr {:.5f} | {:.0f} samples/s | comm {:.3f} MB | "
      "{:.1f} ms | run {:.1f}%, ETA {} (epoch {})",
      r.epoch, r.step_in_epoch, r.epoch_steps, r.stats.loss, r.lr, samples_per_s(r),
      r.stats.reduce.all_reduce_bytes / 1e6, r.step_s * 1e3, 100.0 * run_fraction(r),
      format_duration(run_eta_s(r)), format_duration(epoch_eta_s(r)));
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "n/a";
  const auto total = static_cast<int64_t>(std::llround(seconds));
  return fmt::format("{}:{:02d}:{:02d}", total / 3600, (total / 60) % 60, total % 60);
}

void log_skipped_step(const StepReport& r) {
  spdlog::warn(
      "step {} (epoch {}): non-finite loss on {} rank(s); the step is skipped on every rank "
      "(train.nonfinite_loss = skip)",
      r.step, r.epoch, r.stats.nonfinite_ranks);
}

std::string eval_line(const EvalResult& eval) {
  if (eval.samples == 0) return "test accuracy n/a (no data.test)";
  if (eval.task == data::Task::kMultilabel)
    return fmt::format(
        "test exact match {:.4f} ({} samples) | test loss {:.4f} | micro F1 {:.4f} | macro F1 "
        "{:.4f}",
        eval.accuracy, eval.samples, eval.loss, eval.report.micro_f1, eval.report.macro_f1);
  if (eval.task == data::Task::kRegression)
    return fmt::format("test MSE {:.6g} ({} samples) | MAE {:.6g} | RMSE {:.6g} | R2 {:.4f}",
                       eval.loss, eval.samples, eval.mae, eval.rmse, eval.r2);
  return fmt::format("test accuracy {:.4f} ({} samples) | test loss {:.4f} | macro F1 {:.4f}",
                     eval.accuracy, eval.samples, eval.loss, eval.report.macro_f1);
}

void log_epoch(const EpochSummary& sum) {
  spdlog::info(
      "epoch {} done: train loss {:.4f} | {} | {:.0f} samples/s | {:.4f} MB/step | {}{:.1f} s",
      sum.epoch, sum.train_loss, eval_line(sum.eval), sum.samples_per_s, sum.comm_mb_per_step,
      sum.has_gpu_mem ? fmt::format("peak GPU memory {:.0f} MiB | ", sum.gpu_mem_peak_mib)
                      : std::string(),
      sum.wall_s);
}

void PendingSteps::add(StepReport report) {
  FROST_ASSERT(report.stats.loss_t.defined(), "step ", report.step, " has no loss tensor");
  reports_.push_back(std::move(report));
}

void PendingSteps::read(const std::function<void(StepReport&)>& each) {
  if (reports_.empty()) return;
  std::vector<at::Tensor> losses;
  losses.reserve(reports_.size());
  for (const auto& r : reports_) losses.push_back(r.stats.loss_t.reshape({}).to(torch::kDouble));
  // One device-to-host copy for the whole window (losses may sit on different devices only in
  // tests; the stack then fails loudly).
  const at::Tensor values = torch::stack(losses).cpu();
  const double* v = values.data_ptr<double>();
  std::vector<StepReport> reports = std::move(reports_);
  reports_.clear();
  for (size_t k = 0; k < reports.size(); ++k) {
    StepReport& r = reports[k];
    r.stats.loss = v[k];
    // Note [Step timing on a GPU]: the copy above ran after every event of these steps.
    if (const auto ev = std::move(r.stats.events)) {
      r.stats.forward_s = ev->forward.elapsed_s();
      r.stats.backward_s = ev->backward.elapsed_s();
      r.stats.comm_wait_s = ev->comm_wait.elapsed_s();
      r.stats.optimizer_s = ev->optimizer.elapsed_s();
    }
    if (const auto h2d = std::move(r.h2d_timer)) r.h2d_s = h2d->elapsed_s();
    FROST_CHECK(r.stats.skipped || nonfinite_ != NonfiniteLoss::kStop || std::isfinite(v[k]),
                "loss is ", v[k], " at step ", r.step, " (epoch ", r.epoch,
                "): lower optim.lr or check the data for NaN/Inf (or set train.nonfinite_loss = "
                "skip)");
    each(r);
  }
}

}  // namespace frost::train
