#include "frost/train/augment.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "frost/core/error.h"
#include "frost/data/dataset_info.h"

namespace frost::train {
namespace {

// SplitMix64's output function (Steele, Lea & Flood 2014; the constants of Vigna's
// splitmix64.c): a bijective mix of 64 bits.
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;  // SplitMix64's increment

// Python's round() of a non-negative double to an integer: half to even.
int64_t round_half_even(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

// Comma-joined numbers, for the log.
std::string join(const std::vector<double>& v) {
  std::ostringstream os;
  os.precision(6);
  for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
  return os.str();
}

// torchvision's ImageNet statistics (torchvision.transforms._presets.ImageClassification).
const std::vector<double> kImageNetMean = {0.485, 0.456, 0.406};
const std::vector<double> kImageNetStd = {0.229, 0.224, 0.225};

bool crops(AugmentKind a) { return a == AugmentKind::kCrop || a == AugmentKind::kCropFlip; }
bool flips(AugmentKind a) { return a == AugmentKind::kFlip || a == AugmentKind::kCropFlip; }

}  // namespace

// ---- SampleRng: SplitMix64 seeded with a hash of (seed, epoch, index).
SampleRng::SampleRng(uint64_t seed, int64_t epoch, int64_t index) {
  // Each coordinate is mixed in after the previous one's hash, so (s, e, i) and any permutation
  // of it give unrelated streams.
  uint64_t h = mix64(seed + kGolden);
  h = mix64(h ^ (static_cast<uint64_t>(epoch) + 2 * kGolden));
  h = mix64(h ^ (static_cast<uint64_t>(index) + 3 * kGolden));
  state_ = h;
}

uint64_t SampleRng::next() {
  state_ += kGolden;
  return mix64(state_);
}

double SampleRng::uniform(double lo, double hi) {
  const double u = static_cast<double>(next() >> 11) * 0x1.0p-53;  // [0, 1)
  return lo + (hi - lo) * u;
}

int64_t SampleRng::below(int64_t bound) {
  FROST_ASSERT(bound >= 1, "SampleRng::below(", bound, ")");
  const auto b = static_cast<uint64_t>(bound);
  const uint64_t threshold = (0 - b) % b;  // 2^64 mod b
  for (;;) {
    const uint64_t x = next();
    if (x >= threshold) return static_cast<int64_t>(x % b);
  }
}

// ---- geometry (Note [Image augmentation]; torchvision/transforms/transforms.py)
CropBox random_resized_crop_box(int64_t height, int64_t width, double scale_min,
                                double scale_max, double ratio_min, double ratio_max,
                                SampleRng& rng, bool* fell_back) {
  FROST_ASSERT(height >= 1 && width >= 1 && ratio_min > 0 && ratio_min <= ratio_max,
               "random_resized_crop_box of ", height, "x", width);
  const double area = static_cast<double>(height) * static_cast<double>(width);
  const double log_lo = std::log(ratio_min), log_hi = std::log(ratio_max);
  if (fell_back != nullptr) *fell_back = false;
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * rng.uniform(scale_min, scale_max);
    const double aspect = std::exp(rng.uniform(log_lo, log_hi));
    const int64_t w = round_half_even(std::sqrt(target_area * aspect));
    const int64_t h = round_half_even(std::sqrt(target_area / aspect));
    if (0 < w && w <= width && 0 < h && h <= height) {
      CropBox box;
      box.height = h;
      box.width = w;
      box.top = rng.below(height - h + 1);
      box.left = rng.below(width - w + 1);
      return box;
    }
  }
  if (fell_back != nullptr) *fell_back = true;
  // Fallback to the central crop.
  const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
  CropBox box;
  if (in_ratio < ratio_min) {
    box.width = width;
    box.height = std::clamp<int64_t>(round_half_even(static_cast<double>(width) / ratio_min), 1,
                                     height);
  } else if (in_ratio > ratio_max) {
    box.height = height;
    box.width = std::clamp<int64_t>(round_half_even(static_cast<double>(height) * ratio_max), 1,
                                    width);
  } else {
    box.width = width;
    box.height = height;
  }
  box.top = (height - box.height) / 2;
  box.left = (width - box.width) / 2;
  return box;
}

EvalGeometry eval_geometry(int64_t height, int64_t width, int64_t out_h, int64_t out_w,
                           double crop_pct) {
  FROST_ASSERT(height >= 1 && width >= 1 && out_h >= 1 && out_w >= 1 && crop_pct > 0 &&
                   crop_pct <= 1,
               "eval_geometry of ", height, "x", width, " to ", out_h, "x", out_w);
  // Resize(int): the shorter side to `side`, the longer in proportion (int() truncates).
  const int64_t side =
      std::max<int64_t>(round_half_even(static_cast<double>(std::min(out_h, out_w)) / crop_pct),
                        std::min(out_h, out_w));
  EvalGeometry g;
  if (height <= width) {
    g.resized_h = side;
    g.resized_w = static_cast<int64_t>(static_cast<double>(side) * static_cast<double>(width) /
                                       static_cast<double>(height));
  } else {
    g.resized_w = side;
    g.resized_h = static_cast<int64_t>(static_cast<double>(side) * static_cast<double>(height) /
                                       static_cast<double>(width));
  }
  g.resized_h = std::max(g.resized_h, out_h);  // a non-square result taller than the image
  g.resized_w = std::max(g.resized_w, out_w);
  // CenterCrop: offsets int(round((size - crop) / 2.0)).
  g.crop.height = out_h;
  g.crop.width = out_w;
  g.crop.top = round_half_even(static_cast<double>(g.resized_h - out_h) / 2.0);
  g.crop.left = round_half_even(static_cast<double>(g.resized_w - out_w) / 2.0);
  return g;
}

// ---- pixels
at::Tensor resize_image(const at::Tensor& image, int64_t h, int64_t w) {
  FROST_ASSERT(image.dim() == 3 && image.scalar_type() == torch::kUInt8, "resize_image of ",
               image.sizes());
  if (image.size(1) == h && image.size(2) == w) return image;
  namespace F = torch::nn::functional;
  const torch::Tensor out =
      F::interpolate(image.unsqueeze(0).to(torch::kFloat32),
                     F::InterpolateFuncOptions()
                         .size(std::vector<int64_t>{h, w})
                         .mode(torch::kBilinear)
                         .align_corners(false)
                         .antialias(true));
  return out.squeeze(0).round_().clamp_(0, 255).to(torch::kUInt8);
}

at::Tensor transform_image(const at::Tensor& image, const ImageTransform& t, int64_t index) {
  if (t.identity()) return image;
  const int64_t height = image.size(1), width = image.size(2);
  SampleRng rng(t.seed, t.epoch, index);
  torch::Tensor out;
  switch (t.kind) {
    case ImageTransform::Kind::kIdentity: out = image; break;
    case ImageTransform::Kind::kResize: out = resize_image(image, t.out_h, t.out_w); break;
    case ImageTransform::Kind::kRandomCrop: {
      const CropBox box = random_resized_crop_box(height, width, t.scale_min, t.scale_max,
                                                  t.ratio_min, t.ratio_max, rng);
      out = resize_image(
          image.narrow(1, box.top, box.height).narrow(2, box.left, box.width).contiguous(),
          t.out_h, t.out_w);
      break;
    }
    case ImageTransform::Kind::kCentreCrop: {
      const EvalGeometry g = eval_geometry(height, width, t.out_h, t.out_w, t.crop_pct);
      out = resize_image(image, g.resized_h, g.resized_w)
                .narrow(1, g.crop.top, g.crop.height)
                .narrow(2, g.crop.left, g.crop.width);
      break;
    }
  }
  // Drawn after the crop's draws, as RandomHorizontalFlip follows RandomResizedCrop.
  if (t.flip && rng.uniform(0.0, 1.0) < 0.5) out = out.flip({2});
  return out.contiguous();
}

// ---- from the config
ImageTransform image_transform(const DataConfig& data, const std::vector<int64_t>& stored_shape,
                               bool training, int64_t seed, int64_t epoch) {
  FROST_ASSERT(stored_shape.size() == 3, "image_transform of a shape of ", stored_shape.size(),
               " dimensions");
  ImageTransform t;
  const int64_t height = stored_shape[1], width = stored_shape[2];
  t.out_h = data.image_size > 0 ? data.image_size : height;
  t.out_w = data.image_size > 0 ? data.image_size : width;
  const std::vector<double> scale = parse_number_list("data.crop_scale", data.crop_scale);
  const std::vector<double> ratio = parse_number_list("data.crop_ratio", data.crop_ratio);
  FROST_CHECK(scale.size() == 2 && ratio.size() == 2,
              "config keys data.crop_scale and data.crop_ratio must be min,max pairs");
  t.scale_min = scale[0];
  t.scale_max = scale[1];
  t.ratio_min = ratio[0];
  t.ratio_max = ratio[1];
  t.crop_pct = data.eval_crop_pct;
  t.seed = static_cast<uint64_t>(seed);
  t.epoch = epoch;
  if (crops(data.augment)) {
    t.kind = training ? ImageTransform::Kind::kRandomCrop : ImageTransform::Kind::kCentreCrop;
  } else {
    t.kind = t.out_h == height && t.out_w == width ? ImageTransform::Kind::kIdentity
                                                   : ImageTransform::Kind::kResize;
  }
  t.flip = training && flips(data.augment);
  return t;
}

void image_normalisation(const DataConfig& data, int64_t channels, std::vector<double>& mean,
                         std::vector<double>& std_dev) {
  switch (data.normalize) {
    case NormalizeKind::kDataset:
      mean.clear();
      std_dev.clear();
      return;
    case NormalizeKind::kImageNet:
      FROST_CHECK(channels == 3, "data.normalize = imagenet needs 3-channel (RGB) images, but the "
                  "data has ", channels, " channel", channels == 1 ? "" : "s",
                  "; use data.normalize = dataset, or custom with data.mean / data.std");
      mean = kImageNetMean;
      std_dev = kImageNetStd;
      return;
    case NormalizeKind::kCustom:
      mean = parse_number_list("data.mean", data.norm_mean);
      std_dev = parse_number_list("data.std", data.norm_std);
      FROST_CHECK(static_cast<int64_t>(mean.size()) == channels &&
                      static_cast<int64_t>(std_dev.size()) == channels,
                  "config keys data.mean ('", data.norm_mean, "') and data.std ('", data.norm_std,
                  "') need one value per channel: the images have ", channels);
      for (size_t c = 0; c < std_dev.size(); ++c) {
        FROST_CHECK(std_dev[c] > 0, "config key data.std: channel ", c, " has std ", std_dev[c],
                    "; every std must be > 0");
      }
      return;
  }
}

ImageOptions image_options(const Config& cfg, const data::DatasetInfo& info, bool training,
                           int64_t epoch) {
  ImageOptions o;
  if (info.input_kind != data::InputKind::kImage) {
    FROST_CHECK(cfg.data.augment == AugmentKind::kNone, "data.augment = ",
                to_string(cfg.data.augment), " needs image inputs, but the data holds ",
                data::input_kind_name(info.input_kind), " inputs; set data.augment = none");
    FROST_CHECK(cfg.data.image_size == 0, "data.image_size = ", cfg.data.image_size,
                " needs image inputs, but the data holds ", data::input_kind_name(info.input_kind),
                " inputs; set data.image_size = 0");
    FROST_CHECK(cfg.data.normalize == NormalizeKind::kDataset, "data.normalize = ",
                to_string(cfg.data.normalize), " needs image inputs, but the data holds ",
                data::input_kind_name(info.input_kind), " inputs; set data.normalize = dataset");
    return o;
  }
  FROST_CHECK(info.sample_shape.size() == 3, "image inputs must be [C, H, W] per sample");
  o.transform = image_transform(cfg.data, info.sample_shape, training, cfg.train.seed, epoch);
  image_normalisation(cfg.data, info.sample_shape[0], o.mean, o.std_dev);
  return o;
}

std::vector<int64_t> model_input_shape(const DataConfig& data,
                                       const std::vector<int64_t>& stored_shape) {
  if (stored_shape.size() != 3 || data.image_size == 0) return stored_shape;
  return {stored_shape[0], data.image_size, data.image_size};
}

std::string describe_images(const Config& cfg, const data::DatasetInfo& info,
                            const std::vector<double>& mean, const std::vector<double>& std_dev) {
  const auto& s = info.sample_shape;
  const std::vector<int64_t> out = model_input_shape(cfg.data, s);
  std::ostringstream os;
  os << "images " << s[0] << "x" << s[1] << "x" << s[2] << " -> " << out[0] << "x" << out[1]
     << "x" << out[2] << ", augment " << to_string(cfg.data.augment);
  if (crops(cfg.data.augment)) {
    const EvalGeometry g = eval_geometry(s[1], s[2], out[1], out[2], cfg.data.eval_crop_pct);
    os << " (training: random resized crop, scale " << cfg.data.crop_scale << ", ratio "
       << cfg.data.crop_ratio << "; evaluation: resize to "
       << std::min(g.resized_h, g.resized_w) << " (shorter side) + centre crop, eval_crop_pct " << cfg.data.eval_crop_pct << ")";
  }
  os << ", normalize " << to_string(cfg.data.normalize) << " (mean " << join(mean) << ", std "
     << join(std_dev) << ")";
  return os.str();
}

bool apply_normalisation_record(const std::string& run_dir, Config& cfg) {
  const std::string path = run_dir + "/" + kNormalisationRecord;
  if (!std::filesystem::is_regular_file(path)) return false;
  std::ifstream in(path);
  FROST_CHECK(in.good(), "cannot read ", path);
  std::vector<double> mean, std_dev;
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    mean = j.at("mean").get<std::vector<double>>();
    std_dev = j.at("std").get<std::vector<double>>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + " is not a normalisation record ({\"mean\": [...], \"std\": [...]}): " +
                e.what());
  }
  FROST_CHECK(!mean.empty() && mean.size() == std_dev.size(), path, ": ", mean.size(),
              " means and ", std_dev.size(), " stds");
  auto text = [](const std::vector<double>& v) {
    std::string out;
    char number[40];
    for (size_t i = 0; i < v.size(); ++i) {
      std::snprintf(number, sizeof number, "%.17g", v[i]);
      out += (i ? "," : "") + std::string(number);
    }
    return out;
  };
  cfg.data.normalize = NormalizeKind::kCustom;
  cfg.data.norm_mean = text(mean);
  cfg.data.norm_std = text(std_dev);
  return true;
}

}  // namespace frost::train
