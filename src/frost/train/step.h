// train_step: one optimizer step of data-parallel training, the unit the Trainer's epoch loop
// repeats (after llm.c's training section: next batch -> forward -> backward + reduce ->
// update):
//
//   set the learning rate -> GradReducer::prepare_step(K)
//   -> for each of the K micro-batches (Note [Micro-batches] in grad_reducer.h):
//        strategy forward -> cross-entropy -> [skip mode: agree on a non-finite loss]
//        -> backward (the reducer's hooks fill the buckets; the last micro-batch launches them)
//   -> GradReducer::finalize (all-reduced mean gradients in .grad) -> clip -> optimizer step
//
// Contract
// * Collective: every rank calls train_step for the same step, in the same order, with the
//   same number of rows (the TrainSampler deals equal shares), the same options and the same
//   model structure, strategy, reducer and optimizer (invariant 2). Micro-batch count,
//   non-finite agreement and bucket launches are then identical everywhere.
// * batch: this rank's rows of the step (train::Batch in loader.h): inputs float32 [B, ...] or
//   int64 token ids [B, L] with an optional uint8 attention_mask [B, L], or cached features
//   float32 [B, D] for the cached head; labels int64 [B] in [0, num_classes) (classification;
//   multilabel and regression: targets float32 [B, K], Note [Tasks]); indices: the B
//   global sample indices (carried into the micro-batches, used in no computation); B >= 1;
//   on the model's device (Batch::to). The rows are split into ceil(B / micro_batch_rows)
//   micro-batches of micro_batch_rows rows (the last may be shorter); each micro-batch's loss is weighted by
//   its share of the B rows, so the gradient is that of this rank's mean loss, and the
//   reducer's average over ranks makes it the global per-sample mean (invariant 4).
// * Called on the training thread (GradReducer's thread contract).
// * No Optimizer::zero_grad(): the reducer owns .grad() of the trainable parameters (Note
//   [Gradients in bucket memory] in grad_reducer.cpp).
// * No host synchronisation (Note [One synchronisation per logged step]): the loss is returned
//   as a tensor on the batch's device (StepStats::loss_t) and its value is read by the caller
//   once per logged step (PendingSteps in metrics.h), which is also where
//   train.nonfinite_loss = stop ends the run ("loss is nan at step S (epoch E): ..."). Two
//   settings need the host inside the step, once per step: train.nonfinite_loss = skip (every
//   rank must agree before the last backward whether to skip: a non-finite loss on any rank
//   skips the step on every rank: no backward after it, no gradient all-reduce, no update,
//   StepStats::skipped) and train.precision = fp16 (the optimizer step is taken or skipped on
//   the all-reduced gradients' overflow, as PyTorch's GradScaler does).
// * Throws frost::TimeoutError when a peer does not join a collective within the
//   communicator's timeout.
//
// Note [One synchronisation per logged step]
// On a GPU, everything train_step launches is queued on the device's current stream and the
// host runs ahead; reading a tensor on the host (.item(), .cpu()) stops the host until the
// device has caught up, so the host can no longer queue the next step while the device works
// on this one. Frost reads nothing in the step path: the per-step loss stays a 0-dim tensor on
// the device, and the Trainer reads the losses of all steps since the last read in one copy
// at each logged step (log.every), before a checkpoint, and at the end of an epoch. That is
// also when a non-finite loss is found (train.nonfinite_loss = stop), naming its step; the
// steps queued after it have run on poisoned weights by then, which is why no checkpoint is
// written before the read. On the CPU nothing runs ahead, so the Trainer reads after every
// step and the timings per step are exact; on a GPU the step times between two reads are
// their window's wall time shared equally (host times otherwise measure queueing, not work).
// Also free of reads: gradient clipping (clip_grad_norm keeps the norm on the device, unlike
// LibTorch's clip_grad_norm_, which returns a double) and micro-batch widths (taken from the
// host-side Batch::row_widths).
// The per-step times of forward, backward, comm wait and optimizer are host clocks on the CPU
// and, on a GPU, come from timing events on the compute stream, resolved by that same read
// (Note [Step timing on a GPU] in device_stats.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include <memory>

#include "frost/distributed/grad_reducer.h"
#include "frost/train/config.h"
#include "frost/train/loader.h"

namespace torch::optim {
class Optimizer;
}
namespace frost::comm {
class Communicator;
}
namespace frost::models {
class ClassifierImpl;
}

namespace frost::train {

class Strategy;
class LossScaler;
struct StepEvents;

/// Settings of every step of a run.
struct StepOptions {
  int64_t micro_batch_rows = 64;  ///< rows per micro-batch (data.batch_size), >= 1
  double grad_clip = 0.0;         ///< max global gradient L2 norm (optim.grad_clip); 0 = off
  NonfiniteLoss nonfinite_loss = NonfiniteLoss::kStop;  ///< train.nonfinite_loss
  Precision precision = Precision::kFp32;  ///< train.precision: autocast of the forward
  double label_smoothing = 0.0;  ///< optim.label_smoothing of the training loss (0 = off)
  data::Task task = data::Task::kClassification;  ///< train.task: the loss (Note [Tasks])

