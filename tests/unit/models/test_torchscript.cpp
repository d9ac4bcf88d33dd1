// Tests of the TorchScript backbone (src/frost/models/torchscript_backbone.{h,cpp}): parity with
// PyTorch, jit names and shared tensors (Note [TorchScript parameters in a torch::nn::Module]),
// train/eval propagation, feature_dim resolution, two-input modules, and the two fine-tuning
// strategies on a Classifier with this backbone.
//
// Fixtures (tests/fixtures/make_torchscript_fixtures.py, Debian's python3-torch 1.13):
// ts_conv_bn_linear.pt (scripted, feature_dim 16), ts_conv_bn_linear_traced.pt (no attribute),
// ts_text_mean.pt (forward(ids, mask), feature_dim 6) and their expected outputs.

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "frost/models/blocks.h"
#include "frost/models/models.h"
#include "frost/models/safetensors.h"
#include "frost/models/torchscript_backbone.h"
#include "frost/models/weights.h"
#include "test_util.h"

namespace frost::models {
namespace {

using frost::testing::expect_error, frost::testing::fixture_path, frost::testing::test_dir;

/// Reads a values file of make_torchscript_fixtures.py: a shape line, then one value a line.
torch::Tensor read_values(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open fixture " << path;
  std::string shape_line;
  std::getline(in, shape_line);
  std::istringstream shape_in(shape_line);
  std::vector<int64_t> shape;
  for (int64_t d; shape_in >> d;) shape.push_back(d);
  std::vector<float> values;
  for (float v; in >> v;) values.push_back(v);
  return torch::tensor(values).reshape(shape);
}

/// The fixture's image input: x [4, 3, 8, 8] = sin(0.11 j), float64 then float32.
torch::Tensor image_input() {
  return torch::sin(torch::arange(4 * 3 * 8 * 8, torch::kFloat64).mul(0.11))
      .reshape({4, 3, 8, 8})
      .to(torch::kFloat32);
}

std::shared_ptr<BackboneImpl> conv_bn_linear() {
  return make_torchscript_backbone(fixture_path("ts_conv_bn_linear.pt"));
}

std::map<std::string, torch::Tensor> snapshot(const torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, t] : state_dict_items(module)) out[name] = t.detach().clone();
  return out;
}

// ---- the backbone ----------------------------------------------------------------------

TEST(TorchScriptBackbone, MatchesPythonOutputs) {
  auto backbone = conv_bn_linear();
  EXPECT_EQ(backbone->feature_dim(), 16);
  backbone->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor y = backbone->forward(image_input());
  const torch::Tensor expected = read_values(fixture_path("ts_conv_bn_linear_expected.txt"));
  ASSERT_EQ(y.sizes(), expected.sizes());
  EXPECT_EQ(y.scalar_type(), torch::kFloat32);
  EXPECT_LE((y - expected).abs().max().item<double>(), 1e-5);
}

TEST(TorchScriptBackbone, MadeByMakeBackbone) {
  BackboneSpec spec;
  spec.arch = "torchscript";
  spec.torchscript_path = fixture_path("ts_conv_bn_linear.pt");
  auto backbone = make_backbone(spec);
  EXPECT_EQ(backbone->feature_dim(), 16);
}

TEST(TorchScriptBackbone, ListsJitNamesInStateDictOrder) {
  auto backbone = conv_bn_linear();
  std::vector<std::string> params;
  for (const auto& p : backbone->named_parameters()) params.push_back(p.key());
  EXPECT_EQ(params,
            (std::vector<std::string>{"features.0.weight", "features.0.bias", "features.1.weight",
                                      "features.1.bias", "proj.weight", "proj.bias"}));
  std::vector<std::string> buffers;
  for (const auto& b : backbone->named_buffers()) buffers.push_back(b.key());
  EXPECT_EQ(buffers, (std::vector<std::string>{"features.1.running_mean", "features.1.running_var",
                                               "features.1.num_batches_tracked"}));
  // PyTorch's state_dict order of the scripted module.
  std::vector<std::string> state;
  for (const auto& item : state_dict_items(*backbone)) state.push_back(item.first);
  EXPECT_EQ(state, (std::vector<std::string>{
                       "features.0.weight", "features.0.bias", "features.1.weight",
                       "features.1.bias", "features.1.running_mean", "features.1.running_var",
                       "features.1.num_batches_tracked", "proj.weight", "proj.bias"}));
  // Running statistics of the fixture are not the defaults (three train-mode forwards in Python).
  EXPECT_EQ(backbone->named_buffers()["features.1.num_batches_tracked"].item<int64_t>(), 3);
}

