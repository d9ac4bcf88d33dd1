// frost::image: the codecs (image_codec.h) on real PNG/JPEG files, and prep_images
// (image_prep.h) on ImageFolder trees and CSVs: Fashion-MNIST's test images written as PNG come
// back pixel for pixel, as JPEG within a small error; resizing, cropping and padding; skipped
// and rejected inputs (corrupt, truncated, wrong layout, empty class, unknown label, missing
// file), and no file left behind on failure.
#include <gtest/gtest.h>
#include <png.h>

#include <cstring>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "frost/data/class_names.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/idx.h"
#include "frost/image/image_codec.h"
#include "frost/image/image_prep.h"
#include "test_util.h"

namespace {

using frost::image::Image;
using frost::image::ImagePrepOptions;
using frost::image::prep_images;
using frost::testing::error_of;
using frost::testing::test_dir;

std::string fmnist_dir() {
  const char* v = std::getenv("FROST_FMNIST");
  return v != nullptr && *v != '\0' ? v : "/usr/share/datasets/fashion-mnist";
}

Image plain(int64_t h, int64_t w, int c, uint8_t value) {
  Image img;
  img.height = h;
  img.width = w;
  img.channels = c;
  img.pixels.assign(static_cast<size_t>(h * w * c), value);
  return img;
}

Image gradient(int64_t h, int64_t w, int c) {
  Image img = plain(h, w, c, 0);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k)
        img.pixels[static_cast<size_t>((y * w + x) * c + k)] =
            static_cast<uint8_t>((y * 7 + x * 3 + k * 50) % 256);
  return img;
}

// Every row of a dataset file (or shard list): inputs and labels.
struct Rows {
  frost::data::DatasetInfo info;
  std::vector<uint8_t> inputs;
  std::vector<int64_t> labels;
};

Rows read_all(const std::vector<std::string>& paths) {
  auto ds = frost::data::H5Dataset::open(paths);
  Rows r;
  r.info = ds.info();
  std::vector<int64_t> idx(static_cast<size_t>(ds.size()));
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
  r.inputs.resize(static_cast<size_t>(ds.size() * r.info.sample_numel()));
  r.labels.resize(idx.size());
  ds.read(idx, r.inputs.data(), r.labels.data());
  return r;
}

// A two-class folder of PNGs: ROOT/a/{0..n-1}.png, ROOT/b/... (grey, 8 x 8 gradients).
std::string two_classes(const std::string& dir, int n = 4) {
  const std::string root = dir + "/root";
  for (const char* cls : {"a", "b"}) {
    frost::fs::create_directories(root + "/" + cls);
    for (int i = 0; i < n; ++i)
      frost::image::write_png(root + "/" + cls + "/" + std::to_string(i) + ".png",
                              gradient(8 + i, 8, 1));
  }
  return root;
}

ImagePrepOptions options(const std::string& root, const std::string& out, int64_t size = 8) {
  ImagePrepOptions o;
  o.src_dir = root;
  o.out_dir = out;
  o.size = size;
  o.test_frac = 0.25;
  o.threads = 2;
  o.progress = false;
  return o;
}

bool empty_or_missing(const std::string& dir) {
  return !std::filesystem::exists(dir) || std::filesystem::is_empty(dir);
}

// ---- codecs ------------------------------------------------------------------------------------

TEST(ImageCodec, PngRoundTripIsExactAndConvertsChannels) {
  const std::string dir = test_dir();
  const Image rgb = gradient(5, 7, 3), grey = gradient(6, 4, 1);
  frost::image::write_png(dir + "/rgb.png", rgb);
  frost::image::write_png(dir + "/grey.png", grey);
  const Image a = frost::image::decode_image(dir + "/rgb.png", 0);
  EXPECT_EQ(a.channels, 3);
  EXPECT_EQ(a.height, 5);
  EXPECT_EQ(a.width, 7);
  EXPECT_EQ(a.pixels, rgb.pixels);
  const Image g = frost::image::decode_image(dir + "/grey.png", 0);
  EXPECT_EQ(g.channels, 1);
  EXPECT_EQ(g.pixels, grey.pixels);
  const Image g3 = frost::image::decode_image(dir + "/grey.png", 3);  // grey -> RGB: replicated
  ASSERT_EQ(g3.channels, 3);
  for (size_t p = 0; p < grey.pixels.size(); ++p)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(g3.pixels[p * 3 + c], grey.pixels[p]);
  EXPECT_EQ(frost::image::decode_image(dir + "/rgb.png", 1).channels, 1);
}

