// NCCL backend of the Communicator: Note [NCCL streams and events] and Note [NCCL watchdog] in
// nccl_communicator.h say how it works.
#include "frost/comm/nccl/nccl_communicator.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/torch.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "frost/comm/mpi/mpi_check.h"
#include "frost/comm/nccl/nccl_check.h"
#include "frost/comm/process.h"
#include "frost/core/device.h"
#include "frost/core/error.h"

namespace frost::comm {

namespace {

using Clock = std::chrono::steady_clock;

int64_t ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The NCCL type of `type`. Throws frost::Error naming `what` for a dtype without one here.
ncclDataType_t nccl_dtype(at::ScalarType type, const char* what) {
  switch (type) {
    case at::kFloat: return ncclFloat32;
    case at::kDouble: return ncclFloat64;
    case at::kHalf: return ncclFloat16;
    case at::kBFloat16: return ncclBfloat16;
    case at::kInt: return ncclInt32;
    case at::kLong: return ncclInt64;
    case at::kByte: return ncclUint8;
    default:
      throw Error(detail::str_cat(what, " on the NCCL backend: no collective for dtype ", type,
                                  "; use float32/float64/float16/bfloat16/int32/int64/uint8"));
  }
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return ncclSum;
    case ReduceOp::kMax: return ncclMax;
    case ReduceOp::kMin: return ncclMin;
  }
  return ncclSum;
}

// A CUDA event, created on the current device.
class Event {
 public:
  explicit Event(unsigned flags) { CUDA_CHECK(cudaEventCreateWithFlags(&event_, flags)); }
  // Destroying an event that is still pending is allowed: CUDA releases it once reached.
  ~Event() {
    if (event_ != nullptr) cudaEventDestroy(event_);
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

// The failure that ended a communicator (Note [NCCL watchdog]), shared with its Work objects.
struct FailureBox {
  std::mutex mu;
  std::exception_ptr error;  // a frost::Error (or TimeoutError); null while healthy

  std::exception_ptr get() {
    std::lock_guard<std::mutex> g(mu);
    return error;
  }
  void rethrow_if_set() {
    if (std::exception_ptr e = get()) std::rethrow_exception(e);
  }
};

// The message of a collective that did not complete in time, in the words of the MPI backend.
std::string timeout_message(const std::string& what, int64_t waited_ms,
                            std::chrono::milliseconds timeout, const char* suffix) {
  return detail::str_cat(what, " waited ", waited_ms,
                         " ms without completing (dist.timeout_s = ", timeout.count() / 1000.0,
                         "): a peer rank died, hangs, or the network is down", suffix);
}

// One issued collective (Note [NCCL streams and events]).
class NcclWork final : public Work {
 public:
  NcclWork(std::string what, int rank, int device, bool host_wait,
           std::chrono::milliseconds timeout, std::vector<at::Tensor> tensors,
           std::shared_ptr<FailureBox> failure, std::function<void(double)> on_wait)
      : what_(std::move(what)),
        rank_(rank),
        device_(device),
        host_wait_(host_wait),
        timeout_(timeout),
        failure_(std::move(failure)),
        on_wait_(std::move(on_wait)),
        start_(cudaEventDefault),  // timing events: duration_s
        end_(cudaEventDefault),
        tensors_(std::move(tensors)) {}

  void wait(std::chrono::milliseconds timeout) override {
    const auto t0 = Clock::now();
    struct AddWaitTime {
      NcclWork* work;
      Clock::time_point t0;
      ~AddWaitTime() { work->on_wait_(seconds_since(t0)); }
    } add_wait_time{this, t0};
    with_rank(rank_, [&] {
      if (poll()) return;  // reached: every stream and the host see the result
      failure_->rethrow_if_set();
      if (host_wait_) {
        wait_on_host(timeout.count() > 0 ? timeout : timeout_, t0);
      } else {
        order_current_stream();
      }
    });
  }

  bool is_completed() override {
    return with_rank(rank_, [&] { return poll(); });
  }

  double duration_s() override {
    if (!is_completed()) return 0.0;
    float ms = 0.0f;
    if (cudaEventElapsedTime(&ms, start_.get(), end_.get()) != cudaSuccess) {
      cudaGetLastError();
      return 0.0;
    }
    return ms / 1000.0;
  }

  // True once the end event has been reached; then the tensors are released. Throws frost::Error
  // when CUDA reports a failure. Any thread.
  bool poll() {
    std::lock_guard<std::mutex> g(mu_);
    if (completed_) return true;
    const cudaError_t rc = cudaEventQuery(end_.get());
    if (rc == cudaErrorNotReady) {
      cudaGetLastError();  // "not ready" is an answer, not an error to report later
      return false;
    }
    if (rc != cudaSuccess) {
      try {
        CUDA_CHECK(rc);
      } catch (Error& e) {
        FROST_RETHROW(e, what_);
      }
    }
    completed_ = true;
    tensors_.clear();
    return true;
  }

  const std::string& what() const { return what_; }
  Clock::time_point issued() const { return issued_; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  cudaEvent_t start_event() const { return start_.get(); }
  cudaEvent_t end_event() const { return end_.get(); }

 private:
  // The caller's current stream on the communicator's device waits for the end event.
  void order_current_stream() {
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
    const cudaStream_t current =
        c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)).stream();
    try {
      CUDA_CHECK(cudaStreamWaitEvent(current, end_.get(), 0));
    } catch (Error& e) {
      FROST_RETHROW(e, what_);
    }
  }

  // A barrier: polls the end event from the host until it is reached or `timeout` has passed.
  void wait_on_host(std::chrono::milliseconds timeout, Clock::time_point t0) {
    for (int polls = 0;; ++polls) {
      if (poll()) return;
      failure_->rethrow_if_set();
      if (Clock::now() - t0 > timeout) {
        throw TimeoutError(timeout_message(what_, ms_since(t0), timeout, ""));
      }
      // Spin briefly (a barrier among ranks that are already there completes in microseconds),
      // then sleep so that a long wait does not take a core.
      if (polls < 200) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(polls < 2000 ? 50 : 500));
      }
    }
  }

