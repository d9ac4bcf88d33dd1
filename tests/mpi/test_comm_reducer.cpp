// MPI tests of the communicator, the gradient reducer and replica set-up.
#include <algorithm>
#include <cmath>

#include "frost/comm/mpi/mpi_check.h"
#include "frost/core/error.h"
#include "frost/distributed/grad_reducer.h"
#include "frost/models/models.h"
#include "mpi_test_util.h"
#include "reducer_cases.h"

namespace frost::testing {
namespace {

// ------------------------------------------------------------------ communicator
// The contract every backend keeps (every collective and dtype, issue order, pieces, wait(),
// timeouts) is tested over the backends in test_comm_contract.cpp; here what is particular to
// the MPI backend.

// The factory names the backends this build has, and what a missing one needs.
TEST(Communicator, FactoryRefusesUnknownAndMissingBackendsAnyWorld) {
  const std::vector<std::string> built = comm::communicator_backends();
  ASSERT_FALSE(built.empty());
  EXPECT_EQ(built.front(), "mpi");
  const bool has_nccl = std::find(built.begin(), built.end(), "nccl") != built.end();
#if FROST_WITH_CUDA
  EXPECT_TRUE(has_nccl);
#else
  EXPECT_FALSE(has_nccl);
#endif
  try {
    comm::make_communicator("gloo");
    ADD_FAILURE() << "an unknown backend was accepted";
  } catch (const Error& e) {
    const std::string names = has_nccl ? "mpi, nccl" : "mpi";
    EXPECT_NE(
        std::string(e.what()).find("unknown communicator backend 'gloo': backends built: " + names),
        std::string::npos)
        << e.what();
  }
  if (!has_nccl) {
    try {
      comm::make_communicator("nccl");
      ADD_FAILURE() << "the nccl backend was accepted by a build without it";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("FROST_WITH_CUDA=ON"), std::string::npos) << e.what();
    }
  }  // with it: NcclBackend.* and GpuNccl.* in test_nccl.cpp
  auto self = comm::make_communicator("mpi", comm::Scope::kSelf);
  EXPECT_EQ(self->world_size(), 1);
  EXPECT_EQ(self->backend(), "mpi");
}

// Note [16-bit floats on MPI]: bfloat16 and float16 all-reduce (sum, max, min) through
// user-defined ops, broadcast and all_gather bit for bit, and every rank gets the same bits.
TEST(Communicator, SixteenBitFloatsReduceAndTravelAnyWorld) {
  auto& c = world();
  const int w = c.world_size(), r = c.rank();
  for (const auto dtype : {torch::kBFloat16, torch::kHalf}) {
    // Sum of (r + 1) * 0.5 over ranks: exact in both dtypes for these small worlds.
    auto t = torch::full({1000}, (r + 1) * 0.5, dtype);
    const int64_t bytes_before = c.stats().all_reduce_bytes;
    c.all_reduce(t, comm::ReduceOp::kSum);
    EXPECT_EQ(c.stats().all_reduce_bytes - bytes_before, 2000) << "two bytes per element";
    EXPECT_EQ(t.scalar_type(), dtype);
    EXPECT_TRUE(torch::equal(t, torch::full({1000}, 0.25 * w * (w + 1), dtype))) << dtype;
    auto m = torch::tensor({static_cast<double>(r), -static_cast<double>(r)}).to(dtype);
    c.all_reduce(m, comm::ReduceOp::kMax);
    EXPECT_EQ(m[0].item<double>(), w - 1);
    EXPECT_EQ(m[1].item<double>(), 0);
    c.all_reduce(m, comm::ReduceOp::kMin);
    EXPECT_EQ(m[1].item<double>(), 0);
    // A sum that rounds: every rank must hold the same bits.
    torch::manual_seed(r + 11);
    auto noisy = (torch::randn({4096}) * 3.0).to(dtype);
    c.all_reduce(noisy, comm::ReduceOp::kSum);
    EXPECT_TRUE(same_on_all_ranks(static_cast<int64_t>(
        noisy.view(torch::kShort).to(torch::kLong).mul(torch::arange(4096)).sum().item<int64_t>())));
    // Broadcast and all_gather copy bits (a NaN and -0.0 included).
    auto b = torch::tensor({1.0 + r, -0.0, std::nan("")}).to(dtype);
    c.broadcast(b, 0);
    EXPECT_EQ(b[0].item<double>(), 1.0);
    EXPECT_TRUE(std::signbit(b[1].item<double>()));
    EXPECT_TRUE(std::isnan(b[2].item<double>()));
    auto mine = torch::full({3}, static_cast<double>(r), dtype);
    auto all = torch::empty({3 * w}, dtype);
    c.all_gather(mine, all);
    for (int k = 0; k < w; ++k) EXPECT_EQ(all[3 * k + 2].item<double>(), k);
  }
}

// A tensor the backend cannot take is refused when the collective is issued, on the caller's
// thread, and the error records the communicator's rank (not written into the message by hand).
TEST(Communicator, BadTensorIsRefusedAtIssueWithTheRankAnyWorld) {
  auto& c = world();
  const int64_t before = c.stats().collectives;
  try {
    c.all_reduce_async(torch::ones({4}, torch::kBool), comm::ReduceOp::kSum);
    ADD_FAILURE() << "a bool all-reduce was issued";
  } catch (const Error& e) {
    EXPECT_EQ(e.rank(), c.rank());
    EXPECT_EQ(std::string(e.what()).rfind("[rank " + std::to_string(c.rank()) +
                                              "] the MPI backend has no collective for dtype Bool",
                                          0),
              0u)
        << e.what();
  }
  try {
    c.broadcast_async(torch::ones({4}), c.world_size());
    ADD_FAILURE() << "a broadcast from a root outside the world was issued";
  } catch (const Error& e) {
    EXPECT_EQ(e.rank(), c.rank());
    EXPECT_EQ(e.message(), "broadcast root " + std::to_string(c.world_size()) + " is outside [0, " +
                               std::to_string(c.world_size()) + ")");
  }
  EXPECT_EQ(c.stats().collectives, before);  // nothing was issued, so the ranks stay in step
}

// MPI_CHECK names the call, the source file and line, the host, MPI's error string and the rank.
TEST(Communicator, MpiCheckNamesCallFileHostAndRankAnyWorld) {
  try {
    MPI_CHECK(MPI_Barrier(MPI_COMM_NULL));
    ADD_FAILURE() << "MPI_Barrier(MPI_COMM_NULL) succeeded";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.rank(), world().rank());
    EXPECT_NE(msg.find("MPI_Barrier(MPI_COMM_NULL) failed at tests/mpi/test_comm_reducer.cpp:"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find(" on host " + world().host() + ": "), std::string::npos) << msg;
    EXPECT_NE(msg.find("MPI_ERR_COMM"), std::string::npos) << msg;
  }
}

// ------------------------------------------------------------------ replica set-up
// F13 (reducer_cases.h).
TEST(ReplicaSetup, BroadcastMakesReplicasIdenticalAndStepsKeepThemSoAnyWorld) {
  expect_replicas_identical_after_setup_and_steps(world());
}

TEST(ReplicaSetup, DifferentConfigNamesTheRankWorld3) {
  auto& c = world();
  const std::string text = std::string("[optim]\nlr = 0.1\n\n[train]\nepochs = ") +
                           (c.rank() == 2 ? "3" : "2") + "\nseed = 0\n";
  try {
    distributed::check_same_across_ranks(text, "config", c);
    ADD_FAILURE() << "no error although rank 2 has a different config";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("rank 2 has"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("rank 1 has"), std::string::npos) << msg;
    // The differing rank names the first line that differs, with its INI section.
    if (c.rank() == 2) {
      EXPECT_NE(msg.find("first difference: [train] 'epochs = 3' on rank 2, 'epochs = 2' on rank 0"),
                std::string::npos) << msg;
    }
  }
}

// ------------------------------------------------------------------ gradient reducer
// F1: 2 ranks, head strategy, 3-layer MLP backbone, Linear(16 -> 4) head: the buckets hold
// exactly the head's 16*4 + 4 = 68 elements.
TEST(GradReducer, HeadBucketsHoldOnlyTheHeadWorld2) {
  auto& c = world();
  models::BackboneSpec spec;
  spec.arch = "mlp";
  spec.in_features = 16;
  spec.hidden = {32, 32, 16};
  models::Classifier model(models::make_backbone(spec), 4);
  for (auto& p : model->backbone->parameters()) p.set_requires_grad(false);
  distributed::GradReducer reducer(*model, c);
  int64_t total = 0;
  std::vector<std::string> names;
  for (int64_t b = 0; b < reducer.num_buckets(); ++b) {
    total += reducer.bucket_numel(b);
    for (auto& n : reducer.bucket_param_names(b)) names.push_back(n);
  }
  EXPECT_EQ(total, 68);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"head.bias", "head.weight"}));
}

