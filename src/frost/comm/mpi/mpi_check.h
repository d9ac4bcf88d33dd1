// MPI_CHECK: how Frost calls an MPI function whose failure it reports (one checking macro per
// C library, STYLE.md "Errors"; NCCL_CHECK and CUDA_CHECK in comm/nccl/nccl_check.h have the
// same form), and the MPI queries every communicator backend makes (mpi_rank_place). Include it
// only where MPI is called: it brings in <mpi.h>.
#pragma once

#include <mpi.h>

#include <string>

namespace frost::comm {

/// `file` (a __FILE__: absolute, or relative to the build folder) from the project's src/frost/
/// or tests/ folder on, as users see it in the source tree. For the checking macros.
std::string source_path(const char* file);

/// This machine's host name (gethostname), "?" when it cannot be read.
std::string this_host();

/// MPI's own text for the error code `code` (MPI_Error_string).
std::string mpi_error_string(int code);

/// Throws the frost::Error of a failed MPI call:
///   "[rank R] MPI_Comm_dup(parent, &comm_) failed at src/frost/comm/mpi/...cpp:123 on host h:
///    MPI_ERR_COMM: invalid communicator"
/// The rank is this process's rank in the job (process_rank(), comm/process.h), recorded with
/// Error::set_rank; `file` is shown from the project's src/frost/ or tests/ folder on.
[[noreturn]] void throw_mpi_error(int code, const char* call, const char* file, int line);

/// Where this process sits in an MPI communicator: what Communicator::rank(), world_size(),
/// local_rank(), local_world_size() and host() report (comm/communicator.h).
struct MpiRankPlace {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;        ///< rank among the processes of `comm` on this node
  int local_world_size = 1;  ///< their count
  std::string host;          ///< MPI_Get_processor_name
};

/// This process's place in `comm`: MPI_Comm_rank and MPI_Comm_size, the rank and size of the
/// processes sharing this node (MPI_Comm_split_type(MPI_COMM_TYPE_SHARED), keyed by rank so that
/// local ranks follow the ranks' order), and the processor name. Collective over `comm` (the
/// split): every rank of `comm` calls it, in the same order relative to its other collectives on
/// `comm`. `comm` should have the MPI_ERRORS_RETURN handler; throws frost::Error (MPI_CHECK) when
/// a call fails. Any thread (MPI_THREAD_MULTIPLE, init_mpi).
MpiRankPlace mpi_rank_place(MPI_Comm comm);

}  // namespace frost::comm

/// Calls `call` (an MPI function returning an error code) and throws frost::Error naming the
/// call, file:line, the host, the rank and MPI's error string unless it returned MPI_SUCCESS.
/// MPI reports errors by code only where the communicator's error handler is
/// MPI_ERRORS_RETURN (set by init_mpi and every MpiCommunicator); otherwise MPI aborts first.
#define MPI_CHECK(call)                                                         \
  do {                                                                          \
    const int frost_mpi_rc_ = (call);                                           \
    if (frost_mpi_rc_ != MPI_SUCCESS) {                                         \
      ::frost::comm::throw_mpi_error(frost_mpi_rc_, #call, __FILE__, __LINE__); \
    }                                                                           \
  } while (0)
