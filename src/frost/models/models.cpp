// Backbones (ResNet-18/34/50 with torchvision names, MLP) and the Classifier.
//
// Note [torchvision compatibility]
// The ResNets reproduce torchvision.models.resnet (He et al. 2016, "Deep Residual
// Learning for Image Recognition"; torchvision's "v1.5": the Bottleneck strides on its
// 3x3 conv, not on the first 1x1) module for module, so that a torchvision state_dict
// (fc dropped) loads by name and gives the same features. That fixes:
//   * the names: children are registered in torchvision's order under torchvision's
//     names; layerN and downsample are torch::nn::Sequential, whose children are named
//     0, 1, ... like nn.Sequential's;
//   * the structure: convs without bias; downsample = 1x1 conv (stride s) + BN whenever
//     the stride is not 1 or the channel count changes; BatchNorm eps 1e-5, momentum 0.1
//     (the defaults of both frameworks);
//   * the initialisation: kaiming_normal_(mode=fan_out, nonlinearity=relu) for convs,
//     BN weight 1 and bias 0 (zero_init_residual=False).
// Max-pool and average-pool have no parameters and are called as functions; torchvision
// registers them as modules, which does not change the state_dict.
// tests/unit/test_models.cpp checks names, parameter counts and numeric parity against
// fixtures written by tests/fixtures/make_resnet_*.py.
//
// Note [In-place ReLU]
// As torchvision's blocks (nn.ReLU(inplace=True), `out += identity`), the ReLUs and the residual
// add overwrite their input instead of allocating an output: one activation-sized buffer less
// per ReLU and per block, and one write instead of a read and a write. Autograd allows it: a
// BatchNorm's backward needs its input and statistics, not its output, and ReLU's backward
// reads its own output. The values are the same as out-of-place (same kernels, same order).

#include "frost/models/models.h"

#include <torch/torch.h>

#include <algorithm>
#include <sstream>
#include <utility>

#include "frost/core/error.h"
#include "frost/models/bert.h"
#include "frost/models/torchscript_backbone.h"

namespace frost::models {
namespace {

constexpr const char* kValidArchs = "resnet18, resnet34, resnet50, mlp, bert, torchscript";

torch::nn::Conv2d make_conv(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                            int64_t stride, int64_t padding) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, out_channels, kernel_size)
                               .stride(stride)
                               .padding(padding)
                               .bias(false));
}

torch::nn::Conv2d conv3x3(int64_t in_channels, int64_t out_channels, int64_t stride) {
  return make_conv(in_channels, out_channels, 3, stride, 1);
}

torch::nn::Conv2d conv1x1(int64_t in_channels, int64_t out_channels, int64_t stride) {
  return make_conv(in_channels, out_channels, 1, stride, 0);
}

/// torchvision's BasicBlock (expansion 1): 3x3 conv (stride) -> BN -> ReLU -> 3x3 conv -> BN,
/// plus the identity or the downsampled input, then ReLU.
class BasicBlockImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kExpansion = 1;

  BasicBlockImpl(int64_t in_channels, int64_t planes, int64_t stride,
                 torch::nn::Sequential downsample)
      : conv1_(register_module("conv1", conv3x3(in_channels, planes, stride))),
        bn1_(register_module("bn1", torch::nn::BatchNorm2d(planes))),
        conv2_(register_module("conv2", conv3x3(planes, planes, 1))),
        bn2_(register_module("bn2", torch::nn::BatchNorm2d(planes))),
        downsample_(std::move(downsample)) {
    if (downsample_) register_module("downsample", downsample_);
  }

  torch::Tensor forward(torch::Tensor x) {
    torch::Tensor identity = downsample_ ? downsample_->forward(x) : x;
    torch::Tensor out = bn1_->forward(conv1_->forward(x)).relu_();  // Note [In-place ReLU]
    out = bn2_->forward(conv2_->forward(out));
    return out.add_(identity).relu_();
  }

 private:
  torch::nn::Conv2d conv1_;
  torch::nn::BatchNorm2d bn1_;
  torch::nn::Conv2d conv2_;
  torch::nn::BatchNorm2d bn2_;
  torch::nn::Sequential downsample_;
};

