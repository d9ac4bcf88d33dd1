// Unit tests of the CPU-set helpers and the thread rule, Note [Threads per rank]
// (frost/core/cpus.h).
#include <gtest/gtest.h>
#include <sched.h>

#include <string>
#include <thread>
#include <vector>

#include "frost/core/cpus.h"
#include "frost/core/error.h"

namespace frost {
namespace {

std::string error_of(int64_t configured, const std::string& slurm, int affinity, int sharing) {
  try {
    choose_threads(configured, slurm, affinity, sharing);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ChooseThreads, ConfiguredCountWinsOverEverything) {
  const ThreadChoice c = choose_threads(3, "8", 64, 4);
  EXPECT_EQ(c.threads, 3);
  EXPECT_EQ(c.source, "train.threads");
  EXPECT_EQ(choose_threads(12, "", 1, 1).threads, 12);  // even beyond the affinity
}

TEST(ChooseThreads, WholeNodeSetIsDividedAmongTheRanksSharingIt) {
  const ThreadChoice c = choose_threads(0, "", 32, 4);
  EXPECT_EQ(c.threads, 8);
  EXPECT_EQ(c.source, "CPU affinity: 32 CPUs shared by 4 local ranks");
  EXPECT_EQ(choose_threads(0, "", 30, 4).threads, 7);  // rounded down
  EXPECT_EQ(choose_threads(0, "", 2, 4).threads, 1);   // more ranks than CPUs: at least 1
}

TEST(ChooseThreads, RankBoundToItsOwnCoresKeepsThemAll) {
  const ThreadChoice c = choose_threads(0, "", 8, 1);
  EXPECT_EQ(c.threads, 8);
  EXPECT_EQ(c.source, "CPU affinity: 8 CPUs for this rank alone");
  EXPECT_EQ(choose_threads(0, "", 1, 1).source, "CPU affinity: 1 CPU for this rank alone");
}

TEST(ChooseThreads, SlurmCpusPerTaskCapsAnUnconfinedNode) {
  // A 64-CPU node that Slurm does not confine: every rank sees all 64 CPUs.
  const ThreadChoice c = choose_threads(0, "8", 64, 4);
  EXPECT_EQ(c.threads, 8);
  EXPECT_EQ(c.source, "SLURM_CPUS_PER_TASK=8 (CPU affinity: 64 CPUs shared by 4 local ranks)");
  // srun --cpu-bind=cores --cpus-per-task=8: each rank's own 8 CPUs, the same answer.
  EXPECT_EQ(choose_threads(0, "8", 8, 1).threads, 8);
}

TEST(ChooseThreads, SlurmCpusPerTaskNeverRaisesTheShare) {
  // mpirun inside an allocation bound each rank to one core: 8 threads would queue on it.
  const ThreadChoice c = choose_threads(0, "8", 1, 1);
  EXPECT_EQ(c.threads, 1);
  EXPECT_EQ(c.source, "CPU affinity: 1 CPU for this rank alone, below SLURM_CPUS_PER_TASK=8");
}

TEST(ChooseThreads, BadInputIsRefusedWithTheVariable) {
  for (const std::string bad : {"0", "-2", "eight", "8x2", " 8", "12345678901"}) {
    const std::string e = error_of(0, bad, 16, 1);
    EXPECT_NE(e.find("SLURM_CPUS_PER_TASK='" + bad + "'"), std::string::npos) << bad << ": " << e;
    EXPECT_NE(e.find("--train.threads"), std::string::npos) << e;
  }
  EXPECT_NE(error_of(-1, "", 16, 1).find("train.threads must be >= 0"), std::string::npos);
  // A configured count does not read the variable at all.
  EXPECT_EQ(error_of(4, "eight", 16, 1), "");
}

TEST(ChooseThreads, NonsenseCountsAreClamped) {
  EXPECT_EQ(choose_threads(0, "", 0, 0).threads, 1);
  EXPECT_EQ(choose_threads(0, "", -3, 2).threads, 1);
}

TEST(CpuList, RoundTripsTheKernelNotation) {
  EXPECT_EQ(cpu_list({0, 1, 2, 3, 8, 10, 11}), "0-3,8,10-11");
  EXPECT_EQ(cpu_list({}), "");
  EXPECT_EQ(cpu_list({5}), "5");
  EXPECT_EQ(parse_cpu_list("0-3,8,10-11"), (std::vector<int>{0, 1, 2, 3, 8, 10, 11}));
  EXPECT_EQ(parse_cpu_list(""), std::vector<int>{});
  EXPECT_EQ(parse_cpu_list("7,2-3,2"), (std::vector<int>{2, 3, 7}));  // sorted, unique
  for (const std::string bad : {"3-1", "a", "1,,2", "-1", "1-", "1 2"}) {
    EXPECT_THROW(parse_cpu_list(bad), Error) << bad;
  }
}

TEST(RanksSharingCpus, CountsOverlappingSetsOnTheHost) {
  const std::vector<int> a{0, 1, 2, 3}, b{4, 5, 6, 7}, all{0, 1, 2, 3, 4, 5, 6, 7};
  // Bound to disjoint core groups (frost-mpirun, srun --cpu-bind=cores): nobody shares.
  EXPECT_EQ(ranks_sharing_cpus(a, {a, b}), 1);
  // Everyone sees the whole set (mpirun --bind-to none): all local ranks share.
  EXPECT_EQ(ranks_sharing_cpus(all, {all, all, all}), 3);
  // One socket per two ranks (OpenMPI's default beyond two ranks).
  EXPECT_EQ(ranks_sharing_cpus(a, {a, a, b, b}), 2);
  // A rank's own set missing from the list still counts as one.
  EXPECT_EQ(ranks_sharing_cpus(a, {b}), 1);
  EXPECT_EQ(ranks_sharing_cpus({}, {}), 1);
}

TEST(AffinityCpus, MatchesTheKernelsMaskOfThisProcess) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  const std::vector<int> cpus = affinity_cpus();
  ASSERT_EQ(static_cast<int>(cpus.size()), CPU_COUNT(&set));
  for (int c : cpus) EXPECT_TRUE(CPU_ISSET(c, &set)) << c;
  EXPECT_EQ(usable_cpus(), CPU_COUNT(&set));
}

TEST(AffinityCpus, FollowsANarrowedMask) {
  // The first CPU alone, as taskset -c or a --bind-to core would leave it; restored after.
  cpu_set_t saved;
  CPU_ZERO(&saved);
  ASSERT_EQ(sched_getaffinity(0, sizeof saved, &saved), 0);
  const std::vector<int> before = affinity_cpus();
  ASSERT_FALSE(before.empty());
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(before.back(), &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  const std::vector<int> narrowed = affinity_cpus();
  const int usable = usable_cpus();
  ASSERT_EQ(sched_setaffinity(0, sizeof saved, &saved), 0);
  EXPECT_EQ(narrowed, std::vector<int>{before.back()});
  EXPECT_EQ(usable, 1);
  EXPECT_EQ(affinity_cpus(), before);
}

}  // namespace
}  // namespace frost
