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
// step_in_epoch, world_size, config) and log.dir/checkpoints/latest
// (the newest file's name); the newest checkpoint.keep files are kept.
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

/// Where a run stands between two optimizer steps.
struct RunPosition {
  int64_t global_step = 0;    ///< optimizer steps taken (skipped ones included)
  int64_t epoch = 0;          ///< 0-based epoch the next step belongs to
  int64_t step_in_epoch = 0;  ///< steps of that epoch already taken
};

/// log.dir/checkpoints.
std::string checkpoint_dir(const Config& cfg);

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
/// position to continue from; nullopt when "auto" finds no checkpoint (a fresh start). Rank 0
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
