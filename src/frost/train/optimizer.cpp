#include "frost/train/optimizer.h"

#include <torch/torch.h>

#include <cmath>
#include <map>

#include "frost/core/error.h"

namespace frost::train {
namespace {

// The parameters of `group` that have a gradient, with their gradients (Note [Multi-tensor
// optimizer step]: parameters without one are skipped, as LibTorch's step() does).
struct WithGrad {
  std::vector<at::Tensor> params, grads;
};
WithGrad with_grad(torch::optim::OptimizerParamGroup& group) {
  WithGrad w;
  for (auto& p : group.params()) {
    if (!p.grad().defined()) continue;
    w.params.push_back(p);
    w.grads.push_back(p.grad());
  }
  return w;
}

// Whether a group on `params`' device takes the fused kernels (OptimizerImpl).
bool use_fused(OptimizerImpl impl, const at::Tensor& param) {
  return impl == OptimizerImpl::kFused || (impl == OptimizerImpl::kAuto && param.is_cuda());
}

class MultiTensorSgd final : public torch::optim::SGD {
 public:
  MultiTensorSgd(const std::vector<at::Tensor>& params, const torch::optim::SGDOptions& options,
                 OptimizerImpl impl)
      : torch::optim::SGD(params, options), impl_(impl) {}

  torch::Tensor step(LossClosure closure = nullptr) override {
    FROST_CHECK(!closure, "frost's SGD takes no closure");
    torch::NoGradGuard no_grad;
    for (auto& group : param_groups_) {
      const auto& o = static_cast<const torch::optim::SGDOptions&>(group.options());
      WithGrad w = with_grad(group);
      if (w.params.empty()) continue;
      // Momentum buffers: LibTorch creates a parameter's buffer at its first step with a
      // gradient (a clone of d_p, below); until then it has none. `fresh[i]`: parameter i
      // gets its buffer at this step.
      std::vector<at::Tensor> bufs(w.params.size());
      std::vector<bool> fresh(w.params.size(), false);
      if (o.momentum() != 0) {
        for (size_t i = 0; i < w.params.size(); ++i) {
          auto it = state_.find(w.params[i].unsafeGetTensorImpl());
          if (it == state_.end()) {
            fresh[i] = true;
          } else {
            bufs[i] = static_cast<torch::optim::SGDParamState&>(*it->second).momentum_buffer();
          }
        }
      }
      if (use_fused(impl_, w.params.front())) {
        // The fused kernel takes one first-step flag for all its tensors: one call for the
        // parameters that get their buffer now, one for the rest.
        for (const bool first : {true, false}) {
          std::vector<at::Tensor> p, g, b;
          for (size_t i = 0; i < w.params.size(); ++i) {
            if (fresh[i] != first) continue;
            if (first) bufs[i] = at::empty_like(w.params[i]);
            p.push_back(w.params[i]);
            g.push_back(w.grads[i]);
            if (o.momentum() != 0) b.push_back(bufs[i]);
          }
          if (p.empty()) continue;
          at::_fused_sgd_(p, g, b, o.weight_decay(), o.momentum(), o.lr(), o.dampening(),
                          o.nesterov(), /*maximize=*/false, /*is_first_step=*/first);
        }
      } else {
        // LibTorch's SGD::step, one operation at a time over the whole group.
        std::vector<at::Tensor> d_p =
            o.weight_decay() != 0 ? at::_foreach_add(w.grads, w.params, o.weight_decay())
                                  : w.grads;
        if (o.momentum() != 0) {
          std::vector<at::Tensor> old_bufs, old_d_p;
          for (size_t i = 0; i < w.params.size(); ++i) {
            if (fresh[i]) {
              bufs[i] = torch::clone(d_p[i]).detach();
            } else {
              old_bufs.push_back(bufs[i]);
              old_d_p.push_back(d_p[i]);
            }
          }
          if (!old_bufs.empty()) {
            at::_foreach_mul_(old_bufs, o.momentum());
            at::_foreach_add_(old_bufs, old_d_p, 1 - o.dampening());
          }
          d_p = o.nesterov() ? at::_foreach_add(d_p, bufs, o.momentum()) : bufs;
        }
        at::_foreach_add_(w.params, d_p, -1 * o.lr());
      }
      for (size_t i = 0; i < w.params.size(); ++i) {
        if (!fresh[i]) continue;
        auto state = std::make_unique<torch::optim::SGDParamState>();
        state->momentum_buffer(bufs[i]);
        state_[w.params[i].unsafeGetTensorImpl()] = std::move(state);
      }
    }
    return {};
  }

 private:
  OptimizerImpl impl_;
};

class MultiTensorAdamW final : public torch::optim::AdamW {
 public:
  MultiTensorAdamW(const std::vector<at::Tensor>& params,
                   const torch::optim::AdamWOptions& options, OptimizerImpl impl)
      : torch::optim::AdamW(params, options), impl_(impl) {}

