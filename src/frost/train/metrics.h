// What a run reports: metrics.jsonl (one JSON object per line, kinds below) and the progress
// lines on the log, each defined once here.
//
//   kind           when                        keys (besides kind)
//   feature_cache  after extraction            mode, rows, dim, extraction_s
//   train          every optimizer step        strategy, epoch, step, loss, lr, samples,
//                                              samples_per_s, comm_bytes, collectives, step_ms,
//                                              data_wait_ms, h2d_ms, forward_ms, backward_ms,
//                                              comm_wait_ms, allreduce_ms, optimizer_ms, timing;
//                                              fp16 only: loss_scale, overflow
//                  a skipped step              strategy, epoch, step, skipped (true), loss
//                                              (null), lr, samples (0), comm_bytes (0)
//   buckets        every taken step, right     step, backward_ms; arrays over the gradient
//                  after its train record,     buckets in launch order: bytes, ready_ms,
//                  with log.bucket_timeline    allreduce_ms (null where unknown) (Note
//                                              [Bucket timeline] in grad_reducer.h)
//   epoch          after every epoch           strategy, epoch, step, steps, train_loss, wall_s,
//                                              samples_per_s, trainable_params; on a GPU also
//                                              gpu_mem_peak_mib, gpu_mem_reserved_peak_mib
//   eval           after every epoch with      strategy, epoch, step, eval_accuracy, eval_loss,
//                  data.test                   eval_samples, macro_f1, micro_f1; arrays over the
//                                              head's classes: precision, recall, f1, support;
//                                              confusion ([C][C], rows = true class, columns =
//                                              predicted); improved (this evaluation is the new
//                                              best of eval.metric), best_epoch, best_value
//                                              (Note [Model selection] in checkpoint.h);
//                                              task. The keys above are classification's;
//                                              multilabel has the same but no confusion
//                                              (eval_accuracy = exact match, arrays per label);
//                                              regression has eval_loss (MSE), eval_samples,
//                                              mae, rmse, r2 and per target target_mae,
//                                              target_rmse, target_r2 (Note [Task metrics] in
//                                              evaluation.h)
//
// strategy is train.strategy ("full", "head", "partial"), for lp-ft with its phase in that
// epoch: "lp-ft:head" or "lp-ft:full" (Strategy::phase); the eval record carries the same text.
// trainable_params: the elements of the parameters that trained in the epoch (the head's alone
// under head).
// Besides, with data.test, every evaluation writes log.dir/eval_report.json (rank 0, atomically;
// write_eval_report below): the latest evaluation's full report. The F1 definitions, including
// classes without support or predictions (scikit-learn's zero_division=0): Note
// [Classification report] in evaluation.h.
// epoch is 1-based, step is the global optimizer step (after it was taken); samples are global
// (every rank's rows); times of a step are rank 0's. On a GPU, the train records and progress
// lines of the steps since the last read are written when the Trainer reads their losses
// (PendingSteps; Note [One synchronisation per logged step] in step.h), and their step_ms and
// samples_per_s are the window's average; on the CPU every step is written as it ends.
// timing says where forward_ms, backward_ms, comm_wait_ms, optimizer_ms and h2d_ms come from:
// "host" (the CPU: host clocks, h2d_ms 0) or "cuda_events" (a GPU: the device's times from timing
// events, h2d_ms the batch's copy to the device; Note [Step timing on a GPU] in device_stats.h);
// data_wait_ms and step_ms are host clocks everywhere. gpu_mem_peak_mib and
// gpu_mem_reserved_peak_mib: rank 0's peak bytes allocated and reserved by LibTorch's CUDA
// caching allocator during the epoch's training steps, in MiB (reset at the epoch's start;
// evaluation excluded); absent on the CPU. Keys are written in alphabetical order.
// Only global rank 0 writes (invariant 7) and logs the lines; docs/design.md describes them for
// users and bench/ reads them.
// With log.csv, rank 0 also writes the train, epoch and eval records' scalars as CSV files in
// log.dir (MetricsLog::open_csv; Note [CSV logs]); launch/frost-log and launch/frost-plot read
// metrics.jsonl (docs/monitoring.md).
#pragma once

#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "frost/train/evaluation.h"
#include "frost/train/step.h"

namespace frost::comm {
class Communicator;
}

