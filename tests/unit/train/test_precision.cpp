// Unit tests of mixed precision (Note [Mixed precision] in frost/train/precision.h).
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>
#include <vector>

#include "frost/core/error.h"
#include "frost/train/precision.h"

namespace frost::train {
namespace {

TEST(AutocastScope, Bf16RunsLinearInBf16OnCpuAndRestores) {
  torch::nn::Linear lin(8, 4);
  const auto x = torch::randn({2, 8});
  {
    const AutocastScope scope(Precision::kBf16, c10::DeviceType::CPU);
    EXPECT_TRUE(at::autocast::is_autocast_enabled(c10::DeviceType::CPU));
    EXPECT_EQ(lin->forward(x).scalar_type(), torch::kBFloat16);
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(c10::DeviceType::CPU));
  EXPECT_EQ(lin->forward(x).scalar_type(), torch::kFloat);
  EXPECT_EQ(lin->weight.scalar_type(), torch::kFloat) << "weights stay float32";
}

TEST(AutocastScope, Fp32IsPlainFloat32) {
  torch::nn::Linear lin(8, 4);
  const AutocastScope scope(Precision::kFp32, c10::DeviceType::CPU);
  EXPECT_FALSE(at::autocast::is_autocast_enabled(c10::DeviceType::CPU));
  EXPECT_EQ(lin->forward(torch::randn({2, 8})).scalar_type(), torch::kFloat);
}

TEST(AutocastScope, Fp16OnCpuIsRefused) {
  try {
    const AutocastScope scope(Precision::kFp16, c10::DeviceType::CPU);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fp16 needs a CUDA device"), std::string::npos);
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(c10::DeviceType::CPU));
}

TEST(LossScaler, UnscalesAndGrowsAfterTheInterval) {
  LossScaler::Options o;
  o.init_scale = 8;
  o.growth_interval = 2;
  LossScaler s(o);
  auto g = torch::full({3}, 16.0);
  EXPECT_TRUE(s.unscale_and_update({g}));
  EXPECT_TRUE(torch::equal(g, torch::full({3}, 2.0)));
  EXPECT_EQ(s.scale(), 8);
  EXPECT_TRUE(s.unscale_and_update({torch::ones({1})}));
  EXPECT_EQ(s.scale(), 16) << "doubles after growth_interval good steps";
  EXPECT_EQ(s.overflows(), 0);
}

TEST(LossScaler, OverflowBacksOffAndRestartsTheInterval) {
  LossScaler::Options o;
  o.init_scale = 8;
  o.growth_interval = 2;
  LossScaler s(o);
  EXPECT_TRUE(s.unscale_and_update({torch::ones({2})}));
  auto bad = torch::ones({2});
  bad[1] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(s.unscale_and_update({torch::ones({2}), bad}));
  EXPECT_EQ(s.scale(), 4);
  EXPECT_EQ(s.overflows(), 1);
  auto nan = torch::full({1}, std::numeric_limits<float>::quiet_NaN());
  EXPECT_FALSE(s.unscale_and_update({nan}));
  EXPECT_EQ(s.scale(), 2);
  EXPECT_TRUE(s.unscale_and_update({torch::ones({1})}));
  EXPECT_EQ(s.scale(), 2) << "one good step after an overflow is not yet an interval";
  EXPECT_TRUE(s.unscale_and_update({torch::ones({1})}));
  EXPECT_EQ(s.scale(), 4);
}

TEST(LossScaler, DefaultsAreGradScalers) {
  LossScaler s;
  EXPECT_EQ(s.scale(), 65536.0);
  EXPECT_TRUE(s.unscale_and_update({torch::Tensor(), torch::ones({1})})) << "undefined grads skipped";
}

}  // namespace
}  // namespace frost::train
