// The Communicator contract (comm/communicator.h), one test body per rule, run over a table of
// backend cases:
//   MpiCpu/CommContract.*      the MPI backend with CPU tensors: every mpi.world* run
//   GpuMpiCuda/CommContract.*  the MPI backend with CUDA tensors (Note [CUDA tensors on MPI])
//   GpuNccl/CommContract.*     the NCCL backend
// The Gpu* instances are GPU tests (Note [MPI test schedule]): ctest gpu.mpi.world1/2 run them,
// and they skip with the reason where a rank has no CUDA device (NCCL: no device of its own) or
// the build has no NCCL backend. What is particular to one backend is tested with it:
// test_comm_reducer.cpp (MPI), test_nccl.cpp (NCCL), GpuMpiCuda.* below (MPI's staging).
#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "frost/core/error.h"
#include "frost/distributed/grad_reducer.h"
#include "mpi_test_util.h"

#if FROST_WITH_CUDA
#include <ATen/cuda/Sleep.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace frost::testing {
namespace {


double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// ------------------------------------------------------------------ backend cases

struct BackendCase {
  const char* backend;  // make_communicator's name
  bool cuda_tensors;    // the tests' tensors live on a CUDA device
  bool host_wait;       // Work::wait blocks the host until the collective completes (MPI)
};

// How gtest names a case in its messages ("GetParam() = mpi with CUDA tensors").
void PrintTo(const BackendCase& k, std::ostream* os) {
  *os << k.backend << (k.cuda_tensors ? " with CUDA tensors" : " with CPU tensors");
}

const BackendCase kMpiCpu{"mpi", false, true};
const BackendCase kMpiCuda{"mpi", true, true};
const BackendCase kNccl{"nccl", true, false};

// True on every rank when `mine` is true on every rank (collective over world()).
bool all_ranks(bool mine) {
  auto ok = torch::tensor({mine ? 1 : 0}, torch::kInt);
  world().all_reduce(ok, comm::ReduceOp::kMin);
  return ok.item<int>() == 1;
}

// The communicator of `k` over the world and the device of its tensors, or null with the reason
// in `why` when this machine cannot run the case. Collective over world(): every rank decides
// the same, so that no rank waits in a collective its peers skipped.
std::unique_ptr<comm::Communicator> make_case(const BackendCase& k, c10::Device* device,
                                              std::string* why) {
  const std::vector<std::string> built = comm::communicator_backends();
  if (std::find(built.begin(), built.end(), k.backend) == built.end()) {
    *why = std::string("this build has no ") + k.backend +
           " backend (configured with FROST_WITH_CUDA=OFF)";
    return nullptr;
  }
  if (k.cuda_tensors) {
    const int devices = static_cast<int>(torch::cuda::device_count());
    // NCCL needs a device per rank; MPI stages through the host, so ranks may share one.
    const bool nccl = std::string(k.backend) == "nccl";
    const bool ok = nccl ? world().local_rank() < devices : devices > 0;
    if (!all_ranks(ok)) {
      *why = std::string(nccl ? "needs one CUDA device per rank" : "needs a CUDA device") +
             "; host " + world().host() + " has " + std::to_string(devices) + " for " +
             std::to_string(world().local_world_size()) + " rank(s)";
      return nullptr;
    }
    *device =
        c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(world().local_rank() % devices));
  }
  auto c = comm::make_communicator(k.backend);
  c->set_timeout(std::chrono::seconds(120));
  if (!k.cuda_tensors) *device = c10::Device(c10::kCPU);
  if (std::string(k.backend) == "nccl") *device = c->device();
  return c;
}

class CommContract : public ::testing::TestWithParam<BackendCase> {
 protected:
  void SetUp() override {
    std::string why;
    comm_ = make_case(GetParam(), &device_, &why);
    if (!comm_) GTEST_SKIP() << GetParam().backend << " with CUDA tensors: " << why;
  }

