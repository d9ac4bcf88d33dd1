// The MPI test bodies of the gradient reducer and of replica set-up, on the device of the
// gradient communicator they are given (Note [Training tests on CPU and GPU] in
// device_target.h): the CPU tests (test_comm_reducer.cpp) pass world(), MPI on CPU tensors; the
// GPU tests (test_gpu_training.cpp) an NCCL communicator, CUDA tensors on its device. Models and
// inputs are made on the CPU from seeded generators, so both devices see the same values, and
// then moved to c.device(); checks across ranks go through world() on the host.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "device_target.h"
#include "frost/comm/communicator.h"
#include "frost/core/error.h"
#include "frost/distributed/grad_reducer.h"
#include "frost/distributed/state_sync.h"
#include "frost/models/models.h"
#include "mpi_test_util.h"

namespace frost::testing {

/// FNV-1a of the bits of `t` (any device; read on the host), for comparisons across ranks.
inline int64_t bits_hash(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().cpu().contiguous();
  return static_cast<int64_t>(distributed::fnv1a64(std::string(
      static_cast<const char*>(c.data_ptr()), c.numel() * static_cast<int64_t>(c.element_size()))));
}

// F13: ranks seeded differently (1000 + rank) hold rank 0's parameters and buffers after
// set-up, and stay bitwise equal over 5 steps on rank-specific data.
inline void expect_replicas_identical_after_setup_and_steps(comm::Communicator& c) {
  const torch::Device dev = c.device();
  torch::manual_seed(1000 + c.rank());
  models::BackboneSpec spec;
  spec.arch = "resnet18";
  spec.width = 4;
  spec.small_input = true;
  spec.in_channels = 1;
  models::Classifier model(models::make_backbone(spec), 3);
  model->to(dev);
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
    auto x = torch::randn({4, 1, 8, 8}).to(dev);  // different on every rank (seeded per rank)
    auto y = torch::randint(0, 3, {4}, torch::kLong).to(dev);
    opt.zero_grad();
    reducer.prepare_step();
    torch::nn::functional::cross_entropy(model->forward(x), y).backward();
    reducer.finalize();
    opt.step();
    // BatchNorm running statistics are per-rank (as in PyTorch DDP without SyncBatchNorm), so
    // compare the parameters, which the all-reduce keeps identical.
    // (Unsigned arithmetic: the combination wraps by definition; UBSan flagged the signed form.)
    uint64_t h = 0;
    for (auto& p : model->parameters()) h = h * 31 + static_cast<uint64_t>(bits_hash(p));
    EXPECT_TRUE(same_on_all_ranks(static_cast<int64_t>(h))) << "parameters differ across ranks after step " << step + 1;
  }
}

// F2: a trainable parameter that forward never uses: no hang, and its gradient is zero on
// every rank while the used parameters are averaged.
inline void expect_unused_parameter_gets_zero_gradient(comm::Communicator& c) {
  const torch::Device dev = c.device();
  struct Net : torch::nn::Module {
    torch::nn::Linear used{nullptr}, unused{nullptr};
    Net() {
      used = register_module("used", torch::nn::Linear(6, 3));
      unused = register_module("unused", torch::nn::Linear(6, 3));
    }
  };
  torch::manual_seed(5);
  Net net;
  net.to(dev);
  distributed::broadcast_state(net, c);
  distributed::GradReducer reducer(net, c, /*bucket_cap_bytes=*/64);  // several buckets
  ASSERT_GT(reducer.num_buckets(), 1);
  torch::manual_seed(100 + c.rank());
  for (int step = 0; step < 3; ++step) {
    net.zero_grad();
    reducer.prepare_step();
    net.used->forward(torch::randn({5, 6}).to(dev)).pow(2).mean().backward();
    reducer.finalize();
    EXPECT_TRUE(torch::equal(net.unused->weight.grad().cpu(), torch::zeros({3, 6})));
    EXPECT_TRUE(torch::equal(net.unused->bias.grad().cpu(), torch::zeros({3})));
    EXPECT_TRUE(same_on_all_ranks(bits_hash(net.used->weight.grad())));
    EXPECT_EQ(reducer.last_step().collectives, c.world_size() == 1 ? 0 : reducer.num_buckets());
  }
}

