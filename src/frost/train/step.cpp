#include "frost/train/step.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "frost/comm/communicator.h"
#include "frost/core/error.h"
#include "frost/models/models.h"
#include "frost/train/device_stats.h"
#include "frost/train/optimizer.h"
#include "frost/train/precision.h"
#include "frost/train/strategy.h"

namespace frost::train {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

StepOptions StepOptions::from(const Config& cfg) {
  StepOptions o;
  o.micro_batch_rows = cfg.data.batch_size;
  o.grad_clip = cfg.optim.grad_clip;
  o.nonfinite_loss = cfg.train.nonfinite_loss;
  o.precision = cfg.train.precision;
  o.label_smoothing = cfg.optim.label_smoothing;
  o.task = cfg.train.task;
  return o;
}

StepStats train_step(const StepContext& ctx, const Batch& batch, double lr) {
  StepStats st;
  set_learning_rate(ctx.optimizer, lr);  // x each group's lr_scale (Note [Parameter groups])
  const bool skip_mode = ctx.options.nonfinite_loss == NonfiniteLoss::kSkip;
  // Gradient accumulation (Note [Micro-batches] in grad_reducer.h): each loss is weighted by
  // its share of the step's rows, so the summed gradient is that of the rank's mean loss.
  const int64_t step_rows = batch.rows();
  const int64_t micro_rows = ctx.options.micro_batch_rows;
  const int64_t micro_batches = (step_rows + micro_rows - 1) / micro_rows;
  st.rows = step_rows;
  st.micro_batches = micro_batches;
  ctx.reducer.prepare_step(micro_batches);
  // Note [Step timing on a GPU]: events on the compute stream; host clocks on the CPU.
  const c10::Device device = batch.inputs.device();
  if (device.is_cuda()) {
    st.events = std::make_shared<StepEvents>(device);
    st.device_timed = true;
  }
  StepEvents* ev = st.events.get();
  // Note [One synchronisation per logged step]: the loss stays on the device; nothing below
  // reads a tensor on the host except the skip-mode agreement.
  at::Tensor loss_sum, nonfinite;  // float64 0-dim; bool 0-dim (skip mode): on the batch's device
  for (int64_t j = 0; j < micro_batches; ++j) {
    if (j > 0) ctx.reducer.next_micro_batch();
    const int64_t begin = j * micro_rows, rows = std::min(micro_rows, step_rows - begin);
    const Batch mb = micro_batches == 1 ? batch : micro_batch(batch, begin, rows);
    const auto t_forward = Clock::now();
    if (ev) ev->forward.start();
    torch::Tensor logits;
    {
      const AutocastScope autocast(ctx.options.precision, mb.inputs.device().type());
      logits = ctx.strategy.forward(ctx.model, mb.inputs, mb.attention_mask, mb.token_type_ids);
    }
    auto loss = ctx.options.task == data::Task::kClassification
                    ? training_loss(logits.to(torch::kFloat), mb.labels,
                                    ctx.options.label_smoothing)
                    : task_loss(ctx.options.task, logits.to(torch::kFloat), mb.targets);
    const double share = static_cast<double>(rows) / static_cast<double>(step_rows);
    {
      torch::NoGradGuard no_grad;
      const at::Tensor weighted =
          micro_batches == 1 ? loss.detach().to(torch::kDouble)
                             : loss.detach().to(torch::kDouble) * share;
      loss_sum = loss_sum.defined() ? loss_sum + weighted : weighted;
      if (skip_mode) {
        const at::Tensor bad = torch::isfinite(loss.detach()).logical_not();
        nonfinite = nonfinite.defined() ? nonfinite.logical_or(bad) : bad;
      }
    }
    if (ev) ev->forward.stop();
    if (skip_mode && j + 1 == micro_batches) {
      // Every rank must take the same decision (invariant 2), before the last backward
      // launches any bucket: one tiny all-reduce of the count of ranks with a non-finite loss.
      // This is skip mode's one host synchronisation per step.
      auto bad = nonfinite.to(torch::kCPU, torch::kInt).reshape({1});
      ctx.comm.all_reduce(bad, comm::ReduceOp::kSum);
      st.nonfinite_ranks = bad.item<int>();
      if (st.nonfinite_ranks > 0) {
        ctx.reducer.cancel_step();
        st.skipped = true;
        st.loss_t = loss_sum;
        return st;
      }
    }
    st.forward_s += seconds_since(t_forward);
    const auto t_backward = Clock::now();
    if (ev) ev->backward.start();
    const double loss_factor = (micro_batches == 1 ? 1.0 : share) *
                               (ctx.scaler != nullptr ? ctx.scaler->scale() : 1.0);
    (loss_factor == 1.0 ? loss : loss * loss_factor).backward();
    if (ev) ev->backward.stop();
    st.backward_s += seconds_since(t_backward);
  }
  st.loss_t = loss_sum;
  if (ev) ev->comm_wait.start();
  ctx.reducer.finalize();
  if (ev) ev->comm_wait.stop();
  const auto t_optimizer = Clock::now();
  if (ev) ev->optimizer.start();
  if (ctx.scaler != nullptr) {
    st.loss_scale = ctx.scaler->scale();
    std::vector<torch::Tensor> grads;
    for (const auto& group : ctx.optimizer.param_groups()) {
      for (const auto& p : group.params()) grads.push_back(p.grad());
    }
    if (!ctx.scaler->unscale_and_update(grads)) {
      st.overflow = true;
      if (ev) ev->optimizer.stop();
      st.optimizer_s = seconds_since(t_optimizer);
      st.reduce = ctx.reducer.last_step();
      st.comm_wait_s = st.reduce.wait_s;
      return st;
    }
  }
  if (ctx.options.grad_clip > 0) {
    std::vector<torch::Tensor> grads;
    for (const auto& group : ctx.optimizer.param_groups()) {
      for (const auto& p : group.params()) {
        if (p.grad().defined()) grads.push_back(p.grad());
      }
    }
    clip_grad_norm(grads, ctx.options.grad_clip);
  }
  ctx.optimizer.step();
  if (ev) ev->optimizer.stop();
  st.optimizer_s = seconds_since(t_optimizer);
  st.reduce = ctx.reducer.last_step();
  st.comm_wait_s = st.reduce.wait_s;  // host clock; the events' time replaces it on a GPU
  return st;
}

at::Tensor training_loss(const at::Tensor& logits, const at::Tensor& labels,
                         double label_smoothing) {
  namespace F = torch::nn::functional;
  if (label_smoothing == 0.0) return F::cross_entropy(logits, labels);
  return F::cross_entropy(logits, labels,
                          F::CrossEntropyFuncOptions().label_smoothing(label_smoothing));
}

at::Tensor task_loss(data::Task task, const at::Tensor& outputs, const at::Tensor& targets) {
  namespace F = torch::nn::functional;
  FROST_CHECK(targets.defined() && outputs.sizes() == targets.sizes(), "the model has ",
              outputs.dim() == 2 ? outputs.size(1) : -1, " outputs per sample but the data ",
              targets.defined() && targets.dim() == 2 ? targets.size(1) : -1,
              " targets; model.num_classes must be the data's K");
  switch (task) {
    case data::Task::kMultilabel: return F::binary_cross_entropy_with_logits(outputs, targets);
    case data::Task::kRegression: return F::mse_loss(outputs, targets);
    case data::Task::kClassification: break;
  }
  FROST_ASSERT(false, "task_loss: classification uses training_loss");
  return {};
}

void clip_grad_norm(const std::vector<at::Tensor>& grads, double max_norm) {
  if (grads.empty()) return;
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> norms;
  if (grads.front().is_cuda()) {
    norms = at::_foreach_norm(grads, 2.0);  // as PyTorch's clip_grad_norm_ (foreach on CUDA)
  } else {
    for (const auto& g : grads) norms.push_back(g.norm(2.0));
  }
  const at::Tensor total = norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2.0);
  const at::Tensor coef = (max_norm / (total + 1e-6)).clamp_max(1.0);
  for (const auto& g : grads) g.mul_(coef.to(g.device()));
}

