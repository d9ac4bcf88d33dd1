// MPI backend of the Communicator (CPU tensors; CUDA tensors through pinned host buffers, Note
// [CUDA tensors on MPI]).
//
// Note [MPI progress thread]
// OpenMPI progresses non-blocking collectives only inside MPI calls. To overlap the
// all-reduce of a gradient bucket with the rest of backward, every collective of a
// communicator runs on one progress thread that owns the communicator: it takes issued
// operations in FIFO order (so the collective order on every rank is the issue order,
// Note [Collective order] in comm/communicator.h), starts them with MPI_I* and drives them with
// MPI_Test, backing off from spinning to short sleeps so that an idle rank does not steal a
// core from the compute threads (see drive()). Callers block in Work::wait on a condition
// variable with a timeout; the timeout is what turns a dead or partitioned peer into an error
// instead of a hang.
//
// Note [CUDA tensors on MPI]
// MPI reads and writes host memory here (Frost does not assume a CUDA-aware MPI), so a CUDA
// tensor travels through a pinned host buffer of its shape and dtype:
//   1. At issue, on the issuing thread: the buffer is allocated (at::empty with pinned_memory),
//      the copy tensor -> buffer is queued on the caller's *current* stream of the tensor's
//      device (non_blocking: the host does not wait for it), and an event is recorded on that
//      stream after it. Only what MPI reads is copied (all_reduce's tensor, the root's broadcast
//      tensor, all_gather's input); the event is recorded for every collective on CUDA tensors,
//      so that the collective also comes after the caller's earlier kernels on a tensor it
//      overwrites.
//   2. On the progress thread, when the collective reaches the head of the queue: the thread
//      polls the event (backing off as drive() does) until the copy is done, then runs the
//      collective on the buffer as on a CPU tensor. duration_s() is counted from after this
//      wait (it is time spent behind the caller's stream, not in the collective).
//   3. In Work::wait(), once the collective has completed: the buffer is copied into the tensor
//      on the *waiting* caller's current stream of its device, and that stream is synchronised,
//      so that the tensor holds the result for the host and for every stream when wait()
//      returns (the contract's rule for MPI). This happens once: the first wait() copies, a
//      concurrent one blocks until it has, later ones return at once.
// Why an event rather than synchronising the caller's stream at issue: the issuing thread is
// often an autograd hook in the middle of backward (GradReducer launches a bucket from the hook
// that fills it). Synchronising there would hold that thread until every kernel queued so far
// had run, at every bucket, so the GPU would run dry while the host queues the rest of
// backward. With the event the hook returns at once, and only the progress thread waits, which
// could not start this collective earlier anyway (FIFO order).
// What it costs: a CUDA tensor is read at issue and written at wait(), so it must not go to a
// second collective before the first one's wait() returned (the contract's ownership rule; a CPU
// tensor, which the progress thread reduces in place in issue order, or NCCL's stream order
// would hide such a chain, staging does not).
// Devices: the MPI backend has no device of its own (device() is the CPU), so it takes CUDA
// tensors on any device of the process, staged on the current stream of that device; an
// all_gather's input and output must be on the same device. Pinned memory and events are made
// only for CUDA tensors: with CPU tensors the backend never initialises CUDA.
#include "frost/comm/mpi/mpi_communicator.h"

#include <c10/core/Event.h>
#include <c10/core/Stream.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "frost/comm/mpi/mpi_check.h"
#include "frost/core/error.h"

