// MPI backend of the Communicator (CPU tensors).
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
#include "frost/comm/mpi/mpi_communicator.h"

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
      throw Error(detail::str_cat(
          "the MPI backend has no collective for dtype ", t.scalar_type(),
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
  MpiWork(std::string what, int rank, std::chrono::milliseconds default_timeout,
          std::function<void(double)> on_wait)
      : what_(std::move(what)),
        rank_(rank),
        default_timeout_(default_timeout),
        on_wait_(std::move(on_wait)) {}

  void wait(std::chrono::milliseconds timeout) override {
    if (timeout.count() <= 0) timeout = default_timeout_;
    const auto t0 = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lk(mu_);
    const bool ok = cv_.wait_for(lk, timeout, [&] { return done_; });
    const double waited_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::optional<Error> error = error_;
    lk.unlock();
    on_wait_(waited_s);
    if (!ok) {
      TimeoutError timeout_error(
          detail::str_cat(what_, " waited ", static_cast<int64_t>(waited_s * 1000),
                          " ms without completing (dist.timeout_s = ", timeout.count() / 1000.0,
                          "): a peer rank died, hangs, or the network is down"));
      timeout_error.set_rank(rank_);
      throw timeout_error;
    }
    if (error) {
      error->set_rank(rank_);
      throw *error;
    }
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
};

enum class OpKind { kAllReduce, kBroadcast, kAllGather, kBarrier };

struct PendingOp {
  OpKind kind;
  at::Tensor tensor;  // held so the storage stays alive until completion
  at::Tensor output;  // all_gather only
  ReduceOp op = ReduceOp::kSum;
  int root = 0;
  std::shared_ptr<MpiWork> work;
};

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
  // any error (Note [Error context]).
  std::shared_ptr<Work> all_reduce_async(const at::Tensor& t, ReduceOp op) override {
    return with_rank(rank_, [&] {
      check_tensor(t, "all_reduce");
      const int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
      return enqueue(PendingOp{OpKind::kAllReduce, t, {}, op, 0, nullptr}, "all_reduce", bytes,
                     bytes);
    });
  }

  std::shared_ptr<Work> broadcast_async(const at::Tensor& t, int root) override {
    return with_rank(rank_, [&] {
      check_tensor(t, "broadcast");
      check_count(t, "broadcast");
      FROST_CHECK(root >= 0 && root < world_size_, "broadcast root ", root, " is outside [0, ",
                  world_size_, ")");
      return enqueue(PendingOp{OpKind::kBroadcast, t, {}, ReduceOp::kSum, root, nullptr},
                     "broadcast", t.numel() * t.element_size(), 0);
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
      return enqueue(PendingOp{OpKind::kAllGather, in, out, ReduceOp::kSum, 0, nullptr},
                     "all_gather", in.numel() * in.element_size(), 0);
    });
  }

  std::shared_ptr<Work> barrier_async() override {
    return with_rank(rank_, [&] {
      return enqueue(PendingOp{OpKind::kBarrier, {}, {}, ReduceOp::kSum, 0, nullptr}, "barrier", 0,
                     0);
    });
  }

 private:
  // The backend's tensor contract (comm/communicator.h): defined, contiguous, on the CPU, of a
  // dtype MPI has a type for.
  static void check_tensor(const at::Tensor& t, const char* what) {
    FROST_CHECK(t.defined() && t.device().is_cpu() && t.is_contiguous(), what,
                " on the MPI backend needs a defined, contiguous CPU tensor");
    mpi_dtype(t);
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
    p.work = std::make_shared<MpiWork>(detail::str_cat(name, "(seq=", seq, ", bytes=", bytes, ")"),
                                       rank_, timeout(), [this](double s) { add_wait_time(s); });
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
      // Poll for a fixed time, not a fixed count: over shared memory a message completes only
      // while both ranks poll, so a rank that sleeps early makes its peer wait a whole sleep
      // (measured with frost-bench: 16 KiB took ~220 us with 200 spins, not the ~3 us of a
      // plain MPI_Wait). After kSpin the thread backs off to short, then longer, sleeps so
      // that a long all-reduce does not take a core from backward.
      constexpr auto kSpin = std::chrono::microseconds(300);
      constexpr auto kShortSleeps = std::chrono::milliseconds(5);
      const auto t0 = std::chrono::steady_clock::now();
      for (;;) {
        rc = MPI_Test(&req, &flag, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS || flag) break;
        FROST_CHECK(!stop_requested(), "communicator destroyed while a collective was in flight");
        const auto waited = std::chrono::steady_clock::now() - t0;
        if (waited > kSpin) {
          std::this_thread::sleep_for(std::chrono::microseconds(waited > kShortSleeps ? 200 : 20));
        }
      }
    }
    FROST_CHECK(rc == MPI_SUCCESS, mpi_call, " failed on host ", host_, ": ", mpi_error_string(rc));
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
      const auto t0 = std::chrono::steady_clock::now();
      try {
        run(p);
      } catch (Error& e) {
        e.add_context(p.work->what());
        error = e;
      } catch (const c10::Error& e) {
        error = Error(e.what_without_backtrace()).add_context(p.work->what());
      } catch (const std::exception& e) {
        error = Error(e.what()).add_context(p.work->what());
      }
      p.work->finish(std::move(error),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
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