Batch micro_batch(const Batch& batch, int64_t begin, int64_t rows) {
  Batch mb;
  mb.inputs = batch.inputs.narrow(0, begin, rows);
  if (batch.labels.defined()) mb.labels = batch.labels.narrow(0, begin, rows);
  if (batch.targets.defined()) mb.targets = batch.targets.narrow(0, begin, rows);
  mb.indices.assign(batch.indices.begin() + begin, batch.indices.begin() + begin + rows);
  if (batch.attention_mask.defined()) {
    mb.attention_mask = batch.attention_mask.narrow(0, begin, rows);
    int64_t width = 1;
    if (!batch.row_widths.empty()) {  // from the host: nothing read back from the device
      FROST_ASSERT(static_cast<int64_t>(batch.row_widths.size()) == batch.rows(),
                   "Batch::row_widths has ", batch.row_widths.size(), " rows, the batch ",
                   batch.rows());
      for (int64_t r = begin; r < begin + rows; ++r)
        width = std::max(width, batch.row_widths[static_cast<size_t>(r)]);
      mb.row_widths.assign(batch.row_widths.begin() + begin,
                           batch.row_widths.begin() + begin + rows);
    } else {
      auto used = mb.attention_mask.ne(0).any(0).nonzero();
      width = used.numel() == 0 ? 1 : used.max().item<int64_t>() + 1;
    }
    mb.inputs = mb.inputs.narrow(1, 0, width);
    mb.attention_mask = mb.attention_mask.narrow(1, 0, width);
    if (batch.token_type_ids.defined())
      mb.token_type_ids = batch.token_type_ids.narrow(0, begin, rows).narrow(1, 0, width);
  }
  return mb;
}

void check_finite_inputs(const Batch& batch, const std::string& source) {
  if (!batch.inputs.is_floating_point()) return;
  auto bad = torch::isfinite(batch.inputs).reshape({batch.inputs.size(0), -1}).all(1).logical_not();
  if (!bad.any().item<bool>()) return;
  const int64_t row = bad.nonzero()[0][0].item<int64_t>();
  Error e(detail::str_cat("sample ", batch.indices.at(row),
                          " has a non-finite input (NaN or Inf); clean the data"));
  e.add_context(source);
  throw e;
}

}  // namespace frost::train
