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

/// Throws frost::Error unless `c` describes an encoder this file can build; `where` names the
/// source of the config (a file, or "BertConfig").
void validate(const BertConfig& c, const std::string& where) {
  const std::pair<const char*, int64_t> positive[] = {
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"num_hidden_layers", c.num_hidden_layers},
      {"num_attention_heads", c.num_attention_heads},
      {"intermediate_size", c.intermediate_size},
      {"max_position_embeddings", c.max_position_embeddings},
      {"type_vocab_size", c.type_vocab_size}};
  for (const auto& [name, value] : positive) {
    FROST_CHECK(value >= 1, where, ": ", name, " must be >= 1, got ", value);
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
  FROST_CHECK(c.hidden_act == "gelu", where, ": hidden_act '", c.hidden_act,
              "' is not supported; Frost's BERT implements \"gelu\" (the exact erf form) only");
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

/// HF BertEmbeddings: [B, L] ids -> [B, L, H].
class BertEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit BertEmbeddingsImpl(const BertConfig& c)
      : word_embeddings_(register_module(
            "word_embeddings",
            torch::nn::Embedding(torch::nn::EmbeddingOptions(c.vocab_size, c.hidden_size)
                                     .padding_idx(c.pad_token_id)))),
        position_embeddings_(register_module(
            "position_embeddings", torch::nn::Embedding(c.max_position_embeddings, c.hidden_size))),
        token_type_embeddings_(register_module(
            "token_type_embeddings", torch::nn::Embedding(c.type_vocab_size, c.hidden_size))),
        layer_norm_(register_module("LayerNorm", make_layer_norm(c))),
        dropout_p_(c.hidden_dropout_prob) {}

  /// token_type_ids: int64 [B, L] on ids' device, or undefined (type 0 everywhere).
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& token_type_ids) {
    const int64_t length = ids.size(1);
    const auto positions =
        torch::arange(length, torch::TensorOptions().dtype(torch::kLong).device(ids.device()));
    // Without token types, type 0 everywhere: adding row 0 broadcast gives the same values as
    // HF's lookup of an all-zeros token_type_ids tensor, without materialising [B, L, H].
    torch::Tensor x = token_type_ids.defined()
                          ? word_embeddings_->forward(ids) +
                                token_type_embeddings_->forward(token_type_ids)
                          : word_embeddings_->forward(ids) + token_type_embeddings_->weight[0];
    x = x + position_embeddings_->forward(positions);
    x = layer_norm_->forward(x);
    return torch::dropout(x, dropout_p_, is_training());
  }

 private:
  torch::nn::Embedding word_embeddings_;
  torch::nn::Embedding position_embeddings_;
  torch::nn::Embedding token_type_embeddings_;
  torch::nn::LayerNorm layer_norm_;
  double dropout_p_;
};
TORCH_MODULE(BertEmbeddings);

/// HF BertSelfAttention (its eager formula, computed by SDPA): [B, L, H] -> context [B, L, H].
class BertSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit BertSelfAttentionImpl(const BertConfig& c)
      : query_(register_module("query", torch::nn::Linear(c.hidden_size, c.hidden_size))),
        key_(register_module("key", torch::nn::Linear(c.hidden_size, c.hidden_size))),
        value_(register_module("value", torch::nn::Linear(c.hidden_size, c.hidden_size))),
        num_heads_(c.num_attention_heads),
        head_dim_(c.hidden_size / c.num_attention_heads),
        dropout_p_(c.attention_probs_dropout_prob) {}

  /// additive_mask: [B, 1, 1, L], 0 for tokens and finfo.min for padding.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& additive_mask) {
    const torch::Tensor q = split_heads(query_->forward(x));
    const torch::Tensor k = split_heads(key_->forward(x));
    const torch::Tensor v = split_heads(value_->forward(x));
    // Note [Attention through SDPA]
    torch::Tensor mask = additive_mask;
    if (mask.scalar_type() != q.scalar_type()) {
      mask = mask.clamp_min(lowest_of(q.scalar_type())).to(q.scalar_type());
    }
    torch::Tensor context =
        at::scaled_dot_product_attention(q, k, v, mask, is_training() ? dropout_p_ : 0.0,
                                         /*is_causal=*/false)
            .permute({0, 2, 1, 3})
            .contiguous();
    return context.view({context.size(0), context.size(1), num_heads_ * head_dim_});
  }

 private:
  /// [B, L, H] -> [B, heads, L, head_dim]
  torch::Tensor split_heads(const torch::Tensor& x) const {
    return x.view({x.size(0), x.size(1), num_heads_, head_dim_}).permute({0, 2, 1, 3});
  }

  torch::nn::Linear query_, key_, value_;
  int64_t num_heads_;
  int64_t head_dim_;
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

