#include "frost/train/optimizer.h"

#include <torch/torch.h>

namespace frost::train {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimConfig& o,
                                                        const std::vector<at::Tensor>& trainable) {
  switch (o.name) {
    case OptimizerKind::kSgd:
      return std::make_unique<torch::optim::SGD>(trainable, torch::optim::SGDOptions(o.lr)
                                                                .momentum(o.momentum)
                                                                .nesterov(o.nesterov)
                                                                .weight_decay(o.weight_decay));
    case OptimizerKind::kAdamW:
      return std::make_unique<torch::optim::AdamW>(trainable, torch::optim::AdamWOptions(o.lr)
                                                                  .betas({o.beta1, o.beta2})
                                                                  .eps(o.eps)
                                                                  .weight_decay(o.weight_decay));
  }
  return nullptr;  // unreachable: every OptimizerKind is handled above
}

}  // namespace frost::train
