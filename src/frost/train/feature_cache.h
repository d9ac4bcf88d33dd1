// Feature cache (train.feature_cache = memory | disk, head strategy only) and the one
// feature-extraction routine, which the cache and the evaluation's cached test features share.
//
// Note [Feature cache]
// With a frozen backbone and a deterministic input pipeline (data.augment is refused with a cache),
// a sample's features are the same in every epoch, so the backbone need run only once per
// sample. Each rank extracts the features of a disjoint contiguous range of the training set
// (the evaluation ranges: every sample exactly once), then one all-gather gives every rank all
// N x D features. Training then follows the usual sampler, so the data order, the batches and
// the results are those of the uncached run (up to float rounding from computing each feature
// in a different batch); the cost is one backbone forward per sample in total instead of one
// per sample per epoch, and N x D x 4 bytes of memory per rank.
//
// train.feature_cache = disk keeps the same features in files instead of RAM, for sets whose
// N x D x 4 bytes do not fit: extraction goes in rounds; in round k every rank extracts the
// k-th chunk of its range (chunk_rows rows, a multiple of data.eval_batch_size), the chunks are
// broadcast from their ranks one after another, and rank 0 (the only writer, invariant 7)
// writes each as a shard file log.dir/feature_cache/part-RRRRR-KKKKK.h5 (write_dataset: atomic).
// Every rank then opens the shards, in rank-then-round order, which is training-set row order,
// as one features dataset and trains from it with the usual sampler and BatchLoader, reading
// only its own batches. Memory per rank: one chunk. The features are computed exactly as in
// memory mode, so the two modes give bitwise the same training. The directory is rebuilt at
// the start of every run and removed at the end of a successful one.
//
// With a feature cache, the evaluation also computes the features of this rank's range of
// data.test once, at its first call, and scores the head alone afterwards.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "frost/train/config.h"
#include "frost/train/loader.h"

namespace frost::comm {
class Communicator;
}
namespace frost::data {
class H5Dataset;
}
namespace frost::models {
class BackboneImpl;
}

namespace frost::train {

/// The one feature-extraction routine: reads whole batches from `loader` until
/// features.size(0) rows are done, checks their float inputs (check_finite_inputs; errors
/// name `source`, e.g. "data.train FILE"), runs `backbone` on each batch in eval mode under
/// no-grad and copies the features [B, D] float32 into the next rows of `features`
/// [rows, D] and the labels into `labels` [rows] int64. The loader's batches must end on
/// row `rows` (whole batches); it may hold more for a later call. Puts `backbone` in eval
/// mode. The backbone runs on its own device (batches are moved there) in the compute dtype of
/// `precision` (autocast; the features are stored as float32). Not collective.
void extract_features(models::BackboneImpl& backbone, BatchLoader& loader,
                      const std::string& source, const at::Tensor& features,
                      const at::Tensor& labels, Precision precision = Precision::kFp32);

/// The backbone features of every training sample, in memory or in files (Note [Feature
/// cache]), built by the constructor on every rank.
class FeatureCache {
 public:
  /// Extracts the features of every row of `train_set` with `backbone` (frozen: the head
  /// strategy). Collective: every rank constructs it with the same arguments. `mode` is memory
  /// or disk (then the shard files go under cfg.log.dir/feature_cache). Rank 0 logs what was
  /// built. Throws frost::Error for bad inputs ("data.train FILE: sample I has a non-finite
  /// input ...") or unwritable/unreadable cache files ("feature cache: ...").
  FeatureCache(FeatureCacheMode mode, models::BackboneImpl& backbone,
               const data::H5Dataset& train_set, const Config& cfg, comm::Communicator& comm);
  ~FeatureCache();
  FeatureCache(const FeatureCache&) = delete;
  FeatureCache& operator=(const FeatureCache&) = delete;

  FeatureCacheMode mode() const { return mode_; }
  int64_t rows() const { return rows_; }  ///< N, the training set's rows
  int64_t dim() const { return dim_; }    ///< D, the backbone's feature width
  double extraction_s() const { return extraction_s_; }

