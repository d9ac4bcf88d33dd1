// The optimizer of a run (optim.*): SGD (momentum, Nesterov, L2 weight decay in the gradient)
// or AdamW (decoupled weight decay, Loshchilov & Hutter 2019), over the trainable parameters
// only (invariant 1: a frozen parameter has no optimizer state), in parameter groups that each
// carry a learning-rate multiplier and a weight decay (Note [Parameter groups]). The learning
// rate is set per step by train_step (lr_schedule.h, set_learning_rate).
//
// Note [Parameter groups]
// Every trainable parameter of the Classifier gets a learning-rate multiplier (lr_scale) and a
// weight decay; parameters with equal (lr_scale, weight_decay) share a group, groups in the
// order of their first parameter, parameters in registration order (named_parameters()). The
// learning rate of a group at step t is lr_at(t) x lr_scale (set_learning_rate), so warmup,
// cosine and min_lr apply to every group alike. With every knob at its default but no_decay
// (head_lr 0, layer_decay 1, no_decay none) there is one group: the optimizer of Frost before
// groups, whose checkpoints it reads.
// * optim.head_lr (0 = optim.lr): the head's lr_scale is head_lr / lr. The head's own rate, not
//   a backbone multiplier: fine-tuning recipes state the head's rate (a new head at 10x the
//   backbone's), it reads in the same units as optim.lr, and lr_scaling scales both alike.
// * optim.layer_decay = d (1 = off; BEiT, Bao et al. 2022, and ELECTRA, Clark et al. 2020): layer
//   ids as timm's param_groups_layer_decay (timm/optim/_param_groups.py) over the blocks of Note
//   [Backbone blocks] (models/blocks.h; all backbone parameters count, frozen ones too, so a
//   block's id does not move when a strategy unfreezes blocks): block i = i (0 = the stem), the
//   head = n_blocks; num_layers = n_blocks + 1 and scale = d^(num_layers - 1 - id), so the head
//   learns at 1x, the last block at d, the stem at d^n_blocks. For ResNet this is timm's
//   group_matcher(coarse=False) (stem, layerS.B, fc) parameter by parameter (test
//   ParamGroups.LayerDecayIsTimmsForResNet18, fixture from tests/fixtures/
//   make_layer_decay_fixture.py). For BERT: embeddings 0, encoder.layer.k k + 1, the pooler
//   L + 1 (a block of its own), the head L + 2. It multiplies head_lr's scale.
// * optim.no_decay = bias,norm (the default; a change from Frost's weight decay on everything,
//   as timm's param_groups_weight_decay and Hugging Face's Trainer exempt biases and LayerNorm
//   weights): weight decay 0 for `bias` = parameters named "...bias", `norm` = the other
//   parameters with at most one dimension (the weights of BatchNorm and LayerNorm; in Frost's
//   backbones no other weight is 1-d). bias,norm is timm's "ndim <= 1" rule. A checkpoint written
//   before the key existed ran with none; resuming it needs optim.no_decay = none (config_diff in
//   checkpoint.h says so).
// The multipliers live in the optimizer object (not in LibTorch's group options, which a
// checkpoint's archive overwrites), so a resumed run gets them from its config.
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
#include <string>
#include <vector>

#include "frost/train/config.h"

namespace torch::optim {
class Optimizer;
}
namespace frost::models {
class ClassifierImpl;
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
/// This overload: one group over `trainable`, lr_scale 1, weight decay optim.weight_decay (what
/// every run had before Note [Parameter groups]; tests and single-group callers).
enum class OptimizerImpl { kAuto, kForeach, kFused };
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimConfig& optim,
                                                        const std::vector<at::Tensor>& trainable,
                                                        OptimizerImpl impl = OptimizerImpl::kAuto);

/// One parameter group: its parameters, its learning-rate multiplier and its weight decay.
struct ParamGroup {
  std::vector<at::Tensor> params;
  double lr_scale = 1.0;      ///< the group's rate is the schedule's x lr_scale (> 0)
  double weight_decay = 0.0;  ///< this group's optim.weight_decay (>= 0)
};

/// The optimizer optim.name over `groups` (in this order; none empty), each group's initial rate
/// optim.lr x lr_scale; otherwise as the overload above.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimConfig& optim,
                                                        const std::vector<ParamGroup>& groups,
                                                        OptimizerImpl impl = OptimizerImpl::kAuto);

/// The optimizer of a run: the groups of plan_param_groups over `model`'s parameters that
/// require a gradient (its current strategy's trainable set) and the overload above. Throws
/// frost::Error when no parameter requires a gradient.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimConfig& optim,
                                                        models::ClassifierImpl& model,
                                                        OptimizerImpl impl = OptimizerImpl::kAuto);

/// A parameter as plan_param_groups sees it.
struct ParamInfo {
  std::string name;   ///< the Classifier's name: "backbone.<backbone name>" or "head.<name>"
  int64_t dim = 0;    ///< number of dimensions
  bool trainable = true;  ///< requires a gradient (only these are planned; all count for blocks)
};

/// A planned group: what ParamGroup holds, with parameter names instead of tensors.
struct ParamGroupPlan {
  std::vector<std::string> params;  ///< names, in the order of `params` below
  double lr_scale = 1.0;
  double weight_decay = 0.0;
};

/// The groups of Note [Parameter groups] for a Classifier's parameters `params` (all of them,
/// in registration order; names not under "backbone." or "head." count as backbone names).
/// Pure, no LibTorch tensors: the same plan on every rank. An empty plan when nothing is
/// trainable. Assumes optim.lr > 0 (validated config).
std::vector<ParamGroupPlan> plan_param_groups(const OptimConfig& optim,
                                              const std::vector<ParamInfo>& params);

/// Sets the learning rate of every group of `optimizer` to lr x its lr_scale (1 for an optimizer
/// not made by make_optimizer). Called by train_step once per step.
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

/// The lr_scale of each group of `optimizer` (all 1 for one not made by make_optimizer).
std::vector<double> group_lr_scales(const torch::optim::Optimizer& optimizer);

/// The start-up log of the groups of make_optimizer(optim, model): a summary line ("4 parameter
/// groups over 6 trainable tensors (optim.head_lr 1, optim.layer_decay 1, optim.no_decay
/// bias,norm)") followed by one line per group ("group 2: lr x10, weight decay 0.05, 1 tensor
/// (40 values): head.weight"; first .. last parameter for several).
std::vector<std::string> describe_param_groups(const OptimConfig& optim,
                                               models::ClassifierImpl& model);

}  // namespace frost::train
