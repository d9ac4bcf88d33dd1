// Prefetching batch loader: reads batches of an H5Dataset on a background thread and turns
// them into tensors, so that disk reads overlap with compute.
//
// Thread contract
// ---------------
// * One consumer thread calls next() (and destroys the loader); BatchLoader is not safe for
//   concurrent next() calls from several threads.
// * One background thread, started by the constructor, reads the batches strictly in the order
//   given and keeps at most `prefetch_batches` finished batches waiting in a queue.
// * An exception on the background thread (unreadable file, out-of-range index, ...) is stored
//   and re-thrown by next() in the consumer thread once the batches before the failing one have
//   been handed out; every later next() throws it again.
// * The destructor asks the background thread to stop and joins it. It returns promptly even if
//   the consumer stopped early: at worst it waits for the one batch read in progress.
// * The H5Dataset must outlive the loader. HDF5 reads are serialised process-wide (Note [HDF5
//   lock] in h5_dataset.h), so two loaders on one dataset work but do not read in parallel.
//
// Note [Dynamic padding]
// -----------------------
// Token files are padded to one fixed length L (frost-prep text: --max-len), but most batches
// hold only short texts. For input_kind tokens with an /attention_mask, load() therefore cuts
// every batch to L' = 1 + the last column in which any row of the batch has a non-zero mask
// (at least 1, at most L): the columns dropped are padding in every row, so nothing a model
// attends to is lost, and attention cost falls with L'. The mask is not assumed to be a
// prefix: a 0 column between real tokens is kept. inputs, attention_mask and token_type_ids
// (sentence pairs; 0 on padding, so nothing is lost there either) keep the same width; different batches may have different widths. A model that masks padding properly
// (BERT: additive -inf/large-negative mask before the softmax) gives the same outputs for the
// real tokens with or without the cut, up to float reduction order, so N ranks with batch B
// still match 1 rank with batch N*B (DESIGN invariant 4) even though their widths differ.
// Token files without /attention_mask are not cut (there is no way to tell padding apart).
//
// Note [Image normalisation table]
// --------------------------------
// A uint8 image batch is normalised as (x / 255 - mean[c]) / std[c] in float32. There are only
// 256 pixel values per channel, so the constructor computes the result for each of them once,
// with exactly the tensor operations (and their order) that used to run on every batch:
// to(float32), div_(255), sub_(mean), div_(std). load() then looks each pixel up: one pass from
// the raw rows into the batch tensor, the same float32 values bit for bit, no intermediate
// tensors, and no LibTorch parallel region started from the loader thread (which would compete
// with the training step's own threads).
//
// Note [Pinned batches]
// ---------------------
// A copy from ordinary (pageable) host memory to a GPU goes through a driver buffer and keeps
// the host waiting; from page-locked (pinned) memory it is a DMA that runs on a stream while
// the host goes on. A loader made for a CUDA device (the Trainer's when train.device is cuda)
// allocates every batch tensor in pinned memory on its own thread, through LibTorch's caching
// host allocator (blocks are reused, and a block is not handed out again before the copies
// that read it have completed: the allocator records an event at each non_blocking copy).
// TrainBatches (feature_cache.h) then copies batch i+1 to the GPU on a copy stream while
// batch i trains (Note [Copy stream]). A loader for the CPU never touches CUDA.
//
// Note [Images normalised on the device]
// --------------------------------------
// For a CUDA device, image batches cross PCIe as the file's uint8 pixels (4x fewer bytes than
// float32) and to_device() normalises them on the GPU, on the current stream, with the same
// tensor operations in the same order as the normalisation table of the CPU path (to(float32),
// div_(255), sub_(mean), div_(std); Note [Image normalisation table]): each is one correctly
// rounded IEEE operation per element, so both paths give the same float32 values.
// Augmentation (data.augment, data.image_size: Note [Image augmentation] in augment.h) runs on
// the loader's background thread, on the uint8 pixels, before either normalisation: the GPU path
// ships the transformed uint8 images, so the CPU and GPU paths still see the same pixels and
// give the same float32 inputs.
//
// Note [Releasing decoded blocks]
// -------------------------------
// A dataset opened with OpenOptions::release_over_budget whose compressed data does not fit the
// decode budget (H5Dataset::releases_blocks()) decodes blocks of rows into memory as reads need
// them and frees them only when told. The constructor therefore finds, for every block
// (H5Dataset::block_ends()), the last batch of `batches` that reads a row of it; after loading
// that batch the loader thread releases the block (H5Dataset::release_blocks). Each block is
// then decoded once per loader, and what is held at any moment is the blocks begun and not yet
// finished: with the batches of a block shuffle, the blocks of one window (Note [Block
// shuffle] in sampler.h); with sequential batches, one or two. The Trainer makes one loader per
// epoch, so nothing is held from one epoch to the next. Other datasets: nothing is computed or
// released.
//
// Note [One OpenMP thread on the loader thread]
// ---------------------------------------------
// The background thread runs LibTorch operations of its own (the image transforms of
// data.augment, tensor allocation). A new thread's first LibTorch parallel operation gives it an
// OpenMP team size equal to at::set_num_threads' global value, the training step's threads, so
// each per-sample resize would start a team of that many threads next to the training step's
// own: measured with frost-bench loader (3x112x112 cropped to 96, 2 cores, a build running) at
// 80-350 samples/s with the default count against 5,000 with one thread. c10::ParallelGuard does
// not prevent it with OpenMP builds. The thread therefore initialises LibTorch's count and then
// sets its own OpenMP count to 1 (set_openmp_threads_of_this_thread, frost/core/blas_threads.h):
// an OpenMP setting per thread, so the training step's threads are untouched.
//
// Only <ATen/core/Tensor.h> is included here; the .cpp includes the rest of LibTorch.
#pragma once

