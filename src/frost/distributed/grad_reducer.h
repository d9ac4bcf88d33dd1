// GradReducer: averages the gradients of the trainable parameters across ranks.
//
// Small interface (prepare_step / finalize), rich internals (after PyTorch's c10d reducer):
//  * Buckets are built once, from the parameters that have requires_grad at construction
//    time, in reverse registration order (gradients become ready roughly back to front),
//    each up to `bucket_cap_bytes` (a larger parameter gets a bucket of its own). A frozen
//    parameter is never in a bucket (DESIGN invariant 1). When trainability changes, build a
//    new GradReducer.
//  * A gradient hook on every trainable parameter copies the fresh gradient, pre-divided by
//    the world size, into the parameter's slot of its bucket. When every slot of a bucket is
//    filled, the bucket becomes ready; ready buckets are launched as asynchronous all-reduces
//    strictly in bucket-index order (Note [Bucket order]).
//  * Gradient accumulation (prepare_step(K), Note [Micro-batches]): the hooks of the first
//    K-1 backward passes only add into the buckets; the buckets are launched during the K-th,
//    so each bucket is all-reduced once per optimizer step, not once per micro-batch.
//  * finalize() launches the buckets still pending (a parameter that got no gradient in this
//    step contributes zeros), waits for all of them in order and points each parameter's
//    .grad() at its slot of the bucket (an alias of the bucket memory, no copy; after
//    PyTorch DDP's gradient_as_bucket_view). prepare_step() and next_micro_batch() reset
//    .grad() to undefined, so the reducer owns the trainable parameters' gradients: there is
//    no need for Optimizer::zero_grad().
//
// Note [Bucket order]
// Every rank must issue the same collectives in the same order (invariant 2). Gradients may
// become ready in a different order on different ranks (unused parameters, thread timing), so
// a ready bucket k is only launched once buckets 0..k-1 have been launched; finalize() then
// launches the rest in order. Each bucket is launched exactly once per step on every rank.
//
// Note [Micro-batches]
// With K micro-batches per optimizer step, the caller runs K forward/backward passes between
// prepare_step(K) and finalize(), calling next_micro_batch() between two passes (like
// PyTorch DDP's no_sync() for all but the last). A slot's first gradient of the step is copied
// into the bucket and scaled by 1/world; later ones are added, scaled the same way
// (bucket += grad / world). The slot counts as filled, and its bucket may launch, only when
// its gradient of micro-batch K-1 arrives; a parameter without a gradient in micro-batch K-1
// waits for finalize(), which launches every pending bucket in order. The caller scales each
// micro-batch's loss so that the sum over micro-batches is the rank's mean loss (e.g. the
// micro-batch mean times its share of the rank's samples); then the result is the gradient of
// the global per-sample mean, as without accumulation.
//
// Note [Bucket timeline]
// With set_timeline(true) the reducer records, per step, when each bucket was launched and how
// long its all-reduce took, so that a step's communication schedule can be replayed offline
// (bench/scaling_model.py). The origin of the times is the start of the last micro-batch's
// backward as the reducer sees it: mark_backward_start() when the caller calls it, else the
// first gradient hook of that micro-batch (the loss's own backward before it, typically the
// head's last layer, is then not counted; the train record's backward_ms still is). The end of
// backward is the start of finalize(). On the CPU these are host clocks (std::chrono::
// steady_clock), exact there because nothing runs ahead. On a CUDA device the host runs ahead,
// so the reducer records timing events (c10::Event, device-generic: no CUDA header here) on the
// current stream: at the origin, at each launch (on the stream of the hook that completed the
// bucket, the compute stream) and at finalize()'s start; resolve_timeline() turns them into
// seconds later, when the host has waited for the device anyway. The all-reduce durations come
// from the backend (Work::duration_s: host clocks on MPI, events around the collective on
// NCCL). Off (the default), the hooks test one flag and record nothing.
//
// Thread contract: construct, prepare_step, finalize and the accessors on the training thread;
// the hooks may run on any autograd thread (they lock).
#pragma once

#include <c10/core/ScalarType.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace frost::comm {
class Communicator;
}

namespace frost::distributed {

/// Default bucket cap: 25 MiB, as PyTorch DistributedDataParallel's bucket_cap_mb default.
inline constexpr int64_t kDefaultBucketCapBytes = 25LL * 1024 * 1024;

/// One bucket of a step's timeline (GradReducer::set_timeline; Note [Bucket timeline]).
struct BucketTiming {
  int64_t bucket = 0;  ///< bucket index = launch position (Note [Bucket order])
  /// Payload bytes of the bucket's all-reduce (comm_dtype's element size). On one rank nothing
  /// is sent, and this is what would be.
  int64_t bytes = 0;
  /// Seconds from the timeline's origin to the bucket's launch: every gradient of the bucket is
  /// in and every earlier bucket has been launched. Buckets launched by finalize() (a parameter
  /// without a gradient) have the time of finalize()'s start, i.e. the end of backward.
  double ready_s = 0.0;
  /// Seconds the all-reduce took (Work::duration_s); NaN when unknown: on one rank (no
  /// all-reduce), or on a device where the collective had not completed when it was resolved.
  double allreduce_s = std::numeric_limits<double>::quiet_NaN();
};

class DeviceTimeline;  // a device step's timeline events, unresolved (grad_reducer.cpp)

/// What one step's reduction did on this rank.
struct ReduceStats {
  int64_t all_reduce_bytes = 0;  ///< payload bytes all-reduced by this rank
  int64_t collectives = 0;       ///< all-reduces issued (one per bucket)
  double wait_s = 0.0;           ///< seconds finalize() spent waiting for all-reduces
  /// Seconds the all-reduces took in the backend, summed over buckets (Work::duration_s). With
  /// overlap, most of it passes during backward: hidden = 1 - wait_s / all_reduce_s.
  /// A stream-ordered backend (NCCL) knows a duration only once the collective's end event is
  /// reached, and finalize() does not wait for that on the host: there, all_reduce_s counts only
  /// the buckets already complete when finalize() returns (often none), and wait_s is host time
  /// spent queueing the waits; per-bucket GPU times need CUDA events read after the step.
  double all_reduce_s = 0.0;
  double finalize_s = 0.0;  ///< seconds in finalize() overall

