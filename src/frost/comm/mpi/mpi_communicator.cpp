// MPI backend of the Communicator (CPU tensors).
//
// Note [MPI progress thread]
// OpenMPI progresses non-blocking collectives only inside MPI calls. To overlap the
// all-reduce of a gradient bucket with the rest of backward, every collective of a
// communicator runs on one progress thread that owns the communicator: it takes issued
// operations in FIFO order (so the collective order on every rank is the issue order,
// Note [Collective order]), starts them with MPI_I* and drives them with MPI_Test, backing
// off from spinning to short sleeps so that an idle rank does not steal a core from the
// compute threads (see run()). Callers block in Work::wait on a condition variable with a timeout;
// the timeout is what turns a dead or partitioned peer into an error instead of a hang.
#include "frost/comm/communicator.h"

#include <mpi.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "frost/core/error.h"
#include "frost/core/fault_injection.h"

#define MPI_CHECK(call, rank)                                                         \
  do {                                                                                \
    int mpi_rc_ = (call);                                                             \
    if (mpi_rc_ != MPI_SUCCESS) {                                                     \
      char mpi_msg_[MPI_MAX_ERROR_STRING];                                            \
      int mpi_len_ = 0;                                                               \
      MPI_Error_string(mpi_rc_, mpi_msg_, &mpi_len_);                                 \
      throw ::frost::Error(::frost::detail::str_cat("[rank ", (rank), "] ", #call,    \
                                                    " failed at ", __FILE__, ":",     \
                                                    __LINE__, ": ", mpi_msg_));       \
    }                                                                                 \
  } while (0)

namespace frost::comm {

// ---------------------------------------------------------------- Communicator base
struct Communicator::StatsBox {
  std::mutex mu;
  CommStats stats;
};

Communicator::Communicator() : stats_(std::make_shared<StatsBox>()) {}

void Communicator::all_reduce(const at::Tensor& t, ReduceOp op) { all_reduce_async(t, op)->wait(); }
void Communicator::broadcast(const at::Tensor& t, int root) { broadcast_async(t, root)->wait(); }
void Communicator::all_gather(const at::Tensor& in, const at::Tensor& out) {
  all_gather_async(in, out)->wait();
}
void Communicator::barrier() { barrier_async()->wait(); }

CommStats Communicator::stats() const {
  std::lock_guard<std::mutex> g(stats_->mu);
  return stats_->stats;
}
void Communicator::reset_stats() {
  std::lock_guard<std::mutex> g(stats_->mu);
  stats_->stats = CommStats{};
}
void Communicator::add_wait_time(double s) {
  std::lock_guard<std::mutex> g(stats_->mu);
  stats_->stats.wait_s += s;
}
void Communicator::count_collective(int64_t all_reduce_bytes) {
  std::lock_guard<std::mutex> g(stats_->mu);
  stats_->stats.collectives += 1;
  stats_->stats.all_reduce_bytes += all_reduce_bytes;
}

// ---------------------------------------------------------------- MPI setup
namespace {
bool g_we_initialised = false;

MPI_Datatype mpi_dtype(const at::Tensor& t, int rank) {
  switch (t.scalar_type()) {
    case at::kFloat: return MPI_FLOAT;
    case at::kDouble: return MPI_DOUBLE;
    case at::kInt: return MPI_INT32_T;
    case at::kLong: return MPI_INT64_T;
    case at::kByte: return MPI_UINT8_T;
    default:
      throw Error(detail::str_cat("[rank ", rank, "] the MPI backend has no collective for dtype ",
                                  t.scalar_type(), "; use float32/float64/int32/int64/uint8"));
  }
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return MPI_SUM;
    case ReduceOp::kMax: return MPI_MAX;
    case ReduceOp::kMin: return MPI_MIN;
  }
  return MPI_SUM;
}
}  // namespace

void init_mpi(int* argc, char*** argv) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (initialised) return;
  int provided = 0;
  MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided), "?");
  g_we_initialised = true;
  FROST_CHECK(provided >= MPI_THREAD_MULTIPLE,
              "the MPI library provides thread level ", provided,
              " but Frost needs MPI_THREAD_MULTIPLE (each communicator runs its collectives "
              "on its own progress thread); use an MPI built with thread support");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

void finalize_mpi() {
  int initialised = 0, finalized = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalized);
  if (initialised && !finalized && g_we_initialised) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    fault::maybe_fault(fault::plan_from_env(), rank, "finalize");  // FROST_FAULT_INJECT
    MPI_Finalize();
  }
}

