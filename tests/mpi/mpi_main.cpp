// gtest main for the MPI tests: initialises MPI, runs the tests scheduled for this world size
// on every rank, all-reduces the failure count and returns it, so that a failure on any rank
// fails the job. Only rank 0 prints the gtest result lines unless FROST_TEST_VERBOSE is set.
//
// Which tests run: Note [MPI test schedule] in mpi_schedule.h. Without --gtest_filter the
// filter is world_filter(world size); with one, the tests it selects. Either way a registered
// test that no world size in FROST_MPI_WORLD_SIZES runs fails the run, named, before any test.
//   --frost_check_schedule      only that check, without MPI; exit status 0 or 1
//   --frost_world_sizes=LIST    check against LIST (e.g. 1,2,3) instead of the built-in list
//   --frost_gpu                 the GPU tests instead (gpu_filter); exit status 77 when every
//                               test that ran on every rank skipped (no GPU: ctest's "skipped")
#include <gtest/gtest.h>
#include <mpi.h>

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "frost/comm/process.h"
#include "mpi_schedule.h"

#ifndef FROST_MPI_WORLD_SIZES
#error "FROST_MPI_WORLD_SIZES (e.g. \"1,2,3,4\") must come from tests/CMakeLists.txt"
#endif

namespace {

// Removes the argument `flag` (exactly, or as flag=value) from argv; returns whether it was
// there and, through `value`, what followed '='.
bool take_flag(int* argc, char** argv, const char* flag, std::string* value = nullptr) {
  const size_t n = std::strlen(flag);
  for (int i = 1; i < *argc; ++i) {
    const char* arg = argv[i];
    if (std::strncmp(arg, flag, n) != 0 || (arg[n] != '\0' && arg[n] != '=')) continue;
    if (value != nullptr) *value = arg[n] == '=' ? arg + n + 1 : "";
    for (int j = i; j < *argc; ++j) argv[j] = argv[j + 1];  // argv[argc] is the null pointer
    --*argc;
    return true;
  }
  return false;
}

// The registered tests that no world size in `sizes` runs (Note [MPI test schedule]), each
// reported on stderr when `print`.
std::vector<std::string> unscheduled(const std::vector<int>& sizes, const std::string& sizes_text,
                                     bool print) {
  const std::vector<std::string> missing = frost::testing::unscheduled_tests(sizes);
  for (const std::string& name : missing)
    if (print)
      std::fprintf(stderr,
                   "frost_mpi_tests: test %s is not scheduled: its name must contain AnyWorld or "
                   "World<N> for a world size N in {%s} (FROST_MPI_WORLD_SIZES in "
                   "tests/CMakeLists.txt), or it never runs\n",
                   name.c_str(), sizes_text.c_str());
  return missing;
}

}  // namespace

int main(int argc, char** argv) {
  std::string sizes_text = FROST_MPI_WORLD_SIZES;
  take_flag(&argc, argv, "--frost_world_sizes", &sizes_text);
  std::vector<int> sizes;
  try {
    sizes = frost::testing::parse_world_sizes(sizes_text);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "frost_mpi_tests: %s\n", e.what());
    return 2;
  }
  if (take_flag(&argc, argv, "--frost_check_schedule")) {
    ::testing::InitGoogleTest(&argc, argv);
    if (!unscheduled(sizes, sizes_text, /*print=*/true).empty()) return 1;
    std::printf("frost_mpi_tests: every test runs at a world size in {%s}\n", sizes_text.c_str());
    return 0;
  }

  const bool gpu = take_flag(&argc, argv, "--frost_gpu");
  frost::comm::init_mpi(&argc, &argv);
  spdlog::set_level(spdlog::level::warn);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0, world_size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  if (GTEST_FLAG_GET(filter) == "*")  // the default: neither --gtest_filter nor GTEST_FILTER
    GTEST_FLAG_SET(filter, gpu ? frost::testing::gpu_filter(world_size)
                               : frost::testing::world_filter(world_size));
  if (rank != 0 && std::getenv("FROST_TEST_VERBOSE") == nullptr) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  // Every rank sees the same registry: all ranks run the tests, or none does.
  const bool all_scheduled = unscheduled(sizes, sizes_text, /*print=*/rank == 0).empty();
  int failed = all_scheduled ? (RUN_ALL_TESTS() != 0 ? 1 : 0) : 1;
  int any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  // Tests that ran to a pass on some rank: none anywhere, and something skipped, is a skip.
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  int passed = unit.successful_test_count(), any_passed = 0;
  MPI_Allreduce(&passed, &any_passed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  const bool all_skipped = any_failed == 0 && any_passed == 0 && unit.skipped_test_count() > 0;
  if (rank == 0 && any_failed) {
    std::fprintf(stderr,
                 "MPI tests: %d rank(s) had failures (rerun with FROST_TEST_VERBOSE=1 to see every "
                 "rank)\n",
                 any_failed);
  }
  frost::comm::finalize_mpi();
  if (gpu && all_skipped) return 77;  // SKIP_RETURN_CODE of ctest gpu.mpi.world*
  return any_failed == 0 ? 0 : 1;
}
