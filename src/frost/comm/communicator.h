// Communicator: the one backend-agnostic interface to collectives.
//
// Backends: comm/mpi (CPU tensors, this build) and comm/nccl (CUDA tensors, FROST_WITH_CUDA).
// The CPU build never includes CUDA headers.
//
// Contract (every backend):
//  * Every collective must be called in the same order on every rank (Note [Collective
//    order]); the backend runs them in exactly the order they were issued.
//  * Tensors must be contiguous and stay alive and untouched until the Work completes.
//  * The async forms may be called from any thread (autograd hooks call all_reduce_async
//    from the backward pass); each returns a Work whose wait() blocks until completion or
//    until the timeout passes, in which case it throws frost::TimeoutError naming the rank,
//    the collective, its sequence number and size: "[rank 1] all_reduce(seq=42, bytes=68)
//    waited 30000 ms".
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace at {
class Tensor;
}

namespace frost::comm {

enum class ReduceOp { kSum, kMax, kMin };

/// Handle to an issued collective.
class Work {
 public:
  virtual ~Work() = default;
  /// Blocks until the collective has completed. Throws frost::TimeoutError after
  /// `timeout` (the communicator's default when zero), or frost::Error when the backend failed.
  virtual void wait(std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) = 0;
  /// True once the collective has completed (non-blocking).
  virtual bool is_completed() = 0;
  /// Seconds the backend spent on the collective, from starting it to seeing it complete
  /// (MPI: from the MPI_I* call on the progress thread to the MPI_Test that reported
  /// completion; time queued behind earlier collectives is not included, time waiting for a
  /// late peer is). 0 until completed.
  virtual double duration_s() = 0;
};

/// Counters kept by a communicator since construction (or the last reset).
struct CommStats {
  int64_t collectives = 0;       ///< collectives issued
  int64_t all_reduce_bytes = 0;  ///< payload bytes passed to all_reduce (per rank)
  double wait_s = 0.0;           ///< time callers spent blocked in Work::wait
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  /// Rank among the processes on this node (MPI_COMM_TYPE_SHARED), and their count.
  virtual int local_rank() const = 0;
  virtual int local_world_size() const = 0;
  /// Host name of this rank (for banners and error messages).
  virtual std::string host() const = 0;
  /// Backend name, e.g. "mpi".
  virtual std::string backend() const = 0;

  /// In-place all-reduce of `tensor` (any dtype among float32/float64/int32/int64/uint8).
  virtual std::shared_ptr<Work> all_reduce_async(const at::Tensor& tensor, ReduceOp op) = 0;
  /// In-place broadcast of `tensor` from `root`.
  virtual std::shared_ptr<Work> broadcast_async(const at::Tensor& tensor, int root) = 0;
  /// Gathers `input` [n...] from every rank into `output` [world_size * n...] (rank order).
  virtual std::shared_ptr<Work> all_gather_async(const at::Tensor& input,
                                                 const at::Tensor& output) = 0;
  virtual std::shared_ptr<Work> barrier_async() = 0;

  // Blocking forms: issue + wait(default timeout).
  void all_reduce(const at::Tensor& tensor, ReduceOp op = ReduceOp::kSum);
  void broadcast(const at::Tensor& tensor, int root);
  void all_gather(const at::Tensor& input, const at::Tensor& output);
  void barrier();

  /// Default timeout of Work::wait (config key dist.timeout_s).
  std::chrono::milliseconds timeout() const { return timeout_; }
  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }

  CommStats stats() const;
  void reset_stats();

 protected:
  void add_wait_time(double s);
  void count_collective(int64_t all_reduce_bytes);

 private:
  std::chrono::milliseconds timeout_{std::chrono::seconds(300)};
  struct StatsBox;
  std::shared_ptr<StatsBox> stats_;

 protected:
  Communicator();
};

/// Largest piece, in bytes, that the MPI backend hands to one MPI_Iallreduce (16 MiB): a
/// larger all-reduce runs as consecutive pieces of at most this size, in order, under one Work.
/// Measured with `frost-bench allreduce` on OpenMPI 4.1 over shared memory: bus bandwidth
/// is 2.2 GB/s at 8-16 MiB and 0.9 GB/s at 32 MiB, where OpenMPI's per-call temporary buffer
/// passes glibc's largest mmap threshold (32 MiB, mallopt(3)) and is mapped and faulted in
/// afresh on every call (docs/benchmarks.md). The split also keeps every MPI count within int.
inline constexpr int64_t kMpiAllReduceChunkBytes = int64_t{16} << 20;

/// The MPI backend over MPI_COMM_WORLD (`world=true`) or MPI_COMM_SELF (a 1-rank
/// communicator, used by tests as the single-process reference). MPI must be initialised
/// (see init_mpi). Throws frost::Error if MPI lacks the thread support it needs.
std::unique_ptr<Communicator> make_mpi_communicator(bool world = true);

/// Initialises MPI with MPI_THREAD_MULTIPLE (the MPI backend runs collectives on its own
/// progress thread). Idempotent. Throws frost::Error when the library gives less than
/// MPI_THREAD_MULTIPLE.
void init_mpi(int* argc, char*** argv);
/// Finalizes MPI if this process initialised it and it is not finalized yet. Fault-injection
/// site "finalize" (src/frost/core/fault_injection.h), so it may throw frost::Error.
void finalize_mpi();
/// Collective: every rank passes its own start-up error ("" = none). Returns the number of
/// ranks that failed (one all-reduce). When some failed, prints "`program`: error: <message>"
/// on stderr once: from rank 0 when every rank failed (the same message everywhere), else from
/// each failing rank with its "[rank r] " prefix. Lets a bad command line end a job cleanly,
/// without MPI_Abort.
int agree_on_startup_error(Communicator& comm, const std::string& error, const char* program);

/// Ends every rank of the job now (MPI_Abort on MPI_COMM_WORLD). Never returns.
[[noreturn]] void abort_job(int exit_code);

}  // namespace frost::comm