  /// The options of `cfg` (data.batch_size, optim.grad_clip, train.nonfinite_loss,
  /// train.precision, optim.label_smoothing, train.task).
  static StepOptions from(const Config& cfg);
};

/// What a step works on. The referenced objects outlive the call; the optimizer holds the
/// trainable parameters (the reducer's), in one or more groups.
struct StepContext {
  models::ClassifierImpl& model;
  const Strategy& strategy;
  distributed::GradReducer& reducer;
  torch::optim::Optimizer& optimizer;
  comm::Communicator& comm;
  StepOptions options;
  /// fp16 only (else null): scales the loss, unscales the all-reduced gradients and skips the
  /// optimizer step on an overflow (Note [Mixed precision] in precision.h).
  LossScaler* scaler = nullptr;
};

/// What one step did on this rank.
struct StepStats {
  /// True when a non-finite loss on some rank made every rank skip the step (skip mode):
  /// nothing was updated; loss and timings are then incomplete.
  bool skipped = false;
  int nonfinite_ranks = 0;  ///< ranks that saw a non-finite loss (skip mode; else 0)
  /// fp16: the gradients overflowed at this loss scale; the optimizer step was skipped on every
  /// rank (the all-reduce and the statistics happened).
  bool overflow = false;
  double loss_scale = 0.0;  ///< fp16: the loss scale this step used; 0 otherwise
  /// This rank's mean training loss (training_loss: cross-entropy, label-smoothed when
  /// optim.label_smoothing > 0) over its rows: float64 0-dim on the batch's device (read by
  /// the caller, Note [One synchronisation per logged step]); it may be NaN or Inf. Undefined
  /// only if train_step threw.
  at::Tensor loss_t;
  double loss = 0.0;  ///< loss_t's value, once the caller has read it (PendingSteps); else 0
  int64_t rows = 0;         ///< this rank's rows (B)
  int64_t micro_batches = 0;
  // Times of the step's parts: host clocks; on a CUDA device PendingSteps::read replaces them
  // with the device's times from `events` when it reads the loss (device_timed).
  double forward_s = 0.0;    ///< forward and loss of every micro-batch
  double backward_s = 0.0;   ///< backward of every micro-batch (hooks and launches included)
  double comm_wait_s = 0.0;  ///< finalize waiting for the all-reduces (CPU: reduce.wait_s)
  double optimizer_s = 0.0;  ///< clipping and the optimizer step
  /// CUDA device: the step's timing events (Note [Step timing on a GPU] in device_stats.h),
  /// resolved into the times above and released by PendingSteps::read; null on the CPU.
  std::shared_ptr<StepEvents> events;
  /// True when the times above are the device's (timing events), false for host clocks.
  bool device_timed = false;
  distributed::ReduceStats reduce;  ///< the reducer's statistics of this step (zero if skipped)
};

/// Runs one optimizer step on `batch` at learning rate `lr` (each param group gets lr x its
/// lr_scale: set_learning_rate in optimizer.h) per the contract above.
StepStats train_step(const StepContext& ctx, const Batch& batch, double lr);

/// The training loss of a micro-batch: mean cross-entropy of `logits` (float32 [B, C]) against
/// `labels` (int64 [B]), with label smoothing eps in [0, 1) as PyTorch's
/// F.cross_entropy(label_smoothing=eps) (Szegedy et al. 2016): (1 - eps) x NLL(label) +
/// eps x mean over the C classes of -log p_c. Training only: evaluation reports plain
/// cross-entropy (as PyTorch's and timm's reference scripts), so eval losses stay comparable
/// across smoothing settings; the logged train loss is the smoothed loss that is optimized.
/// Returns a float32 0-dim tensor on the logits' device.
at::Tensor training_loss(const at::Tensor& logits, const at::Tensor& labels,
                         double label_smoothing);

/// Note [Tasks]
/// The loss of train.task on a micro-batch, as PyTorch computes it (float32 0-dim on the
/// outputs' device): classification training_loss above; multilabel
/// F.binary_cross_entropy_with_logits(outputs, targets) (the numerically stable
/// max(x, 0) - x y + log(1 + exp(-|x|)), mean over B x K); regression F.mse_loss(outputs,
/// targets) (mean over B x K). outputs and targets float32 [B, K] (Batch::targets). Each is a
/// mean over the micro-batch's rows (and K), so gradient accumulation's weighting by the
/// rows' share and the fp16 loss scale (both multiply the loss) apply unchanged. Throws
/// frost::Error when the shapes differ (the head's K is not the data's K); not for
/// classification.
at::Tensor task_loss(data::Task task, const at::Tensor& outputs, const at::Tensor& targets);

/// Scales `grads` (the trainable parameters' gradients, defined, on one device) in place so
/// that their global L2 norm is at most `max_norm`: coef = min(1, max_norm / (norm + 1e-6)),
/// the formula of PyTorch's torch.nn.utils.clip_grad_norm_ (per-gradient norms, foreach on
/// CUDA as PyTorch does), without reading the norm on the host.
void clip_grad_norm(const std::vector<at::Tensor>& grads, double max_norm);

/// Rows [begin, begin + rows) of `batch` as one micro-batch (views, no copy). Token inputs
/// are cut to the micro-batch's own width, as the loader cuts whole batches (Note [Dynamic
/// padding] in loader.h).
Batch micro_batch(const Batch& batch, int64_t begin, int64_t rows);

/// Throws frost::Error "<source>: sample I has a non-finite input (NaN or Inf); clean the data"
/// (source as context, e.g. "data.train FILE") when a float batch read from a file holds NaN
/// or Inf: it would silently poison the loss or the evaluation. Integer inputs pass.
void check_finite_inputs(const Batch& batch, const std::string& source);

}  // namespace frost::train
