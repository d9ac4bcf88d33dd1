// Checkpoints of a run (checkpoint.every_steps, checkpoint.every_epoch, --resume).
//
// Note [Checkpoints]
// A checkpoint is what it takes to continue bit for bit: every parameter and buffer, the
// optimizer state (LibTorch's own archive, stored as bytes; loaded onto the parameters'
// device), the CPU RNG state (dropout) and on a GPU also the device's RNG state, the
// global step (which fixes the LR schedule position), the epoch and the step within it (which,
// with the seeded sampler, fix the data order), the world size and the effective config.
// All ranks hold the same state (invariant 3), so global rank 0 alone writes it, atomically
// (temp file, fsync, rename; then the `latest` pointer the same way: invariant 7), and every
// rank reads the same file on resume. A checkpoint written by a different world size resumes
// with the same global batch (Note [Resuming on another world size]); a different config is
// refused (config_diff: keys that do not change what is computed may differ).
//
// Files: log.dir/checkpoints/step-NNNNNNNNN.pt (a torch pickle of a dict: model (CPU tensors,
// whatever the device), optimizer, rng, rng_cuda (GPU runs only), global_step, epoch,
// step_in_epoch, world_size, config, and with data.test the model selection: best_metric,
// best_value, best_epoch, best_step, stale_evals) and log.dir/checkpoints/latest
// (the newest file's name); the newest checkpoint.keep files are kept.
//
// Note [Model selection]
// With data.test, every evaluation (after each epoch) is compared with the best so far on
// eval.metric: eval_accuracy or macro_f1 (higher is better) or eval_loss (lower is better); it
// improves when strictly better (the first evaluation always does), else it counts as stale.
// The verdict that acts (keep the model, stop the run) must be the same on every rank: the
// counts behind accuracy and macro F1 are exact int64 all-reduces, the same bits everywhere, but
// the loss is a float64 all-reduce that MPI advises, not promises, to give bitwise the same
// result everywhere. So the Trainer broadcasts rank 0's value of the metric (one float64
// broadcast per evaluation) and every rank updates its ModelSelection with that value: the
// selections start equal (fresh, or from the same checkpoint) and see the same values, so every
// rank holds the same selection and acts alike.
//  * checkpoint.keep_best: at an improvement rank 0 writes the model to log.dir/best/model.pt
//    (save_best_model: atomically, the model first, then best/best.json with metric, value,
//    epoch and step), so a crash leaves the previous best or the new one, never half a file;
//    best.json describes the model.pt beside it except in the moment between the two renames.
//  * train.early_stopping_patience = P > 0: the run ends after the evaluation that makes P
//    stale evaluations in a row, on every rank after the same epoch; then (as at any end) the
//    model is saved.
//  * checkpoint.export = best: at the end, rank 0 loads log.dir/best/model.pt and broadcasts it,
//    so model.pt (and model.safetensors) is the best model on every rank's Trainer too.
// The selection (best value, its epoch and step, the stale count) is part of every checkpoint
// (RunPosition::selection), so a resumed run compares with the best of the evaluations before
// the interruption and counts patience across it. A checkpoint that predates these entries
// resumes with no best. Tests: mpi ModelSelection.* (test_evaluation.cpp), unit
// train.ModelSelection.
//
// Note [Resuming on another world size]
// A run continues on W' ranks from a checkpoint of W ranks with the checkpoint's global batch
// G = data.batch_size x train.grad_accum_steps x W of its config: G decides which samples form
// each optimizer step (Note [Another world size] in data/sampler.h), the steps per epoch and so
// the LR schedule, and optim.lr_scaling; how a step's G rows are split over ranks and
// micro-batches changes the gradient only by float rounding (every micro-batch's loss is weighted
// by its share, the reducer averages over ranks: the global per-sample mean, invariant 4). So a
// resume never changes G, only each rank's split of its R = G / W' rows (split_for_world_size):
//  * data.batch_size x train.grad_accum_steps as configured when they make G on W' ranks;
//  * else, when W' divides G, the micro-batch is the largest divisor of R that is not above the
//    configured data.batch_size (read as the most rows a rank may run at once: its memory), and
//    train.grad_accum_steps = R / micro-batch. E.g. batch 4 on 2 ranks (G = 8) resumed on 4:
//    micro-batch 2, no accumulation; batch 2 on 4 ranks resumed on 2: micro-batch 2, 2
//    accumulation steps. Rank 0 logs the change (a warning when the world size is the same, i.e.
//    the configured split was edited), and config.ini holds the values in effect. The same rule
//    lets a job that was resharded once be requeued with its original config on any size.
//  * else (W' does not divide G) the resume is refused, naming the nearest world sizes that keep
//    G; a new run from the checkpoint's model (model.init) may choose another global batch.
// Nothing in a checkpoint is per rank, so nothing is redistributed but the rows of each step:
// the parameters, buffers and optimizer state are rank 0's, equal on every rank (invariant 3;
// BatchNorm statistics are broadcast from rank 0 before every evaluation, and a checkpoint saves
// rank 0's); the CPU (and CUDA) RNG is seeded alike on every rank (train.seed) and drawn alike
// (the same shapes in every step), so rank 0's state is every rank's; image augmentation draws
// from a generator per (train.seed, epoch, sample), independent of ranks; the position (epoch,
// optimizer steps done in it) is global. What the math then keeps: with the global permutation
// (or no shuffle) and the same samples per epoch on both world sizes, every step after the resume
// trains on the same global batch as the uninterrupted run on W (or W') ranks, so the result
// matches both within float reduction-order rounding (not bitwise: the per-rank sums are added in
// another order). That needs a training forward that is per sample: BatchNorm in train mode
// normalises over each micro-batch and dropout masks are drawn per rank, so with either the steps
// differ by more than rounding. Tests: unit ResumeWorldSize.*, mpi
// Resume.OtherConfigIsRefusedAndAnotherWorldSizeKeepsTheGlobalBatchWorld2 (2 -> 1 rank), e2e
// test_resume_world_size.sh (2 -> 4 and 4 -> 2 ranks against uninterrupted runs on both; the
// tolerance is stated there).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "frost/core/fault_injection.h"
#include "frost/train/config.h"

