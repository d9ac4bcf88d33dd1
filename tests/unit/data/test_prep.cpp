// prep_fashion_mnist and parse_class_list on small synthetic Fashion-MNIST directories:
// relabelling, statistics, attributes, and "a failed run leaves no output file".
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include "frost/core/error.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/prep.h"
#include "h5_test_util.h"
#include "test_util.h"

namespace {

using frost::testing::error_of, frost::testing::make_temp_dir, frost::testing::read_int64_attr;

using frost::data::FashionMnistPrepOptions, frost::data::H5Dataset, frost::data::parse_class_list,
    frost::data::prep_fashion_mnist;

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

std::vector<uint8_t> idx_header(uint8_t ndims, const std::vector<uint32_t>& dims) {
  std::vector<uint8_t> out{0, 0, 0x08, ndims};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(d >> s));
  return out;
}

// A synthetic split: image i has every pixel = (i * 37) % 256, label i % 10.
struct FakeSplit {
  std::vector<uint8_t> pixels;
  std::vector<uint8_t> labels;
};

FakeSplit fake_split(uint32_t n) {
  FakeSplit s;
  for (uint32_t i = 0; i < n; ++i) {
    s.pixels.insert(s.pixels.end(), 28 * 28, static_cast<uint8_t>((i * 37) % 256));
    s.labels.push_back(static_cast<uint8_t>(i % 10));
  }
  return s;
}

void write_split(const std::string& dir, const std::string& prefix, const FakeSplit& s,
                 int64_t extra_labels = 0) {
  const auto n = static_cast<uint32_t>(s.labels.size());
  std::vector<uint8_t> images = idx_header(3, {n, 28, 28});
  images.insert(images.end(), s.pixels.begin(), s.pixels.end());
  write_gz(dir + "/" + prefix + "-images-idx3-ubyte.gz", images);
  std::vector<uint8_t> labels = idx_header(1, {static_cast<uint32_t>(n + extra_labels)});
  labels.insert(labels.end(), s.labels.begin(), s.labels.end());
  labels.insert(labels.end(), static_cast<size_t>(extra_labels), 0);
  write_gz(dir + "/" + prefix + "-labels-idx1-ubyte.gz", labels);
}

std::string make_src(uint32_t n_train = 40, uint32_t n_test = 20) {
  const std::string dir = make_temp_dir();
  write_split(dir, "train", fake_split(n_train));
  write_split(dir, "t10k", fake_split(n_test));
  return dir;
}

bool has_output(const std::string& out_dir) {
  if (!std::filesystem::exists(out_dir)) return false;
  return !std::filesystem::is_empty(out_dir);
}

TEST(PrepClassList, ParsesRangesAndLists) {
  EXPECT_EQ(parse_class_list("0-4", 10), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(parse_class_list("5,7,9", 10), (std::vector<int64_t>{5, 7, 9}));
  EXPECT_EQ(parse_class_list("9,0-2, 5", 10), (std::vector<int64_t>{0, 1, 2, 5, 9}));
  EXPECT_EQ(parse_class_list("3,3,2-3", 10), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(parse_class_list("0-9", 10).size(), 10u);
}

TEST(PrepClassList, RejectsBadSpecs) {
  for (const std::string bad : {"", "a", "4-2", "10", "1,,2", "-1", "0-10", "1-", "3 4"}) {
    const std::string msg = error_of([&] { parse_class_list(bad, 10); });
    EXPECT_CONTAINS(msg, "--classes '" + bad + "'");
  }
}

TEST(Prep, WritesRelabelledSubsetWithStatistics) {
  const std::string src = make_src(40, 20);
  const std::string out = make_temp_dir() + "/out";
  FashionMnistPrepOptions opt;
  opt.src_dir = src;
  opt.out_dir = out;
  opt.classes = {3, 7};
  opt.chunk_rows = 3;
  const auto summary = prep_fashion_mnist(opt);
  EXPECT_EQ(summary.train.num_samples, 8);  // i % 10 in {3, 7} for i < 40
  EXPECT_EQ(summary.test.num_samples, 4);
  EXPECT_EQ(summary.class_ids, (std::vector<int64_t>{3, 7}));

  // Expected statistics over the kept train images (every pixel of image i = (i*37) % 256).
  double sum = 0, sumsq = 0;
  int64_t count = 0;
  for (int i = 0; i < 40; ++i)
    if (i % 10 == 3 || i % 10 == 7) {
      const double v = ((i * 37) % 256) / 255.0;
      sum += v * 784;
      sumsq += v * v * 784;
      count += 784;
    }
  const double mean = sum / count;
  const double std = std::sqrt(sumsq / count - mean * mean);
  EXPECT_NEAR(summary.mean, mean, 1e-12);
  EXPECT_NEAR(summary.std, std, 1e-12);

  for (const auto& [file, n, first_image] :
       {std::tuple<std::string, int64_t, int>{out + "/train.h5", 8, 3},
        std::tuple<std::string, int64_t, int>{out + "/test.h5", 4, 3}}) {
    const H5Dataset ds = H5Dataset::open({file});
    EXPECT_EQ(ds.size(), n);
    EXPECT_EQ(ds.info().num_classes, 2);
    EXPECT_EQ(ds.info().sample_shape, (std::vector<int64_t>{1, 28, 28}));
    EXPECT_EQ(ds.info().input_kind, frost::data::InputKind::kImage);
    EXPECT_EQ(ds.info().task, "classification");
    ASSERT_EQ(ds.info().mean.size(), 1u);
    EXPECT_EQ(ds.info().mean[0], summary.mean);  // train statistics in both files
    EXPECT_EQ(ds.info().std[0], summary.std);
    EXPECT_EQ(read_int64_attr(file, "class_ids"), (std::vector<int64_t>{3, 7}));
    std::vector<uint8_t> px(2 * 784);
    std::vector<int64_t> y(2);
    ds.read({0, 1}, px.data(), y.data());
    EXPECT_EQ(y, (std::vector<int64_t>{0, 1}));  // original 3 -> 0, 7 -> 1
    EXPECT_EQ(px[0], static_cast<uint8_t>((first_image * 37) % 256));
    EXPECT_EQ(px[784], static_cast<uint8_t>((7 * 37) % 256));
  }
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(out)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"test.h5", "train.h5"}));
}