/// torchvision's Bottleneck (expansion 4, v1.5): 1x1 conv -> BN -> ReLU -> 3x3 conv (stride)
/// -> BN -> ReLU -> 1x1 conv (x4 channels) -> BN, plus the identity or the downsampled
/// input, then ReLU. groups = 1 and base_width = 64, so the inner width equals `planes`.
class BottleneckImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kExpansion = 4;

  BottleneckImpl(int64_t in_channels, int64_t planes, int64_t stride,
                 torch::nn::Sequential downsample)
      : conv1_(register_module("conv1", conv1x1(in_channels, planes, 1))),
        bn1_(register_module("bn1", torch::nn::BatchNorm2d(planes))),
        conv2_(register_module("conv2", conv3x3(planes, planes, stride))),
        bn2_(register_module("bn2", torch::nn::BatchNorm2d(planes))),
        conv3_(register_module("conv3", conv1x1(planes, planes * kExpansion, 1))),
        bn3_(register_module("bn3", torch::nn::BatchNorm2d(planes * kExpansion))),
        downsample_(std::move(downsample)) {
    if (downsample_) register_module("downsample", downsample_);
  }

  torch::Tensor forward(torch::Tensor x) {
    torch::Tensor identity = downsample_ ? downsample_->forward(x) : x;
    torch::Tensor out = bn1_->forward(conv1_->forward(x)).relu_();  // Note [In-place ReLU]
    out = bn2_->forward(conv2_->forward(out)).relu_();
    out = bn3_->forward(conv3_->forward(out));
    return out.add_(identity).relu_();
  }

 private:
  torch::nn::Conv2d conv1_;
  torch::nn::BatchNorm2d bn1_;
  torch::nn::Conv2d conv2_;
  torch::nn::BatchNorm2d bn2_;
  torch::nn::Conv2d conv3_;
  torch::nn::BatchNorm2d bn3_;
  torch::nn::Sequential downsample_;
};

/// torchvision's ResNet without fc: forward returns the global-average-pooled features
/// [B, 8 * width * Block::kExpansion]. See Note [torchvision compatibility].
template <typename Block>
class ResNetImpl : public BackboneImpl {
 public:
  ResNetImpl(const std::vector<int64_t>& blocks_per_stage, const BackboneSpec& spec)
      : in_channels_(spec.in_channels), small_input_(spec.small_input) {
    const int64_t width = spec.width;
    // The stem: torchvision's 7x7/2 conv + 3x3/2 max-pool, or for small images (28x28,
    // 32x32) the common CIFAR variant, a 3x3/1 conv and no max-pool, which keeps the
    // spatial size at 28 -> 28 -> 14 -> 7 -> 4 instead of shrinking it to 1 too early.
    conv1_ = register_module("conv1", small_input_ ? make_conv(in_channels_, width, 3, 1, 1)
                                                   : make_conv(in_channels_, width, 7, 2, 3));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(width));
    int64_t channels = width;
    for (size_t stage = 0; stage < blocks_per_stage.size(); ++stage) {
      const int64_t planes = width << stage;
      const int64_t stride = stage == 0 ? 1 : 2;
      torch::nn::Sequential layer;
      for (int64_t i = 0; i < blocks_per_stage[stage]; ++i) {
        const int64_t block_stride = i == 0 ? stride : 1;
        torch::nn::Sequential downsample{nullptr};
        if (block_stride != 1 || channels != planes * Block::kExpansion) {
          downsample =
              torch::nn::Sequential(conv1x1(channels, planes * Block::kExpansion, block_stride),
                                    torch::nn::BatchNorm2d(planes * Block::kExpansion));
        }
        layer->push_back(std::make_shared<Block>(channels, planes, block_stride, downsample));
        channels = planes * Block::kExpansion;
      }
      layers_.push_back(register_module("layer" + std::to_string(stage + 1), layer));
    }
    feature_dim_ = channels;