namespace frost::train {

class DeviceTimer;

struct EpochSummary {
  int64_t epoch = 0;  ///< 1-based
  int64_t steps = 0;
  double train_loss = 0.0;        ///< mean over all ranks' samples of the epoch
  double samples_per_s = 0.0;     ///< global samples / training wall time of the epoch
  double comm_mb_per_step = 0.0;  ///< MB (1e6 bytes) all-reduced per step by one rank
  double wall_s = 0.0;            ///< training wall time of the epoch (no eval)
  /// CUDA device: this rank's allocator peaks over the epoch's training steps (DeviceMemoryPeak
  /// in device_stats.h), in MiB; has_gpu_mem false on the CPU.
  bool has_gpu_mem = false;
  double gpu_mem_peak_mib = 0.0, gpu_mem_reserved_peak_mib = 0.0;
  EvalResult eval;                ///< samples == 0 when data.test is empty
  /// Elements of the parameters that trained in the epoch; -1 = unknown (not written).
  int64_t trainable_params = -1;
  /// Model selection after this evaluation (with data.test; `tracked` false without): whether
  /// it improved eval.metric, and the best so far (Note [Model selection] in checkpoint.h).
  bool tracked = false, improved = false;
  int64_t best_epoch = 0;
  double best_value = 0.0;
};

/// One optimizer step as reported.
struct StepReport {
  const char* strategy = "";  ///< train.strategy, with lp-ft's phase (Strategy::phase)
  int64_t epoch = 0;          ///< 1-based
  int64_t step = 0;           ///< global optimizer step, 1-based
  int64_t step_in_epoch = 0;  ///< 1-based, counted from the first step this run took in the epoch
  int64_t epoch_steps = 0;    ///< steps this run takes in the epoch
  double lr = 0.0;
  int world_size = 1;
  double data_s = 0.0;  ///< waiting for the batch
  double step_s = 0.0;  ///< the whole step: batch and train_step (not a checkpoint after it)
  /// CUDA device: the batch's copy to the device (Batch::copy_timer), resolved into h2d_s and
  /// released by PendingSteps::read; null on the CPU (h2d_s 0).
  std::shared_ptr<DeviceTimer> h2d_timer;
  double h2d_s = 0.0;
  StepStats stats;      ///< train_step's statistics on this rank
};

// Note [CSV logs]
// log.csv = true writes, besides metrics.jsonl, the scalars of its train, epoch and eval records
// as CSV (RFC 4180: comma-separated, a header row, "\n" line ends, a cell quoted only when it
// holds a comma, quote or line break): log.dir/train.csv, epoch.csv and, with data.test,
// eval.csv. Each row is cut from the JSON record itself (CsvLog::write), so a cell is the
// record's value as metrics.jsonl has it (the same digits: shortest round-trip form), and empty
// where the record lacks the key or holds null (a skipped step's loss; loss_scale off fp16). The
// columns are fixed per file (kTrainCsvColumns etc. in metrics.cpp; eval.csv's depend on
// train.task), so every row has them all; the arrays (per class, per target, confusion) stay in
// metrics.jsonl and eval_report.json. A resumed run appends as metrics.jsonl does: no second
// header, and the steps between the checkpoint and the kill appear twice in both, the later row
// being the resumed run's. A file whose header differs (another train.task) is refused rather
// than mixed. A fresh run truncates them with metrics.jsonl, and without log.csv removes those an
// earlier run left in log.dir, so that no stale CSV contradicts metrics.jsonl.

/// One CSV file of log.csv (Note [CSV logs]): a header row of `columns`, then one row per
/// record. Not open: write does nothing (ranks other than 0).
class CsvLog {
 public:
  /// Opens `path` with the header `columns`. `append` (a resumed run): an existing non-empty
  /// file is appended to when its header row is exactly `columns` (a last row cut short by a
  /// kill is ended first); a missing or empty one gets the header. Otherwise the file is
  /// truncated and gets the header. Throws frost::Error "cannot write PATH" or "PATH has the
  /// columns A but this run writes B ...".
  void open(const std::string& path, std::vector<std::string> columns, bool append);
  /// One row: each column's value in `record` (a JSON object), flushed at once. Numbers are
  /// written as JSON writes them, booleans true/false, strings as they are (quoted when needed),
  /// a missing key or null as an empty cell.
  void write(const nlohmann::json& record);
  bool is_open() const { return out_.is_open(); }

 private:
  std::vector<std::string> columns_;
  std::ofstream out_;
};

/// log.dir/metrics.jsonl. Open on global rank 0 only; on other ranks every write does nothing.
/// Each record is flushed at once, so a killed run keeps every record written (on a GPU the
/// step records wait for the Trainer's next read of the losses: PendingSteps).
class MetricsLog {
 public:
  /// Opens `path`, appending when `append` (a resumed run) and truncating otherwise. Throws
  /// frost::Error "cannot write PATH".
  void open(const std::string& path, bool append);
  /// log.csv (Note [CSV logs]): with `enabled`, opens DIR/train.csv, DIR/epoch.csv and, when
  /// `with_eval` (data.test), DIR/eval.csv with the columns of `task` (CsvLog::open; `append` for
  /// a resumed run); step() and epoch() then write there too. Without `enabled`, a fresh run
  /// (not `append`) removes those files if an earlier run left them. Throws as CsvLog::open.
  void open_csv(const std::string& dir, bool append, bool enabled, data::Task task, bool with_eval);

