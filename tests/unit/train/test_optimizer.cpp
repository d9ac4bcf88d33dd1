// Unit tests of Frost's optimizers (Note [Multi-tensor optimizer step] in
// frost/train/optimizer.h): on the CPU the _foreach_ path is bitwise LibTorch's per-parameter
// SGD and AdamW; the fused path agrees with it within float32 rounding (on the CPU here, on a
// GPU in the Gpu* twin); the state is LibTorch's, so checkpoints move between the two.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "frost/train/optimizer.h"

namespace frost::train {
namespace {

// A few parameters of different shapes (one 4-d, as a convolution's weight) on `device`.
std::vector<torch::Tensor> make_params(uint64_t seed, const torch::Device& device) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> ps;
  for (const auto& shape : std::vector<std::vector<int64_t>>{{7, 5}, {5}, {3, 2, 3, 3}, {1}})
    ps.push_back(torch::randn(shape).to(device).requires_grad_(true));
  return ps;
}

std::vector<torch::Tensor> clone_params(const std::vector<torch::Tensor>& ps) {
  std::vector<torch::Tensor> out;
  for (const auto& p : ps) out.push_back(p.detach().clone().requires_grad_(true));
  return out;
}

// Sets the gradients of step `step` (the same for every copy of the parameters). Parameter 1
// has no gradient at steps 0 and 2 (as a parameter no loss reached): both implementations must
// skip it, and create its state at its first step with a gradient, later than the others'.
void set_grads(std::vector<torch::Tensor>& ps, int step) {
  torch::manual_seed(1000 + step);
  for (size_t i = 0; i < ps.size(); ++i) {
    auto g = torch::randn(ps[i].sizes()).to(ps[i].device());
    if (i == 1 && (step == 0 || step == 2)) {
      ps[i].mutable_grad() = torch::Tensor();
    } else {
      ps[i].mutable_grad() = g;
    }
  }
}

void run_steps(torch::optim::Optimizer& opt, std::vector<torch::Tensor>& ps, int steps,
               double lr_decay = 0.9) {
  for (int s = 0; s < steps; ++s) {
    set_grads(ps, s);
    opt.step();
    for (auto& group : opt.param_groups()) group.options().set_lr(group.options().get_lr() * lr_decay);
  }
}

OptimConfig sgd_config(double momentum, bool nesterov, double wd) {
  OptimConfig o;
  o.name = OptimizerKind::kSgd;
  o.lr = 0.05;
  o.momentum = momentum;
  o.nesterov = nesterov;
  o.weight_decay = wd;
  return o;
}

OptimConfig adamw_config(double wd) {
  OptimConfig o;
  o.name = OptimizerKind::kAdamW;
  o.lr = 1e-3;
  o.weight_decay = wd;
  return o;
}

std::unique_ptr<torch::optim::Optimizer> libtorch_optimizer(const OptimConfig& o,
                                                            const std::vector<torch::Tensor>& ps) {
  if (o.name == OptimizerKind::kSgd)
    return std::make_unique<torch::optim::SGD>(
        ps, torch::optim::SGDOptions(o.lr).momentum(o.momentum).nesterov(o.nesterov).weight_decay(
                o.weight_decay));
  return std::make_unique<torch::optim::AdamW>(
      ps, torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(
              o.weight_decay));
}

std::vector<OptimConfig> all_configs() {
  return {sgd_config(0.0, false, 0.0), sgd_config(0.9, false, 5e-4), sgd_config(0.9, true, 1e-2),
          adamw_config(0.0), adamw_config(0.05)};
}

std::string describe(const OptimConfig& o) {
  std::ostringstream s;
  s << (o.name == OptimizerKind::kSgd ? "sgd" : "adamw") << " momentum " << o.momentum
    << " nesterov " << o.nesterov << " weight_decay " << o.weight_decay;
  return s.str();
}

// On the CPU, Frost's optimizer (auto = the _foreach_ path) gives LibTorch's parameters bit for
// bit over 6 steps with a changing learning rate and a step without one gradient.
TEST(Optimizer, ForeachIsBitwiseLibTorchOnTheCpu) {
  for (const auto& o : all_configs()) {
    SCOPED_TRACE(describe(o));
    auto a = make_params(3, torch::kCPU);
    auto b = clone_params(a);
    auto theirs = libtorch_optimizer(o, a);
    auto ours = make_optimizer(o, b);
    run_steps(*theirs, a, 6);
    run_steps(*ours, b, 6);
    for (size_t i = 0; i < a.size(); ++i)
      EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i << " differs by "
                                            << (a[i] - b[i]).abs().max().item<double>();
  }
}

// Two groups with their own rate multiplier and weight decay (Note [Parameter groups]): Frost's
// optimizer over both, its rate set per step by set_learning_rate, is bitwise two LibTorch
// optimizers, one per group at lr x lr_scale with the group's weight decay.
TEST(Optimizer, TwoGroupsAreBitwisePerGroupLibTorch) {
  for (auto o : all_configs()) {
    if (o.weight_decay == 0) o.weight_decay = 0.02;  // so the two groups' decays differ
    SCOPED_TRACE(describe(o));
    auto a = make_params(3, torch::kCPU);
    auto b = clone_params(a);
    const double scale0 = 1.0, scale1 = 0.25;
    auto ours = make_optimizer(o, std::vector<ParamGroup>{{{b[0], b[1]}, scale0, o.weight_decay},
                                                          {{b[2], b[3]}, scale1, 0.0}});
    ASSERT_EQ(ours->param_groups().size(), 2u);
    OptimConfig o0 = o, o1 = o;
    o1.weight_decay = 0.0;
    std::vector<torch::Tensor> a0{a[0], a[1]}, a1{a[2], a[3]};
    auto theirs0 = libtorch_optimizer(o0, a0);
    auto theirs1 = libtorch_optimizer(o1, a1);
    double lr = o.lr;
    for (int s = 0; s < 6; ++s, lr *= 0.9) {
      set_grads(a, s);
      set_grads(b, s);
      set_learning_rate(*ours, lr);
      for (auto& g : theirs0->param_groups()) g.options().set_lr(lr * scale0);
      for (auto& g : theirs1->param_groups()) g.options().set_lr(lr * scale1);
      ours->step();
      theirs0->step();
      theirs1->step();
    }
    for (size_t i = 0; i < a.size(); ++i)
      EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i << " differs by "
                                            << (a[i] - b[i]).abs().max().item<double>();
    // The groups did take different steps: with one group at scale 1, parameter 2 differs.
    auto c = clone_params(make_params(3, torch::kCPU));
    auto one = make_optimizer(o, c);
    lr = o.lr;
    for (int s = 0; s < 6; ++s, lr *= 0.9) {
      set_grads(c, s);
      set_learning_rate(*one, lr);
      one->step();
    }
    EXPECT_FALSE(torch::equal(c[2], b[2]));
  }
}

// The fused path runs per group too: two groups agree with the _foreach_ path.
TEST(Optimizer, TwoGroupsFusedAgreesWithForeachOnTheCpu) {
  for (const auto& o : all_configs()) {
    SCOPED_TRACE(describe(o));
    auto a = make_params(5, torch::kCPU);
    auto b = clone_params(a);
    auto groups = [&](std::vector<torch::Tensor>& p) {
      return std::vector<ParamGroup>{{{p[0], p[2]}, 1.0, o.weight_decay}, {{p[1], p[3]}, 3.0, 0.0}};
    };
    auto foreach = make_optimizer(o, groups(a), OptimizerImpl::kForeach);
    auto fused = make_optimizer(o, groups(b), OptimizerImpl::kFused);
    run_steps(*foreach, a, 6);
    run_steps(*fused, b, 6);
    for (size_t i = 0; i < a.size(); ++i)
      EXPECT_TRUE(torch::allclose(a[i], b[i], /*rtol=*/1e-5, /*atol=*/1e-6))
          << "parameter " << i << " differs by " << (a[i] - b[i]).abs().max().item<double>();
  }
}

// The fused kernels (what CUDA runs) agree with the _foreach_ path within float32 rounding; run
// on `device`.
void expect_fused_close_to_foreach(const torch::Device& device) {
  for (const auto& o : all_configs()) {
    SCOPED_TRACE(describe(o));
    auto a = make_params(5, torch::kCPU);
    auto b = clone_params(a);
    for (auto& p : b) p = p.detach().to(device).requires_grad_(true);
    auto foreach = make_optimizer(o, a, OptimizerImpl::kForeach);
    auto fused = make_optimizer(o, b, OptimizerImpl::kFused);
    run_steps(*foreach, a, 6);
    run_steps(*fused, b, 6);
    for (size_t i = 0; i < a.size(); ++i) {
      const auto fb = b[i].detach().cpu();
      EXPECT_TRUE(torch::allclose(a[i], fb, /*rtol=*/1e-5, /*atol=*/1e-6))
          << "parameter " << i << " differs by " << (a[i] - fb).abs().max().item<double>();
      EXPECT_FALSE(torch::equal(a[i], make_params(5, torch::kCPU)[i]))
          << "parameter " << i << " did not move";
    }
  }
}

TEST(Optimizer, FusedAgreesWithForeachOnTheCpu) { expect_fused_close_to_foreach(torch::kCPU); }

TEST(GpuOptimizer, FusedOnCudaAgreesWithForeachOnTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "needs a CUDA device; this process sees none";
  expect_fused_close_to_foreach(torch::Device(torch::kCUDA, 0));
}

// A checkpoint's optimizer archive moves both ways between Frost's optimizer and LibTorch's:
// the state (momentum buffers, AdamW moments and step) is LibTorch's, under LibTorch's names.
TEST(Optimizer, StateRoundTripsThroughLibTorchArchives) {
  for (const auto& o : all_configs()) {
    SCOPED_TRACE(describe(o));
    auto a = make_params(9, torch::kCPU);
    auto ours = make_optimizer(o, a);
    run_steps(*ours, a, 3);
    torch::serialize::OutputArchive out;
    ours->save(out);
    std::ostringstream bytes;
    out.save_to(bytes);

    auto b = clone_params(a);
    auto theirs = libtorch_optimizer(o, b);
    torch::serialize::InputArchive in;
    std::istringstream is(bytes.str());
    in.load_from(is);
    theirs->load(in);
    // Both continue for 3 steps from the same state: LibTorch's loop and Frost's path agree
    // bit for bit on the CPU, so the parameters must be equal if the state came across whole.
    run_steps(*ours, a, 3);
    run_steps(*theirs, b, 3);
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
  }
}

}  // namespace
}  // namespace frost::train