// Writes `pixels` in libpng's in-memory `format` (with `colormap` for a palette image).
void write_png_as(const std::string& path, int w, int h, png_uint_32 format, const void* pixels,
                  const void* colormap = nullptr, int colormap_entries = 0) {
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(w);
  png.height = static_cast<png_uint_32>(h);
  png.format = format;
  png.colormap_entries = static_cast<png_uint_32>(colormap_entries);
  ASSERT_TRUE(png_image_write_to_file(&png, path.c_str(), 0, pixels, 0, colormap)) << png.message;
}

TEST(ImageCodec, AlphaIsDroppedPalettesExpandedSixteenBitsReduced) {
  const std::string dir = test_dir();
  // RGBA, half of it fully transparent: the colour is kept, not composited onto a background.
  std::vector<uint8_t> rgba;
  for (int i = 0; i < 12; ++i)
    rgba.insert(rgba.end(), {uint8_t(10 * i), uint8_t(200 - i), 77, uint8_t(i % 2 ? 0 : 255)});
  write_png_as(dir + "/rgba.png", 4, 3, PNG_FORMAT_RGBA, rgba.data());
  const Image a = frost::image::decode_image(dir + "/rgba.png", 0);
  ASSERT_EQ(a.channels, 3);
  for (int i = 0; i < 12; ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(a.pixels[i * 3 + c], rgba[i * 4 + c]) << i << " " << c;
  // Grey + alpha -> grey.
  std::vector<uint8_t> ga = {5, 0, 100, 255, 250, 7, 30, 30};
  write_png_as(dir + "/ga.png", 2, 2, PNG_FORMAT_GA, ga.data());
  EXPECT_EQ(frost::image::decode_image(dir + "/ga.png", 0).pixels,
            (std::vector<uint8_t>{5, 100, 250, 30}));
  // A palette image: indices expanded through the colour map.
  const uint8_t colormap[] = {255, 0, 0, 0, 255, 0, 0, 0, 255};
  const uint8_t index[] = {0, 1, 2, 1, 0, 2};
  write_png_as(dir + "/palette.png", 3, 2, PNG_FORMAT_RGB_COLORMAP, index, colormap, 3);
  const Image p = frost::image::decode_image(dir + "/palette.png", 0);
  ASSERT_EQ(p.channels, 3);
  for (int i = 0; i < 6; ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(p.pixels[i * 3 + c], colormap[index[i] * 3 + c]);
  // 16-bit grey (libpng's linear 16-bit format): read as 8-bit grey, black and white exact.
  const uint16_t grey16[] = {0, 65535, 0, 65535};
  write_png_as(dir + "/grey16.png", 2, 2, PNG_FORMAT_LINEAR_Y, grey16);
  EXPECT_EQ(frost::image::decode_image(dir + "/grey16.png", 0).pixels,
            (std::vector<uint8_t>{0, 255, 0, 255}));
}

TEST(ImageCodec, JpegRoundTripIsClose) {
  const std::string dir = test_dir();
  const Image img = plain(16, 24, 3, 120);
  frost::image::write_jpeg(dir + "/x.jpg", img, 95);
  const Image back = frost::image::decode_image(dir + "/x.jpg", 0);
  ASSERT_EQ(back.channels, 3);
  ASSERT_EQ(back.pixels.size(), img.pixels.size());
  for (size_t i = 0; i < img.pixels.size(); ++i) EXPECT_NEAR(back.pixels[i], 120, 2);
  EXPECT_EQ(frost::image::decode_image(dir + "/x.jpg", 1).channels, 1);
}

TEST(ImageCodec, BadFilesAreErrorsNamingThePath) {
  const std::string dir = test_dir();
  frost::image::write_jpeg(dir + "/full.jpg", gradient(64, 64, 3), 90);
  frost::image::write_png(dir + "/full.png", gradient(64, 64, 3));
  std::ifstream jin(dir + "/full.jpg", std::ios::binary), pin(dir + "/full.png", std::ios::binary);
  const std::string jpg((std::istreambuf_iterator<char>(jin)), {});
  const std::string png((std::istreambuf_iterator<char>(pin)), {});
  frost::testing::write_file(dir + "/cut.jpg", jpg.substr(0, jpg.size() / 2));
  frost::testing::write_file(dir + "/cut.png", png.substr(0, png.size() / 2));
  std::string flipped = png;
  for (size_t i = 60; i < 90 && i < flipped.size(); ++i)
    flipped[i] = static_cast<char>(~flipped[i]);
  frost::testing::write_file(dir + "/corrupt.png", flipped);
  frost::testing::write_file(dir + "/text.png", "not an image at all");
  frost::testing::write_file(dir + "/empty.jpg", "");
  for (const char* name :
       {"cut.jpg", "cut.png", "corrupt.png", "text.png", "empty.jpg", "none.png"}) {
    const std::string path = dir + "/" + name;
    const std::string msg = error_of([&] { frost::image::decode_image(path, 0); });
    EXPECT_EQ(msg.rfind(path, 0), 0u) << msg;
  }
  EXPECT_CONTAINS(error_of([&] { frost::image::decode_image(dir + "/cut.jpg", 0); }),
                  "Premature end of JPEG file");
}

// ---- prep_images on Fashion-MNIST's real images ------------------------------------------------

// Writes the first n test images as PNG or JPEG into ROOT/{train,test}/<label>/<index>.<ext>
// (train: index < n_train) and returns, per split, the IDX rows in the conversion's order
// (label, then index).
struct Expected {
  std::vector<uint8_t> train, test;
  std::vector<int64_t> train_labels, test_labels;
};

Expected write_fmnist(const std::string& root, int64_t n, int64_t n_train, bool jpeg) {
  const auto images = frost::data::read_idx(fmnist_dir() + "/t10k-images-idx3-ubyte.gz");
  const auto labels = frost::data::read_idx(fmnist_dir() + "/t10k-labels-idx1-ubyte.gz");
  Expected e;
  for (int label = 0; label < 10; ++label) {
    for (int64_t i = 0; i < n; ++i) {
      if (labels.bytes[static_cast<size_t>(i)] != label) continue;
      const bool train = i < n_train;
      const std::string folder = root + (train ? "/train/" : "/test/") + std::to_string(label);
      frost::fs::create_directories(folder);
      Image img;
      img.height = img.width = 28;
      img.channels = 1;
      img.pixels.assign(images.bytes.begin() + i * 784, images.bytes.begin() + (i + 1) * 784);
      char name[32];
      std::snprintf(name, sizeof name, "/%05d.%s", static_cast<int>(i), jpeg ? "jpg" : "png");
      if (jpeg)
        frost::image::write_jpeg(folder + name, img, 95);
      else
        frost::image::write_png(folder + name, img);
      auto& px = train ? e.train : e.test;
      px.insert(px.end(), img.pixels.begin(), img.pixels.end());
      (train ? e.train_labels : e.test_labels).push_back(label);
    }
  }
  return e;
}

TEST(PrepImages, FashionMnistPngIsExactJpegIsClose) {
  if (!std::filesystem::exists(fmnist_dir() + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "no Fashion-MNIST at " << fmnist_dir() << " (package dataset-fashion-mnist)";
  const std::string dir = test_dir();
  for (const bool jpeg : {false, true}) {
    const std::string root = dir + (jpeg ? "/jpeg" : "/png"), out = root + "-out";
    const Expected e = write_fmnist(root, 300, 200, jpeg);
    auto o = options(root, out, 28);
    const auto s = prep_images(o);
    EXPECT_TRUE(s.split_from_folders);
    EXPECT_EQ(s.channels, 1);
    ASSERT_EQ(s.class_names.size(), 10u);
    EXPECT_EQ(s.class_names[3], "3");
    const Rows train = read_all({out + "/train.h5"}), test = read_all({out + "/test.h5"});
    ASSERT_EQ(train.labels, e.train_labels);
    ASSERT_EQ(test.labels, e.test_labels);
    EXPECT_EQ(train.info.sample_shape, (std::vector<int64_t>{1, 28, 28}));
    EXPECT_EQ(frost::data::read_class_names(out + "/train.h5", 10), s.class_names);
    if (!jpeg) {
      EXPECT_EQ(train.inputs, e.train);
      EXPECT_EQ(test.inputs, e.test);
    } else {
      double sum = 0;
      int max_err = 0;
      for (size_t i = 0; i < e.train.size(); ++i) {
        const int d = std::abs(int{train.inputs[i]} - int{e.train[i]});
        sum += d;
        max_err = std::max(max_err, d);
      }
      EXPECT_LT(sum / static_cast<double>(e.train.size()), 2.0);  // quality 95
      EXPECT_LT(max_err, 64);
    }
    // mean/std of pixel/255 over the converted train rows, in both files.
    double mean = 0, var = 0;
    for (uint8_t p : train.inputs) mean += p / 255.0;
    mean /= static_cast<double>(train.inputs.size());
    for (uint8_t p : train.inputs) var += (p / 255.0 - mean) * (p / 255.0 - mean);
    EXPECT_NEAR(train.info.mean[0], mean, 1e-9);
    EXPECT_NEAR(train.info.std[0], std::sqrt(var / static_cast<double>(train.inputs.size())), 1e-9);
    EXPECT_EQ(test.info.mean, train.info.mean);
  }
}

// ---- resizing ----------------------------------------------------------------------------------

TEST(PrepImages, MixedSizesAreResizedCroppedOrPadded) {
  const std::string dir = test_dir();
  const std::string root = dir + "/root";
  frost::fs::create_directories(root + "/a");
  frost::fs::create_directories(root + "/b");
  // One colour per image: antialiased bilinear keeps a constant image constant.
  frost::image::write_png(root + "/a/wide.png", plain(20, 40, 1, 200));
  frost::image::write_png(root + "/a/small.png", plain(5, 5, 1, 100));
  frost::image::write_jpeg(root + "/b/tall.jpg", plain(50, 12, 1, 30), 100);
  frost::image::write_png(root + "/b/exact.png", plain(10, 10, 1, 60));
  for (const auto mode : {frost::image::ResizeMode::kCrop, frost::image::ResizeMode::kPad}) {
    auto o = options(root, dir + "/out", 10);
    o.resize_mode = mode;
    o.test_frac = 0.5;
    const auto s = prep_images(o);
    const Rows rows = read_all({s.train.path, s.test.path});
    ASSERT_EQ(rows.labels.size(), 4u);
    EXPECT_EQ(rows.info.sample_shape, (std::vector<int64_t>{1, 10, 10}));
    for (size_t r = 0; r < 4; ++r) {
      const uint8_t* px = rows.inputs.data() + r * 100;
      const uint8_t centre = px[5 * 10 + 5];
      for (int y = 0; y < 10; ++y)
        for (int x = 0; x < 10; ++x) {
          if (mode == frost::image::ResizeMode::kCrop || centre == 100 || centre == 60) {
            EXPECT_NEAR(px[y * 10 + x], centre, 1) << r << " " << y << " " << x;
          } else if (centre == 200) {  // 20 x 40 -> 5 x 10, rows 2..6 (top = (10 - 5) / 2)
            EXPECT_EQ(px[y * 10 + x], (y >= 2 && y < 7) ? 200 : 0) << y << " " << x;
          } else {  // 50 x 12 -> 10 x 2, columns 4..5
            EXPECT_NEAR(px[y * 10 + x], (x >= 4 && x < 6) ? 30 : 0, 1) << y << " " << x;
          }
        }
    }
  }
}

TEST(PrepImages, AutoChannelsIsRgbWhenOneImageHasColourAndGreyIsReplicated) {
  const std::string dir = test_dir();
  const std::string root = two_classes(dir);
  frost::image::write_png(root + "/b/colour.png", gradient(8, 8, 3));
  auto o = options(root, dir + "/out");
  const auto s = prep_images(o);
  EXPECT_EQ(s.channels, 3);
  EXPECT_EQ(s.mean.size(), 3u);
  const Rows rows = read_all({s.train.path, s.test.path});
  int grey_rows = 0;
  for (size_t r = 0; r < rows.labels.size(); ++r) {
    const uint8_t* px = rows.inputs.data() + r * 3 * 64;
    bool same = true;
    for (int i = 0; i < 64; ++i) same = same && px[i] == px[64 + i] && px[i] == px[128 + i];
    grey_rows += same;
  }
  EXPECT_EQ(grey_rows, 8);  // all but the colour one
  o.channels = 1;
  o.out_dir = dir + "/out1";
  EXPECT_EQ(prep_images(o).channels, 1);
}

// ---- splits and outputs ------------------------------------------------------------------------

TEST(PrepImages, SeededSplitIsStratifiedAndRepeatable) {
  const std::string dir = test_dir();
  const std::string root = two_classes(dir, 8);
  auto o = options(root, dir + "/a");
  o.deflate_level = 6;
  const auto s = prep_images(o);
  EXPECT_FALSE(s.split_from_folders);
  EXPECT_EQ(s.train_per_class, (std::vector<int64_t>{6, 6}));
  EXPECT_EQ(s.test_per_class, (std::vector<int64_t>{2, 2}));
  o.out_dir = dir + "/b";
  o.deflate_level = 0;
  prep_images(o);
  const Rows a = read_all({dir + "/a/train.h5"}), b = read_all({dir + "/b/train.h5"});
  EXPECT_EQ(a.inputs, b.inputs);  // compressed or not, the same rows
  EXPECT_EQ(a.labels, b.labels);
  o.out_dir = dir + "/c";
  o.seed = 1;
  prep_images(o);
  EXPECT_NE(read_all({dir + "/c/train.h5"}).labels, a.labels);
}

TEST(PrepImages, CsvInput) {
  const std::string dir = test_dir();
  two_classes(dir);
  frost::testing::write_file(dir + "/list.csv",
                             "path,label\nroot/a/0.png,cat\nroot/a/1.png,cat\nroot/b/0.png,dog\n"
                             "root/b/1.png,dog\n" +
                                 dir + "/root/b/2.png,dog\nroot/a/2.png,cat\n");
  ImagePrepOptions o = options("", dir + "/out");
  o.csv_path = dir + "/list.csv";
  o.test_frac = 0.34;
  const auto s = prep_images(o);
  EXPECT_EQ(s.class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(s.train.num_samples + s.test.num_samples, 6);
  o.labels = {"dog", "cat", "bird"};
  o.out_dir = dir + "/out2";
  EXPECT_EQ(prep_images(o).class_names, o.labels);
  // Unknown label, missing file: errors naming the line, nothing written.
  o.labels = {"cat"};
  o.out_dir = dir + "/bad";
  EXPECT_CONTAINS(error_of([&] { prep_images(o); }), "line 4: unknown label 'dog'");
  o.labels.clear();
  frost::testing::write_file(dir + "/missing.csv", "path,label\nroot/a/0.png,x\nroot/a/9.png,y\n");
  o.csv_path = dir + "/missing.csv";
  EXPECT_CONTAINS(error_of([&] { prep_images(o); }),
                  "line 3: the image '" + dir + "/root/a/9.png'");
  EXPECT_TRUE(empty_or_missing(dir + "/bad"));
}

// ---- bad inputs --------------------------------------------------------------------------------

TEST(PrepImages, BadImageFailsNamingItOrIsSkippedAndListed) {
  const std::string dir = test_dir();
  const std::string root = two_classes(dir);
  frost::testing::write_file(root + "/b/broken.png", "\x89PNG\r\n\x1a\nnot really");
  auto o = options(root, dir + "/out");
  const std::string msg = error_of([&] { prep_images(o); });
  EXPECT_CONTAINS(msg, root + "/b/broken.png");
  EXPECT_TRUE(empty_or_missing(dir + "/out"));
  o.skip_bad_images = true;
  const auto s = prep_images(o);
  ASSERT_EQ(s.skipped.size(), 1u);
  EXPECT_CONTAINS(s.skipped[0], root + "/b/broken.png");
  EXPECT_EQ(s.train.num_samples + s.test.num_samples, 8);
  std::ifstream list(dir + "/out/skipped.txt");
  std::string line;
  ASSERT_TRUE(std::getline(list, line));
  EXPECT_CONTAINS(line, root + "/b/broken.png");
}

TEST(PrepImages, LayoutErrors) {
  const std::string dir = test_dir();
  const std::string root = two_classes(dir);
  auto o = options(root, dir + "/out");
  // An empty class folder is named.
  frost::fs::create_directories(root + "/c");
  frost::testing::write_file(root + "/c/notes.txt", "x");
  EXPECT_CONTAINS(error_of([&] { prep_images(o); }), root + "/c: the class folder 'c' holds no");
  frost::fs::remove_tree(root + "/c");
  // Images directly in ROOT.
  frost::image::write_png(root + "/stray.png", gradient(8, 8, 1));
  EXPECT_CONTAINS(error_of([&] { prep_images(o); }), "holds the image file 'stray.png' directly");
  frost::fs::remove_tree(root + "/stray.png");
  // One class only; no class folders at all; train/test with different classes.
  frost::fs::remove_tree(root + "/b");
  EXPECT_CONTAINS(error_of([&] { prep_images(o); }), "holds 1 class(es)");
  o.src_dir = dir + "/flat";
  frost::fs::create_directories(o.src_dir);
  EXPECT_CONTAINS(error_of([&] { prep_images(o); }), "holds no class folders");
  const std::string split = two_classes(dir + "/s");
  frost::fs::create_directories(split + "/train");
  std::filesystem::rename(split + "/a", split + "/train/a");
  std::filesystem::rename(split + "/b", split + "/train/b");
  frost::fs::create_directories(split + "/test/a");
  frost::image::write_png(split + "/test/a/0.png", gradient(8, 8, 1));
  o.src_dir = split;
  EXPECT_CONTAINS(error_of([&] { prep_images(o); }),
                  "hold different class folders (2 and 1): 'b' is in " + split + "/train only");
  EXPECT_TRUE(empty_or_missing(dir + "/out"));
  // Options.
  o.size = 0;
  EXPECT_CONTAINS(error_of([&] { prep_images(o); }), "--size must be in [1, 8192]");
}

}  // namespace
