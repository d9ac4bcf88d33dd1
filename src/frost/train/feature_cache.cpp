#include "frost/train/feature_cache.h"

#include "frost/train/augment.h"

#include <spdlog/spdlog.h>
#include <c10/core/Event.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "frost/comm/communicator.h"
#include "frost/core/error.h"
#include "frost/core/fs.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/sampler.h"
#include "frost/models/models.h"
#include "frost/train/augment.h"
#include "frost/train/device_stats.h"
#include "frost/train/placement.h"
#include "frost/train/precision.h"
#include "frost/train/step.h"

namespace frost::train {

void extract_features(models::BackboneImpl& backbone, BatchLoader& loader,
                      const std::string& source, const at::Tensor& features,
                      const at::Tensor& labels, Precision precision) {
  backbone.eval();
  torch::NoGradGuard no_grad;
  const int64_t rows = features.size(0);
  const c10::Device device = device_of(backbone);
  FROST_ASSERT(loader.device() == device, "feature extraction: the loader is for ", loader.device(),
               " but the backbone is on ", device);
  Batch batch;
  for (int64_t row = 0; row < rows;) {
    FROST_ASSERT(loader.next(batch), "feature extraction: the loader ended at row ", row, " of ",
                 rows);
    check_finite_inputs(batch, source);
    const int64_t b = batch.labels.size(0);
    const Batch on = loader.to_device(batch);
    const AutocastScope autocast(precision, device.type());
    features.narrow(0, row, b).copy_(
        on.token_type_ids.defined()
            ? backbone.forward_with_types(on.inputs, on.attention_mask, on.token_type_ids)
            : backbone.forward(on.inputs, on.attention_mask));
    labels.narrow(0, row, b).copy_(batch.labels);
    row += b;
  }
}

FeatureCache::FeatureCache(FeatureCacheMode mode, models::BackboneImpl& backbone,
                           const data::H5Dataset& train_set, const Config& cfg,
                           comm::Communicator& comm)
    : mode_(mode),
      cfg_(cfg),
      comm_(comm),
      dir_(cfg.log.dir + "/feature_cache"),
      rows_(train_set.size()),
      dim_(backbone.feature_dim()) {
  FROST_ASSERT(mode == FeatureCacheMode::kMemory || mode == FeatureCacheMode::kDisk,
               "FeatureCache built with train.feature_cache = ", to_string(mode));
  const auto t0 = std::chrono::steady_clock::now();
  if (mode == FeatureCacheMode::kMemory) {
    build_in_memory(backbone, train_set);
    extraction_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (comm.rank() == 0) {
      spdlog::info("feature cache: {} x {} backbone features ({:.1f} MB per rank) in {:.1f} s",
                   features_.size(0), features_.size(1), features_.numel() * 4 / 1e6,
                   extraction_s_);
    }
  } else {
    const auto parts = build_on_disk(backbone, train_set);
    dataset_ = std::make_unique<data::H5Dataset>(
        with_error_context("feature cache", [&] { return data::H5Dataset::open(parts); }));
    extraction_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (comm.rank() == 0) {
      spdlog::info(
          "feature cache: {} x {} backbone features in {} file(s) under {} ({:.1f} MB) in {:.1f} s",
          dataset_->size(), dim_, parts.size(), dir_, dataset_->size() * dim_ * 4 / 1e6,
          extraction_s_);
    }
  }
}

FeatureCache::~FeatureCache() = default;

Batch FeatureCache::batch(const std::vector<int64_t>& indices) const {
  FROST_ASSERT(features_.defined(), "FeatureCache::batch needs train.feature_cache = memory");
  Batch b;
  b.indices = indices;
  auto idx = torch::tensor(b.indices, torch::kLong);
  if (features_.is_cuda()) idx = idx.pin_memory().to(features_.device(), /*non_blocking=*/true);
  b.inputs = features_.index_select(0, idx);
  b.labels = labels_.index_select(0, idx);
  return b;
}

const data::H5Dataset& FeatureCache::dataset() const {
  FROST_ASSERT(dataset_ != nullptr, "FeatureCache::dataset needs train.feature_cache = disk");
  return *dataset_;
}

void FeatureCache::remove_files() {
  if (mode_ != FeatureCacheMode::kDisk) return;
  dataset_.reset();  // close the files before they go
  comm_.barrier();
  if (comm_.rank() == 0) frost::fs::remove_tree(dir_);
}

// Memory mode: this rank's range, then one all-gather of every range (padded to the longest).
void FeatureCache::build_in_memory(models::BackboneImpl& backbone, const data::H5Dataset& set) {
  const int world = comm_.world_size(), rank = comm_.rank();
  const int64_t n = rows_, d = dim_;
  data::EvalSampler sampler(n, world, rank, cfg_.data.eval_batch_size);
  int64_t max_rows = 0;
  for (int r = 0; r < world; ++r)
    max_rows = std::max(max_rows, data::EvalSampler(n, world, r, 1).size());
  auto mine = torch::zeros({max_rows, d});
  auto my_labels = torch::zeros({max_rows}, torch::kLong);
  {
    BatchLoader loader(set, sampler.batches(), static_cast<int>(cfg_.data.prefetch),
                       device_of(backbone), image_options(cfg_, set.info(), /*training=*/false));
    extract_features(backbone, loader, "data.train " + cfg_.data.train,
                     mine.narrow(0, 0, sampler.size()), my_labels.narrow(0, 0, sampler.size()),
                     cfg_.train.precision);
  }
  auto all = torch::empty({world * max_rows, d});
  auto all_labels = torch::empty({world * max_rows}, torch::kLong);
  comm_.all_gather(mine.reshape({-1}), all.view({-1}));
  comm_.all_gather(my_labels, all_labels);
  features_ = torch::empty({n, d});
  labels_ = torch::empty({n}, torch::kLong);
  for (int r = 0; r < world; ++r) {
    data::EvalSampler range(n, world, r, 1);
    features_.narrow(0, range.begin(), range.size())
        .copy_(all.narrow(0, r * max_rows, range.size()));
    labels_.narrow(0, range.begin(), range.size())
        .copy_(all_labels.narrow(0, r * max_rows, range.size()));
  }
  // On the backbone's device from here on (a GPU: batches are gathered there, no copies).
  const c10::Device device = device_of(backbone);
  features_ = features_.to(device);
  labels_ = labels_.to(device);
}

// Disk mode: rounds of chunks, broadcast from their ranks and written by rank 0; returns the
// shard paths in training-set row order.
std::vector<std::string> FeatureCache::build_on_disk(models::BackboneImpl& backbone,
                                                     const data::H5Dataset& set) {
  const int world = comm_.world_size(), rank = comm_.rank();
  const int64_t n = rows_, d = dim_;
  // About 64 MiB of float32 features per chunk (FROST_FEATURE_CACHE_CHUNK_ROWS overrides the
  // row count), in whole evaluation batches.
  const int64_t eb = cfg_.data.eval_batch_size;
  int64_t target_rows = (64LL << 20) / (4 * d);
  if (const char* env = std::getenv("FROST_FEATURE_CACHE_CHUNK_ROWS")) {
    char* end = nullptr;
    const long long v = std::strtoll(env, &end, 10);
    FROST_CHECK(end != env && *end == '\0' && v >= 1,
                "FROST_FEATURE_CACHE_CHUNK_ROWS must be a positive integer, got '", env, "'");
    target_rows = v;
  }
  const int64_t chunk_rows = std::max<int64_t>(1, target_rows / eb) * eb;
  std::vector<data::EvalSampler> ranges;
  int64_t rounds = 0;
  for (int r = 0; r < world; ++r) {
    ranges.emplace_back(n, world, r, eb);
    rounds = std::max(rounds, (ranges.back().size() + chunk_rows - 1) / chunk_rows);
  }
  if (rank == 0) {
    frost::fs::remove_tree(dir_);
    fs::create_directories(dir_);
  }
  comm_.barrier();
  BatchLoader loader(set, ranges[rank].batches(), static_cast<int>(cfg_.data.prefetch),
                     device_of(backbone), image_options(cfg_, set.info(), /*training=*/false));
  data::DatasetInfo info;
  info.sample_shape = {d};
  info.input_kind = data::InputKind::kFeatures;
  info.num_classes = set.info().num_classes;
  info.task = set.info().task;
  std::vector<std::string> parts(static_cast<size_t>(world * rounds));
  for (int64_t k = 0; k < rounds; ++k) {
    const int64_t my_rows =
        std::clamp<int64_t>(ranges[rank].size() - k * chunk_rows, 0, chunk_rows);
    auto mine = torch::empty({my_rows, d});
    auto my_labels = torch::empty({my_rows}, torch::kLong);
    extract_features(backbone, loader, "data.train " + cfg_.data.train, mine, my_labels,
                     cfg_.train.precision);
    for (int r = 0; r < world; ++r) {
      const int64_t rows = std::clamp<int64_t>(ranges[r].size() - k * chunk_rows, 0, chunk_rows);
      if (rows == 0) continue;
      auto features = r == rank ? mine : torch::empty({rows, d});
      auto labels = r == rank ? my_labels : torch::empty({rows}, torch::kLong);
      comm_.broadcast(features, r);
      comm_.broadcast(labels, r);
      char name[64];
      std::snprintf(name, sizeof name, "/part-%05d-%05lld.h5", r, static_cast<long long>(k));
      parts[static_cast<size_t>(r * rounds + k)] = dir_ + name;
      if (rank == 0) {
        info.num_samples = rows;
        data::write_dataset(dir_ + name, info, features.contiguous().data_ptr<float>(),
                            labels.contiguous().data_ptr<int64_t>());
      }
    }
  }
  comm_.barrier();  // rank 0 has written every part
  std::vector<std::string> ordered;
  for (auto& p : parts) {
    if (!p.empty()) ordered.push_back(p);
  }
  return ordered;
}

struct TrainBatches::Staging {
  c10::impl::VirtualGuardImpl guard;
  c10::Stream copy_stream;
  std::optional<Batch> in_flight;  // the staged batch, its copies queued on copy_stream
  int64_t index = -1;              // which batch
  c10::Event copied;               // recorded on copy_stream after in_flight's copies