/// HF BertEncoder: `layer` is a ModuleList, so its children are named 0, 1, ...
class BertEncoderImpl : public torch::nn::Module {
 public:
  explicit BertEncoderImpl(const BertConfig& c) {
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
  std::vector<BertLayer> layers_;
};
TORCH_MODULE(BertEncoder);

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
    encoder_ = register_module("encoder", BertEncoder(config_));
    pooler_ = register_module("pooler", BertPooler(config_));
    init_weights();
    if (pooling_ == "mean") {  // unused: see Note [Hugging Face BERT compatibility]
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
    if (pooling_ == "cls") return pooler_->forward(hidden);
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
    FROST_CHECK(length <= config_.max_position_embeddings, "BERT backbone: sequence length ",
                length, " exceeds max_position_embeddings = ", config_.max_position_embeddings,
                " (config.json); truncate the inputs to at most ", config_.max_position_embeddings,
                " tokens");
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
      FROST_CHECK(lo >= 0 && hi < config_.type_vocab_size, "BERT backbone: token_type_ids must "
                  "lie in [0, ", config_.type_vocab_size, ") (type_vocab_size in config.json), "
                  "got [", lo, ", ", hi, "]");
    }
    return types;
  }

  torch::Tensor encode(const torch::Tensor& ids, const torch::Tensor& mask,
                       const torch::Tensor& token_type_ids) {
    torch::Tensor hidden = embeddings_->forward(ids, token_type_ids);
    const auto dtype = hidden.scalar_type();
    // HF get_extended_attention_mask: [B, 1, 1, L], (1 - mask) * finfo(dtype).min.
    const torch::Tensor additive =
        (1.0 - mask.to(dtype).unsqueeze(1).unsqueeze(1)) * lowest_of(dtype);
    return encoder_->forward(hidden, additive);
  }

  BertConfig config_;
  std::string pooling_;
  BertEmbeddings embeddings_{nullptr};
  BertEncoder encoder_{nullptr};
  BertPooler pooler_{nullptr};
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

}  // namespace

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
  if (j.contains("model_type")) {
    FROST_CHECK(j["model_type"] == "bert", path, ": model_type is ", json_excerpt(j["model_type"]),
                ", expected \"bert\" (Frost's BERT encoder does not implement other "
                "architectures, whose embeddings and layers differ)");
  }
  if (j.contains("position_embedding_type")) {
    FROST_CHECK(j["position_embedding_type"] == "absolute", path, ": position_embedding_type is ",
                json_excerpt(j["position_embedding_type"]), ", only \"absolute\" is supported");
  }
  if (j.contains("is_decoder")) {
    FROST_CHECK(j["is_decoder"] == false, path,
                ": is_decoder is true; only encoders are supported");
  }

  BertConfig c;  // missing fields keep HF BertConfig's defaults (BERT-base)
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
  nlohmann::json j;
  j["architectures"] = nlohmann::json::array({"BertForSequenceClassification"});
  j["model_type"] = "bert";
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

torch::Tensor bert_last_hidden_state(BackboneImpl& backbone, const torch::Tensor& input_ids,
                                     const torch::Tensor& attention_mask,
                                     const torch::Tensor& token_type_ids) {
  auto* bert = dynamic_cast<BertBackboneImpl*>(&backbone);
  FROST_CHECK(bert != nullptr, "bert_last_hidden_state: the backbone is not a BERT encoder");
  return bert->last_hidden_state(input_ids, attention_mask, token_type_ids);
}

}  // namespace frost::models