// Buckets are not cleared between steps: a parameter used in one step and not in the next must
// still get a zero gradient in the next (not the value left in its slot), at every world size.
inline void expect_parameter_unused_after_a_used_step_gets_zero_gradient(comm::Communicator& c) {
  const torch::Device dev = c.device();
  torch::manual_seed(5);
  torch::nn::Linear a(6, 3), b(6, 3);
  torch::nn::Sequential net(a, b);  // registration only; forward is written out below
  net->to(dev);
  distributed::broadcast_state(*net, c);
  distributed::GradReducer reducer(*net, c, /*bucket_cap_bytes=*/1 << 20);  // one bucket holds both
  ASSERT_EQ(reducer.num_buckets(), 1);
  torch::manual_seed(100 + c.rank());
  for (int step = 0; step < 4; ++step) {
    const bool use_b = step % 2 == 0;
    reducer.prepare_step();
    const auto x = torch::randn({5, 6}).to(dev);
    (use_b ? a->forward(x) + b->forward(x) : a->forward(x)).pow(2).mean().backward();
    reducer.finalize();
    const bool b_zero = torch::equal(b->weight.grad().cpu(), torch::zeros({3, 6})) &&
                        torch::equal(b->bias.grad().cpu(), torch::zeros({3}));
    EXPECT_EQ(b_zero, !use_b) << "step " << step;
    EXPECT_GT(a->weight.grad().abs().sum().item<float>(), 0.0f) << "step " << step;
  }
}

// The reference of the gradient tests: `n` samples x [n, 5] -> y [n, 2] (seeded), a Linear(5, 2)
// `ref` whose .grad() holds the one-process gradient of the MSE over all n samples, and `lin`,
// a fresh copy of ref's weights for the reducer to train. All on `dev`.
struct LinearTwins {
  torch::Tensor x, y;
  torch::nn::Linear ref{nullptr}, lin{nullptr};
};
inline LinearTwins linear_twins(uint64_t seed, int64_t n, const torch::Device& dev) {
  torch::manual_seed(seed);
  LinearTwins t{torch::randn({n, 5}).to(dev), torch::randn({n, 2}).to(dev),
                torch::nn::Linear(5, 2), torch::nn::Linear(5, 2)};
  t.ref->to(dev);
  t.lin->to(dev);
  {
    torch::NoGradGuard g;
    t.lin->weight.copy_(t.ref->weight);
    t.lin->bias.copy_(t.ref->bias);
  }
  torch::nn::functional::mse_loss(t.ref->forward(t.x), t.y).backward();
  return t;
}

// F11: the same 8 samples split over 1, 2 or 4 ranks give the gradient of the global
// per-sample mean (<= 1e-6), whatever the world size.
inline void expect_gradient_is_the_global_mean(comm::Communicator& c) {
  const torch::Device dev = c.device();
  const int w = c.world_size();
  ASSERT_EQ(8 % w, 0);
  auto [x, y, ref, lin] = linear_twins(21, 8, dev);
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
inline void expect_accumulated_micro_batches_give_the_global_mean_once(comm::Communicator& c) {
  const torch::Device dev = c.device();
  const int w = c.world_size();
  ASSERT_EQ(16 % (2 * w), 0);
  auto [x, y, ref, lin] = linear_twins(33, 16, dev);
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
    EXPECT_TRUE(same_on_all_ranks(
        bits_hash(torch::cat({lin->weight.grad().reshape({-1}), lin->bias.grad()}))));
    EXPECT_EQ(reducer.last_step().collectives, w == 1 ? 0 : 2) << "one all-reduce per bucket per step";
    if (w == 1) {
      EXPECT_EQ(reducer.last_step().all_reduce_s, 0.0);
    } else if (dev.is_cuda()) {
      // NCCL's wait() is stream-ordered: finalize() returns before the all-reduces have ended on
      // the GPU, and Work::duration_s() is 0 until a collective's end event is reached, so the
      // sum holds only the collectives that had finished by then (possibly none).
      EXPECT_GE(reducer.last_step().all_reduce_s, 0.0);
    } else {
      EXPECT_GT(reducer.last_step().all_reduce_s, 0.0) << "backend time of the 2 all-reduces";
    }
    EXPECT_EQ(reducer.last_step().all_reduce_bytes, w == 1 ? 0 : (5 * 2 + 2) * 4);
  }
}

// A parameter used in an early micro-batch but not in the last one still gets its
// accumulated, averaged gradient (its bucket launches in finalize()).
inline void expect_parameter_unused_in_the_last_micro_batch_keeps_its_gradient(
    comm::Communicator& c) {
  const torch::Device dev = c.device();
  torch::nn::Linear a(3, 1), b(3, 1);
  struct Net : torch::nn::Module {};
  Net net;
  net.register_module("a", a);
  net.register_module("b", b);
  net.to(dev);
  distributed::broadcast_state(net, c);
  distributed::GradReducer reducer(net, c, /*bucket_cap_bytes=*/1);  // a bucket per parameter
  auto x = torch::full({1, 3}, static_cast<double>(c.rank() + 1)).to(dev);
  net.zero_grad();
  reducer.prepare_step(2);
  b->forward(x).sum().backward();  // micro-batch 0: b only
  reducer.next_micro_batch();
  a->forward(x).sum().backward();  // micro-batch 1: a only
  reducer.finalize();
  // d/dW of sum(W x + c) is x; the mean over ranks of (r + 1) is (W + 1) / 2.
  const double mean = (c.world_size() + 1) / 2.0;
  EXPECT_TRUE(torch::allclose(b->weight.grad().cpu(), torch::full({1, 3}, mean)));
  EXPECT_TRUE(torch::allclose(a->weight.grad().cpu(), torch::full({1, 3}, mean)));
  EXPECT_TRUE(torch::allclose(b->bias.grad().cpu(), torch::ones({1})));
}