int agree_on_startup_error(Communicator& comm, const std::string& error, const char* program) {
  auto failed = torch::tensor({error.empty() ? 0 : 1}, torch::kInt);
  comm.all_reduce(failed, ReduceOp::kSum);
  const int failed_ranks = failed.item<int>();
  const bool all_failed = failed_ranks == comm.world_size();
  if (!error.empty() && (comm.rank() == 0 || !all_failed)) {
    const std::string prefix = all_failed ? "" : "[rank " + std::to_string(comm.rank()) + "] ";
    std::fprintf(stderr, "%s: error: %s%s\n", program, prefix.c_str(), error.c_str());
    std::fflush(stderr);
  }
  return failed_ranks;
}

void abort_job(int exit_code) {
  int initialised = 0, finalized = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalized);
  if (initialised && !finalized) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

// ---------------------------------------------------------------- MPI communicator
namespace {

class MpiWork final : public Work {
 public:
  MpiWork(std::string what, int rank, std::chrono::milliseconds default_timeout,
          std::function<void(double)> on_wait)
      : what_(std::move(what)), rank_(rank), default_timeout_(default_timeout),
        on_wait_(std::move(on_wait)) {}

  void wait(std::chrono::milliseconds timeout) override {
    if (timeout.count() <= 0) timeout = default_timeout_;
    const auto t0 = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lk(mu_);
    const bool ok = cv_.wait_for(lk, timeout, [&] { return done_; });
    const double waited_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    lk.unlock();
    on_wait_(waited_s);
    if (!ok) {
      throw TimeoutError(detail::str_cat(
          "[rank ", rank_, "] ", what_, " waited ", static_cast<int64_t>(waited_s * 1000),
          " ms without completing (dist.timeout_s = ", timeout.count() / 1000.0,
          "): a peer rank died, hangs, or the network is down"));
    }
    if (!error_.empty()) throw Error(error_);
  }

  bool is_completed() override {
    std::lock_guard<std::mutex> g(mu_);
    return done_;
  }

  double duration_s() override {
    std::lock_guard<std::mutex> g(mu_);
    return done_ ? duration_s_ : 0.0;
  }

  void finish(std::string error, double duration_s) {
    {
      std::lock_guard<std::mutex> g(mu_);
      done_ = true;
      error_ = std::move(error);
      duration_s_ = duration_s;
    }
    cv_.notify_all();
  }