    for (auto& module : modules(/*include_self=*/false)) {
      if (auto* conv = module->as<torch::nn::Conv2d>()) {
        torch::nn::init::kaiming_normal_(conv->weight, /*a=*/0.0, torch::kFanOut, torch::kReLU);
      } else if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
        torch::nn::init::ones_(bn->weight);
        torch::nn::init::zeros_(bn->bias);
      }
    }
  }

  using BackboneImpl::forward;
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& /*attention_mask*/) override {
    FROST_CHECK(x.dim() == 4 && x.size(1) == in_channels_, "ResNet backbone: expected input [B, ",
                in_channels_, ", H, W], got ", x.sizes(),
                "; set model.in_channels to the number of image channels");
    // A model in the channels_last layout (model.channels_last) takes its images in it too, as
    // PyTorch's channels_last tutorial converts both; every convolution then stays in NHWC.
    if (conv1_->weight.suggest_memory_format() == torch::MemoryFormat::ChannelsLast)
      x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    x = bn1_->forward(conv1_->forward(x)).relu_();  // Note [In-place ReLU]
    if (!small_input_) x = torch::max_pool2d(x, /*kernel_size=*/3, /*stride=*/2, /*padding=*/1);
    for (auto& layer : layers_) x = layer->forward(x);
    return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  }

  int64_t feature_dim() const override { return feature_dim_; }

 private:
  int64_t in_channels_;
  bool small_input_;
  int64_t feature_dim_ = 0;
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  std::vector<torch::nn::Sequential> layers_;
};

/// Flatten -> (Linear -> ReLU) per hidden size. Named like a PyTorch nn.Sequential
/// stored as `layers`: layers.0.weight, layers.0.bias, layers.2.weight, ...
class MlpImpl : public BackboneImpl {
 public:
  explicit MlpImpl(const BackboneSpec& spec) : in_features_(spec.in_features) {
    layers_ = register_module("layers", torch::nn::Sequential());
    int64_t dim = in_features_;
    for (int64_t hidden : spec.hidden) {
      layers_->push_back(torch::nn::Linear(dim, hidden));
      layers_->push_back(torch::nn::ReLU());
      dim = hidden;
    }
    feature_dim_ = dim;
  }

  using BackboneImpl::forward;
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& /*attention_mask*/) override {
    FROST_CHECK(x.dim() >= 1, "MLP backbone: expected input [B, ...], got a scalar");
    const int64_t features = x.dim() == 1 ? 1 : x.numel() / std::max<int64_t>(x.size(0), 1);
    FROST_CHECK(features == in_features_, "MLP backbone: expected ", in_features_,
                " input features per sample (model.in_features), got input of shape ", x.sizes(),
                " = ", features, " features per sample after flattening");
    x = x.dim() == 1 ? x.unsqueeze(1) : x.flatten(1);
    // An empty nn::Sequential throws on forward; with no hidden layers the MLP is the
    // identity on the flattened input.
    return layers_->is_empty() ? x : layers_->forward(x);
  }

  int64_t feature_dim() const override { return feature_dim_; }

 private:
  int64_t in_features_;
  int64_t feature_dim_ = 0;
  torch::nn::Sequential layers_{nullptr};
};

template <typename Block>
std::shared_ptr<BackboneImpl> make_resnet(const std::vector<int64_t>& blocks_per_stage,
                                          const BackboneSpec& spec) {
  FROST_CHECK(spec.in_channels >= 1, "model.arch = ", spec.arch,
              ": model.in_channels must be >= 1, got ", spec.in_channels);
  FROST_CHECK(spec.width >= 1, "model.arch = ", spec.arch,
              ": model.width must be >= 1 (torchvision uses 64), got ", spec.width);
  return std::make_shared<ResNetImpl<Block>>(blocks_per_stage, spec);
}

}  // namespace

