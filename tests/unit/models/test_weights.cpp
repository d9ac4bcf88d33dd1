// Tests of src/frost/models/safetensors.{h,cpp} and weights.{h,cpp}: the safetensors reader and
// writer (round trip, files of the reference implementation, malformed files), load_weights
// (name mapping, allow patterns, one error listing every problem) and export_model (torchvision
// and Hugging Face BERT names).
//
// Fixtures: tests/fixtures/reference_{torch,numpy}.safetensors, written by the reference
// implementation (tests/fixtures/make_safetensors_fixtures.py). The Python side of the export
// round trip is tests/e2e/test_export_torchvision.sh, which runs WeightsExport.Torchvision*
// with FROST_EXPORT_DIR set.

#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "frost/models/bert.h"
#include "frost/models/models.h"
#include "frost/models/safetensors.h"
#include "frost/models/weights.h"
#include "frost/core/fs.h"
#include "test_util.h"

namespace frost::models {
namespace {

using frost::testing::expect_error, frost::testing::fixture_path, frost::testing::test_dir;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i, n >>= 8) s[i] = static_cast<char>(n & 0xff);
  return s;
}

/// A hand-made safetensors file: header length, header text, `data_bytes` bytes of data.
std::string write_raw(const std::string& dir, const std::string& header, size_t data_bytes) {
  const std::string path = dir + "/raw.safetensors";
  write_bytes(path, le64(header.size()) + header + std::string(data_bytes, '\x01'));
  return path;
}

bool bitwise_equal(const torch::Tensor& a, const torch::Tensor& b) {
  return a.scalar_type() == b.scalar_type() && a.sizes() == b.sizes() && torch::equal(a, b);
}

// The recipe of make_safetensors_fixtures.py.
torch::Tensor floating(std::vector<int64_t> shape, torch::Dtype dtype) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return torch::arange(n, torch::kFloat64).sub(3).div(4).reshape(shape).to(dtype);
}
torch::Tensor signed_ints(std::vector<int64_t> shape, torch::Dtype dtype) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return torch::arange(n, torch::kInt64).sub(2).reshape(shape).to(dtype);
}

std::vector<std::pair<std::string, torch::Tensor>> all_dtype_tensors() {
  return {
      {"f64", floating({2, 3}, torch::kFloat64)},
      {"encoder.layer.0.attention.self.query.weight", floating({3, 4}, torch::kFloat32)},
      {"f16", floating({5}, torch::kFloat16)},
      {"bf16", floating({2, 2}, torch::kBFloat16)},
      {"i64", signed_ints({3}, torch::kInt64)},
      {"i32", signed_ints({2, 2}, torch::kInt32)},
      {"i16", signed_ints({2}, torch::kInt16)},
      {"i8", signed_ints({3}, torch::kInt8)},
      {"u8", torch::arange(8, torch::kInt64).add(250).remainder(256).to(torch::kUInt8)},
      {"flags", torch::arange(4, torch::kInt64).remainder(3).eq(0)},
      {"scalar", torch::tensor(1.5f)},
      {"empty", torch::zeros({0, 3})},
  };
}

const std::map<std::string, std::string> kDtypeNames = {
    {"f64", "F64"},    {"encoder.layer.0.attention.self.query.weight", "F32"},
    {"f16", "F16"},    {"bf16", "BF16"},
    {"i64", "I64"},    {"i32", "I32"},
    {"i16", "I16"},    {"i8", "I8"},
    {"u8", "U8"},      {"flags", "BOOL"},
    {"scalar", "F32"}, {"empty", "F32"}};

// ---- safetensors: round trip ------------------------------------------------------------

TEST(SafetensorsRoundTrip, AllDtypesShapesAndMetadata) {
  const std::string path = test_dir() + "/all.safetensors";
  const auto tensors = all_dtype_tensors();
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "ünïcode ok"}};
  write_safetensors(path, tensors, metadata);

  const auto file = SafetensorsFile::open(path);
  EXPECT_EQ(file.path(), path);
  EXPECT_EQ(file.metadata(), metadata);
  ASSERT_EQ(file.keys().size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(file.contains(name));
    EXPECT_EQ(file.entry(name).dtype, kDtypeNames.at(name));
    EXPECT_EQ(file.entry(name).shape, t.sizes().vec());
    EXPECT_TRUE(bitwise_equal(file.get(name, c10::ScalarType::Undefined), t));
  }
  EXPECT_FALSE(file.contains("missing"));
}

