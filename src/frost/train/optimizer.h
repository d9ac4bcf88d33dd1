// The optimizer of a run (optim.*): SGD (momentum, Nesterov, L2 weight decay in the gradient)
// or AdamW (decoupled weight decay, Loshchilov & Hutter 2019), over the trainable parameters
// only (invariant 1: a frozen parameter has no optimizer state). One parameter group today;
// per-group learning rates for backbone and head will build their groups here. The learning
// rate is set per step by train_step (lr_schedule.h).
//
// Note [Multi-tensor optimizer step]
// LibTorch's torch::optim::SGD and AdamW update one parameter at a time: 4-8 element-wise
// kernels per parameter, so a BERT-base step (about 200 parameter tensors) launches over a
// thousand small kernels on a GPU, each costing a few microseconds of launch and a pass over
// memory. Frost's optimizers are those classes (same options, same per-parameter state, same
// checkpoint archive: a run resumes from an older checkpoint and vice versa) with step()
// replaced:
// * CPU: the same arithmetic as LibTorch's step(), in the same order, through ATen's
//   _foreach_* operations over all parameters of a group at once. On the CPU those run the same
//   per-tensor kernels, so the result is bitwise LibTorch's (test Optimizer.*Bitwise*): the
//   CPU's numbers, and the CPU reference of every GPU check, do not move.
// * CUDA: ATen's fused kernels (at::_fused_sgd_, at::_fused_adamw_: what
//   torch.optim.SGD/AdamW(fused=True) call in PyTorch 2.x), which update every parameter, its
//   gradient and its state in a few multi-tensor launches instead of thousands. Their
//   arithmetic is PyTorch's Python optimizers' (AdamW: exp_avg via lerp; SGD: the same as
//   above), equal to the CPU path within float32 rounding (test Optimizer.Fused*).
// AdamW's step count stays LibTorch's int64 per parameter (what the checkpoint stores); the
// fused kernel reads it from a float32 device tensor per group that is set with fill_ (a
// kernel argument, no copy and no host synchronisation). amsgrad is not offered (no config key).
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
/// optimizer's order), with optim.lr as its initial learning rate. A torch::optim::SGD or
/// torch::optim::AdamW (dynamic type: a subclass whose step() follows Note [Multi-tensor
/// optimizer step]; save/load, options and state are the base class's). The parameters must all
/// be on one device (CPU or one CUDA device) and float32 or float64; step() runs on the current
/// stream of that device, without host synchronisation, and skips parameters without a
/// gradient (as LibTorch's). `fused`: the update's implementation (Note [Multi-tensor optimizer
/// step]); Auto (what runs use) takes the fused kernels on CUDA and the _foreach_ path on the
/// CPU; kFused on the CPU runs ATen's CPU fused kernels (tests compare the two paths there).
enum class OptimizerImpl { kAuto, kForeach, kFused };
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimConfig& optim,
                                                        const std::vector<at::Tensor>& trainable,
                                                        OptimizerImpl impl = OptimizerImpl::kAuto);

}  // namespace frost::train
