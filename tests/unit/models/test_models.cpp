// Tests of src/frost/models: torchvision parity of the ResNets (names, parameter counts,
// features), the MLP, the Classifier, and the errors for bad specs.
//
// Fixtures in tests/fixtures/ were written by make_resnet_keys.py and make_resnet_parity.py
// (Debian's /usr/bin/python3 with python3-torchvision 0.14), found with fixture_path
// (test_util.h).

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "frost/models/models.h"
#include "test_util.h"

namespace frost::models {
namespace {

using frost::testing::expect_error_containing, frost::testing::fixture_path;

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

std::vector<std::string> state_dict_names(const torch::nn::Module& module) {
  std::vector<std::string> names;
  for (const auto& item : state_dict_items(module)) names.push_back(item.first);
  return names;
}

BackboneSpec resnet_spec(const std::string& arch) {
  BackboneSpec spec;
  spec.arch = arch;
  return spec;
}

// ---- torchvision parity ---------------------------------------------------------------

// Published torchvision counts (docs of torchvision.models, "num_params"), which include
// the 1000-class fc: here that is the Classifier's head Linear(D, 1000).
TEST(ResNet, Resnet18ParameterCountMatchesTorchvision) {
  Classifier model(make_backbone(resnet_spec("resnet18")), 1000);
  EXPECT_EQ(count_parameters(*model), 11689512);
  EXPECT_EQ(model->backbone->feature_dim(), 512);
}

TEST(ResNet, Resnet34ParameterCountMatchesTorchvision) {
  Classifier model(make_backbone(resnet_spec("resnet34")), 1000);
  EXPECT_EQ(count_parameters(*model), 21797672);
  EXPECT_EQ(model->backbone->feature_dim(), 512);
}

TEST(ResNet, Resnet50ParameterCountMatchesTorchvision) {
  Classifier model(make_backbone(resnet_spec("resnet50")), 1000);
  EXPECT_EQ(count_parameters(*model), 25557032);
  EXPECT_EQ(model->backbone->feature_dim(), 2048);
}

TEST(ResNet, Resnet18StateDictKeysMatchTorchvision) {
  const std::string path = fixture_path("resnet18_state_dict_keys.txt");
  std::ifstream in(path);
  ASSERT_TRUE(in) << "cannot open fixture " << path;
  std::vector<std::string> expected;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) expected.push_back(line);
  }
  ASSERT_EQ(expected.size(), 120u) << "fixture " << path << " looks truncated";

  auto backbone = make_backbone(resnet_spec("resnet18"));
  // Same names in the same order as torchvision's state_dict() (fc excluded).
  EXPECT_EQ(state_dict_names(*backbone), expected);

  Classifier model(backbone, 10);
  std::vector<std::string> with_head;
  for (const auto& name : expected) with_head.push_back("backbone." + name);
  with_head.push_back("head.weight");
  with_head.push_back("head.bias");
  EXPECT_EQ(state_dict_names(*model), with_head);
}

// The recipe of tests/fixtures/make_resnet_parity.py; keep the two identical.
void fill_parity_weights(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  auto items = state_dict_items(module);
  std::vector<std::string> sorted_names;
  for (const auto& item : items) sorted_names.push_back(item.first);
  std::sort(sorted_names.begin(), sorted_names.end());
  for (const auto& [name, tensor] : items) {
    if (!tensor.is_floating_point()) continue;  // num_batches_tracked
    const auto k = std::find(sorted_names.begin(), sorted_names.end(), name) - sorted_names.begin();
    torch::Tensor s = torch::arange(tensor.numel(), torch::kFloat64)
                          .mul(0.37)
                          .add(1.3 * static_cast<double>(k))
                          .sin()
                          .reshape(tensor.sizes());
    auto ends_with = [&](const std::string& suffix) {
      return name.size() >= suffix.size() &&
             name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    torch::Tensor v;
    if (tensor.dim() == 4) {
      v = s.mul(std::sqrt(2.0 / static_cast<double>(tensor.size(1) * tensor.size(2) *
                                                     tensor.size(3))));
    } else if (ends_with("running_mean")) {
      v = s.mul(0.1);
    } else if (ends_with("running_var")) {
      v = s.mul(0.25).add(0.75);
    } else if (ends_with("weight")) {
      v = s.mul(0.2).add(1.0);
    } else if (ends_with("bias")) {
      v = s.mul(0.1);
    } else {
      FAIL() << "no parity rule for " << name;
    }
    tensor.copy_(v.to(tensor.scalar_type()));
  }
}

torch::Tensor read_parity_features(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  int64_t rows = 0, cols = 0;
  std::vector<float> values;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# shape", 0) == 0) {
      std::istringstream(line.substr(7)) >> rows >> cols;
    } else if (!line.empty() && line[0] != '#') {
      std::istringstream row(line);
      for (float v; row >> v;) values.push_back(v);
    }
  }
  if (rows * cols != static_cast<int64_t>(values.size()) || values.empty()) return {};
  return torch::tensor(values).reshape({rows, cols});
}

