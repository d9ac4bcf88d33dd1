#include "frost/comm/process.h"

#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "frost/comm/communicator.h"
#include "frost/comm/mpi/mpi_check.h"
#include "frost/core/error.h"
#include "frost/core/fault_injection.h"

namespace frost::comm {

namespace {
bool g_we_initialised = false;

std::mutex g_fatal_mu;  // guards g_fatal_handler
FatalErrorHandler g_fatal_handler;
std::mutex g_report_mu;  // one report at a time

// True while MPI calls other than MPI_Initialized/MPI_Finalized are allowed.
bool mpi_running() {
  int initialised = 0, finalized = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalized);
  return initialised && !finalized;
}
}  // namespace

void init_mpi(int* argc, char*** argv) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (initialised) return;
  int provided = 0;
  MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided));
  g_we_initialised = true;
  FROST_CHECK(provided >= MPI_THREAD_MULTIPLE, "the MPI library provides thread level ", provided,
              " but Frost needs MPI_THREAD_MULTIPLE (each communicator runs its collectives "
              "on its own progress thread); use an MPI built with thread support");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

void finalize_mpi() {
  if (!mpi_running() || !g_we_initialised) return;
  fault::maybe_fault(fault::plan_from_env(), process_rank(), "finalize");  // FROST_FAULT_INJECT
  MPI_Finalize();
}

int process_rank() {
  if (mpi_running()) {
    int rank = 0;
    if (MPI_Comm_rank(MPI_COMM_WORLD, &rank) == MPI_SUCCESS) return rank;
  }
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"}) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') continue;
    char* end = nullptr;
    const long rank = std::strtol(value, &end, 10);
    if (*end == '\0' && rank >= 0 && rank <= 1 << 30) return static_cast<int>(rank);
  }
  return 0;
}

int agree_on_startup_error(Communicator& comm, bool failed) {
  // On the communicator's device (a CUDA tensor for NCCL); item() reads it on the current stream,
  // which wait() ordered after the all-reduce.
  auto failed_ranks = torch::tensor({failed ? 1 : 0}, torch::kInt).to(comm.device());
  comm.all_reduce(failed_ranks, ReduceOp::kSum);
  return failed_ranks.item<int>();
}

void abort_job(int exit_code) {
  if (mpi_running()) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

void set_fatal_error_handler(FatalErrorHandler handler) {
  std::lock_guard<std::mutex> g(g_fatal_mu);
  g_fatal_handler = std::move(handler);
}

void report_fatal_error(const Error& error) {
  std::lock_guard<std::mutex> report(g_report_mu);
  FatalErrorHandler handler;
  {
    std::lock_guard<std::mutex> g(g_fatal_mu);
    handler = g_fatal_handler;
  }
  if (handler) {
    handler(error);
    return;
  }
  const std::string line = detail::str_cat(error.what(), "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
  abort_job(1);
}

}  // namespace frost::comm
