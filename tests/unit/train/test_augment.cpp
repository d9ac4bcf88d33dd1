// Image augmentation and normalisation (augment.h): the per-sample generator, torchvision's
// RandomResizedCrop box sampler (bounds, fallback, distribution), the evaluation geometry and
// values on small known images, the flip, the loader's independence from how samples are
// batched (what 1 and 2 ranks read), and the config checks of the data.* image keys.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "frost/core/error.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/sampler.h"
#include "frost/train/augment.h"
#include "frost/train/config.h"
#include "frost/train/loader.h"
#include "h5_test_util.h"
#include "test_util.h"

namespace frost::train {
namespace {

ParseResult parse(std::vector<std::string> args) {
  args.insert(args.begin(), "frost-train");
  args.insert(args.begin() + 1, {"--data.train", "x.h5"});
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  return parse_args(static_cast<int>(argv.size()), argv.data());
}

std::string error_of(std::vector<std::string> args) {
  try {
    parse(std::move(args));
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// A uint8 [C, H, W] image with pixel (c, y, x) = (c * 50 + y * 7 + x * 3) % 256.
torch::Tensor pattern(int64_t c, int64_t h, int64_t w) {
  auto t = torch::empty({c, h, w}, torch::kUInt8);
  auto a = t.accessor<uint8_t, 3>();
  for (int64_t k = 0; k < c; ++k)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) a[k][y][x] = static_cast<uint8_t>((k * 50 + y * 7 + x * 3) % 256);
  return t;
}

TEST(SampleRng, IsAFunctionOfSeedEpochAndIndex) {
  SampleRng a(7, 2, 11), b(7, 2, 11);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next(), b.next());
  const uint64_t first = SampleRng(7, 2, 11).next();
  EXPECT_NE(SampleRng(8, 2, 11).next(), first);
  EXPECT_NE(SampleRng(7, 3, 11).next(), first);
  EXPECT_NE(SampleRng(7, 2, 12).next(), first);
  EXPECT_NE(SampleRng(7, 11, 2).next(), first);  // coordinates are not interchangeable
  SampleRng r(1, 0, 0);
  for (int i = 0; i < 1000; ++i) {
    const double u = r.uniform(2.0, 3.0);
    ASSERT_GE(u, 2.0);
    ASSERT_LT(u, 3.0);
    const int64_t k = r.below(5);
    ASSERT_GE(k, 0);
    ASSERT_LT(k, 5);
  }
}

TEST(RandomResizedCrop, BoxesLieInsideTheImage) {
  for (const auto& [h, w] : std::vector<std::pair<int64_t, int64_t>>{{28, 28}, {10, 40}, {1, 1}, {3, 200}}) {
    for (int64_t i = 0; i < 2000; ++i) {
      SampleRng rng(0, 0, i);
      const CropBox b = random_resized_crop_box(h, w, 0.08, 1.0, 0.75, 4.0 / 3.0, rng);
      ASSERT_GE(b.height, 1);
      ASSERT_GE(b.width, 1);
      ASSERT_GE(b.top, 0);
      ASSERT_GE(b.left, 0);
      ASSERT_LE(b.top + b.height, h) << h << "x" << w << " sample " << i;
      ASSERT_LE(b.left + b.width, w) << h << "x" << w << " sample " << i;
    }
  }
}

TEST(RandomResizedCrop, FallsBackToTheCentreCropOfTheNearestRatio) {
  // A 10 x 40 image (ratio 4) with the whole area and ratios in [3/4, 4/3]: no attempt fits
  // (h = sqrt(400 / r) > 10), so torchvision's fallback: full height, width round(10 * 4/3).
  SampleRng rng(0, 0, 0);
  bool fell_back = false;
  CropBox b = random_resized_crop_box(10, 40, 1.0, 1.0, 0.75, 4.0 / 3.0, rng, &fell_back);
  EXPECT_TRUE(fell_back);
  EXPECT_EQ(b, (CropBox{0, 13, 10, 13}));
  // Ratio [2, 3] on a square image (ratio 1 < 2): full width, height round(10 / 2) = 5, centred.
  b = random_resized_crop_box(10, 10, 1.0, 1.0, 2.0, 3.0, rng, &fell_back);
  EXPECT_TRUE(fell_back);
  EXPECT_EQ(b, (CropBox{2, 0, 5, 10}));
  // A draw that fits is not a fallback.
  b = random_resized_crop_box(100, 100, 0.25, 0.25, 1.0, 1.0, rng, &fell_back);
  EXPECT_FALSE(fell_back);
  EXPECT_EQ(b.height, 50);
  EXPECT_EQ(b.width, 50);
}

TEST(RandomResizedCrop, ScaleAndRatioFollowTheirDistributions) {
  // Ratio fixed at 1: every draw fits a 200 x 200 image, and the area fraction is uniform on the
  // scale range up to rounding: mean (0.08 + 1) / 2, a quarter of the draws below 0.08 + 0.23.
  const int n = 20000;
  double sum = 0;
  int low = 0;
  for (int i = 0; i < n; ++i) {
    SampleRng rng(3, 1, i);
    const CropBox b = random_resized_crop_box(200, 200, 0.08, 1.0, 1.0, 1.0, rng);
    const double s = static_cast<double>(b.height * b.width) / (200.0 * 200.0);
    sum += s;
    if (s < 0.08 + 0.25 * 0.92) ++low;
  }
  EXPECT_NEAR(sum / n, 0.54, 0.01);
  EXPECT_NEAR(static_cast<double>(low) / n, 0.25, 0.015);
  // A small fixed area: every draw fits, log(w / h) is uniform on [log 3/4, log 4/3]: mean 0,
  // half of the draws wider than tall.
  double log_sum = 0;
  int wide = 0;
  for (int i = 0; i < n; ++i) {
    SampleRng rng(3, 2, i);
    const CropBox b = random_resized_crop_box(400, 400, 0.1, 0.1, 0.75, 4.0 / 3.0, rng);
    const double r = static_cast<double>(b.width) / static_cast<double>(b.height);
    ASSERT_GE(r, 0.75 - 0.02);
    ASSERT_LE(r, 4.0 / 3.0 + 0.02);
    log_sum += std::log(r);
    if (b.width > b.height) ++wide;
  }
  EXPECT_NEAR(log_sum / n, 0.0, 0.01);
  EXPECT_NEAR(static_cast<double>(wide) / n, 0.5, 0.02);
}

TEST(EvalTransform, GeometryIsResizeThenCentreCrop) {
  // 28 -> shorter side round(28 / 0.875) = 32, centre 28: offset 2.
  EvalGeometry g = eval_geometry(28, 28, 28, 28, 0.875);
  EXPECT_EQ(g.resized_h, 32);
  EXPECT_EQ(g.resized_w, 32);
  EXPECT_EQ(g.crop, (CropBox{2, 2, 28, 28}));
  // 300 x 400 -> 224: 256 x int(256 * 400 / 300) = 341, left round(117 / 2) = 58 (half to even).
  g = eval_geometry(300, 400, 224, 224, 0.875);
  EXPECT_EQ(g.resized_h, 256);
  EXPECT_EQ(g.resized_w, 341);
  EXPECT_EQ(g.crop, (CropBox{16, 58, 224, 224}));
}

TEST(EvalTransform, ValuesOnAKnownImage) {
  ImageTransform t;
  t.kind = ImageTransform::Kind::kCentreCrop;
  // 8 x 8 to 4 with crop_pct 0.5: the shorter side resized to 8 (no resize), the centre 4 x 4.
  const torch::Tensor img = pattern(2, 8, 8);
  t.out_h = t.out_w = 4;
  t.crop_pct = 0.5;
  const torch::Tensor out = transform_image(img, t, 0);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 4, 4}));
  EXPECT_TRUE(torch::equal(out, img.slice(1, 2, 6).slice(2, 2, 6)));
  // Upsampling 1 x 2 x 2 [[0, 255], [0, 255]] to 4 x 4 (crop_pct 1): bilinear, half-pixel
  // centres: columns at source x = -0.25 (edge), 0.25, 0.75, 1.25 (edge) -> 0, 63.75, 191.25, 255.
  const torch::Tensor two = torch::tensor({0, 255, 0, 255}, torch::kUInt8).view({1, 2, 2});
  t.out_h = t.out_w = 4;
  t.crop_pct = 1.0;
  const torch::Tensor up = transform_image(two, t, 0);
  const torch::Tensor want = torch::tensor({0, 64, 191, 255}, torch::kUInt8).view({1, 1, 4}).expand({1, 4, 4});
  EXPECT_TRUE(torch::equal(up, want)) << up;
  // Downsampling is LibTorch's antialiased bilinear interpolate, rounded.
  const torch::Tensor big = pattern(3, 16, 12);
  const torch::Tensor ref = torch::nn::functional::interpolate(
                                big.unsqueeze(0).to(torch::kFloat32),
                                torch::nn::functional::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{8, 6})
                                    .mode(torch::kBilinear)
                                    .align_corners(false)
                                    .antialias(true))
                                .squeeze(0)
                                .round()
                                .to(torch::kUInt8);
  EXPECT_TRUE(torch::equal(resize_image(big, 8, 6), ref));
  // A constant image stays constant through every transform.
  const torch::Tensor flat = torch::full({1, 10, 10}, 77, torch::kUInt8);
  for (auto kind : {ImageTransform::Kind::kResize, ImageTransform::Kind::kRandomCrop,
                    ImageTransform::Kind::kCentreCrop}) {
    t.kind = kind;
    t.out_h = t.out_w = 6;
    t.flip = true;
    EXPECT_TRUE(torch::equal(transform_image(flat, t, 3), torch::full({1, 6, 6}, 77, torch::kUInt8)));
  }
}

