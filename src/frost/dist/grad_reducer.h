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
//  * finalize() launches the buckets still pending (a parameter that got no gradient in this
//    step contributes zeros), waits for all of them in order and writes the averaged values
//    into each parameter's .grad().
//
// Note [Bucket order]
// Every rank must issue the same collectives in the same order (invariant 2). Gradients may
// become ready in a different order on different ranks (unused parameters, thread timing), so
// a ready bucket k is only launched once buckets 0..k-1 have been launched; finalize() then
// launches the rest in order. Each bucket is launched exactly once per step on every rank.
//
// Thread contract: construct, prepare_step, finalize and the accessors on the training thread;
// the hooks may run on any autograd thread (they lock).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace frost::comm {
class Communicator;
}

namespace frost::dist {

/// Default bucket cap: 25 MiB, as PyTorch DistributedDataParallel's bucket_cap_mb default.
inline constexpr int64_t kDefaultBucketCapBytes = 25LL * 1024 * 1024;

/// What one step's reduction did on this rank.
struct ReduceStats {
  int64_t all_reduce_bytes = 0;  ///< payload bytes all-reduced by this rank
  int64_t collectives = 0;       ///< all-reduces issued (one per bucket)
  double wait_s = 0.0;           ///< seconds finalize() spent waiting for all-reduces
  double finalize_s = 0.0;       ///< seconds in finalize() overall
};

class GradReducer {
 public:
  /// Builds buckets over `model`'s parameters that require grad (names from
  /// named_parameters(), recursive) and installs the gradient hooks. Only float32 and
  /// float64 parameters are supported. `comm` and `model` must outlive the reducer.
  /// Throws frost::Error if bucket_cap_bytes < 1.
  GradReducer(torch::nn::Module& model, comm::Communicator& comm,
              int64_t bucket_cap_bytes = kDefaultBucketCapBytes);
  ~GradReducer();
  GradReducer(const GradReducer&) = delete;
  GradReducer& operator=(const GradReducer&) = delete;

  /// Opens a step: zeroes the buckets. Call before backward.
  void prepare_step();
  /// Closes the step: launches pending buckets in order, waits for all of them (throws
  /// frost::TimeoutError after the communicator's timeout), writes the averaged gradients
  /// (float, same shape as the parameter) into every trainable parameter's .grad().
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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace frost::dist