  /// kind train (or its skipped form when report.stats.skipped).
  void step(const StepReport& report);
  /// kind epoch, then kind eval when summary.eval.samples > 0. `step`: the global step.
  void epoch(const char* strategy, const EpochSummary& summary, int64_t step);
  /// kind buckets: the bucket timeline of global step `step` (ReduceStats::buckets; a device
  /// timeline is resolved here first: resolve_timeline, which waits for the step's events, so
  /// call it after the step's loss was read). Nothing when `stats` has no timeline.
  void buckets(int64_t step, distributed::ReduceStats stats);
  /// kind feature_cache (mode "memory" or "disk").
  void feature_cache(const char* mode, int64_t rows, int64_t dim, double extraction_s);

 private:
  std::ofstream out_;
  CsvLog train_csv_, epoch_csv_, eval_csv_;  // log.csv
};

/// Writes log.dir/eval_report.json atomically (fs::write_file_atomic; call it on rank 0 only):
///   {"epoch", "step", "samples", "accuracy", "loss", "macro_f1", "micro_f1", "num_classes",
///    "zero_division": 0, "confusion_axes": "rows = true class, columns = predicted class",
///    "confusion": [[C ints] x C],
///    "classes": [{"index", "name" (string, or null when the data names no classes),
///                 "support", "predicted", "precision", "recall", "f1"} x C]}
/// for classification, and for the other tasks (Note [Task metrics] in evaluation.h):
///   multilabel {"epoch", "step", "samples", "task", "accuracy" (exact match), "loss",
///               "macro_f1", "micro_f1", "threshold": 0.5, "num_labels", "zero_division": 0,
///               "precision", "recall", "f1", "support" (arrays over the labels),
///               "labels": [{"index", "name", "support", "predicted", "precision", "recall",
///               "f1"} x K]}
///   regression {"epoch", "step", "samples", "task", "loss" (MSE), "mae", "rmse", "r2",
///               "target_mae", "target_rmse", "target_r2" (arrays over the K targets),
///               "num_targets"}
/// `class_names`: data::read_class_names of data.test (may be empty or shorter than C: the
/// missing names are null). Throws frost::Error "cannot write PATH".
void write_eval_report(const std::string& path, const EvalResult& eval, int64_t epoch,
                       int64_t step, const std::vector<std::string>& class_names);

/// Sums of one epoch's steps on this rank, for its EpochSummary.
class EpochMeter {
 public:
  /// Counts a step that was taken (not a skipped one).
  void add(const StepStats& stats);
  /// The summary of epoch `epoch` (1-based) of `steps` steps (skipped ones included) that
  /// trained for `wall_s` seconds: train_loss is the mean over every rank's samples and
  /// samples_per_s counts every rank's (one all-reduce: collective, same result everywhere);
  /// comm_mb_per_step is this rank's. `eval` is left empty.
  EpochSummary summary(int64_t epoch, int64_t steps, double wall_s, comm::Communicator& comm) const;

 private:
  double loss_sum_ = 0.0, samples_ = 0.0;
  int64_t comm_bytes_ = 0;
};

// Note [Progress ETA]
// The progress line says how far the run is and when the epoch and the run will end:
//   "... | T ms | run P%, ETA H:MM:SS (epoch H:MM:SS)"
// P = global step / the run's total steps (train.epochs x steps per epoch, or train.max_steps
// when smaller); a resumed run goes on from its step. The estimates rest on a smoothed step time
// S: at each progress line, the mean step time of the steps since the previous line (their
// step_ms: the data wait and the step, host clock; on a GPU the average of the steps read
// together) is folded into an exponential moving average, S = a x window + (1 - a) x S with
// a = kEtaSmoothing = 0.3 (the first window alone at the start of a process): the last three
// windows carry two thirds of the weight, so a lasting change of speed (another job on the node,
// lp-ft's switch to full fine-tuning) shows within a few lines while one slow window (a page
// cache miss, a checkpoint's disk traffic) moves S by 0.3 of its excess only. Evaluation,
// checkpoint writes and start-up lie outside every step, so they never inflate S. Then
//   ETA epoch = (steps left in this epoch) x S                     (to the epoch's last step)
//   ETA run   = (steps left in the run) x S + (evaluations left) x E
// E the wall time of this process's last evaluation (0 before the first one, and without
// data.test), evaluations left = this epoch's and one per later epoch with steps left. Early
// stopping (train.early_stopping_patience) may end the run before the ETA. Skipped steps
// (train.nonfinite_loss = skip) count as steps done but not in S.

/// The progress lines of rank 0 and their ETA (Note [Progress ETA]). Training thread only.
class ProgressMeter {
 public:
  /// Weight of the newest window in the smoothed step time.
  static constexpr double kEtaSmoothing = 0.3;