TEST(Flip, MirrorsAboutHalfOfTheSamples) {
  ImageTransform t;
  t.flip = true;
  const torch::Tensor img = pattern(2, 5, 7);
  t.out_h = 5;
  t.out_w = 7;
  int flipped = 0;
  const int n = 2000;
  for (int i = 0; i < n; ++i) {
    const torch::Tensor out = transform_image(img, t, i);
    if (torch::equal(out, img.flip({2}))) {
      ++flipped;
    } else {
      ASSERT_TRUE(torch::equal(out, img)) << "sample " << i;
    }
    ASSERT_TRUE(torch::equal(out, transform_image(img, t, i)));  // deterministic
  }
  EXPECT_NEAR(static_cast<double>(flipped) / n, 0.5, 0.04);
  // The identity hands back the stored pixels themselves.
  const ImageTransform id;
  EXPECT_TRUE(transform_image(img, id, 0).is_same(img));
}

TEST(RandomCrop, DependsOnSeedEpochAndIndexOnly) {
  ImageTransform t;
  t.kind = ImageTransform::Kind::kRandomCrop;
  t.flip = true;
  t.out_h = t.out_w = 8;
  const torch::Tensor img = pattern(1, 12, 12);
  int differs_by_epoch = 0, differs_by_index = 0;
  for (int64_t i = 0; i < 50; ++i) {
    t.epoch = 0;
    const torch::Tensor a = transform_image(img, t, i);
    EXPECT_TRUE(torch::equal(a, transform_image(img, t, i)));
    t.epoch = 1;
    if (!torch::equal(a, transform_image(img, t, i))) ++differs_by_epoch;
    t.epoch = 0;
    if (!torch::equal(a, transform_image(img, t, i + 1))) ++differs_by_index;
  }
  EXPECT_GE(differs_by_epoch, 45);
  EXPECT_GE(differs_by_index, 45);
}

