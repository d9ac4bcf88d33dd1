// BERT encoder backbone with Hugging Face BertModel parameter names (Devlin et al. 2019;
// transformers/models/bert/modeling_bert.py), e.g. all-MiniLM-L6-v2 (6 layers, hidden 384).
//
// Names: embeddings.{word_embeddings,position_embeddings,token_type_embeddings}.weight,
// embeddings.LayerNorm.{weight,bias}, encoder.layer.N.attention.self.{query,key,value}.*,
// encoder.layer.N.attention.output.{dense,LayerNorm}.*, encoder.layer.N.intermediate.dense.*,
// encoder.layer.N.output.{dense,LayerNorm}.*, pooler.dense.*
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "frost/models/models.h"

namespace frost::models {

/// The fields of a Hugging Face BERT config.json that the encoder needs (defaults: BERT-base).
struct BertConfig {
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  std::string hidden_act = "gelu";  ///< gelu (erf form) only
  int64_t pad_token_id = 0;  ///< padding_idx of word_embeddings (row zeroed at init, no grad)
  double initializer_range = 0.02;  ///< std of the normal init of Linear/Embedding weights

  /// Reads config.json. Throws frost::Error naming the file and the bad field.
  static BertConfig from_json_file(const std::string& path);
  /// config.json text of a BertForSequenceClassification with `num_labels` labels.
  std::string to_json(int64_t num_labels) const;
};

/// Builds a BERT encoder backbone. pooling: "cls" (BertPooler: tanh(dense(h[:,0])), as
/// BertForSequenceClassification) or "mean" (mean of the last hidden states over the
/// attention mask, as sentence-transformers). feature_dim() = hidden_size.
/// Throws frost::Error for bad sizes or an unknown pooling.
std::shared_ptr<BackboneImpl> make_bert_backbone(const BertConfig& config,
                                                 const std::string& pooling);

/// The BertConfig of a backbone made by make_bert_backbone, or nullptr for other backbones.
const BertConfig* bert_config_of(const BackboneImpl& backbone);

/// The encoder's last hidden states [B, L, hidden_size] (HF BertModel's last_hidden_state) for
/// input_ids [B, L], attention_mask and token_type_ids as in BackboneImpl::forward_with_types;
/// the pooled features are computed from these. Throws frost::Error if `backbone` was not made
/// by make_bert_backbone or for bad inputs (as forward; token types outside
/// [0, type_vocab_size) too).
torch::Tensor bert_last_hidden_state(BackboneImpl& backbone, const torch::Tensor& input_ids,
                                     const torch::Tensor& attention_mask = torch::Tensor(),
                                     const torch::Tensor& token_type_ids = torch::Tensor());

}  // namespace frost::models