void expect_torchvision_parity(const std::string& arch) {
  const std::string path = fixture_path(arch + "_parity_features.txt");
  torch::Tensor expected = read_parity_features(path);
  ASSERT_TRUE(expected.defined()) << "cannot read fixture " << path;

  auto backbone = make_backbone(resnet_spec(arch));
  ASSERT_NO_FATAL_FAILURE(fill_parity_weights(*backbone));
  backbone->eval();
  const int64_t batch = expected.size(0);
  torch::Tensor x = torch::arange(batch * 3 * 64 * 64, torch::kFloat64)
                        .mul(0.11)
                        .sin()
                        .to(torch::kFloat32)
                        .reshape({batch, 3, 64, 64});
  torch::NoGradGuard no_grad;
  torch::Tensor features = backbone->forward(x);
  ASSERT_EQ(features.sizes(), expected.sizes());
  const double max_diff = (features - expected).abs().max().item<double>();
  EXPECT_TRUE(torch::allclose(features, expected, /*rtol=*/1e-3, /*atol=*/1e-3))
      << arch << ": max |frost - torchvision| = " << max_diff;
}

TEST(ResNet, Resnet18FeaturesMatchTorchvision) { expect_torchvision_parity("resnet18"); }

TEST(ResNet, Resnet50FeaturesMatchTorchvision) { expect_torchvision_parity("resnet50"); }

TEST(ResNet, InitFollowsTorchvision) {
  auto backbone = make_backbone(resnet_spec("resnet18"));
  for (const auto& [name, tensor] : state_dict_items(*backbone)) {
    if (name.find("bn") != std::string::npos || name.find("downsample.1") != std::string::npos) {
      if (name.size() >= 7 && name.compare(name.size() - 7, 7, ".weight") == 0) {
        EXPECT_TRUE(torch::equal(tensor, torch::ones_like(tensor))) << name;
      } else if (name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0) {
        EXPECT_TRUE(torch::equal(tensor, torch::zeros_like(tensor))) << name;
      }
    } else {
      EXPECT_EQ(tensor.dim(), 4) << name << ": convs only, and without bias";
    }
  }
  // kaiming_normal_(mode=fan_out, nonlinearity=relu): std = sqrt(2 / (out * kh * kw)).
  for (const auto& item : state_dict_items(*backbone)) {
    if (item.first != "layer4.0.conv2.weight") continue;
    const double std_expected = std::sqrt(2.0 / (512.0 * 3 * 3));
    EXPECT_NEAR(item.second.std().item<double>(), std_expected, 0.02 * std_expected);
    EXPECT_NEAR(item.second.mean().item<double>(), 0.0, 0.01 * std_expected);
  }
}

// ---- shapes -----------------------------------------------------------------------------

TEST(ResNet, SmallInputResnet18Shapes) {
  BackboneSpec spec;
  spec.arch = "resnet18";
  spec.in_channels = 1;
  spec.width = 16;
  spec.small_input = true;
  auto backbone = make_backbone(spec);
  EXPECT_EQ(backbone->feature_dim(), 128);
  Classifier model(backbone, 5);
  torch::Tensor x = torch::randn({2, 1, 28, 28});
  EXPECT_EQ(backbone->forward(x).sizes(), (std::vector<int64_t>{2, 128}));
  torch::Tensor logits = model->forward(x);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(logits.scalar_type(), torch::kFloat32);
  // The small stem is a 3x3 stride-1 conv.
  for (const auto& item : state_dict_items(*backbone)) {
    if (item.first == "conv1.weight") {
      EXPECT_EQ(item.second.sizes(), (std::vector<int64_t>{16, 1, 3, 3}));
    }
  }
}

TEST(ResNet, Resnet50FeatureDimScalesWithWidth) {
  BackboneSpec spec;
  spec.arch = "resnet50";
  spec.width = 8;
  spec.small_input = true;
  auto backbone = make_backbone(spec);
  EXPECT_EQ(backbone->feature_dim(), 8 * 8 * 4);
  EXPECT_EQ(backbone->forward(torch::randn({3, 3, 32, 32})).sizes(),
            (std::vector<int64_t>{3, 256}));
}

TEST(ResNet, WrongChannelCountIsAClearError) {
  auto backbone = make_backbone(resnet_spec("resnet18"));
  expect_error_containing([&] { backbone->forward(torch::randn({1, 1, 32, 32})); },
                          "in_channels");
}

