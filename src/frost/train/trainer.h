// Trainer: one data-parallel fine-tuning run, top-down in execution order:
//   set-up (threads, data, model, weights from model.init, strategy, broadcast from rank 0,
//   cross-rank check, reducer, optimizer) -> epochs (train steps, exact evaluation) -> save.
//
// Strategies (train.strategy):
//   full  every parameter trains; the whole model is in train mode.
//   head  linear probe: the backbone is frozen (requires_grad false, eval mode so BatchNorm
//         statistics and dropout do not change, forward under no-grad so no activations are
//         kept); only the head trains, is in the optimizer and in the gradient buckets.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "frost/models/models.h"
#include "frost/train/config.h"

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

/// Learning rate of optimizer step `step` (0-based) out of `total_steps`: linear warmup from
/// 0 over the first W steps (Goyal et al. 2017, "Accurate, Large Minibatch SGD"), then
/// `optim.schedule`: constant at optim.lr, or cosine annealing from optim.lr to optim.min_lr
/// (Loshchilov & Hutter 2017, "SGDR"), W = optim.warmup_steps if > 0, else
/// round(optim.warmup_frac * total_steps).
double lr_at(const OptimConfig& optim, int64_t step, int64_t total_steps);

/// Result of an exact distributed evaluation (every sample scored once, sums all-reduced).
struct EvalResult {
  int64_t samples = 0;
  int64_t correct = 0;
  double accuracy = 0.0;  ///< correct / samples
  double loss = 0.0;      ///< mean cross-entropy
};

struct EpochSummary {
  int64_t epoch = 0;  ///< 1-based
  int64_t steps = 0;
  double train_loss = 0.0;       ///< mean over all ranks' samples of the epoch
  double samples_per_s = 0.0;    ///< global samples / training wall time of the epoch
  double comm_mb_per_step = 0.0; ///< MB (1e6 bytes) all-reduced per step by one rank
  double wall_s = 0.0;           ///< training wall time of the epoch (no eval)
  EvalResult eval;               ///< samples == 0 when data.test is empty
};

class Trainer {
 public:
  /// Sets up the run (see the file comment). Every rank constructs a Trainer with the same
  /// config; collectives run on `comm`, which must outlive the Trainer. Throws frost::Error
  /// for bad config, data or weights, naming the key/file and rank.
  Trainer(const Config& config, comm::Communicator& comm);
  ~Trainer();

  /// Runs all epochs (or up to train.max_steps steps), evaluating after each epoch, then
  /// saves model.pt to log.dir (rank 0, atomically). Returns one summary per epoch.
  std::vector<EpochSummary> run();

  /// Exact evaluation on data.test (or on `paths` when given).
  EvalResult evaluate();

  models::Classifier& model() { return model_; }
  distributed::GradReducer& reducer() { return *reducer_; }
  /// The optimizer; it holds the trainable parameters only.
  torch::optim::Optimizer& optimizer();
  /// Optimizer steps taken so far.
  int64_t global_step() const { return global_step_; }
  /// Steps skipped because of a non-finite loss (train.nonfinite_loss = skip).
  int64_t skipped_steps() const { return skipped_steps_; }
  /// Steps per epoch on every rank (equal on all ranks by construction).
  int64_t steps_per_epoch() const;

 private:
  // Note [Checkpoints] in trainer.cpp.
  void save_checkpoint(int64_t epoch, int64_t step_in_epoch);
  bool load_checkpoint(int64_t& epoch, int64_t& step_in_epoch);

  struct Impl;
  std::unique_ptr<Impl> impl_;
  models::Classifier model_{nullptr};
  std::unique_ptr<distributed::GradReducer> reducer_;
  int64_t global_step_ = 0;
  int64_t skipped_steps_ = 0;
};

/// Saves a module's parameters and buffers as a flat {name: tensor} dict in the
/// torch.save/pickle format (loadable with torch.load in Python), atomically. Throws frost::Error.
void save_state_dict(torch::nn::Module& module, const std::string& path);

/// Loads `path` (as written by save_state_dict) into `model`: every backbone tensor must be
/// present with the same shape (error names the key and file); the head is loaded when
/// `load_head` and its shape matches, and otherwise left as it is (returns false then).
bool load_init_weights(models::ClassifierImpl& model, const std::string& path, bool load_head = true);

}  // namespace frost::train