TEST(SafetensorsRoundTrip, WriterSortsKeysAndPadsHeaderToEightBytes) {
  const std::string path = test_dir() + "/sorted.safetensors";
  write_safetensors(path,
                    {{"b", torch::ones({3})}, {"a", torch::zeros({1})}, {"c", torch::ones({2})}});
  const std::string bytes = read_bytes(path);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u) << "header length " << n;
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.front(), '{');
  const size_t close = header.find_last_of('}');
  EXPECT_EQ(header.find_first_not_of(' ', close + 1), std::string::npos) << "padding is spaces";
  EXPECT_EQ(bytes.size(), 8 + n + 6 * 4);

  const auto file = SafetensorsFile::open(path);
  EXPECT_EQ(file.keys(), (std::vector<std::string>{"a", "b", "c"}));  // offset order = name order
  EXPECT_EQ(file.entry("a").begin, 0);
  EXPECT_EQ(file.entry("b").begin, 4);
  EXPECT_EQ(file.entry("c").begin, 16);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));
}

TEST(SafetensorsRoundTrip, HalfAndBFloat16ConvertToFloat) {
  const std::string path = test_dir() + "/half.safetensors";
  const torch::Tensor values = floating({7}, torch::kFloat32);  // exact in F16 and BF16
  write_safetensors(path, {{"h", values.to(torch::kFloat16)}, {"b", values.to(torch::kBFloat16)}});
  const auto file = SafetensorsFile::open(path);
  EXPECT_TRUE(bitwise_equal(file.get("h"), values));  // default dtype: float32
  EXPECT_TRUE(bitwise_equal(file.get("b"), values));
  EXPECT_TRUE(bitwise_equal(file.get("b", c10::ScalarType::Double), values.to(torch::kFloat64)));
  expect_error([&] { file.get("h", c10::ScalarType::Long); }, {path, "'h'", "F16"});
  expect_error([&] { file.get("nope"); }, {path, "no tensor 'nope'"});
}

TEST(SafetensorsRoundTrip, NonContiguousInputIsWrittenByValue) {
  const std::string path = test_dir() + "/t.safetensors";
  const torch::Tensor t = torch::arange(6, torch::kFloat32).reshape({2, 3}).t();
  write_safetensors(path, {{"t", t}});
  EXPECT_TRUE(bitwise_equal(SafetensorsFile::open(path).get("t"), t.contiguous()));
}

TEST(SafetensorsWrite, RejectsUnsupportedDtypeAndDuplicateNames) {
  const std::string dir = test_dir();
  expect_error(
      [&] {
        write_safetensors(dir + "/c.safetensors", {{"z", torch::zeros({2}, torch::kComplexFloat)}});
      },
      {"'z'", "does not support"});
  expect_error(
      [&] {
        write_safetensors(dir + "/d.safetensors",
                          {{"a", torch::zeros({1})}, {"a", torch::ones({1})}});
      },
      {"'a' appears twice"});
  expect_error(
      [&] {
        write_safetensors(dir + "/m.safetensors", {{"__metadata__", torch::zeros({1})}});
      },
      {"invalid tensor name"});
  EXPECT_FALSE(std::filesystem::exists(dir + "/c.safetensors"));
}

// ---- safetensors: files of the reference implementation ---------------------------------

TEST(SafetensorsReference, ReadsTorchFrontEndFile) {
  const std::string path = fixture_path("reference_torch.safetensors");
  const auto file = SafetensorsFile::open(path);
  EXPECT_EQ(file.metadata(),
            (std::map<std::string, std::string>{{"format", "pt"}, {"source", "frost fixture"}}));
  const auto expected = all_dtype_tensors();
  ASSERT_EQ(file.keys().size(), expected.size());
  for (const auto& [name, t] : expected) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(file.contains(name));
    EXPECT_EQ(file.entry(name).dtype, kDtypeNames.at(name));
    EXPECT_TRUE(bitwise_equal(file.get(name, c10::ScalarType::Undefined), t))
        << file.get(name, c10::ScalarType::Undefined) << "\nvs\n"
        << t;
  }
  // Keys in file order: sorted by offset, which is not name order in the reference writer.
  const auto keys = file.keys();
  for (size_t i = 1; i < keys.size(); ++i) {
    EXPECT_LE(file.entry(keys[i - 1]).end, file.entry(keys[i]).begin);
  }
}

TEST(SafetensorsReference, ReadsNumpyFrontEndFile) {
  const auto file = SafetensorsFile::open(fixture_path("reference_numpy.safetensors"));
  EXPECT_TRUE(file.metadata().empty());
  EXPECT_TRUE(bitwise_equal(file.get("weight"), floating({4, 2}, torch::kFloat32)));
  EXPECT_TRUE(bitwise_equal(file.get("bias"), floating({4}, torch::kFloat32)));
  EXPECT_EQ(file.entry("bias").dtype, "F16");
  EXPECT_TRUE(bitwise_equal(file.get("steps", c10::ScalarType::Undefined),
                            torch::tensor(7, torch::kInt64)));
}

