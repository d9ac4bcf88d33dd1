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
// rank reads the same file on resume. A checkpoint written by a different world size is
// refused (the global batch and the data order would change), as is a different config
// (config_diff: keys that do not change what is computed may differ).
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
#pragma once

#include <cstdint>
#include <functional>
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

/// --resume (cfg.resume: "auto" = the `latest` checkpoint of log.dir, or a checkpoint path):
/// loads the model, the optimizer state and the CPU RNG state on every rank and returns the
/// position to continue from (with the model selection; has_best false when the checkpoint
/// has none); nullopt when "auto" finds no checkpoint (a fresh start). Rank 0
/// logs what it resumed. Throws frost::Error with the context "--resume" for a missing or
/// malformed file (LibTorch's message without its backtrace), a checkpoint of another world
/// size, or of another config (naming the keys that differ).
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