TEST(TorchScriptBackbone, WrapperTensorsAreTheJitTensors) {
  auto backbone = conv_bn_linear();
  backbone->eval();
  torch::NoGradGuard no_grad;
  // Writing through the wrapper's parameters changes what the jit forward computes.
  auto params = backbone->named_parameters();
  params["proj.weight"].zero_();
  params["proj.bias"].copy_(torch::arange(16, torch::kFloat32));
  const torch::Tensor y = backbone->forward(image_input());
  EXPECT_TRUE(torch::equal(y, torch::arange(16, torch::kFloat32).expand({4, 16})));
}

TEST(TorchScriptBackbone, RequiresGradIsShared) {
  auto backbone = conv_bn_linear();
  backbone->train();
  auto params = backbone->named_parameters();
  params["features.0.weight"].set_requires_grad(false);
  backbone->forward(image_input()).sum().backward();
  EXPECT_FALSE(params["features.0.weight"].grad().defined()) << "a frozen parameter got a gradient";
  for (const auto& name : {"features.0.bias", "features.1.weight", "proj.weight", "proj.bias"}) {
    EXPECT_TRUE(params[name].grad().defined()) << name << " got no gradient through the wrapper";
  }
  // Hooks registered on the wrapper's tensors fire in the jit backward (the gradient reducer).
  bool fired = false;
  params["proj.weight"].register_hook([&](const torch::Tensor& g) { fired = g.defined(); });
  backbone->forward(image_input()).sum().backward();
  EXPECT_TRUE(fired);
}

TEST(TorchScriptBackbone, TrainAndEvalPropagateToJitModule) {
  auto backbone = conv_bn_linear();
  auto running_mean = backbone->named_buffers()["features.1.running_mean"];
  const torch::Tensor before = running_mean.clone();
  torch::NoGradGuard no_grad;

  backbone->eval();
  const torch::Tensor eval_out = backbone->forward(image_input());
  EXPECT_TRUE(torch::equal(running_mean, before)) << "eval mode updated BatchNorm statistics";

  backbone->train();
  const torch::Tensor train_out = backbone->forward(image_input());
  EXPECT_FALSE(torch::equal(running_mean, before)) << "train mode did not reach the jit BatchNorm";
  EXPECT_FALSE(torch::allclose(train_out, eval_out));

  // Through a Classifier (Module::train recurses into the backbone's override).
  Classifier model(backbone, 2);
  model->eval();
  const torch::Tensor frozen = running_mean.clone();
  model->forward(image_input());
  EXPECT_TRUE(torch::equal(running_mean, frozen));
}

TEST(TorchScriptBackbone, TracedModuleNeedsFeatureDim) {
  const std::string traced = fixture_path("ts_conv_bn_linear_traced.pt");
  expect_error([&] { make_torchscript_backbone(traced); },
               {traced, "width D of the features is unknown", "model.feature_dim"});
  auto backbone = make_torchscript_backbone(traced, 16);
  backbone->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor expected = read_values(fixture_path("ts_conv_bn_linear_expected.txt"));
  EXPECT_LE((backbone->forward(image_input()) - expected).abs().max().item<double>(), 1e-5);

  // A wrong D is caught on the first forward, with the shapes.
  auto wrong = make_torchscript_backbone(traced, 15);
  expect_error([&] { wrong->forward(image_input()); },
               {traced, "returned [4, 16]", "expected floating-point features [4, 15]"});
  // Attribute and model.feature_dim must agree.
  expect_error([&] { make_torchscript_backbone(fixture_path("ts_conv_bn_linear.pt"), 15); },
               {"model.feature_dim = 15", "feature_dim = 16"});
}

TEST(TorchScriptBackbone, TwoInputModuleGetsTheAttentionMask) {
  auto backbone = make_torchscript_backbone(fixture_path("ts_text_mean.pt"));
  EXPECT_EQ(backbone->feature_dim(), 6);
  backbone->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor ids =
      torch::arange(10, torch::kInt64).mul(3).add(1).remainder(20).reshape({2, 5});
  torch::Tensor mask = torch::ones({2, 5}, torch::kInt64);
  mask.index_put_({1, torch::indexing::Slice(3, torch::indexing::None)}, 0);
  const torch::Tensor expected = read_values(fixture_path("ts_text_mean_expected.txt"));
  EXPECT_LE((backbone->forward(ids, mask) - expected).abs().max().item<double>(), 1e-5);

  // No mask: every token counts.
  const torch::Tensor embed = backbone->named_parameters()["embed.weight"];
  const torch::Tensor all_tokens = embed.index_select(0, ids.flatten()).reshape({2, 5, 6}).mean(1);
  EXPECT_LE((backbone->forward(ids) - all_tokens).abs().max().item<double>(), 1e-6);
}

