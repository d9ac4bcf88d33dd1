// Image augmentation and normalisation: what the BatchLoader does to the uint8 pixels of an
// image dataset before (or, for a GPU, instead of) normalising them.
//
// Note [Image augmentation]
// -------------------------
// data.augment switches two parts on or off: crop (none | flip | crop | crop_flip).
// * crop, training: torchvision's RandomResizedCrop (torchvision/transforms/transforms.py,
//   RandomResizedCrop.get_params): up to 10 attempts draw an area fraction s uniformly from
//   data.crop_scale and an aspect ratio r = w / h log-uniformly from data.crop_ratio, and take
//   w = round(sqrt(s * H * W * r)), h = round(sqrt(s * H * W / r)) (round half to even, as
//   Python's round); the first that fits the image gets a uniformly drawn position. When none
//   fits, the fallback is torchvision's centre crop: the whole image if its ratio lies in
//   crop_ratio, else the largest centred box of the nearest allowed ratio. The crop is resized
//   to data.image_size x data.image_size.
// * crop, evaluation: torchvision's reference-script eval transform (Resize + CenterCrop; timm's
//   crop_pct): the shorter side resized to round(image_size / data.eval_crop_pct), the longer
//   side in proportion (truncated, as torchvision's Resize(int)), then the centred
//   image_size x image_size square (offset round((side - image_size) / 2), half to even, as
//   torchvision's center_crop).
// * flip, training: horizontal flip with p = 0.5 (RandomHorizontalFlip), after the crop.
// * Without crop, training and evaluation see the whole stored image, resized to
//   data.image_size x data.image_size when that differs from the stored size, else the stored
//   pixels bit for bit (data.augment = none with data.image_size = 0 is exactly Frost before
//   augmentation). Evaluation is never flipped.
// Resizing is LibTorch's interpolate (bilinear, align_corners = false, antialias = true, as
// torchvision's tensor Resize) on float32, rounded back to uint8 (torchvision rounds and casts
// uint8 the same way), so the normalisation table and the GPU path (Notes [Image normalisation
// table], [Images normalised on the device] in loader.h) see uint8 as before.
//
// Randomness: every random draw of sample i in epoch e comes from its own generator, a
// SplitMix64 stream (Steele, Lea & Flood 2014) whose state is a hash of (train.seed, e, i)
// (sample_rng), not from a generator shared along the loader's order. A sample's crop and flip
// therefore depend on (seed, epoch, global index) alone: not on the world size, the batch it
// falls in, the loader thread, data.prefetch or where a resumed run starts, so resuming stays
// bitwise and N ranks see the same augmented images as 1 rank (DESIGN invariant 4). The draws
// are exact functions of the 64-bit stream (no std:: distributions, whose output differs between
// standard libraries). torchvision draws from torch's global generator instead, so the crops
// are torchvision's in distribution, not value for value.
//
// Cost: the transform runs per sample on the loader's background thread, with LibTorch tensor
// operations on one image at a time, on one OpenMP thread (Note [One OpenMP thread on the loader
// thread] in loader.h). Measured with frost-bench loader --augment, one simulated rank, on a
// 2-core machine with a build running: Fashion-MNIST 28x28 grey, 45,000 samples/s with
// crop_flip, 760,000 with flip, 3.0 M without; synthetic 3x112x112 to 96, 5,900 samples/s with
// crop_flip (5,100 for the plain resize). The float32 antialiased resize dominates; LibTorch's
// uint8 kernel is about 2.5x faster in a PyTorch measurement but rounds differently.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "frost/train/config.h"

namespace frost::data {
struct DatasetInfo;
}  // namespace frost::data

namespace frost::train {

/// A counter-based generator for the random draws of one sample (Note [Image augmentation]).
class SampleRng {
 public:
  /// The stream of sample `index` in `epoch` of a run seeded `seed`: the same three numbers
  /// give the same stream on every rank, thread and run.
  SampleRng(uint64_t seed, int64_t epoch, int64_t index);
  /// The next 64 random bits (SplitMix64).
  uint64_t next();
  /// Uniform in [lo, hi) from the top 53 bits (lo when lo == hi).
  double uniform(double lo, double hi);
  /// Uniform integer in [0, bound) for bound >= 1 (rejection as TrainSampler's uniform_below,
  /// so exactly uniform).
  int64_t below(int64_t bound);

