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
//
// Note [Strategy phases]
// A strategy is asked what trains per epoch, not once: LP-FT (train the head first, then
// everything) and gradual unfreezing change trainability at an epoch boundary. The Trainer
// calls set_trainable(model, first epoch) before the gradient buckets and the optimizer are
// built (invariant 1: they hold trainable parameters only), set_modes(model, epoch) at the
// start of every epoch, and asks trainable_changes_at(epoch) at every later epoch boundary;
// a strategy that answers true needs the buckets and optimizer groups rebuilt on every rank
// at that same step, which the Trainer does not do yet (it refuses such a strategy), since no
// strategy here changes.
//
// Every method is called on the training thread, with the same arguments on every rank.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "frost/train/config.h"

namespace frost::models {
class ClassifierImpl;
}

namespace frost::train {

class Strategy {
 public:
  virtual ~Strategy() = default;

  /// The train.strategy text ("full", "head"), as in metrics.jsonl and the logs.
  virtual const char* name() const = 0;

  /// Sets requires_grad of `model`'s parameters to what trains in `epoch` (0-based). A
  /// parameter the model itself keeps frozen (BERT's pooler under mean pooling) stays frozen.
  virtual void set_trainable(models::ClassifierImpl& model, int64_t epoch) const = 0;

  /// True when what trains in `epoch` (>= 1) differs from epoch - 1 (Note [Strategy phases]).
  virtual bool trainable_changes_at(int64_t /*epoch*/) const { return false; }

  /// True when the backbone does not train in `epoch`: it is in eval mode and gets no
  /// gradient, so its buffers cannot drift apart between ranks and its BatchNorm layers never
  /// normalise a training micro-batch.
  virtual bool backbone_frozen(int64_t epoch) const = 0;

  /// Sets train/eval modes for training in `epoch` (invariant 6 for a frozen backbone).
  virtual void set_modes(models::ClassifierImpl& model, int64_t epoch) const = 0;

  /// Logits [B, num_classes] float32 of one micro-batch. `inputs` and `attention_mask` are
  /// those of train::Batch (the cached head: features [B, D] float32, no mask). Autograd
  /// records what trains; call it between GradReducer::prepare_step and finalize.
  virtual at::Tensor forward(models::ClassifierImpl& model, const at::Tensor& inputs,
                             const at::Tensor& attention_mask) const = 0;
};

/// The parameters of `model` that require grad, in registration order (parameters()), the
/// order of the optimizer's group.
std::vector<at::Tensor> trainable_parameters(models::ClassifierImpl& model);

/// The strategy of `train`: full, head, or head on cached features (train.feature_cache is
/// not off; validated to go with head only).
std::unique_ptr<Strategy> make_strategy(const TrainConfig& train);

}  // namespace frost::train
