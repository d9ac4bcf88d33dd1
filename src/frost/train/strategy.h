// Fine-tuning strategies: what trains, in which mode, and how one micro-batch runs forward.
// One object per strategy (train.strategy, with train.feature_cache for the head):
//
//   full         every parameter the model offers trains; the whole model is in train mode.
//   head         linear probe: the backbone is frozen (requires_grad false; eval mode, so
//                BatchNorm statistics and dropout do not change: invariant 6; forward under
//                no-grad, so no activations are kept); only the head trains, is in the
//                optimizer and in the gradient buckets (invariant 1).
//   cached head  head on features a frozen backbone computed once (Note [Feature cache] in
//                feature_cache.h): the micro-batch's inputs already are the features [B, D],
//                so the forward is the head alone.
//   lp-ft        head for train.lp_epochs epochs, then full (Kumar et al. 2022, "Fine-Tuning
//                can Distort Pretrained Features and Underperform Out-of-Distribution", LP-FT):
//                the head phase runs exactly as head (eval mode, inference-mode backbone).
//   partial      the head and the last train.unfreeze_last backbone blocks (Note [Backbone
//                blocks] in models/blocks.h) and/or the parameters train.trainable's glob
//                patterns name; every module whose parameters are all frozen is in eval mode
//                (its BatchNorm statistics and dropout do not change: invariant 6 for the frozen
//                part). A frozen prefix of the backbone keeps no activations: autograd records
//                nothing until the first trainable parameter. With train.unfreeze_every = E
//                (gradual unfreezing, ULMFiT: Howard & Ruder 2018), epoch e (0-based) trains
//                the last n(e) = min(B, unfreeze_last + floor(e / E)) of the B blocks, so one
//                more block from the top joins at every epoch e with e % E == 0 until all do.
//                ULMFiT starts from the classifier alone; here the head and unfreeze_last >= 1
//                blocks train from the start (lp-ft is the head-alone start).
// A parameter the model itself keeps frozen (BERT's pooler under mean pooling) stays frozen in
// every strategy and phase; its block still counts as a block.
//
// Note [Strategy phases]
// A strategy is asked what trains per epoch, not once: LP-FT (train the head first, then
// everything) and gradual unfreezing change trainability at an epoch boundary. The Trainer
// calls set_trainable(model, epoch) before the gradient buckets and the optimizer are built
// (invariant 1: they hold trainable parameters only), set_modes(model, epoch) at the start of
// every epoch, and asks trainable_changes_at(epoch) at every later epoch boundary. When it
// answers true, every rank (the same config, so the same answer) rebuilds at the start of that
// epoch, before its first step: set_trainable -> a new GradReducer (buckets over the new
// trainable set; the old one's hooks are removed first) -> a new optimizer over the new
// trainable parameters (Trainer::Impl::rebuild_trainable, the one place it is built), and rank
// 0 logs the change (trainable parameters and bytes all-reduced per step, before -> after).
// Trainability only grows in these strategies, so a parameter frozen at the switch stays
// bitwise unchanged (it has no gradient, no optimizer state; its module stays in eval mode).
// The feature cache needs a backbone frozen in every epoch, so it is refused with lp-ft and
// partial at config validation (it would also hold the test features the evaluation reuses).
// Resume: a checkpoint's optimizer state belongs to the trainable set of the epoch of its last
// step (the position's epoch when steps of it were taken, else the epoch before); the Trainer
// builds that set before loading the state, and the epoch loop then switches exactly as the
// uninterrupted run did, so the resumed run ends bitwise equal to it.
//
// Note [LP-FT optimizer state]
// At lp-ft's switch the head already has optimizer state (SGD momentum, AdamW moments and step
// count); the backbone has none. train.lp_ft_optimizer_state = reset (the default) builds the
// full phase's optimizer fresh, as in Kumar et al. 2022, where fine-tuning is a separate
// optimisation initialised from the linear probe's head: so lp-ft then equals a head run
// followed by a full run started from its model.pt (model.init), when the learning rate and the
// data order do not depend on the epoch (optim.schedule = constant without warmup, data.shuffle
// = false; otherwise the one run's schedule spans both phases and epoch e's data order is
// seeded by e). keep carries the head's state into the new optimizer (the backbone's starts
// empty; AdamW's step count stays per parameter), as adding a parameter group to a PyTorch
// optimizer would. Gradual unfreezing (partial) always keeps the state of the parameters that
// already trained, as fastai's freeze_to does.
//
// Every method is called on the training thread, with the same arguments on every rank.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "frost/train/config.h"

namespace frost::models {
class ClassifierImpl;
}

namespace frost::train {

class Strategy {
 public:
  virtual ~Strategy() = default;

  /// The train.strategy text ("full", "head", "lp-ft", "partial").
  virtual const char* name() const = 0;

  /// The strategy in `epoch`, as metrics.jsonl's strategy key and the logs say it: name(), or
  /// for lp-ft its phase, "lp-ft:head" or "lp-ft:full".
  virtual std::string phase(int64_t /*epoch*/) const { return name(); }

  /// Sets requires_grad of `model`'s parameters to what trains in `epoch` (0-based). A
  /// parameter the model itself keeps frozen (BERT's pooler under mean pooling) stays frozen.
  virtual void set_trainable(models::ClassifierImpl& model, int64_t epoch) const = 0;

  /// True when what trains in `epoch` (>= 1) differs from epoch - 1 (Note [Strategy phases]).
  virtual bool trainable_changes_at(int64_t /*epoch*/) const { return false; }

  /// True when what trains differs between epochs `a` and `b` (either order).
  bool trainable_differs(int64_t a, int64_t b) const;

  /// True when the backbone does not train in `epoch`: it is in eval mode and gets no
  /// gradient, so its buffers cannot drift apart between ranks and its BatchNorm layers never
  /// normalise a training micro-batch.
  virtual bool backbone_frozen(int64_t epoch) const = 0;

  /// Sets train/eval modes for training in `epoch` (invariant 6 for a frozen backbone).
  virtual void set_modes(models::ClassifierImpl& model, int64_t epoch) const = 0;

  /// Logits [B, num_classes] float32 of one micro-batch. `inputs`, `attention_mask` and
  /// `token_type_ids` are those of train::Batch (the cached head: features [B, D] float32, no
  /// mask, no types). Autograd records what trains; call it between GradReducer::prepare_step
  /// and finalize.
  virtual at::Tensor forward(models::ClassifierImpl& model, const at::Tensor& inputs,
                             const at::Tensor& attention_mask,
                             const at::Tensor& token_type_ids = at::Tensor()) const = 0;
};

/// The parameters of `model` that require grad, in registration order (parameters()), the
/// order of the optimizer's group.
std::vector<at::Tensor> trainable_parameters(models::ClassifierImpl& model);

/// The strategy of `train` for `model`: full, head, head on cached features (train.feature_cache
/// is not off; validated to go with head only), lp-ft or partial. Call it on the model as built,
/// before any set_trainable: the parameters that do not require grad then are those the model
/// keeps frozen. Throws frost::Error for train.unfreeze_last larger than the backbone's blocks
/// (naming both numbers and the blocks) and for a train.trainable pattern that matches no
/// parameter (naming the pattern).
std::unique_ptr<Strategy> make_strategy(const TrainConfig& train, models::ClassifierImpl& model);

/// The comma-separated glob patterns of train.trainable ("" -> none). Throws frost::Error for an
/// empty entry.
std::vector<std::string> trainable_patterns(const std::string& text);

}  // namespace frost::train
