// gtest main for the MPI tests: initialises MPI, runs the tests selected by --gtest_filter on
// every rank, all-reduces the failure count and returns it, so that a failure on any rank
// fails the job. Only rank 0 prints the gtest result lines unless FROST_TEST_VERBOSE is set.
#include <gtest/gtest.h>
#include <mpi.h>

#include <spdlog/spdlog.h>

#include <cstdlib>

#include "frost/comm/process.h"

int main(int argc, char** argv) {
  frost::comm::init_mpi(&argc, &argv);
  spdlog::set_level(spdlog::level::warn);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0 && std::getenv("FROST_TEST_VERBOSE") == nullptr) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  int any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0 && any_failed) {
    std::fprintf(stderr, "MPI tests: %d rank(s) had failures (rerun with FROST_TEST_VERBOSE=1 to see every rank)\n", any_failed);
  }
  frost::comm::finalize_mpi();
  return any_failed == 0 ? 0 : 1;
}
