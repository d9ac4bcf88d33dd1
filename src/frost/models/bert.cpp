// BERT encoder backbone, a module-for-module port of Hugging Face transformers' BertModel.
//
// Note [Hugging Face BERT compatibility]
// The encoder reproduces transformers/models/bert/modeling_bert.py (checked against
// transformers 4.36, "eager" attention) so that a BertModel checkpoint loads by name and
// gives the same hidden states (tests/unit/test_bert.cpp: all-MiniLM-L6-v2 within 1e-4).
// That fixes:
//   * the names: children are registered in HF's order under HF's names (embeddings,
//     encoder.layer.N.{attention.{self,output},intermediate,output}, pooler); the LayerNorms
//     are called "LayerNorm" as in HF (after the TF checkpoints);
//   * the embeddings: word + token_type (the given token_type_ids, or type 0 for all tokens
//     when none are given) + absolute position (0..L-1), added in that order, then
//     LayerNorm(eps) and dropout;
//   * attention: scores = q k^T / sqrt(head_dim) + (1 - mask) * finfo(dtype).min, softmax,
//     dropout on the probabilities (Note [Attention through SDPA]); GELU in its exact erf form
//     (hidden_act "gelu");
//   * the initialisation of _init_weights: normal(0, initializer_range) for Linear and
//     Embedding weights (the padding_idx row zeroed), zero biases, LayerNorm 1 and 0.
// Not registered: HF's buffers embeddings.position_ids and embeddings.token_type_ids. Both
// are constant (arange, zeros); transformers >= 4.31 does not save them, older checkpoints
// (all-MiniLM-L6-v2's model.safetensors among them) contain embeddings.position_ids, which
// loaders must allow as an unexpected key.
// The pooler is always registered (HF's add_pooling_layer=True), also with mean pooling, so
// that every BertModel checkpoint loads without missing keys and model.pt keeps it. With mean
// pooling it takes no part in the forward pass, so its parameters are made non-trainable
// (requires_grad false): they are in no gradient bucket and no optimizer group, and weight decay
// leaves them alone, as PyTorch's optimizers skip a parameter whose .grad stays None.

// Note [Encoder variants]
// config.json's model_type picks one of three encoders built from the same parts (checked
// against transformers' modeling_roberta.py / modeling_distilbert.py; parity fixtures by
// tests/fixtures/make_bert_parity.py):
//   * bert: as above.
//   * roberta, xlm-roberta (XLMRobertaModel is RobertaModel under another name): BertModel's
//     names, layers and pooler, with HF RobertaEmbeddings' position ids: padding_idx + 1 +
//     the running count of non-padding tokens for a real token, padding_idx for a padding
//     token (create_position_ids_from_input_ids), where padding_idx = pad_token_id (1) and
//     padding is input_ids == pad_token_id, not the attention mask. So a sequence may have at
//     most max_position_embeddings - pad_token_id - 1 tokens (512 of roberta-base's 514), and
//     position_embeddings has padding_idx = pad_token_id too (row zeroed at init, no gradient).
//     type_vocab_size is 1 in the published checkpoints: token types other than 0 are refused
//     (a RoBERTa pair is <s> A </s></s> B </s>, all of type 0). roberta-base's checkpoint has
//     no pooler (it is a RobertaForMaskedLM), so pooler.* may be missing from the file
//     (bert_optional_weights) and then keeps its initialisation, as in transformers.
//   * distilbert: DistilBertModel. Embeddings word + position (0..L-1), LayerNorm(1e-12),
//     dropout; no token type embeddings, so token_type_ids must be all 0 and are then ignored
//     (a non-zero type is an error: the model cannot tell segments apart, and dropping them
//     silently would train on other inputs than the data describe). Each layer
//     transformer.layer.N is post-LN like BERT's under other names: h = sa_layer_norm(x +
//     out_lin(attention(q_lin, k_lin, v_lin))), then output_layer_norm(h + dropout(lin2(
//     act(lin1(h))))), act gelu (erf) or relu; no dropout after out_lin (HF has none there).
//     There is no pooler. pooling = cls is the last hidden state of the first token, h[:, 0],
//     with no parameters: HF DistilBertForSequenceClassification puts pre_classifier (dense)
//     -> ReLU -> dropout -> classifier on it, and that dense layer belongs to the task head
//     (it is absent from a DistilBertModel checkpoint, and fresh in a fine-tuning run), so
//     Frost's linear head on h[:, 0] stands in for the classifier alone. pooling = mean is as
//     for BERT.
// Export (model.export_format = huggingface-bert) writes a BertForSequenceClassification, and for
// RoBERTa a RobertaForSequenceClassification: its classifier is dense -> tanh -> out_proj on
// the first token's hidden state, which is Frost's pooler followed by the head, so
// pooler.dense -> classifier.dense, head -> classifier.out_proj, the rest under "roberta."
// (the same logits with pooling = cls). DistilBERT is refused: its classifier is
// pre_classifier -> ReLU -> classifier, which Frost's h[:, 0] -> head is not. model.pt is
// written for every variant.

