// The optimizer of a run (optim.*): SGD (momentum, Nesterov, L2 weight decay in the gradient)
// or AdamW (decoupled weight decay, Loshchilov & Hutter 2019), over the trainable parameters
// only (invariant 1: a frozen parameter has no optimizer state). One parameter group today;
// per-group learning rates for backbone and head will build their groups here. The learning
// rate is set per step by train_step (lr_schedule.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "frost/train/config.h"

namespace torch::optim {
class Optimizer;
}

namespace frost::train {

/// The optimizer optim.name over `trainable` (in this order; train_step clips them in the
/// optimizer's order), with optim.lr as its initial learning rate.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimConfig& optim,
                                                        const std::vector<at::Tensor>& trainable);

}  // namespace frost::train
