#include "frost/data/loader.h"

#include <torch/torch.h>

#include <algorithm>
#include <utility>

#include "frost/core/error.h"
#include "frost/data/h5_dataset.h"

namespace frost::data {
namespace {

// 1 + the last column where some row of `mask` (uint8 [B, L], contiguous) is non-zero;
// at least 1 (Note [Dynamic padding] in loader.h).
int64_t padded_width(const torch::Tensor& mask) {
  const int64_t rows = mask.size(0), cols = mask.size(1);
  const uint8_t* m = mask.data_ptr<uint8_t>();
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

}  // namespace

BatchLoader::BatchLoader(const H5Dataset& dataset, std::vector<std::vector<int64_t>> batches,
                         int prefetch_batches)
    : dataset_(dataset),
      batches_(std::move(batches)),
      prefetch_batches_(static_cast<size_t>(std::max(prefetch_batches, 1))) {
  FROST_CHECK(prefetch_batches >= 1, "BatchLoader: prefetch_batches must be >= 1, got ",
              prefetch_batches);
  const DatasetInfo& info = dataset_.info();
  if (info.input_kind == InputKind::kImage) {
    const auto channels = static_cast<int64_t>(info.mean.size());
    FROST_ASSERT(channels == info.sample_shape.at(0) && info.std.size() == info.mean.size(),
                 "image dataset without one mean/std per channel");
    const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
    mean_ = torch::tensor(info.mean, f64).to(torch::kFloat32).view({1, channels, 1, 1});
    std_ = torch::tensor(info.std, f64).to(torch::kFloat32).view({1, channels, 1, 1});
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

Batch BatchLoader::load(const std::vector<int64_t>& indices) const {
  const DatasetInfo& info = dataset_.info();
  const auto b = static_cast<int64_t>(indices.size());
  std::vector<int64_t> shape{b};
  shape.insert(shape.end(), info.sample_shape.begin(), info.sample_shape.end());

  Batch batch;
  batch.indices = indices;
  batch.labels = torch::empty({b}, torch::kInt64);
  torch::Tensor raw;
  switch (info.input_kind) {
    case InputKind::kImage: raw = torch::empty(shape, torch::kUInt8); break;
    case InputKind::kFeatures: raw = torch::empty(shape, torch::kFloat32); break;
    case InputKind::kTokens: raw = torch::empty(shape, torch::kInt32); break;
  }
  if (info.has_attention_mask) batch.attention_mask = torch::empty(shape, torch::kUInt8);
  dataset_.read(indices, raw.data_ptr(), batch.labels.data_ptr<int64_t>(),
                info.has_attention_mask ? batch.attention_mask.data_ptr<uint8_t>() : nullptr);

  switch (info.input_kind) {
    case InputKind::kImage:
      batch.inputs = raw.to(torch::kFloat32).div_(255.0).sub_(mean_).div_(std_);
      break;
    case InputKind::kFeatures: batch.inputs = std::move(raw); break;
    case InputKind::kTokens:
      if (batch.attention_mask.defined()) {
        const int64_t width = padded_width(batch.attention_mask);
        if (width < raw.size(1)) {  // Note [Dynamic padding] in loader.h
          raw = raw.narrow(1, 0, width);
          batch.attention_mask = batch.attention_mask.narrow(1, 0, width).contiguous();
        }
      }
      batch.inputs = raw.to(torch::kInt64).contiguous();
      break;
  }
  return batch;
}

void BatchLoader::run() {
  try {
    for (const std::vector<int64_t>& indices : batches_) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || ready_.size() < prefetch_batches_; });
        if (stop_) return;
      }
      Batch batch = load(indices);  // outside the lock: the consumer keeps taking batches
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

}  // namespace frost::data
