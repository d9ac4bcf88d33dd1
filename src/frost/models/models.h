// Models: backbones (ResNet family with torchvision parameter names, MLP) and the
// Classifier = backbone + linear head that both fine-tuning strategies train.
//
// Parameter names follow torchvision (conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, ...)
// under the prefix `backbone.`; the head is `head.weight` [C, D] and `head.bias` [C].
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/linear.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace frost::models {

/// How to build a backbone. Defaults follow torchvision's ResNet (He et al. 2016).
struct BackboneSpec {
  std::string arch = "resnet18";  ///< resnet18 | resnet34 | resnet50 | mlp | bert | torchscript
  int64_t in_channels = 3;        ///< image channels (ResNet)
  int64_t width = 64;             ///< ResNet base width (torchvision: 64); stages use w, 2w, 4w, 8w
  bool small_input = false;       ///< 3x3 stride-1 stem and no max-pool (for 28x28 / 32x32 inputs)
  int64_t in_features = 0;        ///< MLP input dimension D_in (inputs are flattened)
  std::vector<int64_t> hidden = {256, 256};  ///< MLP hidden sizes
  std::string config_path;                   ///< bert: Hugging Face config.json of the checkpoint
  std::string pooling = "cls";               ///< bert: cls | mean (mean over attention_mask tokens)
  std::string torchscript_path;              ///< torchscript: a module saved with torch.jit.save
  int64_t feature_dim =
      0;  ///< torchscript: output width D (0 = the module's feature_dim attribute)
};

/// A backbone maps an input batch to features [B, D] float32.
class BackboneImpl : public torch::nn::Module {
 public:
  /// x: [B, C, H, W] float32 for ResNet; [B, ...] float32 (flattened to [B, D_in]) for MLP;
  /// [B, L] int64 token ids for text encoders, with `attention_mask` [B, L] (1 = token,
  /// 0 = padding; undefined = all tokens). Image and feature backbones ignore the mask.
  /// Returns [B, feature_dim()] float32.
  virtual torch::Tensor forward(torch::Tensor x, const torch::Tensor& attention_mask) = 0;
  torch::Tensor forward(torch::Tensor x) { return forward(std::move(x), torch::Tensor()); }
  /// forward(x, attention_mask) with the segment of each token: `token_type_ids` [B, L]
  /// integer (0 = first text of a sentence pair incl. [CLS] and its [SEP], 1 = second text and
  /// its [SEP], 0 on padding; Hugging Face's token_type_ids), or undefined, which is
  /// forward(x, attention_mask) exactly. Text encoders with token type embeddings (BERT)
  /// override it; the default throws frost::Error for defined token types, since ignoring
  /// them would train on an input the data does not describe.
  virtual torch::Tensor forward_with_types(torch::Tensor x, const torch::Tensor& attention_mask,
                                           const torch::Tensor& token_type_ids);
  /// D, the width of the features.
  virtual int64_t feature_dim() const = 0;
};

/// Builds a backbone from `spec`. Throws frost::Error for an unknown arch or bad sizes.
std::shared_ptr<BackboneImpl> make_backbone(const BackboneSpec& spec);

/// Classifier = backbone + linear head (logits = head(backbone(x))).
/// Submodules are registered as "backbone" and "head".
class ClassifierImpl : public torch::nn::Module {
 public:
  ClassifierImpl(std::shared_ptr<BackboneImpl> backbone, int64_t num_classes);
  /// x (and attention_mask, token_type_ids) as for the backbone (BackboneImpl::forward,
  /// forward_with_types when token_type_ids is defined); returns logits [B, num_classes]
  /// float32.
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& attention_mask = torch::Tensor(),
                        const torch::Tensor& token_type_ids = torch::Tensor());
  /// Replaces the head with a fresh Linear(D, num_classes) (torch default init).
  void reset_head(int64_t num_classes);

  std::shared_ptr<BackboneImpl> backbone;
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(Classifier);

/// The parameters and buffers of `module` under the names and in the order of PyTorch's
/// `nn.Module.state_dict()`: depth-first over submodules, each module's own parameters
/// before its own buffers (so BatchNorm gives weight, bias, running_mean, running_var,
/// num_batches_tracked). For a backbone these are torchvision's keys (see models.cpp,
/// Note [torchvision compatibility]); for a Classifier they carry the prefixes `backbone.`
/// and `head.`. The tensors alias the module's (no copy). Throws nothing.
std::vector<std::pair<std::string, torch::Tensor>> state_dict_items(
    const torch::nn::Module& module);

}  // namespace frost::models
