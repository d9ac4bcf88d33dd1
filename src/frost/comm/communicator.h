// Communicator: the one backend-agnostic interface to collectives.
//
// Backends, chosen by name with make_communicator:
//   "mpi"   comm/mpi/: CPU tensors, and CUDA tensors staged through pinned host buffers (Note
//           [CUDA tensors on MPI] in mpi/mpi_communicator.cpp); every collective runs on the
//           communicator's progress thread (Note [MPI progress thread], same file). Every build.
//   "nccl"  comm/nccl/ (builds with FROST_WITH_CUDA=ON): CUDA tensors on this rank's GPU,
//           collectives on the backend's own CUDA stream, bootstrapped over MPI, timed out by a
//           watchdog thread (comm/nccl/nccl_communicator.h).
// communicator_backends() lists the backends of this build. This header, communicator.cpp and
// process.h include neither MPI nor CUDA headers; only the files under comm/nccl/ include CUDA
// and NCCL headers, and none of their headers does. The process around a communicator (MPI
// start and end, ending the whole job) is comm/process.h.
//
// The contract every backend keeps (after PyTorch's ProcessGroupNCCL.hpp); a new backend is
// correct when Frost's users of this interface need no branch on the backend:
//
//  * Order. Every rank issues the same collectives in the same order on a communicator, and
//    the backend runs them in the order they were issued (Note [Collective order]).
//
//  * Tensors and devices. A tensor is contiguous, of a dtype the backend supports
//    (float32/float64/float16/bfloat16/int32/int64/uint8 for all of them; MPI sends 16-bit floats
//    as 16-bit words, Note [16-bit floats on MPI] in mpi/mpi_communicator.cpp), has
//    the same shape and dtype on every rank, and lives where the backend takes it: MPI takes
//    CPU tensors and CUDA tensors on any device of the process (an all_gather's input and output
//    on one device), copying a CUDA tensor into a pinned host buffer at issue and the result
//    back at wait() (Note [CUDA tensors on MPI]); NCCL takes CUDA tensors on this rank's
//    device() (local_rank() picks it). Collectives work in place (all_gather writes `output`).
//    A tensor the backend cannot take is a frost::Error when the collective is issued, on the
//    issuing thread.
//
//  * Streams (CUDA tensors). A collective is ordered after everything the caller's *current*
//    CUDA stream (of the tensor's device) has queued when the collective is issued, and the
//    issue does not block the host: NCCL records an event on that stream and makes its own
//    stream wait for it; MPI queues the copy into its host buffer on that stream and records an
//    event after it, which its progress thread waits for before the collective starts. So a
//    bucket filled by kernels on the compute stream is complete before the collective reads
//    it. From issue until wait() the tensor belongs to the backend: nobody reads or writes it
//    on any stream or thread, nor passes it to another collective (MPI reads a CUDA tensor at
//    issue and writes it at wait()). The Work keeps the tensor alive until the collective
//    completes (no recordStream needed by the caller). CPU tensors have no stream; the same
//    ownership rule holds.
//
//  * Work::wait() makes the result visible to its caller, and says how:
//      - MPI (host backend): wait() returns once the host has seen the collective complete;
//        the tensor holds the result, for the host and for any stream. For a CUDA tensor,
//        wait() copies the result from the host buffer into it on the caller's current stream
//        and synchronises that stream before it returns (the copy happens once, in the first
//        wait(); is_completed() may be true before it).
//      - a stream-ordered backend (NCCL): wait() makes the caller's current stream wait for the
//        collective's end event and returns without blocking the host; work queued on that
//        stream afterwards sees the result, the host does not until it synchronises that
//        stream. Its timeout comes from a watchdog thread that aborts the communicator and
//        fails the job (Note [Fatal errors off the main thread] in process.h), not from
//        wait(). A barrier is the exception: its wait() blocks the host until every rank has
//        reached it, as a barrier must, with the wait's timeout.
//    wait() may be called more than once and from any thread; after it returned once, later
//    calls return at once (or rethrow the same failure).
//
//  * Errors. A collective that does not complete within the wait's timeout throws
//    frost::TimeoutError naming the collective, its sequence number and payload:
//    "[rank 1] all_reduce(seq=42, bytes=68) waited 30000 ms without completing (...)"; a
//    backend failure throws frost::Error. Both record the communicator's rank
//    (frost::Error::rank(), Note [Error context]); the app runner then ends the whole job.
//
//  * Threads. The issue methods (*_async and the blocking forms) may be called from any thread:
//    the autograd engine's hooks call all_reduce_async from the backward pass while the
//    training thread issues others. The issue order is the order in which calls enter the
//    communicator, so collectives whose relative order matters are issued from one thread or
//    ordered by the caller (GradReducer: Note [Bucket order]). Work may be waited on from any
//    thread. set_timeout() is configuration: call it before issuing, on the thread that owns the
//    communicator. stats() and reset_stats() may be called from any thread. Destroy a
//    communicator only when no collective of it is in flight.
//
// Note [Collective order]
// MPI and NCCL match collectives by the order in which each rank issues them on a
// communicator, not by a name or tag: the k-th collective of rank 0 meets the k-th collective of
// every other rank. So every rank issues the same sequence of collectives (kind, dtype, size,
// root) on a communicator. A rank that skips one, adds one or issues them in another order
// makes its peers wait (a TimeoutError after dist.timeout_s) or, when the mismatched
// collectives happen to have the same size, combines unrelated data without any error. What
// keeps the sequence equal across ranks:
//   * backends run collectives in issue order (MPI: one FIFO progress thread per communicator;
//     NCCL: one stream per communicator);
//   * GradReducer launches buckets strictly in bucket-index order, whatever order gradients
//     become ready in, and a parameter without a gradient contributes zeros instead of being
//     left out (Note [Bucket order] in distributed/grad_reducer.h);
//   * every rank runs the same number of micro-batches and optimizer steps per epoch (the
//     samplers give equal counts; DESIGN invariant 2); a decision that changes the sequence is
//     itself agreed by an all-reduce first (skipping a step with a non-finite loss; a command
//     line some ranks reject: agree_on_startup_error), and a failure only some ranks see ends
//     the whole job instead (Note [Failing the whole job] in src/apps/app_runner.h);
//   * work only some ranks do (rank 0 writing files) issues no collective.
// Every collective has a sequence number per communicator (`seq`, 0-based, issue order) that a
// timeout prints, so a broken order shows up as ranks waiting at different seq numbers.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <c10/core/Device.h>