  /// `every`: log.every; `total_steps`: global steps of the whole run (>= 1);
  /// `steps_per_epoch`: of a full epoch (the sampler's); `evaluates`: data.test is set.
  ProgressMeter(int64_t every, int64_t total_steps, int64_t steps_per_epoch, bool evaluates);

  /// A step handed out by PendingSteps::read, in step order: adds its step_s to the window and,
  /// at a logged step (every `every` steps of an epoch, and its last), folds the window into
  /// the smoothed step time and logs line(report) (info). A skipped step adds nothing.
  void step(const StepReport& report);
  /// The wall time of an evaluation, seconds (the run's ETA counts the evaluations left).
  void evaluated(double wall_s) { eval_s_ = wall_s; }

  /// Whether `report` gets a progress line.
  bool logged(const StepReport& report) const;
  /// The smoothed step time S, seconds; NaN before the first window was folded in.
  double step_s() const { return smoothed_s_; }
  /// The fraction of the run's steps done after `report`'s step, in [0, 1].
  double run_fraction(const StepReport& report) const;
  /// Seconds to the end of the epoch's last step and to the end of the run, after `report`'s
  /// step (Note [Progress ETA]); NaN while step_s() is.
  double epoch_eta_s(const StepReport& report) const;
  double run_eta_s(const StepReport& report) const;
  /// The progress line of `report`: "epoch E | step i/n | loss L | lr X | N samples/s | comm M
  /// MB | T ms | run P%, ETA H:MM:SS (epoch H:MM:SS)".
  std::string line(const StepReport& report) const;

 private:
  int64_t every_, total_steps_, steps_per_epoch_;
  bool evaluates_;
  double window_s_ = 0.0;
  int64_t window_steps_ = 0;
  double smoothed_s_;
  double eval_s_ = 0.0;
};

/// A duration for people: "H:MM:SS" (hours not capped: "27:03:09"), rounded to whole seconds;
/// "n/a" when `seconds` is NaN, infinite or negative.
std::string format_duration(double seconds);
/// The warning that a step was skipped on every rank (train.nonfinite_loss = skip).
void log_skipped_step(const StepReport& report);
/// "epoch E done: train loss L | test accuracy A (N samples) | test loss L | macro F1 F |
/// ... MB/step | T s" (info), with "| peak GPU memory X MiB" before the time on a GPU (without
/// data.test: "test accuracy n/a (no data.test)"). The per-class scores are in metrics.jsonl and
/// eval_report.json, not on the line.
void log_epoch(const EpochSummary& summary);
/// The evaluation part of log_epoch's line, which frost-predict prints too: "test accuracy A
/// (N samples) | test loss L | macro F1 F" (classification), "test exact match A (N samples)
/// | test loss L | micro F1 F | macro F1 F" (multilabel), "test MSE L (N samples) | MAE M |
/// RMSE R | R2 Q" (regression), or "test accuracy n/a (no data.test)" when eval.samples == 0.
std::string eval_line(const EvalResult& eval);


/// The steps whose losses have not been read yet (Note [One synchronisation per logged step] in
/// step.h). Training thread only.
class PendingSteps {
 public:
  /// `nonfinite`: train.nonfinite_loss; with stop, read() ends the run at a non-finite loss.
  explicit PendingSteps(NonfiniteLoss nonfinite) : nonfinite_(nonfinite) {}

  /// Queues the report of a finished (or skipped) step; report.stats.loss_t must be defined.
  void add(StepReport report);
  bool empty() const { return reports_.empty(); }
  size_t size() const { return reports_.size(); }

  /// Reads every queued loss in one copy to the host (one synchronisation with the device),
  /// sets each report's stats.loss and, on a GPU, its device times from the timing events (which
  /// that copy has waited for: Note [Step timing on a GPU] in device_stats.h), and hands the
  /// reports to `each` in step order, emptying
  /// the queue. With train.nonfinite_loss = stop, a taken step whose loss is NaN or Inf throws
  /// frost::Error "loss is nan at step S (epoch E): lower optim.lr or check the data for
  /// NaN/Inf (or set train.nonfinite_loss = skip)" instead of being handed out (the steps
  /// before it are handed out first); a skipped step (stats.skipped) never throws.
  void read(const std::function<void(StepReport&)>& each);

 private:
  NonfiniteLoss nonfinite_;
  std::vector<StepReport> reports_;
};

}  // namespace frost::train
