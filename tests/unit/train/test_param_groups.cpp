// Unit tests of the optimizer's parameter groups (Note [Parameter groups] in
// frost/train/optimizer.h): membership and multipliers for ResNet, BERT and MLP classifiers,
// optim.no_decay, optim.head_lr, optim.layer_decay against timm's param_groups_layer_decay
// (fixture tests/fixtures/resnet18_timm_layer_decay.json, written by
// tests/fixtures/make_layer_decay_fixture.py with timm 1.0.31), and make_optimizer over a model.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "frost/models/models.h"
#include "frost/train/optimizer.h"
#include "test_util.h"

namespace frost::train {
namespace {

using models::BackboneSpec;
using testing::expect_error_containing;
using testing::fixture_path;

models::Classifier classifier(const BackboneSpec& spec, int64_t classes = 10) {
  auto backbone = models::make_backbone(spec);
  return models::Classifier(backbone, classes);
}

BackboneSpec resnet18() {
  BackboneSpec s;
  s.arch = "resnet18";
  return s;
}
BackboneSpec bert_tiny() {
  BackboneSpec s;
  s.arch = "bert";
  s.config_path = fixture_path("bert_tiny_config.json");
  return s;
}
BackboneSpec mlp() {
  BackboneSpec s;
  s.arch = "mlp";
  s.in_features = 6;
  s.hidden = {5, 4};
  return s;
}

std::vector<ParamInfo> infos(const models::ClassifierImpl& model) {
  std::vector<ParamInfo> out;
  for (const auto& item : model.named_parameters())
    out.push_back({item.key(), item.value().dim(), item.value().requires_grad()});
  return out;
}

// Each trainable parameter's (lr_scale, weight_decay) in `plan`; fails on a parameter that is in
// two groups.
struct Assigned {
  double lr_scale, weight_decay;
  size_t group;
};
std::map<std::string, Assigned> by_param(const std::vector<ParamGroupPlan>& plan) {
  std::map<std::string, Assigned> out;
  for (size_t g = 0; g < plan.size(); ++g) {
    for (const auto& name : plan[g].params) {
      EXPECT_EQ(out.count(name), 0u) << name << " is in two groups";
      out[name] = {plan[g].lr_scale, plan[g].weight_decay, g};
    }
  }
  return out;
}

OptimConfig base(double weight_decay = 0.05) {
  OptimConfig o;
  o.lr = 0.1;
  o.weight_decay = weight_decay;
  return o;
}

// no_decay = none with the other knobs off: one group of every trainable parameter in
// registration order at the config's weight decay (the optimizer before parameter groups).
TEST(ParamGroups, NoneIsOneGroupInRegistrationOrder) {
  for (const auto& spec : {resnet18(), bert_tiny(), mlp()}) {
    SCOPED_TRACE(spec.arch);
    auto model = classifier(spec);
    OptimConfig o = base();
    o.no_decay = NoDecay::kNone;
    const auto plan = plan_param_groups(o, infos(*model));
    ASSERT_EQ(plan.size(), 1u);
    std::vector<std::string> trainable;
    for (const auto& p : infos(*model))
      if (p.trainable) trainable.push_back(p.name);
    EXPECT_EQ(plan[0].params, trainable);
    EXPECT_EQ(plan[0].lr_scale, 1.0);
    EXPECT_EQ(plan[0].weight_decay, 0.05);
  }
}

// The default bias,norm: biases and 1-d weights (BatchNorm, LayerNorm) get no decay, every
// other parameter the config's; the groups are decay first (the first parameter is a weight).
TEST(ParamGroups, BiasNormExemptsBiasesAndNormWeights) {
  for (const auto& spec : {resnet18(), bert_tiny(), mlp()}) {
    SCOPED_TRACE(spec.arch);
    auto model = classifier(spec);
    const auto plan = plan_param_groups(base(), infos(*model));
    ASSERT_EQ(plan.size(), 2u);
    EXPECT_EQ(plan[0].weight_decay, 0.05);
    EXPECT_EQ(plan[1].weight_decay, 0.0);
    const auto assigned = by_param(plan);
    size_t norm_weights = 0;
    for (const auto& p : infos(*model)) {
      if (!p.trainable) continue;
      const bool bias = p.name.size() >= 4 && p.name.substr(p.name.size() - 4) == "bias";
      if (!bias && p.dim == 1) ++norm_weights;
      EXPECT_EQ(assigned.at(p.name).weight_decay, bias || p.dim <= 1 ? 0.0 : 0.05) << p.name;
      EXPECT_EQ(assigned.at(p.name).lr_scale, 1.0) << p.name;
    }
    if (spec.arch != "mlp") {
      EXPECT_GT(norm_weights, 0u);  // the rule was exercised
    }
  }
  // Named examples.
  auto resnet = classifier(resnet18());
  const auto r = by_param(plan_param_groups(base(), infos(*resnet)));
  EXPECT_EQ(r.at("backbone.bn1.weight").weight_decay, 0.0);
  EXPECT_EQ(r.at("backbone.layer1.0.conv1.weight").weight_decay, 0.05);
  EXPECT_EQ(r.at("head.bias").weight_decay, 0.0);
  EXPECT_EQ(r.at("head.weight").weight_decay, 0.05);
}

// bias alone and norm alone, on BERT (biases, LayerNorm weights, 2-d weights and embeddings).
TEST(ParamGroups, BiasOnlyAndNormOnly) {
  auto model = classifier(bert_tiny());
  const auto params = infos(*model);
  const std::string ln = "backbone.embeddings.LayerNorm.weight";
  const std::string ln_bias = "backbone.embeddings.LayerNorm.bias";
  const std::string emb = "backbone.embeddings.word_embeddings.weight";
  const std::string dense_bias = "backbone.encoder.layer.0.attention.self.query.bias";
  OptimConfig o = base();
  o.no_decay = NoDecay::kBias;
  auto a = by_param(plan_param_groups(o, params));
  EXPECT_EQ(a.at(ln).weight_decay, 0.05);
  EXPECT_EQ(a.at(ln_bias).weight_decay, 0.0);
  EXPECT_EQ(a.at(dense_bias).weight_decay, 0.0);
  EXPECT_EQ(a.at(emb).weight_decay, 0.05);
  o.no_decay = NoDecay::kNorm;
  a = by_param(plan_param_groups(o, params));
  EXPECT_EQ(a.at(ln).weight_decay, 0.0);
  EXPECT_EQ(a.at(ln_bias).weight_decay, 0.05);
  EXPECT_EQ(a.at(dense_bias).weight_decay, 0.05);
  EXPECT_EQ(a.at(emb).weight_decay, 0.05);
}

// head_lr: the head's scale is head_lr / lr; the backbone's stays 1; with no_decay the four
// combinations are four groups, in the order of their first parameters.
TEST(ParamGroups, HeadLrScalesTheHeadOnly) {
  auto model = classifier(mlp());
  OptimConfig o = base();
  o.head_lr = 1.0;
  const auto plan = plan_param_groups(o, infos(*model));
  ASSERT_EQ(plan.size(), 4u);
  EXPECT_EQ(plan[0].params.front(), "backbone.layers.0.weight");
  EXPECT_EQ(plan[1].params.front(), "backbone.layers.0.bias");
  EXPECT_EQ(plan[2].params, std::vector<std::string>{"head.weight"});
  EXPECT_EQ(plan[3].params, std::vector<std::string>{"head.bias"});
  for (const auto& [name, a] : by_param(plan)) {
    const bool head = name.rfind("head.", 0) == 0;
    EXPECT_DOUBLE_EQ(a.lr_scale, head ? 10.0 : 1.0) << name;
  }
  // head_lr equal to lr, or 0: no separate head group.
  o.head_lr = 0.1;
  EXPECT_EQ(plan_param_groups(o, infos(*model)).size(), 2u);
  o.head_lr = 0.0;
  EXPECT_EQ(plan_param_groups(o, infos(*model)).size(), 2u);
}

// Layer-wise decay on ResNet-18 equals timm's param_groups_layer_decay parameter by parameter.
TEST(ParamGroups, LayerDecayIsTimmsForResNet18) {
  std::ifstream in(fixture_path("resnet18_timm_layer_decay.json"));
  ASSERT_TRUE(in) << "cannot open the fixture";
  const nlohmann::json fixture = nlohmann::json::parse(in);
  auto model = classifier(resnet18());
  OptimConfig o = base(fixture.at("weight_decay").get<double>());
  o.layer_decay = fixture.at("layer_decay").get<double>();
  const auto assigned = by_param(plan_param_groups(o, infos(*model)));
  size_t compared = 0;
  std::vector<std::string> timm_names;
  for (const auto& p : fixture.at("params")) {
    const std::string timm_name = p.at("name").get<std::string>();
    const std::string name =
        timm_name.rfind("fc.", 0) == 0 ? "head." + timm_name.substr(3) : "backbone." + timm_name;
    timm_names.push_back(name);
    ASSERT_EQ(assigned.count(name), 1u) << name;
    EXPECT_DOUBLE_EQ(assigned.at(name).lr_scale, p.at("lr_scale").get<double>()) << name;
    EXPECT_EQ(assigned.at(name).weight_decay, p.at("weight_decay").get<double>()) << name;
    ++compared;
  }
  EXPECT_EQ(compared, assigned.size());  // every Frost parameter is one of timm's
  EXPECT_EQ(compared, 62u);
  // timm groups by (layer, decay): 10 layers x 2; Frost by equal (scale, decay): the same 20.
  EXPECT_EQ(plan_param_groups(o, infos(*model)).size(), 20u);
}

// BERT: embeddings = 0, encoder.layer.k = k + 1, pooler = L + 1, head = L + 2; scale d^(n - id)
// with n = L + 2 blocks.
TEST(ParamGroups, LayerDecayOnBert) {
  auto model = classifier(bert_tiny());  // 2 encoder layers: 4 blocks
  OptimConfig o = base();
  o.layer_decay = 0.5;
  o.head_lr = 0.3;  // multiplies the head's scale (1 from layer decay)
  const auto a = by_param(plan_param_groups(o, infos(*model)));
  EXPECT_DOUBLE_EQ(a.at("backbone.embeddings.word_embeddings.weight").lr_scale, 0.0625);
  EXPECT_DOUBLE_EQ(a.at("backbone.encoder.layer.0.attention.self.query.weight").lr_scale, 0.125);
  EXPECT_DOUBLE_EQ(a.at("backbone.encoder.layer.1.output.dense.weight").lr_scale, 0.25);
  EXPECT_DOUBLE_EQ(a.at("backbone.pooler.dense.weight").lr_scale, 0.5);
  EXPECT_DOUBLE_EQ(a.at("head.weight").lr_scale, 3.0);
  EXPECT_EQ(a.at("backbone.encoder.layer.1.output.LayerNorm.weight").weight_decay, 0.0);
}

// Frozen parameters are left out, and the others keep their layer ids (blocks count every
// backbone parameter): freezing the stem does not move layer1.0's scale.
TEST(ParamGroups, FrozenParametersAreLeftOutAndLayerIdsStay) {
  auto model = classifier(resnet18());
  OptimConfig o = base();
  o.layer_decay = 0.5;
  auto params = infos(*model);
  const auto all = by_param(plan_param_groups(o, params));
  for (auto& p : params) {
    if (p.name.rfind("backbone.conv1", 0) == 0 || p.name.rfind("backbone.bn1", 0) == 0)
      p.trainable = false;
  }
  const auto some = by_param(plan_param_groups(o, params));
  EXPECT_EQ(some.count("backbone.conv1.weight"), 0u);
  EXPECT_EQ(some.size(), all.size() - 3);
  EXPECT_DOUBLE_EQ(some.at("backbone.layer1.0.conv1.weight").lr_scale, std::pow(0.5, 8));
  EXPECT_DOUBLE_EQ(all.at("backbone.conv1.weight").lr_scale, std::pow(0.5, 9));
  for (auto& p : params) p.trainable = false;
  EXPECT_TRUE(plan_param_groups(o, params).empty());
}

// make_optimizer over a model: LibTorch groups holding the model's own tensors (only those that
// require a gradient) with rate lr x scale and the group's weight decay; set_learning_rate
// multiplies every group's rate by its scale.
TEST(ParamGroups, MakeOptimizerFromAModel) {
  for (const auto kind : {OptimizerKind::kSgd, OptimizerKind::kAdamW}) {
    auto model = classifier(mlp());
    model->backbone->named_parameters()["layers.0.weight"].requires_grad_(false);
    OptimConfig o = base();
    o.name = kind;
    o.head_lr = 0.4;
    auto optimizer = make_optimizer(o, *model);
    const auto plan = plan_param_groups(o, infos(*model));
    auto named = model->named_parameters();
    ASSERT_EQ(optimizer->param_groups().size(), plan.size());
    const std::vector<double> scales = group_lr_scales(*optimizer);
    for (size_t g = 0; g < plan.size(); ++g) {
      const auto& group = optimizer->param_groups()[g];
      ASSERT_EQ(group.params().size(), plan[g].params.size());
      for (size_t i = 0; i < plan[g].params.size(); ++i)
        EXPECT_TRUE(group.params()[i].is_same(named[plan[g].params[i]])) << plan[g].params[i];
      EXPECT_DOUBLE_EQ(group.options().get_lr(), 0.1 * plan[g].lr_scale);
      EXPECT_EQ(scales[g], plan[g].lr_scale);
      const double wd = kind == OptimizerKind::kSgd
                            ? static_cast<const torch::optim::SGDOptions&>(group.options())
                                  .weight_decay()
                            : static_cast<const torch::optim::AdamWOptions&>(group.options())
                                  .weight_decay();
      EXPECT_EQ(wd, plan[g].weight_decay);
    }
    for (const auto& g : plan)
      for (const auto& n : g.params) EXPECT_NE(n, "backbone.layers.0.weight");
    set_learning_rate(*optimizer, 0.02);
    for (size_t g = 0; g < plan.size(); ++g)
      EXPECT_DOUBLE_EQ(optimizer->param_groups()[g].options().get_lr(), 0.02 * plan[g].lr_scale);
    EXPECT_DOUBLE_EQ(optimizer->param_groups().back().options().get_lr(), 0.08);  // head: x4
  }
}

TEST(ParamGroups, NothingTrainableIsAnError) {
  auto model = classifier(mlp());
  for (auto& p : model->parameters()) p.requires_grad_(false);
  expect_error_containing([&] { make_optimizer(base(), *model); }, "no trainable parameter");
}

TEST(ParamGroups, StartUpLinesNameEveryGroup) {
  auto model = classifier(mlp());
  OptimConfig o = base();
  o.head_lr = 1.0;
  const auto lines = describe_param_groups(o, *model);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_CONTAINS(lines[0], "4 parameter groups over 6 trainable tensors");
  EXPECT_CONTAINS(lines[0], "optim.no_decay bias,norm");
  EXPECT_CONTAINS(lines[3], "group 2: lr x10, weight decay 0.05, 1 tensor (40 values): head.weight");
}

}  // namespace
}  // namespace frost::train
