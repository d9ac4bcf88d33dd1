// CUDA variants of the mixed-precision unit tests (test_precision.cpp; Note [Mixed precision] in
// frost/train/precision.h): autocast on a CUDA device, where fp16 is allowed, and loss scaling of
// gradients that live on the GPU. Without a CUDA device they skip with the reason, which ctest
// reports as skipped, not passed (gtest_discover_tests matches gtest's "[  SKIPPED ]" line).
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <limits>
#include <utility>

#include "frost/train/precision.h"

namespace frost::train {
namespace {

#define FROST_CUDA_OR_SKIP() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "needs a CUDA device; this process sees none"

TEST(GpuAutocastScope, Bf16AndFp16RunLinearInTheirDtypeOnCudaAndRestore) {
  FROST_CUDA_OR_SKIP();
  torch::nn::Linear lin(8, 4);
  lin->to(torch::kCUDA);
  const auto x = torch::randn({2, 8}).to(torch::kCUDA);
  for (const auto& [precision, dtype] : {std::pair{Precision::kBf16, torch::kBFloat16},
                                         std::pair{Precision::kFp16, torch::kHalf}}) {
    SCOPED_TRACE(to_string(precision));
    {
      const AutocastScope scope(precision, c10::DeviceType::CUDA);
      EXPECT_TRUE(at::autocast::is_autocast_enabled(c10::DeviceType::CUDA));
      EXPECT_FALSE(at::autocast::is_autocast_enabled(c10::DeviceType::CPU)) << "CUDA only";
      const torch::Tensor y = lin->forward(x);
      EXPECT_EQ(y.scalar_type(), dtype);
      EXPECT_TRUE(y.is_cuda());
    }
    EXPECT_FALSE(at::autocast::is_autocast_enabled(c10::DeviceType::CUDA));
    EXPECT_EQ(lin->forward(x).scalar_type(), torch::kFloat);
    EXPECT_EQ(lin->weight.scalar_type(), torch::kFloat) << "weights stay float32";
  }
}

// The gradients are unscaled in place on the device, and an Inf that only the GPU holds is an
// overflow (the finiteness check reads the device's values).
TEST(GpuLossScaler, UnscalesCudaGradientsInPlaceAndSeesAnOverflowOnTheDevice) {
  FROST_CUDA_OR_SKIP();
  LossScaler::Options o;
  o.init_scale = 8;
  o.growth_interval = 2;
  LossScaler s(o);
  auto g = torch::full({3}, 16.0).to(torch::kCUDA);
  EXPECT_TRUE(s.unscale_and_update({g}));
  EXPECT_TRUE(g.is_cuda());
  EXPECT_TRUE(torch::equal(g.cpu(), torch::full({3}, 2.0)));
  EXPECT_EQ(s.scale(), 8);
  auto bad = torch::ones({2}).to(torch::kCUDA);
  bad[1].fill_(std::numeric_limits<float>::infinity());
  EXPECT_FALSE(s.unscale_and_update({torch::ones({2}).to(torch::kCUDA), bad}));
  EXPECT_EQ(s.scale(), 4);
  EXPECT_EQ(s.overflows(), 1);
  EXPECT_TRUE(s.unscale_and_update({torch::ones({1}).to(torch::kCUDA)}));
  EXPECT_TRUE(s.unscale_and_update({torch::ones({1}).to(torch::kCUDA)}));
  EXPECT_EQ(s.scale(), 8) << "doubles after growth_interval good steps";
}

}  // namespace
}  // namespace frost::train