// ---- safetensors: malformed files (Note [safetensors validation]) -------------------------

const char* kOneTensor = R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";

TEST(SafetensorsMalformed, WellFormedBaselineOpens) {
  // The hand-made baseline of the cases below is valid, so each case fails for its own reason.
  const auto file = SafetensorsFile::open(write_raw(test_dir(), kOneTensor, 24));
  EXPECT_EQ(file.entry("w").shape, (std::vector<int64_t>{2, 3}));
}

TEST(SafetensorsMalformed, TruncatedData) {
  const std::string dir = test_dir();
  const std::string path = dir + "/model.safetensors";
  write_safetensors(path, {{"encoder.layer.0.attention.self.query.weight", torch::ones({4, 4})}});
  const std::string bytes = read_bytes(path);
  write_bytes(path, bytes.substr(0, bytes.size() - 10));
  expect_error(
      [&] { SafetensorsFile::open(path); },
      {path + ": tensor 'encoder.layer.0.attention.self.query.weight' data_offsets [0, 64] "
              "end beyond the data area (54 bytes): truncated file?"});
}

TEST(SafetensorsMalformed, HeaderLengthBeyondFile) {
  const std::string path = test_dir() + "/h.safetensors";
  write_bytes(path, le64(1000) + "{}");
  expect_error([&] { SafetensorsFile::open(path); },
               {path, "header length 1000", "beyond the end of the file (10 bytes)"});
}

TEST(SafetensorsMalformed, HeaderLengthAboveLimit) {
  const std::string path = test_dir() + "/h.safetensors";
  write_bytes(path, le64(uint64_t{1} << 40) + "{}");
  expect_error([&] { SafetensorsFile::open(path); }, {path, "above the limit"});
}

TEST(SafetensorsMalformed, FileShorterThanLengthField) {
  const std::string path = test_dir() + "/short.safetensors";
  write_bytes(path, "abc");
  expect_error([&] { SafetensorsFile::open(path); }, {path, "3 bytes", "8-byte header length"});
}

TEST(SafetensorsMalformed, MissingFile) {
  const std::string path = test_dir() + "/absent.safetensors";
  expect_error([&] { SafetensorsFile::open(path); }, {"cannot open", path});
}

TEST(SafetensorsMalformed, BadJson) {
  const std::string dir = test_dir();
  const std::string path = write_raw(dir, R"({"w":{"dtype":"F32",)", 0);
  expect_error([&] { SafetensorsFile::open(path); }, {path, "not valid JSON"});
  const std::string not_object = write_raw(dir, "[1, 2]", 0);
  expect_error([&] { SafetensorsFile::open(not_object); }, {not_object, "expected an object"});
}

TEST(SafetensorsMalformed, OverlappingOffsets) {
  const std::string path = write_raw(
      test_dir(),
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
      12);
  expect_error([&] { SafetensorsFile::open(path); },
               {path, "tensor 'b' data_offsets [4, 12] overlap tensor 'a'"});
}

TEST(SafetensorsMalformed, GapBetweenTensors) {
  const std::string path = write_raw(
      test_dir(),
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
      20);
  expect_error([&] { SafetensorsFile::open(path); },
               {path, "bytes [8, 12) of the data area belong to no tensor"});
}

TEST(SafetensorsMalformed, TrailingBytes) {
  const std::string path = write_raw(test_dir(), kOneTensor, 30);
  expect_error([&] { SafetensorsFile::open(path); },
               {path, "data area has 30 bytes", "cover only 24"});
}

TEST(SafetensorsMalformed, SizeMismatch) {
  const std::string path =
      write_raw(test_dir(), R"({"w":{"dtype":"F32","shape":[2,4],"data_offsets":[0,24]}})", 24);
  expect_error([&] { SafetensorsFile::open(path); },
               {path, "tensor 'w' (F32 [2, 4]) needs 32 bytes but data_offsets [0, 24] span 24"});
}

TEST(SafetensorsMalformed, BeginAfterEnd) {
  const std::string path =
      write_raw(test_dir(), R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[8,4]}})", 8);
  expect_error([&] { SafetensorsFile::open(path); }, {path, "tensor 'w'", "begin after end"});
}

TEST(SafetensorsMalformed, UnknownDtype) {
  const std::string path =
      write_raw(test_dir(), R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2);
  expect_error([&] { SafetensorsFile::open(path); },
               {path, "tensor 'w' has unknown dtype 'F8_E4M3'", "BF16"});
}

TEST(SafetensorsMalformed, NegativeShape) {
  const std::string path =
      write_raw(test_dir(), R"({"w":{"dtype":"F32","shape":[-1,6],"data_offsets":[0,24]}})", 24);
  expect_error([&] { SafetensorsFile::open(path); },
               {path, "tensor 'w'", "shape [-1,6]", "non-negative"});
}

