// Preemption (Note [Preemption] in src/frost/train/trainer.cpp): a SIGUSR1 that reaches one rank
// only stops every rank after the same step, with a checkpoint and no model.pt, and the resumed
// run ends bitwise where an uninterrupted run ends. The signal is raised at a known point: the
// signalled rank holds before step N (FROST_FAULT_INJECT action=hold, Note [Holding a rank]), a
// thread of that rank waits for its marker, raises the signal and releases it.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "frost/core/preemption.h"
#include "frost/train/checkpoint.h"
#include "frost/train/trainer.h"
#include "mpi_test_util.h"

namespace frost::testing {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs `cfg` with `signal` sent to rank `signalled` while it holds before step `step`; returns
// whether the Trainer stopped for preemption and its global step. Collective.
struct Outcome {
  bool preempted = false;
  int64_t global_step = 0;
  int64_t digest = 0;
};
Outcome run_signalled(const train::Config& cfg, int signalled, int64_t step, int signal) {
  auto& c = world();
  const std::string hold = cfg.log.dir + "-hold";
  if (c.rank() == 0) std::filesystem::create_directories(hold);
  c.barrier();
  const std::string plan =
      "rank=" + std::to_string(signalled) + ",at=step:" + std::to_string(step) + ",action=hold";
  ::setenv("FROST_FAULT_INJECT", plan.c_str(), 1);
  ::setenv("FROST_FAULT_HOLD_DIR", hold.c_str(), 1);
  install_preemption_handlers("frost-mpi-tests");
  clear_preemption_request();
  std::thread signaller;
  if (c.rank() == signalled) {
    signaller = std::thread([&] {
      const std::string marker = hold + "/held." + std::to_string(signalled);
      for (int i = 0; i < 60000 && !fs::exists(marker); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      ::kill(::getpid(), signal);
      while (preemption_signal() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      std::ofstream(hold + "/release") << "go\n";
    });
  }
  Outcome out;
  {
    train::Trainer t(cfg, c);
    t.run();
    out.preempted = t.preempted();
    out.global_step = t.global_step();
    out.digest = digest(*t.model());
  }
  if (signaller.joinable()) signaller.join();
  ::unsetenv("FROST_FAULT_INJECT");
  ::unsetenv("FROST_FAULT_HOLD_DIR");
  uninstall_preemption_handlers();
  clear_preemption_request();
  c.barrier();
  return out;
}

// 12 samples per rank, batch 3: 4 steps per epoch at any world size; 3 epochs.
train::Config preemption_config(const std::string& dir, const std::string& run) {
  const int world_size = world().world_size();
  const std::string data = dir + "/train.h5";
  if (!fs::exists(data)) write_features(data, 12 * world_size, 6, 3);
  world().barrier();
  auto cfg = small_config(data, dir + "/" + run);
  cfg.data.test = data;  // an evaluation after every epoch: the boundary after it
  cfg.data.batch_size = 3;
  cfg.train.epochs = 3;  // 12 steps
  cfg.optim.name = train::OptimizerKind::kAdamW;
  cfg.optim.lr = 0.01;
  return cfg;
}

// Mid-epoch (after step 6 of 12) and after an epoch's last step and its evaluation (step 8),
// signalled on the last rank only, with SIGUSR1 and SIGTERM.
TEST(Preemption, OneSignalledRankStopsEveryRankAtTheSameStepAndResumesBitwiseAnyWorld) {
  auto& c = world();
  const std::string dir = job_dir("preempt");
  auto cfg = preemption_config(dir, "a");
  int64_t uninterrupted = 0;
  {
    train::Trainer a(cfg, c);
    a.run();
    ASSERT_FALSE(a.preempted());
    ASSERT_EQ(a.global_step(), 12);
    uninterrupted = digest(*a.model());
  }
  const int last = c.world_size() - 1;
  struct Case {
    const char* run;
    int64_t hold_step;  // the signal arrives before this step; the stop comes after it
    int signal;
  };
  for (const Case& k : {Case{"mid-epoch", 6, SIGUSR1}, Case{"epoch-end", 8, SIGTERM}}) {
    SCOPED_TRACE(k.run);
    cfg.log.dir = dir + "/" + k.run;
    cfg.resume = "";
    const Outcome stopped = run_signalled(cfg, last, k.hold_step, k.signal);
    EXPECT_TRUE(stopped.preempted);
    EXPECT_EQ(stopped.global_step, k.hold_step);
    EXPECT_TRUE(same_on_all_ranks(stopped.global_step)) << "ranks stopped after different steps";
    EXPECT_TRUE(same_on_all_ranks(stopped.preempted ? 1 : 0));
    EXPECT_FALSE(fs::exists(cfg.log.dir + "/model.pt")) << "a preempted run wrote model.pt";
    char name[32];
    std::snprintf(name, sizeof(name), "step-%09lld.pt", static_cast<long long>(k.hold_step));
    EXPECT_EQ(read_text(cfg.log.dir + "/checkpoints/latest"), std::string(name) + "\n");

    cfg.resume = "auto";
    train::Trainer b(cfg, c);
    b.run();
    EXPECT_FALSE(b.preempted());
    EXPECT_EQ(b.global_step(), 12);
    EXPECT_EQ(digest(*b.model()), uninterrupted) << "the resumed run differs from run A";
    EXPECT_TRUE(fs::exists(cfg.log.dir + "/model.pt"));
    c.barrier();
  }
}

// A signal before the run's last step has no boundary left to act on: the run finishes normally.
TEST(Preemption, ASignalBeforeTheLastStepLetsTheRunFinishAnyWorld) {
  auto& c = world();
  const std::string dir = job_dir("preempt-last");
  auto cfg = preemption_config(dir, "late");
  const Outcome out = run_signalled(cfg, 0, 12, SIGUSR1);
  EXPECT_FALSE(out.preempted);
  EXPECT_EQ(out.global_step, 12);
  EXPECT_TRUE(fs::exists(cfg.log.dir + "/model.pt"));
  EXPECT_FALSE(fs::exists(cfg.log.dir + "/checkpoints/latest"));
  c.barrier();
}

}  // namespace
}  // namespace frost::testing