// The bodies, shared with the GPU tests in test_gpu_training.cpp, are in reducer_cases.h.
TEST(GradReducer, UnusedParameterGetsZeroGradientAndNoHangWorld2) {
  expect_unused_parameter_gets_zero_gradient(world());
}

TEST(GradReducer, ParameterUnusedAfterAUsedStepGetsZeroGradientAnyWorld) {
  expect_parameter_unused_after_a_used_step_gets_zero_gradient(world());
}

TEST(GradReducer, GradientIsTheGlobalMeanWorld1World2World4) {
  expect_gradient_is_the_global_mean(world());
}

TEST(GradReducer, AccumulatedMicroBatchesGiveTheGlobalMeanOnceWorld1World2World4) {
  expect_accumulated_micro_batches_give_the_global_mean_once(world());
}

TEST(GradReducer, ParameterUnusedInTheLastMicroBatchKeepsItsGradientAnyWorld) {
  expect_parameter_unused_in_the_last_micro_batch_keeps_its_gradient(world());
}

TEST(GradReducer, GradientsLiveInBucketMemoryAnyWorld) {
  expect_gradients_live_in_bucket_memory(world());
}

TEST(GradReducer, Bf16CommHalvesTheBytesAndKeepsFloat32GradientsAnyWorld) {
  expect_bf16_comm_halves_the_bytes(world());
}

TEST(GradReducer, SmallBucketsLaunchInOrderAndAverageAnyWorld) {
  expect_small_buckets_launch_in_order_and_average(world());
}

TEST(GradReducer, BucketTimelineMatchesTheBucketsAnyWorld) {
  expect_bucket_timeline_matches_the_buckets(world());
}

}  // namespace
}  // namespace frost::testing
