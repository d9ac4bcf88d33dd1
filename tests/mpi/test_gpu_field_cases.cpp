// MPI tests of the GPU field cases G3-G6 (failure cases reported against PyTorch DDP / NCCL;
// docs/design.md, "Invariants and the tests that prove them", rows G1-G7): gradients reduced on
// NCCL's own stream while the host runs ahead, under memory pressure, fp16 loss scaling with an
// overflow on one rank, and pinned batches copied on a copy stream. G1 is GpuNccl.Watchdog… in
// test_nccl.cpp and e2e.gpu_faults, G2 the PlaceRank/CheckDistinctDevices unit tests and
// e2e.gpu_faults, G7 e2e.gpu_faults (e2e.faults on the CPU).
//
// Every test runs on this rank's CUDA device with NCCL in the shared-GPU mode, so that 2 ranks run
// on a node with one GPU (Note [Training tests on CPU and GPU] in device_target.h), or skips on
// every rank with the reason. Suites Gpu*: ctest gpu.mpi.world1/2 run them (Note [MPI test
// schedule] in mpi_schedule.h). Nothing in a step is read on the host (Note [One synchronisation
// per logged step] in frost/train/step.h): what a test checks after a step is copied on the
// device and read once at the end, so that the host queues steps ahead of the GPU as the
// Trainer does, which is when an ordering bug shows.
#include <c10/core/Stream.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "device_target.h"
#include "frost/data/h5_dataset.h"
#include "frost/data/sampler.h"
#include "frost/distributed/grad_reducer.h"
#include "frost/distributed/state_sync.h"
#include "frost/models/models.h"
#include "frost/train/config.h"
#include "frost/train/feature_cache.h"
#include "frost/train/loader.h"
#include "frost/train/precision.h"
#include "frost/train/step.h"
#include "frost/train/strategy.h"
#include "mpi_test_util.h"
#include "reducer_cases.h"

