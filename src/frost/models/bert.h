// BERT encoder backbone with Hugging Face BertModel parameter names (Devlin et al. 2019;
// transformers/models/bert/modeling_bert.py), e.g. all-MiniLM-L6-v2 (6 layers, hidden 384), and
// its variants RoBERTa / XLM-RoBERTa (RobertaModel: BERT's names, other position ids) and
// DistilBERT (DistilBertModel: own names, no token types, no pooler); Note [Encoder variants].
//
// Names: embeddings.{word_embeddings,position_embeddings,token_type_embeddings}.weight,
// embeddings.LayerNorm.{weight,bias}, encoder.layer.N.attention.self.{query,key,value}.*,
// encoder.layer.N.attention.output.{dense,LayerNorm}.*, encoder.layer.N.intermediate.dense.*,
// encoder.layer.N.output.{dense,LayerNorm}.*, pooler.dense.*
// DistilBERT: embeddings.{word_embeddings,position_embeddings}.weight, embeddings.LayerNorm.*,
// transformer.layer.N.attention.{q_lin,k_lin,v_lin,out_lin}.*, transformer.layer.N.sa_layer_norm.*,
// transformer.layer.N.ffn.{lin1,lin2}.*, transformer.layer.N.output_layer_norm.*
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "frost/models/models.h"

namespace frost::models {

/// The fields of a Hugging Face BERT, RoBERTa or DistilBERT config.json that the encoder needs
/// (defaults: BERT-base; see from_json_file for the variants' defaults and names).
struct BertConfig {
  /// bert | roberta | xlm-roberta | distilbert (config.json's model_type): Note [Encoder variants]
  std::string model_type = "bert";
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;  ///< 0 for distilbert (no token type embeddings)
  double layer_norm_eps = 1e-12;
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  std::string hidden_act = "gelu";  ///< gelu (erf form); distilbert also relu
  /// padding_idx of word_embeddings (row zeroed at init, no grad); roberta: also of
  /// position_embeddings, and the position ids start after it
  int64_t pad_token_id = 0;
  double initializer_range = 0.02;  ///< std of the normal init of Linear/Embedding weights

  bool is_roberta() const { return model_type == "roberta" || model_type == "xlm-roberta"; }
  bool is_distilbert() const { return model_type == "distilbert"; }
  /// The longest sequence L the position embeddings allow: max_position_embeddings, or for
  /// RoBERTa max_position_embeddings - pad_token_id - 1 (positions start at pad_token_id + 1).
  int64_t max_length() const;

  /// Reads config.json. model_type (absent = "bert") selects the variant; an unknown one is an
  /// error naming the file and the supported ones. RoBERTa fields are BERT's (defaults of HF
  /// RobertaConfig: pad_token_id 1, vocab_size 50265, 30522 for xlm-roberta); DistilBERT's are
  /// dim, n_layers, n_heads, hidden_dim, activation (gelu | relu), dropout, attention_dropout,
  /// max_position_embeddings, vocab_size, pad_token_id, initializer_range (HF DistilBertConfig's
  /// defaults; layer_norm_eps 1e-12 as DistilBertModel hard-codes it); sinusoidal_pos_embds =
  /// true is refused. Throws frost::Error naming the file and the bad field.
  static BertConfig from_json_file(const std::string& path);
  /// config.json text of a BertForSequenceClassification (RoBERTa:
  /// RobertaForSequenceClassification, XLMRobertaForSequenceClassification) with `num_labels`
  /// labels. Throws frost::Error for DistilBERT (Note [Encoder variants]: not exported).
  std::string to_json(int64_t num_labels) const;
};

/// Builds a BERT encoder backbone (of config.model_type). pooling: "cls" (BertPooler:
/// tanh(dense(h[:,0])), as BertForSequenceClassification; DistilBERT, which has no pooler: the
/// last hidden state of the first token, h[:,0]) or "mean" (mean of the last hidden states over
/// the attention mask, as sentence-transformers). feature_dim() = hidden_size.
/// Throws frost::Error for bad sizes or an unknown pooling.
std::shared_ptr<BackboneImpl> make_bert_backbone(const BertConfig& config,
                                                 const std::string& pooling);

/// The BertConfig of a backbone made by make_bert_backbone, or nullptr for other backbones.
const BertConfig* bert_config_of(const BackboneImpl& backbone);

/// Module names of `backbone` that a published checkpoint of its variant may lack, as patterns
/// for LoadOptions::allow_missing: {"pooler.*"} for RoBERTa (RobertaForMaskedLM and
/// RobertaForSequenceClassification are built without the pooler, so roberta-base's own
/// checkpoint has none; transformers initialises it afresh, and so does Frost), else none.
std::vector<std::string> bert_optional_weights(const BackboneImpl& backbone);

/// The encoder's last hidden states [B, L, hidden_size] (HF BertModel's last_hidden_state) for
/// input_ids [B, L], attention_mask and token_type_ids as in BackboneImpl::forward_with_types;
/// the pooled features are computed from these. Throws frost::Error if `backbone` was not made
/// by make_bert_backbone or for bad inputs (as forward; token types outside
/// [0, type_vocab_size) too, and for DistilBERT any token type other than 0).
torch::Tensor bert_last_hidden_state(BackboneImpl& backbone, const torch::Tensor& input_ids,
                                     const torch::Tensor& attention_mask = torch::Tensor(),
                                     const torch::Tensor& token_type_ids = torch::Tensor());

}  // namespace frost::models
