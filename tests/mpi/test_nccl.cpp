// MPI tests of the NCCL backend (comm/nccl/nccl_communicator.h) and of the process layer's
// fatal-error hook it reports through.
//
// GpuNccl.*: what is particular to NCCL (streams, the watchdog, its messages); the contract all
// backends keep is tested over the backends in test_comm_contract.cpp (GpuNccl/CommContract.*).
// GPU tests (Note [MPI test schedule]): ctest gpu.mpi.world1/2 run them; every rank needs its own
// CUDA device, else they skip with the reason, except the watchdog test (G1), which runs in the
// shared-GPU mode of device_target.h, so that it runs on a one-GPU node too. NcclBackend.* and
// ProcessLayer.*: CPU tests, in every mpi.world* run; ctest mpi.nccl_without_device runs
// NcclBackend.* with CUDA_VISIBLE_DEVICES empty, so that the no-device path is tested on GPU
// machines too.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "device_target.h"
#include "frost/comm/process.h"
#include "frost/core/error.h"
#include "mpi_test_util.h"

#if FROST_WITH_CUDA
#include "frost/comm/nccl/nccl_communicator.h"

#include <ATen/cuda/Sleep.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/cuda.h>
#endif

namespace frost::testing {
namespace {


// ------------------------------------------------------------------ CPU tests

// Without a CUDA device, make_communicator("nccl") is a frost::Error on every rank that says
// what is missing, and the job goes on (no crash, no rank left waiting in the bootstrap).
TEST(NcclBackend, WithoutACudaDeviceIsAClearErrorAnyWorld) {
#if FROST_WITH_CUDA
  if (torch::cuda::device_count() > 0) {
    GTEST_SKIP() << "this rank sees a CUDA device; ctest mpi.nccl_without_device runs this test "
                    "with CUDA_VISIBLE_DEVICES empty";
  }
  try {
    comm::make_communicator("nccl");
    ADD_FAILURE() << "make_communicator(\"nccl\") succeeded without a CUDA device";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.rank(), world().rank());
    EXPECT_TRUE(contains(msg, "[rank " + std::to_string(world().rank()) +
                                  "] the NCCL backend needs a CUDA device, but host " +
                                  world().host() +
                                  " has none that CUDA can use (cudaGetDeviceCount"))
        << msg;
    EXPECT_TRUE(contains(msg, "use the mpi backend on machines without GPUs")) << msg;
  }
#else
  try {
    comm::make_communicator("nccl");
    ADD_FAILURE() << "make_communicator(\"nccl\") succeeded in a build without the backend";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "FROST_WITH_CUDA=ON")) << e.what();
  }
#endif
  world().barrier();  // every rank got here: nobody waits in the NCCL bootstrap
  EXPECT_EQ(comm::make_communicator("mpi", comm::Scope::kSelf)->world_size(), 1);
}

// The hook a communicator's background thread reports through (Note [Fatal errors off the main
// thread] in comm/process.h) passes the error, rank and all, to the installed handler.
TEST(ProcessLayer, FatalErrorHandlerReceivesTheErrorAnyWorld) {
  std::string seen;
  int seen_rank = -2;
  comm::set_fatal_error_handler([&](const Error& e) {
    seen = e.what();
    seen_rank = e.rank();
  });
  Error error("all_reduce(seq=3, bytes=8) waited 10 ms without completing");
  error.set_rank(world().rank());
  comm::report_fatal_error(error);
  comm::set_fatal_error_handler(nullptr);
  EXPECT_EQ(seen, "[rank " + std::to_string(world().rank()) +
                      "] all_reduce(seq=3, bytes=8) waited 10 ms without completing");
  EXPECT_EQ(seen_rank, world().rank());
}

// ------------------------------------------------------------------ GPU tests
#if FROST_WITH_CUDA

// An NCCL communicator over the world, or null with the reason in `why` when some rank has no
// CUDA device of its own (NCCL refuses two ranks of one communicator on one GPU). Collective
// over world(): every rank decides the same.
std::unique_ptr<comm::Communicator> nccl_world(std::string* why, int min_devices = 1) {
  const int devices = torch::cuda::device_count();
  const bool ok = devices >= min_devices && world().local_rank() < devices;
  auto all_ok = torch::tensor({ok ? 1 : 0}, torch::kInt);
  world().all_reduce(all_ok, comm::ReduceOp::kMin);
  if (all_ok.item<int>() == 0) {
    *why = "needs one CUDA device per rank (and at least " + std::to_string(min_devices) +
           "); host " + world().host() + " has " + std::to_string(devices) + " for " +
           std::to_string(world().local_world_size()) + " rank(s)";
    return nullptr;
  }
  auto c = comm::make_communicator("nccl");
  c->set_timeout(std::chrono::seconds(120));
  return c;
}