TEST(SafetensorsMalformed, ShapeOverflow) {
  const std::string path =
      write_raw(test_dir(),
                R"({"w":{"dtype":"F64","shape":[4611686018427387904,4],"data_offsets":[0,8]}})", 8);
  expect_error([&] { SafetensorsFile::open(path); }, {path, "tensor 'w'", "more than 2^63"});
}

TEST(SafetensorsMalformed, MissingFieldsAndBadMetadata) {
  const std::string dir = test_dir();
  const std::string no_offsets = write_raw(dir, R"({"w":{"dtype":"F32","shape":[1]}})", 4);
  expect_error([&] { SafetensorsFile::open(no_offsets); },
               {no_offsets, "tensor 'w'", "data_offsets"});
  const std::string bad_meta = write_raw(dir, R"({"__metadata__":{"epochs":3}})", 0);
  expect_error([&] { SafetensorsFile::open(bad_meta); },
               {bad_meta, "'epochs'", "expected a string"});
}

// ---- load_weights --------------------------------------------------------------------------

std::shared_ptr<BackboneImpl> small_mlp() {
  BackboneSpec spec;
  spec.arch = "mlp";
  spec.in_features = 4;
  spec.hidden = {3, 2};
  return make_backbone(
      spec);  // layers.0.{weight [3,4], bias [3]}, layers.2.{weight [2,3], bias [2]}
}

std::map<std::string, torch::Tensor> snapshot(const torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, t] : state_dict_items(module)) out[name] = t.detach().clone();
  return out;
}

void expect_same_state(const torch::nn::Module& module,
                       const std::map<std::string, torch::Tensor>& expected) {
  const auto items = state_dict_items(module);
  ASSERT_EQ(items.size(), expected.size());
  for (const auto& [name, t] : items) {
    ASSERT_TRUE(expected.count(name)) << name;
    EXPECT_TRUE(bitwise_equal(t, expected.at(name))) << name;
  }
}

BackboneSpec small_resnet_spec() {
  BackboneSpec spec;
  spec.arch = "resnet18";
  spec.width = 8;
  spec.small_input = true;
  spec.in_channels = 1;
  return spec;
}

/// Gives BatchNorm non-trivial running statistics (a few train-mode forwards).
void warm_batchnorm(torch::nn::Module& model, int64_t in_channels) {
  torch::NoGradGuard no_grad;
  model.train();
  for (int i = 0; i < 3; ++i) {
    auto x = torch::randn({4, in_channels, 12, 12});
    if (auto* c = dynamic_cast<ClassifierImpl*>(&model)) {
      c->forward(x);
    } else {
      dynamic_cast<BackboneImpl&>(model).forward(x);
    }
  }
  model.eval();
}

TEST(WeightsLoad, TorchvisionNamesIntoClassifier) {
  torch::manual_seed(1);
  Classifier source(make_backbone(small_resnet_spec()), 5);
  warm_batchnorm(*source, 1);
  // A torchvision-style file: backbone names without prefix, the head as fc.
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& [name, t] : state_dict_items(*source)) {
    if (name.rfind("backbone.", 0) == 0) tensors.emplace_back(name.substr(9), t);
  }
  tensors.emplace_back("fc.weight", source->head->weight);
  tensors.emplace_back("fc.bias", source->head->bias);
  const std::string path = test_dir() + "/resnet.safetensors";
  write_safetensors(path, tensors);

  torch::manual_seed(2);
  Classifier target(make_backbone(small_resnet_spec()), 5);
  LoadOptions options;
  options.prefix_map = {{"fc.", "head."}, {"", "backbone."}};  // first match wins
  const LoadReport report = load_weights(*target, path, options);
  EXPECT_EQ(report.loaded, static_cast<int64_t>(tensors.size()));
  EXPECT_TRUE(report.missing.empty());
  EXPECT_TRUE(report.unexpected.empty());
  expect_same_state(*target, snapshot(*source));
}

TEST(WeightsLoad, ListsEveryProblemInOneErrorAndLoadsNothing) {
  auto model = small_mlp();
  const auto before = snapshot(*model);
  const std::string path = test_dir() + "/x.safetensors";
  write_safetensors(path, {{"layers.0.weight", torch::ones({4, 3})},  // transposed
                           {"layers.0.bias", torch::ones({3})},       // fine
                           {"layers.2.weight", torch::ones({2, 3})},  // fine
                           {"cls.predictions.bias", torch::ones({7})},
                           {"pooler.dense.weight", torch::ones({2, 2})}});  // layers.2.bias missing
  expect_error(
      [&] { load_weights(*model, path, {}); },
      {"weights '" + path + "' do not fit the model: ", "missing (1): layers.2.bias",
       "unexpected (2): cls.predictions.bias, pooler.dense.weight",
       "shape mismatch (1): layers.0.weight file [4, 3] vs model [3, 4]", "model.weights_prefix"});
  expect_same_state(*model, before);  // all or nothing
}

