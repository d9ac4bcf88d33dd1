#include "frost/train/optimizer.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <utility>

#include "frost/core/error.h"
#include "frost/models/blocks.h"
#include "frost/models/models.h"

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

// The learning-rate multipliers of make_optimizer's groups (Note [Parameter groups]), beside
// LibTorch's group options (which a checkpoint's archive overwrites).
class GroupLrScales {
 public:
  explicit GroupLrScales(std::vector<double> scales) : lr_scales(std::move(scales)) {}
  virtual ~GroupLrScales() = default;
  const std::vector<double> lr_scales;
};

// LibTorch's groups for `groups`: each with its own options (rate optim.lr x lr_scale, weight
// decay), copied from `defaults`.
template <typename Options>
std::vector<torch::optim::OptimizerParamGroup> torch_groups(const std::vector<ParamGroup>& groups,
                                                            const Options& defaults) {
  std::vector<torch::optim::OptimizerParamGroup> out;
  for (const auto& g : groups) {
    auto options = std::make_unique<Options>(defaults);
    options->lr(defaults.lr() * g.lr_scale);
    options->weight_decay(g.weight_decay);
    out.emplace_back(g.params, std::move(options));
  }
  return out;
}

std::vector<double> lr_scales_of(const std::vector<ParamGroup>& groups) {
  std::vector<double> out;
  for (const auto& g : groups) out.push_back(g.lr_scale);
  return out;
}