 private:
  uint64_t state_;
};

/// A crop box of an H x W image: rows [top, top + height), columns [left, left + width).
struct CropBox {
  int64_t top = 0, left = 0, height = 0, width = 0;
  bool operator==(const CropBox& o) const {
    return top == o.top && left == o.left && height == o.height && width == o.width;
  }
};

/// torchvision's RandomResizedCrop.get_params for an H x W image (Note [Image augmentation]):
/// scale = [scale_min, scale_max] fraction of the area, ratio = [ratio_min, ratio_max] of
/// width / height (log-uniform). Always a box inside the image with height, width >= 1.
/// `fell_back` (optional) is set when all 10 attempts failed and the centre crop was taken.
CropBox random_resized_crop_box(int64_t height, int64_t width, double scale_min,
                                double scale_max, double ratio_min, double ratio_max,
                                SampleRng& rng, bool* fell_back = nullptr);

/// The evaluation transform's geometry for an H x W image and an out_h x out_w result:
/// `resized` {h, w} of the Resize step and the centre `crop` of that resized image.
struct EvalGeometry {
  int64_t resized_h = 0, resized_w = 0;
  CropBox crop;
};
EvalGeometry eval_geometry(int64_t height, int64_t width, int64_t out_h, int64_t out_w,
                           double crop_pct);

/// What the loader does to each image of one loader's batches.
struct ImageTransform {
  enum class Kind {
    kIdentity,    ///< the stored pixels
    kResize,      ///< the whole image resized to out_h x out_w
    kRandomCrop,  ///< training crop (RandomResizedCrop) resized to out_h x out_w
    kCentreCrop,  ///< evaluation resize + centre crop
  };
  Kind kind = Kind::kIdentity;
  bool flip = false;  ///< horizontal flip with p = 0.5 (training)
  int64_t out_h = 0, out_w = 0;  ///< result size (kIdentity: the stored size)
  double scale_min = 0.08, scale_max = 1.0;
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
  double crop_pct = 0.875;
  uint64_t seed = 0;   ///< train.seed
  int64_t epoch = 0;   ///< the epoch the batches belong to (training)

  /// True when the stored pixels pass unchanged (no resize, no crop, no flip).
  bool identity() const { return kind == Kind::kIdentity && !flip; }
};

/// How the loader turns the uint8 pixels of an image dataset into model inputs: `transform`,
/// then (x / 255 - mean[c]) / std[c] (Note [Image normalisation table] in loader.h).
struct ImageOptions {
  ImageTransform transform;
  /// One per channel, in [0, 1] pixel units; empty: the mean/std attributes of the dataset the
  /// loader reads (data.normalize = dataset).
  std::vector<double> mean, std_dev;
};

/// The transform of data.augment / data.image_size (Note [Image augmentation]) for images of
/// `stored_shape` [C, H, W]: `training` selects the random training transform (seeded by
/// `seed` and `epoch`) or the evaluation one.
ImageTransform image_transform(const DataConfig& data, const std::vector<int64_t>& stored_shape,
                               bool training, int64_t seed, int64_t epoch);

/// The mean/std of data.normalize for images of `channels` channels: dataset -> empty (the
/// file's attributes), imagenet -> torchvision's ImageNet statistics (needs 3 channels), custom
/// -> data.mean / data.std (one per channel). Throws frost::Error naming the key otherwise.
void image_normalisation(const DataConfig& data, int64_t channels, std::vector<double>& mean,
                         std::vector<double>& std_dev);

/// The ImageOptions of a loader over `info` for run `cfg` (training: in `epoch`). Checks that
/// the image keys fit the data (data.augment, data.image_size or a non-default data.normalize
/// with non-image inputs is refused); throws frost::Error naming the key.
ImageOptions image_options(const Config& cfg, const data::DatasetInfo& info, bool training,
                           int64_t epoch = 0);

/// The sample shape [C, H, W] the model gets from images stored as `stored_shape` under `data`
/// (data.image_size), or `stored_shape` itself for other inputs.
std::vector<int64_t> model_input_shape(const DataConfig& data,
                                       const std::vector<int64_t>& stored_shape);

/// A one-line description of the image pipeline of `cfg` for the start-up log, e.g.
/// "images 1x28x28 -> 1x28x28, augment crop_flip (scale 0.08,1, ratio ...), normalize dataset
/// (mean 0.286, std 0.353)"; `mean`/`std_dev` are the values in use.
std::string describe_images(const Config& cfg, const data::DatasetInfo& info,
                            const std::vector<double>& mean,
                            const std::vector<double>& std_dev);

/// Note [Normalisation record]
/// Rank 0 of frost-train writes the mean/std its image loaders use (the training file's
/// attributes for data.normalize = dataset) to log.dir/normalization.json:
/// {"normalize": "dataset", "mean": [...], "std": [...]}. frost-predict reads it
/// (apply_normalisation_record), so it normalises as the run did even when the file it predicts
/// carries other mean/std attributes; its evaluation transform comes from config.ini.
constexpr const char* kNormalisationRecord = "normalization.json";

/// If `run_dir`/normalization.json exists: sets cfg.data.normalize = custom with its mean/std
/// (printed to 17 significant digits, so they read back exactly) and returns true; else leaves
/// `cfg` and returns false (a run of a Frost without the record, or non-image data). Throws
/// frost::Error naming the file when it is not such a record.
bool apply_normalisation_record(const std::string& run_dir, Config& cfg);

/// `image` (uint8 [C, H, W], contiguous) after `t` for global sample `index`: uint8
/// [C, out_h, out_w]. Not thread-bound; no state. The identity returns `image` itself.
at::Tensor transform_image(const at::Tensor& image, const ImageTransform& t, int64_t index);

/// `image` (uint8 [C, H, W]) resized to h x w: interpolate(bilinear, align_corners = false,
/// antialias = true) in float32, rounded to uint8 (torchvision's tensor Resize).
at::Tensor resize_image(const at::Tensor& image, int64_t h, int64_t w);

}  // namespace frost::train