TEST(WeightsLoad, AllowPatternsAndReport) {
  auto model = small_mlp();
  const std::string path = test_dir() + "/x.safetensors";
  write_safetensors(path, {{"layers.0.weight", torch::full({3, 4}, 0.5)},
                           {"layers.0.bias", torch::full({3}, 0.25)},
                           {"cls.predictions.bias", torch::ones({7})},
                           {"cls.seq.weight", torch::ones({1})}});
  LoadOptions options;
  options.allow_missing = {"layers.2.*"};
  options.allow_unexpected = {"cls.*"};
  const auto before = snapshot(*model);
  const LoadReport report = load_weights(*model, path, options);
  EXPECT_EQ(report.loaded, 2);
  EXPECT_EQ(report.missing, (std::vector<std::string>{"layers.2.weight", "layers.2.bias"}));
  EXPECT_EQ(report.unexpected,
            (std::vector<std::string>{"cls.predictions.bias", "cls.seq.weight"}));
  const auto after = snapshot(*model);
  EXPECT_TRUE(bitwise_equal(after.at("layers.0.weight"), torch::full({3, 4}, 0.5)));
  EXPECT_TRUE(bitwise_equal(after.at("layers.0.bias"), torch::full({3}, 0.25)));
  EXPECT_TRUE(bitwise_equal(after.at("layers.2.weight"), before.at("layers.2.weight")));

  // An exact pattern (no '*') matches only the exact name.
  options.allow_missing = {"layers.2"};
  expect_error([&] { load_weights(*model, path, options); },
               {"missing (2): layers.2.weight, layers.2.bias"});
}

TEST(WeightsLoad, PrefixMapStripsFilePrefixAndAllowsUnexpectedAfterMapping) {
  auto model = small_mlp();
  const std::string path = test_dir() + "/bert_style.safetensors";
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& [name, t] : state_dict_items(*model))
    tensors.emplace_back("bert." + name, torch::full_like(t, 2.0));
  tensors.emplace_back("bert.pooler.dense.weight", torch::ones({2}));
  tensors.emplace_back("classifier.weight", torch::ones({2}));
  write_safetensors(path, tensors);

  // Without the map: every name missing, every key unexpected, and a hint at the prefix.
  expect_error([&] { load_weights(*model, path, {}); },
               {"missing (4)", "unexpected (6)",
                "hint: file keys 'bert.*' look like the model's '*' (prefix map 'bert.' -> '')"});

  LoadOptions options;
  options.prefix_map = {{"bert.", ""}};
  options.allow_unexpected = {"pooler.*", "classifier.*"};  // "pooler.*" matches after mapping
  const LoadReport report = load_weights(*model, path, options);
  EXPECT_EQ(report.loaded, 4);
  EXPECT_EQ(report.unexpected,
            (std::vector<std::string>{"bert.pooler.dense.weight", "classifier.weight"}));
  for (const auto& [name, t] : state_dict_items(*model))
    EXPECT_TRUE(torch::equal(t, torch::full_like(t, 2.0))) << name;
}

// Found by a user: model.weights_prefix = xyz. (a typo) loaded nothing silently.
TEST(WeightsLoad, PrefixThatNoKeyHasIsAnError) {
  auto model = small_mlp();
  const std::string path = test_dir() + "/plain.safetensors";
  write_safetensors(path, state_dict_items(*model));
  LoadOptions options;
  options.prefix_map = {{"xyz.", ""}};
  expect_error([&] { load_weights(*model, path, options); },
               {"no key starts with the prefix 'xyz.' (model.weights_prefix)", "plain.safetensors"});
}

TEST(WeightsLoad, HintsAtMissingModulePrefix) {
  Classifier model(small_mlp(), 2);
  const std::string path = test_dir() + "/bare.safetensors";
  write_safetensors(path, state_dict_items(*model->backbone));
  expect_error(
      [&] { load_weights(*model, path, {}); },
      {"hint: file keys '*' look like the model's 'backbone.*'", "missing (6)", "unexpected (4)"});
}

TEST(WeightsLoad, ConvertsHalfPrecisionToModelDtype) {
  auto model = small_mlp();
  const std::string path = test_dir() + "/half.safetensors";
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& [name, t] : state_dict_items(*model))
    tensors.emplace_back(name, torch::full_like(t, -0.75).to(torch::kBFloat16));
  write_safetensors(path, tensors);
  load_weights(*model, path, {});
  for (const auto& [name, t] : state_dict_items(*model)) {
    EXPECT_EQ(t.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::equal(t, torch::full_like(t, -0.75))) << name;
  }
}

