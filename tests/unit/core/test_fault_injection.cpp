// FROST_FAULT_INJECT plans (src/frost/core/fault_injection.h): parsing, targeting, and the
// hold action (Note [Holding a rank]).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>

#include "frost/core/error.h"
#include "frost/core/fault_injection.h"
#include "frost/core/fs.h"
#include "test_util.h"

namespace fault = frost::fault;
using frost::testing::error_of;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST(FaultPlan, ParsesRankSiteAndAction) {
  auto p = fault::parse_plan("rank=1,at=step:3,action=hang", nullptr);
  EXPECT_EQ(p.rank, 1);
  EXPECT_EQ(p.at, "step:3");
  EXPECT_EQ(p.action, fault::Action::kHang);
  EXPECT_TRUE(p.targets(1, "step:3"));
  EXPECT_FALSE(p.targets(0, "step:3"));
  EXPECT_FALSE(p.targets(1, "step:4"));

  p = fault::parse_plan(" rank=* , at=open ", nullptr);  // action defaults to throw
  EXPECT_EQ(p.rank, fault::kAllRanks);
  EXPECT_EQ(p.action, fault::Action::kThrow);
  EXPECT_TRUE(p.targets(0, "open"));
  EXPECT_TRUE(p.targets(7, "open"));

  p = fault::parse_plan("rank=0,at=checkpoint:10,action=kill", nullptr);
  EXPECT_EQ(p.action, fault::Action::kKill);
  EXPECT_TRUE(p.targets(0, "checkpoint:10"));

  EXPECT_FALSE(fault::parse_plan("", nullptr).targets(0, "open"));  // nothing planned
}

TEST(FaultPlan, HoldNeedsTheHoldDirectory) {
  const auto p = fault::parse_plan("rank=*,at=finalize,action=hold", "/some/dir");
  EXPECT_EQ(p.action, fault::Action::kHold);
  EXPECT_EQ(p.hold_dir, "/some/dir");
  EXPECT_TRUE(p.targets(3, "finalize"));
  EXPECT_CONTAINS(error_of([] { fault::parse_plan("rank=*,at=step:2,action=hold", nullptr); }),
                  "FROST_FAULT_INJECT: action=hold needs FROST_FAULT_HOLD_DIR");
  EXPECT_CONTAINS(error_of([] { fault::parse_plan("rank=*,at=step:2,action=hold", ""); }),
                  "action=hold needs FROST_FAULT_HOLD_DIR");
  // Only hold uses the directory.
  EXPECT_EQ(fault::parse_plan("rank=0,at=open", "/some/dir").hold_dir, "");
}

// Note [Injected out-of-memory]: action=oom at step:N calls the caller's out-of-memory action,
// whose error passes through unchanged; other sites are refused when the plan is parsed.
TEST(FaultPlan, OomCallsTheCallersActionAtStepN) {
  const auto p = fault::parse_plan("rank=1,at=step:3,action=oom", nullptr);
  EXPECT_EQ(p.action, fault::Action::kOom);
  int calls = 0;
  const auto allocate = [&] {
    ++calls;
    throw std::runtime_error("out of memory: tried to allocate 1048576.00 GiB");
  };
  EXPECT_NO_THROW(fault::maybe_fault(p, 0, "step:3", allocate));  // another rank
  EXPECT_NO_THROW(fault::maybe_fault(p, 1, "step:2", allocate));  // another step
  EXPECT_EQ(calls, 0);
  try {
    fault::maybe_fault(p, 1, "step:3", allocate);
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "out of memory: tried to allocate 1048576.00 GiB");
  }
  EXPECT_EQ(calls, 1);
  // An action that does not throw, or none at all, is a bug in the caller.
  EXPECT_THROW(fault::maybe_fault(p, 1, "step:3", [] {}), frost::InternalError);
  EXPECT_THROW(fault::maybe_fault(p, 1, "step:3"), frost::InternalError);
  EXPECT_CONTAINS(error_of([] { fault::parse_plan("rank=1,at=open,action=oom", nullptr); }),
                  "FROST_FAULT_INJECT: action=oom needs at=step:N (the device is known there), "
                  "got at='open'");
  EXPECT_CONTAINS(error_of([] { fault::parse_plan("rank=1,action=oom", nullptr); }),
                  "action=oom needs at=step:N (the device is known there), got at=nothing");
}

