// Tests of Frost's torch.save reader: parse_torch_pickle (torch_pickle.h, on hand-made pickle
// bytes: what torch.save writes, and every kind of damage) and load_torch_state_dict
// (pickle_file.h, on archives written here with LibTorch's PyTorchStreamWriter and with
// save_state_dict).
//
// TorchPickleFixtures.* compare with files PyTorch itself writes (a torchvision ResNet-18
// state_dict(), a Hugging Face-like bf16/fp16 file with tied weights and views, a nested
// checkpoint, a legacy file): tests/e2e/test_torch_pickle.sh writes them with
// tests/fixtures/make_torch_pickle_fixtures.py and runs these tests with FROST_TORCH_PICKLE_DIR
// set (without it they skip, saying so).

#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "frost/models/models.h"
#include "frost/models/pickle_file.h"
#include "frost/models/safetensors.h"
#include "frost/models/torch_pickle.h"
#include "frost/models/weights.h"
#include "test_util.h"

namespace frost::models {
namespace {

using frost::testing::expect_error, frost::testing::test_dir;
using Kind = PickleNode::Kind;

/// Pickle protocol 2 bytes, written opcode by opcode (as Python's pickle.py names them).
struct Pickle {
  std::string b = std::string("\x80\x02", 2);  // PROTO 2
  Pickle& op(char c) {
    b += c;
    return *this;
  }
  Pickle& raw(const std::string& s) {
    b += s;
    return *this;
  }
  Pickle& str(const std::string& s) {  // BINUNICODE
    b += 'X';
    for (int i = 0; i < 4; ++i) b += static_cast<char>((s.size() >> (8 * i)) & 0xff);
    b += s;
    return *this;
  }
  Pickle& global(const std::string& module, const std::string& name) {
    b += "c" + module + "\n" + name + "\n";
    return *this;
  }
  Pickle& int1(uint8_t v) {  // BININT1
    b += 'K';
    b += static_cast<char>(v);
    return *this;
  }
  Pickle& put(uint8_t i) {  // BINPUT
    b += 'q';
    b += static_cast<char>(i);
    return *this;
  }
  Pickle& get(uint8_t i) {  // BINGET
    b += 'h';
    b += static_cast<char>(i);
    return *this;
  }
  /// _rebuild_tensor_v2((storage 'key', dtype, numel), offset, sizes, strides, False,
  /// OrderedDict()); memo 0 must hold collections.OrderedDict.
  Pickle& tensor(const std::string& key, const std::string& dtype, uint8_t numel, uint8_t offset,
                 const std::vector<uint8_t>& sizes, const std::vector<uint8_t>& strides) {
    global("torch._utils", "_rebuild_tensor_v2").op('(');
    op('(').str("storage").global("torch", dtype + "Storage").str(key).str("cpu").int1(numel);
    op('t').op('Q').int1(offset);
    op('(');
    for (uint8_t s : sizes) int1(s);
    op('t').op('(');
    for (uint8_t s : strides) int1(s);
    op('t').op('\x89').get(0).op(')').op('R').op('t').op('R');
    return *this;
  }
  std::string done() const { return b + "."; }
};

/// torch.save(OrderedDict(w=<2x2 view at offset 1, strides (1, 2)>, v=<its storage's first 3>))
/// with _metadata, as Python writes a state_dict(): OrderedDict() + SETITEMS + BUILD.
std::string state_dict_pickle() {
  Pickle p;
  p.global("collections", "OrderedDict").put(0).op(')').op('R').put(1).op('(');
  p.str("w").tensor("0", "Float", 6, 1, {2, 2}, {1, 2});
  p.str("v").tensor("0", "Float", 6, 0, {3}, {1});
  p.op('u');
  p.op('}').str("_metadata").get(0).op(')').op('R').op('(');
  p.str("").op('}').str("version").int1(1).op('s').op('u').op('s').op('b');
  return p.done();
}

PickleDocument parse(const std::string& bytes) {
  return parse_torch_pickle(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "f.pth");
}

/// A torch.save-style archive: data.pkl, byteorder and the given data/<key> records.
void write_archive(const std::string& path, const std::string& pickle,
                   const std::map<std::string, std::string>& records,
                   const std::string& byteorder = "little") {
  caffe2::serialize::PyTorchStreamWriter writer(path);
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  if (!byteorder.empty()) writer.writeRecord("byteorder", byteorder.data(), byteorder.size());
  for (const auto& [key, bytes] : records) {
    writer.writeRecord("data/" + key, bytes.data(), bytes.size());
  }
  writer.writeEndOfFile();
}

std::string floats(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// ---- parse_torch_pickle -----------------------------------------------------------------------

TEST(TorchPickleParse, ReadsAnOrderedDictStateDictWithMetadata) {
  const PickleDocument doc = parse(state_dict_pickle());
  const PickleNode& root = doc.nodes[doc.root];
  ASSERT_EQ(root.kind, Kind::kDict);
  EXPECT_TRUE(root.ordered_dict);
  ASSERT_EQ(root.items.size(), 4u);  // w, v (the _metadata BUILD is dropped)
  EXPECT_EQ(doc.nodes[root.items[0]].text, "w");
  const PickleNode& w = doc.nodes[root.items[1]];
  ASSERT_EQ(w.kind, Kind::kTensor);
  EXPECT_EQ(w.dtype, "Float");
  EXPECT_EQ(w.storage_key, "0");
  EXPECT_EQ(w.storage_numel, 6);
  EXPECT_EQ(w.storage_offset, 1);
  EXPECT_EQ(w.sizes, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(w.strides, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(doc.nodes[root.items[2]].text, "v");
}

TEST(TorchPickleParse, NumbersStringsAndContainers) {
  // {"a": [1, -2, 3.5, None, True], "b": (300, 70000, 2**40), "c": "x"} in protocol-2 opcodes.
  Pickle p;
  p.op('}').op('(').str("a").op(']').op('(').int1(1);
  p.raw(std::string("J\xfe\xff\xff\xff", 5));                  // BININT -2
  p.raw(std::string("G\x40\x0c\x00\x00\x00\x00\x00\x00", 9));  // BINFLOAT 3.5
  p.op('N').op('\x88').op('e');                                // None, True, APPENDS
  p.str("b").raw(std::string("M\x2c\x01", 3));                 // BININT2 300
  p.raw(std::string("J\x70\x11\x01\x00", 5));                  // BININT 70000
  p.raw(std::string("\x8a\x06\x00\x00\x00\x00\x00\x01", 8));   // LONG1 2**40
  p.op('\x87').str("c").str("x").op('u');
  const PickleDocument doc = parse(p.done());
  const auto& root = doc.nodes[doc.root];
  ASSERT_EQ(root.items.size(), 6u);
  const auto& list = doc.nodes[root.items[1]];
  ASSERT_EQ(list.kind, Kind::kList);
  ASSERT_EQ(list.items.size(), 5u);
  EXPECT_EQ(doc.nodes[list.items[1]].int_value, -2);
  EXPECT_EQ(doc.nodes[list.items[2]].float_value, 3.5);
  EXPECT_EQ(doc.nodes[list.items[3]].kind, Kind::kNone);
  EXPECT_EQ(doc.nodes[list.items[4]].kind, Kind::kBool);
  const auto& tuple = doc.nodes[root.items[3]];
  ASSERT_EQ(tuple.kind, Kind::kTuple);
  EXPECT_EQ(doc.nodes[tuple.items[0]].int_value, 300);
  EXPECT_EQ(doc.nodes[tuple.items[1]].int_value, 70000);
  EXPECT_EQ(doc.nodes[tuple.items[2]].int_value, int64_t{1} << 40);
  EXPECT_EQ(doc.nodes[root.items[5]].text, "x");
}

TEST(TorchPickleParse, ParameterBecomesItsTensor) {
  Pickle p;
  p.global("collections", "OrderedDict").put(0).op('0').op('}').op('(').str("p");
  p.global("torch._utils", "_rebuild_parameter");
  p.tensor("0", "BFloat16", 2, 0, {2}, {1}).op('\x88').get(0).op(')').op('R').op('\x87').op('R');
  p.op('u');
  const PickleDocument doc = parse(p.done());
  const auto& t = doc.nodes[doc.nodes[doc.root].items[1]];
  EXPECT_EQ(t.kind, Kind::kTensor);
  EXPECT_EQ(t.dtype, "BFloat16");
}

TEST(TorchPickleParse, UnknownOpcodeAndGlobalAreNamed) {
  expect_error([] { parse(Pickle().raw("\xff").done()); },
               {"'f.pth': data.pkl byte 2", "opcode 0xff is not supported"});
  // An arbitrary Python callable (the classic pickle exploit) is refused before any call.
  expect_error([] { parse(Pickle().global("os", "system").str("ls").op('\x85').op('R').done()); },
               {"'f.pth': data.pkl byte 2", "Python object 'os.system'", "weights_only"});
  expect_error([] { parse(Pickle().global("torch", "ComplexFloatStorage").done()); },
               {"'torch.ComplexFloatStorage' is not supported"});
}

TEST(TorchPickleParse, MalformedStreamsAreClearErrors) {
  expect_error([] { parse(std::string("\x80\x02", 2)); }, {"'f.pth'", "without STOP"});
  expect_error([] { parse(Pickle().op('s').done()); }, {"stack underflow"});
  expect_error([] { parse(Pickle().get(7).done()); }, {"memo index 7 was never stored"});
  expect_error([] { parse(Pickle().op(']').int1(1).int1(2).op('s').done()); },
               {"SETITEM(S) on a list"});
  expect_error([] { parse(Pickle().op('}').op('(').int1(1).op('u').done()); },
               {"SETITEMS with a key and no value"});
  expect_error([] { parse(Pickle().op('u').done()); }, {"needs a MARK"});
  // BUILD on anything but an OrderedDict (setting a Python object's state) is refused.
  expect_error([] { parse(Pickle().op('}').op('}').op('b').done()); },
               {"BUILD (setting Python object state) on a dict"});
  expect_error([] { parse(Pickle().int1(1).int1(2).done()); }, {"STOP with 2 values"});
  // A pop below the current MARK is an underflow, as in Python's unpickler.
  expect_error([] { parse(Pickle().op('}').op('(').op('0').op('t').done()); }, {"stack underflow"});
  expect_error([] { parse(std::string("\x80\x02X\xff\xff\xff\x7f", 7)); }, {"runs past the end"});
}

TEST(TorchPickleParse, TensorViewsMustLieInTheirStorage) {
  auto one = [](uint8_t numel, uint8_t offset, std::vector<uint8_t> sizes,
                std::vector<uint8_t> strides) {
    Pickle p;
    p.global("collections", "OrderedDict").put(0).op('0').op('}').str("t");
    p.tensor("0", "Float", numel, offset, sizes, strides).op('s');
    return parse(p.done());
  };
  EXPECT_NO_THROW(one(6, 1, {2, 2}, {1, 2}));  // last element 1 + 1 + 2 = 4 < 6
  EXPECT_NO_THROW(one(0, 9, {0, 3}, {1, 1}));  // empty: no element to check
  expect_error(
      [&] {
        one(6, 2, {2, 2}, {1, 3});
      },
      {"a tensor reaches element 6 of storage '0', which has 6"});
  expect_error([&] { one(6, 0, {2}, {1, 1}); }, {"size and stride differ in length"});
}

TEST(TorchPickleParse, EveryTruncationAndByteChangeIsAFrostErrorOrALoad) {
  // Every prefix of a state dict pickle is an error (no STOP); every single-byte change either
  // parses or is a frost::Error, never another exception or a crash (fuzz_torch_pickle does
  // this at scale).
  const std::string good = state_dict_pickle();
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_THROW(parse(good.substr(0, n)), Error) << "prefix of " << n << " bytes";
  }
  for (size_t i = 0; i < good.size(); ++i) {
    for (const char c : {'\0', '\xff', '(', 'R', 'b', 'h', 'u', '0', 't', 'Q'}) {
      std::string bad = good;
      bad[i] = c;
      try {
        parse(bad);
      } catch (const Error&) {
      } catch (const std::exception& e) {
        ADD_FAILURE() << "byte " << i << " = " << int(c) << ": " << e.what();
      }
    }
  }
}

// ---- load_torch_state_dict --------------------------------------------------------------------

TEST(TorchCheckpoint, ViewsShareOneStorageWithTheirOffsetsAndStrides) {
  const std::string path = test_dir() + "/views.pth";
  write_archive(path, state_dict_pickle(), {{"0", floats({0, 1, 2, 3, 4, 5})}});
  const auto sd = load_torch_state_dict(path);
  ASSERT_EQ(sd.size(), 2u);
  EXPECT_EQ(sd[0].first, "w");
  EXPECT_EQ(sd[1].first, "v");
  const at::Tensor& w = sd[0].second;
  EXPECT_EQ(w.dtype(), torch::kFloat);
  EXPECT_EQ(w.strides(), (std::vector<int64_t>{1, 2}));
  // w[i][j] = storage[1 + i + 2 j]
  EXPECT_TRUE(torch::equal(w, torch::tensor({{1.f, 3.f}, {2.f, 4.f}})));
  EXPECT_TRUE(torch::equal(sd[1].second, torch::tensor({0.f, 1.f, 2.f})));
  EXPECT_TRUE(w.storage().is_alias_of(sd[1].second.storage()));
  EXPECT_FALSE(w.requires_grad());
}

TEST(TorchCheckpoint, ReadsFrostModelPt) {
  torch::manual_seed(3);
  auto model = torch::nn::Sequential(torch::nn::Linear(3, 4), torch::nn::BatchNorm1d(4));
  const std::string path = test_dir() + "/model.pt";
  save_state_dict(*model, path);
  const auto sd = load_torch_state_dict(path);
  const auto reference = load_pickle_file(path).toGenericDict();  // LibTorch's own reader
  ASSERT_EQ(sd.size(), reference.size());
  for (const auto& [name, t] : sd) {
    const at::Tensor expected = reference.at(name).toTensor();
    EXPECT_EQ(t.dtype(), expected.dtype()) << name;
    EXPECT_TRUE(torch::equal(t, expected)) << name;
  }
}

TEST(TorchCheckpoint, DamagedArchivesNameTheFile) {
  const std::string dir = test_dir();
  const std::string good = dir + "/good.pth";
  write_archive(good, state_dict_pickle(), {{"0", floats({0, 1, 2, 3, 4, 5})}});
  const std::string bytes = read_file(good);
  // Truncated anywhere: the zip's central directory is at the end.
  for (const size_t n : {size_t{10}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 1}) {
    const std::string path = dir + "/cut.pth";
    write_file(path, bytes.substr(0, n));
    expect_error([&] { load_torch_state_dict(path); },
                 {"'" + path + "' is not a readable torch.save archive"});
  }
  write_file(dir + "/text.pth", "hello");
  expect_error([&] { load_torch_state_dict(dir + "/text.pth"); },
               {"text.pth' is not a torch.save file"});
  expect_error([&] { load_torch_state_dict(dir + "/none.pth"); },
               {"none.pth': cannot open the file"});
  // The storage record is shorter than the storage the pickle declares.
  write_archive(dir + "/short.pth", state_dict_pickle(), {{"0", floats({0, 1, 2})}});
  expect_error([&] { load_torch_state_dict(dir + "/short.pth"); },
               {"short.pth': record 'data/0' has 12 bytes but its storage needs 24"});
  write_archive(dir + "/norecord.pth", state_dict_pickle(), {});
  expect_error([&] { load_torch_state_dict(dir + "/norecord.pth"); },
               {"norecord.pth' has no record 'data/0' for tensor 'w'"});
  write_archive(dir + "/big.pth", state_dict_pickle(), {{"0", floats({0, 1, 2, 3, 4, 5})}}, "big");
  expect_error([&] { load_torch_state_dict(dir + "/big.pth"); }, {"'big'-endian"});
  // A zip without data.pkl (e.g. a TorchScript module is refused with a pointer).
  {
    caffe2::serialize::PyTorchStreamWriter writer(dir + "/nopkl.pth");
    writer.writeRecord("notes.txt", "x", 1);
    writer.writeEndOfFile();
  }
  expect_error([&] { load_torch_state_dict(dir + "/nopkl.pth"); }, {"without data.pkl"});
}

TEST(TorchCheckpoint, LegacyFileSaysHowToConvertIt) {
  // The first bytes of torch.save(..., _use_new_zipfile_serialization=False): PROTO 2, then
  // LONG1 of the magic number 0x1950a86a20f9469cfc6c.
  const std::string path = test_dir() + "/legacy.pth";
  write_file(path, std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15));
  expect_error([&] { load_torch_state_dict(path); },
               {"'" + path + "' is a legacy torch.save file",
                "torch.save(torch.load('" + path + "'), 'converted.pth')"});
}

TEST(TorchCheckpoint, NestedStateDictByKey) {
  // {"model": OrderedDict(w=...), "epoch": 3}
  Pickle p;
  p.global("collections", "OrderedDict").put(0).op('0').op('}').op('(').str("model");
  p.op('}').str("w").tensor("0", "Float", 6, 0, {6}, {1}).op('s');
  p.str("epoch").int1(3).op('u');
  const std::string path = test_dir() + "/nested.pth";
  write_archive(path, p.done(), {{"0", floats({0, 1, 2, 3, 4, 5})}});
  expect_error([&] { load_torch_state_dict(path); },
               {"the file is not a {name: tensor} state dict: its entry 'model' is a dict",
                "state dicts are under 'model' (set model.weights_key = model)"});
  const auto sd = load_torch_state_dict(path, "model");
  ASSERT_EQ(sd.size(), 1u);
  EXPECT_EQ(sd[0].first, "w");
  expect_error([&] { load_torch_state_dict(path, "state_dict"); },
               {"the file has no key 'state_dict'", "its keys: 'model', 'epoch'"});
  expect_error([&] { load_torch_state_dict(path, "epoch.x"); },
               {"'epoch' holds an int, not a dict with the key 'x'"});
  expect_error([&] { load_torch_state_dict(path, "epoch"); },
               {"'epoch' holds an int, expected a {name: tensor} state dict"});
}

TEST(TorchCheckpoint, LoadWeightsReadsOrderedDictFilesAndTheirKey) {
  // load_weights on a Python-style state_dict() file, and model.weights_key's LoadOptions.
  Pickle p;
  p.global("collections", "OrderedDict").put(0).op(')').op('R').op('(');
  p.str("weight").tensor("0", "Float", 6, 0, {2, 3}, {3, 1});
  p.str("bias").tensor("1", "Float", 2, 0, {2}, {1}).op('u');
  const std::string path = test_dir() + "/linear.pth";
  write_archive(path, p.done(), {{"0", floats({1, 2, 3, 4, 5, 6})}, {"1", floats({7, 8})}});
  torch::nn::Linear linear(3, 2);
  EXPECT_EQ(load_weights(*linear, path, {}).loaded, 2);
  EXPECT_TRUE(torch::equal(linear->weight, torch::tensor({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}})));
  EXPECT_TRUE(torch::equal(linear->bias, torch::tensor({7.f, 8.f})));
  LoadOptions keyed;
  keyed.state_dict_key = "model";
  expect_error([&] { load_weights(*linear, path, keyed); }, {"has no key 'model'"});
  // A safetensors file is flat: a key is a mistake, not ignored.
  const std::string flat = test_dir() + "/linear.safetensors";
  write_safetensors(flat, {{"weight", linear->weight}, {"bias", linear->bias}}, {});
  expect_error([&] { load_weights(*linear, flat, keyed); },
               {"model.weights_key = model applies to torch.save files"});
}

// ---- files written by PyTorch (tests/e2e/test_torch_pickle.sh) --------------------------------

std::string fixture_dir() {
  const char* dir = std::getenv("FROST_TORCH_PICKLE_DIR");
  return dir == nullptr ? "" : dir;
}

#define FROST_NEEDS_PYTHON_FIXTURES()                                                         \
  if (fixture_dir().empty())                                                                  \
  GTEST_SKIP() << "FROST_TORCH_PICKLE_DIR is not set: tests/e2e/test_torch_pickle.sh writes " \
                  "the files with PyTorch and runs this test"

/// Frost's values equal LibTorch's reading of X.ref.pt (plain dict, contiguous copies), key for
/// key, dtype for dtype, value for value.
void expect_same_as_reference(const std::string& name, const std::string& key = "") {
  const std::string dir = fixture_dir();
  const auto sd = load_torch_state_dict(dir + "/" + name, key);
  const std::string ref_path = dir + "/" + name.substr(0, name.rfind('.')) + ".ref.pt";
  const auto ref = load_pickle_file(ref_path).toGenericDict();
  ASSERT_EQ(sd.size(), ref.size()) << name;
  for (const auto& [k, t] : sd) {
    ASSERT_TRUE(ref.contains(k)) << name << ": " << k;
    const at::Tensor expected = ref.at(k).toTensor();
    EXPECT_EQ(t.dtype(), expected.dtype()) << name << ": " << k;
    EXPECT_EQ(t.sizes(), expected.sizes()) << name << ": " << k;
    EXPECT_TRUE(torch::equal(t, expected)) << name << ": " << k;
  }
}

TEST(TorchPickleFixtures, TorchvisionResNet18StateDict) {
  FROST_NEEDS_PYTHON_FIXTURES();
  expect_same_as_reference("resnet18.pth");
  // ... and it loads by name into Frost's ResNet-18 of the same width, the head from fc.
  BackboneSpec spec;
  spec.arch = "resnet18";
  spec.width = 8;
  Classifier model(make_backbone(spec), 10);
  LoadOptions options;
  options.prefix_map = {{"fc.", "head."}, {"", "backbone."}};
  const LoadReport report = load_weights(*model, fixture_dir() + "/resnet18.pth", options);
  const auto sd = load_torch_state_dict(fixture_dir() + "/resnet18.pth");
  EXPECT_EQ(report.loaded, static_cast<int64_t>(sd.size()));
  const auto items = state_dict_items(*model);
  std::map<std::string, at::Tensor> loaded(items.begin(), items.end());
  for (const auto& [k, t] : sd) {
    const std::string name = k.rfind("fc.", 0) == 0 ? "head." + k.substr(3) : "backbone." + k;
    EXPECT_TRUE(torch::equal(loaded.at(name), t)) << k;
  }
}

TEST(TorchPickleFixtures, HuggingFaceLikeBf16TiedAndViews) {
  FROST_NEEDS_PYTHON_FIXTURES();
  expect_same_as_reference("hf_like.bin");
  const auto sd = load_torch_state_dict(fixture_dir() + "/hf_like.bin");
  std::map<std::string, at::Tensor> m(sd.begin(), sd.end());
  EXPECT_EQ(m.at("embeddings.word_embeddings.weight").dtype(), torch::kBFloat16);
  EXPECT_EQ(m.at("layer.0.dense.weight").dtype(), torch::kHalf);
  EXPECT_EQ(m.at("embeddings.position_ids").dtype(), torch::kLong);
  // Tied weights are one storage, views keep their layout over the shared storage.
  EXPECT_TRUE(m.at("lm_head.decoder.weight")
                  .storage()
                  .is_alias_of(m.at("embeddings.word_embeddings.weight").storage()));
  EXPECT_TRUE(
      m.at("layer.0.dense_t.weight").storage().is_alias_of(m.at("layer.0.dense.weight").storage()));
  EXPECT_FALSE(m.at("layer.0.dense_t.weight").is_contiguous());
  EXPECT_EQ(m.at("layer.0.bias").storage_offset(), 4);
  EXPECT_EQ(m.at("layer.0.scale").stride(0), 3);
}

TEST(TorchPickleFixtures, PickleProtocol4) {
  FROST_NEEDS_PYTHON_FIXTURES();
  expect_same_as_reference("protocol4.pth");
}

TEST(TorchPickleFixtures, NestedCheckpointByKey) {
  FROST_NEEDS_PYTHON_FIXTURES();
  // The optimizer's state dict (lists, tuples, floats, per-parameter dicts) parses too.
  expect_same_as_reference("nested.pth", "model");
  expect_error([] { load_torch_state_dict(fixture_dir() + "/nested.pth"); },
               {"nested.pth': the file is not a {name: tensor} state dict",
                "set model.weights_key = model"});
}

TEST(TorchPickleFixtures, LegacyFileIsRefusedWithTheConversion) {
  FROST_NEEDS_PYTHON_FIXTURES();
  const std::string path = fixture_dir() + "/legacy.pth";
  expect_error([&] { load_torch_state_dict(path); },
               {"is a legacy torch.save file", "python -c \"import torch; torch.save(torch.load('" +
                                                   path + "'), 'converted.pth')\""});
}

TEST(TorchPickleFixtures, MismatchingFileIsOneReportAndLoadsNothing) {
  FROST_NEEDS_PYTHON_FIXTURES();
  // ResNet-18's file into a ResNet-34: every extra key and shape named at once; nothing copied.
  BackboneSpec spec;
  spec.arch = "resnet34";
  spec.width = 8;
  Classifier model(make_backbone(spec), 7);
  std::map<std::string, at::Tensor> before;
  for (const auto& [k, t] : state_dict_items(*model)) before[k] = t.detach().clone();
  LoadOptions options;
  options.prefix_map = {{"fc.", "head."}, {"", "backbone."}};
  expect_error([&] { load_weights(*model, fixture_dir() + "/resnet18.pth", options); },
               {"resnet18.pth' do not fit the model", "missing (", "backbone.layer1.2.conv1.weight",
                "shape mismatch (2): fc.weight (-> head.weight) file [10, 64] vs model [7, 64]"});
  for (const auto& [k, t] : state_dict_items(*model)) {
    EXPECT_TRUE(torch::equal(t, before.at(k))) << k;
  }
}

}  // namespace
}  // namespace frost::models