 private:
  std::string what_;
  int rank_;
  std::chrono::milliseconds default_timeout_;
  std::function<void(double)> on_wait_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::string error_;
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
    MPI_CHECK(MPI_Comm_dup(parent, &comm_), "?");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &world_size_);
    MPI_Comm local;
    MPI_CHECK(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local),
              rank_);
    MPI_Comm_rank(local, &local_rank_);
    MPI_Comm_size(local, &local_world_size_);
    MPI_Comm_free(&local);
    char name[MPI_MAX_PROCESSOR_NAME];
    int len = 0;
    MPI_Get_processor_name(name, &len);
    host_.assign(name, len);
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

  std::shared_ptr<Work> all_reduce_async(const at::Tensor& t, ReduceOp op) override {
    check_tensor(t, "all_reduce");
    const int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
    PendingOp p{OpKind::kAllReduce, t, {}, op, 0, nullptr};
    return enqueue(std::move(p), "all_reduce", bytes, bytes);
  }

  std::shared_ptr<Work> broadcast_async(const at::Tensor& t, int root) override {
    check_tensor(t, "broadcast");
    check_count(t, "broadcast");
    FROST_CHECK(root >= 0 && root < world_size_, "[rank ", rank_, "] broadcast root ", root,
                " is outside [0, ", world_size_, ")");
    PendingOp p{OpKind::kBroadcast, t, {}, ReduceOp::kSum, root, nullptr};
    return enqueue(std::move(p), "broadcast", t.numel() * t.element_size(), 0);
  }

  std::shared_ptr<Work> all_gather_async(const at::Tensor& in, const at::Tensor& out) override {
    check_tensor(in, "all_gather");
    check_tensor(out, "all_gather");
    check_count(out, "all_gather");
    FROST_CHECK(out.numel() == in.numel() * world_size_ && out.scalar_type() == in.scalar_type(),
                "[rank ", rank_, "] all_gather output must have world_size x ", in.numel(),
                " elements of ", in.scalar_type(), ", got ", out.numel(), " of ",
                out.scalar_type());
    PendingOp p{OpKind::kAllGather, in, out, ReduceOp::kSum, 0, nullptr};
    return enqueue(std::move(p), "all_gather", in.numel() * in.element_size(), 0);
  }

  std::shared_ptr<Work> barrier_async() override {
    PendingOp p{OpKind::kBarrier, {}, {}, ReduceOp::kSum, 0, nullptr};
    return enqueue(std::move(p), "barrier", 0, 0);
  }

 private:
  void check_tensor(const at::Tensor& t, const char* what) const {
    FROST_CHECK(t.defined() && t.device().is_cpu() && t.is_contiguous(), "[rank ", rank_, "] ",
                what, " on the MPI backend needs a defined, contiguous CPU tensor");
  }
  // MPI counts are int; all_reduce splits larger tensors, the other collectives refuse them.
  void check_count(const at::Tensor& t, const char* what) const {
    FROST_CHECK(t.numel() <= INT_MAX, "[rank ", rank_, "] ", what, " of ", t.numel(),
                " elements on the MPI backend: at most ", INT_MAX, " (MPI counts are int)");
  }

  std::shared_ptr<Work> enqueue(PendingOp p, const char* name, int64_t bytes,
                                int64_t all_reduce_bytes) {
    std::lock_guard<std::mutex> g(mu_);
    const int64_t seq = next_seq_++;
    p.work = std::make_shared<MpiWork>(
        detail::str_cat(name, "(seq=", seq, ", bytes=", bytes, ")"), rank_, timeout(),
        [this](double s) { add_wait_time(s); });
    count_collective(all_reduce_bytes);
    auto work = p.work;
    queue_.push_back(std::move(p));
    cv_.notify_one();
    return work;
  }

  // Starts `p` and drives it to completion; returns an error message or "". An all-reduce
  // above kMpiAllReduceChunkBytes runs as consecutive pieces (see its docstring); every rank
  // cuts the same pieces, as the tensor's size and dtype agree across ranks.
  std::string run(PendingOp& p) {
    switch (p.kind) {
      case OpKind::kAllReduce: {
        const int64_t n = p.tensor.numel(), elem = p.tensor.element_size();
        const int64_t piece = std::max<int64_t>(1, kMpiAllReduceChunkBytes / elem);
        char* base = static_cast<char*>(p.tensor.data_ptr());
        const MPI_Datatype dtype = mpi_dtype(p.tensor, rank_);
        for (int64_t off = 0; off == 0 || off < n; off += piece) {
          const int count = static_cast<int>(std::min(piece, n - off));
          std::string err = drive([&](MPI_Request* req) {
            return MPI_Iallreduce(MPI_IN_PLACE, base + off * elem, count, dtype, mpi_op(p.op), comm_, req);
          });
          if (!err.empty() || n == 0) return err;
        }
        return "";
      }
      case OpKind::kBroadcast:
        return drive([&](MPI_Request* req) {
          return MPI_Ibcast(p.tensor.data_ptr(), static_cast<int>(p.tensor.numel()),
                            mpi_dtype(p.tensor, rank_), p.root, comm_, req);
        });
      case OpKind::kAllGather:
        return drive([&](MPI_Request* req) {
          return MPI_Iallgather(p.tensor.data_ptr(), static_cast<int>(p.tensor.numel()),
                                mpi_dtype(p.tensor, rank_), p.output.data_ptr(),
                                static_cast<int>(p.tensor.numel()), mpi_dtype(p.tensor, rank_),
                                comm_, req);
        });
      case OpKind::kBarrier:
        return drive([&](MPI_Request* req) { return MPI_Ibarrier(comm_, req); });
    }
    return "unknown collective";
  }

  // Starts one non-blocking MPI call with `start(&request)` and polls it to completion;
  // returns an error message or "".
  template <typename Start>
  std::string drive(Start&& start) {
    MPI_Request req = MPI_REQUEST_NULL;
    int rc = start(&req);
    if (rc == MPI_SUCCESS) {
      int flag = 0;
      // Poll for a fixed time, not a fixed count: over shared memory a message completes only
      // while both ranks poll, so a rank that sleeps early makes its peer wait a whole sleep
      // (measured with frost-bench: 16 KiB took ~220 us with 200 spins, not the ~3 us of a
      // plain MPI_Wait). After kSpin the thread backs off to short, then longer, sleeps so that a
      // long all-reduce does not take a core from backward.
      constexpr auto kSpin = std::chrono::microseconds(300);
      constexpr auto kShortSleeps = std::chrono::milliseconds(5);
      const auto t0 = std::chrono::steady_clock::now();
      for (;;) {
        rc = MPI_Test(&req, &flag, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS || flag) break;
        if (stop_requested()) return "communicator destroyed while a collective was in flight";
        const auto waited = std::chrono::steady_clock::now() - t0;
        if (waited > kSpin) {
          std::this_thread::sleep_for(std::chrono::microseconds(waited > kShortSleeps ? 200 : 20));
        }
      }
    }
    if (rc != MPI_SUCCESS) {
      char msg[MPI_MAX_ERROR_STRING];
      int len = 0;
      MPI_Error_string(rc, msg, &len);
      return detail::str_cat("[rank ", rank_, "] MPI collective failed: ", std::string(msg, len));
    }
    return "";
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
      std::string err;
      const auto t0 = std::chrono::steady_clock::now();
      try {
        err = run(p);
      } catch (const std::exception& e) {
        err = e.what();
      }
      p.work->finish(std::move(err),
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
