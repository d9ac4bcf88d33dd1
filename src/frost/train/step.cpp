#include "frost/train/step.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "frost/comm/communicator.h"
#include "frost/core/error.h"
#include "frost/models/models.h"
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
  return o;
}

StepStats train_step(const StepContext& ctx, const Batch& batch, double lr, int64_t step,
                     int64_t epoch) {
  StepStats st;
  for (auto& group : ctx.optimizer.param_groups()) group.options().set_lr(lr);
  const bool skip_mode = ctx.options.nonfinite_loss == NonfiniteLoss::kSkip;
  // Gradient accumulation (Note [Micro-batches] in grad_reducer.h): each loss is weighted by
  // its share of the step's rows, so the summed gradient is that of the rank's mean loss.
  const int64_t step_rows = batch.labels.size(0);
  const int64_t micro_rows = ctx.options.micro_batch_rows;
  const int64_t micro_batches = (step_rows + micro_rows - 1) / micro_rows;
  st.rows = step_rows;
  st.micro_batches = micro_batches;
  ctx.reducer.prepare_step(micro_batches);
  bool local_nonfinite = false;
  for (int64_t j = 0; j < micro_batches; ++j) {
    if (j > 0) ctx.reducer.next_micro_batch();
    const int64_t begin = j * micro_rows, rows = std::min(micro_rows, step_rows - begin);
    const Batch mb = micro_batches == 1 ? batch : micro_batch(batch, begin, rows);
    const auto t_forward = Clock::now();
    torch::Tensor logits;
    {
      const AutocastScope autocast(ctx.options.precision, mb.inputs.device().type());
      logits = ctx.strategy.forward(ctx.model, mb.inputs, mb.attention_mask);
    }
    auto loss = torch::nn::functional::cross_entropy(logits.to(torch::kFloat), mb.labels);
    const double share = static_cast<double>(rows) / static_cast<double>(step_rows);
    const double micro_loss = loss.item<double>();
    st.loss += micro_batches == 1 ? micro_loss : micro_loss * share;
    if (!std::isfinite(micro_loss)) {
      FROST_CHECK(
          skip_mode, "loss is ", micro_loss, " at step ", step, " (epoch ", epoch,
          "): lower optim.lr or check the data for NaN/Inf (or set train.nonfinite_loss = skip)");
      local_nonfinite = true;
    }
    if (skip_mode && j + 1 == micro_batches) {
      // Every rank must take the same decision (invariant 2), before the last backward
      // launches any bucket: one tiny all-reduce of the count of ranks with a non-finite loss.
      auto bad = torch::tensor({local_nonfinite ? 1 : 0}, torch::kInt);
      ctx.comm.all_reduce(bad, comm::ReduceOp::kSum);
      st.nonfinite_ranks = bad.item<int>();
      if (st.nonfinite_ranks > 0) {
        ctx.reducer.cancel_step();
        st.skipped = true;
        return st;
      }
    }
    st.forward_s += seconds_since(t_forward);
    if (local_nonfinite) continue;  // skip mode: this rank's step is skipped below anyway
    const auto t_backward = Clock::now();
    const double loss_factor = (micro_batches == 1 ? 1.0 : share) *
                               (ctx.scaler != nullptr ? ctx.scaler->scale() : 1.0);
    (loss_factor == 1.0 ? loss : loss * loss_factor).backward();
    st.backward_s += seconds_since(t_backward);
  }
  ctx.reducer.finalize();
  const auto t_optimizer = Clock::now();
  if (ctx.scaler != nullptr) {
    st.loss_scale = ctx.scaler->scale();
    std::vector<torch::Tensor> grads;
    for (const auto& group : ctx.optimizer.param_groups()) {
      for (const auto& p : group.params()) grads.push_back(p.grad());
    }
    if (!ctx.scaler->unscale_and_update(grads)) {
      st.overflow = true;
      st.optimizer_s = seconds_since(t_optimizer);
      st.reduce = ctx.reducer.last_step();
      return st;
    }
  }
  if (ctx.options.grad_clip > 0) {
    std::vector<torch::Tensor> trainable;
    for (const auto& group : ctx.optimizer.param_groups()) {
      trainable.insert(trainable.end(), group.params().begin(), group.params().end());
    }
    torch::nn::utils::clip_grad_norm_(trainable, ctx.options.grad_clip);
  }
  ctx.optimizer.step();
  st.optimizer_s = seconds_since(t_optimizer);
  st.reduce = ctx.reducer.last_step();
  return st;
}

Batch micro_batch(const Batch& batch, int64_t begin, int64_t rows) {
  Batch mb;
  mb.inputs = batch.inputs.narrow(0, begin, rows);
  mb.labels = batch.labels.narrow(0, begin, rows);
  mb.indices.assign(batch.indices.begin() + begin, batch.indices.begin() + begin + rows);
  if (batch.attention_mask.defined()) {
    mb.attention_mask = batch.attention_mask.narrow(0, begin, rows);
    auto used = mb.attention_mask.ne(0).any(0).nonzero();
    const int64_t width = used.numel() == 0 ? 1 : used.max().item<int64_t>() + 1;
    mb.inputs = mb.inputs.narrow(1, 0, width);
    mb.attention_mask = mb.attention_mask.narrow(1, 0, width);
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