TEST(WeightsLoad, IntegerFileTensorIntoFloatParameterIsAMismatch) {
  auto model = small_mlp();
  const std::string path = test_dir() + "/int.safetensors";
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& [name, t] : state_dict_items(*model))
    tensors.emplace_back(name, t.detach().clone());
  tensors[1].second = torch::ones({3}, torch::kInt64);
  write_safetensors(path, tensors);
  expect_error([&] { load_weights(*model, path, {}); },
               {"dtype mismatch (1): layers.0.bias file integer vs model Float"});
}

TEST(WeightsLoad, AllowedMissingWithOtherShapeIsLeftAsInitialised) {
  torch::manual_seed(3);
  Classifier source(small_mlp(), 7);
  Classifier target(small_mlp(), 3);
  const auto head_before = target->head->weight.detach().clone();
  const std::string path = test_dir() + "/other_head.safetensors";
  write_safetensors(path, state_dict_items(*source));
  LoadOptions options;
  options.allow_missing = {"head.*"};
  const LoadReport report = load_weights(*target, path, options);
  EXPECT_EQ(report.loaded, 4);
  EXPECT_EQ(report.missing, (std::vector<std::string>{"head.weight", "head.bias"}));
  EXPECT_EQ(report.unexpected, (std::vector<std::string>{"head.bias", "head.weight"}));
  EXPECT_TRUE(bitwise_equal(target->head->weight, head_before));
  EXPECT_TRUE(bitwise_equal(target->backbone->named_parameters()["layers.0.weight"],
                            source->backbone->named_parameters()["layers.0.weight"]));
}

TEST(WeightsLoad, ReadsFrostModelPt) {
  torch::manual_seed(4);
  Classifier source(make_backbone(small_resnet_spec()), 4);
  warm_batchnorm(*source, 1);
  const std::string path = test_dir() + "/model.pt";
  save_state_dict(*source, path);
  torch::manual_seed(5);
  Classifier target(make_backbone(small_resnet_spec()), 4);
  const LoadReport report = load_weights(*target, path, {});
  EXPECT_EQ(report.loaded, static_cast<int64_t>(state_dict_items(*source).size()));
  expect_same_state(*target, snapshot(*source));
}

TEST(WeightsLoad, RejectsUnknownExtensionAndNonDictPickle) {
  auto model = small_mlp();
  const std::string dir = test_dir();
  write_bytes(dir + "/w.npz", "PK");
  expect_error([&] { load_weights(*model, dir + "/w.npz", {}); },
               {dir + "/w.npz", "unknown file type '.npz'", ".safetensors"});
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(torch::ones({2})));
  write_bytes(dir + "/t.pt", std::string(bytes.begin(), bytes.end()));
  expect_error([&] { load_weights(*model, dir + "/t.pt", {}); },
               {dir + "/t.pt", "holds a tensor, expected a {name: tensor} state dict"});
  write_bytes(dir + "/junk.pt", "not a pickle");
  expect_error([&] { load_weights(*model, dir + "/junk.pt", {}); },
               {dir + "/junk.pt", "is not a torch.save file"});
}

// ---- model.pt: save_state_dict and load_init_weights (model.init) ---------------------------

TEST(InitWeights, LoadsTheBackboneAndAHeadThatFits) {
  torch::manual_seed(6);
  Classifier source(make_backbone(small_resnet_spec()), 4);
  warm_batchnorm(*source, 1);
  const std::string path = test_dir() + "/model.pt";
  save_state_dict(*source, path);
  torch::manual_seed(7);
  Classifier same(make_backbone(small_resnet_spec()), 4);
  EXPECT_TRUE(load_init_weights(*same, path));
  expect_same_state(*same, snapshot(*source));
  // Another class count: the backbone is loaded, the head is left as it was.
  Classifier other(make_backbone(small_resnet_spec()), 3);
  const auto head_before = other->head->weight.detach().clone();
  EXPECT_FALSE(load_init_weights(*other, path));
  expect_same_state(*other->backbone, snapshot(*source->backbone));
  EXPECT_TRUE(bitwise_equal(other->head->weight, head_before));
  // A model of another shape: the key and both shapes are named.
  Classifier wider(small_mlp(), 4);
  expect_error([&] { load_init_weights(*wider, path); }, {path, "has no 'backbone."});
}