#include <ATen/core/Tensor.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "frost/train/augment.h"

namespace frost::data {
class H5Dataset;
}  // namespace frost::data

namespace frost::train {

class DeviceTimer;

/// One batch of B samples: on the host as next() hands it out, on the model's device after
/// BatchLoader::to_device.
struct Batch {
  /// image:    float32 [B, C, H, W], normalised per channel: (x / 255 - mean[c]) / std[c]
  ///           (mean/std from the dataset's attributes or the loader's ImageOptions; H x W the
  ///           stored size or that of the ImageOptions' transform); from a loader for a CUDA
  ///           device, the
  ///           host batch holds the uint8 pixels instead and to_device() normalises them
  ///           (Note [Images normalised on the device]);
  /// features: float32 [B, ...] as stored;
  /// tokens:   int64 [B, L'] token ids; L' <= L is the batch's own width when the file has
  ///           an /attention_mask (Note [Dynamic padding]), else L' = L.
  at::Tensor inputs;
  /// int64 [B] class indices in [0, num_classes) (task classification; undefined otherwise).
  at::Tensor labels;
  /// float32 [B, K]: 0/1 per label (task multilabel) or the K targets (task regression), from
  /// the dataset's /targets; undefined for classification.
  at::Tensor targets;
  /// uint8 [B, L'] (1 = real token, 0 = padding), the same width as inputs, for tokens when
  /// the dataset has /attention_mask; undefined otherwise.
  at::Tensor attention_mask;
  /// uint8 [B, L'] token types (0 = first text incl. [CLS] and its [SEP], 1 = second text and
  /// its [SEP], 0 = padding), the same width as inputs, when the dataset has /token_type_ids
  /// (sentence pairs); undefined otherwise, and the model then uses type 0 everywhere.
  at::Tensor token_type_ids;
  /// The B global sample indices, in the order of the rows above.
  std::vector<int64_t> indices;
  /// With an attention_mask: for each of the B rows, 1 + its last column with a non-zero mask
  /// (at least 1), computed on the host by the loader, so that micro-batches can be cut to
  /// their own width without reading the mask back from the GPU (Note [Dynamic padding]);
  /// empty otherwise (micro_batch then reads the mask).
  std::vector<int64_t> row_widths;
  /// TrainBatches on a CUDA device: the timing events around this batch's host-to-device copy on
  /// the copy stream (Note [Step timing on a GPU] in device_stats.h); null otherwise. Not
  /// carried by to() or micro_batch().
  std::shared_ptr<DeviceTimer> copy_timer;

  /// B, the rows of the batch (inputs.size(0)).
  int64_t rows() const { return inputs.size(0); }

