// The blocks of a backbone: the unit in which fine-tuning strategies unfreeze (train.strategy =
// partial, train.unfreeze_last, train.unfreeze_every) and in which layer-wise learning-rate
// decay assigns layer ids (optim.layer_decay). No LibTorch: blocks are found from parameter
// names alone, so the same rule serves the native backbones and a TorchScript module.
//
// Note [Backbone blocks]
// A backbone's parameters, in registration order (the order of named_parameters(), which is
// that of PyTorch's state_dict), are grouped by a key:
//   * the name up to and including its first all-digit component when it has one
//     ("layer1.0.conv1.weight" -> "layer1.0", "encoder.layer.3.output.dense.bias" ->
//     "encoder.layer.3", "layers.2.weight" -> "layers.2", "blocks.11.attn.qkv.weight" ->
//     "blocks.11");
//   * else its first component ("conv1.weight" -> "conv1", "embeddings.LayerNorm.weight" ->
//     "embeddings", "pooler.dense.weight" -> "pooler").
// Blocks are the distinct keys in order of first appearance, except that the keys before the
// first numbered key form one block (the stem: ResNet's conv1 + bn1, BERT's embeddings, a ViT's
// patch and position embeddings) and so do the keys after the last numbered key (BERT's pooler,
// a ViT's final norm). So:
//   resnet18/34/50   stem, then one block per residual block (8 / 16 / 16 blocks + stem)
//   bert             embeddings, encoder.layer.0 .. encoder.layer.{L-1}, pooler
//   mlp              one block per Linear (layers.0, layers.2, ...)
// This is the granularity of timm's group_matcher with coarse=False for ResNet (stem, then
// layerS.B; timm/models/resnet.py) and of the usual BERT layer-wise decay (embeddings = layer 0,
// encoder layer i = layer i + 1; Clark et al. 2020, ELECTRA, and BEiT's fine-tuning code).
// A name that contains a number only after the last numbered block (e.g. "norm.0") simply
// opens one more block. The head is never a backbone block. The strategies group only the
// parameters the model lets train (train/strategy.cpp), so a part the model keeps frozen, such as
// BERT's pooler under mean pooling, is no block there.
#pragma once

#include <string>
#include <vector>

namespace frost::models {

/// One block: its name (the key, or the keys joined by "+" for a merged stem or tail, e.g.
/// "conv1+bn1") and the names of its parameters, in registration order.
struct BackboneBlock {
  std::string name;
  std::vector<std::string> params;
};

/// The blocks of Note [Backbone blocks] for `param_names` (a backbone's parameter names in
/// registration order, without a "backbone." prefix), from the input to the output. Every name
/// lands in exactly one block; an empty list gives no blocks. Throws nothing.
std::vector<BackboneBlock> group_blocks(const std::vector<std::string>& param_names);

}  // namespace frost::models
