// A backbone from a TorchScript module (torch.jit.script / torch.jit.trace, then torch.jit.save):
// any PyTorch feature extractor can be fine-tuned by Frost without porting it to C++.
//
// Contract for the scripted module:
//   * forward(x) -> features [B, D] (floating point; converted to float32), or
//     forward(x, attention_mask) -> [B, D] for text encoders (the mask is passed through; an
//     undefined mask becomes None for an Optional[Tensor] argument, else all ones like x);
//   * D comes from an integer attribute `feature_dim` of the module (torch.jit.script keeps
//     `self.feature_dim = D`; tracing drops it) or from the `feature_dim` argument
//     (model.feature_dim); when both are given they must agree. The head is built before any
//     data is seen, so D cannot be probed lazily.
// The wrapper's parameters and buffers are the jit module's own tensors (same TensorImpl, no
// copy) under the jit names (features.0.weight, ...), so the gradient reducer's hooks, the
// optimizer, requires_grad changes, broadcasts and .to(device) act on the scripted module.
// train()/eval() propagate to the jit module (BatchNorm and dropout follow the strategy).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "frost/models/models.h"

namespace frost::models {

/// Loads `path` with torch::jit::load (on the CPU) and wraps it as a backbone. feature_dim: D,
/// or 0 to read the module's `feature_dim` attribute. Throws frost::Error naming the file when
/// it is missing or not a TorchScript archive, or when D is unknown or inconsistent.
std::shared_ptr<BackboneImpl> make_torchscript_backbone(const std::string& path,
                                                        int64_t feature_dim = 0);

}  // namespace frost::models