  comm::Communicator& c() { return *comm_; }
  torch::TensorOptions on(torch::Dtype dtype) const { return torch::dtype(dtype).device(device_); }

  c10::Device device_{c10::kCPU};
  std::unique_ptr<comm::Communicator> comm_;
};

INSTANTIATE_TEST_SUITE_P(MpiCpu, CommContract, ::testing::Values(kMpiCpu));
INSTANTIATE_TEST_SUITE_P(GpuMpiCuda, CommContract, ::testing::Values(kMpiCuda));
INSTANTIATE_TEST_SUITE_P(GpuNccl, CommContract, ::testing::Values(kNccl));

// ------------------------------------------------------------------ contract tests

// Every collective and every dtype of the contract, with values exact in each dtype (at most 26
// for 4 ranks: uint8, float16 and bfloat16 hold them exactly) and differing per element, so
// that a misplaced element shows. Blocking forms; .cpu() reads on the current stream, which
// wait() ordered (NCCL) or synchronised (MPI). stats() counts every collective and the
// all-reduce payload.
TEST_P(CommContract, EveryCollectiveAndDtypeAnyWorld) {
  const int r = c().rank(), w = c().world_size();
  EXPECT_EQ(c().backend(), GetParam().backend);
  // device(): the CPU for MPI, whatever tensors it is given; this rank's GPU for NCCL.
  EXPECT_EQ(c().device(),
            std::string(GetParam().backend) == "nccl"
                ? c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(c().local_rank()))
                : c10::Device(c10::kCPU));
  const comm::CommStats before = c().stats();
  int64_t all_reduce_bytes = 0, collectives = 0;
  const int64_t n = 37;
  const auto pattern = torch::arange(n, torch::kLong).remainder(5);  // 0..4
  for (const auto dtype : {torch::kFloat, torch::kDouble, torch::kHalf, torch::kBFloat16,
                           torch::kInt, torch::kLong, torch::kByte}) {
    SCOPED_TRACE(c10::toString(dtype));
    const auto want = [&](const torch::Tensor& longs) { return longs.to(dtype); };
    // rank r holds pattern + r + 1
    auto sum = (pattern + (r + 1)).to(on(dtype));
    c().all_reduce(sum, comm::ReduceOp::kSum);
    EXPECT_EQ(sum.scalar_type(), dtype);
    EXPECT_EQ(sum.device(), device_);
    EXPECT_TRUE(torch::equal(sum.cpu(), want(pattern * w + w * (w + 1) / 2)));
    auto mx = (pattern + (r + 1)).to(on(dtype));
    c().all_reduce(mx, comm::ReduceOp::kMax);
    EXPECT_TRUE(torch::equal(mx.cpu(), want(pattern + w)));
    auto mn = (pattern + (r + 1)).to(on(dtype));
    c().all_reduce(mn, comm::ReduceOp::kMin);
    EXPECT_TRUE(torch::equal(mn.cpu(), want(pattern + 1)));
    all_reduce_bytes += 3 * n * static_cast<int64_t>(sum.element_size());
    // rank r holds pattern + 5 r; the last rank is the root
    auto b = (pattern + 5 * r).to(on(dtype));
    c().broadcast(b, w - 1);
    EXPECT_TRUE(torch::equal(b.cpu(), want(pattern + 5 * (w - 1))));
    // rank r sends pattern + r; the output starts as 99 everywhere
    auto in = (pattern + r).to(on(dtype));
    auto out = torch::full({n * w}, 99, on(dtype));
    c().all_gather(in, out);
    EXPECT_TRUE(torch::equal(out.cpu(), want(pattern.repeat({w}) +
                                             torch::arange(w, torch::kLong).repeat_interleave(n))));
    EXPECT_TRUE(torch::equal(in.cpu(), want(pattern + r))) << "all_gather changed its input";
    collectives += 5;
  }
  c().barrier();
  collectives += 1;
  const comm::CommStats after = c().stats();
  EXPECT_EQ(after.collectives - before.collectives, collectives);
  EXPECT_EQ(after.all_reduce_bytes - before.all_reduce_bytes, all_reduce_bytes);
  EXPECT_GE(after.wait_s, before.wait_s);
  const std::vector<std::string> hosts = c().all_hosts();  // all_gather on device()
  ASSERT_EQ(static_cast<int>(hosts.size()), w);
  EXPECT_EQ(hosts[r], c().host());
}