// Note [Attention through SDPA]
// The attention formula above is computed by at::scaled_dot_product_attention (as HF's "sdpa"
// attention, its default since transformers 4.41), not by matmul + softmax + matmul: on a GPU it
// picks a fused kernel (memory-efficient attention with the padding mask; FlashAttention has no
// mask) that never writes the [B, heads, L, L] scores to memory; on the CPU a fused kernel too.
// The result equals the eager formula up to float rounding (the fused kernels sum in another
// order; the parity test's 1e-4 holds). The padding mask is HF's additive one, in the dtype of
// the queries: under autocast, the float32 finfo.min would round to -inf in bfloat16/float16,
// and a row without any real token would then rest on how each fused kernel treats a row of
// -inf (a plain softmax gives NaN), so it is clamped to that dtype's own finfo.min first, which
// gives HF's uniform weights on every kernel. Dropout on the probabilities happens inside the
// kernel (training only); its random stream differs from the eager path's, not its
// distribution.

#include "frost/models/bert.h"

#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>
#include <vector>

#include "frost/core/error.h"
#include "frost/core/json.h"

namespace frost::models {
namespace {

constexpr const char* kSupportedTypes = "bert, roberta, xlm-roberta, distilbert";

/// The name of the variant in messages.
std::string variant_name(const BertConfig& c) {
  return c.is_roberta() ? "RoBERTa" : c.is_distilbert() ? "DistilBERT" : "BERT";
}

/// Throws frost::Error unless `c` describes an encoder this file can build; `where` names the
/// source of the config (a file, or "BertConfig").
void validate(const BertConfig& c, const std::string& where) {
  FROST_CHECK(c.model_type == "bert" || c.is_roberta() || c.is_distilbert(), where,
              ": model_type '", c.model_type, "' is not supported; Frost's BERT encoder loads ",
              kSupportedTypes);
  const std::pair<const char*, int64_t> positive[] = {
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"num_hidden_layers", c.num_hidden_layers},
      {"num_attention_heads", c.num_attention_heads},
      {"intermediate_size", c.intermediate_size},
      {"max_position_embeddings", c.max_position_embeddings}};
  for (const auto& [name, value] : positive) {
    FROST_CHECK(value >= 1, where, ": ", name, " must be >= 1, got ", value);
  }
  if (c.is_distilbert()) {
    FROST_CHECK(c.type_vocab_size == 0, where,
                ": DistilBERT has no token type embeddings (type_vocab_size must be 0, got ",
                c.type_vocab_size, ")");
  } else {
    FROST_CHECK(c.type_vocab_size >= 1, where, ": type_vocab_size must be >= 1, got ",
                c.type_vocab_size);
  }
  FROST_CHECK(c.hidden_size % c.num_attention_heads == 0, where, ": hidden_size (", c.hidden_size,
              ") must be a multiple of num_attention_heads (", c.num_attention_heads, ")");
  FROST_CHECK(c.layer_norm_eps > 0, where, ": layer_norm_eps must be > 0, got ", c.layer_norm_eps);
  FROST_CHECK(c.hidden_dropout_prob >= 0 && c.hidden_dropout_prob < 1, where,
              ": hidden_dropout_prob must be in [0, 1), got ", c.hidden_dropout_prob);
  FROST_CHECK(c.attention_probs_dropout_prob >= 0 && c.attention_probs_dropout_prob < 1, where,
              ": attention_probs_dropout_prob must be in [0, 1), got ",
              c.attention_probs_dropout_prob);
  FROST_CHECK(c.initializer_range >= 0, where, ": initializer_range must be >= 0, got ",
              c.initializer_range);
  FROST_CHECK(c.pad_token_id >= 0 && c.pad_token_id < c.vocab_size, where,
              ": pad_token_id must be in [0, vocab_size=", c.vocab_size, "), got ", c.pad_token_id);
  if (c.is_distilbert()) {
    FROST_CHECK(c.hidden_act == "gelu" || c.hidden_act == "relu", where, ": activation '",
                c.hidden_act, "' is not supported; Frost's DistilBERT implements gelu (the exact "
                "erf form) and relu");
  } else {
    FROST_CHECK(c.hidden_act == "gelu", where, ": hidden_act '", c.hidden_act,
                "' is not supported; Frost's BERT implements \"gelu\" (the exact erf form) only");
  }
  if (c.is_roberta()) {
    FROST_CHECK(c.max_length() >= 1, where, ": max_position_embeddings (",
                c.max_position_embeddings, ") must exceed pad_token_id + 1 (", c.pad_token_id + 1,
                "): RoBERTa's position ids start at pad_token_id + 1");
  }
}

/// torch.finfo(dtype).min: HF's additive mask value for padding positions.
double lowest_of(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::ScalarType::Float: return std::numeric_limits<float>::lowest();
    case c10::ScalarType::Double: return std::numeric_limits<double>::lowest();
    case c10::ScalarType::Half:
      return static_cast<double>(std::numeric_limits<c10::Half>::lowest());
    case c10::ScalarType::BFloat16:
      return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
    default: FROST_CHECK(false, "BERT backbone: parameters must be floating point, got ", dtype);
  }
  return 0;  // unreachable
}

