// Trainer: one data-parallel fine-tuning run, top-down in execution order:
//   set-up (threads, data, model, weights from model.init, strategy, broadcast from rank 0,
//   cross-rank check, reducer, optimizer) -> run: resume, run directory, feature cache, then
//   epochs (batches -> train_step -> log -> checkpoint; evaluate) -> save.
//
// Its parts, each in its own file under train/: the model a config describes (model_setup.h),
// the strategies (strategy.h: what trains, modes, forward), the optimizer (optimizer.h), the
// step (step.h: train_step), the LR schedule (lr_schedule.h), checkpoints (checkpoint.h), the
// feature cache and the epoch's batches (feature_cache.h), the batch loader (loader.h), the
// exact evaluation (evaluation.h), metrics.jsonl and the progress lines (metrics.h).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "frost/models/models.h"
#include "frost/train/config.h"
#include "frost/train/metrics.h"

namespace torch::optim {
class Optimizer;
}
namespace frost::comm {
class Communicator;
}
namespace frost::distributed {
class GradReducer;
}

namespace frost::train {

class Trainer {
 public:
  /// Sets up the run (see the file comment). Every rank constructs a Trainer with the same
  /// config; collectives run on `comm`, which must outlive the Trainer. Throws frost::Error
  /// for bad config, data or weights, naming the key/file, with this rank recorded (Note
  /// [Error context] in core/error.h), as run() and evaluate() do.
  Trainer(const Config& config, comm::Communicator& comm);
  ~Trainer();

  /// Runs all epochs (or up to train.max_steps steps, or until train.early_stopping_patience
  /// ends the run), evaluating after each epoch, then saves model.pt to log.dir (rank 0,
  /// atomically): the last model, or the best with checkpoint.export = best (Note [Model
  /// selection] in checkpoint.h). Returns one summary per epoch run. Collective.
  /// A preemption request (Note [Preemption] in trainer.cpp) stops it at the next step boundary
  /// instead: rank 0 writes a checkpoint there, no model.pt is written, and preempted() is true
  /// on every rank (the summaries are those of the epochs completed).
  std::vector<EpochSummary> run();

  /// Exact evaluation on data.test (samples == 0 when data.test is empty). Collective.
  EvalResult evaluate();

  models::Classifier& model();
  distributed::GradReducer& reducer();
  /// The optimizer; it holds the trainable parameters only.
  torch::optim::Optimizer& optimizer();
  /// Optimizer steps taken so far (skipped ones included).
  int64_t global_step() const;
  /// Steps skipped because of a non-finite loss (train.nonfinite_loss = skip).
  int64_t skipped_steps() const;
  /// Steps per epoch on every rank (equal on all ranks by construction).
  int64_t steps_per_epoch() const;
  /// Whether run() stopped for preemption, with a checkpoint (the same on every rank).
  bool preempted() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace frost::train