TEST(FaultPlan, MalformedPlansNameTheBadPart) {
  const std::pair<const char*, const char*> cases[] = {
      {"rank=x", "FROST_FAULT_INJECT: rank must be an integer >= 0 or *, got 'x'"},
      {"rank=-1", "rank must be an integer >= 0 or *, got '-1'"},
      {"rank=0,action=explode",
       "FROST_FAULT_INJECT: unknown action 'explode' (throw, hang, kill, hold, oom)"},
      {"rank=0,at=somewhere",
       "FROST_FAULT_INJECT: unknown site 'somewhere' (open, step:N, checkpoint:N, finalize)"},
      {"rank=0,at=step:x", "FROST_FAULT_INJECT: the N of step:N must be an integer >= 0, got 'x'"},
      {"rank=0,at=checkpoint:", "the N of checkpoint:N must be an integer >= 0, got ''"},
      {"rank=0,colour=red", "FROST_FAULT_INJECT: unknown key 'colour' (rank, at, action)"},
      {"rank", "FROST_FAULT_INJECT: expected key=value, got 'rank'"},
  };
  for (const auto& [spec, expected] : cases) {
    EXPECT_CONTAINS(error_of([&] { fault::parse_plan(spec, "/tmp"); }), expected);
  }
}

TEST(FaultPlan, ThrowRecordsTheRankAndTheSite) {
  const auto p = fault::parse_plan("rank=2,at=step:5", nullptr);
  fault::maybe_fault(p, 1, "step:5");  // another rank: nothing happens
  fault::maybe_fault(p, 2, "step:4");  // another site: nothing happens
  try {
    fault::maybe_fault(p, 2, "step:5");
    ADD_FAILURE() << "expected frost::Error";
  } catch (const frost::Error& e) {
    EXPECT_EQ(e.rank(), 2);
    EXPECT_EQ(e.message(), "injected fault at step:5 (FROST_FAULT_INJECT)");
  }
}

// Note [Holding a rank]: the rank writes held.R, waits for `release`, then returns normally.
TEST(FaultHold, WritesTheMarkerAndWaitsForTheRelease) {
  const std::string dir = frost::testing::make_temp_dir("hold");
  const auto p = fault::parse_plan("rank=*,at=step:7,action=hold", dir.c_str());
  fault::maybe_fault(p, 3, "step:6");  // not the site: returns at once, no marker
  EXPECT_FALSE(std::filesystem::exists(dir + "/held.3"));

  auto held = std::async(std::launch::async, [&] { fault::maybe_fault(p, 3, "step:7"); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!std::filesystem::exists(dir + "/held.3") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(std::filesystem::exists(dir + "/held.3")) << "no marker within 30 s";
  EXPECT_EQ(read_file(dir + "/held.3"), "step:7\n");
  // Still held: the marker alone does not release it.
  EXPECT_EQ(held.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  std::ofstream(dir + "/release").put('\n');
  ASSERT_EQ(held.wait_for(std::chrono::seconds(30)), std::future_status::ready)
      << "not released within 30 s of the release file";
  held.get();  // returned normally, no exception
  frost::fs::remove_tree(dir);
}

TEST(FaultHold, AnUnwritableHoldDirectoryIsAnErrorWithTheRank) {
  const auto p = fault::parse_plan("rank=1,at=finalize,action=hold", "/nonexistent/hold-dir");
  try {
    fault::maybe_fault(p, 1, "finalize");
    ADD_FAILURE() << "expected frost::Error";
  } catch (const frost::Error& e) {
    EXPECT_EQ(e.rank(), 1);
    EXPECT_CONTAINS(e.what(), "fault injection (FROST_FAULT_HOLD_DIR)");
    EXPECT_CONTAINS(e.what(), "/nonexistent/hold-dir/held.1");
  }
}
