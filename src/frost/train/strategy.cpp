#include "frost/train/strategy.h"

#include <fnmatch.h>
#include <torch/torch.h>

#include <algorithm>
#include <sstream>

#include "frost/core/error.h"
#include "frost/models/blocks.h"
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
                     const at::Tensor& attention_mask,
                     const at::Tensor& token_type_ids) const override {
    return model.forward(inputs, attention_mask, token_type_ids);
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
                     const at::Tensor& attention_mask,
                     const at::Tensor& token_type_ids) const override {
    torch::Tensor features;
    {
      // The frozen backbone keeps no activations and no version counters (inference mode; the
      // compute dtype is the caller's autocast). Its output is an inference tensor, which
      // autograd may not save for the head's backward: the clone is an ordinary one ([B, D]).
      c10::InferenceMode inference;
      features = token_type_ids.defined()
                     ? model.backbone->forward_with_types(inputs, attention_mask, token_type_ids)
                     : model.backbone->forward(inputs, attention_mask);
    }
    return model.head->forward(features.clone());
  }
};

// The head on features extracted once by the frozen backbone: trainability and modes as head.
class CachedHeadStrategy final : public HeadStrategy {
 public:
  at::Tensor forward(models::ClassifierImpl& model, const at::Tensor& features, const at::Tensor&,
                     const at::Tensor&) const override {
    return model.head->forward(features);
  }
};

// lp-ft and partial: what trains in an epoch is a mask over the backbone's parameters (in
// named_parameters() order), fixed per epoch; the head always trains.
class BlockStrategy final : public Strategy {
 public:
  BlockStrategy(const TrainConfig& train, models::ClassifierImpl& model)
      : kind_(train.strategy),
        lp_epochs_(train.lp_epochs),
        unfreeze_last_(train.unfreeze_last),
        unfreeze_every_(train.unfreeze_every) {
    std::vector<std::string> names;
    for (const auto& p : model.backbone->named_parameters(true)) {
      names.push_back(p.key());
      model_frozen_.push_back(!p.value().requires_grad());
    }
    // Blocks over the parameters the model lets train: a part it keeps frozen (BERT's pooler
    // under mean pooling) is no block, so train.unfreeze_last = 1 is the last block that can
    // train. Its parameters get block -1 and are never chosen.
    std::vector<std::string> can_train;
    for (size_t i = 0; i < names.size(); ++i) {
      if (!model_frozen_[i]) can_train.push_back(names[i]);
    }
    const auto blocks = models::group_blocks(can_train);
    num_blocks_ = static_cast<int64_t>(blocks.size());
    block_of_.assign(names.size(), -1);
    for (size_t b = 0; b < blocks.size(); ++b) {
      for (const auto& n : blocks[b].params) {
        block_of_[static_cast<size_t>(std::find(names.begin(), names.end(), n) - names.begin())] =
            static_cast<int64_t>(b);
      }
    }
    if (kind_ != StrategyKind::kPartial) return;
    if (unfreeze_last_ > num_blocks_) {
      std::string list;
      for (size_t b = 0; b < blocks.size(); ++b) list += (b ? ", " : "") + blocks[b].name;
      FROST_CHECK(false, "config key train.unfreeze_last = ", unfreeze_last_, " is larger than the ",
                  num_blocks_, " blocks of the backbone (Note [Backbone blocks], input to output: ",
                  list, ")");
    }
    // Patterns match the classifier's names ("backbone.layer4.0.conv1.weight", "head.weight").
    pattern_match_.assign(names.size(), false);
    std::vector<std::string> all;
    for (const auto& p : model.named_parameters(true)) all.push_back(p.key());
    for (const auto& pattern : trainable_patterns(train.trainable)) {
      bool any = false;
      for (const auto& n : all) {
        if (fnmatch(pattern.c_str(), n.c_str(), 0) != 0) continue;
        any = true;
        if (n.rfind("backbone.", 0) != 0) continue;  // the head trains anyway
        const std::string short_name = n.substr(9);
        const auto it = std::find(names.begin(), names.end(), short_name);
        if (it != names.end()) pattern_match_[static_cast<size_t>(it - names.begin())] = true;
      }
      FROST_CHECK(any, "config key train.trainable: pattern '", pattern,
                  "' matches no parameter of the model (its names run from ",
                  all.empty() ? std::string("?") : all.front(), " to ",
                  all.empty() ? std::string("?") : all.back(), ")");
    }
  }

  const char* name() const override { return to_string(kind_); }
  std::string phase(int64_t epoch) const override {
    if (kind_ != StrategyKind::kLpFt) return name();
    return epoch < lp_epochs_ ? "lp-ft:head" : "lp-ft:full";
  }

