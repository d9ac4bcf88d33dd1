#include "frost/train/strategy.h"

#include <torch/torch.h>

#include "frost/models/models.h"

namespace frost::train {
namespace {

class FullStrategy final : public Strategy {
 public:
  const char* name() const override { return "full"; }
  // Everything trains that the model lets train: nothing to change.
  void set_trainable(models::ClassifierImpl&, int64_t) const override {}
  bool backbone_frozen(int64_t) const override { return false; }
  void set_modes(models::ClassifierImpl& model, int64_t) const override { model.train(); }
  at::Tensor forward(models::ClassifierImpl& model, const at::Tensor& inputs,
                     const at::Tensor& attention_mask) const override {
    return model.forward(inputs, attention_mask);
  }
};

class HeadStrategy : public Strategy {
 public:
  const char* name() const override { return "head"; }
  void set_trainable(models::ClassifierImpl& model, int64_t) const override {
    for (auto& p : model.backbone->parameters()) p.set_requires_grad(false);
  }
  bool backbone_frozen(int64_t) const override { return true; }
  void set_modes(models::ClassifierImpl& model, int64_t) const override {
    model.train();
    model.backbone->eval();
  }
  at::Tensor forward(models::ClassifierImpl& model, const at::Tensor& inputs,
                     const at::Tensor& attention_mask) const override {
    torch::Tensor features;
    {
      // The frozen backbone keeps no activations and no version counters (inference mode; the
      // compute dtype is the caller's autocast). Its output is an inference tensor, which
      // autograd may not save for the head's backward: the clone is an ordinary one ([B, D]).
      c10::InferenceMode inference;
      features = model.backbone->forward(inputs, attention_mask);
    }
    return model.head->forward(features.clone());
  }
};

// The head on features extracted once by the frozen backbone: trainability and modes as head.
class CachedHeadStrategy final : public HeadStrategy {
 public:
  at::Tensor forward(models::ClassifierImpl& model, const at::Tensor& features,
                     const at::Tensor&) const override {
    return model.head->forward(features);
  }
};

}  // namespace

std::vector<at::Tensor> trainable_parameters(models::ClassifierImpl& model) {
  std::vector<at::Tensor> out;
  for (auto& p : model.parameters()) {
    if (p.requires_grad()) out.push_back(p);
  }
  return out;
}

std::unique_ptr<Strategy> make_strategy(const TrainConfig& train) {
  switch (train.strategy) {
    case StrategyKind::kFull: return std::make_unique<FullStrategy>();
    case StrategyKind::kHead:
      if (train.feature_cache != FeatureCacheMode::kOff)
        return std::make_unique<CachedHeadStrategy>();
      return std::make_unique<HeadStrategy>();
  }
  return nullptr;  // unreachable: every StrategyKind is handled above
}

}  // namespace frost::train