torch::nn::LayerNorm make_layer_norm(const BertConfig& c) {
  return torch::nn::LayerNorm(
      torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps).elementwise_affine(true));
}

/// HF BertEmbeddings, RobertaEmbeddings, DistilBERT's Embeddings (Note [Encoder variants]):
/// [B, L] ids -> [B, L, H].
class BertEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit BertEmbeddingsImpl(const BertConfig& c)
      : word_embeddings_(register_module(
            "word_embeddings",
            torch::nn::Embedding(torch::nn::EmbeddingOptions(c.vocab_size, c.hidden_size)
                                     .padding_idx(c.pad_token_id)))),
        position_embeddings_(register_module(
            "position_embeddings",
            torch::nn::Embedding(
                c.is_roberta() ? torch::nn::EmbeddingOptions(c.max_position_embeddings,
                                                             c.hidden_size)
                                     .padding_idx(c.pad_token_id)
                               : torch::nn::EmbeddingOptions(c.max_position_embeddings,
                                                             c.hidden_size)))),
        dropout_p_(c.hidden_dropout_prob),
        roberta_(c.is_roberta()),
        pad_token_id_(c.pad_token_id) {
    if (c.type_vocab_size > 0) {
      token_type_embeddings_ = register_module(
          "token_type_embeddings", torch::nn::Embedding(c.type_vocab_size, c.hidden_size));
    }
    layer_norm_ = register_module("LayerNorm", make_layer_norm(c));
  }

  /// token_type_ids: int64 [B, L] on ids' device, or undefined (type 0 everywhere).
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& token_type_ids) {
    const int64_t length = ids.size(1);
    torch::Tensor positions;
    if (roberta_) {
      // HF create_position_ids_from_input_ids: from the ids, not from the attention mask.
      const torch::Tensor real = ids.ne(pad_token_id_).to(torch::kLong);
      positions = torch::cumsum(real, 1) * real + pad_token_id_;
    } else {
      positions =
          torch::arange(length, torch::TensorOptions().dtype(torch::kLong).device(ids.device()));
    }
    // Without token types, type 0 everywhere: adding row 0 broadcast gives the same values as
    // HF's lookup of an all-zeros token_type_ids tensor, without materialising [B, L, H].
    torch::Tensor x = word_embeddings_->forward(ids);
    if (token_type_embeddings_) {
      x = token_type_ids.defined() ? x + token_type_embeddings_->forward(token_type_ids)
                                   : x + token_type_embeddings_->weight[0];
    }
    x = x + position_embeddings_->forward(positions);
    x = layer_norm_->forward(x);
    return torch::dropout(x, dropout_p_, is_training());
  }

 private:
  torch::nn::Embedding word_embeddings_;
  torch::nn::Embedding position_embeddings_;
  torch::nn::Embedding token_type_embeddings_{nullptr};  ///< none for DistilBERT
  torch::nn::LayerNorm layer_norm_{nullptr};
  double dropout_p_;
  bool roberta_;
  int64_t pad_token_id_;
};
TORCH_MODULE(BertEmbeddings);

/// Multi-head attention through SDPA (Note [Attention through SDPA]): q, k, v [B, L, H] ->
/// context [B, L, H]; additive_mask [B, 1, 1, L], 0 for tokens and finfo.min for padding.
torch::Tensor sdpa_attention(const torch::Tensor& q_in, const torch::Tensor& k_in,
                             const torch::Tensor& v_in, const torch::Tensor& additive_mask,
                             int64_t num_heads, double dropout_p) {
  const int64_t head_dim = q_in.size(2) / num_heads;
  auto split_heads = [&](const torch::Tensor& x) {  // [B, L, H] -> [B, heads, L, head_dim]
    return x.view({x.size(0), x.size(1), num_heads, head_dim}).permute({0, 2, 1, 3});
  };
  const torch::Tensor q = split_heads(q_in), k = split_heads(k_in), v = split_heads(v_in);
  torch::Tensor mask = additive_mask;
  if (mask.scalar_type() != q.scalar_type()) {
    mask = mask.clamp_min(lowest_of(q.scalar_type())).to(q.scalar_type());
  }
  torch::Tensor context =
      at::scaled_dot_product_attention(q, k, v, mask, dropout_p, /*is_causal=*/false)
          .permute({0, 2, 1, 3})
          .contiguous();
  return context.view({context.size(0), context.size(1), num_heads * head_dim});
}

/// HF BertSelfAttention (its eager formula, computed by SDPA): [B, L, H] -> context [B, L, H].
class BertSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit BertSelfAttentionImpl(const BertConfig& c)
      : query_(register_module("query", torch::nn::Linear(c.hidden_size, c.hidden_size))),
        key_(register_module("key", torch::nn::Linear(c.hidden_size, c.hidden_size))),
        value_(register_module("value", torch::nn::Linear(c.hidden_size, c.hidden_size))),
        num_heads_(c.num_attention_heads),
        dropout_p_(c.attention_probs_dropout_prob) {}

  /// additive_mask: [B, 1, 1, L], 0 for tokens and finfo.min for padding.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& additive_mask) {
    return sdpa_attention(query_->forward(x), key_->forward(x), value_->forward(x),
                          additive_mask, num_heads_, is_training() ? dropout_p_ : 0.0);
  }

 private:
  torch::nn::Linear query_, key_, value_;
  int64_t num_heads_;
  double dropout_p_;
};
TORCH_MODULE(BertSelfAttention);