  const std::string what_;  // "all_reduce(seq=42, bytes=68)"
  const int rank_;
  const int device_;
  const bool host_wait_;  // barrier: wait() blocks the host
  const std::chrono::milliseconds timeout_;
  const Clock::time_point issued_ = Clock::now();
  const std::shared_ptr<FailureBox> failure_;
  const std::function<void(double)> on_wait_;
  const Event start_, end_;
  std::mutex mu_;
  bool completed_ = false;
  std::vector<at::Tensor> tensors_;  // alive until the end event is reached
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(MPI_Comm parent, int device_index, std::chrono::milliseconds init_timeout)
      : failure_(std::make_shared<FailureBox>()) {
    // A duplicate of the parent carries the bootstrap; it is freed however construction ends.
    MPI_Comm mpi = MPI_COMM_NULL;
    MPI_CHECK(MPI_Comm_dup(parent, &mpi));
    struct FreeMpiComm {
      MPI_Comm* comm;
      ~FreeMpiComm() { MPI_Comm_free(comm); }
    } free_mpi{&mpi};
    MPI_Comm_set_errhandler(mpi, MPI_ERRORS_RETURN);
    const MpiRankPlace place = mpi_rank_place(mpi);
    rank_ = place.rank;
    world_size_ = place.world_size;
    local_rank_ = place.local_rank;
    local_world_size_ = place.local_world_size;
    host_ = place.host;

    with_rank(rank_, [&] {
      select_device(mpi, device_index);
      init_nccl(mpi, init_timeout);
      try {
        const auto device = static_cast<c10::DeviceIndex>(device_);
        c10::cuda::CUDAGuard guard(device);
        stream_.emplace(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device));
        ready_ = std::make_unique<Event>(cudaEventDisableTiming);
        barrier_buf_ = torch::zeros({1}, torch::dtype(torch::kFloat).device(this->device()));
        watchdog_ = std::thread([this] { watchdog_loop(); });
      } catch (...) {
        abort_comm(/*holding_nccl_mu=*/false);
        throw;
      }
    });
  }

  ~NcclCommunicator() override {
    {
      std::lock_guard<std::mutex> g(stop_mu_);
      stop_ = true;
    }
    stop_cv_.notify_all();
    if (watchdog_.joinable()) watchdog_.join();
    // Destroying the communicator is the one place that may block without a watchdog: every
    // wait is bounded (settle) and ends in ncclCommAbort. A destructor cannot report errors.
    try {
      if (aborted_) return;
      // A stream-ordered wait() returns before the collective completes, so collectives may
      // still run here: give each until its own deadline (as the watchdog would), in order.
      bool pending = false;
      {
        std::lock_guard<std::mutex> g(works_mu_);
        for (const auto& work : in_flight_) {
          try {
            while (!work->poll() && Clock::now() - work->issued() <= work->timeout()) {
              std::this_thread::sleep_for(std::chrono::microseconds(200));
            }
            pending = !work->poll();
          } catch (...) {
            pending = true;
          }
          if (pending) break;
        }
      }
      if (pending || failure_->get()) {
        abort_comm(/*holding_nccl_mu=*/false);  // a peer is gone, or the communicator failed
        return;
      }
      c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
      std::lock_guard<std::timed_mutex> g(nccl_mu_);
      const ncclResult_t rc = settle(ncclCommFinalize(comm_), Clock::now() + timeout());
      if (rc == ncclSuccess) {
        ncclCommDestroy(comm_);
        aborted_ = true;  // gone either way
      } else {
        abort_comm(/*holding_nccl_mu=*/true);
      }
    } catch (...) {
      abort_comm(/*holding_nccl_mu=*/false);
    }
  }

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  int local_rank() const override { return local_rank_; }
  int local_world_size() const override { return local_world_size_; }
  std::string host() const override { return host_; }
  std::string backend() const override { return "nccl"; }
  c10::Device device() const override {
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(device_));
  }

  std::shared_ptr<Work> all_reduce_async(const at::Tensor& t, ReduceOp op) override {
    return with_rank(rank_, [&] {
      check_tensor(t, "all_reduce");
      const ncclDataType_t type = nccl_dtype(t.scalar_type(), "all_reduce");
      const int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
      void* data = t.data_ptr();
      const auto count = static_cast<size_t>(t.numel());
      const ncclRedOp_t red = nccl_op(op);
      return issue(
          "all_reduce", bytes, bytes, /*host_wait=*/false, {t}, "ncclAllReduce",
          [&](cudaStream_t s) { return ncclAllReduce(data, data, count, type, red, comm_, s); });
    });
  }

  std::shared_ptr<Work> broadcast_async(const at::Tensor& t, int root) override {
    return with_rank(rank_, [&] {
      check_tensor(t, "broadcast");
      FROST_CHECK(root >= 0 && root < world_size_, "broadcast root ", root, " is outside [0, ",
                  world_size_, ")");
      const ncclDataType_t type = nccl_dtype(t.scalar_type(), "broadcast");
      void* data = t.data_ptr();
      const auto count = static_cast<size_t>(t.numel());
      return issue("broadcast", t.numel() * static_cast<int64_t>(t.element_size()), 0,
                   /*host_wait=*/false, {t}, "ncclBroadcast", [&](cudaStream_t s) {
                     return ncclBroadcast(data, data, count, type, root, comm_, s);
                   });
    });
  }

  std::shared_ptr<Work> all_gather_async(const at::Tensor& in, const at::Tensor& out) override {
    return with_rank(rank_, [&] {
      check_tensor(in, "all_gather");
      check_tensor(out, "all_gather");
      FROST_CHECK(out.numel() == in.numel() * world_size_ && out.scalar_type() == in.scalar_type(),
                  "all_gather output must have world_size x ", in.numel(), " elements of ",
                  in.scalar_type(), ", got ", out.numel(), " of ", out.scalar_type());
      const ncclDataType_t type = nccl_dtype(in.scalar_type(), "all_gather");
      const void* send = in.data_ptr();
      void* recv = out.data_ptr();
      const auto count = static_cast<size_t>(in.numel());
      return issue("all_gather", in.numel() * static_cast<int64_t>(in.element_size()), 0,
                   /*host_wait=*/false, {in, out}, "ncclAllGather", [&](cudaStream_t s) {
                     return ncclAllGather(send, recv, count, type, comm_, s);
                   });
    });
  }

  std::shared_ptr<Work> barrier_async() override {
    return with_rank(rank_, [&] {
      void* data = barrier_buf_.data_ptr();  // zeros: a sum of zeros stays zero
      return issue("barrier", 0, 0, /*host_wait=*/true, {barrier_buf_}, "ncclAllReduce",
                   [&](cudaStream_t s) {
                     return ncclAllReduce(data, data, 1, ncclFloat32, ncclSum, comm_, s);
                   });
    });
  }

 private:
  // ------------------------------------------------------------------ construction

  // Picks this rank's device ("Devices" in the header). Every rank learns whether any rank
  // failed (one MPI_Allreduce), so that all throw here instead of some waiting in the bootstrap.
  void select_device(MPI_Comm mpi, int device_index) {
    std::exception_ptr mine;
    try {
      std::string why;
      const int count = visible_cuda_devices(&why);
      FROST_CHECK(count > 0, "the NCCL backend needs a CUDA device, but host ", host_,
                  " has none that CUDA can use (", why,
                  "); use the mpi backend on machines without GPUs, or check the driver and "
                  "CUDA_VISIBLE_DEVICES");
      if (device_index >= 0) {
        FROST_CHECK(device_index < count, "the NCCL backend was asked for CUDA device ",
                    device_index, ", but host ", host_, " has ", count, " visible");
        device_ = device_index;
      } else {  // the Trainer's rule (Note [Device per rank] in core/device.h)
        const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
        device_ = place_rank(DeviceKind::kCuda, local_rank_, local_world_size_, count,
                             /*shared_gpu=*/false, host_, visible != nullptr ? visible : "")
                      .index;
      }
    } catch (...) {
      mine = std::current_exception();
    }
    int failed = mine ? 1 : 0, failed_ranks = 0;
    MPI_CHECK(MPI_Allreduce(&failed, &failed_ranks, 1, MPI_INT, MPI_SUM, mpi));
    if (mine) std::rethrow_exception(mine);
    FROST_CHECK(failed_ranks == 0, failed_ranks, " of ", world_size_,
                " ranks found no CUDA device for the NCCL backend (their errors say why); this "
                "rank has cuda:",
                device_);
  }

  // Rank 0's ncclUniqueId reaches every rank by MPI_Bcast; then a non-blocking NCCL
  // initialisation on device_, polled until `timeout` (Note [NCCL watchdog]).
  void init_nccl(MPI_Comm mpi, std::chrono::milliseconds timeout) {
    struct Bootstrap {
      int ok = 1;  // 0: rank 0 could not make the id; its own error says why
      ncclUniqueId id;
    } boot;
    std::memset(&boot.id, 0, sizeof boot.id);
    std::exception_ptr id_error;
    if (rank_ == 0) {
      try {
        NCCL_CHECK(ncclGetUniqueId(&boot.id));
      } catch (...) {
        id_error = std::current_exception();
        boot.ok = 0;
      }
    }
    MPI_CHECK(MPI_Bcast(&boot, sizeof boot, MPI_BYTE, 0, mpi));
    if (id_error) std::rethrow_exception(id_error);
    FROST_CHECK(boot.ok, "rank 0 could not create the NCCL unique id (its error says why)");

    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));  // NCCL takes this device
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    const auto t0 = Clock::now();
    const ncclResult_t rc =
        settle(ncclCommInitRankConfig(&comm_, world_size_, boot.id, rank_, &config), t0 + timeout);
    const std::string call = detail::str_cat("ncclCommInitRankConfig(world_size=", world_size_,
                                             ", rank=", rank_, ", device=cuda:", device_, ")");
    if (rc == ncclInProgress) {
      abort_comm(/*holding_nccl_mu=*/false);
      throw TimeoutError(timeout_message(
          call, ms_since(t0), timeout,
          " (NCCL's start-up; NCCL_DEBUG=INFO shows its bootstrap and network choice)"));
    }
    if (rc != ncclSuccess) {
      try {
        throw_nccl_error(rc, call.c_str(), __FILE__, __LINE__, comm_);
      } catch (...) {
        abort_comm(/*holding_nccl_mu=*/false);
        throw;
      }
    }
  }

  // ------------------------------------------------------------------ issue

  // The tensor contract of the header ("Tensors"); throws frost::Error naming `what`.
  void check_tensor(const at::Tensor& t, const char* what) const {
    FROST_CHECK(t.defined(), what, " on the NCCL backend: the tensor is undefined");
    FROST_CHECK(t.is_cuda() && t.device().index() == device_, what,
                " on the NCCL backend needs a tensor on this rank's device cuda:", device_,
                ", got one on ", t.device(),
                t.is_cuda() ? " (another GPU)" : " (move it there with .to(comm.device()))");
    FROST_CHECK(t.layout() == at::kStrided, what,
                " on the NCCL backend needs a dense tensor, got layout ", t.layout());
    FROST_CHECK(t.is_contiguous(), what,
                " on the NCCL backend needs a contiguous tensor, got sizes ", t.sizes(),
                " with strides ", t.strides(), " (call .contiguous())");
    nccl_dtype(t.scalar_type(), what);
  }

  // Issues one collective (Note [NCCL streams and events]): `launch(stream)` makes the NCCL
  // call `nccl_call` on the communicator's stream. Any failure here breaks the communicator:
  // it is aborted and the error, with the collective named, is thrown to the caller.
  template <typename Launch>
  std::shared_ptr<Work> issue(const char* name, int64_t bytes, int64_t all_reduce_bytes,
                              bool host_wait, std::vector<at::Tensor> tensors,
                              const char* nccl_call, Launch&& launch) {
    std::lock_guard<std::timed_mutex> g(nccl_mu_);
    failure_->rethrow_if_set();
    const int64_t seq = next_seq_++;
    const std::string what = detail::str_cat(name, "(seq=", seq, ", bytes=", bytes, ")");
    try {
      const auto device = static_cast<c10::DeviceIndex>(device_);
      c10::cuda::CUDAGuard guard(device);
      const cudaStream_t caller = c10::cuda::getCurrentCUDAStream(device).stream();
      const cudaStream_t own = stream_->stream();
      auto work =
          std::make_shared<NcclWork>(what, rank_, device_, host_wait, timeout(), std::move(tensors),
                                     failure_, [this](double s) { add_wait_time(s); });
      CUDA_CHECK(cudaEventRecord(ready_->get(), caller));
      CUDA_CHECK(cudaStreamWaitEvent(own, ready_->get(), 0));
      CUDA_CHECK(cudaEventRecord(work->start_event(), own));
      const auto t0 = Clock::now();
      const ncclResult_t rc = settle(launch(own), t0 + timeout());
      if (rc == ncclInProgress) {
        throw TimeoutError(timeout_message(nccl_call, ms_since(t0), timeout(),
                                           " (NCCL was still setting up the call)"));
      }
      if (rc != ncclSuccess) throw_nccl_error(rc, nccl_call, __FILE__, __LINE__, comm_);
      CUDA_CHECK(cudaEventRecord(work->end_event(), own));
      count_collective(all_reduce_bytes);
      {
        std::lock_guard<std::mutex> w(works_mu_);
        in_flight_.push_back(work);
      }
      return std::shared_ptr<Work>(std::move(work));
    } catch (Error& e) {
      e.add_context(what);
      e.set_rank(rank_);
      fail(std::current_exception(), /*report=*/false, /*holding_nccl_mu=*/true);
      throw;
    } catch (const c10::Error& e) {
      Error error(e.what_without_backtrace());
      error.add_context(what);
      error.set_rank(rank_);
      fail(std::make_exception_ptr(error), /*report=*/false, /*holding_nccl_mu=*/true);
      throw error;
    }
  }

  // Polls a call that returned ncclInProgress (a non-blocking communicator) with
  // ncclCommGetAsyncError until it is no longer in progress, the communicator was aborted, or
  // `deadline` passed; returns the call's result, ncclInProgress when it never finished. The
  // caller holds nccl_mu_ (or owns comm_ alone, during construction).
  ncclResult_t settle(ncclResult_t rc, Clock::time_point deadline) {
    for (int polls = 0; rc == ncclInProgress; ++polls) {
      if (aborted_ || Clock::now() > deadline) return ncclInProgress;
      if (polls > 100) std::this_thread::sleep_for(std::chrono::microseconds(200));
      ncclResult_t state = ncclInProgress;
      const ncclResult_t query = ncclCommGetAsyncError(comm_, &state);
      rc = query != ncclSuccess ? query : state;
    }
    return rc;
  }

  // ------------------------------------------------------------------ failure

  // Records `error` as the communicator's failure (the first one wins), aborts the
  // communicator, and when `report` hands the error to report_fatal_error (Note [NCCL
  // watchdog]).
  void fail(std::exception_ptr error, bool report, bool holding_nccl_mu) {
    {
      std::lock_guard<std::mutex> g(failure_->mu);
      if (!failure_->error) failure_->error = error;
    }
    if (!report) {
      abort_comm(holding_nccl_mu);
      return;
    }
    // If ncclCommAbort hangs, the guard still ends the job after kNcclAbortGrace.
    auto abort_returned = std::make_shared<std::atomic<bool>>(false);
    std::thread([abort_returned, error] {
      std::this_thread::sleep_for(kNcclAbortGrace);
      if (!*abort_returned) report_failure(error, " (ncclCommAbort had not returned after 10 s)");
    }).detach();
    abort_comm(holding_nccl_mu);
    *abort_returned = true;
    report_failure(error, "");
  }

  // report_fatal_error(the error in `error`), with `note` appended to its message.
  static void report_failure(const std::exception_ptr& error, const char* note) {
    try {
      std::rethrow_exception(error);
    } catch (const Error& e) {
      if (*note == '\0') {
        report_fatal_error(e);
        return;
      }
      Error noted(detail::str_cat(e.message(), note));
      for (auto it = e.context().rbegin(); it != e.context().rend(); ++it) noted.add_context(*it);
      if (e.rank() >= 0) noted.set_rank(e.rank());
      report_fatal_error(noted);
    } catch (const std::exception& e) {
      report_fatal_error(Error(detail::str_cat(e.what(), note)));
    }
  }

  // ncclCommAbort, once. Takes nccl_mu_ unless the caller holds it, but not for longer than a
  // second: an issue stuck inside an NCCL call is what an abort is for.
  void abort_comm(bool holding_nccl_mu) {
    if (aborted_.exchange(true) || comm_ == nullptr) return;
    std::unique_lock<std::timed_mutex> lock(nccl_mu_, std::defer_lock);
    if (!holding_nccl_mu) (void)lock.try_lock_for(std::chrono::seconds(1));
    try {
      c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
      ncclCommAbort(comm_);
    } catch (...) {
      ncclCommAbort(comm_);  // the device could not be made current; abort regardless
    }
  }

  // ------------------------------------------------------------------ watchdog

  void watchdog_loop() {
    std::unique_lock<std::mutex> lk(stop_mu_);
    while (!stop_cv_.wait_for(lk, kNcclWatchdogPoll, [&] { return stop_; })) {
      lk.unlock();
      if (std::exception_ptr problem = check_once()) {
        fail(problem, /*report=*/true, /*holding_nccl_mu=*/false);
        return;  // a failed communicator is watched no more
      }
      lk.lock();
    }
  }

  // One round of Note [NCCL watchdog]; returns the failure it found, or null.
  std::exception_ptr check_once() {
    try {
      if (aborted_) return nullptr;
      ncclResult_t async = ncclSuccess;
      {
        std::unique_lock<std::timed_mutex> lock(nccl_mu_, std::try_to_lock);
        if (lock.owns_lock()) {
          const ncclResult_t rc = ncclCommGetAsyncError(comm_, &async);
          if (rc != ncclSuccess) async = rc;
        }
      }
      std::lock_guard<std::mutex> g(works_mu_);
      while (!in_flight_.empty() && in_flight_.front()->poll()) in_flight_.pop_front();
      if (async != ncclSuccess && async != ncclInProgress) {
        Error error(detail::str_cat("NCCL reported an asynchronous error on host ", host_,
                                    " (device cuda:", device_, "): ", nccl_error_text(async, comm_),
                                    "; the NCCL watchdog aborted the communicator"));
        if (!in_flight_.empty()) error.add_context(in_flight_.front()->what());
        error.set_rank(rank_);
        return std::make_exception_ptr(error);
      }
      if (!in_flight_.empty()) {
        const auto& oldest = in_flight_.front();
        if (Clock::now() - oldest->issued() > oldest->timeout()) {
          TimeoutError error(timeout_message(oldest->what(), ms_since(oldest->issued()),
                                             oldest->timeout(),
                                             "; the NCCL watchdog aborted the communicator"));
          error.set_rank(rank_);
          return std::make_exception_ptr(error);
        }
      }
    } catch (Error& e) {
      e.set_rank(rank_);
      return std::current_exception();
    } catch (const c10::Error& e) {
      Error error(e.what_without_backtrace());
      error.set_rank(rank_);
      return std::make_exception_ptr(error);
    } catch (const std::exception& e) {
      Error error(e.what());
      error.set_rank(rank_);
      return std::make_exception_ptr(error);
    }
    return nullptr;
  }

  int rank_ = 0, world_size_ = 1, local_rank_ = 0, local_world_size_ = 1;
  std::string host_;
  int device_ = -1;
  ncclComm_t comm_ = nullptr;
  std::optional<c10::cuda::CUDAStream> stream_;  // the communicator's own stream
  std::unique_ptr<Event> ready_;                 // recorded on the caller's stream at each issue
  at::Tensor barrier_buf_;                       // one float, zero

  std::timed_mutex nccl_mu_;  // NCCL calls on comm_ (not thread-safe) and next_seq_
  int64_t next_seq_ = 0;
  std::atomic<bool> aborted_{false};  // comm_ aborted or destroyed: no NCCL call on it
  std::shared_ptr<FailureBox> failure_;

  std::mutex works_mu_;
  std::deque<std::shared_ptr<NcclWork>> in_flight_;  // issue order

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread watchdog_;
};

}  // namespace

int visible_cuda_devices(std::string* why) {
  int count = 0;
  const cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess) {
    if (why != nullptr) {
      *why = detail::str_cat("cudaGetDeviceCount: ", cudaGetErrorName(rc), ", ",
                             cudaGetErrorString(rc));
    }
    cudaGetLastError();
    return 0;
  }
  if (count == 0 && why != nullptr) *why = "cudaGetDeviceCount found 0 devices";
  return count;
}

std::unique_ptr<Communicator> make_nccl_communicator(bool world, int device_index,
                                                     std::chrono::milliseconds init_timeout) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  FROST_CHECK(initialised, "make_nccl_communicator: MPI is not initialised (call init_mpi first)");
  return std::make_unique<NcclCommunicator>(world ? MPI_COMM_WORLD : MPI_COMM_SELF, device_index,
                                            init_timeout);
}

}  // namespace frost::comm