  /// This batch with inputs, labels, targets, attention_mask and token_type_ids on `device`
  /// (Note [Device per rank]): the same tensors when they are there already (the CPU path copies nothing), else copies
  /// issued on the current stream of `device`, non_blocking (asynchronous when the host memory
  /// is pinned, Note [Pinned batches]). The indices and row_widths are carried over.
  Batch to(const c10::Device& device) const;
};

/// Reads `batches` of `dataset` in order on a background thread (see the thread contract above).
class BatchLoader {
 public:
  /// dataset: must outlive the loader. batches: global sample indices per batch, e.g. from
  /// TrainSampler::epoch_batches or EvalSampler::batches (indices are checked when read; a bad
  /// one surfaces from next()). prefetch_batches: how many finished batches may wait (>= 1).
  /// device: where to_device() puts the batches; a CUDA device makes the host batches pinned
  /// and keeps images uint8 until to_device() (Notes [Pinned batches], [Images normalised on
  /// the device]). images: for image datasets, the transform of each sample (its global index
  /// seeds it; Note [Image augmentation] in augment.h) and the mean/std of the normalisation
  /// (empty: the dataset's attributes); the default passes the stored pixels unchanged, and
  /// image batches then have the stored shape, else [B, C, out_h, out_w]. Ignored for other
  /// inputs. Throws frost::Error for prefetch_batches < 1 or a mean/std count other than the
  /// channels. Starts the background thread.
  BatchLoader(const data::H5Dataset& dataset, std::vector<std::vector<int64_t>> batches,
              int prefetch_batches = 2, c10::Device device = c10::Device(c10::kCPU),
              ImageOptions images = {});
  /// Stops and joins the background thread (promptly; see the thread contract).
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;
  BatchLoader(BatchLoader&&) = delete;
  BatchLoader& operator=(BatchLoader&&) = delete;

  /// Moves the next batch into `out` and returns true; returns false once every batch has been
  /// handed out. Blocks while the next batch is being read. Re-throws (in this thread) the
  /// exception that stopped the background thread, e.g. frost::Error for an unreadable file.
  bool next(Batch& out);

  /// `host` (a batch from next()) ready for the model on the loader's device: the batch itself
  /// for the CPU; for a GPU, copies issued non_blocking on the current stream of that device
  /// and images normalised there (nothing waits on the host). Call on one thread at a time.
  Batch to_device(const Batch& host) const;

  /// The device to_device() puts batches on.
  const c10::Device& device() const { return device_; }

  /// Number of batches this loader hands out in total.
  int64_t num_batches() const { return static_cast<int64_t>(batches_.size()); }

 private:
  void run();                                       // the background thread
  Batch load(const std::vector<int64_t>& indices);  // background thread only

  const data::H5Dataset& dataset_;
  const std::vector<std::vector<int64_t>> batches_;
  const size_t prefetch_batches_;
  const c10::Device device_;
  const bool pin_memory_;     // device_ is CUDA: batch tensors in pinned memory
  const bool raw_images_;     // device_ is CUDA and the inputs are images: uint8 until to_device
  ImageOptions images_;       // images: transform and the mean/std in use (never empty)
  at::Tensor mean_, std_;     // raw images: float32 [1, C, 1, 1] on device_
  // Images: the normalised value of pixel value v in channel c at [c * 256 + v]
  // (Note [Image normalisation table]); empty otherwise.
  std::vector<float> normalise_table_;
  // Raw rows of the batch being read (/inputs unless read straight into the batch, and
  // /attention_mask); used by the background thread only.
  std::vector<uint8_t> input_rows_, mask_rows_, type_rows_;
  // Note [Releasing decoded blocks]: for batch i, the first row of every block whose last
  // reader it is; empty unless the dataset releases blocks.
  std::vector<std::vector<int64_t>> release_after_;
  // Images with a transform: the batch's transformed uint8 pixels before normalisation.
  std::vector<uint8_t> transformed_rows_;

  std::mutex mutex_;  // guards everything below
  std::condition_variable cv_;
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  bool finished_ = false;  // the background thread has produced everything it will produce
  bool stop_ = false;      // the destructor asked the background thread to stop

  std::thread thread_;  // last member: started after everything above is initialised
};

}  // namespace frost::train