#define FROST_NCCL_OR_SKIP(var, ...)                \
  std::string var##_why;                            \
  auto var = nccl_world(&var##_why, ##__VA_ARGS__); \
  if (!var) GTEST_SKIP() << "NCCL test " << var##_why

torch::TensorOptions on(const comm::Communicator& c, torch::Dtype dtype) {
  return torch::dtype(dtype).device(c.device());
}

// A collective reads what the caller's current stream wrote before the issue, although that
// stream is still busy (a spin kernel) when the collective is issued, and neither the issue nor
// wait() blocks the host for it. all_gather writes a separate output, so an early read shows
// even on one rank.
TEST(GpuNccl, CollectiveWaitsForTheCallersStreamWithoutBlockingTheHostAnyWorld) {
  FROST_NCCL_OR_SKIP(c);
  const int r = c->rank(), w = c->world_size();
  c->barrier();  // connections are set up before anything is timed
  const auto device = static_cast<c10::DeviceIndex>(c->device().index());
  c10::cuda::CUDAStreamGuard on_side(c10::cuda::getStreamFromPool(false, device));
  const int64_t n = 1 << 20;
  auto in = torch::zeros({n}, on(*c, torch::kFloat));
  auto out = torch::zeros({n * w}, on(*c, torch::kFloat));
  const auto t0 = std::chrono::steady_clock::now();
  at::cuda::sleep(int64_t{400} * 1000 * 1000);  // ~0.2 s at 2 GHz on the side stream
  in.fill_(static_cast<float>(r + 1));
  auto work = c->all_gather_async(in, out);
  work->wait();
  const double host_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(host_s, 0.1) << "issue + wait() blocked the host behind the caller's stream";
  auto want = (torch::arange(w, torch::kFloat) + 1).repeat_interleave(n);
  EXPECT_TRUE(torch::equal(out.cpu(), want));  // .cpu() synchronises the side stream
  EXPECT_TRUE(work->is_completed());
  EXPECT_GT(work->duration_s(), 0.0);
}

// Many collectives in flight at once, issued back to back without a wait: they run in issue
// order (each all_gather reads the all-reduce issued just before it), whatever order they are
// waited in; stats count every one.
TEST(GpuNccl, ManyInFlightRunInIssueOrderAnyWorld) {
  FROST_NCCL_OR_SKIP(c);
  const int r = c->rank(), w = c->world_size();
  const auto before = c->stats();
  constexpr int kPairs = 32;
  std::vector<torch::Tensor> sums, gathered;
  std::vector<std::shared_ptr<comm::Work>> works;
  int64_t all_reduce_bytes = 0;
  for (int i = 0; i < kPairs; ++i) {
    const auto dtype = i % 2 == 0 ? torch::kFloat : torch::kLong;
    const int64_t n = 1 + 997 * i;
    sums.push_back(torch::full({n}, r + i, on(*c, dtype)));
    gathered.push_back(torch::empty({n * w}, on(*c, dtype)));
    works.push_back(c->all_reduce_async(sums.back(), comm::ReduceOp::kSum));
    works.push_back(c->all_gather_async(sums.back(), gathered.back()));
    all_reduce_bytes += n * sums.back().element_size();
  }
  for (auto it = works.rbegin(); it != works.rend(); ++it) (*it)->wait();
  for (int i = 0; i < kPairs; ++i) {
    SCOPED_TRACE(i);
    const int64_t total = int64_t{w} * i + int64_t{w} * (w - 1) / 2;
    auto want = torch::full({sums[i].numel()}, total, torch::dtype(sums[i].scalar_type()));
    EXPECT_TRUE(torch::equal(sums[i].cpu(), want));
    EXPECT_TRUE(torch::equal(gathered[i].cpu(), want.repeat({w})));
  }
  const auto after = c->stats();
  EXPECT_EQ(after.collectives - before.collectives, 2 * kPairs);
  EXPECT_EQ(after.all_reduce_bytes - before.all_reduce_bytes, all_reduce_bytes);
  EXPECT_GE(after.wait_s, before.wait_s);
}

// float16 and bfloat16 sums: exact where the values are representable, within the type's
// rounding otherwise (NCCL reduces in the element type; the order of additions may differ
// from the host's).
TEST(GpuNccl, HalfAndBfloat16SumsAnyWorld) {
  FROST_NCCL_OR_SKIP(c);
  const int r = c->rank(), w = c->world_size();
  struct Case {
    torch::Dtype dtype;
    int64_t exact_below;  // integers up to this are exact: 2048 (float16), 256 (bfloat16)
    double rtol;          // a few units of the last place (10 and 7 mantissa bits)
  };
  for (const Case k : {Case{torch::kHalf, 2048, 4e-3}, Case{torch::kBFloat16, 256, 3e-2}}) {
    SCOPED_TRACE(c10::toString(k.dtype));
    const int64_t period = k.exact_below / (w * (w + 1) / 2);  // keeps every sum exact
    auto ints = torch::arange(4096, torch::kLong).remainder(period) * (r + 1);
    auto t = ints.to(on(*c, k.dtype));
    c->all_reduce(t);
    auto want = torch::arange(4096, torch::kLong).remainder(period) * (w * (w + 1) / 2);
    EXPECT_TRUE(torch::equal(t.cpu(), want.to(k.dtype)));
    auto tenth = torch::full({4096}, 0.1 * (r + 1), on(*c, k.dtype));
    c->all_reduce(tenth);
    const double want_sum = 0.1 * w * (w + 1) / 2;
    EXPECT_TRUE(torch::allclose(tenth.cpu().to(torch::kDouble),
                                torch::full({4096}, want_sum, torch::kDouble), k.rtol, 0.0))
        << tenth.cpu().to(torch::kDouble).slice(0, 0, 4);
    auto mx = torch::full({8}, 0.5 * (r + 1), on(*c, k.dtype));
    c->all_reduce(mx, comm::ReduceOp::kMax);
    EXPECT_TRUE(torch::equal(mx.cpu(), torch::full({8}, 0.5 * w, torch::dtype(k.dtype))));
  }
}

// A tensor the backend cannot take is a frost::Error at issue, on the caller's thread, naming
// the collective and this rank; nothing is issued, so the ranks stay in step and the
// communicator keeps working.
TEST(GpuNccl, BadTensorIsRefusedAtIssueAnyWorld) {
  FROST_NCCL_OR_SKIP(c);
  const int r = c->rank(), w = c->world_size();
  const int64_t before = c->stats().collectives;
  auto refused = [&](const std::function<void()>& issue, const std::string& part) {
    try {
      issue();
      ADD_FAILURE() << "issued; expected an error with '" << part << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.rank(), r);
      EXPECT_TRUE(contains(e.what(), part)) << e.what();
    }
  };
  const std::string dev = "cuda:" + std::to_string(c->device().index());
  refused([&] { c->all_reduce_async(torch::ones({4}), comm::ReduceOp::kSum); },
          "all_reduce on the NCCL backend needs a tensor on this rank's device " + dev +
              ", got one on cpu");
  refused(
      [&] {
        c->broadcast_async(torch::ones({4, 3}, on(*c, torch::kFloat)).t(), 0);
      },
      "broadcast on the NCCL backend needs a contiguous tensor");
  refused(
      [&] { c->all_reduce_async(torch::ones({4}, on(*c, torch::kBool)), comm::ReduceOp::kSum); },
      "all_reduce on the NCCL backend: no collective for dtype Bool");
  refused([&] { c->broadcast_async(torch::ones({4}, on(*c, torch::kFloat)), w); },
          "broadcast root " + std::to_string(w) + " is outside [0, " + std::to_string(w) + ")");
  refused(
      [&] {
        c->all_gather_async(torch::ones({4}, on(*c, torch::kFloat)),
                            torch::ones({4 * w + 1}, on(*c, torch::kFloat)));
      },
      "all_gather output must have world_size x 4 elements");
  if (torch::cuda::device_count() > 1) {
    const int other = (c->device().index() + 1) % torch::cuda::device_count();
    refused(
        [&] {
          c->all_reduce_async(
              torch::ones({4}, torch::dtype(torch::kFloat).device(torch::kCUDA, other)),
              comm::ReduceOp::kSum);
        },
        "got one on cuda:" + std::to_string(other) + " (another GPU)");
  }
  EXPECT_EQ(c->stats().collectives, before);
  auto t = torch::ones({4}, on(*c, torch::kFloat));
  c->all_reduce(t);
  EXPECT_TRUE(torch::equal(t.cpu(), torch::full({4}, static_cast<float>(w))));
}