TEST(TorchScriptBackbone, ClearErrorsForBadFilesAndInputs) {
  const std::string dir = test_dir();
  expect_error([&] { make_torchscript_backbone(dir + "/absent.pt"); },
               {"no such file", dir + "/absent.pt"});
  write_safetensors(dir + "/w.safetensors", {{"w", torch::ones({2})}});
  expect_error([&] { make_torchscript_backbone(dir + "/w.safetensors"); },
               {"cannot load '" + dir + "/w.safetensors' as a TorchScript module"});
  auto backbone = conv_bn_linear();
  expect_error(
      [&] {
        backbone->forward(torch::ones({2, 5, 8, 8}));
      },
      {"ts_conv_bn_linear.pt': forward failed on input [2, 5, 8, 8] Float"});
}

TEST(TorchScriptBackbone, SavesAndReloadsThroughFrostFormats) {
  auto source = conv_bn_linear();
  {
    torch::NoGradGuard no_grad;
    for (auto& p : source->parameters()) p.mul_(0.5);
  }
  Classifier model(source, 3);
  const std::string path = test_dir() + "/model.pt";
  save_state_dict(*model, path);
  Classifier reloaded(conv_bn_linear(), 3);
  EXPECT_EQ(load_weights(*reloaded, path, {}).loaded, 11);
  for (const auto& [name, t] : state_dict_items(*reloaded)) {
    EXPECT_TRUE(torch::equal(t, snapshot(*model).at(name))) << name;
  }
}

TEST(TorchScriptBackbone, LoadsPythonTorchSaveStateDict) {
  // torch.save(dict(net.state_dict())) from Python (zip format) through load_weights' .pt path.
  auto backbone = conv_bn_linear();
  {
    torch::NoGradGuard no_grad;
    for (auto& t : backbone->parameters()) t.zero_();
    for (auto& t : backbone->buffers()) t.zero_();
  }
  EXPECT_EQ(load_weights(*backbone, fixture_path("ts_conv_bn_linear_state_dict.pt"), {}).loaded, 9);
  backbone->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor expected = read_values(fixture_path("ts_conv_bn_linear_expected.txt"));
  EXPECT_LE((backbone->forward(image_input()) - expected).abs().max().item<double>(), 1e-5);
}

TEST(TorchScriptBackbone, LoadsPythonTorchSaveOrderedDict) {
  // torch.save(net.state_dict()) itself: an OrderedDict with its _metadata (Note [Frost's
  // torch.save unpickler]), the same values as the dict() fixture above.
  auto backbone = conv_bn_linear();
  {
    torch::NoGradGuard no_grad;
    for (auto& t : backbone->parameters()) t.zero_();
    for (auto& t : backbone->buffers()) t.zero_();
  }
  EXPECT_EQ(load_weights(*backbone, fixture_path("ts_conv_bn_linear_ordered_dict.pt"), {}).loaded,
            9);
  backbone->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor expected = read_values(fixture_path("ts_conv_bn_linear_expected.txt"));
  EXPECT_LE((backbone->forward(image_input()) - expected).abs().max().item<double>(), 1e-5);
}

TEST(GpuTorchScriptBackbone, RunsOnCudaAfterTo) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto backbone = conv_bn_linear();
  backbone->eval();
  backbone->to(torch::kCUDA);
  EXPECT_TRUE(backbone->named_parameters()["proj.weight"].is_cuda());
  torch::NoGradGuard no_grad;
  const torch::Tensor y = backbone->forward(image_input().to(torch::kCUDA));
  EXPECT_TRUE(y.is_cuda());
  const torch::Tensor expected = read_values(fixture_path("ts_conv_bn_linear_expected.txt"));
  EXPECT_LE((y.cpu() - expected).abs().max().item<double>(), 1e-4);
}

// ---- the strategies on a Classifier with a TorchScript backbone -----------------------------