/// HF BertSelfOutput and BertOutput: LayerNorm(dropout(dense(x)) + residual).
class BertResidualOutputImpl : public torch::nn::Module {
 public:
  BertResidualOutputImpl(const BertConfig& c, int64_t in_features)
      : dense_(register_module("dense", torch::nn::Linear(in_features, c.hidden_size))),
        layer_norm_(register_module("LayerNorm", make_layer_norm(c))),
        dropout_p_(c.hidden_dropout_prob) {}

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual) {
    torch::Tensor h = torch::dropout(dense_->forward(x), dropout_p_, is_training());
    return layer_norm_->forward(h + residual);
  }

 private:
  torch::nn::Linear dense_;
  torch::nn::LayerNorm layer_norm_;
  double dropout_p_;
};
TORCH_MODULE(BertResidualOutput);

/// HF BertAttention: self-attention + output (dense, residual, LayerNorm).
class BertAttentionImpl : public torch::nn::Module {
 public:
  explicit BertAttentionImpl(const BertConfig& c)
      : self_(register_module("self", BertSelfAttention(c))),
        output_(register_module("output", BertResidualOutput(c, c.hidden_size))) {}

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& additive_mask) {
    return output_->forward(self_->forward(x, additive_mask), x);
  }

 private:
  BertSelfAttention self_;
  BertResidualOutput output_;
};
TORCH_MODULE(BertAttention);

/// HF BertIntermediate: GELU(dense(x)), [B, L, H] -> [B, L, intermediate_size].
class BertIntermediateImpl : public torch::nn::Module {
 public:
  explicit BertIntermediateImpl(const BertConfig& c)
      : dense_(register_module("dense", torch::nn::Linear(c.hidden_size, c.intermediate_size))) {}

  torch::Tensor forward(const torch::Tensor& x) {
    return torch::gelu(dense_->forward(x));  // approximate = "none": the erf form
  }

 private:
  torch::nn::Linear dense_;
};
TORCH_MODULE(BertIntermediate);

/// HF BertLayer: attention, then the feed-forward block, each with residual + LayerNorm.
class BertLayerImpl : public torch::nn::Module {
 public:
  explicit BertLayerImpl(const BertConfig& c)
      : attention_(register_module("attention", BertAttention(c))),
        intermediate_(register_module("intermediate", BertIntermediate(c))),
        output_(register_module("output", BertResidualOutput(c, c.intermediate_size))) {}

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& additive_mask) {
    const torch::Tensor attended = attention_->forward(x, additive_mask);
    return output_->forward(intermediate_->forward(attended), attended);
  }

 private:
  BertAttention attention_;
  BertIntermediate intermediate_;
  BertResidualOutput output_;
};
TORCH_MODULE(BertLayer);

/// The stack of `Layer`s of HF BertEncoder (BertLayer) and of DistilBERT's Transformer
/// (DistilLayer): `layer` is a ModuleList, so its children are named 0, 1, ...
template <typename Layer>
class LayerStackImpl : public torch::nn::Module {
 public:
  explicit LayerStackImpl(const BertConfig& c) {
    auto list = register_module("layer", torch::nn::ModuleList());
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
      layers_.emplace_back(c);
      list->push_back(layers_.back());
    }
  }

  torch::Tensor forward(torch::Tensor x, const torch::Tensor& additive_mask) {
    for (auto& layer : layers_) x = layer->forward(x, additive_mask);
    return x;
  }

 private:
  std::vector<Layer> layers_;
};
TORCH_MODULE_IMPL(BertEncoder, LayerStackImpl<BertLayer>);

/// DistilBERT's MultiHeadSelfAttention: out_lin(attention(q_lin x, k_lin x, v_lin x)).
class DistilAttentionImpl : public torch::nn::Module {
 public:
  explicit DistilAttentionImpl(const BertConfig& c)
      : q_lin_(register_module("q_lin", torch::nn::Linear(c.hidden_size, c.hidden_size))),
        k_lin_(register_module("k_lin", torch::nn::Linear(c.hidden_size, c.hidden_size))),
        v_lin_(register_module("v_lin", torch::nn::Linear(c.hidden_size, c.hidden_size))),
        out_lin_(register_module("out_lin", torch::nn::Linear(c.hidden_size, c.hidden_size))),
        num_heads_(c.num_attention_heads),
        dropout_p_(c.attention_probs_dropout_prob) {}

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& additive_mask) {
    return out_lin_->forward(sdpa_attention(q_lin_->forward(x), k_lin_->forward(x),
                                            v_lin_->forward(x), additive_mask, num_heads_,
                                            is_training() ? dropout_p_ : 0.0));
  }

 private:
  torch::nn::Linear q_lin_, k_lin_, v_lin_, out_lin_;
  int64_t num_heads_;
  double dropout_p_;
};
TORCH_MODULE(DistilAttention);