namespace frost::comm {

namespace {

using Clock = std::chrono::steady_clock;

// The MPI type of `t`'s elements. Throws frost::Error for a dtype the backend has no
// collective for.
MPI_Datatype mpi_dtype(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return MPI_FLOAT;
    case at::kDouble: return MPI_DOUBLE;
    case at::kInt: return MPI_INT32_T;
    case at::kLong: return MPI_INT64_T;
    case at::kByte: return MPI_UINT8_T;
    case at::kBFloat16:
    case at::kHalf: return MPI_UINT16_T;  // Note [16-bit floats on MPI]
    default:
      throw Error(detail::str_cat("the MPI backend has no collective for dtype ", t.scalar_type(),
                                  "; use float32/float64/float16/bfloat16/int32/int64/uint8"));
  }
}

// Note [16-bit floats on MPI]
// MPI has no bfloat16 or float16 type. Such tensors travel as MPI_UINT16_T, two bytes per element
// (so dist.comm_dtype = bf16 halves the bytes on the wire), which broadcast and all_gather copy
// bit for bit. all_reduce combines them with user-defined, commutative MPI_Ops (MPI_Op_create,
// MPI 4.0 section 6.9.5), one per (dtype, op): each pair of elements is widened to float32,
// combined, and rounded back to the nearest 16-bit value (c10::BFloat16 / c10::Half), so a sum
// rounds once per combination, as NCCL's bfloat16 all-reduce does. The ops are made once, on the
// first communicator, and freed by MPI_Finalize.
template <typename T, typename Combine>
void combine_16bit(void* in, void* inout, int* len, MPI_Datatype* /*type*/) {
  const T* a = static_cast<const T*>(in);
  T* b = static_cast<T*>(inout);
  for (int i = 0; i < *len; ++i) {
    b[i] = T(Combine{}(static_cast<float>(a[i]), static_cast<float>(b[i])));
  }
}
struct Sum {
  float operator()(float x, float y) const { return x + y; }
};
struct Max {
  float operator()(float x, float y) const { return std::isnan(x) || x > y ? x : y; }
};
struct Min {
  float operator()(float x, float y) const { return std::isnan(x) || x < y ? x : y; }
};

struct HalfOps {
  MPI_Op bf16[3];  // ReduceOp order: sum, max, min
  MPI_Op fp16[3];
};
const HalfOps& half_ops() {
  static const HalfOps ops = [] {
    HalfOps o;
    MPI_CHECK(MPI_Op_create(&combine_16bit<c10::BFloat16, Sum>, 1, &o.bf16[0]));
    MPI_CHECK(MPI_Op_create(&combine_16bit<c10::BFloat16, Max>, 1, &o.bf16[1]));
    MPI_CHECK(MPI_Op_create(&combine_16bit<c10::BFloat16, Min>, 1, &o.bf16[2]));
    MPI_CHECK(MPI_Op_create(&combine_16bit<c10::Half, Sum>, 1, &o.fp16[0]));
    MPI_CHECK(MPI_Op_create(&combine_16bit<c10::Half, Max>, 1, &o.fp16[1]));
    MPI_CHECK(MPI_Op_create(&combine_16bit<c10::Half, Min>, 1, &o.fp16[2]));
    return o;
  }();
  return ops;
}

MPI_Op mpi_op(ReduceOp op, at::ScalarType dtype) {
  const int i = op == ReduceOp::kSum ? 0 : op == ReduceOp::kMax ? 1 : 2;
  if (dtype == at::kBFloat16) return half_ops().bf16[i];
  if (dtype == at::kHalf) return half_ops().fp16[i];
  switch (op) {
    case ReduceOp::kSum: return MPI_SUM;
    case ReduceOp::kMax: return MPI_MAX;
    case ReduceOp::kMin: return MPI_MIN;
  }
  return MPI_SUM;
}

class MpiWork final : public Work {
 public:
  // `result_to`, `result_from`: for a collective on CUDA tensors, the caller's tensor that
  // receives the result (all_gather: the output) and the pinned buffer MPI writes it to (Note
  // [CUDA tensors on MPI]); undefined for CPU tensors and for a barrier.
  MpiWork(std::string what, int rank, std::chrono::milliseconds default_timeout,
          std::function<void(double)> on_wait, at::Tensor result_to, at::Tensor result_from)
      : what_(std::move(what)),
        rank_(rank),
        default_timeout_(default_timeout),
        on_wait_(std::move(on_wait)),
        result_to_(std::move(result_to)),
        result_from_(std::move(result_from)) {}