  void set_trainable(models::ClassifierImpl& model, int64_t epoch) const override {
    const std::vector<bool> m = mask(epoch);
    size_t i = 0;
    for (auto& p : model.backbone->parameters(true)) p.set_requires_grad(m[i++]);
    for (auto& p : model.head->parameters(true)) p.set_requires_grad(true);
    frozen_now_ = std::none_of(m.begin(), m.end(), [](bool b) { return b; });
  }
  bool trainable_changes_at(int64_t epoch) const override {
    return epoch >= 1 && mask(epoch) != mask(epoch - 1);
  }
  bool backbone_frozen(int64_t epoch) const override {
    const std::vector<bool> m = mask(epoch);
    return std::none_of(m.begin(), m.end(), [](bool b) { return b; });
  }
  void set_modes(models::ClassifierImpl& model, int64_t epoch) const override {
    model.train();
    if (backbone_frozen(epoch)) {
      model.backbone->eval();
      return;
    }
    // Every submodule whose parameters are all frozen runs in eval mode (its BatchNorm
    // statistics and dropout stay as they are); eval() recurses, so the outermost such module
    // decides. A module without parameters (ReLU, pooling) keeps train mode: it behaves the same.
    const std::vector<bool> m = mask(epoch);
    std::vector<std::string> names;
    for (const auto& p : model.backbone->named_parameters(true)) names.push_back(p.key());
    for (const auto& item : model.backbone->named_modules("", /*include_self=*/false)) {
      const std::string prefix = item.key() + ".";
      bool any = false, trains = false;
      for (size_t i = 0; i < names.size(); ++i) {
        if (names[i].rfind(prefix, 0) != 0) continue;
        any = true;
        trains = trains || m[i];
      }
      if (any && !trains) item.value()->eval();
    }
  }
  at::Tensor forward(models::ClassifierImpl& model, const at::Tensor& inputs,
                     const at::Tensor& attention_mask,
                     const at::Tensor& token_type_ids) const override {
    if (!frozen_now_) return model.forward(inputs, attention_mask, token_type_ids);
    torch::Tensor features;
    {  // as HeadStrategy::forward
      c10::InferenceMode inference;
      features = token_type_ids.defined()
                     ? model.backbone->forward_with_types(inputs, attention_mask, token_type_ids)
                     : model.backbone->forward(inputs, attention_mask);
    }
    return model.head->forward(features.clone());
  }

 private:
  // Which backbone parameters train in `epoch` (Note [Strategy phases] in strategy.h).
  std::vector<bool> mask(int64_t epoch) const {
    std::vector<bool> m(model_frozen_.size(), false);
    int64_t last = 0;  // blocks trainable from the top
    if (kind_ == StrategyKind::kLpFt) {
      last = epoch < lp_epochs_ ? 0 : num_blocks_;
    } else {
      last = unfreeze_last_ + (unfreeze_every_ > 0 ? epoch / unfreeze_every_ : 0);
      last = std::min(last, num_blocks_);
    }
    for (size_t i = 0; i < m.size(); ++i) {
      const bool chosen = block_of_[i] >= num_blocks_ - last ||
                          (!pattern_match_.empty() && pattern_match_[i]);
      m[i] = chosen && !model_frozen_[i];
    }
    return m;
  }

  StrategyKind kind_;
  int64_t lp_epochs_, unfreeze_last_, unfreeze_every_;
  int64_t num_blocks_ = 0;
  std::vector<bool> model_frozen_;    // per backbone parameter: the model keeps it frozen
  std::vector<int64_t> block_of_;     // per backbone parameter: its block, 0 = the input's
  std::vector<bool> pattern_match_;   // per backbone parameter: a train.trainable pattern names it
  mutable bool frozen_now_ = false;   // set_trainable's last answer: no backbone parameter trains
};

}  // namespace

bool Strategy::trainable_differs(int64_t a, int64_t b) const {
  for (int64_t e = std::min(a, b) + 1; e <= std::max(a, b); ++e) {
    if (trainable_changes_at(e)) return true;
  }
  return false;
}

std::vector<std::string> trainable_patterns(const std::string& text) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto b = item.find_first_not_of(' '), e = item.find_last_not_of(' ');
    FROST_CHECK(b != std::string::npos, "config key train.trainable = '", text,
                "' has an empty pattern; write e.g. backbone.layer4.*,backbone.bn1.*");
    out.push_back(item.substr(b, e - b + 1));
  }
  FROST_CHECK(text.back() != ',', "config key train.trainable = '", text,
              "' has an empty pattern; write e.g. backbone.layer4.*,backbone.bn1.*");
  return out;
}

std::vector<at::Tensor> trainable_parameters(models::ClassifierImpl& model) {
  std::vector<at::Tensor> out;
  for (auto& p : model.parameters()) {
    if (p.requires_grad()) out.push_back(p);
  }
  return out;
}

std::unique_ptr<Strategy> make_strategy(const TrainConfig& train, models::ClassifierImpl& model) {
  switch (train.strategy) {
    case StrategyKind::kLpFt:
    case StrategyKind::kPartial: return std::make_unique<BlockStrategy>(train, model);
    case StrategyKind::kFull: return std::make_unique<FullStrategy>();
    case StrategyKind::kHead:
      if (train.feature_cache != FeatureCacheMode::kOff)
        return std::make_unique<CachedHeadStrategy>();
      return std::make_unique<HeadStrategy>();
  }
  return nullptr;  // unreachable: every StrategyKind is handled above
}

}  // namespace frost::train