namespace at {
class Tensor;
}

namespace frost::comm {

enum class ReduceOp { kSum, kMax, kMin };

/// Handle to an issued collective.
class Work {
 public:
  virtual ~Work() = default;
  /// Makes the result visible to the caller (see "Work::wait()" above): MPI blocks the host until
  /// the collective has completed (and copies a CUDA tensor's result into it, synchronising the
  /// caller's current stream); a stream-ordered backend orders the caller's current stream
  /// after it. A wait that blocks the host (MPI; an NCCL barrier) throws frost::TimeoutError when
  /// the collective did not complete within `timeout` (the communicator's timeout() when zero);
  /// a stream-ordered wait has no timeout of its own (its backend's watchdog has). Throws
  /// frost::Error when the backend failed.
  virtual void wait(std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) = 0;
  /// True once the collective has completed (non-blocking; for a stream-ordered backend: its
  /// end event has been reached). MPI with a CUDA tensor: the result is in the host buffer; it
  /// reaches the tensor in wait().
  virtual bool is_completed() = 0;
  /// Seconds the collective itself took, 0 until it has completed. Time queued behind earlier
  /// collectives of the same communicator is not included; time waiting for a late peer is.
  /// MPI: host clock, from the MPI_I* call on the progress thread to the MPI_Test that saw it
  /// complete. A stream-ordered backend: the time between CUDA events recorded on its stream
  /// around the collective (cudaEventElapsedTime), so it is known only once the end event is.
  virtual double duration_s() = 0;
};

/// Counters kept by a communicator since construction (or the last reset).
struct CommStats {
  int64_t collectives = 0;       ///< collectives issued
  int64_t all_reduce_bytes = 0;  ///< payload bytes passed to all_reduce (per rank)
  double wait_s = 0.0;           ///< host time callers spent in Work::wait
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  /// Rank among the processes on this node (MPI_COMM_TYPE_SHARED), and their count. A GPU
  /// backend uses local_rank() as this rank's device index.
  virtual int local_rank() const = 0;
  virtual int local_world_size() const = 0;
  /// Host name of this rank (for banners and error messages).
  virtual std::string host() const = 0;
  /// Backend name as make_communicator takes it: "mpi" or "nccl".
  virtual std::string backend() const = 0;
  /// The device of this communicator's own tensors, where a caller that has no preference puts
  /// the tensors it passes (all_gather_strings, agree_on_startup_error): the CPU for MPI, which
  /// also takes CUDA tensors on any device (staged through host memory, "Tensors and devices"
  /// above), and this rank's CUDA device for NCCL, which takes tensors there only.
  virtual c10::Device device() const = 0;