// Collectives of every kind, sizes and dtypes issued back to back without a wait run in issue
// order on every rank (Note [Collective order]: a backend that ran them in another order would
// pair collectives of different kinds or sizes across ranks, an error or wrong sums), whatever
// order they are waited in. Each has its own tensors: a tensor in flight belongs to the backend.
TEST_P(CommContract, OutstandingCollectivesRunInIssueOrderAnyWorld) {
  const int r = c().rank(), w = c().world_size();
  constexpr int kCollectives = 24;
  std::vector<torch::Tensor> tensors, outputs, wants;
  std::vector<std::shared_ptr<comm::Work>> works;
  for (int i = 0; i < kCollectives; ++i) {
    const auto dtype = i % 4 < 2 ? torch::kFloat : torch::kLong;
    const int64_t n = 1 + 997 * i;
    const auto base = torch::arange(n, torch::kLong).remainder(7) + i;
    switch (i % 3) {
      case 0:  // all_reduce: sum of base + r
        tensors.push_back((base + r).to(on(dtype)));
        outputs.push_back(tensors.back());
        wants.push_back((base * w + w * (w - 1) / 2).to(dtype));
        works.push_back(c().all_reduce_async(tensors.back(), comm::ReduceOp::kSum));
        break;
      case 1: {  // broadcast from rank i % w
        const int root = i % w;
        tensors.push_back((base + 100 * r).to(on(dtype)));
        outputs.push_back(tensors.back());
        wants.push_back((base + 100 * root).to(dtype));
        works.push_back(c().broadcast_async(tensors.back(), root));
        break;
      }
      default:  // all_gather of base + r
        tensors.push_back((base + r).to(on(dtype)));
        outputs.push_back(torch::zeros({n * w}, on(dtype)));
        wants.push_back(
            (base.repeat({w}) + torch::arange(w, torch::kLong).repeat_interleave(n)).to(dtype));
        works.push_back(c().all_gather_async(tensors.back(), outputs.back()));
    }
  }
  auto barrier = c().barrier_async();
  barrier->wait();
  for (int i = kCollectives - 1; i >= 0; --i) works[i]->wait();  // out of order: fine
  for (int i = 0; i < kCollectives; ++i) {
    SCOPED_TRACE(i);
    EXPECT_TRUE(torch::equal(outputs[i].cpu(), wants[i]));
  }
}

// An all-reduce above kMpiAllReduceChunkBytes, which the MPI backend runs as several MPI calls:
// every element, on either side of each piece boundary and in the short last piece, is reduced
// exactly once, for 4- and 8-byte types and for kSum and kMax. (NCCL has no such pieces: there
// the test is a large all-reduce.)
TEST_P(CommContract, AllReduceInPiecesReducesEveryElementOnceAnyWorld) {
  const int r = c().rank(), w = c().world_size();
  const int64_t n4 = 2 * comm::kMpiAllReduceChunkBytes / 4 + 3;  // two whole pieces and 3
  const auto base4 = torch::arange(n4, torch::kInt).remainder(1000).to(torch::kFloat);
  auto f = (base4 + r).to(on(torch::kFloat));
  c().all_reduce(f, comm::ReduceOp::kSum);
  EXPECT_TRUE(torch::equal(f.cpu(), base4 * w + w * (w - 1) / 2));
  const int64_t n8 = comm::kMpiAllReduceChunkBytes / 8 + 1;  // one whole piece and 1
  auto l = torch::arange(n8, torch::kLong).mul_(w).add_(r).to(on(torch::kLong));
  c().all_reduce(l, comm::ReduceOp::kMax);
  const auto got = l.cpu();
  EXPECT_TRUE(torch::equal(got, torch::arange(n8, torch::kLong).mul_(w).add_(w - 1)));
  EXPECT_EQ(got[n8 - 1].item<int64_t>(), (n8 - 1) * w + w - 1);
}