  torch::Tensor step(LossClosure closure = nullptr) override {
    FROST_CHECK(!closure, "frost's AdamW takes no closure");
    torch::NoGradGuard no_grad;
    for (size_t g = 0; g < param_groups_.size(); ++g) {
      auto& group = param_groups_[g];
      const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
      FROST_ASSERT(!o.amsgrad(), "amsgrad is not supported");
      WithGrad w = with_grad(group);
      if (w.params.empty()) continue;
      const auto [beta1, beta2] = o.betas();
      // State as LibTorch's AdamW: created at a parameter's first step with a gradient.
      // Parameters are grouped by their step count (all equal, unless some parameter had no
      // gradient at some step), since the bias corrections depend on it.
      std::map<int64_t, std::vector<size_t>> by_step;
      std::vector<torch::optim::AdamWParamState*> states;
      for (size_t i = 0; i < w.params.size(); ++i) {
        auto key = w.params[i].unsafeGetTensorImpl();
        if (state_.find(key) == state_.end()) {
          auto state = std::make_unique<torch::optim::AdamWParamState>();
          state->step(0);
          state->exp_avg(torch::zeros_like(w.params[i], torch::MemoryFormat::Preserve));
          state->exp_avg_sq(torch::zeros_like(w.params[i], torch::MemoryFormat::Preserve));
          state_[key] = std::move(state);
        }
        auto* s = static_cast<torch::optim::AdamWParamState*>(state_.at(key).get());
        s->step(s->step() + 1);
        states.push_back(s);
        by_step[s->step()].push_back(i);
      }
      for (const auto& [step, idx] : by_step) {
        std::vector<at::Tensor> p, grad, m, v;
        for (size_t i : idx) {
          p.push_back(w.params[i]);
          grad.push_back(w.grads[i]);
          m.push_back(states[i]->exp_avg());
          v.push_back(states[i]->exp_avg_sq());
        }
        if (use_fused(impl_, p.front())) {
          at::Tensor& step_t = step_tensor(g, p.front());
          step_t.fill_(static_cast<double>(step));
          const std::vector<at::Tensor> steps(p.size(), step_t);
          at::_fused_adamw_(p, grad, m, v, /*max_exp_avg_sqs=*/{}, steps, o.lr(), beta1, beta2,
                            o.weight_decay(), o.eps(), /*amsgrad=*/false, /*maximize=*/false);
          continue;
        }
        // LibTorch's AdamW::step, one operation at a time over the parameters of this step.
        if (o.weight_decay() != 0) at::_foreach_mul_(p, 1 - o.lr() * o.weight_decay());
        const double bias_correction1 = 1 - std::pow(beta1, step);
        const double bias_correction2 = 1 - std::pow(beta2, step);
        at::_foreach_mul_(m, beta1);
        at::_foreach_add_(m, grad, 1 - beta1);
        at::_foreach_mul_(v, beta2);
        at::_foreach_addcmul_(v, grad, grad, 1 - beta2);
        std::vector<at::Tensor> denom = at::_foreach_sqrt(v);
        at::_foreach_div_(denom, std::sqrt(bias_correction2));
        at::_foreach_add_(denom, o.eps());
        at::_foreach_addcdiv_(p, m, denom, -(o.lr() / bias_correction1));
      }
    }
    return {};
  }

 private:
  // Group g's float32 step tensor on the parameters' device (the fused kernel's state_steps).
  at::Tensor& step_tensor(size_t g, const at::Tensor& like) {
    if (step_tensors_.size() <= g) step_tensors_.resize(g + 1);
    at::Tensor& t = step_tensors_[g];
    if (!t.defined() || t.device() != like.device())
      t = at::zeros({}, like.options().dtype(at::kFloat));
    return t;
  }
  OptimizerImpl impl_;
  std::vector<at::Tensor> step_tensors_;
};

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimConfig& o,
                                                        const std::vector<at::Tensor>& trainable,
                                                        OptimizerImpl impl) {
  switch (o.name) {
    case OptimizerKind::kSgd:
      return std::make_unique<MultiTensorSgd>(trainable, torch::optim::SGDOptions(o.lr)
                                                             .momentum(o.momentum)
                                                             .nesterov(o.nesterov)
                                                             .weight_decay(o.weight_decay),
                                            impl);
    case OptimizerKind::kAdamW:
      return std::make_unique<MultiTensorAdamW>(trainable, torch::optim::AdamWOptions(o.lr)
                                                               .betas({o.beta1, o.beta2})
                                                               .eps(o.eps)
                                                               .weight_decay(o.weight_decay),
                                              impl);
  }
  return nullptr;  // unreachable: every OptimizerKind is handled above
}

}  // namespace frost::train