  void wait(std::chrono::milliseconds timeout) override {
    if (timeout.count() <= 0) timeout = default_timeout_;
    const auto t0 = Clock::now();
    // Host time in wait(), the copy back of a CUDA result included, however wait() ends.
    struct AddWaitTime {
      const MpiWork* work;
      Clock::time_point t0;
      ~AddWaitTime() { work->on_wait_(std::chrono::duration<double>(Clock::now() - t0).count()); }
    } add_wait_time{this, t0};
    std::unique_lock<std::mutex> lk(mu_);
    const bool ok = cv_.wait_for(lk, timeout, [&] { return done_; });
    std::optional<Error> error = error_;
    lk.unlock();
    if (!ok) {
      const auto waited_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
      TimeoutError timeout_error(detail::str_cat(
          what_, " waited ", waited_ms, " ms without completing (dist.timeout_s = ",
          timeout.count() / 1000.0, "): a peer rank died, hangs, or the network is down"));
      timeout_error.set_rank(rank_);
      throw timeout_error;
    }
    if (error) {
      error->set_rank(rank_);
      throw *error;
    }
    copy_result_back();
  }

  bool is_completed() override {
    std::lock_guard<std::mutex> g(mu_);
    return done_;
  }

  double duration_s() override {
    std::lock_guard<std::mutex> g(mu_);
    return done_ ? duration_s_ : 0.0;
  }

  const std::string& what() const { return what_; }

  // Called once by the progress thread; `error` is empty when the collective succeeded.
  void finish(std::optional<Error> error, double duration_s) {
    {
      std::lock_guard<std::mutex> g(mu_);
      done_ = true;
      error_ = std::move(error);
      duration_s_ = duration_s;
    }
    cv_.notify_all();
  }

 private:
  const std::string what_;  // "all_reduce(seq=42, bytes=68)"
  const int rank_;
  const std::chrono::milliseconds default_timeout_;
  const std::function<void(double)> on_wait_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::optional<Error> error_;
  double duration_s_ = 0.0;
  // Note [CUDA tensors on MPI], step 3; under copy_mu_, which a concurrent wait() blocks on
  // until the copy is done. Both tensors are released once it is.
  std::mutex copy_mu_;
  at::Tensor result_to_, result_from_;
  std::optional<Error> copy_error_;

  // Copies the result from the pinned buffer into the caller's CUDA tensor on the current
  // stream of its device and synchronises that stream; once per Work (a failure is kept and
  // rethrown by later waits). Nothing to do for CPU tensors.
  void copy_result_back() {
    std::lock_guard<std::mutex> g(copy_mu_);
    if (copy_error_) throw *copy_error_;
    if (!result_to_.defined()) return;
    const c10::Device device = result_to_.device();
    try {
      at::NoGradGuard no_grad;  // the tensor may be a parameter (broadcast_state)
      const c10::impl::VirtualGuardImpl guard_impl(device.type());
      const c10::Stream stream = guard_impl.getStream(device);  // the caller's current stream
      result_to_.copy_(result_from_, /*non_blocking=*/true);
      guard_impl.synchronizeStream(stream);
    } catch (const c10::Error& e) {
      Error error(detail::str_cat("copying the result from pinned host memory into the ", device,
                                  " tensor failed: ", e.what_without_backtrace()));
      error.add_context(what_);
      error.set_rank(rank_);
      copy_error_ = error;
      throw error;
    }
    result_to_ = at::Tensor();
    result_from_ = at::Tensor();
  }
};

enum class OpKind { kAllReduce, kBroadcast, kAllGather, kBarrier };

struct PendingOp {
  OpKind kind = OpKind::kBarrier;
  // What MPI reads and writes: the caller's CPU tensor, or the pinned buffer of a CUDA one;
  // held so the storage stays alive until completion.
  at::Tensor tensor;
  at::Tensor output;  // all_gather only
  ReduceOp op = ReduceOp::kSum;
  int root = 0;
  std::shared_ptr<MpiWork> work;
  // Note [CUDA tensors on MPI]: the caller's CUDA tensors (alive until the collective
  // completes), the event recorded on the caller's stream after their copies into the buffers,
  // and the tensor that receives the result in wait(), with its buffer (handed to the Work).
  std::vector<at::Tensor> cuda_tensors;
  std::optional<c10::Event> staged;
  at::Tensor result_to, result_from;
};

// Sleeps between two polls of something that has been pending for `waited` (an MPI request, a
// CUDA event): not at all for the first kSpin, then briefly, then longer, so that a long wait
// does not take a core from the compute threads. Over shared memory a message completes only
// while both ranks poll, so a rank that sleeps early makes its peer wait a whole sleep
// (measured with frost-bench: 16 KiB took ~220 us with 200 spins, not the ~3 us of a plain
// MPI_Wait): hence a fixed time, not a fixed count, of spinning.
void back_off(Clock::duration waited) {
  constexpr auto kSpin = std::chrono::microseconds(300);
  constexpr auto kShortSleeps = std::chrono::milliseconds(5);
  if (waited > kSpin) {
    std::this_thread::sleep_for(std::chrono::microseconds(waited > kShortSleeps ? 200 : 20));
  }
}

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(MPI_Comm parent) {
    MPI_CHECK(MPI_Comm_dup(parent, &comm_));
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    const MpiRankPlace place = mpi_rank_place(comm_);
    rank_ = place.rank;
    world_size_ = place.world_size;
    local_rank_ = place.local_rank;
    local_world_size_ = place.local_world_size;
    host_ = place.host;
    half_ops();  // on this thread, before any collective (Note [16-bit floats on MPI])
    progress_ = std::thread([this] { progress_loop(); });
  }

