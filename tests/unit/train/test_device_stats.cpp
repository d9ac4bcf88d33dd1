// Step timing and memory on a CUDA device (frost/train/device_stats.h, Note [Step timing on a
// GPU]) and their path through PendingSteps::read and the metrics records (metrics.h). The CPU
// tests check that nothing device-side is made there; the Gpu* tests skip with the reason where
// no CUDA device is visible (ctest gpu.unit.train).
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "frost/core/error.h"
#include "frost/train/device_stats.h"
#include "frost/train/metrics.h"
#include "test_util.h"

namespace frost::train {
namespace {

#define FROST_CUDA_OR_SKIP() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "needs a CUDA device; this process sees none"

// The one train record MetricsLog writes for `r`.
nlohmann::json train_record(const StepReport& r, const std::string& name) {
  const std::string dir = frost::testing::test_tmpdir() + "/device_stats";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/" + name + ".jsonl";
  {
    MetricsLog log;
    log.open(path, /*append=*/false);
    log.step(r);
  }
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return nlohmann::json::parse(line);
}

StepReport host_report() {
  StepReport r;
  r.step = 1;
  r.epoch = 1;
  r.step_s = 0.010;
  r.data_s = 0.001;
  r.stats.rows = 4;
  r.stats.loss_t = torch::scalar_tensor(0.5, torch::kDouble);
  r.stats.forward_s = 0.002;
  r.stats.backward_s = 0.003;
  r.stats.comm_wait_s = 0.0005;
  r.stats.optimizer_s = 0.001;
  return r;
}

// The CPU: PendingSteps keeps the host clocks, the record says "host" with h2d_ms 0.
TEST(StepTiming, HostTimesPassThroughOnTheCpu) {
  PendingSteps pending(NonfiniteLoss::kStop);
  pending.add(host_report());
  StepReport seen;
  pending.read([&](StepReport& r) { seen = r; });
  EXPECT_FALSE(seen.stats.device_timed);
  EXPECT_DOUBLE_EQ(seen.stats.forward_s, 0.002);
  EXPECT_DOUBLE_EQ(seen.stats.comm_wait_s, 0.0005);
  const auto j = train_record(seen, "host");
  EXPECT_EQ(j["timing"], "host");
  EXPECT_EQ(j["h2d_ms"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(j["forward_ms"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(j["comm_wait_ms"].get<double>(), 0.5);
  std::string previous;
  for (const auto& [key, value] : j.items()) {  // alphabetical (metrics.h)
    EXPECT_LT(previous, key);
    previous = key;
  }
}

// Nothing device-side is made for the CPU: a timer there is a bug, caught before any event.
TEST(StepTiming, TimersAreForCudaDevicesOnly) {
  EXPECT_THROW(DeviceTimer(c10::Device(c10::kCPU)), InternalError);
}

// A CUDA device: the events' times replace the host clocks when PendingSteps reads the loss,
// without any wait besides that read, and every phase with work has a positive time.
TEST(GpuStepTiming, PendingStepsResolvesTheEventsAfterItsRead) {
  FROST_CUDA_OR_SKIP();
  const c10::Device cuda(c10::kCUDA, 0);
  auto a = torch::randn({512, 512}, torch::TensorOptions().device(cuda));
  StepReport r = host_report();
  r.stats.device_timed = true;
  r.stats.events = std::make_shared<StepEvents>(cuda);
  r.h2d_timer = std::make_shared<DeviceTimer>(cuda);
  StepEvents& ev = *r.stats.events;
  const auto host = torch::randn({256, 256}).pin_memory();
  r.h2d_timer->start();
  const auto copied = host.to(cuda, /*non_blocking=*/true);
  r.h2d_timer->stop();
  for (int micro = 0; micro < 2; ++micro) {
    ev.forward.start();
    a = torch::mm(a, a).tanh_();
    ev.forward.stop();
    ev.backward.start();
    a = torch::mm(a, a).tanh_() + copied.sum();
    ev.backward.stop();
  }
  ev.comm_wait.start();
  ev.comm_wait.stop();
  ev.optimizer.start();
  a.mul_(0.5);
  ev.optimizer.stop();
  EXPECT_EQ(ev.forward.intervals(), 2);
  r.stats.loss_t = a.sum().to(torch::kDouble);
  PendingSteps pending(NonfiniteLoss::kStop);
  pending.add(std::move(r));
  StepReport seen;
  pending.read([&](StepReport& s) { seen = s; });
  EXPECT_EQ(seen.stats.events, nullptr) << "the events are released by the read";
  EXPECT_EQ(seen.h2d_timer, nullptr);
  EXPECT_GT(seen.stats.forward_s, 0.0);
  EXPECT_NE(seen.stats.forward_s, 0.002) << "the host clock was kept";
  EXPECT_GT(seen.stats.backward_s, 0.0);
  EXPECT_GE(seen.stats.comm_wait_s, 0.0);
  EXPECT_GT(seen.stats.optimizer_s, 0.0);
  EXPECT_GT(seen.h2d_s, 0.0);
  const auto j = train_record(seen, "cuda");
  EXPECT_EQ(j["timing"], "cuda_events");
  EXPECT_GT(j["h2d_ms"].get<double>(), 0.0);
}

// The allocator's peak follows an allocation after a reset, and a reset forgets it.
TEST(GpuDeviceMemory, PeakFollowsTheCachingAllocator) {
  FROST_CUDA_OR_SKIP();
  const c10::Device cuda(c10::kCUDA, 0);
  reset_peak_memory(cuda);
  const double before = peak_memory(cuda).allocated_mib;
  {
    const auto big = torch::empty({64 << 20}, torch::TensorOptions().dtype(torch::kByte).device(cuda));
    const DeviceMemoryPeak peak = peak_memory(cuda);
    EXPECT_GE(peak.allocated_mib, before + 64.0);
    EXPECT_GE(peak.reserved_mib, peak.allocated_mib);
  }
  reset_peak_memory(cuda);  // the peak comes down to what is allocated now
  EXPECT_LT(peak_memory(cuda).allocated_mib, before + 64.0);
}

}  // namespace
}  // namespace frost::train
