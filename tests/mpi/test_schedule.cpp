// The MPI test schedule (Note [MPI test schedule] in mpi_schedule.h): which test names run at
// which world size. The check of the real registry is ctest's mpi.schedule and
// mpi.schedule_detects_unscheduled (tests/CMakeLists.txt).
#include <stdexcept>
#include <string>
#include <vector>

#include "mpi_schedule.h"

namespace frost::testing {
namespace {

TEST(Schedule, NamesRunAtTheWorldSizesTheyNameAnyWorld) {
  const std::vector<int> sizes{1, 2, 3, 4};
  EXPECT_TRUE(is_scheduled("Uneven.SevenSamplesBatchOneWorld4", sizes));
  EXPECT_TRUE(is_scheduled("GradReducer.GradientIsTheGlobalMeanWorld1World2World4", sizes));
  EXPECT_TRUE(is_scheduled("Communicator.AsyncWorkCompletesInIssueOrderAnyWorld", sizes));
  EXPECT_FALSE(is_scheduled("Uneven.SevenSamplesBatchOne", sizes));  // no world size: never runs
  EXPECT_FALSE(is_scheduled("Uneven.SevenSamplesBatchOneWorld5", sizes));
  EXPECT_FALSE(is_scheduled("Uneven.SevenSamplesBatchOneWorld4", {1, 2, 3}));
  EXPECT_EQ(world_filter(3), "*World3*:*AnyWorld*-Gpu*");
  EXPECT_EQ(gpu_filter(2), "Gpu*World2*:Gpu*AnyWorld*");
}

TEST(Schedule, WorldSizesAreAListOfPositiveNumbersAnyWorld) {
  EXPECT_EQ(parse_world_sizes("1,2,3,4"), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(parse_world_sizes("8"), (std::vector<int>{8}));
  for (const char* bad : {"", "1,,2", "0", "-1", "2x", "1,2,"})
    EXPECT_THROW(parse_world_sizes(bad), std::invalid_argument) << "'" << bad << "'";
}

TEST(Schedule, EveryRegisteredTestIsScheduledAnyWorld) {
  EXPECT_EQ(unscheduled_tests(parse_world_sizes(FROST_MPI_WORLD_SIZES)),
            std::vector<std::string>{});
}

}  // namespace
}  // namespace frost::testing
