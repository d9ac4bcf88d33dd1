// Unit tests of the strategies that change what trains per epoch (lp-ft, partial, gradual
// unfreezing; Note [Strategy phases] in strategy.h): trainable sets per epoch, the epochs they
// change at, train/eval modes of frozen blocks, and the errors that need the model.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "frost/core/error.h"
#include "frost/models/models.h"
#include "frost/train/strategy.h"

namespace frost::train {
namespace {

// resnet18, width 4, small input: blocks conv1+bn1, layer1.0 .. layer4.1 (9 blocks).
models::Classifier resnet() {
  models::BackboneSpec spec;
  spec.arch = "resnet18";
  spec.width = 4;
  spec.small_input = true;
  spec.in_channels = 1;
  return models::Classifier(models::make_backbone(spec), 3);
}

std::vector<std::string> trainable_names(models::ClassifierImpl& m) {
  std::vector<std::string> out;
  for (const auto& p : m.named_parameters(true)) {
    if (p.value().requires_grad()) out.push_back(p.key());
  }
  return out;
}

bool starts(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::string error_of(const TrainConfig& tc, models::ClassifierImpl& m) {
  try {
    make_strategy(tc, m);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Strategy, PartialTrainsTheLastBlocksAndKeepsFrozenBatchNormInEvalMode) {
  auto m = resnet();
  TrainConfig tc;
  tc.strategy = StrategyKind::kPartial;
  tc.unfreeze_last = 2;
  auto s = make_strategy(tc, *m);
  EXPECT_STREQ(s->name(), "partial");
  s->set_trainable(*m, 0);
  for (const auto& n : trainable_names(*m)) {
    EXPECT_TRUE(starts(n, "backbone.layer4.") || starts(n, "head.")) << n;
  }
  size_t layer4 = 0;
  for (const auto& p : m->named_parameters(true)) layer4 += starts(p.key(), "backbone.layer4.");
  EXPECT_GT(layer4, 0u);
  EXPECT_EQ(trainable_names(*m).size(), layer4 + 2);  // every layer4 tensor + the head
  EXPECT_FALSE(s->backbone_frozen(0));
  EXPECT_FALSE(s->trainable_changes_at(1));
  s->set_modes(*m, 0);
  for (const auto& item : m->backbone->named_modules("", false)) {
    if (item.value()->parameters().empty()) continue;
    EXPECT_EQ(item.value()->is_training(), starts(item.key(), "layer4")) << item.key();
  }
  EXPECT_TRUE(m->head->is_training());
}

// A part the model keeps frozen (BERT's pooler under mean pooling) is no block: the last block
// is the last encoder layer, not the pooler, which would leave nothing of the backbone to train.
TEST(Strategy, PartialCountsOnlyBlocksTheModelLetsTrain) {
  models::BackboneSpec spec;
  spec.arch = "bert";
  spec.config_path = std::string(FROST_SOURCE_DIR) + "/tests/fixtures/bert_tiny_config.json";
  spec.pooling = "mean";
  models::Classifier m(models::make_backbone(spec), 2);
  TrainConfig tc;
  tc.strategy = StrategyKind::kPartial;
  tc.unfreeze_last = 1;
  auto s = make_strategy(tc, *m);
  s->set_trainable(*m, 0);
  const auto names = trainable_names(*m);
  ASSERT_FALSE(names.empty());
  size_t layer1 = 0;
  for (const auto& n : names) {
    EXPECT_TRUE(starts(n, "backbone.encoder.layer.1.") || starts(n, "head.")) << n;
    layer1 += starts(n, "backbone.encoder.layer.1.");
  }
  EXPECT_GT(layer1, 0u);
  // embeddings, encoder.layer.0, encoder.layer.1: 3 blocks; a 4th is out of range (a fresh
  // model: the strategy reads what the model itself keeps frozen when it is made).
  models::Classifier fresh(models::make_backbone(spec), 2);
  tc.unfreeze_last = 4;
  const std::string error = error_of(tc, *fresh);
  EXPECT_NE(error.find("larger than the 3 blocks"), std::string::npos) << error;
}

TEST(Strategy, PartialPatternsAddParametersAndEveryPatternMustMatch) {
  auto m = resnet();
  TrainConfig tc;
  tc.strategy = StrategyKind::kPartial;
  tc.trainable = "backbone.layer3.1.bn*, head.*";
  auto s = make_strategy(tc, *m);
  s->set_trainable(*m, 0);
  const auto names = trainable_names(*m);
  EXPECT_EQ(names, (std::vector<std::string>{"backbone.layer3.1.bn1.weight", "backbone.layer3.1.bn1.bias",
                                             "backbone.layer3.1.bn2.weight", "backbone.layer3.1.bn2.bias",
                                             "head.weight", "head.bias"}));
  tc.trainable = "backbone.layer3.*,backbone.layer5.*";
  EXPECT_EQ(error_of(tc, *m),
            "config key train.trainable: pattern 'backbone.layer5.*' matches no parameter of the "
            "model (its names run from backbone.conv1.weight to head.bias)");
  tc.trainable = "backbone.layer3.*,";
  EXPECT_NE(error_of(tc, *m).find("has an empty pattern"), std::string::npos);
}

TEST(Strategy, UnfreezeLastBeyondTheBlocksNamesBothNumbers) {
  auto m = resnet();
  TrainConfig tc;
  tc.strategy = StrategyKind::kPartial;
  tc.unfreeze_last = 10;
  EXPECT_EQ(error_of(tc, *m),
            "config key train.unfreeze_last = 10 is larger than the 9 blocks of the backbone "
            "(Note [Backbone blocks], input to output: conv1+bn1, layer1.0, layer1.1, layer2.0, "
            "layer2.1, layer3.0, layer3.1, layer4.0, layer4.1)");
  tc.unfreeze_last = 9;  // every block: allowed
  auto s = make_strategy(tc, *m);
  s->set_trainable(*m, 0);
  EXPECT_EQ(trainable_names(*m).size(), m->parameters().size());
}

// Gradual unfreezing: n(e) = min(9, 1 + floor(e / 2)) blocks.
TEST(Strategy, GradualUnfreezingAddsOneBlockFromTheTopEveryEEpochs) {
  auto m = resnet();
  TrainConfig tc;
  tc.strategy = StrategyKind::kPartial;
  tc.unfreeze_last = 1;
  tc.unfreeze_every = 2;
  auto s = make_strategy(tc, *m);
  for (int64_t e = 1; e < 24; ++e) {
    EXPECT_EQ(s->trainable_changes_at(e), e % 2 == 0 && e <= 16) << "epoch " << e;
  }
  EXPECT_TRUE(s->trainable_differs(0, 3));
  EXPECT_FALSE(s->trainable_differs(2, 3));
  s->set_trainable(*m, 3);  // 2 blocks: layer4.*
  for (const auto& n : trainable_names(*m)) {
    EXPECT_TRUE(starts(n, "backbone.layer4.") || starts(n, "head.")) << n;
  }
  s->set_trainable(*m, 4);  // 3 blocks: layer3.1 joins
  bool layer31 = false;
  for (const auto& n : trainable_names(*m)) layer31 = layer31 || starts(n, "backbone.layer3.1.");
  EXPECT_TRUE(layer31);
  s->set_trainable(*m, 16);  // all 9
  EXPECT_EQ(trainable_names(*m).size(), m->parameters().size());
}

TEST(Strategy, LpFtTrainsTheHeadThenEverything) {
  auto m = resnet();
  TrainConfig tc;
  tc.strategy = StrategyKind::kLpFt;
  tc.epochs = 4;
  tc.lp_epochs = 2;
  auto s = make_strategy(tc, *m);
  EXPECT_EQ(s->phase(1), "lp-ft:head");
  EXPECT_EQ(s->phase(2), "lp-ft:full");
  EXPECT_TRUE(s->backbone_frozen(1));
  EXPECT_FALSE(s->backbone_frozen(2));
  EXPECT_FALSE(s->trainable_changes_at(1));
  EXPECT_TRUE(s->trainable_changes_at(2));
  EXPECT_FALSE(s->trainable_changes_at(3));
  s->set_trainable(*m, 0);
  EXPECT_EQ(trainable_names(*m), (std::vector<std::string>{"head.weight", "head.bias"}));
  s->set_modes(*m, 0);
  EXPECT_FALSE(m->backbone->is_training());
  s->set_trainable(*m, 2);
  EXPECT_EQ(trainable_names(*m).size(), m->parameters().size());
  s->set_modes(*m, 2);
  for (const auto& item : m->named_modules("", true)) EXPECT_TRUE(item.value()->is_training());
}

// A parameter the model keeps frozen stays frozen in every phase.
TEST(Strategy, ModelFrozenParametersStayFrozen) {
  auto m = resnet();
  m->backbone->named_parameters(true)["conv1.weight"].set_requires_grad(false);
  TrainConfig tc;
  tc.strategy = StrategyKind::kLpFt;
  tc.epochs = 2;
  auto s = make_strategy(tc, *m);
  s->set_trainable(*m, 1);
  EXPECT_EQ(trainable_names(*m).size(), m->parameters().size() - 1);
  EXPECT_FALSE(m->backbone->named_parameters(true)["conv1.weight"].requires_grad());
}

}  // namespace
}  // namespace frost::train
