// MPI tests of the communicator, the gradient reducer and replica set-up.
#include <algorithm>
#include <cmath>

#include "frost/comm/mpi/mpi_check.h"
#include "frost/core/error.h"
#include "frost/distributed/grad_reducer.h"
#include "frost/models/models.h"
#include "mpi_test_util.h"

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
// F13: ranks seeded differently (1000 + rank) hold rank 0's parameters and buffers after
// set-up, and stay bitwise equal over 5 steps on rank-specific data.
TEST(ReplicaSetup, BroadcastMakesReplicasIdenticalAndStepsKeepThemSoAnyWorld) {
  auto& c = world();
  torch::manual_seed(1000 + c.rank());
  models::BackboneSpec spec;
  spec.arch = "resnet18";
  spec.width = 4;
  spec.small_input = true;
  spec.in_channels = 1;
  models::Classifier model(models::make_backbone(spec), 3);
  const bool differ_before = !same_on_all_ranks(digest(*model));
  if (c.world_size() > 1) {
    EXPECT_TRUE(differ_before) << "the test needs different initial replicas";
  }
  distributed::broadcast_state(*model, c, 0);
  EXPECT_TRUE(same_on_all_ranks(digest(*model)));
  distributed::GradReducer reducer(*model, c);
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  model->train();
  for (int step = 0; step < 5; ++step) {
    auto x = torch::randn({4, 1, 8, 8});  // different on every rank (seeded per rank)
    auto y = torch::randint(0, 3, {4}, torch::kLong);
    opt.zero_grad();
    reducer.prepare_step();
    torch::nn::functional::cross_entropy(model->forward(x), y).backward();
    reducer.finalize();
    opt.step();
    // BatchNorm running statistics are per-rank (as in PyTorch DDP without SyncBatchNorm), so
    // compare the parameters, which the all-reduce keeps identical.
    // (Unsigned arithmetic: the combination wraps by definition; UBSan flagged the signed form.)
    uint64_t h = 0;
    for (auto& p : model->parameters()) {
      auto cont = p.detach().contiguous();
      h = h * 31 + distributed::fnv1a64(std::string(static_cast<const char*>(cont.data_ptr()),
                                             cont.numel() * cont.element_size()));
    }
    EXPECT_TRUE(same_on_all_ranks(static_cast<int64_t>(h))) << "parameters differ across ranks after step " << step + 1;
  }
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

// F2: a trainable parameter that forward never uses: no hang, and its gradient is zero on
// every rank while the used parameters are averaged.
TEST(GradReducer, UnusedParameterGetsZeroGradientAndNoHangWorld2) {
  auto& c = world();
  struct Net : torch::nn::Module {
    torch::nn::Linear used{nullptr}, unused{nullptr};
    Net() {
      used = register_module("used", torch::nn::Linear(6, 3));
      unused = register_module("unused", torch::nn::Linear(6, 3));
    }
  };
  torch::manual_seed(5);
  Net net;
  distributed::broadcast_state(net, c);
  distributed::GradReducer reducer(net, c, /*bucket_cap_bytes=*/64);  // several buckets
  ASSERT_GT(reducer.num_buckets(), 1);
  torch::manual_seed(100 + c.rank());
  for (int step = 0; step < 3; ++step) {
    net.zero_grad();
    reducer.prepare_step();
    net.used->forward(torch::randn({5, 6})).pow(2).mean().backward();
    reducer.finalize();
    EXPECT_TRUE(torch::equal(net.unused->weight.grad(), torch::zeros({3, 6})));
    EXPECT_TRUE(torch::equal(net.unused->bias.grad(), torch::zeros({3})));
    EXPECT_TRUE(same_on_all_ranks(static_cast<int64_t>(distributed::fnv1a64(std::string(
        static_cast<const char*>(net.used->weight.grad().data_ptr()), 18 * sizeof(float))))));
    EXPECT_EQ(reducer.last_step().collectives, c.world_size() == 1 ? 0 : reducer.num_buckets());
  }
}

// Buckets are not cleared between steps: a parameter used in one step and not in the next must
// still get a zero gradient in the next (not the value left in its slot), at every world size.
TEST(GradReducer, ParameterUnusedAfterAUsedStepGetsZeroGradientAnyWorld) {
  auto& c = world();
  torch::manual_seed(5);
  torch::nn::Linear a(6, 3), b(6, 3);
  torch::nn::Sequential net(a, b);  // registration only; forward is written out below
  distributed::broadcast_state(*net, c);
  distributed::GradReducer reducer(*net, c, /*bucket_cap_bytes=*/1 << 20);  // one bucket holds both
  ASSERT_EQ(reducer.num_buckets(), 1);
  torch::manual_seed(100 + c.rank());
  for (int step = 0; step < 4; ++step) {
    const bool use_b = step % 2 == 0;
    reducer.prepare_step();
    const auto x = torch::randn({5, 6});
    (use_b ? a->forward(x) + b->forward(x) : a->forward(x)).pow(2).mean().backward();
    reducer.finalize();
    const bool b_zero = torch::equal(b->weight.grad(), torch::zeros({3, 6})) &&
                        torch::equal(b->bias.grad(), torch::zeros({3}));
    EXPECT_EQ(b_zero, !use_b) << "step " << step;
    EXPECT_GT(a->weight.grad().abs().sum().item<float>(), 0.0f) << "step " << step;
  }
}

// F11: the same 8 samples split over 1, 2 or 4 ranks give the gradient of the global
// per-sample mean (<= 1e-6), whatever the world size.
TEST(GradReducer, GradientIsTheGlobalMeanWorld1World2World4) {
  auto& c = world();
  const int w = c.world_size();
  ASSERT_EQ(8 % w, 0);
  torch::manual_seed(21);
  auto x = torch::randn({8, 5});
  auto y = torch::randn({8, 2});
  torch::nn::Linear ref(5, 2);
  torch::nn::Linear lin(5, 2);
  {
    torch::NoGradGuard g;
    lin->weight.copy_(ref->weight);
    lin->bias.copy_(ref->bias);
  }
  torch::nn::functional::mse_loss(ref->forward(x), y).backward();
  distributed::GradReducer reducer(*lin, c);
  reducer.prepare_step();
  const int64_t per = 8 / w;
  auto xs = x.narrow(0, c.rank() * per, per), ys = y.narrow(0, c.rank() * per, per);
  torch::nn::functional::mse_loss(lin->forward(xs), ys).backward();
  reducer.finalize();
  EXPECT_TRUE(torch::allclose(lin->weight.grad(), ref->weight.grad(), 0, 1e-6));
  EXPECT_TRUE(torch::allclose(lin->bias.grad(), ref->bias.grad(), 0, 1e-6));
  // One rank sends nothing; otherwise every trainable float32 element once.
  EXPECT_EQ(reducer.last_step().all_reduce_bytes, w == 1 ? 0 : (5 * 2 + 2) * 4);
}

// F10: gradient accumulation. 16 samples over W ranks, per-rank micro-batch 2, so 8/W
// micro-batches per optimizer step (F10's case: 2 ranks, accumulation 4): the gradient equals
// the one-process gradient of the mean loss over the 16 samples (<= 1e-6), is bitwise equal
// on every rank, and each bucket is all-reduced once per optimizer step.
TEST(GradReducer, AccumulatedMicroBatchesGiveTheGlobalMeanOnceWorld1World2World4) {
  auto& c = world();
  const int w = c.world_size();
  ASSERT_EQ(16 % (2 * w), 0);
  torch::manual_seed(33);
  auto x = torch::randn({16, 5});
  auto y = torch::randn({16, 2});
  torch::nn::Linear ref(5, 2);
  torch::nn::Linear lin(5, 2);
  {
    torch::NoGradGuard g;
    lin->weight.copy_(ref->weight);
    lin->bias.copy_(ref->bias);
  }
  torch::nn::functional::mse_loss(ref->forward(x), y).backward();
  distributed::GradReducer reducer(*lin, c, /*bucket_cap_bytes=*/8);  // weight and bias: 2 buckets
  ASSERT_EQ(reducer.num_buckets(), 2);
  const int64_t per_rank = 16 / w, micro = 2, accum = per_rank / micro;
  for (int step = 0; step < 2; ++step) {  // the second step must not see the first one's sums
    lin->zero_grad();
    reducer.prepare_step(accum);
    for (int64_t j = 0; j < accum; ++j) {
      if (j > 0) reducer.next_micro_batch();
      const int64_t begin = c.rank() * per_rank + j * micro;
      auto loss = torch::nn::functional::mse_loss(lin->forward(x.narrow(0, begin, micro)),
                                                  y.narrow(0, begin, micro));
      (loss * (static_cast<double>(micro) / per_rank)).backward();
    }
    reducer.finalize();
    EXPECT_TRUE(torch::allclose(lin->weight.grad(), ref->weight.grad(), 0, 1e-6)) << "step " << step;
    EXPECT_TRUE(torch::allclose(lin->bias.grad(), ref->bias.grad(), 0, 1e-6)) << "step " << step;
    auto flat = torch::cat({lin->weight.grad().reshape({-1}), lin->bias.grad()}).contiguous();
    EXPECT_TRUE(same_on_all_ranks(static_cast<int64_t>(distributed::fnv1a64(std::string(
        static_cast<const char*>(flat.data_ptr()), flat.numel() * sizeof(float))))));
    EXPECT_EQ(reducer.last_step().collectives, w == 1 ? 0 : 2) << "one all-reduce per bucket per step";
    if (w == 1) EXPECT_EQ(reducer.last_step().all_reduce_s, 0.0);
    else EXPECT_GT(reducer.last_step().all_reduce_s, 0.0) << "backend time of the 2 all-reduces";
    EXPECT_EQ(reducer.last_step().all_reduce_bytes, w == 1 ? 0 : (5 * 2 + 2) * 4);
  }
}

// A parameter used in an early micro-batch but not in the last one still gets its
// accumulated, averaged gradient (its bucket launches in finalize()).
TEST(GradReducer, ParameterUnusedInTheLastMicroBatchKeepsItsGradientAnyWorld) {
  auto& c = world();
  torch::nn::Linear a(3, 1), b(3, 1);
  struct Net : torch::nn::Module {};
  Net net;
  net.register_module("a", a);
  net.register_module("b", b);
  distributed::broadcast_state(net, c);
  distributed::GradReducer reducer(net, c, /*bucket_cap_bytes=*/1);  // a bucket per parameter
  auto x = torch::full({1, 3}, static_cast<double>(c.rank() + 1));
  net.zero_grad();
  reducer.prepare_step(2);
  b->forward(x).sum().backward();  // micro-batch 0: b only
  reducer.next_micro_batch();
  a->forward(x).sum().backward();  // micro-batch 1: a only
  reducer.finalize();
  // d/dW of sum(W x + c) is x; the mean over ranks of (r + 1) is (W + 1) / 2.
  const double mean = (c.world_size() + 1) / 2.0;
  EXPECT_TRUE(torch::allclose(b->weight.grad(), torch::full({1, 3}, mean)));
  EXPECT_TRUE(torch::allclose(a->weight.grad(), torch::full({1, 3}, mean)));
  EXPECT_TRUE(torch::allclose(b->bias.grad(), torch::ones({1})));
}

// Note [Gradients in bucket memory]: after finalize() the parameters of one bucket have
// gradients in that bucket's memory (no copy), which the optimizer and its zero_grad() accept,
// and the next step's backward does not add to the old values.
TEST(GradReducer, GradientsLiveInBucketMemoryAnyWorld) {
  auto& c = world();
  torch::manual_seed(4);
  torch::nn::Linear lin(4, 3);
  distributed::broadcast_state(*lin, c);
  distributed::GradReducer reducer(*lin, c);  // one bucket: weight and bias
  ASSERT_EQ(reducer.num_buckets(), 1);
  torch::optim::SGD sgd(lin->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  auto x = torch::ones({2, 4});
  torch::Tensor first;
  for (int step = 0; step < 2; ++step) {
    reducer.prepare_step();
    EXPECT_FALSE(lin->weight.grad().defined()) << "prepare_step() resets .grad()";
    lin->forward(x).sum().backward();
    reducer.finalize();
    EXPECT_TRUE(lin->weight.grad().is_alias_of(lin->bias.grad())) << "gradients of one bucket share its memory";
    EXPECT_TRUE(lin->weight.grad().is_contiguous());
    if (step == 0) first = lin->weight.grad().clone();
    // The same input and weights give the same gradient again: nothing accumulated.
    if (step == 1) {
      EXPECT_TRUE(torch::equal(lin->weight.grad(), first));
    }
    if (step == 0) {
      // In place (LibTorch's detach_() + zero_() on the gradient); the default, set_to_none,
      // is covered below.
      EXPECT_NO_THROW(sgd.zero_grad(/*set_to_none=*/false));
      EXPECT_TRUE(lin->weight.grad().eq(0).all().item<bool>());
    }
  }
  EXPECT_NO_THROW(sgd.step());
  // LibTorch 2.x's zero_grad() drops the gradients (set_to_none): the next step's gradients are
  // bucket memory again.
  EXPECT_NO_THROW(sgd.zero_grad());
  reducer.prepare_step();
  lin->forward(x).sum().backward();
  reducer.finalize();
  EXPECT_TRUE(lin->weight.grad().is_alias_of(lin->bias.grad())) << "after zero_grad()";
}

// dist.comm_dtype = bf16: the buckets travel as bfloat16 (half the bytes of 4 * (D * C + C)),
// the averaged gradient is back in float32 bucket memory, equal on every rank and within
// bfloat16's rounding of the float32 reduction.
TEST(GradReducer, Bf16CommHalvesTheBytesAndKeepsFloat32GradientsAnyWorld) {
  auto& c = world();
  const int64_t d = 24, classes = 5;
  torch::manual_seed(9);
  torch::nn::Linear lin32(d, classes), lin16(d, classes);
  distributed::broadcast_state(*lin32, c);
  {
    torch::NoGradGuard no_grad;
    lin16->weight.copy_(lin32->weight);
    lin16->bias.copy_(lin32->bias);
  }
  distributed::GradReducer r32(*lin32, c);
  distributed::GradReducer r16(*lin16, c, distributed::kDefaultBucketCapBytes, torch::kBFloat16);
  torch::manual_seed(100 + c.rank());  // each rank its own rows
  const auto x = torch::randn({6, d});
  for (auto* pair : {&r32, &r16}) pair->prepare_step();
  lin32->forward(x).pow(2).sum().backward();
  lin16->forward(x).pow(2).sum().backward();
  r32.finalize();
  r16.finalize();
  const int64_t fp32_bytes = 4 * (d * classes + classes);
  EXPECT_EQ(r32.last_step().all_reduce_bytes, c.world_size() > 1 ? fp32_bytes : 0);
  EXPECT_EQ(r16.last_step().all_reduce_bytes, c.world_size() > 1 ? fp32_bytes / 2 : 0);
  EXPECT_EQ(lin16->weight.grad().scalar_type(), torch::kFloat);
  EXPECT_TRUE(lin16->weight.grad().is_alias_of(lin16->bias.grad())) << "bucket memory";
  const auto g32 = lin32->weight.grad(), g16 = lin16->weight.grad();
  // bfloat16 keeps 8 significant bits: one rounding before and one per combination.
  EXPECT_TRUE(torch::allclose(g16, g32, /*rtol=*/2e-2, /*atol=*/1e-2))
      << (g16 - g32).abs().max().item<double>();
  auto high = g16.clone(), low = g16.clone();
  c.all_reduce(high, comm::ReduceOp::kMax);
  c.all_reduce(low, comm::ReduceOp::kMin);
  EXPECT_TRUE(torch::equal(high, low)) << "ranks hold different gradients";
  if (c.world_size() > 1) {
    EXPECT_FALSE(torch::equal(g16, g32)) << "bf16 comm left the gradient unrounded";
  }
  EXPECT_THROW(distributed::GradReducer(*lin32, c, 1024, torch::kInt), Error);
}

// Invariant 2: buckets launch in index order even when gradients arrive out of order.
TEST(GradReducer, SmallBucketsLaunchInOrderAndAverageAnyWorld) {
  auto& c = world();
  torch::manual_seed(9);
  torch::nn::Sequential net(torch::nn::Linear(8, 8), torch::nn::ReLU(), torch::nn::Linear(8, 8),
                            torch::nn::ReLU(), torch::nn::Linear(8, 2));
  distributed::broadcast_state(*net, c);
  distributed::GradReducer reducer(*net, c, /*bucket_cap_bytes=*/100);
  EXPECT_GE(reducer.num_buckets(), 4);
  // Reverse registration order: the last layer's bias is in bucket 0.
  EXPECT_EQ(reducer.bucket_param_names(0).front(), "4.bias");
  torch::manual_seed(50 + c.rank());
  auto x = torch::randn({3, 8});
  net->zero_grad();
  reducer.prepare_step();
  net->forward(x).sum().backward();
  reducer.finalize();
  // Reference: the mean of every rank's local gradient, computed by gathering inputs.
  auto all_x = torch::empty({c.world_size() * 3 * 8});
  c.all_gather(x.reshape({-1}).contiguous(), all_x);
  all_x = all_x.view({c.world_size(), 3, 8});
  std::vector<torch::Tensor> local_means;
  auto clone = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(net->clone());
  for (int r = 0; r < c.world_size(); ++r) {
    clone->zero_grad();
    clone->forward(all_x[r]).sum().backward();
    std::vector<torch::Tensor> grads;
    for (auto& p : clone->parameters()) grads.push_back(p.grad().clone());
    if (local_means.empty()) {
      local_means = grads;
    } else {
      for (size_t i = 0; i < grads.size(); ++i) local_means[i] += grads[i];
    }
  }
  auto params = net->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(torch::allclose(params[i].grad(), local_means[i] / c.world_size(), 1e-5, 1e-6)) << i;
  }
}

}  // namespace
}  // namespace frost::testing