  /// Memory mode: the batch of training rows `indices` (inputs = features [B, D] float32,
  /// labels [B] int64, no mask).
  Batch batch(const std::vector<int64_t>& indices) const;
  /// Disk mode: the features dataset (rows in training-set order), read like data.train.
  const data::H5Dataset& dataset() const;

  /// Disk mode: closes the shard files and rank 0 removes the directory. Collective; call
  /// after the run's last read. Memory mode: nothing.
  void remove_files();

 private:
  void build_in_memory(models::BackboneImpl& backbone, const data::H5Dataset& set);
  std::vector<std::string> build_on_disk(models::BackboneImpl& backbone,
                                         const data::H5Dataset& set);

  FeatureCacheMode mode_;
  const Config& cfg_;
  comm::Communicator& comm_;
  std::string dir_;  // disk: log.dir/feature_cache
  int64_t rows_ = 0, dim_ = 0;
  double extraction_s_ = 0.0;
  at::Tensor features_, labels_;              // memory: [N, D], [N], identical on every rank
  std::unique_ptr<data::H5Dataset> dataset_;  // disk: the shard files as one dataset
};

/// The training batches of one epoch, from data.train's files, the disk cache's files (both
/// through a BatchLoader, started by the constructor) or the memory cache, handed out on
/// `device`. A batch read from a file is checked by check_finite_inputs ("data.train FILE:
/// sample I ...") on the host, before it is copied.
///
/// Note [Copy stream]
/// On a CUDA device the loader fills pinned host memory (Note [Pinned batches] in loader.h) and
/// next(i) hands out batch i, whose copy was issued earlier on a copy stream (a side stream
/// from LibTorch's pool), and issues the copy of batch i+1 on that stream before returning; the
/// step of batch i is queued on the current (compute) stream meanwhile, so the copy of the next
/// batch overlaps the current step (after PyTorch's DataLoader pin_memory + a prefetching
/// stream, e.g. NVIDIA Apex's data_prefetcher). Ordering: the compute stream waits for an
/// event recorded after the copy (GPU side; the host does not block), and each copied tensor
/// is marked as used by the compute stream (record_stream), so the caching allocator does not
/// hand its memory to the copy stream again while the step may still read it. The memory
/// cache is already on the device: its batches are gathered there, with no copy. On the CPU
/// next(i) returns the host batch itself. Two timing events on the copy stream bracket each
/// batch's copy (and, for images, its normalisation there): Batch::copy_timer, the h2d_ms of
/// metrics.jsonl (Note [Step timing on a GPU] in device_stats.h).
class TrainBatches {
 public:
  /// `batches`: this rank's global row indices per step (TrainSampler::epoch_batches).
  /// `train_set`, `cache` (nullptr when train.feature_cache is off) and `cfg` must outlive it.
  /// `device`: where next() hands the batches out (the model's device). `epoch`: the epoch
  /// the batches belong to, which seeds data.augment's draws (Note [Image augmentation] in
  /// augment.h).
  TrainBatches(const data::H5Dataset& train_set, const FeatureCache* cache,
               std::vector<std::vector<int64_t>> batches, const Config& cfg,
               const c10::Device& device, int64_t epoch = 0);
  ~TrainBatches();

  /// Number of batches (the epoch's steps in this run).
  int64_t size() const { return steps_; }
  /// Batch `i` on the device, usable on the current stream; call with i = 0, 1, ...,
  /// size() - 1 in order, on one thread. Blocks while the loader reads (batch i+1 on a GPU).
  /// Throws what the loader throws (frost::Error naming the file) and check_finite_inputs'
  /// error.
  Batch next(int64_t i);

 private:
  Batch next_on_host(int64_t i);
  void stage(int64_t i);  // issues batch i's copy on the copy stream

  const FeatureCache* memory_;                 // the memory cache, or nullptr
  std::vector<std::vector<int64_t>> batches_;  // memory cache only
  std::unique_ptr<BatchLoader> loader_;        // otherwise
  std::string source_;
  int64_t steps_;
  c10::Device device_;
  struct Staging;                    // the copy stream and the batch in flight (CUDA only)
  std::unique_ptr<Staging> staging_;
};

}  // namespace frost::train
