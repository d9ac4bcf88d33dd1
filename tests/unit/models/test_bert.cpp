// Tests of src/frost/models/bert.cpp: Hugging Face BertModel parity (names, shapes, outputs of
// a tiny random model and of the real all-MiniLM-L6-v2 checkpoint), RobertaModel and
// DistilBertModel parity (tiny random models), config.json I/O, padding invariance, dropout,
// initialisation, and the errors for bad inputs.
//
// Fixtures in tests/fixtures/ were written by make_bert_parity.py (transformers 4.36.2 on
// Debian's python3-torch 1.13); those of RoBERTa and DistilBERT (EncoderVariants.*) by
// make_encoder_parity.py (transformers 5.25.0, torch 2.11). The MiniLM test needs the checkpoint in
// <repo>/.cache/models/all-MiniLM-L6-v2/ (launch/fetch_assets.sh) and fails without it.

#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "frost/models/bert.h"
#include "frost/models/blocks.h"
#include "frost/models/models.h"
#include "frost/models/safetensors.h"
#include "frost/models/weights.h"
#include "test_util.h"

namespace frost::models {
namespace {

using frost::testing::error_of, frost::testing::expect_error_containing,
    frost::testing::fixture_path, frost::testing::source_dir, frost::testing::tmp_path, frost::testing::write_file;

BertConfig tiny_config() {
  BertConfig c;
  c.vocab_size = 99;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.intermediate_size = 37;
  c.max_position_embeddings = 64;
  return c;
}

/// max |a - b| over the positions where mask == 1; a, b [B, L, H], mask [B, L].
double masked_max_abs_diff(const torch::Tensor& a, const torch::Tensor& b,
                           const torch::Tensor& mask) {
  const auto m = mask.to(torch::kFloat).unsqueeze(-1);
  return ((a - b).abs() * m).max().item<double>();
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

/// HF BertModel outputs for one batch, as written by make_bert_parity.py.
struct Reference {
  torch::Tensor input_ids, attention_mask, last_hidden_state, pooler_output, mean_pooled;
};

Reference read_reference(const std::string& path) {
  const SafetensorsFile file = SafetensorsFile::open(path);
  Reference r;
  r.input_ids = file.get("input_ids", c10::ScalarType::Undefined);
  r.attention_mask = file.get("attention_mask", c10::ScalarType::Undefined);
  r.last_hidden_state = file.get("last_hidden_state");
  r.pooler_output = file.get("pooler_output");
  r.mean_pooled = file.get("mean_pooled");
  return r;
}

struct ParityResult {
  double hidden = 0, pooler = 0, mean = 0;
  std::vector<std::string> unexpected;  ///< file keys load_weights left unused
};

/// Runs cls and mean backbones loaded from `weights` (with `options`) on the reference batch.
ParityResult run_parity(const BertConfig& config, const std::string& weights,
                        const LoadOptions& options, const Reference& ref) {
  torch::NoGradGuard no_grad;
  auto cls = make_bert_backbone(config, "cls");
  auto mean = make_bert_backbone(config, "mean");
  ParityResult r;
  for (auto* backbone : {cls.get(), mean.get()}) {
    const LoadReport report = load_weights(*backbone, weights, options);
    EXPECT_EQ(report.loaded, static_cast<int64_t>(state_dict_items(*backbone).size()));
    EXPECT_TRUE(report.missing.empty());
    r.unexpected = report.unexpected;
    backbone->eval();
  }
  const auto hidden = bert_last_hidden_state(*cls, ref.input_ids, ref.attention_mask);
  EXPECT_EQ(hidden.sizes(), ref.last_hidden_state.sizes());
  r.hidden = masked_max_abs_diff(hidden, ref.last_hidden_state, ref.attention_mask);
  r.pooler = max_abs_diff(cls->forward(ref.input_ids, ref.attention_mask), ref.pooler_output);
  r.mean = max_abs_diff(mean->forward(ref.input_ids, ref.attention_mask), ref.mean_pooled);
  return r;
}

// ---- Hugging Face parity -------------------------------------------------------------

TEST(BertModel, ParameterNamesAndShapesMatchTransformers) {
  std::ifstream in(fixture_path("bert_tiny_state_dict.txt"));
  ASSERT_TRUE(in.good()) << "missing fixture bert_tiny_state_dict.txt";
  std::vector<std::string> expected;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) expected.push_back(line);
  }
  auto backbone = make_bert_backbone(tiny_config(), "cls");
  std::vector<std::string> actual;
  int64_t num_parameters = 0;
  for (const auto& [name, tensor] : state_dict_items(*backbone)) {
    std::ostringstream os;
    os << name;
    for (int64_t d : tensor.sizes()) os << ' ' << d;
    actual.push_back(os.str());
  }
  for (const auto& p : backbone->parameters()) num_parameters += p.numel();
  EXPECT_EQ(actual, expected);  // names, shapes and order of BertModel.state_dict()
  EXPECT_EQ(num_parameters, 19978);  // sum(p.numel() for p in BertModel(tiny).parameters())
  EXPECT_TRUE(backbone->buffers().empty());
}

TEST(BertParity, TinyRandomModelMatchesTransformers) {
  const BertConfig config = BertConfig::from_json_file(fixture_path("bert_tiny_config.json"));
  const Reference ref = read_reference(fixture_path("bert_tiny_parity.safetensors"));
  const ParityResult r =
      run_parity(config, fixture_path("bert_tiny_model.safetensors"), LoadOptions{}, ref);
  EXPECT_LE(r.hidden, 1e-5);
  EXPECT_LE(r.pooler, 1e-5);
  EXPECT_LE(r.mean, 1e-5);
  EXPECT_TRUE(r.unexpected.empty());
  std::cout << "[ parity   ] tiny BertModel vs transformers: max |diff| last_hidden_state "
            << r.hidden << ", pooler_output " << r.pooler << ", mean pooling " << r.mean << "\n";
}

// The real checkpoint: sentence-transformers/all-MiniLM-L6-v2 (6 layers, hidden 384,
// 12 heads), a BertModel saved by transformers 4.8 with the buffer embeddings.position_ids.
TEST(BertParity, MiniLmCheckpointMatchesTransformers) {
  const std::string dir = source_dir() + "/.cache/models/all-MiniLM-L6-v2";
  const std::string weights = dir + "/model.safetensors";
  ASSERT_TRUE(std::ifstream(weights).good() && std::ifstream(dir + "/config.json").good())
      << "the all-MiniLM-L6-v2 checkpoint is missing from " << dir
      << "; run launch/fetch_assets.sh to download it";
  const BertConfig config = BertConfig::from_json_file(dir + "/config.json");
  EXPECT_EQ(config.hidden_size, 384);
  EXPECT_EQ(config.num_hidden_layers, 6);
  EXPECT_EQ(config.num_attention_heads, 12);
  const Reference ref = read_reference(fixture_path("bert_minilm_parity.safetensors"));
  LoadOptions options;
  options.allow_unexpected = {"embeddings.position_ids"};
  const ParityResult r = run_parity(config, weights, options, ref);
  EXPECT_LE(r.hidden, 1e-4);
  EXPECT_LE(r.pooler, 1e-4);
  EXPECT_LE(r.mean, 1e-4);
  EXPECT_EQ(r.unexpected, std::vector<std::string>{"embeddings.position_ids"});
  std::cout << "[ parity   ] all-MiniLM-L6-v2 vs transformers: max |diff| last_hidden_state "
            << r.hidden << ", pooler_output " << r.pooler << ", mean pooling " << r.mean
            << "\n";
}

// Sentence pairs: the tiny model with token_type_ids, against make_bert_pair_parity.py (a plain
// PyTorch BertModel forward that reproduces the transformers fixture above to 5e-7 with type 0).
TEST(BertParity, TinyRandomModelWithTokenTypes) {
  torch::NoGradGuard no_grad;
  const BertConfig config = BertConfig::from_json_file(fixture_path("bert_tiny_config.json"));
  const SafetensorsFile file =
      SafetensorsFile::open(fixture_path("bert_tiny_pair_parity.safetensors"));
  const torch::Tensor ids = file.get("input_ids", c10::ScalarType::Undefined);
  const torch::Tensor mask = file.get("attention_mask", c10::ScalarType::Undefined);
  const torch::Tensor types = file.get("token_type_ids", c10::ScalarType::Undefined);
  auto cls = make_bert_backbone(config, "cls");
  auto mean = make_bert_backbone(config, "mean");
  for (auto* backbone : {cls.get(), mean.get()}) {
    load_weights(*backbone, fixture_path("bert_tiny_model.safetensors"), LoadOptions{});
    backbone->eval();
  }
  const auto hidden = bert_last_hidden_state(*cls, ids, mask, types);
  const double d_hidden = masked_max_abs_diff(hidden, file.get("last_hidden_state"), mask);
  // uint8 types, as the loader hands them out, give the same result.
  const double d_pooler = max_abs_diff(cls->forward_with_types(ids, mask, types.to(torch::kUInt8)),
                                       file.get("pooler_output"));
  const double d_mean =
      max_abs_diff(mean->forward_with_types(ids, mask, types), file.get("mean_pooled"));
  EXPECT_LE(d_hidden, 1e-5);
  EXPECT_LE(d_pooler, 1e-5);
  EXPECT_LE(d_mean, 1e-5);
  std::cout << "[ parity   ] tiny BertModel with token types: max |diff| last_hidden_state "
            << d_hidden << ", pooler_output " << d_pooler << ", mean pooling " << d_mean << "\n";
  // The types matter (row 0 and 1 have type-1 tokens), and all-zero types are the path without
  // types bit for bit.
  EXPECT_GT(max_abs_diff(cls->forward(ids, mask), file.get("pooler_output")), 1e-3);
  EXPECT_TRUE(torch::equal(cls->forward_with_types(ids, mask, torch::zeros_like(ids)),
                           cls->forward(ids, mask)));
  EXPECT_TRUE(torch::equal(cls->forward_with_types(ids, mask, torch::Tensor()),
                           cls->forward(ids, mask)));
  // Bad token types.
  EXPECT_CONTAINS(error_of([&] { cls->forward_with_types(ids, mask, types + 1); }),
                  "token_type_ids must lie in [0, 2) (type_vocab_size in config.json), got [1, 2]");
  EXPECT_CONTAINS(error_of([&] { cls->forward_with_types(ids, mask, types.narrow(1, 0, 3)); }),
                  "token_type_ids must have the shape of the token ids");
  EXPECT_CONTAINS(error_of([&] { cls->forward_with_types(ids, mask, types.to(torch::kFloat)); }),
                  "token_type_ids must be integers");
}

// ---- shapes, masks, dropout ----------------------------------------------------------

TEST(BertModel, ShapesAndFeatureDim) {
  torch::manual_seed(0);
  auto cls = make_bert_backbone(tiny_config(), "cls");
  auto mean = make_bert_backbone(tiny_config(), "mean");
  cls->eval();
  mean->eval();
  const auto ids = torch::randint(0, 99, {3, 11}, torch::kLong);
  EXPECT_EQ(cls->feature_dim(), 32);
  EXPECT_EQ(cls->forward(ids).sizes(), (std::vector<int64_t>{3, 32}));
  EXPECT_EQ(mean->forward(ids).sizes(), (std::vector<int64_t>{3, 32}));
  EXPECT_EQ(bert_last_hidden_state(*cls, ids).sizes(), (std::vector<int64_t>{3, 11, 32}));
  EXPECT_EQ(cls->forward(ids).scalar_type(), torch::kFloat);
  // int32 ids are accepted (converted to int64).
  EXPECT_TRUE(torch::equal(cls->forward(ids.to(torch::kInt)), cls->forward(ids)));

  ASSERT_NE(bert_config_of(*cls), nullptr);
  EXPECT_EQ(bert_config_of(*cls)->intermediate_size, 37);
  BackboneSpec mlp;
  mlp.arch = "mlp";
  mlp.in_features = 4;
  auto other = make_backbone(mlp);
  EXPECT_EQ(bert_config_of(*other), nullptr);
  expect_error_containing([&] { bert_last_hidden_state(*other, ids); }, "not a BERT encoder");
}

TEST(BertModel, MakeBackboneBuildsBertFromConfigJson) {
  BackboneSpec spec;
  spec.arch = "bert";
  spec.config_path = fixture_path("bert_tiny_config.json");
  spec.pooling = "mean";
  auto backbone = make_backbone(spec);
  ASSERT_NE(bert_config_of(*backbone), nullptr);
  EXPECT_EQ(backbone->feature_dim(), 32);
  Classifier model(backbone, 5);
  model->eval();
  EXPECT_EQ(model->forward(torch::ones({2, 6}, torch::kLong)).sizes(),
            (std::vector<int64_t>{2, 5}));

  spec.pooling = "max";
  expect_error_containing([&] { make_backbone(spec); }, "valid choices: cls, mean");
  spec.pooling = "cls";
  spec.config_path = tmp_path("no_such_bert_config.json");
  expect_error_containing([&] { make_backbone(spec); }, "no_such_bert_config.json");
}

// With mean pooling the pooler takes no part in the forward pass: it does not train (no bucket,
// no optimizer state, no weight decay), while every other parameter does and gets a gradient.
TEST(BertModel, MeanPoolingLeavesOnlyThePoolerOutOfTraining) {
  torch::manual_seed(0);
  for (const std::string pooling : {"cls", "mean"}) {
    auto backbone = make_bert_backbone(tiny_config(), pooling);
    backbone->forward(torch::randint(1, 99, {2, 5}, torch::kLong), torch::ones({2, 5}, torch::kLong)).sum().backward();
    int64_t pooler_params = 0;
    for (const auto& p : backbone->named_parameters()) {
      const bool in_pooler = p.key().rfind("pooler.", 0) == 0;
      pooler_params += in_pooler;
      const bool trains = pooling == "cls" || !in_pooler;
      EXPECT_EQ(p.value().requires_grad(), trains) << pooling << " " << p.key();
      EXPECT_EQ(p.value().grad().defined(), trains) << pooling << " " << p.key();
    }
    EXPECT_EQ(pooler_params, 2);
  }
}

// Padding tokens (mask 0) change nothing at the real positions, whatever their ids.
TEST(BertModel, PaddingDoesNotChangeOutputs) {
  torch::manual_seed(0);
  auto cls = make_bert_backbone(tiny_config(), "cls");
  auto mean = make_bert_backbone(tiny_config(), "mean");
  cls->eval();
  mean->eval();
  torch::NoGradGuard no_grad;
  const auto ids = torch::randint(1, 99, {2, 5}, torch::kLong);
  const auto padded = torch::cat({ids, torch::randint(0, 99, {2, 4}, torch::kLong)}, 1);
  const auto mask = torch::cat({torch::ones({2, 5}, torch::kLong), torch::zeros({2, 4}, torch::kLong)}, 1);

  const auto hidden = bert_last_hidden_state(*cls, ids);
  const auto hidden_padded = bert_last_hidden_state(*cls, padded, mask);
  EXPECT_LE(max_abs_diff(hidden_padded.narrow(1, 0, 5), hidden), 1e-5);
  EXPECT_LE(max_abs_diff(cls->forward(padded, mask), cls->forward(ids)), 1e-5);
  EXPECT_LE(max_abs_diff(mean->forward(padded, mask), mean->forward(ids)), 1e-5);

  // Ragged batch: row 1 has 2 tokens; it equals row 1 run alone.
  auto ragged_mask = torch::ones({2, 5}, torch::kLong);
  ragged_mask[1].narrow(0, 2, 3).zero_();
  const auto alone = ids[1].narrow(0, 0, 2).unsqueeze(0);
  EXPECT_LE(max_abs_diff(mean->forward(ids, ragged_mask)[1], mean->forward(alone)[0]), 1e-5);
  EXPECT_LE(max_abs_diff(cls->forward(ids, ragged_mask)[1], cls->forward(alone)[0]), 1e-5);
}

// Note [Attention through SDPA]: under bf16 autocast the padding mask must stay finite in the
// queries' dtype. float32's finfo.min rounds to -inf in bfloat16, and a row without any real
// token (legal in the schema) would then attend to nothing and turn NaN. Such a row gets HF's
// uniform weights instead, and the real rows match float32 within bfloat16 rounding.
TEST(BertModel, Bf16AutocastKeepsAnAllPaddingRowFiniteAndFollowsFp32) {
  torch::manual_seed(0);
  auto cls = make_bert_backbone(tiny_config(), "cls");
  cls->eval();
  torch::NoGradGuard no_grad;
  const auto ids = torch::randint(1, 99, {3, 6}, torch::kLong);
  auto mask = torch::ones({3, 6}, torch::kLong);
  mask[1].narrow(0, 3, 3).zero_();
  mask[2].zero_();  // no real token at all
  const auto fp32 = bert_last_hidden_state(*cls, ids, mask);
  torch::Tensor bf16;
  {
    at::autocast::set_autocast_enabled(c10::DeviceType::CPU, true);
    at::autocast::set_autocast_dtype(c10::DeviceType::CPU, at::kBFloat16);
    bf16 = bert_last_hidden_state(*cls, ids, mask).to(torch::kFloat);
    at::autocast::set_autocast_enabled(c10::DeviceType::CPU, false);
    at::autocast::clear_cache();
  }
  EXPECT_TRUE(torch::isfinite(fp32).all().item<bool>());
  EXPECT_TRUE(torch::isfinite(bf16).all().item<bool>()) << "a row of padding turned NaN/Inf";
  // LayerNorm'd hidden states are O(1): bfloat16 keeps ~3 significant digits per op.
  EXPECT_LE(max_abs_diff(bf16.narrow(0, 0, 2), fp32.narrow(0, 0, 2)), 0.1);
}

TEST(BertModel, MaskDtypesAgreeAndUndefinedMaskMeansAllTokens) {
  torch::manual_seed(0);
  auto mean = make_bert_backbone(tiny_config(), "mean");
  mean->eval();
  torch::NoGradGuard no_grad;
  const auto ids = torch::randint(0, 99, {2, 6}, torch::kLong);
  auto mask = torch::ones({2, 6}, torch::kLong);
  mask[0].narrow(0, 3, 3).zero_();
  const auto expected = mean->forward(ids, mask);
  for (auto dtype : {torch::kUInt8, torch::kBool, torch::kInt, torch::kFloat, torch::kDouble}) {
    EXPECT_TRUE(torch::equal(mean->forward(ids, mask.to(dtype)), expected)) << dtype;
  }
  EXPECT_TRUE(torch::equal(mean->forward(ids), mean->forward(ids, torch::ones_like(ids))));
}

TEST(BertModel, DropoutOnlyInTrainMode) {
  torch::manual_seed(0);
  auto cls = make_bert_backbone(tiny_config(), "cls");  // dropout 0.1 (BertConfig default)
  const auto ids = torch::randint(0, 99, {2, 8}, torch::kLong);
  cls->eval();
  EXPECT_TRUE(torch::equal(cls->forward(ids), cls->forward(ids)));
  cls->train();
  EXPECT_FALSE(torch::equal(cls->forward(ids), cls->forward(ids)));
}

// HF _init_weights, and nn.Embedding(padding_idx=pad_token_id): the [PAD] row starts at zero
// and gets no gradient.
TEST(BertModel, InitAndPaddingRowFollowTransformers) {
  torch::manual_seed(0);
  BertConfig config = tiny_config();
  config.vocab_size = 2000;  // enough samples for the std
  auto backbone = make_bert_backbone(config, "cls");
  for (const auto& [name, t] : state_dict_items(*backbone)) {
    const bool layer_norm = name.find("LayerNorm") != std::string::npos;
    if (layer_norm && name.size() > 6 && name.substr(name.size() - 6) == "weight") {
      EXPECT_TRUE(torch::equal(t, torch::ones_like(t))) << name;
    } else if (name.size() > 4 && name.substr(name.size() - 4) == "bias") {
      EXPECT_TRUE(torch::equal(t, torch::zeros_like(t))) << name;
    }
  }
  const auto items = state_dict_items(*backbone);
  const auto word = items.at(0).second;
  ASSERT_EQ(items.at(0).first, "embeddings.word_embeddings.weight");
  EXPECT_TRUE(torch::equal(word[0], torch::zeros_like(word[0])));
  EXPECT_NEAR(word.narrow(0, 1, 1999).std().item<double>(), 0.02, 0.001);

  auto ids = torch::randint(1, 2000, {2, 5}, torch::kLong);
  ids[0][4] = 0;  // a [PAD] token the mask lets through
  backbone->forward(ids).sum().backward();
  EXPECT_TRUE(torch::equal(word.grad()[0], torch::zeros_like(word[0])));
  EXPECT_GT(word.grad()[ids[1][0].item<int64_t>()].abs().sum().item<double>(), 0.0);
}

// ---- errors --------------------------------------------------------------------------

TEST(BertModel, BadInputsThrow) {
  auto cls = make_bert_backbone(tiny_config(), "cls");
  auto ids = torch::zeros({2, 4}, torch::kLong);
  ids[1][2] = 99;
  expect_error_containing([&] { cls->forward(ids); }, "max id 99");
  expect_error_containing([&] { cls->forward(ids); }, "[0, 99)");
  ids[1][2] = -1;
  expect_error_containing([&] { cls->forward(ids); }, "got ids in [-1, 0]");
  expect_error_containing([&] { cls->forward(torch::zeros({1, 65}, torch::kLong)); },
                          "sequence length 65 exceeds max_position_embeddings = 64");
  EXPECT_NO_THROW(cls->forward(torch::zeros({1, 64}, torch::kLong)));
  expect_error_containing([&] { cls->forward(torch::zeros({2, 4})); }, "must be int64");
  expect_error_containing([&] { cls->forward(torch::zeros({8}, torch::kLong)); },
                          "expected token ids [B, L]");
  expect_error_containing(
      [&] { cls->forward(torch::zeros({2, 4}, torch::kLong), torch::ones({2, 5})); },
      "attention_mask must have the shape");

  BertConfig bad = tiny_config();
  bad.num_attention_heads = 5;
  expect_error_containing([&] { make_bert_backbone(bad, "cls"); }, "multiple of num_attention_heads");
  expect_error_containing([&] { make_bert_backbone(tiny_config(), "pooler"); },
                          "valid choices: cls, mean");
}

// ---- config.json ---------------------------------------------------------------------

TEST(BertConfig, FromJsonFileReadsTransformersConfig) {
  const BertConfig c = BertConfig::from_json_file(fixture_path("bert_tiny_config.json"));
  EXPECT_EQ(c.vocab_size, 99);
  EXPECT_EQ(c.hidden_size, 32);
  EXPECT_EQ(c.num_hidden_layers, 2);
  EXPECT_EQ(c.num_attention_heads, 4);
  EXPECT_EQ(c.intermediate_size, 37);
  EXPECT_EQ(c.max_position_embeddings, 64);
  EXPECT_EQ(c.type_vocab_size, 2);
  EXPECT_DOUBLE_EQ(c.layer_norm_eps, 1e-12);
  EXPECT_DOUBLE_EQ(c.hidden_dropout_prob, 0.1);
  EXPECT_DOUBLE_EQ(c.attention_probs_dropout_prob, 0.1);
  EXPECT_EQ(c.hidden_act, "gelu");
  EXPECT_EQ(c.pad_token_id, 0);
  EXPECT_DOUBLE_EQ(c.initializer_range, 0.02);

  // Missing fields keep BERT-base's defaults.
  const std::string path = tmp_path("bert_config_minimal.json");
  write_file(path, R"({"model_type": "bert", "hidden_size": 64, "num_attention_heads": 2})");
  const BertConfig m = BertConfig::from_json_file(path);
  EXPECT_EQ(m.hidden_size, 64);
  EXPECT_EQ(m.num_hidden_layers, 12);
  EXPECT_EQ(m.vocab_size, 30522);
}

TEST(BertConfig, FromJsonFileErrorsNameFileAndField) {
  const std::string path = tmp_path("bert_config_bad.json");
  expect_error_containing([&] { BertConfig::from_json_file(tmp_path("absent.json")); },
                          "cannot open BERT config");
  write_file(path, "{\"hidden_size\": 32,");
  expect_error_containing([&] { BertConfig::from_json_file(path); }, "not valid JSON");
  write_file(path, R"({"hidden_size": "32"})");
  expect_error_containing([&] { BertConfig::from_json_file(path); },
                          "bert_config_bad.json: field 'hidden_size' must be an integer");
  write_file(path, R"({"model_type": "electra"})");
  expect_error_containing([&] { BertConfig::from_json_file(path); }, "model_type \"electra\" is not supported");
  write_file(path, R"({"hidden_act": "relu"})");
  expect_error_containing([&] { BertConfig::from_json_file(path); }, "hidden_act 'relu'");
  write_file(path, R"({"position_embedding_type": "relative_key"})");
  expect_error_containing([&] { BertConfig::from_json_file(path); }, "only \"absolute\"");
  write_file(path, R"({"hidden_size": 30, "num_attention_heads": 4})");
  expect_error_containing([&] { BertConfig::from_json_file(path); }, "bert_config_bad.json");
  write_file(path, R"({"vocab_size": 0})");
  expect_error_containing([&] { BertConfig::from_json_file(path); }, "vocab_size must be >= 1");
}

// Found with the safetensors header fuzz target's finding (the same fault, in config.json): a
// field nested 200000 arrays deep overflowed the stack while its error message was built
// (nlohmann::json::dump recurses per level). Note [JSON nesting depth] in core/json.h.
TEST(BertConfig, DeeplyNestedJsonIsAnErrorNotACrash) {
  const std::string path = tmp_path("bert_config_deep.json");
  const size_t depth = 200000;
  write_file(path, "{\"hidden_size\": " + std::string(depth, '[') + std::string(depth, ']') + "}");
  expect_error_containing([&] { BertConfig::from_json_file(path); },
                          "bert_config_deep.json nests JSON arrays and objects more than 128 "
                          "levels deep");
  // Long values are quoted in part.
  std::string long_list = "[";
  for (int i = 0; i < 10000; ++i) long_list += "1,";
  write_file(path, "{\"hidden_size\": " + long_list + "1]}");
  expect_error_containing([&] { BertConfig::from_json_file(path); }, " characters)");
}

TEST(BertConfig, ToJsonWritesSequenceClassificationConfig) {
  BertConfig c = tiny_config();
  c.layer_norm_eps = 1e-7;
  const auto j = nlohmann::json::parse(c.to_json(3));
  EXPECT_EQ(j["architectures"], nlohmann::json::array({"BertForSequenceClassification"}));
  EXPECT_EQ(j["model_type"], "bert");
  EXPECT_EQ(j["id2label"].size(), 3u);
  EXPECT_EQ(j["id2label"]["2"], "LABEL_2");
  EXPECT_EQ(j["label2id"]["LABEL_1"], 1);
  EXPECT_EQ(j["problem_type"], "single_label_classification");
  EXPECT_EQ(j["intermediate_size"], 37);
  EXPECT_EQ(j["position_embedding_type"], "absolute");

  // Round trip through from_json_file keeps every field.
  const std::string path = tmp_path("bert_config_roundtrip.json");
  write_file(path, c.to_json(3));
  const BertConfig r = BertConfig::from_json_file(path);
  EXPECT_EQ(r.vocab_size, c.vocab_size);
  EXPECT_EQ(r.hidden_size, c.hidden_size);
  EXPECT_EQ(r.num_hidden_layers, c.num_hidden_layers);
  EXPECT_EQ(r.num_attention_heads, c.num_attention_heads);
  EXPECT_EQ(r.intermediate_size, c.intermediate_size);
  EXPECT_EQ(r.max_position_embeddings, c.max_position_embeddings);
  EXPECT_EQ(r.type_vocab_size, c.type_vocab_size);
  EXPECT_DOUBLE_EQ(r.layer_norm_eps, c.layer_norm_eps);
  EXPECT_DOUBLE_EQ(r.hidden_dropout_prob, c.hidden_dropout_prob);
  EXPECT_DOUBLE_EQ(r.attention_probs_dropout_prob, c.attention_probs_dropout_prob);
  EXPECT_EQ(r.hidden_act, c.hidden_act);
  EXPECT_EQ(r.pad_token_id, c.pad_token_id);
  EXPECT_DOUBLE_EQ(r.initializer_range, c.initializer_range);

  expect_error_containing([&] { c.to_json(0); }, "num_labels must be >= 1");
}

// ---- RoBERTa and DistilBERT (Note [Encoder variants]) --------------------------------
// Fixtures by make_encoder_parity.py (transformers 5.25.0, SDPA attention, torch 2.11).

/// "name dim0 dim1 ..." per state_dict entry of `backbone`.
std::vector<std::string> names_and_shapes(const BackboneImpl& backbone) {
  std::vector<std::string> out;
  for (const auto& [name, tensor] : state_dict_items(backbone)) {
    std::ostringstream os;
    os << name;
    for (int64_t d : tensor.sizes()) os << ' ' << d;
    out.push_back(os.str());
  }
  return out;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "missing fixture " << path;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

struct VariantParity {
  double hidden = 0, cls = 0, mean = 0;
};

/// Loads `variant`_tiny_model.safetensors into cls and mean backbones and compares them with
/// `variant`_tiny_parity.safetensors.
VariantParity variant_parity(const std::string& variant) {
  torch::NoGradGuard no_grad;
  const BertConfig config = BertConfig::from_json_file(fixture_path(variant + "_tiny_config.json"));
  const SafetensorsFile file = SafetensorsFile::open(fixture_path(variant + "_tiny_parity.safetensors"));
  const torch::Tensor ids = file.get("input_ids", c10::ScalarType::Undefined);
  const torch::Tensor mask = file.get("attention_mask", c10::ScalarType::Undefined);
  auto cls = make_bert_backbone(config, "cls");
  auto mean = make_bert_backbone(config, "mean");
  for (auto* backbone : {cls.get(), mean.get()}) {
    const LoadReport report =
        load_weights(*backbone, fixture_path(variant + "_tiny_model.safetensors"), LoadOptions{});
    EXPECT_EQ(report.loaded, static_cast<int64_t>(state_dict_items(*backbone).size()));
    EXPECT_TRUE(report.missing.empty() && report.unexpected.empty());
    backbone->eval();
  }
  VariantParity r;
  const auto hidden = bert_last_hidden_state(*cls, ids, mask);
  EXPECT_EQ(hidden.sizes(), file.get("last_hidden_state").sizes());
  r.hidden = masked_max_abs_diff(hidden, file.get("last_hidden_state"), mask);
  r.cls = max_abs_diff(cls->forward(ids, mask), file.get("cls"));
  r.mean = max_abs_diff(mean->forward(ids, mask), file.get("mean_pooled"));
  std::cout << "[ parity   ] tiny " << variant << " vs transformers: max |diff| last_hidden_state "
            << r.hidden << ", cls " << r.cls << ", mean pooling " << r.mean << "\n";
  return r;
}

TEST(EncoderVariants, RobertaNamesAndShapesMatchTransformers) {
  const BertConfig config = BertConfig::from_json_file(fixture_path("roberta_tiny_config.json"));
  EXPECT_EQ(config.model_type, "roberta");
  EXPECT_EQ(config.pad_token_id, 1);
  EXPECT_EQ(config.type_vocab_size, 1);
  EXPECT_DOUBLE_EQ(config.layer_norm_eps, 1e-5);
  EXPECT_EQ(config.max_length(), 38);  // 40 positions, the first two (0 and pad) unused
  auto backbone = make_bert_backbone(config, "cls");
  // transformers 5 registers position_embeddings after LayerNorm (4.x before token types):
  // the names and shapes are what loading depends on, so compare them as sets.
  std::vector<std::string> expected = read_lines(fixture_path("roberta_tiny_state_dict.txt"));
  std::vector<std::string> actual = names_and_shapes(*backbone);
  std::sort(expected.begin(), expected.end());
  std::sort(actual.begin(), actual.end());
  EXPECT_EQ(actual, expected);
  EXPECT_TRUE(backbone->buffers().empty());
}

TEST(EncoderVariants, DistilBertNamesAndShapesMatchTransformers) {
  const BertConfig config = BertConfig::from_json_file(fixture_path("distilbert_tiny_config.json"));
  EXPECT_EQ(config.model_type, "distilbert");
  EXPECT_EQ(config.hidden_size, 32);
  EXPECT_EQ(config.num_hidden_layers, 2);
  EXPECT_EQ(config.num_attention_heads, 4);
  EXPECT_EQ(config.intermediate_size, 37);
  EXPECT_EQ(config.type_vocab_size, 0);
  EXPECT_DOUBLE_EQ(config.layer_norm_eps, 1e-12);
  EXPECT_DOUBLE_EQ(config.hidden_dropout_prob, 0.1);
  EXPECT_DOUBLE_EQ(config.attention_probs_dropout_prob, 0.1);
  auto backbone = make_bert_backbone(config, "cls");
  // names, shapes and order of DistilBertModel.state_dict()
  EXPECT_EQ(names_and_shapes(*backbone), read_lines(fixture_path("distilbert_tiny_state_dict.txt")));
  int64_t num_parameters = 0;
  for (const auto& p : backbone->parameters()) num_parameters += p.numel();
  EXPECT_EQ(num_parameters, 18090);  // printed by make_encoder_parity.py
  EXPECT_EQ(backbone->feature_dim(), 32);
}

TEST(EncoderVariants, RobertaTinyModelMatchesTransformers) {
  const VariantParity r = variant_parity("roberta");
  EXPECT_LE(r.hidden, 1e-5);
  EXPECT_LE(r.cls, 1e-5);  // pooler_output
  EXPECT_LE(r.mean, 1e-5);
}

TEST(EncoderVariants, DistilBertTinyModelMatchesTransformers) {
  const VariantParity r = variant_parity("distilbert");
  EXPECT_LE(r.hidden, 1e-5);
  EXPECT_LE(r.cls, 1e-5);  // last_hidden_state[:, 0]
  EXPECT_LE(r.mean, 1e-5);
}

// RoBERTa's position ids come from the ids (pad_token_id), not from the attention mask: a
// padded row equals the row alone at its real tokens, and the same ids under BERT's positions
// (0..L-1) give other hidden states.
TEST(EncoderVariants, RobertaPositionsCountNonPaddingIds) {
  torch::NoGradGuard no_grad;
  const BertConfig config = BertConfig::from_json_file(fixture_path("roberta_tiny_config.json"));
  auto roberta = make_bert_backbone(config, "cls");
  load_weights(*roberta, fixture_path("roberta_tiny_model.safetensors"), LoadOptions{});
  roberta->eval();
  const torch::Tensor alone = torch::tensor({{0, 40, 41, 2}}, torch::kLong);
  const torch::Tensor padded = torch::tensor({{0, 40, 41, 2, 1, 1}}, torch::kLong);
  const torch::Tensor mask = torch::tensor({{1, 1, 1, 1, 0, 0}}, torch::kLong);
  const auto h_alone = bert_last_hidden_state(*roberta, alone);
  EXPECT_LE(max_abs_diff(bert_last_hidden_state(*roberta, padded, mask).narrow(1, 0, 4), h_alone),
            1e-5);
  // Left padding shifts no position: pad ids first, then the same tokens.
  const torch::Tensor left = torch::tensor({{1, 1, 0, 40, 41, 2}}, torch::kLong);
  const torch::Tensor left_mask = torch::tensor({{0, 0, 1, 1, 1, 1}}, torch::kLong);
  EXPECT_LE(max_abs_diff(bert_last_hidden_state(*roberta, left, left_mask).narrow(1, 2, 4),
                         h_alone),
            1e-5);
  BertConfig as_bert = config;
  as_bert.model_type = "bert";
  auto bert = make_bert_backbone(as_bert, "cls");
  load_weights(*bert, fixture_path("roberta_tiny_model.safetensors"), LoadOptions{});
  bert->eval();
  EXPECT_GT(max_abs_diff(bert_last_hidden_state(*bert, alone), h_alone), 1e-3);

  // 38 tokens fit 40 positions after the offset; 39 do not.
  EXPECT_NO_THROW(roberta->forward(torch::full({1, 38}, 5, torch::kLong)));
  expect_error_containing([&] { roberta->forward(torch::full({1, 39}, 5, torch::kLong)); },
                          "sequence length 39 exceeds max_position_embeddings - pad_token_id - 1 = 38");
  // The pad row of the position embeddings starts at zero, as in nn.Embedding(padding_idx=1).
  auto fresh = make_bert_backbone(config, "cls");
  for (const auto& [name, t] : state_dict_items(*fresh)) {
    if (name == "embeddings.position_embeddings.weight") {
      EXPECT_TRUE(torch::equal(t[1], torch::zeros_like(t[1])));
      EXPECT_GT(t[2].abs().sum().item<double>(), 0.0);
    }
  }
}

// A RobertaForSequenceClassification checkpoint: "roberta." prefix, no pooler, a classifier.
// As for BERT, the prefix is model.weights_prefix and the head keys model.weights_ignore; the
// pooler may be missing (bert_optional_weights) and keeps its initialisation.
TEST(EncoderVariants, RobertaCheckpointWithPrefixAndNoPooler) {
  const std::string path = tmp_path("roberta_for_sequence_classification.safetensors");
  {
    const SafetensorsFile base = SafetensorsFile::open(fixture_path("roberta_tiny_model.safetensors"));
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const std::string& key : base.keys()) {
      if (key.rfind("pooler.", 0) != 0) tensors.emplace_back("roberta." + key, base.get(key));
    }
    tensors.emplace_back("classifier.dense.weight", torch::zeros({32, 32}));
    tensors.emplace_back("classifier.out_proj.weight", torch::zeros({3, 32}));
    write_safetensors(path, tensors, {{"format", "pt"}});
  }
  const BertConfig config = BertConfig::from_json_file(fixture_path("roberta_tiny_config.json"));
  auto backbone = make_bert_backbone(config, "mean");
  EXPECT_EQ(bert_optional_weights(*backbone), std::vector<std::string>{"pooler.*"});
  LoadOptions options;
  options.prefix_map = {{"roberta.", ""}};
  options.allow_unexpected = {"classifier.*"};
  // Without the allowance the missing pooler is named.
  EXPECT_CONTAINS(error_of([&] { load_weights(*backbone, path, options); }),
                  "pooler.dense.weight");
  options.allow_missing = bert_optional_weights(*backbone);
  const LoadReport report = load_weights(*backbone, path, options);
  EXPECT_EQ(report.missing, (std::vector<std::string>{"pooler.dense.weight", "pooler.dense.bias"}));
  EXPECT_EQ(report.unexpected.size(), 2u);
  // The encoder loaded: mean pooling matches transformers.
  torch::NoGradGuard no_grad;
  backbone->eval();
  const SafetensorsFile ref = SafetensorsFile::open(fixture_path("roberta_tiny_parity.safetensors"));
  EXPECT_LE(max_abs_diff(backbone->forward(ref.get("input_ids", c10::ScalarType::Undefined),
                                           ref.get("attention_mask", c10::ScalarType::Undefined)),
                         ref.get("mean_pooled")),
            1e-5);
  // BERT and DistilBERT checkpoints keep their pooler strict / have none.
  EXPECT_TRUE(bert_optional_weights(*make_bert_backbone(tiny_config(), "cls")).empty());
}

// Wrong names: a DistilBERT checkpoint into a RoBERTa model (and the reverse) names the keys.
TEST(EncoderVariants, WrongCheckpointNamesTheKeys) {
  auto roberta = make_bert_backbone(
      BertConfig::from_json_file(fixture_path("roberta_tiny_config.json")), "cls");
  auto distil = make_bert_backbone(
      BertConfig::from_json_file(fixture_path("distilbert_tiny_config.json")), "cls");
  const std::string e1 = error_of([&] {
    load_weights(*roberta, fixture_path("distilbert_tiny_model.safetensors"), LoadOptions{});
  });
  EXPECT_CONTAINS(e1, "encoder.layer.0.attention.self.query.weight");
  EXPECT_CONTAINS(e1, "transformer.layer.0.attention.q_lin.weight");
  const std::string e2 = error_of([&] {
    load_weights(*distil, fixture_path("roberta_tiny_model.safetensors"), LoadOptions{});
  });
  EXPECT_CONTAINS(e2, "transformer.layer.1.ffn.lin2.weight");
  EXPECT_CONTAINS(e2, "embeddings.token_type_embeddings.weight");
}

TEST(EncoderVariants, TokenTypesRefusedUnlessZero) {
  torch::NoGradGuard no_grad;
  const torch::Tensor ids = torch::tensor({{0, 40, 41, 2, 2, 50, 2}}, torch::kLong);
  const torch::Tensor mask = torch::ones_like(ids);
  torch::Tensor types = torch::zeros_like(ids);
  types[0].narrow(0, 4, 3).fill_(1);
  for (const std::string variant : {"roberta", "distilbert"}) {
    auto cls = make_bert_backbone(
        BertConfig::from_json_file(fixture_path(variant + "_tiny_config.json")), "cls");
    cls->eval();
    // All-zero types are the path without types.
    EXPECT_TRUE(torch::equal(cls->forward_with_types(ids, mask, torch::zeros_like(ids)),
                             cls->forward(ids, mask)))
        << variant;
    Classifier model(cls, 3);
    model->eval();
    const std::string error = error_of([&] { model->forward(ids, mask, types.to(torch::kUInt8)); });
    if (variant == "roberta") {
      EXPECT_CONTAINS(error, "RoBERTa backbone: token_type_ids must lie in [0, 1)");
      EXPECT_CONTAINS(error, "single token type");
    } else {
      EXPECT_CONTAINS(error, "DistilBERT backbone: the model has no token type embeddings");
    }
  }
}

TEST(EncoderVariants, DistilBertPoolingAndTraining) {
  torch::manual_seed(0);
  const BertConfig config = BertConfig::from_json_file(fixture_path("distilbert_tiny_config.json"));
  auto cls = make_bert_backbone(config, "cls");
  cls->eval();
  torch::NoGradGuard no_grad;
  const auto ids = torch::randint(1, 99, {2, 5}, torch::kLong);
  // cls = the first token's last hidden state, no parameters.
  EXPECT_TRUE(torch::equal(cls->forward(ids), bert_last_hidden_state(*cls, ids).select(1, 0)));
  // relu activation builds and changes the output; dropout only in training.
  BertConfig relu = config;
  relu.hidden_act = "relu";
  torch::manual_seed(0);
  auto a = make_bert_backbone(relu, "cls");
  a->eval();
  EXPECT_GT(max_abs_diff(a->forward(ids), cls->forward(ids)), 1e-4);
  a->train();
  EXPECT_FALSE(torch::equal(a->forward(ids), a->forward(ids)));
}

// Every parameter of both variants trains; the blocks are the stem, one per layer and (RoBERTa)
// the pooler, as for BERT (Note [Backbone blocks]).
TEST(EncoderVariants, EveryParameterTrainsAndBlocksFollowTheLayers) {
  torch::manual_seed(0);
  for (const std::string variant : {"roberta", "distilbert"}) {
    auto backbone = make_bert_backbone(
        BertConfig::from_json_file(fixture_path(variant + "_tiny_config.json")), "cls");
    const auto ids = torch::randint(3, 99, {2, 5}, torch::kLong);
    backbone->forward(ids).sum().backward();
    std::vector<std::string> names;
    for (const auto& p : backbone->named_parameters()) {
      names.push_back(p.key());
      EXPECT_TRUE(p.value().grad().defined()) << variant << " " << p.key();
    }
    std::vector<std::string> blocks;
    for (const auto& b : group_blocks(names)) blocks.push_back(b.name);
    const std::vector<std::string> expected =
        variant == "roberta"
            ? std::vector<std::string>{"embeddings", "encoder.layer.0", "encoder.layer.1", "pooler"}
            : std::vector<std::string>{"embeddings", "transformer.layer.0", "transformer.layer.1"};
    EXPECT_EQ(blocks, expected) << variant;
  }
}

TEST(EncoderVariants, ConfigErrorsNameFileAndField) {
  const std::string path = tmp_path("encoder_config_bad.json");
  write_file(path, R"({"model_type": "gpt2"})");
  const std::string error = error_of([&] { BertConfig::from_json_file(path); });
  EXPECT_CONTAINS(error, "encoder_config_bad.json: model_type \"gpt2\" is not supported");
  EXPECT_CONTAINS(error, "bert, roberta, xlm-roberta, distilbert");
  write_file(path, R"({"model_type": "distilbert", "sinusoidal_pos_embds": true})");
  expect_error_containing([&] { BertConfig::from_json_file(path); },
                          "encoder_config_bad.json: sinusoidal_pos_embds is true");
  write_file(path, R"({"model_type": "distilbert", "activation": "silu"})");
  expect_error_containing([&] { BertConfig::from_json_file(path); }, "activation 'silu'");
  write_file(path, R"({"model_type": "distilbert", "dim": "32"})");
  expect_error_containing([&] { BertConfig::from_json_file(path); }, "field 'dim' must be an integer");
  write_file(path, R"({"model_type": "distilbert", "dim": 30, "n_heads": 4})");
  expect_error_containing([&] { BertConfig::from_json_file(path); }, "multiple of num_attention_heads");
  write_file(path, R"({"model_type": "roberta", "max_position_embeddings": 2})");
  expect_error_containing([&] { BertConfig::from_json_file(path); }, "must exceed pad_token_id + 1");

  // Defaults: HF RobertaConfig / XLMRobertaConfig / DistilBertConfig.
  write_file(path, R"({"model_type": "roberta"})");
  BertConfig r = BertConfig::from_json_file(path);
  EXPECT_EQ(r.pad_token_id, 1);
  EXPECT_EQ(r.vocab_size, 50265);
  write_file(path, R"({"model_type": "xlm-roberta", "vocab_size": 250002})");
  r = BertConfig::from_json_file(path);
  EXPECT_TRUE(r.is_roberta());
  EXPECT_EQ(r.pad_token_id, 1);
  EXPECT_EQ(r.vocab_size, 250002);
  write_file(path, R"({"model_type": "distilbert"})");
  r = BertConfig::from_json_file(path);
  EXPECT_EQ(r.hidden_size, 768);
  EXPECT_EQ(r.num_hidden_layers, 6);
  EXPECT_EQ(r.intermediate_size, 3072);
  EXPECT_EQ(r.pad_token_id, 0);
}

// Export: RoBERTa as RobertaForSequenceClassification (pooler.dense -> classifier.dense, head ->
// classifier.out_proj, the rest under roberta.); DistilBERT refused, auto gives none.
TEST(EncoderVariants, HuggingFaceExportOfRobertaAndNotDistilBert) {
  {
    const BertConfig config = BertConfig::from_json_file(fixture_path("distilbert_tiny_config.json"));
    Classifier model(make_bert_backbone(config, "cls"), 2);
    EXPECT_EQ(default_export_format(*model), "none");
    expect_error_containing([&] { export_model(*model, tmp_path("export_distilbert"), "huggingface-bert"); },
                            "model_type \"distilbert\"");
    expect_error_containing([&] { config.to_json(2); }, "RobertaForSequenceClassification");
  }
  const BertConfig config = BertConfig::from_json_file(fixture_path("roberta_tiny_config.json"));
  torch::manual_seed(8);
  Classifier model(make_bert_backbone(config, "cls"), 3);
  load_weights(*model->backbone, fixture_path("roberta_tiny_model.safetensors"), LoadOptions{});
  EXPECT_EQ(default_export_format(*model), "huggingface-bert");
  // With FROST_EXPORT_DIR set, the export and Frost's logits go to $FROST_EXPORT_DIR/roberta for
  // tests/e2e/check_export_hf_bert.py (transformers' from_pretrained; not run by ctest).
  const char* env_dir = std::getenv("FROST_EXPORT_DIR");
  const bool keep = env_dir != nullptr && *env_dir;
  const std::string dir = keep ? std::string(env_dir) + "/roberta" : tmp_path("export_roberta");
  export_model(*model, dir, "huggingface-bert");
  if (keep) {
    model->eval();
    torch::NoGradGuard no_grad;
    const SafetensorsFile ref = SafetensorsFile::open(fixture_path("roberta_tiny_parity.safetensors"));
    const torch::Tensor ids = ref.get("input_ids", c10::ScalarType::Undefined);
    const torch::Tensor mask = ref.get("attention_mask", c10::ScalarType::Undefined);
    write_safetensors(dir + "/check.safetensors",
                      {{"input_ids", ids}, {"attention_mask", mask}, {"logits", model->forward(ids, mask)}});
  }
  const SafetensorsFile file = SafetensorsFile::open(dir + "/model.safetensors");
  std::set<std::string> keys;
  for (const auto& k : file.keys()) keys.insert(k);
  for (const std::string name : {"roberta.embeddings.word_embeddings.weight",
                                 "roberta.embeddings.token_type_embeddings.weight",
                                 "roberta.encoder.layer.1.output.LayerNorm.bias",
                                 "classifier.dense.weight", "classifier.dense.bias",
                                 "classifier.out_proj.weight", "classifier.out_proj.bias"}) {
    EXPECT_TRUE(keys.count(name)) << name;
  }
  EXPECT_EQ(keys.size(), state_dict_items(*model).size());
  for (const auto& k : keys) {
    EXPECT_TRUE(k.rfind("roberta.", 0) == 0 || k.rfind("classifier.", 0) == 0) << k;
    EXPECT_EQ(k.find("pooler"), std::string::npos) << k;
  }
  EXPECT_TRUE(torch::equal(file.get("classifier.out_proj.weight"), model->head->weight));
  std::ifstream config_json(dir + "/config.json");
  const auto json = nlohmann::json::parse(config_json);
  EXPECT_EQ(json.at("architectures"), nlohmann::json::array({"RobertaForSequenceClassification"}));
  EXPECT_EQ(json.at("model_type"), "roberta");
  EXPECT_EQ(json.at("pad_token_id"), 1);
  EXPECT_EQ(json.at("type_vocab_size"), 1);
  // The exported config reads back as the same encoder.
  const BertConfig back = BertConfig::from_json_file(dir + "/config.json");
  EXPECT_TRUE(back.is_roberta());
  EXPECT_EQ(back.max_position_embeddings, config.max_position_embeddings);
  EXPECT_DOUBLE_EQ(back.layer_norm_eps, 1e-5);
}

}  // namespace
}  // namespace frost::models