  /// In-place all-reduce of `tensor`.
  virtual std::shared_ptr<Work> all_reduce_async(const at::Tensor& tensor, ReduceOp op) = 0;
  /// In-place broadcast of `tensor` from `root`.
  virtual std::shared_ptr<Work> broadcast_async(const at::Tensor& tensor, int root) = 0;
  /// Gathers `input` [n...] from every rank into `output` [world_size * n...] (rank order).
  virtual std::shared_ptr<Work> all_gather_async(const at::Tensor& input,
                                                 const at::Tensor& output) = 0;
  virtual std::shared_ptr<Work> barrier_async() = 0;

  // Blocking forms: issue, then wait with the default timeout.
  void all_reduce(const at::Tensor& tensor, ReduceOp op = ReduceOp::kSum);
  void broadcast(const at::Tensor& tensor, int root);
  void all_gather(const at::Tensor& input, const at::Tensor& output);
  void barrier();

  /// Every rank's host() in rank order (for banners); names longer than 63 bytes are cut.
  /// Collective: one all_gather, called in the same order on every rank.
  std::vector<std::string> all_hosts();
  /// Every rank's `mine` in rank order; each string is cut to `max_bytes` bytes (NUL bytes end
  /// it early). Collective: one all_gather of world_size x (max_bytes + 1) bytes, called in the
  /// same order on every rank with the same `max_bytes`.
  std::vector<std::string> all_gather_strings(const std::string& mine, int64_t max_bytes = 255);

  /// Default timeout of Work::wait (config key dist.timeout_s; 300 s until set).
  std::chrono::milliseconds timeout() const { return timeout_; }
  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }

  CommStats stats() const;
  void reset_stats();

 protected:
  Communicator();
  /// For backends: adds host time spent in Work::wait to stats().wait_s (any thread).
  void add_wait_time(double s);
  /// For backends: counts one issued collective with its all-reduce payload (0 for the others).
  void count_collective(int64_t all_reduce_bytes);

 private:
  std::chrono::milliseconds timeout_{std::chrono::seconds(300)};
  struct StatsBox;
  std::shared_ptr<StatsBox> stats_;
};

/// Which processes a communicator spans.
enum class Scope {
  kWorld,  ///< every rank of the job
  kSelf,   ///< this process alone: a 1-rank communicator (the single-process reference of tests)
};

/// A communicator of the backend named `backend` ("mpi", "nccl"). Collective over `scope`: every
/// rank calls it, in the same order relative to its other collectives. The process layer must be
/// started (init_mpi, comm/process.h). Throws frost::Error for an unknown backend name or one
/// this build does not include ("nccl" needs FROST_WITH_CUDA), naming the backends it has, and
/// the errors of the backend's own factory ("nccl" on a rank without a CUDA device:
/// make_nccl_communicator in comm/nccl/nccl_communicator.h). `device_index`: the CUDA device of a
/// GPU backend (-1: the Trainer's rule, place_rank in core/device.h); the Trainer passes its placement (Note [Device per
/// rank]). Ignored by MPI.
std::unique_ptr<Communicator> make_communicator(std::string_view backend,
                                                Scope scope = Scope::kWorld, int device_index = -1);

/// The backends make_communicator can make in this build, in a fixed order: {"mpi"} or
/// {"mpi", "nccl"} (FROST_WITH_CUDA).
std::vector<std::string> communicator_backends();

}  // namespace frost::comm