// Found by a user: model.init pointing at a file that is not a model.pt printed LibTorch's C++
// backtrace ("Exception raised from valid at ...inline_container.cc... frame #0:
// c10::Error::Error(...)") inside the message. The message names the file and LibTorch's
// reason, without the backtrace: for random bytes and for a zip archive without a pickle.
TEST(InitWeights, NotAModelPtIsNamedWithoutLibTorchBacktrace) {
  Classifier model(small_mlp(), 3);
  const std::string dir = test_dir();
  std::string garbage(4096, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) {
    garbage[i] = static_cast<char>((i * 2654435761u) >> 13);
  }
  write_bytes(dir + "/garbage.pt", garbage);
  {
    caffe2::serialize::PyTorchStreamWriter writer(dir + "/no_pickle.pt");
    writer.writeRecord("notes.txt", "not a pickle", 12);
    writer.writeEndOfFile();
  }
  for (const std::string name : {"garbage.pt", "no_pickle.pt"}) {
    const std::string path = dir + "/" + name;
    const std::string what = frost::testing::error_of([&] { load_init_weights(*model, path); });
    EXPECT_NE(what.find("'" + path + "' is not a Frost model.pt"), std::string::npos) << what;
    EXPECT_NE(what.find("PytorchStreamReader"), std::string::npos) << what;  // LibTorch's reason
    EXPECT_EQ(what.find("Exception raised from"), std::string::npos) << what;
    EXPECT_EQ(what.find("frame #"), std::string::npos) << what;
  }
  expect_error([&] { load_init_weights(*model, dir + "/none.pt"); },
               {dir + "/none.pt' is not a file"});
}

TEST(WeightsLoad, PatternMatching) {
  EXPECT_TRUE(weights_pattern_matches("head.*", "head.weight"));
  EXPECT_TRUE(weights_pattern_matches("*", "anything"));
  EXPECT_TRUE(weights_pattern_matches("embeddings.position_ids", "embeddings.position_ids"));
  EXPECT_FALSE(weights_pattern_matches("embeddings.position_ids", "embeddings.position_ids2"));
  EXPECT_FALSE(weights_pattern_matches("head.*", "heads.weight"));
  EXPECT_FALSE(weights_pattern_matches("", "x"));
}

// ---- export_model ---------------------------------------------------------------------------

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

/// Exports a ResNet Classifier made from `spec` as torchvision and checks model.json, the names
/// and a reload under torchvision's names (bitwise-equal logits). With FROST_EXPORT_DIR set
/// (tests/e2e/test_export_torchvision.sh), writes to $FROST_EXPORT_DIR/<name> and adds
/// check.safetensors (input, logits) for the check with torchvision in Python.
void check_torchvision_export(const BackboneSpec& spec, int64_t num_classes,
                              const std::string& name, std::vector<int64_t> input_shape) {
  const char* env_dir = std::getenv("FROST_EXPORT_DIR");
  const bool keep = env_dir != nullptr && *env_dir;
  const std::string dir = keep ? std::string(env_dir) + "/" + name : test_dir() + "/" + name;
  torch::manual_seed(6);
  Classifier model(make_backbone(spec), num_classes);
  warm_batchnorm(*model, spec.in_channels);
  model->eval();
  int64_t numel = 1;
  for (int64_t d : input_shape) numel *= d;
  const torch::Tensor x = torch::sin(torch::arange(numel, torch::kFloat64).mul(0.05))
                              .reshape(input_shape)
                              .to(torch::kFloat32);
  torch::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = model->forward(x);
  }
  EXPECT_EQ(default_export_format(*model), "torchvision");
  export_model(*model, dir, "torchvision");
  if (keep) write_safetensors(dir + "/check.safetensors", {{"input", x}, {"logits", logits}});

  const auto json = nlohmann::json::parse(read_bytes(dir + "/model.json"));
  EXPECT_EQ(json.at("format"), "torchvision");
  EXPECT_EQ(json.at("arch"), spec.arch);
  EXPECT_EQ(json.at("num_classes"), num_classes);
  EXPECT_EQ(json.at("width"), spec.width);
  EXPECT_EQ(json.at("in_channels"), spec.in_channels);
  EXPECT_EQ(json.at("small_input"), spec.small_input);

  // Names: torchvision's resnet18 state_dict, fc included, num_batches_tracked kept.
  const auto file = SafetensorsFile::open(dir + "/model.safetensors");
  EXPECT_EQ(file.metadata().at("format"), "pt");
  std::vector<std::string> expected = lines_of(fixture_path("resnet18_state_dict_keys.txt"));
  ASSERT_EQ(expected.size(), 120u);
  expected.push_back("fc.weight");
  expected.push_back("fc.bias");
  auto keys = file.keys();
  std::sort(keys.begin(), keys.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(keys, expected);
  EXPECT_EQ(file.entry("bn1.num_batches_tracked").dtype, "I64");
  EXPECT_EQ(file.entry("fc.weight").shape, (std::vector<int64_t>{num_classes, 8 * spec.width}));

  // Back into a fresh model under torchvision's names: the same logits, bit for bit.
  torch::manual_seed(7);
  Classifier reloaded(make_backbone(spec), num_classes);
  LoadOptions options;
  options.prefix_map = {{"fc.", "head."}, {"", "backbone."}};
  EXPECT_EQ(load_weights(*reloaded, dir + "/model.safetensors", options).loaded, 122);
  reloaded->eval();
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(bitwise_equal(reloaded->forward(x), logits));
  if (!keep) frost::fs::remove_tree(dir);
}