// wait() may be called more than once and from any thread, also at the same time; the result
// reaches the tensor once: what the caller writes after the first wait() returned stays (a
// second copy of the result, as MPI makes for a CUDA tensor, would overwrite it).
TEST_P(CommContract, WaitTwiceAndFromOtherThreadsAnyWorld) {
  const int r = c().rank(), w = c().world_size();
  auto t = torch::full({1000}, r + 1, on(torch::kFloat));
  auto work = c().all_reduce_async(t, comm::ReduceOp::kSum);
  std::vector<std::string> errors(3);
  auto wait_on = [&](int k) {
    try {
      work->wait();
    } catch (const std::exception& e) {
      errors[k] = e.what();
    }
  };
  std::thread a(wait_on, 0), b(wait_on, 1);
  wait_on(2);
  a.join();
  b.join();
  for (const std::string& e : errors) EXPECT_EQ(e, "");
  EXPECT_TRUE(torch::equal(t.cpu(), torch::full({1000}, w * (w + 1) / 2.0f)));
  EXPECT_TRUE(work->is_completed());  // .cpu() synchronised the stream wait() ordered
  EXPECT_GT(work->duration_s(), 0.0);
  t.fill_(-5.0f);
  work->wait();
  std::thread([&] { wait_on(0); }).join();
  EXPECT_EQ(errors[0], "");
  EXPECT_TRUE(torch::equal(t.cpu(), torch::full({1000}, -5.0f)))
      << "a later wait() wrote the result again";
  auto barrier = c().barrier_async();
  barrier->wait();
  barrier->wait();
  EXPECT_TRUE(barrier->is_completed());
}

// A collective that does not complete within the wait's timeout throws frost::TimeoutError
// naming the rank, the collective, its sequence number and payload; a later wait() with a
// longer timeout still gets the result. Rank 1 joins late. A wait() that blocks the host times
// out for every collective (MPI); on a stream-ordered backend only a barrier's does (NCCL's
// other collectives time out in the watchdog: GpuNccl.WatchdogAborts...).
TEST_P(CommContract, WaitTimesOutNamingTheCollectiveWorld2) {
  const bool host_wait = GetParam().host_wait;
  c().barrier();  // seq=0: the ranks start together, and NCCL's connections exist
  auto t = torch::ones({17}, on(torch::kFloat));
  auto times_out = [&](comm::Work& work, const std::string& what) {
    try {
      work.wait(std::chrono::milliseconds(300));
      ADD_FAILURE() << what << ": wait() returned although rank 1 had not joined";
    } catch (const TimeoutError& e) {
      const std::string msg = e.what();
      EXPECT_EQ(e.rank(), 0);
      EXPECT_EQ(msg.rfind("[rank 0] " + what + " waited ", 0), 0u) << msg;
      EXPECT_TRUE(contains(msg, " ms without completing (dist.timeout_s = 0.3)")) << msg;
    }
  };
  if (c().rank() == 0) {
    auto barrier = c().barrier_async();
    times_out(*barrier, "barrier(seq=1, bytes=0)");
    if (host_wait) {
      auto sum = c().all_reduce_async(t, comm::ReduceOp::kSum);
      times_out(*sum, "all_reduce(seq=2, bytes=68)");
      barrier->wait(std::chrono::seconds(60));  // complete once rank 1 joins
      sum->wait(std::chrono::seconds(60));
    } else {
      barrier->wait(std::chrono::seconds(60));
    }
  } else {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    c().barrier();
    if (host_wait) c().all_reduce(t);
  }
  if (host_wait) {
    EXPECT_TRUE(torch::equal(t.cpu(), torch::full({17}, 2.0f)));
  }
}