/// DistilBERT's FFN: dropout(lin2(act(lin1(x)))).
class DistilFfnImpl : public torch::nn::Module {
 public:
  explicit DistilFfnImpl(const BertConfig& c)
      : lin1_(register_module("lin1", torch::nn::Linear(c.hidden_size, c.intermediate_size))),
        lin2_(register_module("lin2", torch::nn::Linear(c.intermediate_size, c.hidden_size))),
        relu_(c.hidden_act == "relu"),
        dropout_p_(c.hidden_dropout_prob) {}

  torch::Tensor forward(const torch::Tensor& x) {
    const torch::Tensor h = lin1_->forward(x);
    return torch::dropout(lin2_->forward(relu_ ? torch::relu(h) : torch::gelu(h)), dropout_p_,
                          is_training());
  }

 private:
  torch::nn::Linear lin1_, lin2_;
  bool relu_;
  double dropout_p_;
};
TORCH_MODULE(DistilFfn);

/// DistilBERT's TransformerBlock (post-LN, registered in HF's order).
class DistilLayerImpl : public torch::nn::Module {
 public:
  explicit DistilLayerImpl(const BertConfig& c)
      : attention_(register_module("attention", DistilAttention(c))),
        sa_layer_norm_(register_module("sa_layer_norm", make_layer_norm(c))),
        ffn_(register_module("ffn", DistilFfn(c))),
        output_layer_norm_(register_module("output_layer_norm", make_layer_norm(c))) {}

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& additive_mask) {
    const torch::Tensor h = sa_layer_norm_->forward(attention_->forward(x, additive_mask) + x);
    return output_layer_norm_->forward(ffn_->forward(h) + h);
  }

 private:
  DistilAttention attention_;
  torch::nn::LayerNorm sa_layer_norm_;
  DistilFfn ffn_;
  torch::nn::LayerNorm output_layer_norm_;
};
TORCH_MODULE(DistilLayer);

/// DistilBERT's Transformer: `layer` is a ModuleList (children 0, 1, ...).
TORCH_MODULE_IMPL(DistilTransformer, LayerStackImpl<DistilLayer>);

/// HF BertPooler: tanh(dense(h[:, 0])).
class BertPoolerImpl : public torch::nn::Module {
 public:
  explicit BertPoolerImpl(const BertConfig& c)
      : dense_(register_module("dense", torch::nn::Linear(c.hidden_size, c.hidden_size))) {}

  torch::Tensor forward(const torch::Tensor& hidden) {
    return torch::tanh(dense_->forward(hidden.select(1, 0)));
  }

 private:
  torch::nn::Linear dense_;
};
TORCH_MODULE(BertPooler);

/// The backbone: embeddings -> encoder -> pooling. See Note [Hugging Face BERT compatibility].
class BertBackboneImpl : public BackboneImpl {
 public:
  BertBackboneImpl(const BertConfig& config, std::string pooling)
      : config_(config), pooling_(std::move(pooling)) {
    embeddings_ = register_module("embeddings", BertEmbeddings(config_));
    if (config_.is_distilbert()) {  // Note [Encoder variants]: no pooler
      transformer_ = register_module("transformer", DistilTransformer(config_));
    } else {
      encoder_ = register_module("encoder", BertEncoder(config_));
      pooler_ = register_module("pooler", BertPooler(config_));
    }
    init_weights();
    if (pooling_ == "mean" && pooler_) {  // unused: see Note [Hugging Face BERT compatibility]
      for (auto& p : pooler_->parameters()) p.set_requires_grad(false);
    }
  }