/// A few SGD steps the way the Trainer runs `strategy` (src/frost/train/strategy.cpp): head
/// freezes the backbone (requires_grad false, eval mode, forward under no-grad).
void train_steps(Classifier& model, const std::string& strategy, int steps) {
  const bool head_only = strategy == "head";
  if (head_only) {
    for (auto& p : model->backbone->parameters()) p.set_requires_grad(false);
  }
  std::vector<torch::Tensor> trainable;
  for (auto& p : model->parameters()) {
    if (p.requires_grad()) trainable.push_back(p);
  }
  torch::optim::SGD optimizer(trainable, torch::optim::SGDOptions(0.1).momentum(0.9));
  model->train();
  if (head_only) model->backbone->eval();
  torch::manual_seed(0);
  for (int step = 0; step < steps; ++step) {
    const torch::Tensor x = torch::randn({6, 3, 8, 8});
    const torch::Tensor labels = torch::randint(0, 3, {6}, torch::kInt64);
    optimizer.zero_grad();
    torch::Tensor logits;
    if (head_only) {
      torch::Tensor features;
      {
        torch::NoGradGuard no_grad;
        features = model->backbone->forward(x);
      }
      logits = model->head->forward(features);
    } else {
      logits = model->forward(x);
    }
    torch::nn::functional::cross_entropy(logits, labels).backward();
    optimizer.step();
  }
}

TEST(TorchScriptStrategy, HeadKeepsBackboneBitwiseUnchanged) {
  Classifier model(conv_bn_linear(), 3);
  const auto backbone_before = snapshot(*model->backbone);
  const torch::Tensor head_before = model->head->weight.detach().clone();
  train_steps(model, "head", 3);
  for (const auto& [name, t] : state_dict_items(*model->backbone)) {
    EXPECT_TRUE(torch::equal(t, backbone_before.at(name)))
        << name << " changed under the head strategy";
  }
  EXPECT_FALSE(torch::equal(model->head->weight, head_before)) << "the head did not train";
}

TEST(TorchScriptStrategy, FullChangesBackbone) {
  Classifier model(conv_bn_linear(), 3);
  const auto backbone_before = snapshot(*model->backbone);
  train_steps(model, "full", 3);
  for (const auto& [name, t] : state_dict_items(*model->backbone)) {
    // A conv bias right before a train-mode BatchNorm gets a zero gradient (the batch mean
    // removes it), up to rounding: it may or may not move.
    if (name == "features.0.bias") continue;
    EXPECT_FALSE(torch::equal(t, backbone_before.at(name))) << name << " did not change under full";
  }
}

// ---- models exported by launch/export_backbone.py ---------------------------------------
// tests/e2e/test_export_backbone.sh exports timm and torchvision models with the tool
// (tests/e2e/export_backbone_fixtures.py) and runs these tests with FROST_EXPORT_BACKBONE_DIR
// set; without it they skip, saying so.

std::string export_dir() {
  const char* dir = std::getenv("FROST_EXPORT_BACKBONE_DIR");
  return dir == nullptr ? "" : dir;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

/// The exported NAME.pt through make_torchscript_backbone: its features on the fixture input
/// x [2, 3, 64, 64] = sin(0.11 j) equal the Python model's (NAME_expected.txt), feature_dim
/// comes from the module attribute, and its parameters carry the Python model's names in the
/// same order (no wrapper prefix), so backbone blocks follow the model's stages.
void expect_exported_parity(const std::string& name) {
  const std::string dir = export_dir();
  if (dir.empty()) {
    GTEST_SKIP() << "FROST_EXPORT_BACKBONE_DIR is not set: tests/e2e/test_export_backbone.sh "
                    "exports the models with launch/export_backbone.py and runs this test";
  }
  const torch::Tensor expected = read_values(dir + "/" + name + "_expected.txt");
  auto backbone = make_torchscript_backbone(dir + "/" + name + ".pt");
  ASSERT_EQ(expected.dim(), 2);
  EXPECT_EQ(backbone->feature_dim(), expected.size(1));
  backbone->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::sin(torch::arange(2 * 3 * 64 * 64, torch::kFloat64).mul(0.11))
                              .reshape({2, 3, 64, 64})
                              .to(torch::kFloat32);
  const torch::Tensor y = backbone->forward(x);
  ASSERT_EQ(y.sizes(), expected.sizes());
  const double scale = std::max(1.0, expected.abs().max().item<double>());
  EXPECT_LE((y - expected).abs().max().item<double>(), 1e-5 * scale) << name;

  std::vector<std::string> params;
  for (const auto& p : backbone->named_parameters()) params.push_back(p.key());
  EXPECT_EQ(params, read_lines(dir + "/" + name + "_params.txt"));
  EXPECT_GE(group_blocks(params).size(), 4U) << name << ": too few backbone blocks";
}

TEST(ExportedBackboneFixtures, TimmViT) { expect_exported_parity("vit"); }
TEST(ExportedBackboneFixtures, TimmConvNeXt) { expect_exported_parity("convnext"); }
TEST(ExportedBackboneFixtures, TimmEfficientNet) { expect_exported_parity("efficientnet"); }
TEST(ExportedBackboneFixtures, TorchvisionResNet) { expect_exported_parity("resnet"); }

}  // namespace
}  // namespace frost::models
