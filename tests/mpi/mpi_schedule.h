// Which MPI tests run at which world size (Note [MPI test schedule]). No MPI, no LibTorch.
//
// Note [MPI test schedule]
// ------------------------
// ctest runs frost_mpi_tests once per world size N in FROST_MPI_WORLD_SIZES (tests/CMakeLists.txt;
// the same list reaches mpi_main.cpp as a compile definition). A test runs at world size N when
// its full name ("Suite.Name") contains "World<N>" (World2, World1World2World4, ...) or
// "AnyWorld": mpi_main sets gtest's filter to world_filter(N) = "*World<N>*:*AnyWorld*". A test
// whose name matches no scheduled size would compile, register and never run, silently; so
// every run first checks every registered test (unscheduled_tests) and fails naming the tests
// that no scheduled world size selects. `frost_mpi_tests --frost_check_schedule` does only that
// check, without MPI (ctest mpi.schedule); `--frost_world_sizes=1,2,3` replaces the list
// (ctest mpi.schedule_detects_unscheduled: the World4 tests are then reported).
// GPU tests are the tests whose suite name starts with "Gpu" (GpuNccl.AllReduceAnyWorld): the
// runs above leave them out (world_filter ends in "-Gpu*"), and `frost_mpi_tests --frost_gpu`
// runs only them (gpu_filter(N)), at world sizes 1 and 2 (ctest gpu.mpi.world1/2, label gpu).
// A GPU test skips (GTEST_SKIP with the reason) where the hardware is missing; a --frost_gpu run
// in which every selected test skipped exits with 77, which ctest reports as skipped. They obey
// the same naming rule: a GPU test without a world size in its name is unscheduled.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace frost::testing {

/// "1,2,3,4" -> {1, 2, 3, 4}. Throws std::invalid_argument on an empty list or an entry that is
/// not a positive whole number.
inline std::vector<int> parse_world_sizes(const std::string& list) {
  std::vector<int> sizes;
  for (size_t begin = 0;;) {
    const size_t end = list.find(',', begin);
    const std::string item = list.substr(begin, end == std::string::npos ? end : end - begin);
    char* rest = nullptr;
    const long n = std::strtol(item.c_str(), &rest, 10);
    if (item.empty() || *rest != '\0' || n < 1 || n > (1 << 20))
      throw std::invalid_argument("world sizes '" + list + "': '" + item +
                                  "' is not a positive whole number");
    sizes.push_back(static_cast<int>(n));
    if (end == std::string::npos) return sizes;
    begin = end + 1;
  }
}

/// The gtest filter of the tests that run at `world_size`, GPU tests left out.
inline std::string world_filter(int world_size) {
  return "*World" + std::to_string(world_size) + "*:*AnyWorld*-Gpu*";
}

/// The gtest filter of the GPU tests (suite name "Gpu...") that run at `world_size`.
inline std::string gpu_filter(int world_size) {
  return "Gpu*World" + std::to_string(world_size) + "*:Gpu*AnyWorld*";
}

/// Whether the test `full_name` ("Suite.Name") runs at one of `world_sizes`: world_filter's
/// patterns, "*X*", match exactly the names that contain X.
inline bool is_scheduled(const std::string& full_name, const std::vector<int>& world_sizes) {
  if (full_name.find("AnyWorld") != std::string::npos) return true;
  for (const int n : world_sizes)
    if (full_name.find("World" + std::to_string(n)) != std::string::npos) return true;
  return false;
}

/// The full names of the registered tests that no world size in `world_sizes` runs, in
/// registration order. Disabled tests (DISABLED_ prefix) never run and are not listed.
inline std::vector<std::string> unscheduled_tests(const std::vector<int>& world_sizes) {
  std::vector<std::string> out;
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  for (int s = 0; s < unit.total_test_suite_count(); ++s) {
    const ::testing::TestSuite& suite = *unit.GetTestSuite(s);
    for (int t = 0; t < suite.total_test_count(); ++t) {
      const ::testing::TestInfo& test = *suite.GetTestInfo(t);
      const std::string name = std::string(test.test_suite_name()) + "." + test.name();
      const bool disabled = std::string(test.test_suite_name()).rfind("DISABLED_", 0) == 0 ||
                            std::string(test.name()).rfind("DISABLED_", 0) == 0;
      if (!disabled && !is_scheduled(name, world_sizes)) out.push_back(name);
    }
  }
  return out;
}

}  // namespace frost::testing