  using BackboneImpl::forward;
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& attention_mask) override {
    return forward_with_types(std::move(x), attention_mask, torch::Tensor());
  }

  torch::Tensor forward_with_types(torch::Tensor x, const torch::Tensor& attention_mask,
                                   const torch::Tensor& token_type_ids) override {
    const torch::Tensor mask = checked_mask(x, attention_mask);
    const torch::Tensor hidden = encode(x, mask, checked_types(x, token_type_ids));
    if (pooling_ == "cls") return pooler_ ? pooler_->forward(hidden) : hidden.select(1, 0);
    // sentence-transformers' mean pooling: sum over tokens / max(token count, 1e-9).
    const torch::Tensor m = mask.to(hidden.scalar_type()).unsqueeze(-1);
    return (hidden * m).sum(1) / torch::clamp(m.sum(1), 1e-9);
  }

  torch::Tensor last_hidden_state(torch::Tensor x, const torch::Tensor& attention_mask,
                                  const torch::Tensor& token_type_ids) {
    const torch::Tensor mask = checked_mask(x, attention_mask);
    return encode(x, mask, checked_types(x, token_type_ids));
  }

  int64_t feature_dim() const override { return config_.hidden_size; }
  const BertConfig& config() const { return config_; }

 private:
  /// HF _init_weights (BertPreTrainedModel).
  void init_weights() {
    torch::NoGradGuard no_grad;
    const double std_dev = config_.initializer_range;
    for (auto& module : modules(/*include_self=*/false)) {
      if (auto* linear = module->as<torch::nn::Linear>()) {
        linear->weight.normal_(0.0, std_dev);
        linear->bias.zero_();
      } else if (auto* embedding = module->as<torch::nn::Embedding>()) {
        embedding->weight.normal_(0.0, std_dev);
        if (embedding->options.padding_idx()) {
          embedding->weight[*embedding->options.padding_idx()].zero_();
        }
      } else if (auto* norm = module->as<torch::nn::LayerNorm>()) {
        norm->weight.fill_(1.0);
        norm->bias.zero_();
      }
    }
  }

  /// Validates x (in place: integer ids become int64) and returns the mask [B, L] on x's
  /// device (all ones when `attention_mask` is undefined).
  torch::Tensor checked_mask(torch::Tensor& x, const torch::Tensor& attention_mask) const {
    FROST_CHECK(x.dim() == 2, "BERT backbone: expected token ids [B, L], got shape ", x.sizes());
    FROST_CHECK(x.scalar_type() == torch::kLong || x.scalar_type() == torch::kInt,
                "BERT backbone: token ids must be int64 (or int32), got ", x.scalar_type());
    x = x.to(torch::kLong);
    const int64_t length = x.size(1);
    FROST_CHECK(length >= 1, "BERT backbone: empty sequences (L = 0)");
    if (config_.is_roberta()) {
      FROST_CHECK(length <= config_.max_length(), "RoBERTa backbone: sequence length ", length,
                  " exceeds max_position_embeddings - pad_token_id - 1 = ", config_.max_length(),
                  " (config.json: positions start at pad_token_id + 1); truncate the inputs to "
                  "at most ", config_.max_length(), " tokens");
    } else {
      FROST_CHECK(length <= config_.max_position_embeddings, "BERT backbone: sequence length ",
                  length, " exceeds max_position_embeddings = ", config_.max_position_embeddings,
                  " (config.json); truncate the inputs to at most ",
                  config_.max_position_embeddings, " tokens");
    }
    if (x.numel() > 0) {
      // One device-to-host copy for both bounds.
      const torch::Tensor bounds = torch::stack({x.min(), x.max()}).cpu();
      const int64_t lo = bounds[0].item<int64_t>();
      const int64_t hi = bounds[1].item<int64_t>();
      FROST_CHECK(lo >= 0 && hi < config_.vocab_size, "BERT backbone: token ids must lie in [0, ",
                  config_.vocab_size, ") (vocab_size in config.json), got ids in [", lo, ", ", hi,
                  "] (max id ", hi, "); the tokenizer's vocabulary does not match the checkpoint");
    }
    if (!attention_mask.defined()) {
      return torch::ones_like(x);
    }
    FROST_CHECK(attention_mask.sizes() == x.sizes(),
                "BERT backbone: attention_mask must have "
                "the shape of the token ids ",
                x.sizes(), ", got ", attention_mask.sizes());
    return attention_mask.to(x.device());
  }

  /// Validates token types (after checked_mask: x is int64 [B, L]) and returns them as int64
  /// on x's device; undefined stays undefined (type 0 everywhere, the path without pairs).
  torch::Tensor checked_types(const torch::Tensor& x, const torch::Tensor& token_type_ids) const {
    if (!token_type_ids.defined()) return token_type_ids;
    FROST_CHECK(token_type_ids.sizes() == x.sizes(), "BERT backbone: token_type_ids must have "
                "the shape of the token ids ", x.sizes(), ", got ", token_type_ids.sizes());
    FROST_CHECK(!token_type_ids.is_floating_point() && !token_type_ids.is_complex(),
                "BERT backbone: token_type_ids must be integers, got ",
                token_type_ids.scalar_type());
    const torch::Tensor types = token_type_ids.to(x.device(), torch::kLong);
    if (types.numel() > 0) {
      const torch::Tensor bounds = torch::stack({types.min(), types.max()}).cpu();
      const int64_t lo = bounds[0].item<int64_t>(), hi = bounds[1].item<int64_t>();
      // Note [Encoder variants]
      FROST_CHECK(!config_.is_distilbert() || (lo == 0 && hi == 0),
                  "DistilBERT backbone: the model has no token type embeddings, but "
                  "token_type_ids hold types in [", lo, ", ", hi, "]; DistilBERT reads sentence "
                  "pairs as [CLS] a [SEP] b [SEP] without types (write the data without "
                  "/token_type_ids, or with all 0)");
      if (config_.is_distilbert()) return torch::Tensor();  // all 0: nothing to add
      FROST_CHECK(lo >= 0 && hi < config_.type_vocab_size, variant_name(config_),
                  " backbone: token_type_ids must lie in [0, ", config_.type_vocab_size,
                  ") (type_vocab_size in config.json), got [", lo, ", ", hi, "]",
                  config_.is_roberta() && config_.type_vocab_size == 1
                      ? "; RoBERTa has a single token type: its sentence pairs are "
                        "<s> a </s></s> b </s>, all of type 0"
                      : "");
    }
    if (config_.is_distilbert()) return torch::Tensor();  // empty: nothing to add
    return types;
  }

  torch::Tensor encode(const torch::Tensor& ids, const torch::Tensor& mask,
                       const torch::Tensor& token_type_ids) {
    torch::Tensor hidden = embeddings_->forward(ids, token_type_ids);
    const auto dtype = hidden.scalar_type();
    // HF get_extended_attention_mask: [B, 1, 1, L], (1 - mask) * finfo(dtype).min.
    const torch::Tensor additive =
        (1.0 - mask.to(dtype).unsqueeze(1).unsqueeze(1)) * lowest_of(dtype);
    return transformer_ ? transformer_->forward(hidden, additive)
                        : encoder_->forward(hidden, additive);
  }

  BertConfig config_;
  std::string pooling_;
  BertEmbeddings embeddings_{nullptr};
  BertEncoder encoder_{nullptr};              ///< bert, roberta
  DistilTransformer transformer_{nullptr};    ///< distilbert
  BertPooler pooler_{nullptr};                ///< none for distilbert
};