class MultiTensorSgd final : public torch::optim::SGD, public GroupLrScales {
 public:
  MultiTensorSgd(const std::vector<ParamGroup>& groups, const torch::optim::SGDOptions& options,
                 OptimizerImpl impl)
      : torch::optim::SGD(torch_groups(groups, options), options),
        GroupLrScales(lr_scales_of(groups)),
        impl_(impl) {}

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

class MultiTensorAdamW final : public torch::optim::AdamW, public GroupLrScales {
 public:
  MultiTensorAdamW(const std::vector<ParamGroup>& groups,
                   const torch::optim::AdamWOptions& options, OptimizerImpl impl)
      : torch::optim::AdamW(torch_groups(groups, options), options),
        GroupLrScales(lr_scales_of(groups)),
        impl_(impl) {}

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

// The Classifier's parameters as plan_param_groups sees them, with the tensors.
std::vector<std::pair<ParamInfo, at::Tensor>> params_of(models::ClassifierImpl& model) {
  std::vector<std::pair<ParamInfo, at::Tensor>> out;
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    out.push_back({ParamInfo{item.key(), item.value().dim(), item.value().requires_grad()},
                   item.value()});
  }
  return out;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

std::string format_number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

std::vector<ParamGroupPlan> plan_param_groups(const OptimConfig& o,
                                              const std::vector<ParamInfo>& params) {
  const std::string backbone = "backbone.", head = "head.";
  // Layer ids (Note [Parameter groups]): backbone block i = i, the head = number of blocks.
  std::vector<std::string> backbone_names;
  for (const auto& p : params) {
    if (!starts_with(p.name, head)) {
      backbone_names.push_back(starts_with(p.name, backbone) ? p.name.substr(backbone.size())
                                                             : p.name);
    }
  }
  const std::vector<models::BackboneBlock> blocks = models::group_blocks(backbone_names);
  std::map<std::string, int64_t> layer_of;  // backbone name -> block index
  for (size_t b = 0; b < blocks.size(); ++b) {
    for (const auto& name : blocks[b].params) layer_of[name] = static_cast<int64_t>(b);
  }
  const auto num_layers = static_cast<int64_t>(blocks.size()) + 1;
  const bool exempt_bias = o.no_decay == NoDecay::kBias || o.no_decay == NoDecay::kBiasNorm;
  const bool exempt_norm = o.no_decay == NoDecay::kNorm || o.no_decay == NoDecay::kBiasNorm;
  const double head_scale = o.head_lr > 0 ? o.head_lr / o.lr : 1.0;

  std::vector<ParamGroupPlan> plan;
  for (const auto& p : params) {
    if (!p.trainable) continue;
    const bool in_head = starts_with(p.name, head);
    const std::string short_name =
        in_head ? p.name : starts_with(p.name, backbone) ? p.name.substr(backbone.size()) : p.name;
    const int64_t layer = in_head ? num_layers - 1 : layer_of.at(short_name);
    double lr_scale = o.layer_decay == 1.0
                          ? 1.0
                          : std::pow(o.layer_decay, static_cast<double>(num_layers - 1 - layer));
    if (in_head) lr_scale *= head_scale;
    const size_t dot = p.name.rfind('.');
    const std::string leaf = dot == std::string::npos ? p.name : p.name.substr(dot + 1);
    const bool is_bias = leaf == "bias";
    const bool no_decay = (exempt_bias && is_bias) || (exempt_norm && !is_bias && p.dim <= 1);
    const double weight_decay = no_decay ? 0.0 : o.weight_decay;
    auto it = std::find_if(plan.begin(), plan.end(), [&](const ParamGroupPlan& g) {
      return g.lr_scale == lr_scale && g.weight_decay == weight_decay;
    });
    if (it == plan.end()) {
      plan.push_back(ParamGroupPlan{{}, lr_scale, weight_decay});
      it = plan.end() - 1;
    }
    it->params.push_back(p.name);
  }
  return plan;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimConfig& o,
                                                        const std::vector<ParamGroup>& groups,
                                                        OptimizerImpl impl) {
  FROST_CHECK(!groups.empty(), "the optimizer has no parameter group");
  for (const auto& g : groups) {
    FROST_CHECK(!g.params.empty(), "an optimizer parameter group has no parameters");
    FROST_CHECK(g.lr_scale > 0 && std::isfinite(g.lr_scale),
                "an optimizer parameter group's lr_scale must be > 0 and finite, got ", g.lr_scale);
  }
  switch (o.name) {
    case OptimizerKind::kSgd:
      return std::make_unique<MultiTensorSgd>(groups, torch::optim::SGDOptions(o.lr)
                                                          .momentum(o.momentum)
                                                          .nesterov(o.nesterov)
                                                          .weight_decay(o.weight_decay),
                                              impl);
    case OptimizerKind::kAdamW:
      return std::make_unique<MultiTensorAdamW>(groups, torch::optim::AdamWOptions(o.lr)
                                                            .betas({o.beta1, o.beta2})
                                                            .eps(o.eps)
                                                            .weight_decay(o.weight_decay),
                                                impl);
  }
  return nullptr;  // unreachable: every OptimizerKind is handled above
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimConfig& o,
                                                        const std::vector<at::Tensor>& trainable,
                                                        OptimizerImpl impl) {
  return make_optimizer(o, std::vector<ParamGroup>{ParamGroup{trainable, 1.0, o.weight_decay}},
                        impl);
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimConfig& o,
                                                        models::ClassifierImpl& model,
                                                        OptimizerImpl impl) {
  const auto params = params_of(model);
  std::vector<ParamInfo> infos;
  std::map<std::string, at::Tensor> by_name;
  for (const auto& [info, tensor] : params) {
    infos.push_back(info);
    by_name[info.name] = tensor;
  }
  const std::vector<ParamGroupPlan> plan = plan_param_groups(o, infos);
  FROST_CHECK(!plan.empty(), "the model has no trainable parameter: nothing to optimize");
  std::vector<ParamGroup> groups;
  for (const auto& g : plan) {
    ParamGroup group{{}, g.lr_scale, g.weight_decay};
    for (const auto& name : g.params) group.params.push_back(by_name.at(name));
    groups.push_back(std::move(group));
  }
  return make_optimizer(o, groups, impl);
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  const auto* scales = dynamic_cast<const GroupLrScales*>(&optimizer);
  auto& groups = optimizer.param_groups();
  FROST_ASSERT(scales == nullptr || scales->lr_scales.size() == groups.size(), "the optimizer has ",
               groups.size(), " groups but ", scales->lr_scales.size(), " lr scales");
  for (size_t g = 0; g < groups.size(); ++g)
    groups[g].options().set_lr(scales != nullptr ? lr * scales->lr_scales[g] : lr);
}

std::vector<double> group_lr_scales(const torch::optim::Optimizer& optimizer) {
  if (const auto* scales = dynamic_cast<const GroupLrScales*>(&optimizer)) return scales->lr_scales;
  return std::vector<double>(optimizer.param_groups().size(), 1.0);
}

std::vector<std::string> describe_param_groups(const OptimConfig& o,
                                               models::ClassifierImpl& model) {
  std::vector<ParamInfo> infos;
  std::map<std::string, int64_t> numel;
  for (const auto& [info, tensor] : params_of(model)) {
    infos.push_back(info);
    numel[info.name] = tensor.numel();
  }
  const auto plan = plan_param_groups(o, infos);
  size_t tensors = 0;
  for (const auto& g : plan) tensors += g.params.size();
  std::vector<std::string> lines;
  lines.push_back(detail::str_cat(plan.size(), " parameter group", plan.size() == 1 ? "" : "s",
                                  " over ", tensors, " trainable tensors (optim.head_lr ",
                                  format_number(o.head_lr), ", optim.layer_decay ",
                                  format_number(o.layer_decay), ", optim.no_decay ",
                                  to_string(o.no_decay), ")"));
  for (size_t i = 0; i < plan.size(); ++i) {
    const auto& g = plan[i];
    int64_t values = 0;
    for (const auto& name : g.params) values += numel.at(name);
    lines.push_back(detail::str_cat(
        "group ", i, ": lr x", format_number(g.lr_scale), ", weight decay ",
        format_number(g.weight_decay), ", ", g.params.size(),
        g.params.size() == 1 ? " tensor (" : " tensors (", values, " values): ",
        g.params.front(), g.params.size() > 1 ? " .. " + g.params.back() : std::string()));
  }
  return lines;
}

}  // namespace frost::train