// ------------------------------------------------------------------ MPI with CUDA tensors
#if FROST_WITH_CUDA

// The world MPI communicator and this rank's CUDA device (local rank modulo the devices: ranks
// may share one, as MPI stages through the host), or nullopt with the reason. Collective.
std::optional<c10::Device> mpi_cuda_device(std::string* why) {
  const int devices = static_cast<int>(torch::cuda::device_count());
  if (!all_ranks(devices > 0)) {
    *why = "the MPI backend with CUDA tensors needs a CUDA device on every rank; host " +
           world().host() + " has none";
    return std::nullopt;
  }
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(world().local_rank() % devices));
}

#define FROST_MPI_CUDA_OR_SKIP(var)             \
  std::string var##_why;                        \
  const auto var = mpi_cuda_device(&var##_why); \
  if (!var) GTEST_SKIP() << var##_why

// Note [CUDA tensors on MPI]: the issue queues the copy into the host buffer on the caller's
// current stream and returns without waiting for that stream (busy with a spin kernel); the
// collective reads what the stream wrote before the issue. wait() on another thread, with
// another current stream, copies the result back there and synchronises it, so a third stream
// reads the result without any synchronisation of its own.
TEST(GpuMpiCuda, StagesOnTheCallersStreamAndCopiesBackForAnyStreamAnyWorld) {
  FROST_MPI_CUDA_OR_SKIP(device);
  auto& c = world();
  const int r = c.rank(), w = c.world_size();
  const auto index = device->index();
  const int64_t n = 1 << 20;
  auto t = torch::zeros({n}, torch::dtype(torch::kFloat).device(*device));
  torch::cuda::synchronize(index);
  c.barrier();
  std::shared_ptr<comm::Work> work;
  double issue_s = 0.0;
  {
    c10::cuda::CUDAStreamGuard on_side(c10::cuda::getStreamFromPool(false, index));
    const auto t0 = std::chrono::steady_clock::now();
    at::cuda::sleep(int64_t{400} * 1000 * 1000);  // ~0.2 s at 2 GHz on the side stream
    t.fill_(static_cast<float>(r + 1));
    work = c.all_reduce_async(t, comm::ReduceOp::kSum);
    issue_s = seconds_since(t0);
  }
  EXPECT_LT(issue_s, 0.1) << "the issue blocked the host behind the caller's stream";
  std::string error;
  std::thread([&] {
    try {
      c10::cuda::CUDAStreamGuard other(c10::cuda::getStreamFromPool(false, index));
      work->wait();
    } catch (const std::exception& e) {
      error = e.what();
    }
  }).join();
  EXPECT_EQ(error, "");
  c10::cuda::CUDAStreamGuard third(c10::cuda::getStreamFromPool(false, index));
  auto seen = torch::empty({n}, torch::dtype(torch::kFloat).device(*device));
  seen.copy_(t);  // on the third stream, with no wait for any other
  EXPECT_TRUE(torch::equal(seen.cpu(), torch::full({n}, w * (w + 1) / 2.0f)));
  EXPECT_GT(work->duration_s(), 0.0);
}

// What the staging cannot take is refused at issue, naming the collective and recording the
// rank, and issues nothing; tensors on any CUDA device of the process are taken (the MPI
// backend has no device of its own).
TEST(GpuMpiCuda, RefusesAtIssueAndTakesAnyDeviceAnyWorld) {
  FROST_MPI_CUDA_OR_SKIP(device);
  auto& c = world();
  const int r = c.rank(), w = c.world_size();
  const auto opts = torch::dtype(torch::kFloat).device(*device);
  const int64_t before = c.stats().collectives;
  auto refused = [&](const std::function<void()>& issue, const std::string& part) {
    try {
      issue();
      ADD_FAILURE() << "issued; expected an error with '" << part << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.rank(), r);
      EXPECT_TRUE(contains(e.what(), part)) << e.what();
    }
  };
  refused(
      [&] {
        c.broadcast_async(torch::ones({4, 3}, opts).t(), 0);
      },
      "broadcast on the MPI backend needs a contiguous tensor");
  refused([&] { c.all_gather_async(torch::ones({4}, opts), torch::ones({4 * w})); },
          "all_gather on the MPI backend needs its input and output on one device, got the "
          "input on " +
              device->str() + " and the output on cpu");
  refused(
      [&] { c.all_reduce_async(torch::ones({4}, opts.dtype(torch::kBool)), comm::ReduceOp::kSum); },
      "the MPI backend has no collective for dtype Bool");
  EXPECT_EQ(c.stats().collectives, before);
  auto devices = torch::tensor({static_cast<int64_t>(torch::cuda::device_count())});
  c.all_reduce(devices, comm::ReduceOp::kMin);  // the same number of devices on every rank
  for (int d = 0; d < devices.item<int64_t>(); ++d) {
    auto t = torch::full({5}, r + 1, torch::dtype(torch::kLong).device(torch::kCUDA, d));
    c.all_reduce(t, comm::ReduceOp::kSum);
    EXPECT_TRUE(torch::equal(t.cpu(), torch::full({5}, w * (w + 1) / 2, torch::kLong))) << d;
  }
}

