#include "frost/train/loader.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "frost/core/blas_threads.h"
#include "frost/core/error.h"
#include "frost/data/h5_dataset.h"

namespace frost::train {
namespace {

// 1 + the last column where some row of `m` (uint8 [rows, cols], row-major) is non-zero;
// at least 1 (Note [Dynamic padding] in loader.h).
// 1 + the last column with a non-zero mask of each row (at least 1): Batch::row_widths.
std::vector<int64_t> row_widths(const uint8_t* m, int64_t rows, int64_t cols) {
  std::vector<int64_t> widths(static_cast<size_t>(rows), std::min<int64_t>(1, cols));
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* row = m + r * cols;
    for (int64_t c = cols - 1; c >= 1; --c) {
      if (row[c] != 0) {
        widths[static_cast<size_t>(r)] = c + 1;
        break;
      }
    }
  }
  return widths;
}

int64_t padded_width(const uint8_t* m, int64_t rows, int64_t cols) {
  int64_t width = std::min<int64_t>(1, cols);
  for (int64_t r = 0; r < rows && width < cols; ++r) {
    const uint8_t* row = m + r * cols;
    for (int64_t c = cols - 1; c >= width; --c) {
      if (row[c] != 0) {
        width = c + 1;
        break;
      }
    }
  }
  return width;
}

// dst[k] = table[src[k]] for k < n (Note [Image normalisation table] in loader.h). Eight loads
// into named locals, then eight stores: a plain loop waits for each store before the next load
// (the compiler must assume dst may alias table), and a local array is spilled to the stack and
// reloaded 16 bytes at a time, which stalls on store forwarding; this form runs 2-3x faster.
void normalise_pixels(const uint8_t* __restrict src, float* __restrict dst,
                      const float* __restrict table, int64_t n) {
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    const float v0 = table[src[k]], v1 = table[src[k + 1]], v2 = table[src[k + 2]],
                v3 = table[src[k + 3]], v4 = table[src[k + 4]], v5 = table[src[k + 5]],
                v6 = table[src[k + 6]], v7 = table[src[k + 7]];
    dst[k] = v0;
    dst[k + 1] = v1;
    dst[k + 2] = v2;
    dst[k + 3] = v3;
    dst[k + 4] = v4;
    dst[k + 5] = v5;
    dst[k + 6] = v6;
    dst[k + 7] = v7;
  }
  for (; k < n; ++k) dst[k] = table[src[k]];
}

}  // namespace

namespace {
// The normalisation of uint8 images, [..., C, ...] with mean/std float32 [1, C, 1, 1]: one
// definition for the CPU table and the GPU path (Note [Images normalised on the device]).
at::Tensor normalise_images(const at::Tensor& pixels, const at::Tensor& mean,
                            const at::Tensor& std) {
  return pixels.to(torch::kFloat32).div_(255.0).sub_(mean).div_(std);
}
}  // namespace