// What 1 rank and 2 ranks read in epoch e through their loaders: each sample's augmented,
// normalised row is the same, bit for bit, whichever rank and batch it falls in.
TEST(AugmentedLoader, SameSampleSameRowWithOneAndTwoRanks) {
  frost::testing::ImageData d;
  const int64_t n = 24;
  d.info = frost::testing::image_info(n, {3, 10, 10}, 4, {0.4, 0.5, 0.6}, {0.2, 0.25, 0.3});
  for (int64_t i = 0; i < n * 300; ++i) d.pixels.push_back(static_cast<uint8_t>((i * 37) % 251));
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(i % 4);
  const std::string path =
      frost::testing::write_images(frost::testing::make_temp_dir() + "/img.h5", d);
  const data::H5Dataset ds = data::H5Dataset::open({path});
  const Config cfg = parse({"--data.augment", "crop_flip", "--data.image_size", "6",
                            "--train.seed", "5", "--data.normalize", "imagenet"})
                         .config;
  for (int64_t epoch : {0, 1}) {
    const ImageOptions options = image_options(cfg, ds.info(), /*training=*/true, epoch);
    std::map<int64_t, torch::Tensor> rows[2];
    for (int world : {1, 2}) {
      for (int rank = 0; rank < world; ++rank) {
        const data::TrainSampler sampler(n, world, rank, 4, 5, true, false);
        BatchLoader loader(ds, sampler.epoch_batches(epoch), 2, c10::Device(c10::kCPU), options);
        Batch b;
        while (loader.next(b)) {
          ASSERT_EQ(b.inputs.sizes(), (std::vector<int64_t>{b.inputs.size(0), 3, 6, 6}));
          for (size_t r = 0; r < b.indices.size(); ++r)
            rows[world - 1][b.indices[r]] = b.inputs[static_cast<int64_t>(r)].clone();
        }
      }
    }
    ASSERT_EQ(rows[0].size(), static_cast<size_t>(n));
    ASSERT_EQ(rows[1].size(), static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_TRUE(torch::equal(rows[0][i], rows[1][i])) << "sample " << i << " epoch " << epoch;
      // The row is transform_image of the stored pixels, normalised with ImageNet's statistics.
      const torch::Tensor stored =
          torch::from_blob(d.pixels.data() + i * 300, {3, 10, 10}, torch::kUInt8);
      const torch::Tensor want = transform_image(stored, options.transform, i)
                                     .to(torch::kFloat32)
                                     .div_(255.0)
                                     .sub_(torch::tensor({0.485, 0.456, 0.406}).to(torch::kFloat32).view({3, 1, 1}))
                                     .div_(torch::tensor({0.229, 0.224, 0.225}).to(torch::kFloat32).view({3, 1, 1}));
      EXPECT_TRUE(torch::equal(rows[0][i], want)) << "sample " << i;
    }
  }
  // The evaluation transform: deterministic, no flip, the same in every epoch.
  const ImageOptions eval = image_options(cfg, ds.info(), /*training=*/false, 0);
  EXPECT_EQ(eval.transform.kind, ImageTransform::Kind::kCentreCrop);
  EXPECT_FALSE(eval.transform.flip);
}