// GradReducer over the MPI backend with CUDA buckets: the hooks that launch the buckets run on
// autograd's device thread and issue from there; finalize() waits. The gradient is the global
// per-sample mean, as on the CPU (GradReducer.GradientIsTheGlobalMeanWorld1World2World4).
TEST(GpuMpiCuda, GradReducerAveragesCudaGradientsAnyWorld) {
  FROST_MPI_CUDA_OR_SKIP(device);
  auto& c = world();
  const int w = c.world_size();
  if (8 % w != 0) GTEST_SKIP() << "8 samples do not split over " << w << " ranks";
  torch::manual_seed(21);
  const auto x = torch::randn({8, 5}).to(*device);
  const auto y = torch::randn({8, 2}).to(*device);
  torch::nn::Linear ref(5, 2), lin(5, 2);
  ref->to(*device);
  lin->to(*device);
  {
    torch::NoGradGuard g;
    lin->weight.copy_(ref->weight);
    lin->bias.copy_(ref->bias);
  }
  torch::nn::functional::mse_loss(ref->forward(x), y).backward();
  distributed::GradReducer reducer(*lin, c, /*bucket_cap_bytes=*/8);  // weight, bias: 2 buckets
  ASSERT_EQ(reducer.num_buckets(), 2);
  for (int step = 0; step < 2; ++step) {
    lin->zero_grad();
    reducer.prepare_step();
    const int64_t per = 8 / w;
    torch::nn::functional::mse_loss(lin->forward(x.narrow(0, c.rank() * per, per)),
                                    y.narrow(0, c.rank() * per, per))
        .backward();
    reducer.finalize();
    EXPECT_TRUE(lin->weight.grad().is_cuda());
    // Other batch sizes, so other kernels and summation orders than the reference: a few ulp.
    EXPECT_TRUE(torch::allclose(lin->weight.grad(), ref->weight.grad(), 1e-5, 1e-6)) << step;
    EXPECT_TRUE(torch::allclose(lin->bias.grad(), ref->bias.grad(), 1e-5, 1e-6)) << step;
    EXPECT_EQ(reducer.last_step().all_reduce_bytes, w == 1 ? 0 : (5 * 2 + 2) * 4);
  }
}

#endif  // FROST_WITH_CUDA

}  // namespace
}  // namespace frost::testing