  ~MpiCommunicator() override {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (progress_.joinable()) progress_.join();
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  int local_rank() const override { return local_rank_; }
  int local_world_size() const override { return local_world_size_; }
  std::string host() const override { return host_; }
  std::string backend() const override { return "mpi"; }
  c10::Device device() const override { return c10::Device(c10::kCPU); }

  // The issue methods check their arguments on the caller's thread and record this rank in
  // any error (Note [Error context]); a CUDA tensor is staged there too (Note [CUDA tensors on
  // MPI]), before the collective takes a sequence number.
  std::shared_ptr<Work> all_reduce_async(const at::Tensor& t, ReduceOp op) override {
    return with_rank(rank_, [&] {
      check_tensor(t, "all_reduce");
      const int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
      PendingOp p;
      p.kind = OpKind::kAllReduce;
      p.op = op;
      p.tensor = stage(p, t, /*mpi_reads=*/true, /*mpi_writes=*/true, "all_reduce");
      return enqueue(std::move(p), "all_reduce", bytes, bytes);
    });
  }

  std::shared_ptr<Work> broadcast_async(const at::Tensor& t, int root) override {
    return with_rank(rank_, [&] {
      check_tensor(t, "broadcast");
      check_count(t, "broadcast");
      FROST_CHECK(root >= 0 && root < world_size_, "broadcast root ", root, " is outside [0, ",
                  world_size_, ")");
      PendingOp p;
      p.kind = OpKind::kBroadcast;
      p.root = root;
      // The root's tensor is sent and left as it is; every other rank's is overwritten.
      p.tensor =
          stage(p, t, /*mpi_reads=*/rank_ == root, /*mpi_writes=*/rank_ != root, "broadcast");
      return enqueue(std::move(p), "broadcast", t.numel() * t.element_size(), 0);
    });
  }

  std::shared_ptr<Work> all_gather_async(const at::Tensor& in, const at::Tensor& out) override {
    return with_rank(rank_, [&] {
      check_tensor(in, "all_gather");
      check_tensor(out, "all_gather");
      check_count(out, "all_gather");
      FROST_CHECK(out.numel() == in.numel() * world_size_ && out.scalar_type() == in.scalar_type(),
                  "all_gather output must have world_size x ", in.numel(), " elements of ",
                  in.scalar_type(), ", got ", out.numel(), " of ", out.scalar_type());
      FROST_CHECK(in.device() == out.device(),
                  "all_gather on the MPI backend needs its input and output on one device, got "
                  "the input on ",
                  in.device(), " and the output on ", out.device());
      PendingOp p;
      p.kind = OpKind::kAllGather;
      p.tensor = stage(p, in, /*mpi_reads=*/true, /*mpi_writes=*/false, "all_gather");
      p.output = stage(p, out, /*mpi_reads=*/false, /*mpi_writes=*/true, "all_gather");
      return enqueue(std::move(p), "all_gather", in.numel() * in.element_size(), 0);
    });
  }

  std::shared_ptr<Work> barrier_async() override {
    return with_rank(rank_, [&] { return enqueue(PendingOp{}, "barrier", 0, 0); });
  }

 private:
  // The backend's tensor contract (comm/communicator.h): defined, dense, contiguous, on the CPU
  // or a CUDA device (Note [CUDA tensors on MPI]), of a dtype MPI has a type for.
  static void check_tensor(const at::Tensor& t, const char* what) {
    FROST_CHECK(t.defined(), what, " on the MPI backend: the tensor is undefined");
    FROST_CHECK(t.device().is_cpu() || t.device().is_cuda(), what,
                " on the MPI backend needs a CPU or CUDA tensor, got one on ", t.device());
    FROST_CHECK(t.layout() == at::kStrided, what,
                " on the MPI backend needs a dense tensor, got layout ", t.layout());
    FROST_CHECK(t.is_contiguous(), what,
                " on the MPI backend needs a contiguous tensor, got sizes ", t.sizes(),
                " with strides ", t.strides(), " (call .contiguous())");
    mpi_dtype(t);
  }

  // What MPI works on for `t`: `t` itself when it is a CPU tensor; for a CUDA tensor, a pinned
  // host buffer of its shape and dtype, into which `t` is copied on the caller's current stream
  // when `mpi_reads`, and from which wait() copies the result into `t` when `mpi_writes`. The
  // event of `p` is (re)recorded on that stream after the copy (Note [CUDA tensors on MPI], step
  // 1). Issuing thread; throws frost::Error naming `what` when allocating or copying fails.
  static at::Tensor stage(PendingOp& p, const at::Tensor& t, bool mpi_reads, bool mpi_writes,
                          const char* what) {
    if (!t.is_cuda()) return t;
    try {
      at::NoGradGuard no_grad;
      auto host =
          at::empty(t.sizes(), at::TensorOptions().dtype(t.scalar_type()).pinned_memory(true));
      if (mpi_reads) host.copy_(t, /*non_blocking=*/true);
      const c10::impl::VirtualGuardImpl guard_impl(t.device().type());
      if (!p.staged) p.staged.emplace(t.device().type());
      p.staged->record(guard_impl.getStream(t.device()));  // the caller's current stream
      p.cuda_tensors.push_back(t);
      if (mpi_writes) {
        p.result_to = t;
        p.result_from = host;
      }
      return host;
    } catch (const c10::Error& e) {
      throw Error(detail::str_cat(
          what, " on the MPI backend: staging the ", t.device(),
          " tensor through pinned host memory failed: ", e.what_without_backtrace()));
    }
  }
  // MPI counts are int; all_reduce splits larger tensors, the other collectives refuse them.
  static void check_count(const at::Tensor& t, const char* what) {
    FROST_CHECK(t.numel() <= INT_MAX, what, " of ", t.numel(),
                " elements on the MPI backend: at most ", INT_MAX, " (MPI counts are int)");
  }

  std::shared_ptr<Work> enqueue(PendingOp p, const char* name, int64_t bytes,
                                int64_t all_reduce_bytes) {
    std::lock_guard<std::mutex> g(mu_);
    const int64_t seq = next_seq_++;
    p.work = std::make_shared<MpiWork>(
        detail::str_cat(name, "(seq=", seq, ", bytes=", bytes, ")"), rank_, timeout(),
        [this](double s) { add_wait_time(s); }, std::move(p.result_to), std::move(p.result_from));
    count_collective(all_reduce_bytes);
    auto work = p.work;
    queue_.push_back(std::move(p));
    cv_.notify_one();
    return work;
  }

  // Starts `p` and drives it to completion; throws frost::Error when MPI fails. An all-reduce
  // above kMpiAllReduceChunkBytes runs as consecutive pieces (see its docstring); every rank
  // cuts the same pieces, as the tensor's size and dtype agree across ranks.
  void run(PendingOp& p) {
    switch (p.kind) {
      case OpKind::kAllReduce: {
        const int64_t n = p.tensor.numel(), elem = p.tensor.element_size();
        const int64_t piece = std::max<int64_t>(1, kMpiAllReduceChunkBytes / elem);
        char* base = static_cast<char*>(p.tensor.data_ptr());
        const MPI_Datatype dtype = mpi_dtype(p.tensor);
        for (int64_t off = 0; off == 0 || off < n; off += piece) {
          const int count = static_cast<int>(std::min(piece, n - off));
          drive("MPI_Iallreduce", [&](MPI_Request* req) {
            return MPI_Iallreduce(MPI_IN_PLACE, base + off * elem, count, dtype,
                                  mpi_op(p.op, p.tensor.scalar_type()), comm_, req);
          });
          if (n == 0) return;
        }
        return;
      }
      case OpKind::kBroadcast:
        drive("MPI_Ibcast", [&](MPI_Request* req) {
          return MPI_Ibcast(p.tensor.data_ptr(), static_cast<int>(p.tensor.numel()),
                            mpi_dtype(p.tensor), p.root, comm_, req);
        });
        return;
      case OpKind::kAllGather:
        drive("MPI_Iallgather", [&](MPI_Request* req) {
          return MPI_Iallgather(p.tensor.data_ptr(), static_cast<int>(p.tensor.numel()),
                                mpi_dtype(p.tensor), p.output.data_ptr(),
                                static_cast<int>(p.tensor.numel()), mpi_dtype(p.tensor), comm_,
                                req);
        });
        return;
      case OpKind::kBarrier:
        drive("MPI_Ibarrier", [&](MPI_Request* req) { return MPI_Ibarrier(comm_, req); });
        return;
    }
    FROST_ASSERT(false, "unknown collective kind ", static_cast<int>(p.kind));
  }

  // Starts one non-blocking MPI call `mpi_call` with `start(&request)` and polls it to
  // completion. Throws frost::Error naming the call, the host and MPI's error string.
  template <typename Start>
  void drive(const char* mpi_call, Start&& start) {
    MPI_Request req = MPI_REQUEST_NULL;
    int rc = start(&req);
    if (rc == MPI_SUCCESS) {
      int flag = 0;
      const auto t0 = Clock::now();
      for (;;) {
        rc = MPI_Test(&req, &flag, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS || flag) break;
        FROST_CHECK(!stop_requested(), "communicator destroyed while a collective was in flight");
        back_off(Clock::now() - t0);
      }
    }
    FROST_CHECK(rc == MPI_SUCCESS, mpi_call, " failed on host ", host_, ": ", mpi_error_string(rc));
  }

  // Note [CUDA tensors on MPI], step 2: returns once the caller's stream has passed the event
  // recorded after the copies into `p`'s buffers (at once without CUDA tensors).
  void wait_until_staged(const PendingOp& p) {
    if (!p.staged) return;
    const auto t0 = Clock::now();
    while (!p.staged->query()) {
      FROST_CHECK(!stop_requested(), "communicator destroyed while a collective was in flight");
      back_off(Clock::now() - t0);
    }
  }

  bool stop_requested() {
    std::lock_guard<std::mutex> g(mu_);
    return stop_;
  }

  void progress_loop() {
    for (;;) {
      PendingOp p;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stop_ and nothing left
        p = std::move(queue_.front());
        queue_.pop_front();
      }
      std::optional<Error> error;
      auto t0 = Clock::now();
      try {
        wait_until_staged(p);
        t0 = Clock::now();
        run(p);
      } catch (Error& e) {
        e.add_context(p.work->what());
        error = e;
      } catch (const c10::Error& e) {
        error = Error(e.what_without_backtrace()).add_context(p.work->what());
      } catch (const std::exception& e) {
        error = Error(e.what()).add_context(p.work->what());
      }
      p.work->finish(std::move(error), std::chrono::duration<double>(Clock::now() - t0).count());
    }
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, world_size_ = 1, local_rank_ = 0, local_world_size_ = 1;
  std::string host_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<PendingOp> queue_;
  bool stop_ = false;
  int64_t next_seq_ = 0;
  std::thread progress_;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(bool world) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  FROST_CHECK(initialised, "make_mpi_communicator: MPI is not initialised (call init_mpi first)");
  return std::make_unique<MpiCommunicator>(world ? MPI_COMM_WORLD : MPI_COMM_SELF);
}

}  // namespace frost::comm