TEST(Mlp, NamesAndShapes) {
  BackboneSpec spec;
  spec.arch = "mlp";
  spec.in_features = 12;
  spec.hidden = {8, 6};
  auto backbone = make_backbone(spec);
  EXPECT_EQ(backbone->feature_dim(), 6);
  auto items = state_dict_items(*backbone);
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(items[0].first, "layers.0.weight");
  EXPECT_EQ(items[0].second.sizes(), (std::vector<int64_t>{8, 12}));
  EXPECT_EQ(items[1].first, "layers.0.bias");
  EXPECT_EQ(items[1].second.sizes(), (std::vector<int64_t>{8}));
  EXPECT_EQ(items[2].first, "layers.2.weight");
  EXPECT_EQ(items[2].second.sizes(), (std::vector<int64_t>{6, 8}));
  EXPECT_EQ(items[3].first, "layers.2.bias");
  EXPECT_EQ(items[3].second.sizes(), (std::vector<int64_t>{6}));

  torch::Tensor features = backbone->forward(torch::randn({3, 3, 4}));  // flattened to [3, 12]
  EXPECT_EQ(features.sizes(), (std::vector<int64_t>{3, 6}));
  EXPECT_GE(features.min().item<float>(), 0.0f) << "features come after a ReLU";

  Classifier model(backbone, 4);
  EXPECT_EQ(model->forward(torch::randn({3, 12})).sizes(), (std::vector<int64_t>{3, 4}));
}

TEST(Mlp, NoHiddenLayersIsTheFlattenedInput) {
  BackboneSpec spec;
  spec.arch = "mlp";
  spec.in_features = 6;
  spec.hidden = {};
  auto backbone = make_backbone(spec);
  EXPECT_EQ(backbone->feature_dim(), 6);
  EXPECT_TRUE(state_dict_items(*backbone).empty());
  torch::Tensor x = torch::randn({2, 2, 3});
  EXPECT_TRUE(torch::equal(backbone->forward(x), x.reshape({2, 6})));
}

TEST(Mlp, InFeaturesMustBePositive) {
  BackboneSpec spec;
  spec.arch = "mlp";
  spec.in_features = 0;
  expect_error_containing([&] { make_backbone(spec); }, "in_features");
}

TEST(Mlp, HiddenSizesMustBePositive) {
  BackboneSpec spec;
  spec.arch = "mlp";
  spec.in_features = 4;
  spec.hidden = {8, 0};
  expect_error_containing([&] { make_backbone(spec); }, "hidden");
}

TEST(Mlp, WrongInputWidthIsAClearError) {
  BackboneSpec spec;
  spec.arch = "mlp";
  spec.in_features = 10;
  auto backbone = make_backbone(spec);
  expect_error_containing([&] { backbone->forward(torch::randn({2, 3, 3})); }, "in_features");
}

// ---- factory and classifier errors --------------------------------------------------------

TEST(MakeBackbone, UnknownArchListsValidChoices) {
  expect_error_containing([] { make_backbone(resnet_spec("resnet101")); },
                          "valid choices: resnet18, resnet34, resnet50, mlp");
  expect_error_containing([] { make_backbone(resnet_spec("")); }, "unknown model.arch");
}

TEST(MakeBackbone, BadWidthOrChannelsThrows) {
  BackboneSpec spec = resnet_spec("resnet18");
  spec.width = 0;
  expect_error_containing([&] { make_backbone(spec); }, "model.width");
  spec = resnet_spec("resnet50");
  spec.in_channels = 0;
  expect_error_containing([&] { make_backbone(spec); }, "model.in_channels");
}

TEST(Classifier, RejectsFewerThanOneClass) {
  auto backbone = make_backbone(resnet_spec("resnet18"));
  expect_error_containing([&] { Classifier(backbone, 0); }, "num_classes");
  Classifier model(backbone, 3);
  expect_error_containing([&] { model->reset_head(-1); }, "num_classes");
  EXPECT_EQ(model->head->weight.size(0), 3) << "a failed reset keeps the old head";
}

TEST(Classifier, ResetHeadReplacesTheHeadOnTheSameDtype) {
  BackboneSpec spec;
  spec.arch = "mlp";
  spec.in_features = 5;
  spec.hidden = {7};
  Classifier model(make_backbone(spec), 3);
  model->to(torch::kFloat64);
  torch::Tensor old_weight = model->head->weight;
  model->reset_head(4);
  EXPECT_EQ(model->head->weight.sizes(), (std::vector<int64_t>{4, 7}));
  EXPECT_EQ(model->head->bias.sizes(), (std::vector<int64_t>{4}));
  EXPECT_EQ(model->head->weight.scalar_type(), torch::kFloat64);
  EXPECT_FALSE(model->head->weight.is_same(old_weight));
  // The registered child is the new head, not a stale copy.
  auto names = state_dict_names(*model);
  ASSERT_EQ(names.size(), 4u);
  EXPECT_EQ(names[2], "head.weight");
  auto params = model->named_parameters();
  EXPECT_TRUE(params["head.weight"].is_same(model->head->weight));
  EXPECT_EQ(count_parameters(*model), 5 * 7 + 7 + 7 * 4 + 4);
  EXPECT_EQ(model->forward(torch::randn({2, 5}, torch::kFloat64)).sizes(),
            (std::vector<int64_t>{2, 4}));
}

}  // namespace
}  // namespace frost::models