namespace frost::testing {
namespace {

// ------------------------------------------------------------------ G3, G4: a deep MLP

// The model of G3 and G4: an MLP of 6 hidden layers of 512 (1.45 M float32 parameters, 5.6 MiB)
// on 256 inputs, 10 classes, 64 rows per rank and step, buckets of at most 256 KiB: every
// 512 x 512 weight (1 MiB) is a bucket of its own, so about ten buckets are all-reduced per step
// and the last of them (the first layer's, ready only when backward ends) is launched after the
// last backward kernel was queued: when backward ends, buckets are still in flight by
// construction, and finalize() returns without waiting for them on the host (the NCCL wait is
// stream-ordered, comm/communicator.h).
constexpr int64_t kMlpIn = 256, kMlpWidth = 512, kMlpDepth = 6, kMlpClasses = 10, kMlpRows = 64;
constexpr int64_t kSmallBucketBytes = 256 * 1024;
constexpr int kSteps = 20;

struct DeepMlpOptions {
  bool memory_pressure = false;                             // G4: churn between steps
  c10::ScalarType comm_dtype = c10::ScalarType::Undefined;  // dist.comm_dtype (fp32: undefined)
};

// What a run of kSteps train_step calls left: the parameters (flattened, one float32 vector)
// before the first step and after each step, read to the host after the last step.
struct DeepMlpRun {
  torch::Tensor initial;
  std::vector<torch::Tensor> after_step;
  int64_t buckets = 0;
};

// All parameters of `model` as one flat float32 tensor on their device (a copy; no host read).
torch::Tensor flat_parameters(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (const auto& p : model.parameters()) parts.push_back(p.detach().reshape({-1}));
  return torch::cat(parts);
}

// G4's memory pressure: tensors from 4 KiB to 256 MiB, allocated on the current (compute)
// stream all at once, filled with NaN and freed, so that the caching allocator hands out again
// whatever free blocks it holds, bucket-sized ones included, and the next ones it hands out come
// from blocks that held NaN. A block that NCCL or the optimizer still had to read would carry
// NaN (or another rank's junk) into the parameters.
void churn_device_memory(const torch::Device& dev) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> junk;
  for (const int64_t kib : {4, 64, 256, 1024, 2048, 4096, 16384, 262144}) {
    junk.push_back(torch::full({kib * 256}, std::numeric_limits<float>::quiet_NaN(),
                               torch::dtype(torch::kFloat).device(dev)));
  }
  junk.clear();
  for (const int64_t kib : {1024, 256, 4}) {  // freed blocks reused at once, split anew
    auto t = torch::empty({kib * 256}, torch::dtype(torch::kFloat).device(dev));
    t.fill_(std::numeric_limits<float>::quiet_NaN());
  }
}

// kSteps steps of `full` training of the deep MLP with train_step (the Trainer's step), its
// gradients all-reduced by `grads` (NCCL on the target's device). The model is the same on every
// rank and in every run (seeded on the CPU); each rank trains on its own rows (seeded per rank,
// the same in every run), all put on the device before the first step.
DeepMlpRun run_deep_mlp(const Target& target, comm::Communicator& grads, const DeepMlpOptions& o) {
  const torch::Device dev = target.device;
  torch::manual_seed(17);
  models::BackboneSpec spec;
  spec.arch = "mlp";
  spec.in_features = kMlpIn;
  spec.hidden = std::vector<int64_t>(kMlpDepth, kMlpWidth);
  models::Classifier model(models::make_backbone(spec), kMlpClasses);
  model->to(dev);
  train::TrainConfig tc;
  tc.strategy = train::StrategyKind::kFull;
  const auto strategy = train::make_strategy(tc, *model);
  strategy->set_trainable(*model, 0);
  strategy->set_modes(*model, 0);
  distributed::GradReducer reducer(*model, grads, kSmallBucketBytes, o.comm_dtype);
  torch::optim::SGD optimizer(train::trainable_parameters(*model),
                              torch::optim::SGDOptions(0.05).momentum(0.9));
  train::StepOptions options;
  options.micro_batch_rows = kMlpRows;  // one micro-batch per step
  const train::StepContext ctx{*model, *strategy, reducer, optimizer, world(), options};

  torch::manual_seed(100 + world().rank());
  std::vector<train::Batch> batches;
  for (int s = 0; s < kSteps; ++s) {
    train::Batch b;
    b.inputs = torch::randn({kMlpRows, kMlpIn});
    b.labels = torch::randint(0, kMlpClasses, {kMlpRows}, torch::kLong);
    b.indices.resize(kMlpRows);
    std::iota(b.indices.begin(), b.indices.end(), int64_t{s} * kMlpRows);
    batches.push_back(b.to(dev));
  }
  DeepMlpRun run;
  run.buckets = reducer.num_buckets();
  const torch::Tensor initial = flat_parameters(*model);
  std::vector<torch::Tensor> on_device;
  for (int s = 0; s < kSteps; ++s) {
    train::train_step(ctx, batches[static_cast<size_t>(s)], 0.05);
    on_device.push_back(flat_parameters(*model));
    if (o.memory_pressure) churn_device_memory(dev);
  }
  run.initial = initial.cpu();  // the first host read of the run: it waits for the device
  for (const auto& t : on_device) run.after_step.push_back(t.cpu());
  return run;
}

std::string step_name(int s) { return "step " + std::to_string(s + 1); }

// The bits of `x`, to compare doubles across ranks with same_on_all_ranks.
int64_t bits_of(double x) {
  int64_t bits = 0;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

// G3: `full`, gradients all-reduced on NCCL's stream, a backward long enough that buckets are
// still in flight when it ends, 20 steps: the parameters are bitwise equal across ranks after
// every step (an optimizer step that read a gradient before its all-reduce finished would apply
// this rank's own gradient, and the ranks, which train on different rows, would drift apart),
// and every step changed them.
TEST(GpuBucketOverlap, ReplicasBitwiseEqualAfterEveryStepWithBucketsInFlightWorld2) {
  FROST_GPU_TARGET_OR_SKIP(target);
  const auto grads = gradient_comm(target);
  const DeepMlpRun run = run_deep_mlp(target, *grads, DeepMlpOptions{});
  EXPECT_GE(run.buckets, 8) << "the test needs many small buckets";
  ASSERT_EQ(run.after_step.size(), static_cast<size_t>(kSteps));
  for (int s = 0; s < kSteps; ++s) {
    const torch::Tensor& now = run.after_step[static_cast<size_t>(s)];
    EXPECT_TRUE(same_on_all_ranks(bits_hash(now)))
        << "parameters differ across ranks after " << step_name(s);
    EXPECT_FALSE(
        torch::equal(now, s == 0 ? run.initial : run.after_step[static_cast<size_t>(s - 1)]))
        << step_name(s) << " changed nothing";
    EXPECT_TRUE(torch::isfinite(now).all().item<bool>()) << step_name(s);
  }
}

// G4: buckets reduced on NCCL's stream under memory pressure (tensors allocated, filled with NaN
// and freed on the compute stream between steps), 20 steps, with float32 buckets and with
// bfloat16 wire copies (dist.comm_dtype = bf16): the parameters after every step are bitwise
// those of the same run without the pressure (a bucket whose memory the caching allocator
// handed out again while NCCL still read it would corrupt a gradient).
// Bitwise is a fair demand here: the MLP runs cuBLAS matrix products and elementwise and
// reduction kernels without atomics, on one stream, so a repeat gives the same bits, and two
// ranks add their gradients in one addition per element, which is commutative. A second run
// without pressure checks that premise first, so that a failure says which of the two broke.
TEST(GpuBucketOverlap, MemoryPressureBetweenStepsChangesNoBitWorld2) {
  FROST_GPU_TARGET_OR_SKIP(target);
  const auto grads = gradient_comm(target);
  for (const auto dtype : {c10::ScalarType::Undefined, c10::ScalarType::BFloat16}) {
    const std::string comm = dtype == c10::ScalarType::Undefined ? "fp32 buckets" : "bf16 wire";
    const DeepMlpRun plain = run_deep_mlp(target, *grads, DeepMlpOptions{false, dtype});
    const DeepMlpRun again = run_deep_mlp(target, *grads, DeepMlpOptions{false, dtype});
    const DeepMlpRun pressed = run_deep_mlp(target, *grads, DeepMlpOptions{true, dtype});
    // The first step where a comparison fails is reported (EXPECT, not ASSERT: every rank
    // must go on to the same collectives).
    for (int s = 0; s < kSteps; ++s) {
      const auto i = static_cast<size_t>(s);
      if (!torch::equal(plain.after_step[i], again.after_step[i])) {
        ADD_FAILURE() << comm << ": two runs without memory pressure differ after " << step_name(s)
                      << " (max |diff| "
                      << (plain.after_step[i] - again.after_step[i]).abs().max().item<double>()
                      << "): the GPU does not repeat this computation bitwise, so the pressure "
                         "cannot be judged bitwise";
        break;
      }
      if (!torch::equal(plain.after_step[i], pressed.after_step[i])) {
        ADD_FAILURE() << comm << ": memory pressure changed the parameters after " << step_name(s)
                      << " (NaN in " << torch::isnan(pressed.after_step[i]).sum().item<int64_t>()
                      << " elements; max |diff| "
                      << (plain.after_step[i] - pressed.after_step[i])
                             .abs()
                             .nan_to_num(1e30)
                             .max()
                             .item<double>()
                      << ")";
        break;
      }
    }
    EXPECT_TRUE(same_on_all_ranks(bits_hash(pressed.after_step.back()))) << comm;
  }
}

// ------------------------------------------------------------------ G5: fp16 overflow on one rank

// G5: train.precision = fp16 with dynamic loss scaling (Note [Mixed precision] in
// frost/train/precision.h); rank 1's rows make the float16 weight gradient overflow, rank 0's do
// not. Every rank skips the step (nothing changes), halves the scale from 65536 to 32768, and
// the replicas stay bitwise equal; the next step, without the overflow, updates every rank alike.
// The model is a Linear(5 -> 3) head on the inputs (an MLP backbone without hidden layers), its
// weights 0.001 and biases 0, every label 0, 4 rows per rank. Under autocast the head computes in
// float16: logits 5 * 0.001 * x stay small, the loss finite; d loss / d logits, scaled, is
// (1/3 - 1) / 4 * 65536 = -10923 for class 0 in every row, so the weight gradient of class 0 is
// 4 * -10923 * x: -4.4e8 for x = 1e4 (rank 1), beyond float16's 65504, hence -inf; -4369 for
// x = 0.1 (rank 0), finite. The all-reduce carries the -inf to every rank.
TEST(GpuLossScaling, OverflowOnOneRankSkipsTheStepOnEveryRankWorld2) {
  FROST_GPU_TARGET_OR_SKIP(target);
  const auto grads = gradient_comm(target);
  const torch::Device dev = target.device;
  const int r = world().rank();
  models::BackboneSpec spec;
  spec.arch = "mlp";
  spec.in_features = 5;
  spec.hidden = {};  // features = inputs
  models::Classifier model(models::make_backbone(spec), 3);
  {
    torch::NoGradGuard no_grad;
    model->head->weight.fill_(0.001);
    model->head->bias.zero_();
  }
  model->to(dev);
  train::TrainConfig tc;
  tc.strategy = train::StrategyKind::kFull;
  const auto strategy = train::make_strategy(tc, *model);
  strategy->set_trainable(*model, 0);
  strategy->set_modes(*model, 0);
  distributed::GradReducer reducer(*model, *grads);
  torch::optim::SGD optimizer(train::trainable_parameters(*model),
                              torch::optim::SGDOptions(0.1).momentum(0.9));
  train::LossScaler scaler;
  train::StepOptions options;
  options.micro_batch_rows = 4;
  options.precision = train::Precision::kFp16;
  const train::StepContext ctx{*model, *strategy, reducer, optimizer, world(), options, &scaler};
  auto batch_of = [&](double x) {
    train::Batch b;
    b.inputs = torch::full({4, 5}, x);
    b.labels = torch::zeros({4}, torch::kLong);
    b.indices = {0, 1, 2, 3};
    return b.to(dev);
  };
  const torch::Tensor before = flat_parameters(*model).cpu();

  const train::StepStats overflowed = train::train_step(ctx, batch_of(r == 1 ? 1e4 : 0.1), 0.1);
  const auto params = flat_parameters(*model).cpu();  // waits for the step
  EXPECT_TRUE(same_on_all_ranks(overflowed.overflow ? 1 : 0));
  EXPECT_TRUE(overflowed.overflow) << "rank " << r << " took the step";
  EXPECT_EQ(overflowed.loss_scale, 65536.0);
  EXPECT_TRUE(std::isfinite(overflowed.loss_t.item<double>())) << "the loss itself is finite";
  EXPECT_EQ(scaler.scale(), 32768.0);
  EXPECT_EQ(scaler.overflows(), 1);
  EXPECT_TRUE(same_on_all_ranks(bits_of(scaler.scale())));
  EXPECT_TRUE(torch::equal(params, before)) << "an overflowed step changed the parameters";
  EXPECT_TRUE(same_on_all_ranks(digest(*model)));

  const train::StepStats taken = train::train_step(ctx, batch_of(r == 1 ? 0.2 : 0.1), 0.1);
  const auto after = flat_parameters(*model).cpu();
  EXPECT_TRUE(same_on_all_ranks(taken.overflow ? 1 : 0));
  EXPECT_FALSE(taken.overflow) << "rank " << r;
  EXPECT_EQ(taken.loss_scale, 32768.0);
  EXPECT_EQ(scaler.scale(), 32768.0);
  EXPECT_FALSE(torch::equal(after, before)) << "the step after the overflow changed nothing";
  EXPECT_TRUE(torch::isfinite(after).all().item<bool>());
  EXPECT_TRUE(same_on_all_ranks(digest(*model)));
}

// ------------------------------------------------------------------ G6: pinned batches

// G6: pinned host batches copied with non_blocking on the copy stream while the loader refills
// its buffers at once (data.prefetch = 1), one epoch over x[i] = i (row i of the features file
// holds i in every column, label i mod 7), shuffled and sharded over the ranks: every batch on
// the device holds exactly the rows its indices name, and the labels that go with them (a host
// buffer reused before its copy finished would put another batch's rows there). TrainBatches
// (Note [Copy stream] in frost/train/feature_cache.h) hands out the Trainer's batches. Before
// each batch a 64 MiB host-to-device copy is queued on another stream, to keep the copy engine
// busy so that the batch copies run late; the checks run on the device, on the compute stream,
// and are read once at the end.
TEST(GpuPinnedBatches, EveryDeviceBatchHoldsTheRowsItsIndicesNameAnyWorld) {
  FROST_GPU_TARGET_OR_SKIP(target);
  const torch::Device dev = target.device;
  const int64_t n = 4096, dim = 1024, classes = 7, batch = 64;
  const std::string dir = job_dir("gpu-pinned-batches");
  const std::string path = write_on_rank0(dir + "/rows.h5", [&] {
    const auto x = torch::arange(n, torch::kFloat).unsqueeze(1).expand({n, dim}).contiguous();
    const auto y = torch::arange(n, torch::kLong).remainder(classes);
    data::write_dataset(dir + "/rows.h5", feature_info(n, dim, classes), x.data_ptr<float>(),
                        y.data_ptr<int64_t>());
  });
  const data::H5Dataset rows = data::H5Dataset::open({path});
  const data::TrainSampler sampler(n, world().world_size(), world().rank(), batch, /*seed=*/5,
                                   /*shuffle=*/true, /*drop_last=*/false);
  const auto order = sampler.epoch_batches(0);
  train::Config cfg;
  cfg.data.train = path;
  cfg.data.prefetch = 1;
  train::TrainBatches batches(rows, nullptr, order, cfg, dev);
  EXPECT_EQ(batches.size(), static_cast<int64_t>(order.size()));

  c10::impl::VirtualGuardImpl cuda(c10::DeviceType::CUDA);
  const c10::Stream side = cuda.getStreamFromGlobalPool(dev, /*isHighPriority=*/false);
  const auto busy_host =
      torch::ones({int64_t{16} << 20}, torch::dtype(torch::kFloat).pinned_memory(true));
  const auto busy_device =
      torch::empty({int64_t{16} << 20}, torch::dtype(torch::kFloat).device(dev));
  auto wrong_rows = torch::zeros({}, torch::dtype(torch::kLong).device(dev));
  auto wrong_labels = torch::zeros({}, torch::dtype(torch::kLong).device(dev));
  int64_t seen = 0;
  // EXPECT and break, not ASSERT: every rank must reach the gather below.
  for (int64_t i = 0; i < batches.size(); ++i) {
    {
      const c10::StreamGuard on_side(side);
      busy_device.copy_(busy_host, /*non_blocking=*/true);
    }
    const train::Batch b = batches.next(i);
    const auto rows_in_batch = static_cast<int64_t>(b.indices.size());
    if (b.indices != order[static_cast<size_t>(i)] || b.inputs.device() != dev ||
        b.inputs.sizes().vec() != std::vector<int64_t>{rows_in_batch, dim}) {
      ADD_FAILURE() << "batch " << i << ": indices, device or shape differ from the sampler's "
                    << "batch on " << dev << " (" << b.inputs.sizes() << " on " << b.inputs.device()
                    << ")";
      break;
    }
    const auto idx = torch::tensor(b.indices, torch::kLong).to(dev);
    const auto want = idx.to(torch::kFloat).unsqueeze(1).expand_as(b.inputs);
    wrong_rows += b.inputs.ne(want).any(1).sum();
    wrong_labels += b.labels.ne(idx.remainder(classes)).sum();
    seen += rows_in_batch;
  }
  // The busy copies write busy_device on `side` only: done before it is freed (the caching
  // allocator knows only the compute stream as its user).
  side.synchronize();
  EXPECT_EQ(wrong_rows.item<int64_t>(), 0)
      << "device rows that are not the rows their indices name";
  EXPECT_EQ(wrong_labels.item<int64_t>(), 0) << "device labels that are not their rows'";
  int64_t total = 0;
  for (const int64_t s : gather(seen)) total += s;
  EXPECT_EQ(total, n) << "one epoch covers every row once";
}

}  // namespace
}  // namespace frost::testing