namespace torch::optim {
class Optimizer;
}
namespace frost::models {
class ClassifierImpl;
}

namespace frost::train {

/// The best evaluation so far and the stale ones since (Note [Model selection]).
struct ModelSelection {
  EvalMetric metric = EvalMetric::kAccuracy;
  bool has_best = false;
  double best_value = 0.0;
  int64_t best_epoch = 0;   ///< 1-based epoch of the best evaluation
  int64_t best_step = 0;    ///< global step at the best evaluation
  int64_t stale_evals = 0;  ///< evaluations since the best without improvement

  /// Whether `value` of eval.metric is strictly better than the best (always, without one).
  bool improves(double value) const;
  /// Counts an evaluation of `value` at (`epoch`, `step`): the new best when it improves
  /// (stale_evals back to 0), else one more stale evaluation. Returns whether it improved.
  bool update(double value, int64_t epoch, int64_t step);
  /// Whether `patience` (> 0) stale evaluations in a row have been reached.
  bool exhausted(int64_t patience) const { return patience > 0 && stale_evals >= patience; }
};

/// The value of `metric` in an evaluation: accuracy, macro F1 or mean loss.
double metric_value(EvalMetric metric, double accuracy, double macro_f1, double loss);

/// Where a run stands between two optimizer steps.
struct RunPosition {
  int64_t global_step = 0;    ///< optimizer steps taken (skipped ones included)
  int64_t epoch = 0;          ///< 0-based epoch the next step belongs to
  int64_t step_in_epoch = 0;  ///< steps of that epoch already taken
  ModelSelection selection;   ///< with data.test: the evaluations so far
};

/// How a rank cuts its rows of one optimizer step: the keys data.batch_size (the micro-batch)
/// and train.grad_accum_steps; global batch = batch_size x grad_accum_steps x world size.
struct BatchSplit {
  int64_t batch_size = 1;
  int64_t grad_accum_steps = 1;
  int64_t rows() const { return batch_size * grad_accum_steps; }  ///< per rank and step
  bool operator==(const BatchSplit& o) const {
    return batch_size == o.batch_size && grad_accum_steps == o.grad_accum_steps;
  }
};

/// The split of Note [Resuming on another world size] that keeps `global_batch` (>= 1) on
/// `world_size` (>= 1) ranks: `configured` when it does (configured.rows() x world_size ==
/// global_batch), else micro-batch = the largest divisor of R = global_batch / world_size not
/// above configured.batch_size, grad_accum_steps = R / micro-batch. Throws frost::Error when
/// world_size does not divide global_batch, naming the nearest world sizes that do.
BatchSplit split_for_world_size(int64_t global_batch, int world_size, BatchSplit configured);

/// A checkpoint file read for --resume and not applied yet (read_checkpoint): what the set-up
/// needs before the model exists (the world size and split it was written with), and the state
/// load_checkpoint applies later. Copies share the file's contents (held in CPU memory).
class CheckpointFile {
 public:
  struct Contents;  // the unpickled dict (checkpoint.cpp)
  explicit CheckpointFile(std::shared_ptr<const Contents> contents);
  const std::string& path() const;
  int64_t world_size() const;   ///< ranks of the run that wrote it
  BatchSplit split() const;     ///< its config's data.batch_size and train.grad_accum_steps
  int64_t global_batch() const { return split().rows() * world_size(); }
  const std::string& config_ini() const;  ///< its config.ini text
  const Contents& contents() const { return *contents_; }