TEST(Prep, CountMismatchLeavesNoOutput) {
  const std::string src = make_temp_dir();
  write_split(src, "train", fake_split(30), /*extra_labels=*/1);
  write_split(src, "t10k", fake_split(10));
  const std::string out = make_temp_dir() + "/out";
  FashionMnistPrepOptions opt{src, out, {}, 1024};
  const std::string msg = error_of([&] { prep_fashion_mnist(opt); });
  EXPECT_CONTAINS(msg, src + "/train-labels-idx1-ubyte.gz: holds 31 labels but");
  EXPECT_CONTAINS(msg, "holds 30 images");
  EXPECT_FALSE(has_output(out));
}

TEST(Prep, BadTestSplitLeavesNoTrainFile) {
  // Train is fine, test images have a bad magic: nothing may be written, not even train.h5.
  const std::string src = make_src(30, 10);
  std::vector<uint8_t> bad = idx_header(3, {10, 28, 28});
  bad[2] = 0x42;
  bad.resize(bad.size() + 10 * 784, 0);
  write_gz(src + "/t10k-images-idx3-ubyte.gz", bad);
  const std::string out = make_temp_dir();  // exists already: must stay empty
  FashionMnistPrepOptions opt{src, out, {0, 1, 2, 3, 4}, 1024};
  const std::string msg = error_of([&] { prep_fashion_mnist(opt); });
  EXPECT_CONTAINS(msg, src + "/t10k-images-idx3-ubyte.gz: bad IDX magic");
  EXPECT_FALSE(has_output(out));
}

TEST(Prep, TruncatedFileLeavesNoOutput) {
  const std::string src = make_src(30, 10);
  std::vector<uint8_t> images = idx_header(3, {30, 28, 28});
  images.resize(images.size() + 29 * 784, 1);  // one image short
  write_gz(src + "/train-images-idx3-ubyte.gz", images);
  const std::string out = make_temp_dir() + "/out";
  FashionMnistPrepOptions opt{src, out, {}, 1024};
  const std::string msg = error_of([&] { prep_fashion_mnist(opt); });
  EXPECT_CONTAINS(msg, src + "/train-images-idx3-ubyte.gz: truncated: expected 23520 bytes of "
                             "data, found 22736");
  EXPECT_FALSE(has_output(out));
}

TEST(Prep, WrongImageDimsThrows) {
  const std::string src = make_src(30, 10);
  std::vector<uint8_t> images = idx_header(3, {10, 27, 28});
  images.resize(images.size() + 10 * 27 * 28, 1);
  write_gz(src + "/t10k-images-idx3-ubyte.gz", images);
  const std::string out = make_temp_dir() + "/out";
  FashionMnistPrepOptions opt{src, out, {}, 1024};
  EXPECT_CONTAINS(error_of([&] { prep_fashion_mnist(opt); }),
                  src + "/t10k-images-idx3-ubyte.gz: expected images of shape [N, 28, 28], "
                        "found 3 dimension(s) [10, 27, 28]");
  EXPECT_FALSE(has_output(out));
}

TEST(Prep, MissingInputThrowsNamingIt) {
  const std::string src = make_src(30, 10);
  std::filesystem::remove(src + "/t10k-labels-idx1-ubyte.gz");
  const std::string out = make_temp_dir() + "/out";
  FashionMnistPrepOptions opt{src, out, {}, 1024};
  EXPECT_CONTAINS(error_of([&] { prep_fashion_mnist(opt); }),
                  src + "/t10k-labels-idx1-ubyte.gz: file not found");
  EXPECT_FALSE(has_output(out));
}

}  // namespace