TEST(WeightsExport, TorchvisionRoundTripSmallResnet) {
  check_torchvision_export(small_resnet_spec(), 5, "small", {3, 1, 28, 28});
}

TEST(WeightsExport, TorchvisionRoundTripStockResnet18) {
  BackboneSpec spec;  // torchvision.models.resnet18 exactly: width 64, 3 channels, 7x7 stem
  spec.arch = "resnet18";
  check_torchvision_export(spec, 10, "stock", {2, 3, 40, 40});
}

TEST(WeightsExport, TorchvisionNeedsAResNet) {
  Classifier model(small_mlp(), 3);
  EXPECT_EQ(default_export_format(*model), "none");
  const std::string dir = test_dir();
  expect_error([&] { export_model(*model, dir, "torchvision"); },
               {"needs a ResNet backbone", "layers.0.weight"});
  expect_error([&] { export_model(*model, dir, "huggingface-bert"); }, {"needs a BERT backbone"});
  expect_error([&] { export_model(*model, dir, "onnx"); }, {"'onnx' is not an export format"});
  EXPECT_FALSE(std::filesystem::exists(dir + "/model.safetensors"));
}

TEST(WeightsExport, HuggingFaceBertNamesAndConfig) {
  const BertConfig config = BertConfig::from_json_file(fixture_path("bert_tiny_config.json"));
  torch::manual_seed(8);
  Classifier model(make_bert_backbone(config, "cls"), 3);
  EXPECT_EQ(default_export_format(*model), "huggingface-bert");
  // With FROST_EXPORT_DIR set, the export and Frost's logits go to $FROST_EXPORT_DIR/bert for a
  // check with transformers' BertForSequenceClassification.from_pretrained (not run by ctest:
  // transformers is not a Debian package).
  const char* env_dir = std::getenv("FROST_EXPORT_DIR");
  const bool keep = env_dir != nullptr && *env_dir;
  const std::string dir = keep ? std::string(env_dir) + "/bert" : test_dir();
  export_model(*model, dir, "huggingface-bert");
  if (keep) {
    model->eval();
    torch::NoGradGuard no_grad;
    const torch::Tensor ids =
        torch::arange(12, torch::kInt64).mul(7).remainder(config.vocab_size).reshape({2, 6});
    torch::Tensor mask = torch::ones({2, 6}, torch::kInt64);
    mask.index_put_({1, torch::indexing::Slice(4, torch::indexing::None)}, 0);
    write_safetensors(
        dir + "/check.safetensors",
        {{"input_ids", ids}, {"attention_mask", mask}, {"logits", model->forward(ids, mask)}});
  }

  const auto file = SafetensorsFile::open(dir + "/model.safetensors");
  EXPECT_EQ(file.metadata().at("format"), "pt");  // transformers requires it
  std::set<std::string> keys;
  for (const auto& k : file.keys()) keys.insert(k);
  for (const std::string name :
       {"bert.embeddings.word_embeddings.weight", "bert.embeddings.LayerNorm.weight",
        "bert.encoder.layer.1.attention.self.query.weight",
        "bert.encoder.layer.1.output.LayerNorm.bias", "bert.pooler.dense.weight",
        "classifier.weight", "classifier.bias"}) {
    EXPECT_TRUE(keys.count(name)) << name;
  }
  for (const auto& k : keys) {
    EXPECT_TRUE(k.rfind("bert.", 0) == 0 || k.rfind("classifier.", 0) == 0) << k;
    EXPECT_EQ(k.find("position_ids"), std::string::npos) << k;
  }
  size_t exported_params = 0;
  for (const auto& p : model->named_parameters())
    exported_params +=
        keys.count(p.key().rfind("backbone.", 0) == 0 ? "bert." + p.key().substr(9)
                                                      : "classifier." + p.key().substr(5));
  EXPECT_EQ(exported_params, model->parameters().size());
  EXPECT_EQ(file.entry("classifier.weight").shape, (std::vector<int64_t>{3, config.hidden_size}));

  const std::string model_json = read_bytes(dir + "/model.json");
  EXPECT_EQ(model_json, config.to_json(3));
  EXPECT_EQ(read_bytes(dir + "/config.json"), model_json);
  const auto json = nlohmann::json::parse(model_json);
  EXPECT_EQ(json.at("hidden_size"), config.hidden_size);
}

}  // namespace
}  // namespace frost::models
