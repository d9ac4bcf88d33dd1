// The preemption signal handler (src/frost/core/preemption.h, Note [Preemption signals]): the
// first SIGUSR1/SIGTERM is recorded, later ones change nothing and do not end the process, the
// handler's one line names program, rank and signal, and an atomic file write interrupted by a
// stream of signals completes with the right bytes.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "frost/core/fs.h"
#include "frost/core/preemption.h"
#include "test_util.h"

namespace {

class Preemption : public ::testing::Test {
 protected:
  void SetUp() override { frost::clear_preemption_request(); }
  void TearDown() override {
    frost::uninstall_preemption_handlers();
    frost::clear_preemption_request();
  }
};

// Runs `f` with stderr (fd 2) going to a file; returns what was written.
template <typename F>
std::string capture_stderr(F&& f) {
  const std::string path = frost::testing::tmp_path("preemption-stderr.txt");
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  std::FILE* out = std::fopen(path.c_str(), "w");
  ::dup2(::fileno(out), STDERR_FILENO);
  f();
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::fclose(out);
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST_F(Preemption, NoRequestWithoutASignal) {
  frost::install_preemption_handlers("test");
  EXPECT_EQ(frost::preemption_signal(), 0);
  EXPECT_EQ(frost::preemption_signal_count(), 0);
}

TEST_F(Preemption, FirstSignalIsKeptAndLaterOnesDoNotEndTheProcess) {
  frost::install_preemption_handlers("test");
  capture_stderr([] {
    ASSERT_EQ(std::raise(SIGUSR1), 0);
    EXPECT_EQ(frost::preemption_signal(), SIGUSR1);
    EXPECT_EQ(frost::preemption_signal_count(), 1);
    ASSERT_EQ(std::raise(SIGTERM), 0);  // the default action would end this process
    ASSERT_EQ(std::raise(SIGUSR1), 0);
  });
  EXPECT_EQ(frost::preemption_signal(), SIGUSR1);
  EXPECT_EQ(frost::preemption_signal_count(), 3);
  frost::clear_preemption_request();
  EXPECT_EQ(frost::preemption_signal(), 0);
  EXPECT_EQ(frost::preemption_signal_count(), 0);
  capture_stderr([] { ASSERT_EQ(std::raise(SIGTERM), 0); });
  EXPECT_EQ(frost::preemption_signal(), SIGTERM);
}

TEST_F(Preemption, HandlerWritesOneLineNamingProgramRankAndSignal) {
  frost::install_preemption_handlers("frost-train");
  frost::set_preemption_rank(3);
  const std::string out = capture_stderr([] {
    std::raise(SIGTERM);
    std::raise(SIGUSR1);  // no second line
    std::raise(SIGTERM);
  });
  EXPECT_EQ(out,
            "frost-train: [rank 3] received SIGTERM: stopping at the next step boundary, after a "
            "checkpoint\n");
  frost::clear_preemption_request();
  frost::set_preemption_rank(-1);  // before the rank is known
  EXPECT_EQ(capture_stderr([] { std::raise(SIGUSR1); }),
            "frost-train: received SIGUSR1: stopping at the next step boundary, after a "
            "checkpoint\n");
}

TEST_F(Preemption, ASignalToTheProcessFromAnotherThreadIsSeen) {
  frost::install_preemption_handlers("test");
  capture_stderr([] {
    std::thread sender([] { ::kill(::getpid(), SIGUSR1); });
    sender.join();
    for (int i = 0; i < 1000 && frost::preemption_signal() == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  EXPECT_EQ(frost::preemption_signal(), SIGUSR1);
}

TEST_F(Preemption, UninstallRestoresThePreviousDisposition) {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction before {};
  ASSERT_EQ(::sigaction(SIGUSR1, &ignore, &before), 0);
  frost::install_preemption_handlers("test");
  frost::install_preemption_handlers("test");  // idempotent: the saved disposition stays SIG_IGN
  frost::uninstall_preemption_handlers();
  struct sigaction now {};
  ASSERT_EQ(::sigaction(SIGUSR1, nullptr, &now), 0);
  EXPECT_EQ(now.sa_handler, SIG_IGN);
  std::raise(SIGUSR1);  // ignored: no request
  EXPECT_EQ(frost::preemption_signal(), 0);
  ::sigaction(SIGUSR1, &before, nullptr);
}

// A second signal during the checkpoint write (Note [Preemption signals]): the writing thread is
// interrupted over and over while fs::write_file_atomic writes 32 MiB; the file is complete and
// right, and no temporary file is left.
TEST_F(Preemption, AtomicWriteInterruptedBySignalsCompletes) {
  frost::install_preemption_handlers("test");
  std::vector<char> bytes(32u << 20);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 2654435761u) >> 13);
  const std::string path = frost::testing::tmp_path("preemption-interrupted.bin");
  std::atomic<bool> done{false};
  std::atomic<int> sent{0};
  const pthread_t writer = ::pthread_self();
  capture_stderr([&] {
    std::thread sender([&] {
      while (!done.load()) {
        ::pthread_kill(writer, sent.load() % 2 == 0 ? SIGTERM : SIGUSR1);
        sent.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
    frost::fs::write_file_atomic(path, bytes.data(), bytes.size());
    done.store(true);
    sender.join();
  });
  EXPECT_GT(sent.load(), 0);
  EXPECT_GE(frost::preemption_signal_count(), 1);
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> back((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
  EXPECT_TRUE(back == bytes) << "the file differs from what was written";
  EXPECT_FALSE(frost::fs::exists(frost::fs::temp_path_for(path)));
}

TEST(PreemptionExitStatus, IsSeventyFiveAndNoOtherExitStatusOfFrost) {
  EXPECT_EQ(frost::kPreemptedExitStatus, 75);  // EX_TEMPFAIL; documented in docs/reliability.md
  EXPECT_STREQ(frost::preemption_signal_name(SIGUSR1), "SIGUSR1");
  EXPECT_STREQ(frost::preemption_signal_name(SIGTERM), "SIGTERM");
  EXPECT_STREQ(frost::preemption_signal_name(SIGINT), "signal 2");
}

}  // namespace