// A barrier's wait() blocks the host (the one stream-ordered exception); other works report
// completion and duration once their end event is reached.
TEST(GpuNccl, BarrierBlocksTheHostAndWorksReportCompletionAnyWorld) {
  FROST_NCCL_OR_SKIP(c);
  auto barrier = c->barrier_async();
  barrier->wait();
  EXPECT_TRUE(barrier->is_completed());
  auto t = torch::ones({1 << 16}, on(*c, torch::kFloat));
  auto work = c->all_reduce_async(t, comm::ReduceOp::kSum);
  work->wait();
  torch::cuda::synchronize(c->device().index());
  EXPECT_TRUE(work->is_completed());
  EXPECT_GT(work->duration_s(), 0.0);
  EXPECT_LT(work->duration_s(), 60.0);
}

// G1 (docs/design.md, GPU field cases) and Note [NCCL watchdog]: rank 1 never joins rank 0's
// second all-reduce. Rank 0's wait() returns at once (stream-ordered); the watchdog sees the
// collective still pending after the timeout, aborts the communicator and reports one error
// naming rank, collective, sequence number and size, within the timeout and the abort's grace
// (kNcclAbortGrace) of the issue; later calls on that communicator throw it, and destroying it
// returns at once (aborted, nothing left to finalize). Rank 1's communicator, whose collectives
// all completed, is destroyed within its timeout. (The handler returns here instead of ending the
// job; e2e.gpu_faults, case hang, checks the whole job.) The ranks share one GPU in the
// shared-GPU mode (device_target.h), so this runs on a one-GPU node.
TEST(GpuNccl, WatchdogAbortsACollectiveThatNeverCompletesWorld2) {
  FROST_GPU_TARGET_OR_SKIP(target);
  auto c = gradient_comm(target);
  const auto timeout = std::chrono::milliseconds(1500);
  c->set_timeout(timeout);
  auto warm = torch::ones({17}, on(*c, torch::kFloat));
  c->all_reduce(warm);  // seq=0: NCCL's connections exist before rank 1 stays away
  torch::cuda::synchronize(c->device().index());
  std::atomic<bool> reported{false};
  std::string message;
  comm::set_fatal_error_handler([&](const Error& e) {
    message = e.what();
    reported = true;
  });
  if (c->rank() == 0) {
    auto t = torch::ones({17}, on(*c, torch::kFloat));
    const auto issued = std::chrono::steady_clock::now();
    auto work = c->all_reduce_async(t, comm::ReduceOp::kSum);
    work->wait();  // returns: only the stream waits
    while (!reported && std::chrono::steady_clock::now() - issued < std::chrono::seconds(30)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_TRUE(reported) << "the watchdog reported nothing within 30 s";
    const auto reported_after = std::chrono::steady_clock::now() - issued;
    EXPECT_GE(reported_after, timeout);
    EXPECT_LE(reported_after, timeout + comm::kNcclAbortGrace + std::chrono::seconds(1))
        << "reported "
        << std::chrono::duration_cast<std::chrono::milliseconds>(reported_after).count()
        << " ms after the issue";
    EXPECT_EQ(message.rfind("[rank 0] all_reduce(seq=1, bytes=68) waited ", 0), 0u) << message;
    EXPECT_TRUE(contains(message, "without completing (dist.timeout_s = 1.5)")) << message;
    EXPECT_TRUE(contains(message, "the NCCL watchdog aborted the communicator")) << message;
    EXPECT_THROW(c->all_reduce_async(t, comm::ReduceOp::kSum), TimeoutError);
  }
  const int rank = c->rank();
  world().barrier();  // rank 1 keeps its communicator until rank 0 has seen the report
  const auto t0 = std::chrono::steady_clock::now();
  c.reset();  // rank 0: aborted already; rank 1: its peer is gone, bounded by the timeout
  const auto destroyed_after = std::chrono::steady_clock::now() - t0;
  comm::set_fatal_error_handler(nullptr);
  EXPECT_LE(destroyed_after,
            rank == 0 ? std::chrono::milliseconds(1000) : timeout + std::chrono::milliseconds(1000))
      << "rank " << rank << ": destroying the communicator took "
      << std::chrono::duration_cast<std::chrono::milliseconds>(destroyed_after).count() << " ms";
  EXPECT_FALSE(rank == 1 && reported) << message;
}

#else  // !FROST_WITH_CUDA

TEST(GpuNccl, BuildHasNoNcclBackendAnyWorld) {
  GTEST_SKIP() << "this build has no NCCL backend (configured with FROST_WITH_CUDA=OFF)";
}

#endif  // FROST_WITH_CUDA

}  // namespace
}  // namespace frost::testing