  explicit Staging(const c10::Device& device)
      : guard(device.type()),
        copy_stream(guard.getStreamFromGlobalPool(device, /*isHighPriority=*/false)),
        copied(device.type()) {}
};

TrainBatches::TrainBatches(const data::H5Dataset& train_set, const FeatureCache* cache,
                           std::vector<std::vector<int64_t>> batches, const Config& cfg,
                           const c10::Device& device, int64_t epoch)
    : memory_(cache != nullptr && cache->mode() == FeatureCacheMode::kMemory ? cache : nullptr),
      source_("data.train " + cfg.data.train),
      steps_(static_cast<int64_t>(batches.size())),
      device_(device) {
  if (memory_ != nullptr) {
    batches_ = std::move(batches);
  } else {
    const bool disk = cache != nullptr && cache->mode() == FeatureCacheMode::kDisk;
    const bool gpu = device.is_cuda();
    // Note [Image augmentation] in augment.h: the training transform of this epoch (the disk
    // cache holds features, which have no image options).
    const data::H5Dataset& set = disk ? cache->dataset() : train_set;
    loader_ = std::make_unique<BatchLoader>(set, std::move(batches),
                                            static_cast<int>(cfg.data.prefetch), device,
                                            disk ? ImageOptions{}
                                                 : image_options(cfg, set.info(), true, epoch));
    if (gpu) staging_ = std::make_unique<Staging>(device);
  }
}

TrainBatches::~TrainBatches() = default;

Batch TrainBatches::next_on_host(int64_t i) {
  Batch batch;
  FROST_ASSERT(loader_->next(batch), "loader ended early at step ", i, " of ", steps_);
  check_finite_inputs(batch, source_);
  return batch;
}

// Note [Copy stream] in feature_cache.h.
void TrainBatches::stage(int64_t i) {
  Batch host = next_on_host(i);
  const c10::StreamGuard on_copy_stream(staging_->copy_stream);
  // h2d_ms (Note [Step timing on a GPU] in device_stats.h): the copy's time on the copy stream.
  auto timer = std::make_shared<DeviceTimer>(device_);
  timer->start(staging_->copy_stream);
  staging_->in_flight = loader_->to_device(host);  // non_blocking from pinned memory
  timer->stop(staging_->copy_stream);
  staging_->in_flight->copy_timer = std::move(timer);
  staging_->copied.record(staging_->copy_stream);
  staging_->index = i;
}

Batch TrainBatches::next(int64_t i) {
  if (memory_ != nullptr) return memory_->batch(batches_[static_cast<size_t>(i)]);
  if (!staging_) return loader_->to_device(next_on_host(i));
  if (staging_->index != i) stage(i);  // the first batch (nothing staged yet)
  Batch batch = std::move(*staging_->in_flight);
  staging_->in_flight.reset();
  staging_->index = -1;
  const c10::Stream compute = staging_->guard.getStream(device_);
  staging_->copied.block(compute);
  for (const at::Tensor* t :
       {&batch.inputs, &batch.labels, &batch.targets, &batch.attention_mask,
        &batch.token_type_ids}) {
    if (t->defined()) t->record_stream(compute);
  }
  if (i + 1 < steps_) stage(i + 1);
  return batch;
}

}  // namespace frost::train
