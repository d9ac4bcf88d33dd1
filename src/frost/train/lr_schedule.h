// Learning-rate schedule of a run: linear warmup, then constant or cosine annealing.
#pragma once

#include <cstdint>

#include "frost/train/config.h"

namespace frost::train {

/// Learning rate of optimizer step `step` (0-based) out of `total_steps`: linear warmup from
/// 0 over the first W steps (Goyal et al. 2017, "Accurate, Large Minibatch SGD"), then
/// `optim.schedule`: constant at optim.lr, or cosine annealing from optim.lr to optim.min_lr
/// (Loshchilov & Hutter 2017, "SGDR"), W = optim.warmup_steps if > 0, else
/// round(optim.warmup_frac * total_steps). Pure: the same value on every rank.
double lr_at(const OptimConfig& optim, int64_t step, int64_t total_steps);

}  // namespace frost::train