 private:
  std::shared_ptr<const Contents> contents_;
};

/// --resume (cfg.resume: "auto" = the `latest` checkpoint of log.dir, or a checkpoint path): reads
/// and checks the file; nullopt when "auto" finds no checkpoint (rank 0 logs the fresh start).
/// Throws frost::Error with the context "--resume" for a missing or malformed file (LibTorch's
/// message without its backtrace) or one without the entries of a Frost checkpoint.
std::optional<CheckpointFile> read_checkpoint(const Config& cfg, int rank);

/// `cfg` with the data.batch_size and train.grad_accum_steps that keep the checkpoint's global
/// batch on `world_size` ranks (split_for_world_size, Note [Resuming on another world size]);
/// rank 0 logs a change. The same on every rank. Throws frost::Error with the context "--resume"
/// naming the file, both world sizes and the world sizes that would keep the global batch.
Config config_for_resume(const Config& cfg, const CheckpointFile& checkpoint, int rank,
                         int world_size);

/// log.dir/checkpoints.
std::string checkpoint_dir(const Config& cfg);
/// log.dir/best (checkpoint.keep_best).
std::string best_dir(const Config& cfg);

/// checkpoint.keep_best: on global rank 0 (other ranks return at once) writes `model` as
/// best_dir/model.pt, then best_dir/best.json ({"metric", "value", "epoch", "step"} of
/// `selection`), each atomically (Note [Model selection]). Throws frost::Error when a file
/// cannot be written.
void save_best_model(const Config& cfg, int rank, models::ClassifierImpl& model,
                     const ModelSelection& selection);

/// Writes the checkpoint of `position` on global rank 0 (`rank` == 0; other ranks return at once),
/// then removes all but the newest checkpoint.keep checkpoints and any temporary file of an
/// earlier, killed writer. `world_size` and cfg.to_ini() are recorded for the resume checks.
/// The fault site checkpoint:N (N = position.global_step) of `faults` can kill the writer half-way
/// through the temporary file. Throws frost::Error when a file cannot be written.
void save_checkpoint(const Config& cfg, int rank, int world_size, models::ClassifierImpl& model,
                     torch::optim::Optimizer& optimizer, const RunPosition& position,
                     const fault::Plan& faults);

/// --resume: read_checkpoint, then the overload below that applies it: loads the model, the
/// optimizer state and the CPU RNG state on every rank and returns the position to continue from
/// (with the model selection; has_best false when the checkpoint has none); nullopt when "auto"
/// finds no checkpoint (a fresh start). Rank 0 logs what it resumed. Throws frost::Error with the
/// context "--resume" for a missing or malformed file (LibTorch's message without its
/// backtrace), a checkpoint of another global batch (data.batch_size x train.grad_accum_steps x
/// world_size; config_for_resume gives a config that keeps it), or of another config (naming the
/// keys that differ; data.batch_size and train.grad_accum_steps may differ when the global batch
/// is the same).
std::optional<RunPosition> load_checkpoint(const Config& cfg, int rank, int world_size,
                                           models::ClassifierImpl& model,
                                           torch::optim::Optimizer& optimizer);

/// As above, but the optimizer is asked for once the position is known, after the model is
/// loaded and before the optimizer state is: `optimizer_for(position)` returns the optimizer
/// over the trainable set the state was saved with (Note [Strategy phases] in strategy.h: it
/// may rebuild the buckets and the optimizer first).
std::optional<RunPosition> load_checkpoint(
    const Config& cfg, int rank, int world_size, models::ClassifierImpl& model,
    const std::function<torch::optim::Optimizer&(const RunPosition&)>& optimizer_for);

/// As above, with the checkpoint already read (read_checkpoint): the Trainer reads it before its
/// set-up, which needs config_for_resume, and applies it here. Returns the position to continue
/// from; throws as above.
RunPosition load_checkpoint(
    const Config& cfg, int rank, int world_size, models::ClassifierImpl& model,
    const CheckpointFile& checkpoint,
    const std::function<torch::optim::Optimizer&(const RunPosition&)>& optimizer_for);

/// What differs between two config.ini texts, ignoring keys that do not change what is
/// computed (log.*, checkpoint.*, dist.timeout_s, data.prefetch, train.threads):
/// "checkpoint has optim.lr = 0.05; now optim.lr = 0.5", or "" when nothing does.
/// `defaults` (Config{}.to_ini(), or "" to compare strictly): a key that `saved` lacks, because
/// the checkpoint was written by a Frost older than the key, counts as set to its default there
/// (a new key's default keeps the behaviour from before it existed), so it differs only when
/// `now` sets another value: "now model.channels_last = on (the checkpoint predates this key,
/// which it ran with at its default auto)". Except a key whose default changed what runs do
/// (optim.no_decay: its default bias,norm exempts biases and norm weights from weight decay,
/// while runs before it decayed everything): there the checkpoint counts as having run with the
/// old behaviour's value (none), so resuming it with the default is refused, saying "set
/// optim.no_decay = none to resume it", rather than silently changing its optimizer.
std::string config_diff(const std::string& saved, const std::string& now,
                        const std::string& defaults = "");

}  // namespace frost::train