TEST(AugmentConfig, DefaultsKeepTheStoredPixels) {
  const Config cfg = parse({}).config;
  EXPECT_EQ(cfg.data.augment, AugmentKind::kNone);
  EXPECT_EQ(cfg.data.normalize, NormalizeKind::kDataset);
  const data::DatasetInfo info = frost::testing::image_info(4, {1, 28, 28}, 2, {0.3}, {0.4});
  const ImageOptions o = image_options(cfg, info, true, 3);
  EXPECT_TRUE(o.transform.identity());
  EXPECT_TRUE(o.mean.empty());  // the file's attributes
  // data.image_size alone resizes, for training and evaluation alike, without randomness.
  const Config sized = parse({"--data.image_size", "32"}).config;
  EXPECT_EQ(image_options(sized, info, true, 0).transform.kind, ImageTransform::Kind::kResize);
  EXPECT_EQ(image_options(sized, info, false, 0).transform.kind, ImageTransform::Kind::kResize);
  EXPECT_EQ(model_input_shape(sized.data, info.sample_shape), (std::vector<int64_t>{1, 32, 32}));
  const Config flip = parse({"--data.augment", "flip"}).config;
  EXPECT_TRUE(image_options(flip, info, true, 0).transform.flip);
  EXPECT_TRUE(image_options(flip, info, false, 0).transform.identity());
}

