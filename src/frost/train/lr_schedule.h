// Learning-rate schedule of a run: linear warmup, then constant or cosine annealing; and the
// scaling of the learning rates for the global batch (optim.lr_scaling).
#pragma once

#include <cstdint>
#include <string>

#include "frost/train/config.h"

namespace frost::train {

/// Learning rate of optimizer step `step` (0-based) out of `total_steps`: linear warmup from
/// 0 over the first W steps (Goyal et al. 2017, "Accurate, Large Minibatch SGD"), then
/// `optim.schedule`: constant at optim.lr, or cosine annealing from optim.lr to optim.min_lr
/// (Loshchilov & Hutter 2017, "SGDR"), W = optim.warmup_steps if > 0, else
/// round(optim.warmup_frac * total_steps). Pure: the same value on every rank. This is the rate
/// of the optimizer's base groups; each group multiplies it by its lr_scale (Note [Parameter
/// groups] in optimizer.h). Give it the config of scaled_for_batch when optim.lr_scaling is set.
double lr_at(const OptimConfig& optim, int64_t step, int64_t total_steps);

/// The factor optim.lr_scaling puts on the learning rates for a global batch of `global_batch`
/// samples (data.batch_size x train.grad_accum_steps x world size): none 1; linear
/// B / optim.lr_ref_batch (the linear scaling rule of Goyal et al. 2017, "Accurate, Large
/// Minibatch SGD: Training ImageNet in 1 Hour"); sqrt sqrt(B / optim.lr_ref_batch) (the
/// square-root rule often used for Adam-type optimizers; Krizhevsky 2014, "One weird trick").
/// Throws frost::Error when global_batch < 1.
double lr_batch_factor(const OptimConfig& optim, int64_t global_batch);

/// `optim` with optim.lr, optim.head_lr and optim.min_lr multiplied by lr_batch_factor (the whole
/// schedule scales, so the cosine still ends at min_lr's share of the peak) and lr_scaling set to
/// none (scaling it again changes nothing). The config a run's schedule and optimizer use.
OptimConfig scaled_for_batch(const OptimConfig& optim, int64_t global_batch);

/// The start-up line of the scaling, e.g. "optim.lr 0.1 scaled linear x 0.5 for global batch
/// 128 / 256 -> 0.05" (head_lr appended when set: "; optim.head_lr 1 -> 0.5"); for none
/// "optim.lr 0.1 (optim.lr_scaling = none; global batch 128)".
std::string lr_scaling_summary(const OptimConfig& optim, int64_t global_batch);

}  // namespace frost::train