BatchLoader::BatchLoader(const data::H5Dataset& dataset, std::vector<std::vector<int64_t>> batches,
                         int prefetch_batches, c10::Device device, ImageOptions images)
    : dataset_(dataset),
      batches_(std::move(batches)),
      prefetch_batches_(static_cast<size_t>(std::max(prefetch_batches, 1))),
      device_(device),
      pin_memory_(device.is_cuda()),
      raw_images_(device.is_cuda() && dataset.info().input_kind == data::InputKind::kImage),
      images_(std::move(images)) {
  FROST_CHECK(prefetch_batches >= 1, "BatchLoader: prefetch_batches must be >= 1, got ",
              prefetch_batches);
  const data::DatasetInfo& info = dataset_.info();
  if (info.input_kind == data::InputKind::kImage) {
    const auto channels = static_cast<int64_t>(info.mean.size());
    FROST_ASSERT(channels == info.sample_shape.at(0) && info.std.size() == info.mean.size(),
                 "image dataset without one mean/std per channel");
    // data.normalize: the dataset's attributes unless the options give other values.
    if (images_.mean.empty()) {
      images_.mean = info.mean;
      images_.std_dev = info.std;
    }
    FROST_CHECK(static_cast<int64_t>(images_.mean.size()) == channels &&
                    images_.std_dev.size() == images_.mean.size(),
                "BatchLoader: ", images_.mean.size(), " means and ", images_.std_dev.size(),
                " stds for images of ", channels, " channels");
    if (images_.transform.kind == ImageTransform::Kind::kIdentity) {
      images_.transform.out_h = info.sample_shape.at(1);
      images_.transform.out_w = info.sample_shape.at(2);
    }
    FROST_CHECK(images_.transform.out_h >= 1 && images_.transform.out_w >= 1,
                "BatchLoader: image transform without an output size");
    const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
    const torch::Tensor mean =
        torch::tensor(images_.mean, f64).to(torch::kFloat32).view({1, channels, 1, 1});
    const torch::Tensor std =
        torch::tensor(images_.std_dev, f64).to(torch::kFloat32).view({1, channels, 1, 1});
    if (raw_images_) {
      mean_ = mean.to(device_);
      std_ = std.to(device_);
    } else {
      // Note [Image normalisation table]: every pixel value of every channel through the same
      // tensor operations, in the same order, as normalising the batch itself would take.
      const torch::Tensor values = torch::arange(256, torch::kInt32)
                                       .to(torch::kUInt8)
                                       .view({1, 1, 256, 1})
                                       .expand({1, channels, 256, 1});
      const torch::Tensor table = normalise_images(values, mean, std).contiguous();
      normalise_table_.assign(table.data_ptr<float>(), table.data_ptr<float>() + table.numel());
    }
  }
  if (dataset_.releases_blocks()) {  // Note [Releasing decoded blocks] in loader.h
    const std::vector<int64_t> ends = dataset_.block_ends();
    std::vector<int64_t> last(ends.size(), -1);
    for (size_t i = 0; i < batches_.size(); ++i)
      for (const int64_t row : batches_[i]) {
        const auto b = std::upper_bound(ends.begin(), ends.end(), row) - ends.begin();
        if (static_cast<size_t>(b) < ends.size()) last[static_cast<size_t>(b)] = static_cast<int64_t>(i);
      }
    release_after_.resize(batches_.size());
    for (size_t b = 0; b < ends.size(); ++b)
      if (last[b] >= 0)
        release_after_[static_cast<size_t>(last[b])].push_back(b == 0 ? 0 : ends[b - 1]);
  }
  thread_ = std::thread([this] { run(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Batch BatchLoader::load(const std::vector<int64_t>& indices) {
  const data::DatasetInfo& info = dataset_.info();
  const auto b = static_cast<int64_t>(indices.size());
  const int64_t row_numel = info.sample_numel();
  std::vector<int64_t> shape{b};
  shape.insert(shape.end(), info.sample_shape.begin(), info.sample_shape.end());

  // Note [Pinned batches]: page-locked host memory when the batch goes to a GPU.
  const auto on_host = [this](c10::ScalarType dtype) {
    return torch::TensorOptions().dtype(dtype).pinned_memory(pin_memory_);
  };
  Batch batch;
  batch.indices = indices;
  // Classification: labels, read with the rows; the other tasks: targets from memory.
  int64_t* labels = nullptr;
  if (info.num_targets == 0) {
    batch.labels = torch::empty({b}, on_host(torch::kInt64));
    labels = batch.labels.data_ptr<int64_t>();
  } else {
    batch.targets = torch::empty({b, info.num_targets}, on_host(torch::kFloat32));
    dataset_.read_targets(indices, batch.targets.data_ptr<float>());
  }
  if (info.has_attention_mask) mask_rows_.resize(static_cast<size_t>(b * row_numel));
  uint8_t* mask = info.has_attention_mask ? mask_rows_.data() : nullptr;
  if (info.has_token_type_ids) type_rows_.resize(static_cast<size_t>(b * row_numel));
  uint8_t* types = info.has_token_type_ids ? type_rows_.data() : nullptr;
  switch (info.input_kind) {
    case data::InputKind::kFeatures: {  // float32 as stored: straight into the batch tensor
      batch.inputs = torch::empty(shape, on_host(torch::kFloat32));
      dataset_.read(indices, batch.inputs.data_ptr(), labels, mask);
      break;
    }
    case data::InputKind::kImage: {
      const ImageTransform& t = images_.transform;
      const int64_t channels = info.sample_shape[0];
      const int64_t out_numel = channels * t.out_h * t.out_w;
      const std::vector<int64_t> out_shape{b, channels, t.out_h, t.out_w};
      const uint8_t* src = nullptr;  // the batch's uint8 pixels, [b, C, out_h, out_w]
      if (t.identity()) {
        if (raw_images_) {  // Note [Images normalised on the device]: the pixels as stored
          batch.inputs = torch::empty(shape, on_host(torch::kUInt8));
          dataset_.read(indices, batch.inputs.data_ptr(), labels, mask);
          break;
        }
        input_rows_.resize(static_cast<size_t>(b * row_numel));
        dataset_.read(indices, input_rows_.data(), labels, mask);
        src = input_rows_.data();
      } else {
        // Note [Image augmentation] in augment.h: each sample from its own generator, on the
        // uint8 pixels, before the normalisation (of either path).
        input_rows_.resize(static_cast<size_t>(b * row_numel));
        dataset_.read(indices, input_rows_.data(), labels, mask);
        uint8_t* dst = nullptr;
        if (raw_images_) {
          batch.inputs = torch::empty(out_shape, on_host(torch::kUInt8));
          dst = batch.inputs.data_ptr<uint8_t>();
        } else {
          transformed_rows_.resize(static_cast<size_t>(b * out_numel));
          dst = transformed_rows_.data();
        }
        // One sample at a time on this thread, with no OpenMP team of its own (Note [One
        // OpenMP thread on the loader thread] in loader.h).
        for (int64_t r = 0; r < b; ++r) {
          const torch::Tensor image = torch::from_blob(input_rows_.data() + r * row_numel,
                                                       info.sample_shape, torch::kUInt8);
          const torch::Tensor out = transform_image(image, t, indices[static_cast<size_t>(r)]);
          FROST_ASSERT(out.is_contiguous() && out.numel() == out_numel,
                       "transformed image of shape ", out.sizes());
          std::memcpy(dst + r * out_numel, out.data_ptr<uint8_t>(),
                      static_cast<size_t>(out_numel));
        }
        if (raw_images_) break;
        src = transformed_rows_.data();
      }
      batch.inputs = torch::empty(out_shape, on_host(torch::kFloat32));
      // Note [Image normalisation table]
      const int64_t plane = t.out_h * t.out_w;
      float* dst = batch.inputs.data_ptr<float>();
      for (int64_t r = 0; r < b; ++r)
        for (int64_t c = 0; c < channels; ++c) {
          normalise_pixels(src, dst, normalise_table_.data() + c * 256, plane);
          src += plane;
          dst += plane;
        }
      break;
    }
    case data::InputKind::kTokens: {
      input_rows_.resize(static_cast<size_t>(b * row_numel) * sizeof(int32_t));
      dataset_.read(indices, input_rows_.data(), labels, mask, types);
      const int64_t length = row_numel;
      // Note [Dynamic padding] in loader.h
      const int64_t width = mask != nullptr ? padded_width(mask, b, length) : length;
      batch.inputs = torch::empty({b, width}, on_host(torch::kInt64));
      const auto* ids = reinterpret_cast<const int32_t*>(input_rows_.data());
      int64_t* out = batch.inputs.data_ptr<int64_t>();
      for (int64_t r = 0; r < b; ++r)
        for (int64_t k = 0; k < width; ++k) out[r * width + k] = ids[r * length + k];
      if (mask != nullptr) {
        batch.attention_mask = torch::empty({b, width}, on_host(torch::kUInt8));
        batch.row_widths = row_widths(mask, b, length);
        uint8_t* m = batch.attention_mask.data_ptr<uint8_t>();
        for (int64_t r = 0; r < b; ++r)
          std::memcpy(m + r * width, mask + r * length, static_cast<size_t>(width));
      }
      if (types != nullptr) {
        batch.token_type_ids = torch::empty({b, width}, on_host(torch::kUInt8));
        uint8_t* t = batch.token_type_ids.data_ptr<uint8_t>();
        for (int64_t r = 0; r < b; ++r)
          std::memcpy(t + r * width, types + r * length, static_cast<size_t>(width));
      }
      break;
    }
  }
  return batch;
}

void BatchLoader::run() {
  try {
    // Note [One OpenMP thread on the loader thread] in loader.h.
    (void)at::get_num_threads();
    set_openmp_threads_of_this_thread(1);
    for (size_t i = 0; i < batches_.size(); ++i) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || ready_.size() < prefetch_batches_; });
        if (stop_) return;
      }
      Batch batch = load(batches_[i]);  // outside the lock: the consumer keeps taking batches
      if (!release_after_.empty()) dataset_.release_blocks(release_after_[i]);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stop_) return;
        ready_.push_back(std::move(batch));
      }
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
  }
  cv_.notify_all();
}

bool BatchLoader::next(Batch& out) {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return !ready_.empty() || finished_; });
  if (!ready_.empty()) {
    out = std::move(ready_.front());
    ready_.pop_front();
    lock.unlock();
    cv_.notify_all();  // room in the queue for the background thread
    return true;
  }
  if (error_) std::rethrow_exception(error_);
  return false;
}

Batch BatchLoader::to_device(const Batch& host) const {
  if (!device_.is_cuda()) return host;
  Batch out = host.to(device_);
  if (raw_images_) out.inputs = normalise_images(out.inputs, mean_, std_);
  return out;
}

Batch Batch::to(const c10::Device& device) const {
  Batch out;
  auto move = [&](const at::Tensor& t) {
    return t.defined() ? t.to(device, /*non_blocking=*/true) : t;
  };
  out.inputs = move(inputs);
  out.labels = move(labels);
  out.targets = move(targets);
  out.attention_mask = move(attention_mask);
  out.token_type_ids = move(token_type_ids);
  out.indices = indices;
  out.row_widths = row_widths;
  return out;
}

}  // namespace frost::train