  /// The bucket timeline (Note [Bucket timeline]), only when GradReducer::set_timeline(true):
  /// one entry per bucket, in launch order. On the CPU finalize() fills it; on a device it stays
  /// empty until resolve_timeline(), and `device_timeline` holds the events until then.
  std::vector<BucketTiming> buckets;
  /// Seconds from the timeline's origin to the end of backward (the start of finalize());
  /// NaN without a timeline (or before resolve_timeline() on a device).
  double timeline_backward_s = std::numeric_limits<double>::quiet_NaN();
  /// Device only: the step's recorded events, until resolve_timeline() reads them.
  std::shared_ptr<DeviceTimeline> device_timeline;
};

/// Fills stats.buckets and stats.timeline_backward_s from stats.device_timeline (the CUDA events
/// recorded on the compute stream during the step) and releases it. Blocks the host until the
/// step's events have been reached: call it where the host waits for the device anyway (the
/// Trainer: when it reads the pending steps' losses, Note [One synchronisation per logged step]
/// in frost/train/step.h), never in the step path. Does nothing when there is no device timeline
/// (a CPU step: already filled; or no timeline). Training thread.
void resolve_timeline(ReduceStats& stats);

class GradReducer {
 public:
  /// Builds buckets over `model`'s parameters that require grad (names from
  /// named_parameters(), recursive) and installs the gradient hooks. Only float32 and
  /// float64 parameters are supported. `comm` and `model` must outlive the reducer.
  /// Throws frost::Error if bucket_cap_bytes < 1.
  /// `comm_dtype` (dist.comm_dtype): the dtype the buckets are all-reduced in. Undefined (the
  /// default) or the parameters' dtype: the bucket itself. bfloat16 (or float16): each bucket
  /// keeps its float32 memory for accumulation and the optimizer, and is copied into a 16-bit
  /// twin that is all-reduced and copied back in finalize(), half the bytes on the wire (after
  /// PyTorch DDP's bf16_compress_hook, which also divides by the world size before the cast).
  /// The bucket cap counts the float32 bytes.
  GradReducer(torch::nn::Module& model, comm::Communicator& comm,
              int64_t bucket_cap_bytes = kDefaultBucketCapBytes,
              c10::ScalarType comm_dtype = c10::ScalarType::Undefined);
  ~GradReducer();
  GradReducer(const GradReducer&) = delete;
  GradReducer& operator=(const GradReducer&) = delete;

  /// Opens an optimizer step of `micro_batches` (>= 1) backward passes (Note [Micro-batches]):
  /// resets the buckets' pending counts and every trainable parameter's .grad() to undefined
  /// (bucket memory is not cleared: a slot's first gradient overwrites it, and a slot that gets
  /// none is zeroed when its bucket launches);
  /// micro-batch 0 is current. Call before the first backward.
  /// Throws frost::Error for micro_batches < 1.
  void prepare_step(int64_t micro_batches = 1);
  /// Makes the next micro-batch current; call between two backward passes of a step.
  /// Calling it more than micro_batches - 1 times in a step is a bug (frost::InternalError).
  void next_micro_batch();
  /// Closes the step (after the backward of the last micro-batch): launches pending buckets in
  /// order, waits for all of them (throws frost::TimeoutError after the communicator's timeout)
  /// and sets every trainable parameter's .grad() to its averaged gradient: an alias of the
  /// parameter's slot in its bucket (same shape and dtype as the parameter, contiguous), valid
  /// until the next prepare_step(). In-place changes to it (gradient clipping) are fine.
  void finalize();

  /// Closes a step without communicating, when every rank has decided to skip it before
  /// backward (e.g. a non-finite loss): no hook has fired, so no bucket was launched.
  void cancel_step();

  int64_t num_buckets() const;
  /// Names of the parameters in bucket `i`, in slot order.
  std::vector<std::string> bucket_param_names(int64_t i) const;
  /// Elements in bucket `i`.
  int64_t bucket_numel(int64_t i) const;
  /// Elements over all buckets (= trainable parameters' numel).
  int64_t total_numel() const;
  /// Statistics of the last finalized step.
  ReduceStats last_step() const;

  /// Records the bucket timeline of every following step into ReduceStats (Note [Bucket
  /// timeline]); off by default. Call between steps (not while one is open).
  void set_timeline(bool on);
  bool timeline() const;
  /// Marks the start of the last micro-batch's backward as the timeline's origin (host clock on
  /// the CPU, an event on the current stream on a device). Optional: without it the first
  /// gradient hook of that micro-batch is the origin. Does nothing without a timeline.
  void mark_backward_start();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace frost::distributed