// ---- config.json -----------------------------------------------------------------------

void read_int(const nlohmann::json& j, const char* name, int64_t& out, const std::string& path) {
  if (!j.contains(name)) return;
  FROST_CHECK(j[name].is_number_integer(), path, ": field '", name, "' must be an integer, got ",
              json_excerpt(j[name]));
  out = j[name].get<int64_t>();
}

void read_double(const nlohmann::json& j, const char* name, double& out, const std::string& path) {
  if (!j.contains(name)) return;
  FROST_CHECK(j[name].is_number(), path, ": field '", name, "' must be a number, got ",
              json_excerpt(j[name]));
  out = j[name].get<double>();
}

void read_string(const nlohmann::json& j, const char* name, std::string& out,
                 const std::string& path) {
  if (!j.contains(name)) return;
  FROST_CHECK(j[name].is_string(), path, ": field '", name, "' must be a string, got ",
              json_excerpt(j[name]));
  out = j[name].get<std::string>();
}

/// DistilBertConfig's fields (and defaults) as a BertConfig; Note [Encoder variants].
BertConfig distilbert_from_json(const nlohmann::json& j, const std::string& path) {
  BertConfig c;
  c.model_type = "distilbert";
  c.vocab_size = 30522;
  c.hidden_size = 768;
  c.num_hidden_layers = 6;
  c.num_attention_heads = 12;
  c.intermediate_size = 3072;
  c.max_position_embeddings = 512;
  c.type_vocab_size = 0;
  c.layer_norm_eps = 1e-12;  // hard-coded in modeling_distilbert.py
  if (j.contains("sinusoidal_pos_embds")) {
    FROST_CHECK(j["sinusoidal_pos_embds"].is_boolean(), path,
                ": field 'sinusoidal_pos_embds' must be true or false, got ",
                json_excerpt(j["sinusoidal_pos_embds"]));
    FROST_CHECK(!j["sinusoidal_pos_embds"].get<bool>(), path,
                ": sinusoidal_pos_embds is true; Frost's DistilBERT implements learned position "
                "embeddings only (the published DistilBERT checkpoints use them)");
  }
  read_int(j, "vocab_size", c.vocab_size, path);
  read_int(j, "dim", c.hidden_size, path);
  read_int(j, "n_layers", c.num_hidden_layers, path);
  read_int(j, "n_heads", c.num_attention_heads, path);
  read_int(j, "hidden_dim", c.intermediate_size, path);
  read_int(j, "max_position_embeddings", c.max_position_embeddings, path);
  read_double(j, "dropout", c.hidden_dropout_prob, path);
  read_double(j, "attention_dropout", c.attention_probs_dropout_prob, path);
  read_string(j, "activation", c.hidden_act, path);
  if (j.contains("pad_token_id") && !j["pad_token_id"].is_null()) {
    read_int(j, "pad_token_id", c.pad_token_id, path);
  }
  read_double(j, "initializer_range", c.initializer_range, path);
  validate(c, path);
  return c;
}

}  // namespace

int64_t BertConfig::max_length() const {
  return is_roberta() ? max_position_embeddings - pad_token_id - 1 : max_position_embeddings;
}