TEST(AugmentConfig, BadValuesNameTheKey) {
  EXPECT_NE(error_of({"--data.augment", "rotate"}).find("data.augment = 'rotate' is not one of: none | flip | crop | crop_flip"), std::string::npos);
  EXPECT_NE(error_of({"--data.crop_scale", "0,1"}).find("data.crop_scale"), std::string::npos);
  EXPECT_NE(error_of({"--data.crop_scale", "0.5,1.5"}).find("(0, 1]"), std::string::npos);
  EXPECT_NE(error_of({"--data.crop_scale", "0.9,0.2"}).find("min 0.9 is larger than max 0.2"),
            std::string::npos);
  EXPECT_NE(error_of({"--data.crop_scale", "0.5"}).find("must be two numbers"), std::string::npos);
  EXPECT_NE(error_of({"--data.crop_ratio", "-1,2"}).find("data.crop_ratio"), std::string::npos);
  EXPECT_NE(error_of({"--data.crop_ratio", "1,x"}).find("data.crop_ratio = '1,x' must be finite numbers"),
            std::string::npos);
  EXPECT_NE(error_of({"--data.eval_crop_pct", "0"}).find("data.eval_crop_pct must be in (0, 1]"),
            std::string::npos);
  EXPECT_NE(error_of({"--data.eval_crop_pct", "1.5"}).find("data.eval_crop_pct"), std::string::npos);
  EXPECT_NE(error_of({"--data.image_size", "-1"}).find("data.image_size must be >= 0"), std::string::npos);
  EXPECT_NE(error_of({"--data.normalize", "custom"}).find("needs data.mean and data.std"),
            std::string::npos);
  EXPECT_NE(error_of({"--data.normalize", "custom", "--data.mean", "0.5,0.5", "--data.std", "0.2"})
                .find("data.mean has 2 values but data.std has 1"),
            std::string::npos);
  EXPECT_NE(error_of({"--data.normalize", "custom", "--data.mean", "0.5", "--data.std", "0"})
                .find("every std must be > 0"),
            std::string::npos);
  EXPECT_NE(error_of({"--data.mean", "0.5", "--data.std", "0.2"}).find("set data.normalize = custom"),
            std::string::npos);
  EXPECT_NE(error_of({"--data.augment", "crop", "--train.strategy", "head", "--train.feature_cache",
                      "memory"})
                .find("the features would no longer be fixed"),
            std::string::npos);
  EXPECT_EQ(error_of({"--data.normalize", "custom", "--data.mean", "0.5, 0.4,0.3", "--data.std",
                      "0.2,0.2,0.2"}),
            "(no error)");
}

TEST(AugmentConfig, ChannelsAndInputKindsAreCheckedAgainstTheData) {
  const data::DatasetInfo grey = frost::testing::image_info(4, {1, 8, 8}, 2, {0.3}, {0.4});
  auto error_with = [](const Config& cfg, const data::DatasetInfo& info) -> std::string {
    try {
      image_options(cfg, info, true, 0);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_NE(error_with(parse({"--data.normalize", "imagenet"}).config, grey)
                .find("data.normalize = imagenet needs 3-channel (RGB) images, but the data has 1 channel"),
            std::string::npos);
  EXPECT_NE(error_with(parse({"--data.normalize", "custom", "--data.mean", "0.5,0.5", "--data.std",
                              "0.2,0.2"})
                           .config,
                       grey)
                .find("need one value per channel: the images have 1"),
            std::string::npos);
  data::DatasetInfo features;
  features.input_kind = data::InputKind::kFeatures;
  features.sample_shape = {8};
  EXPECT_NE(error_with(parse({"--data.augment", "flip"}).config, features)
                .find("data.augment = flip needs image inputs, but the data holds features inputs"),
            std::string::npos);
  EXPECT_NE(error_with(parse({"--data.normalize", "imagenet"}).config, features)
                .find("data.normalize = imagenet needs image inputs"),
            std::string::npos);
  EXPECT_EQ(error_with(parse({}).config, features), "(no error)");
}

}  // namespace
}  // namespace frost::train
