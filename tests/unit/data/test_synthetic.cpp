// write_synthetic (frost-prep synthetic): the files H5Dataset opens, their contents, the raw
// copy, determinism, and one clear error per bad option.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/synthetic.h"
#include "h5_test_util.h"
#include "test_util.h"

namespace {

using frost::data::H5Dataset, frost::data::InputKind, frost::data::SyntheticOptions,
    frost::data::write_synthetic;
using frost::testing::error_of, frost::testing::make_temp_dir;

std::vector<char> slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

SyntheticOptions images(const std::string& path) {
  SyntheticOptions o;
  o.kind = InputKind::kImage;
  o.rows = 37;
  o.image_shape = {3, 8, 5};
  o.num_classes = 4;
  o.seed = 7;
  o.chunk_rows = 16;
  o.out_path = path;
  return o;
}

SyntheticOptions tokens(const std::string& path) {
  SyntheticOptions o;
  o.kind = InputKind::kTokens;
  o.rows = 50;
  o.seq_len = 16;
  o.min_len = 4;
  o.vocab_size = 1200;
  o.num_classes = 3;
  o.out_path = path;
  return o;
}

TEST(Synthetic, ImagesOpenWithTheSchemaAndAreDeterministic) {
  const std::string dir = make_temp_dir("synthetic");
  auto o = images(dir + "/a.h5");
  o.raw = true;
  const auto s = write_synthetic(o);
  EXPECT_EQ(s.num_samples, 37);
  EXPECT_EQ(s.bytes, 37 * 3 * 8 * 5);
  H5Dataset ds = H5Dataset::open({s.path});
  const auto& info = ds.info();
  EXPECT_EQ(info.input_kind, InputKind::kImage);
  EXPECT_EQ(info.sample_shape, (std::vector<int64_t>{3, 8, 5}));
  EXPECT_EQ(info.num_classes, 4);
  ASSERT_EQ(info.mean.size(), 3u);
  EXPECT_DOUBLE_EQ(info.mean[0], 0.5);
  EXPECT_NEAR(info.std[2], 0.2898, 1e-4);
  std::vector<int64_t> all(37);
  for (int64_t i = 0; i < 37; ++i) all[i] = i;
  std::vector<uint8_t> x(37 * 120);
  std::vector<int64_t> y(37);
  ds.read(all, x.data(), y.data(), nullptr);
  int64_t distinct_labels = 0;
  for (int64_t c = 0; c < 4; ++c) distinct_labels += std::count(y.begin(), y.end(), c) > 0;
  EXPECT_EQ(distinct_labels, 4) << "37 uniform labels over 4 classes should use every class";
  // the raw copy holds the same arrays
  const auto raw_x = slurp(s.path + ".inputs.bin");
  const auto raw_y = slurp(s.path + ".labels.bin");
  ASSERT_EQ(raw_x.size(), x.size());
  EXPECT_EQ(0, std::memcmp(raw_x.data(), x.data(), x.size()));
  ASSERT_EQ(raw_y.size(), y.size() * 8);
  EXPECT_EQ(0, std::memcmp(raw_y.data(), y.data(), raw_y.size()));
  const auto manifest = slurp(s.raw_manifest);
  const std::string m(manifest.begin(), manifest.end());
  EXPECT_NE(m.find("\"shape\": [37, 3, 8, 5]"), std::string::npos) << m;
  EXPECT_NE(m.find("\"file\": \"a.h5.inputs.bin\""), std::string::npos) << m;
  // same options, same bytes; another seed, other bytes
  auto again = images(dir + "/b.h5");
  again.raw = true;
  write_synthetic(again);
  EXPECT_EQ(slurp(dir + "/b.h5.inputs.bin"), raw_x);
  auto other = again;
  other.seed = 8;
  other.out_path = dir + "/c.h5";
  write_synthetic(other);
  EXPECT_NE(slurp(dir + "/c.h5.inputs.bin"), raw_x);
}

TEST(Synthetic, TokenRowsHaveClsSepAndMaskedPadding) {
  const std::string dir = make_temp_dir("synthetic");
  const auto s = write_synthetic(tokens(dir + "/t.h5"));
  EXPECT_TRUE(s.raw_manifest.empty());
  H5Dataset ds = H5Dataset::open({s.path});
  ASSERT_TRUE(ds.info().has_attention_mask);
  EXPECT_EQ(ds.info().input_kind, InputKind::kTokens);
  EXPECT_EQ(ds.info().sample_shape, (std::vector<int64_t>{16}));
  std::vector<int64_t> all(50);
  for (int64_t i = 0; i < 50; ++i) all[i] = i;
  std::vector<int32_t> ids(50 * 16);
  std::vector<uint8_t> mask(50 * 16);
  ds.read(all, ids.data(), nullptr, mask.data());
  int64_t shortest = 16, longest = 0;
  for (int64_t r = 0; r < 50; ++r) {
    int64_t len = 0;
    while (len < 16 && mask[r * 16 + len]) ++len;
    for (int64_t j = len; j < 16; ++j) {
      ASSERT_EQ(mask[r * 16 + j], 0) << "row " << r << ": mask not a prefix";
      ASSERT_EQ(ids[r * 16 + j], 0) << "row " << r << ": padding not 0";
    }
    ASSERT_GE(len, 4);
    EXPECT_EQ(ids[r * 16], 101);
    EXPECT_EQ(ids[r * 16 + len - 1], 102);
    for (int64_t j = 1; j + 1 < len; ++j) {
      ASSERT_GE(ids[r * 16 + j], 999);
      ASSERT_LT(ids[r * 16 + j], 1200);
    }
    shortest = std::min(shortest, len);
    longest = std::max(longest, len);
  }
  EXPECT_LT(shortest, longest) << "lengths should vary";
  EXPECT_GT(s.mean_tokens, 4);
  EXPECT_LT(s.mean_tokens, 16);
}

// Writing again into the same path without --raw removes the earlier raw copy (it described
// other data); with --raw, a token copy's attention mask does not outlive a later image copy.
TEST(Synthetic, RewritingRemovesAStaleRawCopy) {
  const std::string dir = make_temp_dir("synthetic_stale");
  const std::string path = dir + "/d.h5";
  auto t = tokens(path);
  t.raw = true;
  write_synthetic(t);
  for (const char* f : {".raw.json", ".inputs.bin", ".labels.bin", ".attention_mask.bin"})
    ASSERT_TRUE(std::filesystem::exists(path + f)) << f;
  auto i = images(path);
  i.raw = true;
  write_synthetic(i);
  EXPECT_TRUE(std::filesystem::exists(path + ".raw.json"));
  EXPECT_FALSE(std::filesystem::exists(path + ".attention_mask.bin"));
  i.raw = false;
  i.rows = 5;
  write_synthetic(i);
  for (const char* f : {".raw.json", ".inputs.bin", ".labels.bin", ".attention_mask.bin"})
    EXPECT_FALSE(std::filesystem::exists(path + f)) << f << " is stale";
  EXPECT_EQ(H5Dataset::open({path}).info().num_samples, 5);
}

TEST(Synthetic, BadOptionsNameTheOption) {
  const std::string dir = make_temp_dir("synthetic");
  auto expect_error = [&](SyntheticOptions o, const std::string& what) {
    const std::string e = error_of([&] { write_synthetic(o); });
    EXPECT_NE(e.find(what), std::string::npos) << "got: " << e;
    EXPECT_FALSE(frost::fs::exists(o.out_path)) << "a failed call wrote " << o.out_path;
  };
  auto o = images(dir + "/bad.h5");
  o.rows = 0;
  expect_error(o, "--rows must be >= 1, got 0");
  o = images(dir + "/bad.h5");
  o.image_shape = {3, 8};
  expect_error(o, "--shape must be C,H,W");
  o = images(dir + "/bad.h5");
  o.image_shape = {3, 0, 8};
  expect_error(o, "every --shape value must be in [1, 65536]");
  o = images(dir + "/bad.h5");
  o.num_classes = 0;
  expect_error(o, "--num-classes must be >= 1");
  auto t = tokens(dir + "/bad.h5");
  t.seq_len = 1;
  expect_error(t, "--seq-len must be in [2, 65536]");
  t = tokens(dir + "/bad.h5");
  t.min_len = 17;
  expect_error(t, "--min-len must be 0 (L / 4) or in [2, --seq-len = 16]");
  t = tokens(dir + "/bad.h5");
  t.vocab_size = 1000;
  expect_error(t, "--vocab-size must be in [1001, 2^31)");
  t = tokens(dir + "/bad.h5");
  t.kind = InputKind::kFeatures;
  expect_error(t, "--kind must be image or tokens");
}

}  // namespace
