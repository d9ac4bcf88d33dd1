// Note [Backbone blocks]: the blocks of every native backbone, from its real parameter names,
// and the grouping rule on names of other architectures.
#include "frost/models/blocks.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "frost/models/models.h"
#include "test_util.h"

namespace frost::models {
namespace {

std::vector<std::string> names_of(const std::vector<BackboneBlock>& blocks) {
  std::vector<std::string> out;
  for (const auto& b : blocks) out.push_back(b.name);
  return out;
}

std::vector<std::string> param_names(const BackboneSpec& spec) {
  std::vector<std::string> out;
  for (const auto& item : make_backbone(spec)->named_parameters()) out.push_back(item.key());
  return out;
}

// Every parameter exactly once, in registration order.
void expect_partition(const std::vector<std::string>& names,
                      const std::vector<BackboneBlock>& blocks) {
  std::vector<std::string> flat;
  for (const auto& b : blocks) flat.insert(flat.end(), b.params.begin(), b.params.end());
  EXPECT_EQ(flat, names);
}

TEST(BackboneBlocks, ResNet18IsStemThenEightResidualBlocks) {
  BackboneSpec spec;
  spec.arch = "resnet18";
  spec.width = 8;
  const auto names = param_names(spec);
  const auto blocks = group_blocks(names);
  EXPECT_EQ(names_of(blocks),
            (std::vector<std::string>{"conv1+bn1", "layer1.0", "layer1.1", "layer2.0", "layer2.1",
                                      "layer3.0", "layer3.1", "layer4.0", "layer4.1"}));
  expect_partition(names, blocks);
  // The downsample of layer2.0 belongs to its block.
  const auto& b = blocks[3].params;
  EXPECT_NE(std::find(b.begin(), b.end(), "layer2.0.downsample.0.weight"), b.end());
}

TEST(BackboneBlocks, ResNet50HasSixteenResidualBlocks) {
  BackboneSpec spec;
  spec.arch = "resnet50";
  spec.width = 4;
  const auto names = param_names(spec);
  const auto blocks = group_blocks(names);
  ASSERT_EQ(blocks.size(), 17u);
  EXPECT_EQ(blocks.front().name, "conv1+bn1");
  EXPECT_EQ(blocks[4].name, "layer2.0");
  EXPECT_EQ(blocks.back().name, "layer4.2");
  expect_partition(names, blocks);
}

TEST(BackboneBlocks, BertIsEmbeddingsLayersPooler) {
  BackboneSpec spec;
  spec.arch = "bert";
  spec.config_path = testing::fixture_path("bert_tiny_config.json");
  const auto names = param_names(spec);
  const auto blocks = group_blocks(names);
  EXPECT_EQ(names_of(blocks), (std::vector<std::string>{"embeddings", "encoder.layer.0",
                                                        "encoder.layer.1", "pooler"}));
  expect_partition(names, blocks);
}

TEST(BackboneBlocks, MlpIsOneBlockPerLinear) {
  BackboneSpec spec;
  spec.arch = "mlp";
  spec.in_features = 6;
  spec.hidden = {5, 4, 3};
  const auto names = param_names(spec);
  const auto blocks = group_blocks(names);
  EXPECT_EQ(names_of(blocks), (std::vector<std::string>{"layers.0", "layers.2", "layers.4"}));
  expect_partition(names, blocks);
}

TEST(BackboneBlocks, OtherArchitecturesByName) {
  // A ViT as timm names it: the embeddings form the stem, the final norm the tail.
  const std::vector<std::string> vit = {"cls_token",
                                        "pos_embed",
                                        "patch_embed.proj.weight",
                                        "blocks.0.norm1.weight",
                                        "blocks.0.attn.qkv.weight",
                                        "blocks.1.norm1.weight",
                                        "norm.weight",
                                        "norm.bias"};
  const auto blocks = group_blocks(vit);
  EXPECT_EQ(names_of(blocks), (std::vector<std::string>{"cls_token+pos_embed+patch_embed",
                                                        "blocks.0", "blocks.1", "norm"}));
  expect_partition(vit, blocks);
  // Nothing numbered: one block per first component.
  EXPECT_EQ(names_of(group_blocks({"a.weight", "a.bias", "b.weight"})),
            (std::vector<std::string>{"a", "b"}));
  // An unnumbered module between numbered ones stays its own block; no names, no blocks.
  EXPECT_EQ(names_of(group_blocks({"s.0.w", "mid.w", "s.1.w"})),
            (std::vector<std::string>{"s.0", "mid", "s.1"}));
  EXPECT_TRUE(group_blocks({}).empty());
}

}  // namespace
}  // namespace frost::models