BertConfig BertConfig::from_json_file(const std::string& path) {
  std::ifstream in(path);
  FROST_CHECK(in.good(), "cannot open BERT config '", path,
              "' (model.hf_config, or config.json next to model.weights): the Hugging Face "
              "config.json of the checkpoint");
  std::ostringstream text;
  text << in.rdbuf();
  const std::string bytes = text.str();
  nlohmann::json j;
  try {
    j = parse_json_bounded(bytes.begin(), bytes.end(), path);  // Note [JSON nesting depth]
  } catch (const nlohmann::json::exception& e) {
    FROST_CHECK(false, path, ": not valid JSON: ", e.what());
  }
  FROST_CHECK(j.is_object(), path, ": expected a JSON object (a Hugging Face config.json)");
  BertConfig c;  // missing fields keep HF's defaults (BertConfig: BERT-base)
  read_string(j, "model_type", c.model_type, path);
  FROST_CHECK(c.model_type == "bert" || c.is_roberta() || c.is_distilbert(), path,
              ": model_type \"", c.model_type, "\" is not supported; Frost's BERT encoder loads ",
              kSupportedTypes, " (other architectures' embeddings and layers differ)");
  if (c.is_distilbert()) return distilbert_from_json(j, path);
  if (c.is_roberta()) {  // HF RobertaConfig / XLMRobertaConfig defaults
    c.pad_token_id = 1;
    if (c.model_type == "roberta") c.vocab_size = 50265;
  }
  if (j.contains("position_embedding_type")) {
    FROST_CHECK(j["position_embedding_type"] == "absolute", path, ": position_embedding_type is ",
                json_excerpt(j["position_embedding_type"]), ", only \"absolute\" is supported");
  }
  if (j.contains("is_decoder")) {
    FROST_CHECK(j["is_decoder"] == false, path,
                ": is_decoder is true; only encoders are supported");
  }

  read_int(j, "vocab_size", c.vocab_size, path);
  read_int(j, "hidden_size", c.hidden_size, path);
  read_int(j, "num_hidden_layers", c.num_hidden_layers, path);
  read_int(j, "num_attention_heads", c.num_attention_heads, path);
  read_int(j, "intermediate_size", c.intermediate_size, path);
  read_int(j, "max_position_embeddings", c.max_position_embeddings, path);
  read_int(j, "type_vocab_size", c.type_vocab_size, path);
  read_double(j, "layer_norm_eps", c.layer_norm_eps, path);
  read_double(j, "hidden_dropout_prob", c.hidden_dropout_prob, path);
  read_double(j, "attention_probs_dropout_prob", c.attention_probs_dropout_prob, path);
  read_string(j, "hidden_act", c.hidden_act, path);
  if (j.contains("pad_token_id") && !j["pad_token_id"].is_null()) {
    read_int(j, "pad_token_id", c.pad_token_id, path);
  }
  read_double(j, "initializer_range", c.initializer_range, path);
  validate(c, path);
  return c;
}

std::string BertConfig::to_json(int64_t num_labels) const {
  FROST_CHECK(num_labels >= 1, "BertConfig::to_json: num_labels must be >= 1, got ", num_labels);
  FROST_CHECK(model_type == "bert" || is_roberta(), "BertConfig::to_json: writes a "
              "BertForSequenceClassification or RobertaForSequenceClassification config, not one "
              "of model_type \"", model_type, "\" (Note [Encoder variants])");
  nlohmann::json j;
  j["architectures"] = nlohmann::json::array(
      {model_type == "bert"      ? "BertForSequenceClassification"
       : model_type == "roberta" ? "RobertaForSequenceClassification"
                                 : "XLMRobertaForSequenceClassification"});
  j["model_type"] = model_type;  // RoBERTa: bos 0 and eos 2 are RobertaConfig's defaults
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["intermediate_size"] = intermediate_size;
  j["max_position_embeddings"] = max_position_embeddings;
  j["type_vocab_size"] = type_vocab_size;
  j["layer_norm_eps"] = layer_norm_eps;
  j["hidden_dropout_prob"] = hidden_dropout_prob;
  j["attention_probs_dropout_prob"] = attention_probs_dropout_prob;
  j["hidden_act"] = hidden_act;
  j["pad_token_id"] = pad_token_id;
  j["initializer_range"] = initializer_range;
  j["position_embedding_type"] = "absolute";
  j["classifier_dropout"] = nullptr;  // HF: falls back to hidden_dropout_prob
  // Frost trains with cross-entropy; without this HF would treat num_labels == 1 as regression.
  j["problem_type"] = "single_label_classification";
  nlohmann::json id2label = nlohmann::json::object();
  nlohmann::json label2id = nlohmann::json::object();
  for (int64_t i = 0; i < num_labels; ++i) {
    const std::string label = "LABEL_" + std::to_string(i);
    id2label[std::to_string(i)] = label;
    label2id[label] = i;
  }
  j["id2label"] = id2label;
  j["label2id"] = label2id;
  return j.dump(2) + "\n";
}

std::shared_ptr<BackboneImpl> make_bert_backbone(const BertConfig& config,
                                                 const std::string& pooling) {
  validate(config, "BertConfig");
  FROST_CHECK(pooling == "cls" || pooling == "mean", "unknown model.pooling '", pooling,
              "' for BERT; valid choices: cls, mean");
  return std::make_shared<BertBackboneImpl>(config, pooling);
}

const BertConfig* bert_config_of(const BackboneImpl& backbone) {
  const auto* bert = dynamic_cast<const BertBackboneImpl*>(&backbone);
  return bert ? &bert->config() : nullptr;
}

std::vector<std::string> bert_optional_weights(const BackboneImpl& backbone) {
  const BertConfig* config = bert_config_of(backbone);
  if (config != nullptr && config->is_roberta()) return {"pooler.*"};
  return {};
}

torch::Tensor bert_last_hidden_state(BackboneImpl& backbone, const torch::Tensor& input_ids,
                                     const torch::Tensor& attention_mask,
                                     const torch::Tensor& token_type_ids) {
  auto* bert = dynamic_cast<BertBackboneImpl*>(&backbone);
  FROST_CHECK(bert != nullptr, "bert_last_hidden_state: the backbone is not a BERT encoder");
  return bert->last_hidden_state(input_ids, attention_mask, token_type_ids);
}

}  // namespace frost::models