// Note [Gradients in bucket memory]: after finalize() the parameters of one bucket have
// gradients in that bucket's memory (no copy), on the parameters' device, which the optimizer
// and its zero_grad() accept, and the next step's backward does not add to the old values.
inline void expect_gradients_live_in_bucket_memory(comm::Communicator& c) {
  const torch::Device dev = c.device();
  torch::manual_seed(4);
  torch::nn::Linear lin(4, 3);
  lin->to(dev);
  distributed::broadcast_state(*lin, c);
  distributed::GradReducer reducer(*lin, c);  // one bucket: weight and bias
  ASSERT_EQ(reducer.num_buckets(), 1);
  torch::optim::SGD sgd(lin->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  auto x = torch::ones({2, 4}).to(dev);
  torch::Tensor first;
  for (int step = 0; step < 2; ++step) {
    reducer.prepare_step();
    EXPECT_FALSE(lin->weight.grad().defined()) << "prepare_step() resets .grad()";
    lin->forward(x).sum().backward();
    reducer.finalize();
    EXPECT_EQ(lin->weight.grad().device(), dev) << "the bucket lives on the parameters' device";
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
inline void expect_bf16_comm_halves_the_bytes(comm::Communicator& c) {
  const torch::Device dev = c.device();
  const int64_t d = 24, classes = 5;
  torch::manual_seed(9);
  torch::nn::Linear lin32(d, classes), lin16(d, classes);
  lin32->to(dev);
  lin16->to(dev);
  distributed::broadcast_state(*lin32, c);
  {
    torch::NoGradGuard no_grad;
    lin16->weight.copy_(lin32->weight);
    lin16->bias.copy_(lin32->bias);
  }
  distributed::GradReducer r32(*lin32, c);
  distributed::GradReducer r16(*lin16, c, distributed::kDefaultBucketCapBytes, torch::kBFloat16);
  torch::manual_seed(100 + c.rank());  // each rank its own rows
  const auto x = torch::randn({6, d}).to(dev);
  for (auto* pair : {&r32, &r16}) pair->prepare_step();
  lin32->forward(x).pow(2).sum().backward();
  lin16->forward(x).pow(2).sum().backward();
  r32.finalize();
  r16.finalize();
  const int64_t fp32_bytes = 4 * (d * classes + classes);
  EXPECT_EQ(r32.last_step().all_reduce_bytes, c.world_size() > 1 ? fp32_bytes : 0);
  EXPECT_EQ(r16.last_step().all_reduce_bytes, c.world_size() > 1 ? fp32_bytes / 2 : 0);
  EXPECT_EQ(lin16->weight.grad().scalar_type(), torch::kFloat);
  EXPECT_EQ(lin16->weight.grad().device(), dev);
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
inline void expect_small_buckets_launch_in_order_and_average(comm::Communicator& c) {
  const torch::Device dev = c.device();
  torch::manual_seed(9);
  torch::nn::Sequential net(torch::nn::Linear(8, 8), torch::nn::ReLU(), torch::nn::Linear(8, 8),
                            torch::nn::ReLU(), torch::nn::Linear(8, 2));
  net->to(dev);
  distributed::broadcast_state(*net, c);
  distributed::GradReducer reducer(*net, c, /*bucket_cap_bytes=*/100);
  EXPECT_GE(reducer.num_buckets(), 4);
  // Reverse registration order: the last layer's bias is in bucket 0.
  EXPECT_EQ(reducer.bucket_param_names(0).front(), "4.bias");
  torch::manual_seed(50 + c.rank());
  auto x = torch::randn({3, 8});
  net->zero_grad();
  reducer.prepare_step();
  net->forward(x.to(dev)).sum().backward();
  reducer.finalize();
  // Reference: the mean of every rank's local gradient, computed by gathering inputs (on the
  // host, over world()).
  auto all_x = torch::empty({c.world_size() * 3 * 8});
  world().all_gather(x.reshape({-1}).contiguous(), all_x);
  all_x = all_x.view({c.world_size(), 3, 8});
  std::vector<torch::Tensor> local_means;
  auto clone = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(net->clone());
  for (int r = 0; r < c.world_size(); ++r) {
    clone->zero_grad();
    clone->forward(all_x[r].to(dev)).sum().backward();
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

// The bucket timeline (Note [Bucket timeline] in grad_reducer.h): off, nothing is recorded; on,
// one entry per bucket in the reducer's launch order, bytes summing to the trainable gradients'
// bytes (a frozen layer contributes none), launch times non-negative, non-decreasing and within
// backward, the explicit origin honoured, all-reduce durations known exactly when there is an
// all-reduce; a step of 2 micro-batches gets one fresh timeline, not one per micro-batch.
inline void expect_bucket_timeline_matches_the_buckets(comm::Communicator& c) {
  const torch::Device dev = c.device();
  torch::manual_seed(9);
  torch::nn::Sequential net(torch::nn::Linear(8, 8), torch::nn::ReLU(), torch::nn::Linear(8, 8),
                            torch::nn::ReLU(), torch::nn::Linear(8, 2));
  net->to(dev);
  distributed::broadcast_state(*net, c);
  for (auto& p : net[0]->parameters()) p.set_requires_grad(false);  // frozen: in no bucket
  // 100-byte cap: {4.bias, 4.weight} (72 B), {2.bias} (32 B), {2.weight} (256 B).
  distributed::GradReducer reducer(*net, c, /*bucket_cap_bytes=*/100);
  ASSERT_EQ(reducer.num_buckets(), 3);
  int64_t trainable_bytes = 0;
  for (auto& p : net->parameters()) {
    if (p.requires_grad()) trainable_bytes += p.numel() * static_cast<int64_t>(p.element_size());
  }
  ASSERT_EQ(trainable_bytes, (8 * 8 + 8 + 8 * 2 + 2) * 4);
  torch::manual_seed(50 + c.rank());
  const auto x = torch::randn({3, 8}).to(dev);
  auto step = [&](int64_t micro_batches, bool mark) {
    reducer.prepare_step(micro_batches);
    for (int64_t m = 0; m < micro_batches; ++m) {
      if (m > 0) reducer.next_micro_batch();
      auto loss = net->forward(x).sum();
      if (mark && m + 1 == micro_batches) {
        reducer.mark_backward_start();
        // The stream is idle here, so on a device too the backward's kernels reach it >= 20 ms
        // after the origin event.
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      loss.backward();
    }
    reducer.finalize();
    distributed::ReduceStats st = reducer.last_step();
    distributed::resolve_timeline(st);
    EXPECT_FALSE(st.device_timeline) << "resolve_timeline() releases the events";
    return st;
  };

  const distributed::ReduceStats off = step(1, false);
  EXPECT_FALSE(reducer.timeline());
  EXPECT_TRUE(off.buckets.empty());
  EXPECT_TRUE(std::isnan(off.timeline_backward_s));

  reducer.set_timeline(true);
  EXPECT_TRUE(reducer.timeline());
  for (const auto& [micro_batches, mark] : {std::pair<int64_t, bool>{1, false}, {2, true}}) {
    SCOPED_TRACE("micro_batches " + std::to_string(micro_batches) + (mark ? ", marked" : ""));
    const distributed::ReduceStats st = step(micro_batches, mark);
    ASSERT_EQ(static_cast<int64_t>(st.buckets.size()), reducer.num_buckets());
    ASSERT_FALSE(std::isnan(st.timeline_backward_s));
    int64_t bytes = 0;
    double previous = 0.0;
    for (int64_t i = 0; i < reducer.num_buckets(); ++i) {
      const distributed::BucketTiming& t = st.buckets[i];
      EXPECT_EQ(t.bucket, i);
      EXPECT_EQ(t.bytes, reducer.bucket_numel(i) * 4) << "bucket " << i;
      EXPECT_GE(t.ready_s, 0.0) << "bucket " << i;
      EXPECT_GE(t.ready_s, previous) << "bucket " << i << " launched before bucket " << i - 1;
      EXPECT_LE(t.ready_s, st.timeline_backward_s + 1e-6) << "bucket " << i;
      if (c.world_size() > 1) {
        EXPECT_FALSE(std::isnan(t.allreduce_s)) << "bucket " << i;
        EXPECT_GE(t.allreduce_s, 0.0) << "bucket " << i;
      } else {
        EXPECT_TRUE(std::isnan(t.allreduce_s)) << "one rank: no all-reduce, bucket " << i;
      }
      previous = t.ready_s;
      bytes += t.bytes;
    }
    EXPECT_EQ(bytes, trainable_bytes);
    if (c.world_size() > 1) {
      EXPECT_EQ(bytes, st.all_reduce_bytes);
    }
    if (mark) {
      EXPECT_GE(st.buckets.front().ready_s, 0.015) << "the origin is the mark";
    }
  }
}

}  // namespace frost::testing