std::shared_ptr<BackboneImpl> make_backbone(const BackboneSpec& spec) {
  // Depths from torchvision.models.resnet (resnet18/34/50).
  if (spec.arch == "resnet18") return make_resnet<BasicBlockImpl>({2, 2, 2, 2}, spec);
  if (spec.arch == "resnet34") return make_resnet<BasicBlockImpl>({3, 4, 6, 3}, spec);
  if (spec.arch == "resnet50") return make_resnet<BottleneckImpl>({3, 4, 6, 3}, spec);
  if (spec.arch == "mlp") {
    FROST_CHECK(spec.in_features >= 1,
                "model.arch = mlp: model.in_features (the flattened input size D_in) must be "
                ">= 1, got ",
                spec.in_features);
    for (size_t i = 0; i < spec.hidden.size(); ++i) {
      FROST_CHECK(spec.hidden[i] >= 1, "model.arch = mlp: hidden size ", i,
                  " (model.hidden) must be >= 1, got ", spec.hidden[i]);
    }
    return std::make_shared<MlpImpl>(spec);
  }
  if (spec.arch == "torchscript") {
    return make_torchscript_backbone(spec.torchscript_path, spec.feature_dim);
  }
  if (spec.arch == "bert") {
    return make_bert_backbone(BertConfig::from_json_file(spec.config_path), spec.pooling);
  }
  FROST_CHECK(false, "unknown model.arch '", spec.arch, "'; valid choices: ", kValidArchs);
  return nullptr;  // unreachable
}

ClassifierImpl::ClassifierImpl(std::shared_ptr<BackboneImpl> backbone_in, int64_t num_classes)
    : backbone(std::move(backbone_in)) {
  FROST_CHECK(backbone != nullptr, "Classifier: the backbone is null");
  register_module("backbone", backbone);
  reset_head(num_classes);
}

torch::Tensor BackboneImpl::forward_with_types(torch::Tensor x,
                                               const torch::Tensor& attention_mask,
                                               const torch::Tensor& token_type_ids) {
  FROST_CHECK(!token_type_ids.defined(), "the backbone ", name(),
              " has no token type embeddings, but the data holds sentence pairs "
              "(/token_type_ids); pairs need a BERT backbone (model.arch = bert)");
  return forward(std::move(x), attention_mask);
}

torch::Tensor ClassifierImpl::forward(torch::Tensor x, const torch::Tensor& attention_mask,
                                      const torch::Tensor& token_type_ids) {
  if (token_type_ids.defined())
    return head->forward(backbone->forward_with_types(std::move(x), attention_mask, token_type_ids));
  return head->forward(backbone->forward(std::move(x), attention_mask));
}

void ClassifierImpl::reset_head(int64_t num_classes) {
  FROST_CHECK(num_classes >= 1, "Classifier: num_classes must be >= 1, got ", num_classes,
              " (data.num_classes or the file's num_classes attribute)");
  torch::nn::Linear fresh(backbone->feature_dim(), num_classes);
  if (head) {
    // Keep the head where the model lives (device and dtype of the old head).
    fresh->to(head->weight.device(), head->weight.scalar_type());
    head = replace_module("head", fresh);
  } else {
    head = register_module("head", fresh);
  }
}

std::vector<std::pair<std::string, torch::Tensor>> state_dict_items(
    const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> items;
  for (const auto& named : module.named_modules(/*name_prefix=*/"", /*include_self=*/true)) {
    const std::string prefix = named.key().empty() ? "" : named.key() + ".";
    for (const auto& p : named.value()->named_parameters(/*recurse=*/false)) {
      items.emplace_back(prefix + p.key(), p.value());
    }
    for (const auto& b : named.value()->named_buffers(/*recurse=*/false)) {
      items.emplace_back(prefix + b.key(), b.value());
    }
  }
  return items;
}

}  // namespace frost::models
